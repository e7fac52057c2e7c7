"""Metric and disparity definitions, all derived from aggregated counts.

Every function here is vectorised over leading axes, so the same code computes point estimates
(``(G,)`` arrays) and bootstrap replicates (``(B, G)`` arrays). A metric whose denominator is zero
is NaN, and :data:`METRICS` records the reason in words.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditkit.fairness._counts import FINE_PER_ECE_BIN

__all__ = [
    "DISPARITY_ALIASES",
    "GROUP_SEPARATOR",
    "METRICS",
    "GroupLabel",
    "Grouping",
    "MetricDef",
    "aggregate",
    "auc_binned",
    "auc_exact",
    "binary_metrics",
    "disparity",
    "ece",
    "group_label",
    "group_text",
    "make_groupings",
    "regression_metrics",
]


@dataclass(frozen=True)
class MetricDef:
    """One group metric: its family, a title and why it can be undefined."""

    name: str
    family: str  # "binary", "score", "regression", "multiclass"
    title: str
    undefined: str


def _m(name: str, family: str, title: str, undefined: str) -> tuple[str, MetricDef]:
    return name, MetricDef(name, family, title, undefined)


METRICS: dict[str, MetricDef] = dict(
    [
        _m("selection_rate", "binary", "Selection rate P(ŷ=1)", "the group has zero total weight"),
        _m("favourable_rate", "binary", "Favourable-outcome rate P(ŷ=favourable)",
           "the group has zero total weight"),
        _m("base_rate", "binary", "Base rate P(y=1)", "the group has zero total weight"),
        _m("true_positive_rate", "binary", "True positive rate", "the group has no actual positives"),
        _m("false_positive_rate", "binary", "False positive rate", "the group has no actual negatives"),
        _m("true_negative_rate", "binary", "True negative rate", "the group has no actual negatives"),
        _m("false_negative_rate", "binary", "False negative rate", "the group has no actual positives"),
        _m("positive_predictive_value", "binary", "Precision (PPV)", "the group has no predicted positives"),
        _m("negative_predictive_value", "binary", "Negative predictive value", "the group has no predicted negatives"),
        _m("false_discovery_rate", "binary", "False discovery rate", "the group has no predicted positives"),
        _m("false_omission_rate", "binary", "False omission rate", "the group has no predicted negatives"),
        _m("accuracy", "binary", "Accuracy", "the group has zero total weight"),
        _m("balanced_accuracy", "binary", "Balanced accuracy", "the group lacks actual positives or actual negatives"),
        _m("f1", "binary", "F1 score", "the group has no actual and no predicted positives"),
        _m("roc_auc", "score", "ROC AUC", "the group lacks actual positives or actual negatives"),
        _m("expected_calibration_error", "score", "Expected calibration error (10 bins)",
           "the scores are not probabilities in [0, 1], or the group has zero total weight"),
        _m("mean_prediction", "regression", "Mean prediction", "the group has zero total weight"),
        _m("mean_absolute_error", "regression", "Mean absolute error", "the group has zero total weight"),
        _m("root_mean_squared_error", "regression", "Root mean squared error", "the group has zero total weight"),
        _m("selection_rate[*]", "multiclass", "Selection rate of class k (one vs rest)", "the group has zero total weight"),
        _m("base_rate[*]", "multiclass", "Base rate of class k (one vs rest)", "the group has zero total weight"),
    ]
)

BINARY_DEFAULT = tuple(n for n, m in METRICS.items() if m.family == "binary")
SCORE_DEFAULT = ("roc_auc", "expected_calibration_error")
REGRESSION_DEFAULT = tuple(n for n, m in METRICS.items() if m.family == "regression")

# Named fairness disparities: name -> (group metrics, kind). Several metrics -> the worst case
# (largest difference, smallest ratio), as fairlearn's equalized odds with agg="worst_case".
DISPARITY_ALIASES: dict[str, tuple[tuple[str, ...], str]] = {
    "demographic_parity_difference": (("selection_rate",), "difference"),
    "demographic_parity_ratio": (("selection_rate",), "ratio"),
    # the EEOC four-fifths ratio, in terms of the favourable outcome (= demographic parity ratio
    # when the favourable label is the positive one)
    "impact_ratio": (("favourable_rate",), "ratio"),
    "equalized_odds_difference": (("true_positive_rate", "false_positive_rate"), "difference"),
    "equalized_odds_ratio": (("true_positive_rate", "false_positive_rate"), "ratio"),
    "equal_opportunity_difference": (("true_positive_rate",), "difference"),
    "equal_opportunity_ratio": (("true_positive_rate",), "ratio"),
    "predictive_parity_difference": (("positive_predictive_value",), "difference"),
    "predictive_parity_ratio": (("positive_predictive_value",), "ratio"),
}


# -- groupings ---------------------------------------------------------------------------
#: A group's label: the level of its one attribute (``"F"``), or, for an intersection, a tuple
#: with one level per attribute (``("F", "Black")``), as fairlearn keeps one index level per
#: feature. A tuple never loses a level that contains a separator.
GroupLabel = str | tuple[str, ...]

#: How :func:`group_text` joins the levels of an intersection for people to read.
GROUP_SEPARATOR = " × "


def group_text(label: GroupLabel) -> str:
    """A group label for people: an intersection's levels joined by ``" × "``.

    >>> group_text(("F", "Black")), group_text("F")
    ('F × Black', 'F')
    """
    return GROUP_SEPARATOR.join(label) if isinstance(label, tuple) else str(label)


@dataclass(frozen=True)
class Grouping:
    """A way to split the rows: by some of the attributes (none = overall)."""

    name: str
    axes: tuple[int, ...]
    labels: tuple[GroupLabel, ...]

    @property
    def size(self) -> int:
        return len(self.labels)


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def group_label(levels: tuple[Any, ...]) -> GroupLabel:
    """The label of the group of these attribute levels (one level: a string; more: a tuple)."""
    parts = tuple(_label(v) for v in levels)
    return parts[0] if len(parts) == 1 else parts


def make_groupings(
    attributes: tuple[str, ...], levels: tuple[tuple[Any, ...], ...], intersectional: bool
) -> list[Grouping]:
    """Overall first, then each attribute alone, then every intersection (when asked).

    >>> [g.labels for g in make_groupings(("a", "b"), (("x",), ("p, q",)), True)][1:]
    [('x',), ('p, q',), (('x', 'p, q'),)]
    """
    out = [Grouping("overall", (), ("all",))]
    k = len(attributes)
    sizes = range(1, k + 1) if intersectional else range(1, 2)
    for r in sizes:
        for axes in itertools.combinations(range(k), r):
            labels = tuple(group_label(combo) for combo in itertools.product(*(levels[a] for a in axes)))
            out.append(Grouping(GROUP_SEPARATOR.join(attributes[a] for a in axes), axes, labels))
    return out


def aggregate(arr: np.ndarray, n_lead: int, k: int, groupings: list[Grouping]) -> np.ndarray:
    """Sum a ``(*lead, *levels, *tail)`` array into ``(*lead, G, *tail)`` over all groupings."""
    lead = arr.shape[:n_lead]
    tail = arr.shape[n_lead + k:]
    parts = []
    for g in groupings:
        other = tuple(n_lead + i for i in range(k) if i not in g.axes)
        s = arr.sum(axis=other) if other else arr
        parts.append(s.reshape(lead + (g.size,) + tail))
    return np.concatenate(parts, axis=n_lead)


# -- metric families ------------------------------------------------------------------------
def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def confusion_binary(conf: np.ndarray, pos: int | None) -> tuple[np.ndarray, ...]:
    """TP, FP, TN, FN from a ``(..., C, C)`` confusion tensor (rows: truth, columns: prediction)."""
    total = conf.sum(axis=(-2, -1))
    if pos is None:  # the positive class never occurs
        z = np.zeros_like(total)
        return z, z, total, z
    tp = conf[..., pos, pos]
    actual_pos = conf[..., pos, :].sum(axis=-1)
    pred_pos = conf[..., :, pos].sum(axis=-1)
    fn = actual_pos - tp
    fp = pred_pos - tp
    tn = total - tp - fn - fp
    return tp, fp, tn, fn


def binary_metrics(conf: np.ndarray, pos: int | None, names: tuple[str, ...], *,
                   favourable_is_positive: bool = True) -> dict[str, np.ndarray]:
    """The binary group metrics ``names`` from a ``(..., C, C)`` confusion tensor."""
    tp, fp, tn, fn = confusion_binary(conf, pos)
    n = tp + fp + tn + fn
    tpr = _div(tp, tp + fn)
    tnr = _div(tn, tn + fp)
    table: dict[str, Callable[[], np.ndarray]] = {
        "selection_rate": lambda: _div(tp + fp, n),
        "favourable_rate": lambda: _div(tp + fp if favourable_is_positive else tn + fn, n),
        "base_rate": lambda: _div(tp + fn, n),
        "true_positive_rate": lambda: tpr,
        "false_positive_rate": lambda: _div(fp, fp + tn),
        "true_negative_rate": lambda: tnr,
        "false_negative_rate": lambda: _div(fn, tp + fn),
        "positive_predictive_value": lambda: _div(tp, tp + fp),
        "negative_predictive_value": lambda: _div(tn, tn + fn),
        "false_discovery_rate": lambda: _div(fp, tp + fp),
        "false_omission_rate": lambda: _div(fn, tn + fn),
        "accuracy": lambda: _div(tp + tn, n),
        "balanced_accuracy": lambda: (tpr + tnr) / 2.0,
        "f1": lambda: _div(2.0 * tp, 2.0 * tp + fp + fn),
    }
    return {m: table[m]() for m in names if m in table}


def multiclass_metrics(conf: np.ndarray, classes: tuple[Any, ...]) -> dict[str, np.ndarray]:
    n = conf.sum(axis=(-2, -1))
    out = {}
    for i, c in enumerate(classes):
        out[f"selection_rate[{_label(c)}]"] = _div(conf[..., :, i].sum(axis=-1), n)
    for i, c in enumerate(classes):
        out[f"base_rate[{_label(c)}]"] = _div(conf[..., i, :].sum(axis=-1), n)
    return out


def regression_metrics(w: np.ndarray, w_pred: np.ndarray, w_abs: np.ndarray, w_sq: np.ndarray,
                       names: tuple[str, ...]) -> dict[str, np.ndarray]:
    table = {
        "mean_prediction": lambda: _div(w_pred, w),
        "mean_absolute_error": lambda: _div(w_abs, w),
        "root_mean_squared_error": lambda: np.sqrt(np.maximum(_div(w_sq, w), 0.0)),
    }
    return {m: table[m]() for m in names if m in table}


def ece(hist_w: np.ndarray, hist_ws: np.ndarray, pos: int | None, probabilistic: bool) -> np.ndarray:
    """Expected calibration error from ``(..., C, B)`` fine histograms (10 equal-width bins).

    ECE = Σ_b (W_b / W) |ȳ_b − s̄_b| = Σ_b |Σ_{i∈b} w_i y_i − Σ_{i∈b} w_i s_i| / W.
    """
    total_w = hist_w.sum(axis=(-2, -1))
    if not probabilistic:
        return np.full(total_w.shape, np.nan)
    lead, nb = hist_w.shape[:-2], hist_w.shape[-1]
    wy = hist_w[..., pos, :] if pos is not None else np.zeros(lead + (nb,))
    wy = wy.reshape(lead + (-1, FINE_PER_ECE_BIN)).sum(axis=-1)
    ws = hist_ws.sum(axis=-2).reshape(lead + (-1, FINE_PER_ECE_BIN)).sum(axis=-1)
    return _div(np.abs(wy - ws).sum(axis=-1), total_w)


def _auc_from_runs(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """AUC along the last axis from positive/negative weights of ascending score runs."""
    cum_neg_before = np.cumsum(q, axis=-1) - q
    num = (p * (cum_neg_before + 0.5 * q)).sum(axis=-1)
    return _div(num, p.sum(axis=-1) * q.sum(axis=-1))


def auc_binned(hist_w: np.ndarray, pos: int | None) -> np.ndarray:
    """ROC AUC from ``(..., C, B)`` score histograms (ties within a bin count one half)."""
    if pos is None:
        return np.full(hist_w.shape[:-2], np.nan)
    p = hist_w[..., pos, :]
    q = hist_w.sum(axis=-2) - p
    return _auc_from_runs(p, q)


def auc_exact(ex_cell: np.ndarray, ex_cls: np.ndarray, ex_score: np.ndarray, ex_w: np.ndarray,
              pos: int | None, shape: tuple[int, ...], groupings: list[Grouping]) -> np.ndarray:
    """Exact ROC AUC per group (the Mann-Whitney statistic, ties counting one half)."""
    g_total = sum(g.size for g in groupings)
    if pos is None or len(ex_w) == 0:
        return np.full(g_total, np.nan)
    # One row-length array at a time where it can be: the exact table may hold millions of rows.
    order = np.argsort(ex_score, kind="stable")
    score = ex_score[order]
    new_score = np.ones(len(score), dtype=bool)
    new_score[1:] = score[1:] != score[:-1]
    del score
    rank = np.cumsum(new_score)  # dense rank of the score
    del new_score
    is_pos = ex_cls[order] == pos
    w = ex_w[order]
    wpos = np.where(is_pos, w, 0.0)
    wneg = np.where(is_pos, 0.0, w)
    del is_pos, w
    cell = ex_cell[order]
    del order
    strides = np.cumprod((1, *shape[:0:-1]))[::-1]  # C order, as ravel_multi_index
    axis_cache: dict[int, np.ndarray] = {}

    def axis(a: int) -> np.ndarray:
        """The level index of axis ``a`` for each row, in the smallest integer type."""
        if a not in axis_cache:
            levels = (cell // int(strides[a])) % shape[a]
            axis_cache[a] = levels.astype(np.min_scalar_type(max(shape[a] - 1, 0)))
        return axis_cache[a]

    num = np.zeros(g_total)
    ptot = np.zeros(g_total)
    qtot = np.zeros(g_total)
    start = 0
    for g in groupings:
        if g.axes:
            gid = np.ravel_multi_index(tuple(axis(a) for a in g.axes), tuple(shape[a] for a in g.axes))
        else:
            gid = np.zeros(len(cell), dtype=np.int64)
        gid = gid.astype(np.uint16 if g.size < 65536 else np.int64)
        perm = np.argsort(gid, kind="stable")  # radix sort; keeps score order within a group
        gs = gid[perm]
        rk = rank[perm]
        new_run = np.ones(len(gs), dtype=bool)
        new_run[1:] = (gs[1:] != gs[:-1]) | (rk[1:] != rk[:-1])
        run = np.cumsum(new_run) - 1
        p = np.bincount(run, weights=wpos[perm])
        q = np.bincount(run, weights=wneg[perm])
        run_gid = gs[new_run].astype(np.int64)
        bounds = np.flatnonzero(np.diff(run_gid)) + 1
        for ps, qs, k in zip(np.split(p, bounds), np.split(q, bounds), run_gid[np.r_[0, bounds]],
                             strict=True):
            below = np.cumsum(qs) - qs  # negatives strictly below each run, within the group
            num[start + k] = np.dot(ps, below + 0.5 * qs)
            ptot[start + k] = ps.sum()
            qtot[start + k] = qs.sum()
        start += g.size
    return _div(num, ptot * qtot)


# -- disparities ----------------------------------------------------------------------------
def disparity(
    values: np.ndarray, eligible: np.ndarray, kind: str, *, all_zero_is_parity: bool = False
) -> np.ndarray:
    """Max − min (``difference``) or min / max (``ratio``) over eligible, defined groups.

    ``values`` is ``(..., G)``; the result is NaN where fewer than two groups are defined, and
    for a ratio where the largest value is not positive — unless ``all_zero_is_parity``, where
    a rate that is zero in every group (so equal in all of them) gives the ratio 1. That is
    used for one part of a worst-case disparity (equalized odds), so that the part which has no
    disparity does not hide the one that has.
    """
    v = np.where(eligible, values, np.nan)
    defined = ~np.isnan(v)
    hi = np.where(defined, v, -np.inf).max(axis=-1)
    lo = np.where(defined, v, np.inf).min(axis=-1)
    enough = defined.sum(axis=-1) >= 2
    if kind == "difference":
        out = np.where(enough, hi - lo, np.nan)
    else:
        ok = enough & (hi > 0) & (lo >= 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(ok, lo / np.where(ok, hi, 1.0), np.nan)
        if all_zero_is_parity:
            out = np.where(enough & (hi == 0) & (lo == 0), 1.0, out)
    return out


def disparity_reason(values: np.ndarray, eligible: np.ndarray, kind: str) -> str:
    """Why :func:`disparity` is NaN for a 1-D ``values``."""
    v = values[eligible]
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return "fewer than two groups are large enough and have a defined value"
    if kind == "ratio":
        return "a ratio needs non-negative values and a positive maximum"
    return ""
