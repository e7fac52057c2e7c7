"""Stability of global importance across seeds, row samples and background samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.explain._core import ModelExplainer, _check_int
from auditkit.explain.errors import ExplainInputError

__all__ = ["StabilityReport", "stability"]


@dataclass(frozen=True)
class StabilityReport:
    """Importance ranks of each feature over repeated explanations.

    ``ranks`` is ``(repeats, n_features)``, 1 = most important. A feature is *unstable* when it
    is in the top ``k`` of at least one repeat and its rank moves by more than
    ``max_rank_spread`` places between repeats.
    """

    features: tuple[str, ...]
    ranks: np.ndarray
    importance: np.ndarray
    top_k: int
    max_rank_spread: int
    rows_per_repeat: int
    method: str

    @property
    def repeats(self) -> int:
        return int(self.ranks.shape[0])

    @property
    def spread(self) -> np.ndarray:
        return self.ranks.max(axis=0) - self.ranks.min(axis=0)

    @property
    def unstable(self) -> list[str]:
        in_top = (self.ranks <= self.top_k).any(axis=0)
        bad = in_top & (self.spread > self.max_rank_spread)
        return [f for f, b in zip(self.features, bad, strict=True) if b]

    @property
    def mean_pairwise_spearman(self) -> float:
        """Average rank correlation of the importance vectors between repeats."""
        r = self.ranks.astype(float)
        if r.shape[0] < 2 or r.shape[1] < 2:
            return float("nan")
        c = np.corrcoef(r)
        iu = np.triu_indices(r.shape[0], 1)
        return float(np.nanmean(c[iu]))

    @property
    def top_k_jaccard(self) -> float:
        """Smallest Jaccard similarity of the top-``k`` sets between any two repeats."""
        sets = [set(np.flatnonzero(row <= self.top_k).tolist()) for row in self.ranks]
        worst = 1.0
        for i in range(len(sets)):
            for j in range(i + 1, len(sets)):
                union = sets[i] | sets[j]
                worst = min(worst, len(sets[i] & sets[j]) / len(union) if union else 1.0)
        return worst

    def to_frame(self) -> pd.DataFrame:
        mean_imp = self.importance.mean(axis=0)
        cv = np.divide(
            self.importance.std(axis=0), mean_imp, out=np.zeros_like(mean_imp), where=mean_imp > 0
        )
        unstable = set(self.unstable)
        frame = pd.DataFrame(
            {
                "feature": list(self.features),
                "median_rank": np.median(self.ranks, axis=0),
                "min_rank": self.ranks.min(axis=0),
                "max_rank": self.ranks.max(axis=0),
                "rank_spread": self.spread,
                "mean_importance": mean_imp,
                "importance_cv": cv,
                "unstable": [f in unstable for f in self.features],
            }
        )
        return frame.sort_values(["median_rank", "feature"]).reset_index(drop=True)


def _ranks(importance: np.ndarray) -> np.ndarray:
    order = np.argsort(-importance, kind="stable")
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def stability(
    model: Any,
    X: Any,
    *,
    repeats: int = 5,
    sample: int | None = 1000,
    top_k: int = 5,
    max_rank_spread: int = 2,
    background: Any = None,
    random_state: int | None = None,
    **explainer_options: Any,
) -> StabilityReport:
    """Explain ``repeats`` times with different seeds, row samples and background samples.

    Each repeat builds its own :class:`ModelExplainer` with seed ``random_state + r``, so the
    background sample (or k-means summary) and the explained row sample both change.
    """
    repeats = _check_int("repeats", repeats, 2, "stability")
    top_k = _check_int("top_k", top_k, 1, "stability")
    max_rank_spread = _check_int("max_rank_spread", max_rank_spread, 0, "stability")
    base_seed = 0 if random_state is None else int(random_state)
    ranks, importance = [], []
    names: tuple[str, ...] = ()
    method = ""
    rows = 0
    for r in range(repeats):
        mex = ModelExplainer(
            model, X, background=background, random_state=base_seed + 1 + r, **explainer_options
        )
        res = mex.explain(sample=sample, n_bootstrap=0)
        names, method, rows = mex.feature_names, mex.choice.method, len(res.values)
        importance.append(res.importance.mean_abs)
        ranks.append(_ranks(res.importance.mean_abs))
    if not names:  # pragma: no cover
        raise ExplainInputError("stability produced no repeats.")
    return StabilityReport(
        names, np.vstack(ranks), np.vstack(importance), top_k, max_rank_spread, rows, method
    )
