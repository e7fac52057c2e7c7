"""Reliance on protected attributes, directly or through proxies.

A *proxy* is a model feature that is strongly associated with a protected attribute and that
carries a material share of the model's attribution: the model can reproduce a protected
attribute's effect without ever seeing it (ZIP code standing in for race). Association is
measured with the bias-corrected Cramér's V (Bergsma 2013) and the normalised mutual
information, on a row sample, after binning numeric columns into quantiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditkit.explain._inputs import is_numeric_column
from auditkit.explain._result import ExplanationResult, GlobalImportance
from auditkit.explain.errors import ExplainInputError

__all__ = [
    "ProxyFinding",
    "ProxyReport",
    "association",
    "cramers_v",
    "medium_effect_v",
    "proxies",
]

_MAX_LEVELS = 50


@dataclass(frozen=True)
class ProxyFinding:
    """One (feature, protected attribute) pair."""

    feature: str
    protected: str
    cramers_v: float
    nmi: float
    threshold: float  # the Cramér's V this pair had to reach to count as associated
    share: float
    rank: int
    direct: bool  # the feature is the protected attribute itself
    flagged: bool


@dataclass(frozen=True)
class ProxyReport:
    pairs: tuple[ProxyFinding, ...]
    association_threshold: float | None
    share_threshold: float
    rows_used: int

    @property
    def proxies(self) -> list[ProxyFinding]:
        return [p for p in self.pairs if p.flagged and not p.direct]

    @property
    def direct(self) -> list[ProxyFinding]:
        return [p for p in self.pairs if p.direct]

    @property
    def direct_reliance(self) -> list[ProxyFinding]:
        return [p for p in self.pairs if p.direct and p.flagged]

    @property
    def associated(self) -> list[ProxyFinding]:
        """Associated pairs whatever their attribution share (strongest first)."""
        hits = [p for p in self.pairs if not p.direct and p.cramers_v >= p.threshold]
        return sorted(hits, key=lambda p: -p.cramers_v)

    @property
    def protected_share(self) -> float:
        """Total attribution share of protected attributes used directly as features."""
        seen: dict[str, float] = {}
        for p in self.direct:
            seen[p.feature] = p.share
        return float(sum(seen.values()))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "feature": p.feature,
                    "protected": p.protected,
                    "cramers_v": p.cramers_v,
                    "nmi": p.nmi,
                    "v_threshold": p.threshold,
                    "attribution_share": p.share,
                    "importance_rank": p.rank,
                    "direct": p.direct,
                    "flagged": p.flagged,
                }
                for p in self.pairs
            ]
        )


def _codes(series: pd.Series, bins: int) -> np.ndarray:
    """Integer codes: quantile bins for numeric columns, categories (rare ones pooled) otherwise."""
    if is_numeric_column(series) and series.nunique(dropna=True) > bins:
        ranked = series.rank(method="first")
        binned = pd.qcut(ranked, q=bins, labels=False, duplicates="drop")
        codes = binned.to_numpy(dtype=float)
        return np.where(np.isnan(codes), -1, codes).astype(int) + 1
    values = series.astype(object).where(series.notna(), "__missing__")
    counts = values.value_counts()
    keep = set(counts.index[:_MAX_LEVELS])
    pooled = values.where(values.isin(keep), "__other__")
    codes, _ = pd.factorize(pooled, sort=False)
    return codes.astype(int)


def _table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(table, (ai, bi), 1)
    return table


def _dof(table: np.ndarray) -> int:
    table = np.asarray(table)
    r = int((table.sum(axis=1) > 0).sum())
    k = int((table.sum(axis=0) > 0).sum())
    return max(1, min(r, k) - 1)


def medium_effect_v(table: np.ndarray) -> float:
    """Cramér's V of a *medium* effect for this table's shape: Cohen's w = 0.3 divided by
    sqrt(min(rows, columns) - 1), i.e. 0.3 for two-by-two tables, 0.15 with five groups."""
    return 0.3 / float(np.sqrt(_dof(table)))


def cramers_v(table: np.ndarray) -> float:
    """Bias-corrected Cramér's V of a contingency table (0 = independent, 1 = determined)."""
    table = np.asarray(table, dtype=float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    n = table.sum()
    r, k = table.shape
    if n == 0 or r < 2 or k < 2:
        return 0.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = chi2 / n
    phi2c = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    rc = r - (r - 1) ** 2 / (n - 1)
    kc = k - (k - 1) ** 2 / (n - 1)
    denom = min(rc - 1, kc - 1)
    return float(np.sqrt(phi2c / denom)) if denom > 0 else 0.0


def _nmi(table: np.ndarray) -> float:
    """Mutual information normalised by the smaller entropy (0 = independent, 1 = determined)."""
    n = table.sum()
    if n == 0:
        return 0.0
    p = table / n
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])).sum())
    ha = float(-(pa[pa > 0] * np.log(pa[pa > 0])).sum())
    hb = float(-(pb[pb > 0] * np.log(pb[pb > 0])).sum())
    denom = min(ha, hb)
    return max(0.0, mi / denom) if denom > 0 else 0.0


def association(x: pd.Series, y: pd.Series, *, bins: int = 10) -> tuple[float, float]:
    """``(Cramér's V, normalised mutual information)`` between two columns."""
    table = _table(_codes(x, bins), _codes(y, bins))
    return cramers_v(table), _nmi(table)


