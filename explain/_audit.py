"""``auditkit.explain.audit``: the whole transparency workflow in one call."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditkit.explain._agreement import AgreementReport, agreement
from auditkit.explain._core import ModelExplainer, _check_int
from auditkit.explain._local import LocalExplanation, explain_individuals
from auditkit.explain._proxies import ProxyReport, proxies
from auditkit.explain._result import ExplanationResult
from auditkit.explain._stability import StabilityReport, stability
from auditkit.explain.errors import ExplainInputError

__all__ = ["TransparencyReport", "audit", "pick_individuals"]


@dataclass(frozen=True)
class TransparencyReport:
    """Everything a transparency section needs, with how long each part took."""

    result: ExplanationResult
    local: tuple[LocalExplanation, ...]
    agreement: AgreementReport | None
    stability: StabilityReport | None
    proxies: ProxyReport | None
    seconds: dict[str, float] = field(default_factory=dict)


def _boundary(output_name: str) -> float | None:
    if output_name.startswith(("log-odds", "raw score")):
        return 0.0
    if output_name.startswith("probability"):
        return 0.5
    return None


def pick_individuals(result: ExplanationResult, n: int) -> list[Any]:
    """Row labels worth explaining when none are named: the decision closest to the boundary
    (the most contestable), the highest and the lowest output, then evenly spaced quantiles."""
    f = result.output
    labels = result.row_labels
    boundary = _boundary(result.choice.output)
    centre = boundary if boundary is not None else float(np.median(f))
    order = np.argsort(f, kind="stable")
    picks = [int(np.argmin(np.abs(f - centre))), int(order[-1]), int(order[0])]
    for q in np.linspace(0.1, 0.9, max(n, 1)):
        picks.append(int(order[int(q * (len(order) - 1))]))
    out: list[Any] = []
    for p in picks:
        if labels[p] not in out:
            out.append(labels[p])
        if len(out) == n:
            break
    return out


def audit(
    model: Any,
    X: Any,
    *,
    protected: pd.DataFrame | None = None,
    individuals: Sequence[Any] | None = None,
    ids: pd.Series | None = None,
    n_individuals: int = 3,
    method: str = "auto",
    background: Any = None,
    target_class: Any = None,
    sample: int | None = None,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    lime_samples: int = 2000,
    top_k: int = 5,
    min_spearman: float = 0.5,
    min_overlap: float = 0.6,
    stability_repeats: int = 5,
    stability_sample: int | None = 1000,
    max_rank_spread: int = 2,
    association_threshold: float | None = None,
    share_threshold: float = 0.05,
    efficiency_tolerance: float | None = None,
    random_state: int | None = 0,
) -> TransparencyReport:
    """Global importance with intervals, local SHAP + LIME for individuals, their agreement,
    stability across seeds and background samples, and reliance on protected attributes and
    proxies.

    Individuals are named by row label of ``X`` or, with ``ids``, by identifier; when none are
    named, ``n_individuals`` are picked from the explained sample (:func:`pick_individuals`).
    ``stability_repeats=0`` skips the stability study; ``protected=None`` skips proxies.
    Each stability repeat explains ``stability_sample`` rows, capped at the engine's default
    sample (2,000 for trees) or half of it for the model-agnostic engines (50 for permutation).
    """
    n_individuals, stability_repeats = _checked_counts(n_individuals, stability_repeats)
    clock = _Stopwatch()
    options = {"method": method, "target_class": target_class}
    with clock("global"):
        mex = ModelExplainer(model, X, background=background, random_state=random_state, **options)
        result = mex.explain(sample=sample, n_bootstrap=n_bootstrap, confidence=confidence,
                             efficiency_tolerance=efficiency_tolerance)
    local: list[LocalExplanation] = []
    agree = None
    chosen = _individuals_to_explain(result, mex, individuals, ids, n_individuals)
    if len(chosen):
        with clock("local"):
            local = explain_individuals(None, None, chosen, ids=ids, explainer=mex,
                                        lime_samples=lime_samples, random_state=random_state)
        with clock("agreement"):
            agree = agreement(local, top_k=top_k, min_spearman=min_spearman,
                              min_overlap=min_overlap)
    stab = None
    if stability_repeats:
        with clock("stability"):
            stab = stability(model, mex.frame, repeats=stability_repeats,
                             sample=_stability_sample(mex, stability_sample), top_k=top_k,
                             max_rank_spread=max_rank_spread, background=background,
                             random_state=random_state, **options)
    prox = None
    if protected is not None and protected.shape[1] > 0:
        with clock("proxies"):
            prox = proxies(mex.frame, _aligned(protected, mex.frame), result,
                           association_threshold=association_threshold,
                           share_threshold=share_threshold, random_state=random_state)
    return TransparencyReport(result, tuple(local), agree, stab, prox, clock.seconds)


def _checked_counts(n_individuals: int, stability_repeats: int) -> tuple[int, int]:
    """``n_individuals`` (0 or more) and ``stability_repeats`` (0 to skip, else at least 2)."""
    n_individuals = _check_int("n_individuals", n_individuals, 0, "audit")
    stability_repeats = _check_int("stability_repeats", stability_repeats, 0, "audit")
    if stability_repeats == 1:
        raise ExplainInputError(
            "The 'stability_repeats' parameter of audit must be 0 (skip) or at least 2; got 1."
        )
    return n_individuals, stability_repeats


class _Stopwatch:
    """Seconds taken by each named phase: ``with clock("global"): ...`` records
    ``clock.seconds["global"]`` when the block ends without an exception."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds[phase] = time.perf_counter() - started


def _individuals_to_explain(result: ExplanationResult, mex: ModelExplainer,
                            individuals: Sequence[Any] | None, ids: pd.Series | None,
                            n: int) -> Sequence[Any]:
    """The individuals named, else ``n`` picked by :func:`pick_individuals` (as identifiers
    when ``ids`` is given, else as row labels)."""
    if individuals is not None:
        return individuals
    picked = pick_individuals(result, n)
    if ids is None:
        return picked
    aligned = ids.reindex(mex.frame.index)
    return [aligned[label] for label in picked]


def _stability_sample(mex: ModelExplainer, stability_sample: int | None) -> int:
    """Rows per stability repeat: never more than the engine's default (half of it for the
    model-agnostic engines), since the study needs several repeats, not large ones."""
    per_repeat = mex.spec.default_sample
    if not mex.spec.model_specific:
        per_repeat //= 2
    if stability_sample is not None:
        per_repeat = min(int(stability_sample), per_repeat)
    return per_repeat


def _aligned(protected: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``protected`` in the explained frame's row order when both hold the same rows."""
    if len(protected) == len(frame) and protected.index.equals(frame.index):
        return protected.reindex(frame.index)
    return protected
