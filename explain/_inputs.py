"""Validation of the model and data handed to :mod:`explain`, and the original-space codec.

Everything here is about inputs: turning ``X`` into a DataFrame with string column names,
checking it against the model's own record of its features, splitting a scikit-learn Pipeline
into its preprocessing and its final estimator, mapping the preprocessed columns back to the
columns the user knows (one-hot columns to their source feature), and encoding mixed-type
frames as numbers for the model-agnostic engines and LIME.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.explain.errors import ExplainInputError

__all__ = [
    "Codec",
    "as_frame",
    "check_model",
    "group_map",
    "is_numeric_column",
    "model_kind",
    "split_pipeline",
]


def _short(names: Sequence[Any], limit: int = 6) -> str:
    shown = ", ".join(repr(str(n)) for n in list(names)[:limit])
    more = len(names) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def is_numeric_column(series: pd.Series) -> bool:
    """Numbers (bool counts as a number); categoricals, strings and objects do not."""
    dtype = series.dtype
    return bool(pd.api.types.is_numeric_dtype(dtype)) and not isinstance(dtype, pd.CategoricalDtype)


def model_kind(model: Any) -> str:
    """``"pipeline"``, ``"torch"``, ``"estimator"`` or ``"callable"``; raises for anything else."""
    cls = type(model)
    if cls.__module__.startswith("sklearn.pipeline") and cls.__name__ == "Pipeline":
        return "pipeline"
    if any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in cls.__mro__):
        return "torch"
    if any(hasattr(model, m) for m in ("predict_proba", "predict", "decision_function")):
        return "estimator"
    if callable(model):
        return "callable"
    raise ExplainInputError(
        f"The 'model' parameter of explain must have predict or predict_proba (a scikit-learn "
        f"style estimator or Pipeline), be a torch.nn.Module, or be a callable that maps a 2-D "
        f"array to outputs; got an object of type {cls.__name__!r} with none of these. Pass the "
        f"fitted model, or wrap it: explain(lambda X: model.score_rows(X), X)."
    )


def check_model(model: Any) -> str:
    """:func:`model_kind`, plus a check that a scikit-learn estimator is fitted."""
    kind = model_kind(model)
    if kind in ("pipeline", "estimator") and type(model).__module__.startswith("sklearn"):
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(model)
        except NotFittedError:
            raise ExplainInputError(
                f"The 'model' parameter of explain must be fitted; got an unfitted "
                f"{type(model).__name__}. Call model.fit(X, y) first."
            ) from None
    return kind


def as_frame(X: Any, model: Any, feature_names: Sequence[str] | None = None) -> pd.DataFrame:
    """``X`` as a DataFrame whose columns match what the model was fitted on.

    A DataFrame keeps its index (the row labels individuals are named by); its columns are
    reordered to the model's ``feature_names_in_`` when those are known. A 2-D array gets
    ``feature_names``, else the model's names, else ``x0, x1, ...``.
    """
    expected = getattr(model, "feature_names_in_", None)
    expected = [str(c) for c in expected] if expected is not None else None
    n_expected = getattr(model, "n_features_in_", None)
    if isinstance(X, pd.Series):
        X = X.to_frame().T
    if isinstance(X, pd.DataFrame):
        frame = X.copy(deep=False)
        frame.columns = [str(c) for c in frame.columns]
        if frame.columns.duplicated().any():
            dup = frame.columns[frame.columns.duplicated()].unique().tolist()
            raise ExplainInputError(
                f"The 'X' parameter of explain must have unique column names; {_short(dup)} "
                f"appear more than once. Rename or drop the duplicates."
            )
        if feature_names is not None:
            wanted = [str(c) for c in feature_names]
            absent = [c for c in wanted if c not in frame.columns]
            if absent:
                raise ExplainInputError(
                    f"The 'feature_names' parameter of explain names columns that 'X' does not "
                    f"have: {_short(absent)}. Name columns of 'X', or leave feature_names out."
                )
            frame = frame[wanted]
        if expected is not None:
            missing = [c for c in expected if c not in frame.columns]
            extra = [c for c in frame.columns if c not in expected]
            if missing:
                raise ExplainInputError(
                    f"The feature names of 'X' do not match the model: the model was fitted on "
                    f"{len(expected)} columns and 'X' lacks {_short(missing)}"
                    + (f" (and has unexpected {_short(extra)})" if extra else "")
                    + ". Pass the same columns the model was trained on."
                )
            if extra:
                raise ExplainInputError(
                    f"The feature names of 'X' do not match the model: 'X' has columns the model "
                    f"was not fitted on: {_short(extra)}. Select the model's features first, "
                    f"e.g. X[model.feature_names_in_]."
                )
            frame = frame[expected]
    else:
        arr = np.asarray(X)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2:
            raise ExplainInputError(
                f"The 'X' parameter of explain must be 2-D (rows x features); got an array with "
                f"{arr.ndim} dimensions."
            )
        if feature_names is None and n_expected is not None and arr.shape[1] != int(n_expected):
            raise ExplainInputError(
                f"The 'X' parameter of explain must have the {int(n_expected)} features the model "
                f"was fitted on; got {arr.shape[1]} columns. Pass the same columns the model was "
                f"trained on."
            )
        names = list(feature_names) if feature_names is not None else expected
        if names is None:
            names = [f"x{i}" for i in range(arr.shape[1])]
        if len(names) != arr.shape[1]:
            raise ExplainInputError(
                f"The feature names do not match 'X': {len(names)} names for {arr.shape[1]} "
                f"columns. Pass one name per column (feature_names=...)."
            )
        frame = pd.DataFrame(arr, columns=[str(n) for n in names])
    if n_expected is not None and frame.shape[1] != int(n_expected):
        raise ExplainInputError(
            f"The 'X' parameter of explain must have the {int(n_expected)} features the model was "
            f"fitted on; got {frame.shape[1]} columns. Pass the same columns the model was trained on."
        )
    if len(frame) == 0:
        raise ExplainInputError("The 'X' parameter of explain must have at least one row; got 0.")
    return frame


def split_pipeline(model: Any) -> tuple[Any | None, Any]:
    """``(preprocessing, final_estimator)`` of a Pipeline; ``(None, model)`` otherwise."""
    if model_kind(model) != "pipeline":
        return None, model
    steps = [s for s in model.steps if s[1] not in (None, "passthrough")]
    if len(steps) == 1:
        return None, steps[0][1]
    return model[:-1], model.steps[-1][1]


# -- grouping preprocessed columns back to the user's features ------------------------------


def _out_names(step: Any, in_names: list[str]) -> list[str] | None:
    try:
        return [str(n) for n in step.get_feature_names_out(np.asarray(in_names, dtype=object))]
    except Exception:  # noqa: BLE001 - any failure means "cannot tell"
        return None


def _match_by_name(out_names: list[str], in_names: list[str]) -> list[int] | None:
    """Each output to the input whose name it carries (longest match wins); None if any is unclear."""
    parents: list[int] = []
    order = sorted(range(len(in_names)), key=lambda i: -len(in_names[i]))
    for out in out_names:
        hit = None
        for i in order:
            name = in_names[i]
            if out == name or out.startswith(name + "_") or out.endswith("_" + name):
                hit = i
                break
        if hit is None:
            return None
        parents.append(hit)
    return parents


def _step_map(step: Any, in_names: list[str]) -> list[int] | None:
    """For one fitted transformer: the input index each output column comes from."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return list(range(len(in_names)))
    name = type(step).__name__
    if name == "Pipeline":
        current = list(range(len(in_names)))
        names = list(in_names)
        for _, sub in step.steps:
            if sub in (None, "passthrough"):
                continue
            local = _step_map(sub, names)
            if local is None:
                return None
            current = [current[j] for j in local]
            new_names = _out_names(sub, names)
            names = new_names if new_names is not None else [names[j] for j in local]
        return current
    if name == "ColumnTransformer":
        return _column_transformer_map(step, in_names)
    if name == "OneHotEncoder":
        counts = getattr(step, "_n_features_outs", None)
        if counts is None:
            cats = step.categories_
            drop = getattr(step, "drop_idx_", None)
            counts = [
                len(c) - (1 if drop is not None and drop[i] is not None else 0)
                for i, c in enumerate(cats)
            ]
        return [i for i, c in enumerate(counts) for _ in range(int(c))]
    out = _out_names(step, in_names)
    if out is None:
        return None
    if len(out) == len(in_names) and name not in ("PCA", "TruncatedSVD", "PolynomialFeatures"):
        return list(range(len(in_names)))
    if len(in_names) == 1:
        return [0] * len(out)
    return _match_by_name(out, in_names)


