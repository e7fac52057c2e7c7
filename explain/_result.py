"""Result objects of :func:`auditkit.explain.explain`: values, global importance, efficiency, sampling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "EfficiencyCheck",
    "ExplainerChoice",
    "ExplanationResult",
    "GlobalImportance",
    "Sampling",
    "bootstrap_importance",
]


@dataclass(frozen=True)
class ExplainerChoice:
    """Which engine explained the model, and why."""

    method: str
    reason: str
    engine: str
    output: str
    space: str  # "original features" or "preprocessed features, grouped back"
    background: str

    def __str__(self) -> str:
        return f"{self.method}: {self.reason}"


@dataclass(frozen=True)
class Sampling:
    """What was sampled to bound the cost; every explanation states it."""

    rows_total: int
    rows_explained: int
    background: str
    random_state: int
    notes: tuple[str, ...] = ()

    @property
    def sampled(self) -> bool:
        return self.rows_explained < self.rows_total

    def describe(self) -> str:
        rows = (
            f"{self.rows_explained:,} of {self.rows_total:,} rows explained (uniform random "
            f"sample, random_state={self.random_state})"
            if self.sampled
            else f"all {self.rows_total:,} rows explained"
        )
        return "; ".join([rows, f"background: {self.background}", *self.notes])


@dataclass(frozen=True)
class EfficiencyCheck:
    """SHAP's efficiency axiom: ``sum(values) + base == f(x)`` for every explained row."""

    max_abs_error: float
    mean_abs_error: float
    tolerance: float
    rows_checked: int
    rows_violating: int
    exact: bool

    @property
    def passed(self) -> bool:
        return self.rows_violating == 0

    @classmethod
    def compute(
        cls,
        values: np.ndarray,
        base: np.ndarray,
        f: np.ndarray,
        *,
        rtol: float,
        exact: bool,
        tolerance: float | None = None,
    ) -> EfficiencyCheck:
        err = np.abs(values.sum(axis=1) + base - f)
        scale = max(
            1.0, float(np.max(np.abs(f), initial=0.0)), float(np.max(np.abs(base), initial=0.0))
        )
        tol = float(tolerance) if tolerance is not None else rtol * scale
        bad = ~(err <= tol)  # NaN counts as a violation
        return cls(
            float(np.nanmax(err, initial=0.0)) if np.isfinite(err).any() else float("nan"),
            float(np.nanmean(err)) if len(err) else 0.0,
            tol,
            int(len(err)),
            int(bad.sum()),
            exact,
        )


@dataclass(frozen=True)
class GlobalImportance:
    """Mean absolute SHAP value per feature with bootstrap intervals over the explained rows."""

    features: tuple[str, ...]
    mean_abs: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    mean: np.ndarray
    confidence: float
    n_bootstrap: int

    @property
    def share(self) -> np.ndarray:
        total = float(np.sum(self.mean_abs))
        return self.mean_abs / total if total > 0 else np.zeros_like(self.mean_abs)

    @property
    def rank(self) -> np.ndarray:
        """1 = most important (ties broken by feature order)."""
        order = np.argsort(-self.mean_abs, kind="stable")
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(1, len(order) + 1)
        return rank

    def order(self) -> list[str]:
        return [self.features[i] for i in np.argsort(-self.mean_abs, kind="stable")]

    def to_frame(self) -> pd.DataFrame:
        """One row per feature, most important first."""
        frame = pd.DataFrame(
            {
                "feature": list(self.features),
                "mean_abs_shap": self.mean_abs,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "share": self.share,
                "mean_shap": self.mean,
                "rank": self.rank,
            }
        )
        return frame.sort_values("rank").reset_index(drop=True)


def bootstrap_importance(
    values: np.ndarray,
    features: tuple[str, ...],
    *,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    random_state: int = 0,
) -> GlobalImportance:
    """Percentile bootstrap over rows of the mean absolute SHAP value (vectorised)."""
    absval = np.abs(values)
    n = absval.shape[0]
    mean_abs = absval.mean(axis=0)
    if n_bootstrap > 0 and n > 1:
        rng = np.random.default_rng(random_state)
        lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
        stats = np.empty((n_bootstrap, absval.shape[1]))
        chunk = max(1, int(2e7 // max(n, 1)))
        for start in range(0, n_bootstrap, chunk):
            stop = min(n_bootstrap, start + chunk)
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=stop - start)
            stats[start:stop] = counts @ absval / n
        ci_low, ci_high = np.quantile(stats, [lo_q, hi_q], axis=0)
    else:
        ci_low = ci_high = np.full_like(mean_abs, np.nan)
    return GlobalImportance(
        features, mean_abs, ci_low, ci_high, values.mean(axis=0), confidence, n_bootstrap
    )


@dataclass(frozen=True)
class ExplanationResult:
    """SHAP values for the explained rows, in the user's feature space.

    Attributes
    ----------
    values:
        ``(n_rows, n_features)`` SHAP values, one column per original feature (one-hot columns
        of a Pipeline summed back to their source feature).
    base_values:
        ``(n_rows,)`` the expected output the values are measured from.
    output:
        ``(n_rows,)`` the model output ``f(x)`` being explained (``choice.output`` says which).
    data:
        The explained rows (original values, original index labels).
    importance:
        :class:`GlobalImportance` with bootstrap intervals over rows.
    efficiency:
        :class:`EfficiencyCheck` of ``values.sum(1) + base_values == output``.
    """

    values: np.ndarray
    base_values: np.ndarray
    output: np.ndarray
    feature_names: tuple[str, ...]
    data: pd.DataFrame
    importance: GlobalImportance
    efficiency: EfficiencyCheck
    choice: ExplainerChoice
    sampling: Sampling
    raw_values: np.ndarray | None = None
    raw_feature_names: tuple[str, ...] | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def row_labels(self) -> list[Any]:
        return list(self.data.index)

    def to_frame(self) -> pd.DataFrame:
        """SHAP values as a DataFrame indexed like the explained rows."""
        return pd.DataFrame(self.values, index=self.data.index, columns=list(self.feature_names))

    def top(self, k: int = 5) -> list[str]:
        return self.importance.order()[:k]

    def __repr__(self) -> str:
        return (
            f"ExplanationResult(method={self.choice.method!r}, rows={len(self.values)}, "
            f"features={len(self.feature_names)}, output={self.choice.output!r}, "
            f"efficiency={'ok' if self.efficiency.passed else 'VIOLATED'})"
        )