def _shares(
    importance: ExplanationResult | GlobalImportance | Mapping[str, float],
) -> dict[str, float]:
    if isinstance(importance, ExplanationResult):
        importance = importance.importance
    if isinstance(importance, GlobalImportance):
        return {f: float(s) for f, s in zip(importance.features, importance.share, strict=True)}
    values = {str(k): abs(float(v)) for k, v in dict(importance).items()}
    total = sum(values.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in values.items()}


def proxies(
    features: pd.DataFrame,
    protected: pd.DataFrame,
    importance: ExplanationResult | GlobalImportance | Mapping[str, float],
    *,
    association_threshold: float | None = None,
    share_threshold: float = 0.05,
    bins: int = 10,
    max_rows: int | None = 20_000,
    random_state: int | None = 0,
) -> ProxyReport:
    """Flag features that stand in for a protected attribute and carry attribution.

    Parameters
    ----------
    features:
        The model's features (rows aligned with ``protected``).
    protected:
        Protected attributes (they need not be model features).
    importance:
        Global importance (an :class:`ExplanationResult`, :class:`GlobalImportance`, or a
        mapping feature -> importance).
    association_threshold:
        Cramér's V at or above which a feature counts as associated with a protected attribute.
        Default ``None``: a medium effect in Cohen's sense for the pair's table shape, 0.3 /
        sqrt(min(rows, columns) - 1) (0.3 for binary attributes, 0.15 with five groups), since
        the same V means a stronger association when there are more groups.
    share_threshold:
        Share of total mean |SHAP| at or above which a feature counts as relied upon.
    """
    _check_proxy_inputs(features, protected, association_threshold, share_threshold)
    shares = _shares(importance)
    feats, prot = _row_sample(features, protected, max_rows, random_state)
    rule = _ProxyRule(association_threshold, share_threshold)
    pairs = _pairs(feats, prot, shares, rule, bins)
    pairs.sort(
        key=lambda p: (not p.flagged, -p.cramers_v * max(p.share, 1e-12), p.feature, p.protected)
    )
    return ProxyReport(tuple(pairs), association_threshold, share_threshold, len(feats))


def _check_proxy_inputs(features: object, protected: object,
                        association_threshold: float | None, share_threshold: float) -> None:
    """Refuse inputs :func:`proxies` cannot use, naming the parameter."""
    if not isinstance(features, pd.DataFrame) or not isinstance(protected, pd.DataFrame):
        raise ExplainInputError(
            "The 'features' and 'protected' parameters of proxies must be DataFrames with the "
            "same rows; got "
            f"{type(features).__name__} and {type(protected).__name__}."
        )
    if len(features) != len(protected):
        raise ExplainInputError(
            f"The 'features' and 'protected' parameters of proxies must have the same number of "
            f"rows; got {len(features)} and {len(protected)}."
        )
    if protected.shape[1] == 0:
        raise ExplainInputError(
            "The 'protected' parameter of proxies must name at least one protected attribute."
        )
    for name, value in (
        ("association_threshold", association_threshold),
        ("share_threshold", share_threshold),
    ):
        if value is not None and not 0 <= value <= 1:
            raise ExplainInputError(
                f"The {name!r} parameter of proxies must be between 0 and 1; got {value!r}."
            )


def _row_sample(features: pd.DataFrame, protected: pd.DataFrame, max_rows: int | None,
                random_state: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames renumbered from 0 and, beyond ``max_rows``, the same random rows of each."""
    feats = features.reset_index(drop=True)
    prot = protected.reset_index(drop=True)
    if max_rows is not None and len(feats) > max_rows:
        idx = np.random.default_rng(random_state).choice(len(feats), size=max_rows, replace=False)
        feats, prot = feats.iloc[np.sort(idx)], prot.iloc[np.sort(idx)]
    return feats, prot


@dataclass(frozen=True)
class _ProxyRule:
    """When a pair is flagged: its Cramér's V reaches ``association`` (``None``: a medium effect
    for its table's shape) and its feature's attribution share reaches ``share``."""

    association: float | None
    share: float

    def threshold(self, table: np.ndarray) -> float:
        return medium_effect_v(table) if self.association is None else self.association


def _pairs(feats: pd.DataFrame, prot: pd.DataFrame, shares: dict[str, float],
           rule: _ProxyRule, bins: int) -> list[ProxyFinding]:
    """One :class:`ProxyFinding` per (feature, protected attribute), in column order."""
    order = sorted(shares, key=lambda f: -shares[f])
    rank = {f: i + 1 for i, f in enumerate(order)}
    prot_codes = {str(c): _codes(prot[c], bins) for c in prot.columns}
    pairs: list[ProxyFinding] = []
    for col in feats.columns:
        fname = str(col)
        fcodes = _codes(feats[col], bins)
        share = shares.get(fname, 0.0)
        for pname, pcodes in prot_codes.items():
            direct = fname == pname
            table = _table(fcodes, pcodes)
            threshold = rule.threshold(table)
            v, nmi = (1.0, 1.0) if direct else (cramers_v(table), _nmi(table))
            flagged = share >= rule.share and (direct or v >= threshold)
            pairs.append(ProxyFinding(fname, pname, v, nmi, threshold, share,
                                      rank.get(fname, len(rank) + 1), direct, flagged))
    return pairs