def _column_transformer_map(ct: Any, in_names: list[str]) -> list[int] | None:
    to_input = getattr(ct, "_transformer_to_input_indices", None)
    out_idx = getattr(ct, "output_indices_", None)
    if to_input is None or out_idx is None:
        return None
    width = max((s.stop for s in out_idx.values()), default=0)
    parents: list[int | None] = [None] * width
    for name, trans, _ in ct.transformers_:
        sl = out_idx.get(name)
        if sl is None or sl.stop == sl.start or (isinstance(trans, str) and trans == "drop"):
            continue
        cols = list(to_input[name])
        sub = [in_names[c] for c in cols]
        local = _step_map(trans, sub)
        if local is None or len(local) != sl.stop - sl.start:
            return None
        for j, p in enumerate(local):
            parents[sl.start + j] = cols[p]
    if any(p is None for p in parents):
        return None
    return [int(p) for p in parents]  # type: ignore[arg-type]


def group_map(pre: Any, in_names: list[str], n_out: int) -> list[int] | None:
    """For a fitted preprocessing step: the source column of each of its ``n_out`` outputs.

    ``None`` when the mapping cannot be established (a step that mixes columns, such as PCA);
    the caller then explains the whole pipeline in the original feature space instead.
    """
    try:
        parents = _step_map(pre, list(in_names))
    except Exception:  # noqa: BLE001 - unknown transformer internals: fall back
        return None
    if parents is None or len(parents) != n_out:
        return None
    return parents


