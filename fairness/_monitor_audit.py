"""The audit's disparities per window, with its intervals and evidence rule.

Each closed window's counts become a :class:`~auditkit.fairness.Counts` and go through
:func:`~auditkit.fairness.audit_counts`, the function behind ``audit`` and ``auditkit run``: the
same disparities (demographic parity difference and ratio; once the window's labels are judged,
equalized odds and equal opportunity differences), the same bootstrap intervals and the same
minimum-evidence rule. So a window's verdict reads like an audit of that window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._counts import Counts
from auditkit.fairness._inputs import level_key

__all__ = ["LABEL_DISPARITIES", "PREDICTION_DISPARITIES", "window_counts", "window_disparities"]

#: Disparities computed from the predictions alone, for every closed window.
PREDICTION_DISPARITIES = ("demographic_parity_difference", "demographic_parity_ratio")
#: Disparities that need labels, for windows whose labels are judged.
LABEL_DISPARITIES = ("equalized_odds_difference", "equal_opportunity_difference")
COLUMNS = ["window", "labels", "grouping", "disparity", "value", "ci_low", "ci_high", "n_groups", "n_excluded",
           "reason"]


def window_counts(table: pd.DataFrame, attributes: Sequence[str], *, labelled: bool) -> Counts:
    """The :class:`Counts` of one window's counts-table rows: every row with ``y_true`` equal to
    ``y_pred`` (only prediction-based metrics are then meaningful), or only the labelled rows."""
    t = table[table["y_true"].notna()] if labelled else table
    y_pred = t["y_pred"].astype(str).to_numpy()
    y_true = t["y_true"].astype(str).to_numpy() if labelled else y_pred
    levels = tuple(tuple(sorted({str(v) for v in t[a]}, key=level_key)) for a in attributes)
    classes = tuple(sorted(set(y_pred) | set(y_true), key=level_key))
    shape = tuple(len(lv) for lv in levels) + (len(classes), len(classes))
    index = []
    for a, lv in zip(attributes, levels, strict=True):
        code = {v: i for i, v in enumerate(lv)}
        index.append(np.array([code[str(v)] for v in t[a]], dtype=np.intp))
    cls = {c: i for i, c in enumerate(classes)}
    index += [np.array([cls[v] for v in y_true], dtype=np.intp), np.array([cls[v] for v in y_pred], dtype=np.intp)]
    n = np.zeros(shape, dtype=np.int64)
    np.add.at(n, tuple(index), t["n"].to_numpy(dtype=np.int64))
    w = n.astype(float)
    return Counts(attributes=tuple(attributes), levels=levels, task="classification", weighted=False,
                  classes=classes, n=n, w=w, w2=w.copy())


def _one(table: pd.DataFrame, attributes: Sequence[str], labelled: bool, spec: Any, positive: str,
         favourable: str) -> pd.DataFrame:
    from auditkit.fairness._audit import audit_counts
    from auditkit.fairness.errors import FairnessInputError

    metrics = ["selection_rate", "true_positive_rate", "false_positive_rate"] if labelled else ["selection_rate"]
    wanted = LABEL_DISPARITIES if labelled else PREDICTION_DISPARITIES
    counts = window_counts(table, attributes, labelled=labelled)
    if not labelled and len(counts.classes) < 2:
        return _one_class(counts, attributes, positive)
    if len(counts.classes) < 2:  # labels of one class only: let the audit say which rates it lacks
        counts = _with_class(counts, positive if positive not in counts.classes else
                             next(c for c in (favourable, "0", "1") if c not in counts.classes))
    try:
        result = audit_counts(counts, metrics=metrics, n_boot=spec.n_boot, random_state=0,
                              min_group_size=spec.min_group_size, min_denominator=spec.min_denominator,
                              pos_label=positive, favourable_label=favourable, intersectional=spec.intersectional)
    except FairnessInputError as exc:  # e.g. every attribute missing in this window
        reason = f"this window cannot be audited: {exc}"
        return pd.DataFrame([{"disparity": d, "grouping": "", "reason": reason} for d in wanted])
    d = result.disparities.reset_index()
    return d[d["disparity"].isin(wanted)]


def _one_class(counts: Counts, attributes: Sequence[str], positive: str) -> pd.DataFrame:
    """Every prediction of the window is one class: every group's selection rate is the same
    (0 or 1), so the difference is 0 and the ratio 1 (undefined when nobody is selected)."""
    rate = 1.0 if counts.classes and counts.classes[0] == positive else 0.0
    reason = "every prediction in the window is the same class"
    rows = []
    for a in attributes:
        rows.append({"grouping": a, "disparity": "demographic_parity_difference", "value": 0.0, "ci_low": 0.0,
                     "ci_high": 0.0, "reason": reason})
        ratio = 1.0 if rate else float("nan")
        rows.append({"grouping": a, "disparity": "demographic_parity_ratio", "value": ratio, "ci_low": ratio,
                     "ci_high": ratio, "reason": reason})
    return pd.DataFrame(rows)


def _with_class(counts: Counts, extra: str) -> Counts:
    """``counts`` with one more (empty) class, so that a binary audit can run."""
    classes = tuple(sorted((*counts.classes, extra), key=level_key))
    idx = np.array([classes.index(c) for c in counts.classes], dtype=np.intp)
    c = len(classes)
    n = np.zeros(counts.shape + (c, c), dtype=np.int64)
    n[(..., *np.ix_(idx, idx))] = counts.n
    w = n.astype(float)
    return Counts(attributes=counts.attributes, levels=counts.levels, task=counts.task, weighted=False,
                  classes=classes, n=n, w=w, w2=w.copy())


def window_disparities(counts: pd.DataFrame, attributes: Sequence[str], windows: Sequence[Any], spec: Any, *,
                       positive: str, favourable: str) -> pd.DataFrame:
    """The audit's disparities of every closed window (see the module docstring).

    Columns: ``window``, ``labels`` (whether the labelled rows were used), ``grouping``,
    ``disparity``, ``value``, ``ci_low``, ``ci_high``, ``n_groups``, ``n_excluded``, ``reason``.
    """
    parts = []
    by_window = {int(w): g for w, g in counts.groupby("window", sort=True)}
    for w in windows:
        if not w.closed or int(w.index) not in by_window:
            continue
        table = by_window[int(w.index)]
        for labelled in ((False, True) if w.labels_judged else (False,)):
            part = _one(table, attributes, labelled, spec, positive, favourable)
            parts.append(part.assign(window=int(w.index), labels=labelled))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    for c in COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    return out[COLUMNS]
