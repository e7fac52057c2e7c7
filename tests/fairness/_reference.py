"""fairlearn references for every metric of auditkit.fairness.audit, row by row through MetricFrame."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import sklearn.metrics as skm
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    mean_prediction,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)

from auditkit.fairness import MISSING

NAN = np.nan


def _rate(num_mask, den_mask):
    """A row-level ratio metric: Σw·num / Σw·den (den = rows counted)."""

    def f(y_true, y_pred, sample_weight=None):
        yt, yp = np.asarray(y_true), np.asarray(y_pred)
        w = np.ones(len(yt)) if sample_weight is None else np.asarray(sample_weight)
        den = w[den_mask(yt, yp)].sum()
        return w[num_mask(yt, yp) & den_mask(yt, yp)].sum() / den if den > 0 else NAN

    return f


def ece_rows(y_true, y_score, sample_weight=None, n_bins=10):
    """Expected calibration error computed row by row (10 equal-width bins on [0, 1])."""
    from auditkit.fairness._counts import probability_edges

    yt, s = np.asarray(y_true, dtype=float), np.asarray(y_score, dtype=float)
    w = np.ones(len(yt)) if sample_weight is None else np.asarray(sample_weight)
    coarse = probability_edges()[:: 20]
    b = np.clip(np.searchsorted(coarse, s, side="right") - 1, 0, n_bins - 1)
    total = 0.0
    for k in range(n_bins):
        m = b == k
        total += abs((w[m] * yt[m]).sum() - (w[m] * s[m]).sum())
    return total / w.sum() if w.sum() > 0 else NAN


# metric -> MetricFrame callable (y_true, y_pred[, sample_weight]); pos label is 1
BINARY = {
    "selection_rate": selection_rate,
    "base_rate": _rate(lambda t, p: t == 1, lambda t, p: np.ones(len(t), bool)),
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "true_negative_rate": true_negative_rate,
    "false_negative_rate": false_negative_rate,
    "positive_predictive_value": functools.partial(skm.precision_score, zero_division=NAN),
    "negative_predictive_value": functools.partial(skm.precision_score, pos_label=0, zero_division=NAN),
    "false_discovery_rate": _rate(lambda t, p: t == 0, lambda t, p: p == 1),
    "false_omission_rate": _rate(lambda t, p: t == 1, lambda t, p: p == 0),
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "f1": functools.partial(skm.f1_score, zero_division=NAN),
}
REGRESSION = {
    "mean_prediction": mean_prediction,
    "mean_absolute_error": skm.mean_absolute_error,
    "root_mean_squared_error": skm.root_mean_squared_error,
}


def fairlearn_frame(y_true, y_pred, sensitive: pd.DataFrame, metrics: dict, sample_weight=None) -> pd.DataFrame:
    """MetricFrame.by_group over the intersection of all columns (missing -> MISSING)."""
    sf = sensitive.astype(object).where(sensitive.notna(), MISSING)
    params = None
    if sample_weight is not None:
        params = {k: {"sample_weight": np.asarray(sample_weight)} for k in metrics}
    mf = MetricFrame(metrics=metrics, y_true=np.asarray(y_true), y_pred=np.asarray(y_pred),
                     sensitive_features=sf, sample_params=params)
    by = mf.by_group
    if isinstance(by, pd.Series):
        by = by.to_frame()
    # one label per group as auditkit writes it: a level, or a tuple of levels for an intersection
    by.index = pd.Index([tuple(map(str, i)) if isinstance(i, tuple) else str(i) for i in by.index],
                        tupleize_cols=False)
    return by


def binary_defined(y_true, y_pred, w, metric: str) -> bool:
    """Whether our metric's denominator is positive for these rows (sklearn returns 0 otherwise)."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    w = np.ones(len(yt)) if w is None else np.asarray(w)
    P, N = w[yt == 1].sum(), w[yt == 0].sum()
    PP, PN = w[yp == 1].sum(), w[yp == 0].sum()
    need = {
        "true_positive_rate": P, "false_negative_rate": P, "false_positive_rate": N,
        "true_negative_rate": N, "positive_predictive_value": PP, "false_discovery_rate": PP,
        "negative_predictive_value": PN, "false_omission_rate": PN,
        "balanced_accuracy": min(P, N), "f1": P + PP,
    }
    return need.get(metric, w.sum()) > 0
