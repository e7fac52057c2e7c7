"""Fixed bins of the monitored features, and integer codes of a column (the counting's hot path).

:func:`column_codes` factorises a column once (categorical columns give their codes for free) and
turns only its unique values into text; :class:`FeatureBins` fixes each feature's histogram bins
from the first batch of the log and stores them in the monitor state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._windows import label_text
from auditkit.fairness.errors import FairnessInputError

__all__ = ["MAX_CATEGORIES", "N_QUANTILE_BINS", "FeatureBins", "column_codes"]

N_QUANTILE_BINS = 10
MAX_CATEGORIES = 20


def column_codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a column (``-1`` = missing; a small integer dtype where it can) and their text.

    Categorical columns give their codes for free; integer columns with a small range are
    offset by their minimum; anything else is factorised once. Only the unique values become text.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(), label_text(series.cat.categories)
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return series.to_numpy().view(np.int8), np.array(["False", "True"], dtype=object)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu" and len(series):
        arr = series.to_numpy()
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < 1 << 15:
            codes = arr if lo == 0 and arr.dtype.itemsize <= 2 else (arr - lo).astype(np.int16)
            return codes, label_text(np.arange(lo, hi + 1))
    if dtype == np.dtype(object) and pd.api.types.infer_dtype(series, skipna=True) in ("mixed", "mixed-integer"):
        series = pd.Series(label_text(series), dtype=object)  # True and 1 hash alike: text first
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, label_text(pd.Index(uniques))


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


@dataclass(frozen=True)
class FeatureBins:
    """Bins of each feature, fixed from the first batch so that histograms of all windows align.

    Numeric features: up to 10 quantile bins (inner edges, unique; ``-inf``/``+inf`` implied),
    ``bin = searchsorted(edges, x, side="right")``. Other features: the up to 20 most frequent
    categories (as text, sorted); ``bin`` is the index, any other category ``len(categories)``
    ("other"). Missing values are bin ``-1``.
    """

    numeric: dict[str, tuple[float, ...]] = field(default_factory=dict)
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, features: tuple[str, ...] | list[str]) -> FeatureBins:
        """Fix the bins from one batch."""
        numeric: dict[str, tuple[float, ...]] = {}
        categorical: dict[str, tuple[str, ...]] = {}
        for f in features:
            s = frame[f]
            if _is_numeric(s):
                x = s.to_numpy(dtype=np.float64, na_value=np.nan)
                x = x[np.isfinite(x)]
                q = np.quantile(x, np.linspace(0, 1, N_QUANTILE_BINS + 1)[1:-1]) if len(x) else []
                numeric[f] = tuple(float(e) for e in np.unique(q))
            else:
                codes, labels = column_codes(s)
                n = np.bincount(codes[codes >= 0], minlength=len(labels))
                order = np.lexsort((labels.astype(str), -n))[:MAX_CATEGORIES]
                categorical[f] = tuple(sorted(str(labels[i]) for i in order if n[i] > 0))
        return cls(numeric=numeric, categorical=categorical)

    def n_bins(self, feature: str) -> int:
        """Number of bins of a feature (missing values aside)."""
        if feature in self.numeric:
            return len(self.numeric[feature]) + 1
        return len(self.categorical[feature]) + 1

    def assign(self, feature: str, series: pd.Series) -> np.ndarray:
        """The bin of each value (small integers; ``-1`` = missing)."""
        if feature in self.numeric:
            try:
                x = series.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                raise FairnessInputError(
                    f"The feature {feature!r} was numeric in the first batch and is not numeric now. "
                    "Keep a feature's type across files, or rebuild the state."
                ) from None
            b = np.zeros(len(x), dtype=np.int8)
            for edge in self.numeric[feature]:  # <= 9 edges: faster than searchsorted, same bins
                np.add(b, x >= edge, out=b, casting="unsafe")
            b[np.isnan(x)] = -1
            return b
        cats = self.categorical[feature]
        codes, labels = column_codes(series)
        where = pd.Index(cats).get_indexer(pd.Index(labels.astype(object)))
        lookup = np.append(np.where(where < 0, len(cats), where), -1)
        return lookup[codes]  # code -1 (missing) takes the last entry, bin -1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in ``meta.json``).

        ``{"features": {name: {"kind": "numeric", "edges": [...]} or
        {"kind": "categorical", "categories": [...]}}}``
        """
        out: dict[str, Any] = {f: {"kind": "numeric", "edges": list(e)} for f, e in self.numeric.items()}
        out.update({f: {"kind": "categorical", "categories": list(c)} for f, c in self.categorical.items()})
        return {"features": out}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureBins:
        """Inverse of :meth:`to_dict`."""
        numeric, categorical = {}, {}
        for name, spec in data["features"].items():
            if spec["kind"] == "numeric":
                numeric[str(name)] = tuple(float(e) for e in spec["edges"])
            else:
                categorical[str(name)] = tuple(str(c) for c in spec["categories"])
        return cls(numeric=numeric, categorical=categorical)

    def covers(self, features: tuple[str, ...]) -> bool:
        """Whether every feature has bins."""
        return all(f in self.numeric or f in self.categorical for f in features)
