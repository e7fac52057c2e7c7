"""Counting the rows of an audit into :class:`Counts` (numpy/pandas in chunks, Dask by partition)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._counts import Counts, count_rows, probability_edges, range_edges
from auditkit.fairness._inputs import check_not_missing, is_dask, sensitive_frame, to_1d
from auditkit.fairness.errors import FairnessInputError

__all__ = ["count"]

CHUNK_ROWS = 1 << 20
# More classes than this is a mistaken label column, not a classification task.
MAX_CLASSES = 50


def _is_regression(y_pred: np.ndarray) -> bool:
    if y_pred.dtype.kind != "f":
        return False
    return bool(np.any(y_pred != np.round(y_pred)))


def _optional_column(values: Any, name: str, n: int) -> np.ndarray | None:
    """An optional per-row input as a 1-D array, one entry per row of ``y_true`` (or None)."""
    col = to_1d(values, name, allow_none=True)
    if col is not None and len(col) != n:
        raise FairnessInputError(f"{name!r} has {len(col)} rows but 'y_true' has {n}.")
    return col


def _weights(sample_weight: Any, n: int) -> np.ndarray | None:
    sw = _optional_column(sample_weight, "sample_weight", n)
    if sw is None:
        return None
    sw = sw.astype(float)
    if not np.all(np.isfinite(sw)) or (sw < 0).any():
        raise FairnessInputError(
            "'sample_weight' must be finite and non-negative; "
            f"{int((~np.isfinite(sw) | (sw < 0)).sum())} values are not."
        )
    return sw


def _scores(y_score: Any, n: int) -> np.ndarray | None:
    ys = _optional_column(y_score, "y_score", n)
    if ys is None:
        return None
    try:
        ys = ys.astype(float)
    except (TypeError, ValueError):
        raise FairnessInputError("'y_score' must be numeric scores of the positive class.") from None
    check_not_missing(ys, "y_score")
    return ys


# -- counting -------------------------------------------------------------------------------
def count(
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    *,
    y_score: Any = None,
    sample_weight: Any = None,
    task: str = "auto",
) -> Counts:
    """Count one dataset (numpy/pandas, or Dask partition by partition) into :class:`Counts`.

    Counts of disjoint chunks merge with :meth:`Counts.merge`; :func:`audit_counts` derives
    the result from merged counts.
    """
    if any(is_dask(x) for x in (y_true, y_pred, sensitive_features, y_score, sample_weight)):
        return _count_dask(y_true, y_pred, sensitive_features, y_score, sample_weight, task)
    yt = to_1d(y_true, "y_true")
    yp = to_1d(y_pred, "y_pred")
    if len(yp) != len(yt):
        raise FairnessInputError(
            f"'y_pred' has {len(yp)} rows but 'y_true' has {len(yt)}. Pass one prediction per row."
        )
    if len(yt) == 0:
        raise FairnessInputError("'y_true' is empty; the audit needs at least one row.")
    check_not_missing(yt, "y_true")
    check_not_missing(yp, "y_pred")
    # An attribute missing in every row of this chunk is fine here (another chunk or partition
    # may have it); audit_counts refuses one that is missing in every row of the whole.
    sf = sensitive_frame(sensitive_features, len(yt))
    sw = _weights(sample_weight, len(yt))
    ys = _scores(y_score, len(yt))
    kind = "regression" if task == "regression" or (task == "auto" and _is_regression(yp)) else "classification"
    if kind == "regression" and ys is not None:
        raise FairnessInputError("'y_score' applies to classification; omit it for regression.")
    if kind == "classification":
        n_classes = len(pd.unique(yt))
        if n_classes > MAX_CLASSES:
            raise FairnessInputError(
                f"'y_true' has {n_classes:,} distinct values but the predictions are class labels; "
                f"classification metrics need a label with at most {MAX_CLASSES} classes (binary: 2). "
                "Check that the label is the outcome column, or pass numeric predictions of the "
                "same quantity for a regression audit."
            )
    if kind == "regression":
        try:
            yt, yp = yt.astype(float), yp.astype(float)
        except (TypeError, ValueError):
            raise FairnessInputError("Regression needs numeric 'y_true' and 'y_pred'.") from None
    edges = None
    if ys is not None:  # one set of bin edges for every chunk
        lo, hi = float(ys.min()), float(ys.max())
        edges = probability_edges() if (lo >= 0 and hi <= 1) else range_edges(lo, hi)
    # Count in chunks and merge: the temporaries (int64 codes per row) stay bounded.
    out = None
    for start in range(0, len(yt), CHUNK_ROWS):
        sl = slice(start, start + CHUNK_ROWS)
        part = count_rows(yt[sl], yp[sl], sf.iloc[sl].reset_index(drop=True), task=kind,
                          y_score=None if ys is None else ys[sl],
                          sample_weight=None if sw is None else sw[sl], score_edges=edges)
        out = part if out is None else out.merge(part)
    return out


def _count_dask(y_true, y_pred, sensitive, y_score, sample_weight, task) -> Counts:
    import dask
    import dask.dataframe as dd

    if not isinstance(sensitive, (dd.DataFrame, dd.Series)):
        raise FairnessInputError(
            "With Dask input, 'sensitive_features' must be a Dask DataFrame or Series from the "
            "same frame as 'y_true' and 'y_pred'."
        )
    frame = sensitive.to_frame() if isinstance(sensitive, dd.Series) else sensitive
    attrs = [str(c) for c in frame.columns]
    extra = {"__y_true": y_true, "__y_pred": y_pred, "__y_score": y_score, "__weight": sample_weight}
    extra = {k: v for k, v in extra.items() if v is not None}
    for k, v in extra.items():
        if not isinstance(v, dd.Series):
            raise FairnessInputError(
                f"With Dask input, {k.strip('_')!r} must be a Dask Series of the same frame."
            )
    frame = frame.assign(**extra)
    kind = task
    if task == "auto":
        dtype = frame["__y_pred"].dtype
        kind = "classification"
        if getattr(dtype, "kind", "O") == "f":
            yp = frame["__y_pred"]
            if bool((yp != yp.round()).any().compute()):
                kind = "regression"
    elif task in ("binary", "multiclass"):
        kind = "classification"
    edges = None
    if "__y_score" in frame.columns:
        lo, hi = dask.compute(frame["__y_score"].min(), frame["__y_score"].max())
        edges = probability_edges() if (lo >= 0 and hi <= 1) else range_edges(float(lo), float(hi))

    def part(df: pd.DataFrame) -> Counts:
        yt, yp = df["__y_true"].to_numpy(), df["__y_pred"].to_numpy()
        check_not_missing(yt, "y_true")
        check_not_missing(yp, "y_pred")
        ys = df["__y_score"].to_numpy(dtype=float) if "__y_score" in df else None
        sw = df["__weight"].to_numpy(dtype=float) if "__weight" in df else None
        if kind == "regression":
            yt, yp = yt.astype(float), yp.astype(float)
        return count_rows(yt, yp, df[attrs].reset_index(drop=True), task=kind, y_score=ys,
                          sample_weight=sw, score_edges=edges)

    parts = [dask.delayed(part)(p) for p in frame.to_delayed()]
    while len(parts) > 1:  # tree reduction
        parts = [dask.delayed(Counts.merge)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    (counts,) = dask.compute(parts[0])
    return counts
