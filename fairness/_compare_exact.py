"""An exact floor under compare's p-values, from the rows on which the two models disagree.

The studentised p-value of :mod:`auditkit.fairness._compare` leans on the normal approximation;
when few rows of a group are *discordant* (the two models' predictions differ there) it is
anti-conservative: 4 discordant rows of 200, all against the candidate, gave p = 0.0225, where
McNemar's exact test gives 0.0625. For a rate whose rows are fixed by the true label (selection
and favourable rate: all rows; true positive and false negative rate: actual positives; false
positive and true negative rate: actual negatives; accuracy: all rows, "correct" as the event),
the two models' indicators are paired on the same rows, and under "no difference" the discordant
rows split evenly: the number against the candidate is Binomial(D, 1/2) given D, so
P(X >= W) is an exact one-sided p-value (McNemar's exact test). The judged p-value is the
larger of the two (:func:`exact_floor`). Metrics whose rows depend on the predictions (PPV, NPV)
or that combine rates (balanced accuracy, F1) have no such paired form: they are judged only when
the group has at least :data:`MIN_DISCORDANT` discordant rows (:func:`discordant_rows`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_DISCORDANT", "PAIRED", "discordant_rows", "exact_floor"]

#: Discordant rows a group needs before a metric without a paired form is judged.
MIN_DISCORDANT = 10

# cell c of the 8-cell table = 4*y + 2*baseline + candidate (1 = the positive class)
_Y = np.array([(c >> 2) & 1 for c in range(8)])
_B = np.array([(c >> 1) & 1 for c in range(8)])
_C = np.array([c & 1 for c in range(8)])

#: metric -> (rows: which true labels count, event: "pos" the prediction is positive,
#: "fav" it is favourable, "correct" it equals the label)
PAIRED: dict[str, tuple[tuple[int, ...], str]] = {
    "selection_rate": ((0, 1), "pos"),
    "favourable_rate": ((0, 1), "fav"),
    "true_positive_rate": ((1,), "pos"),
    "false_negative_rate": ((1,), "neg"),
    "false_positive_rate": ((0,), "pos"),
    "true_negative_rate": ((0,), "neg"),
    "accuracy": ((0, 1), "correct"),
}


def _event(pred: np.ndarray, kind: str, fav_is_pos: bool) -> np.ndarray:
    if kind == "pos":
        return pred == 1
    if kind == "neg":
        return pred == 0
    if kind == "fav":
        return pred == (1 if fav_is_pos else 0)
    return pred == _Y  # correct


def _binom_upper(w: np.ndarray, d: np.ndarray) -> np.ndarray:
    """P(X >= w) for X ~ Binomial(d, 1/2); 1 where w <= 0."""
    from scipy.special import bdtrc

    w = np.asarray(np.rint(w), dtype=np.int64)
    d = np.asarray(np.rint(d), dtype=np.int64)
    out = np.ones(w.shape, dtype=float)
    some = (w > 0) & (d > 0)
    out[some] = bdtrc(w[some] - 1, d[some], 0.5)
    return out


def exact_floor(tables: np.ndarray, metric: str, sign: int, fav_is_pos: bool) -> np.ndarray | None:
    """Per group, McNemar's exact one-sided p-value that the candidate is worse on ``metric``
    (``None`` for a metric without a paired form). ``tables`` is (groups, 8); ``sign`` the
    harm sign (+1: a higher value is worse)."""
    if metric not in PAIRED or sign == 0:
        return None
    rows, kind = PAIRED[metric]
    in_rows = np.isin(_Y, rows)
    eb, ec = _event(_B, kind, fav_is_pos), _event(_C, kind, fav_is_pos)
    # against the candidate: it has the event and the baseline not (a higher value is worse), or
    # the reverse
    against = in_rows & ((ec & ~eb) if sign > 0 else (eb & ~ec))
    discordant = in_rows & (eb != ec)
    w = tables[:, against].sum(axis=1)
    d = tables[:, discordant].sum(axis=1)
    return _binom_upper(w, d)


def discordant_rows(tables: np.ndarray) -> np.ndarray:
    """Per group, the rows on which the two models' predictions differ."""
    return tables[:, _B != _C].sum(axis=1)
