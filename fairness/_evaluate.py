"""Evaluation phases of an audit: which metrics, their values by group, and the disparities.

Everything is vectorised over leading axes: the same functions compute point estimates
(``(G,)`` arrays), bootstrap replicates and Jeffreys draws (``(B, G)`` arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditkit.fairness import _metrics as M
from auditkit.fairness.errors import FairnessInputError
from auditkit.hints import did_you_mean

__all__ = ["Plan", "Spec", "deciding_base", "disparities", "disparity_specs", "evaluate",
           "impact_ratio", "resolve_metrics"]

Spec = tuple[str, tuple[str, ...], str]  # (disparity name, base metrics, kind)


@dataclass(frozen=True)
class Plan:
    """What an audit computes: the task family, metrics, positive class and groupings."""

    family: str  # binary, multiclass, regression
    metrics: tuple[str, ...]
    pos: int | None
    groupings: tuple[M.Grouping, ...]
    n_attr: int
    with_scores: bool
    probabilistic: bool
    favourable_is_positive: bool = True

    def slices(self) -> list[tuple[M.Grouping, slice]]:
        """Every grouping but the overall one, with its slice of the group axis."""
        out, start = [], 1
        for grp in self.groupings[1:]:
            out.append((grp, slice(start, start + grp.size)))
            start += grp.size
        return out


def evaluate(arrays: dict[str, np.ndarray], n_lead: int, plan: Plan,
             classes: tuple[Any, ...]) -> dict[str, np.ndarray]:
    """Group metrics ``(*lead, G)`` from per-cell arrays with ``n_lead`` leading axes."""
    g = list(plan.groupings)
    k = plan.n_attr
    out: dict[str, np.ndarray] = {}
    if plan.family == "regression":
        agg = {key: M.aggregate(arrays[key], n_lead, k, g) for key in ("w", "w_pred", "w_abs", "w_sq")}
        return M.regression_metrics(agg["w"], agg["w_pred"], agg["w_abs"], agg["w_sq"], plan.metrics)
    conf = M.aggregate(arrays["conf"], n_lead, k, g)
    if plan.family == "multiclass":
        return M.multiclass_metrics(conf, classes)
    out.update(M.binary_metrics(conf, plan.pos, plan.metrics,
                                favourable_is_positive=plan.favourable_is_positive))
    if plan.with_scores:
        hw = M.aggregate(arrays["hist_w"], n_lead, k, g)
        if "roc_auc" in plan.metrics:
            out["roc_auc"] = M.auc_binned(hw, plan.pos)
        if "expected_calibration_error" in plan.metrics:
            hws = M.aggregate(arrays["hist_ws"], n_lead, k, g)
            out["expected_calibration_error"] = M.ece(hw, hws, plan.pos, plan.probabilistic)
    return out


def impact_ratio(fav: np.ndarray, eligible: np.ndarray, plan: Plan) -> np.ndarray:
    """Each group's favourable rate over the highest favourable rate of the eligible groups."""
    out = np.full(fav.shape, np.nan)
    for sl in [slice(0, 1), *(s for _, s in plan.slices())]:
        v = np.where(eligible[sl], fav[..., sl], np.nan)
        hi = np.where(np.isnan(v), -np.inf, v).max(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., sl] = np.where(hi > 0, fav[..., sl] / np.where(hi > 0, hi, 1.0), np.nan)
    return out


def disparity_specs(metrics: list[str]) -> list[Spec]:
    """The named disparities whose bases were computed, then every metric's difference and ratio."""
    specs = []
    for name, (bases, kind) in M.DISPARITY_ALIASES.items():
        if all(b in metrics for b in bases):
            specs.append((name, bases, kind))
    for m in metrics:
        if m == "impact_ratio":
            continue
        specs.append((f"{m}_difference", (m,), "difference"))
        specs.append((f"{m}_ratio", (m,), "ratio"))
    return specs


