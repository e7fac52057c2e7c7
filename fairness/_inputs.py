"""Validation and normalisation of the arrays handed to :func:`auditkit.fairness.audit`.

Everything here turns user input into plain numpy arrays (or recognises a Dask collection) and
refuses bad input with a :class:`~auditkit.fairness.errors.FairnessInputError` that names the argument.
Messages give counts and positions, never values from the data.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness.errors import FairnessInputError

__all__ = ["MISSING", "TASKS", "is_dask", "level_key", "sensitive_frame", "to_1d"]

#: Label of the explicit group formed by missing values of a sensitive attribute.
MISSING = "<missing>"

TASKS = ("auto", "binary", "multiclass", "regression")


def is_dask(obj: Any) -> bool:
    """Whether ``obj`` is a Dask collection (without importing dask)."""
    mod = type(obj).__module__ or ""
    return mod.startswith("dask") and hasattr(obj, "npartitions")


def level_key(value: Any) -> tuple[int, Any]:
    """Sort key for group levels: numbers numerically, then strings, the missing group last."""
    if isinstance(value, str) and value == MISSING:
        return (3, "")
    if isinstance(value, (bool, np.bool_)):
        return (0, float(value))
    if isinstance(value, numbers.Real):
        return (0, float(value))
    return (1, str(value))


def to_1d(value: Any, name: str, *, allow_none: bool = False) -> np.ndarray | None:
    """``value`` as a 1-D numpy array; refuses 2-D input and wrong types by name."""
    if value is None:
        if allow_none:
            return None
        raise FairnessInputError(f"The {name!r} argument is required; got None.")
    if isinstance(value, pd.DataFrame):
        if value.shape[1] != 1:
            raise FairnessInputError(
                f"The {name!r} argument must be one column; got a DataFrame with "
                f"{value.shape[1]} columns. Pass a single Series."
            )
        value = value.iloc[:, 0]
    if isinstance(value, pd.Series):
        arr = value.to_numpy()
    else:
        arr = np.asarray(value)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise FairnessInputError(
            f"The {name!r} argument must be one-dimensional; got an array of shape {arr.shape}."
        )
    return arr


def sensitive_frame(sensitive_features: Any, n_rows: int | None = None) -> pd.DataFrame:
    """The sensitive attributes as a DataFrame with string column names."""
    sf = sensitive_features
    if sf is None:
        raise FairnessInputError(
            "The 'sensitive_features' argument is required: pass a column (Series, array) or "
            "several (DataFrame, dict of arrays)."
        )
    if isinstance(sf, pd.DataFrame):
        frame = sf.copy(deep=False)
    elif isinstance(sf, pd.Series):
        frame = sf.to_frame(name=str(sf.name) if sf.name is not None else "sensitive_feature_0")
    elif isinstance(sf, Mapping):
        frame = pd.DataFrame({str(k): to_1d(v, f"sensitive_features[{k!r}]") for k, v in sf.items()})
    else:
        arr = np.asarray(sf, dtype=object) if isinstance(sf, Sequence) else np.asarray(sf)
        if arr.ndim == 1:
            frame = pd.DataFrame({"sensitive_feature_0": arr})
        elif arr.ndim == 2:
            if isinstance(sf, Sequence) and not isinstance(sf, np.ndarray) and arr.shape[0] < arr.shape[1]:
                arr = arr.T  # a list of columns
            frame = pd.DataFrame({f"sensitive_feature_{i}": arr[:, i] for i in range(arr.shape[1])})
        else:
            raise FairnessInputError(
                "The 'sensitive_features' argument must be one or two-dimensional; got shape "
                f"{arr.shape}."
            )
    frame.columns = [str(c) for c in frame.columns]
    if frame.shape[1] == 0:
        raise FairnessInputError("The 'sensitive_features' argument has no columns.")
    if len(set(frame.columns)) != frame.shape[1]:
        raise FairnessInputError(
            f"The 'sensitive_features' columns must have distinct names; got {list(frame.columns)}."
        )
    if frame.shape[1] > 8:
        raise FairnessInputError(
            f"The 'sensitive_features' argument has {frame.shape[1]} columns; at most 8 are "
            "supported (their intersections grow exponentially). Pass the protected attributes only."
        )
    if n_rows is not None and len(frame) != n_rows:
        raise FairnessInputError(
            f"The 'sensitive_features' argument has {len(frame)} rows but 'y_true' has {n_rows}. "
            "Pass arrays of the same length, one entry per row."
        )
    return frame.reset_index(drop=True)


def check_not_missing(arr: np.ndarray, name: str) -> None:
    """Refuse missing values in a label, prediction, score or weight array."""
    if arr.dtype.kind in "fc":
        bad = np.isnan(arr)
    elif arr.dtype.kind == "O":
        bad = pd.isna(arr)
    else:
        return
    if bad.all() and len(arr):
        raise FairnessInputError(
            f"The {name!r} argument is entirely missing (all {len(arr)} values are NaN/None). "
            "Pass the column that holds the values."
        )
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise FairnessInputError(
            f"The {name!r} argument has {int(bad.sum())} missing values (first at row {first}). "
            "Drop those rows or impute them before the audit."
        )