# -- a numeric encoding of mixed-type frames (for LIME and model-agnostic engines) ----------


@dataclass(frozen=True)
class Codec:
    """Encode a mixed-type frame as floats and back.

    Numeric columns pass through (missing values filled with the column median, recorded in
    ``filled``); every other column becomes integer codes into ``categories[col]`` (a missing
    value is a category of its own).
    """

    columns: tuple[str, ...]
    categorical: tuple[int, ...]
    categories: dict[int, tuple[Any, ...]]
    dtypes: dict[str, Any]
    medians: dict[int, float]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> Codec:
        categorical: list[int] = []
        categories: dict[int, tuple[Any, ...]] = {}
        medians: dict[int, float] = {}
        for j, col in enumerate(frame.columns):
            s = frame[col]
            if is_numeric_column(s):
                med = float(np.nanmedian(s.to_numpy(dtype=float))) if s.notna().any() else 0.0
                medians[j] = med
            else:
                categorical.append(j)
                counts = s.value_counts(dropna=False)
                categories[j] = tuple(counts.index)
        return cls(
            tuple(frame.columns),
            tuple(categorical),
            categories,
            {c: frame[c].dtype for c in frame.columns},
            medians,
        )

    @property
    def all_numeric(self) -> bool:
        return not self.categorical

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)), dtype=float)
        for j, col in enumerate(self.columns):
            s = frame[col]
            if j in self.categories:
                cats = self.categories[j]
                lookup = {c: i for i, c in enumerate(cats) if not _isnan(c)}
                nan_code = next((i for i, c in enumerate(cats) if _isnan(c)), 0)
                out[:, j] = [
                    nan_code if _isnan(v) else lookup.get(v, 0) for v in s.astype(object).tolist()
                ]
            else:
                vals = s.to_numpy(dtype=float)
                out[:, j] = np.where(np.isnan(vals), self.medians[j], vals)
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        matrix = np.asarray(matrix, dtype=float)
        data: dict[str, Any] = {}
        for j, col in enumerate(self.columns):
            if j in self.categories:
                cats = np.asarray(self.categories[j], dtype=object)
                idx = np.clip(np.rint(matrix[:, j]).astype(int), 0, len(cats) - 1)
                values = pd.Series(cats[idx], dtype=object)
                dtype = self.dtypes[col]
                if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
                    values = values.astype(dtype)
                data[col] = values
            else:
                col_vals = matrix[:, j]
                dtype = self.dtypes[col]
                if pd.api.types.is_integer_dtype(dtype):
                    data[col] = np.rint(col_vals).astype(dtype)
                elif pd.api.types.is_bool_dtype(dtype):
                    data[col] = col_vals >= 0.5
                else:
                    data[col] = col_vals
        return pd.DataFrame(data, columns=list(self.columns))

    def frequency(self, matrix: np.ndarray) -> dict[int, np.ndarray]:
        """Share of each category code per categorical column in ``matrix``."""
        out: dict[int, np.ndarray] = {}
        for j in self.categorical:
            codes = np.rint(matrix[:, j]).astype(int)
            out[j] = np.bincount(codes, minlength=len(self.categories[j])) / max(len(codes), 1)
        return out


def _isnan(value: Any) -> bool:
    try:
        return bool(
            value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA
        )
    except (TypeError, ValueError):
        return False