def disparity_value(values: dict[str, np.ndarray], eligible: dict[str, np.ndarray], bases: tuple[str, ...],
                    kind: str, sl: slice) -> np.ndarray:
    """One disparity of one grouping; for several bases the worst case (NaN if a part is NaN)."""
    multi = len(bases) > 1
    parts = [M.disparity(values[b][..., sl], eligible[b][sl], kind, all_zero_is_parity=multi)
             for b in bases]
    if not multi:
        return parts[0]
    stack = np.stack(parts)
    return stack.max(axis=0) if kind == "difference" else stack.min(axis=0)


def disparities(values: dict[str, np.ndarray], eligible: dict[str, np.ndarray], plan: Plan,
                specs: Sequence[Spec]) -> dict[tuple[str, str], np.ndarray]:
    """Every disparity of every grouping; each base compares its own eligible groups."""
    out = {}
    for grp, sl in plan.slices():
        for name, bases, kind in specs:
            if all(b in values for b in bases):
                out[(grp.name, name)] = disparity_value(values, eligible, bases, kind, sl)
    return out


def deciding_base(point: dict[str, np.ndarray], bases: tuple[str, ...], kind: str,
                  eligible: dict[str, np.ndarray], sl: slice) -> str:
    """The base metric that sets the value: for a worst case the part with the largest difference
    or the smallest ratio (the first one on ties); when a part is undefined (so the worst case
    is), the first undefined part. Its groups are the ones a disparity row's ``n_groups``,
    ``max_group`` and ``min_group`` describe."""
    if len(bases) == 1:
        return bases[0]
    parts = [float(M.disparity(point[b][sl], eligible[b][sl], kind, all_zero_is_parity=True))
             for b in bases]
    undefined = [i for i, x in enumerate(parts) if np.isnan(x)]
    if undefined:
        return bases[undefined[0]]
    finite = [(x, i) for i, x in enumerate(parts)]
    pick = max(finite, key=lambda t: (t[0], -t[1])) if kind == "difference" else \
        min(finite, key=lambda t: (t[0], t[1]))
    return bases[pick[1]]


def resolve_metrics(metrics: Sequence[str] | None, family: str, with_scores: bool) -> list[str]:
    """The metrics to compute: the task's defaults, or the validated names asked for."""
    if family == "regression":
        default = list(M.REGRESSION_DEFAULT)
    elif family == "multiclass":
        default = []
    else:
        default = list(M.BINARY_DEFAULT) + (list(M.SCORE_DEFAULT) if with_scores else [])
    if metrics is None:
        return default
    if isinstance(metrics, str):
        metrics = [metrics]
    known = [n for n in M.METRICS if "[" not in n]
    chosen = []
    for m in metrics:
        if m not in M.METRICS or "[" in m:
            raise FairnessInputError(
                f"Unknown metric {m!r}.{did_you_mean(m, known)} Known metrics: {', '.join(known)}."
            )
        _check_family(m, M.METRICS[m].family, family, with_scores)
        if m not in chosen:
            chosen.append(m)
    if family == "binary" and "selection_rate" in chosen and "favourable_rate" not in chosen:
        # the impact ratio (four-fifths rule) is read in terms of the favourable outcome
        chosen.insert(chosen.index("selection_rate") + 1, "favourable_rate")
    return chosen


def _check_family(m: str, fam: str, family: str, with_scores: bool) -> None:
    if fam == "score" and not with_scores:
        raise FairnessInputError(f"The metric {m!r} needs scores: pass y_score=.")
    if fam in ("binary", "score") and family == "multiclass":
        raise FairnessInputError(
            f"The metric {m!r} needs binary labels, but y_true/y_pred hold more than two "
            "classes. Binarise them (one class vs the rest) or omit metrics= to get per-class "
            "selection rates."
        )
    if fam == "regression" and family != "regression":
        raise FairnessInputError(f"The metric {m!r} is for regression; the predictions are class labels.")
    if fam != "regression" and family == "regression":
        raise FairnessInputError(
            f"The metric {m!r} is for classification; the predictions are continuous. "
            "Pass task='binary' if they are class labels."
        )
