"""Agreement between SHAP and LIME for each individual explained."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.explain._local import LocalExplanation
from auditkit.explain.errors import ExplainInputError

__all__ = ["Agreement", "AgreementReport", "agreement", "rank_agreement"]


@dataclass(frozen=True)
class Agreement:
    """How far SHAP and LIME tell the same story about one individual.

    ``spearman`` is the rank correlation of the absolute attributions (NaN when either method
    gives every feature the same weight, or with fewer than three features);
    ``top_k_overlap`` the share of SHAP's top ``k`` features that are also in LIME's top ``k``;
    ``sign_agreement`` the share of SHAP's top ``k`` whose LIME contribution has the same sign.
    """

    individual: Any
    spearman: float
    top_k_overlap: float
    sign_agreement: float
    k: int
    agrees: bool


@dataclass(frozen=True)
class AgreementReport:
    rows: tuple[Agreement, ...]
    top_k: int
    min_spearman: float
    min_overlap: float

    @property
    def disagreeing(self) -> list[Agreement]:
        return [a for a in self.rows if not a.agrees]

    def to_frame(self) -> pd.DataFrame:
        """One row per individual, one column per :class:`Agreement` field, in field order."""
        return pd.DataFrame([asdict(a) for a in self.rows])


def rank_agreement(a: np.ndarray, b: np.ndarray, k: int) -> tuple[float, float, float]:
    """``(spearman of |a| vs |b|, top-k overlap, sign agreement on a's top k)``."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    k = max(1, min(k, len(a)))
    abs_a, abs_b = np.abs(a), np.abs(b)
    if len(a) >= 3 and np.ptp(abs_a) > 0 and np.ptp(abs_b) > 0:
        from scipy.stats import spearmanr

        rho = float(spearmanr(abs_a, abs_b).statistic)
    else:
        rho = float("nan")
    top_a = np.argsort(-abs_a, kind="stable")[:k]
    top_b = np.argsort(-abs_b, kind="stable")[:k]
    overlap = len(set(top_a.tolist()) & set(top_b.tolist())) / k
    signs = np.sign(a[top_a]) == np.sign(b[top_a])
    return rho, float(overlap), float(np.mean(signs))


def agreement(
    local: Sequence[LocalExplanation],
    *,
    top_k: int = 5,
    min_spearman: float = 0.5,
    min_overlap: float = 0.6,
) -> AgreementReport:
    """Compare SHAP and LIME per individual; an individual disagrees when the rank correlation
    is below ``min_spearman`` or the top-``k`` overlap below ``min_overlap``."""
    if top_k < 1:
        raise ExplainInputError(f"The 'top_k' parameter of agreement must be >= 1; got {top_k!r}.")
    rows = []
    for loc in local:
        if loc.lime is None:
            raise ExplainInputError(
                "The 'local' parameter of agreement needs LIME explanations; call "
                "explain_individuals(..., lime=True)."
            )
        a = loc.shap.to_numpy()
        b = loc.lime.contributions.reindex(loc.shap.index).to_numpy()
        rho, overlap, signs = rank_agreement(a, b, top_k)
        k = max(1, min(top_k, len(a)))
        agrees = (np.isnan(rho) or rho >= min_spearman) and overlap >= min_overlap
        rows.append(Agreement(loc.individual, rho, overlap, signs, k, bool(agrees)))
    return AgreementReport(tuple(rows), top_k, min_spearman, min_overlap)
