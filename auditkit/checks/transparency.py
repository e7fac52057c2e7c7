"""The transparency check: what the model relies on, and whether the explanation can be trusted.

Uses :func:`auditkit.explain.audit` (SHAP + LIME) on the model and its features.

Findings
--------
- ``transparency.method``: which explainer, why, on what output, and what was sampled; ``pass``.
- ``transparency.global_importance``: mean |SHAP| per feature with bootstrap intervals and a
  bar chart; ``pass`` (it is the "meaningful information about the logic involved").
- ``transparency.efficiency``: SHAP values add up to ``f(x) - E[f(X)]`` on every explained row;
  ``fail`` when violated (the explanation does not account for the output).
- ``transparency.local_explanations``: SHAP and LIME side by side for a few individuals, named
  by row index or the configured id column, never by a personal-data value; ``warn`` when a LIME
  surrogate fits poorly (fidelity R^2 below ``min_lime_fidelity``).
- ``transparency.agreement``: SHAP vs LIME rank agreement per individual; ``warn`` on
  disagreement.
- ``transparency.stability``: importance ranks across seeds and background samples; ``warn``
  when top features move.
- ``transparency.protected_reliance``: attribution carried by protected attributes used as
  features; ``fail`` above ``share_threshold``.
- ``transparency.proxies``: features associated with a protected attribute that carry
  attribution (e.g. a ZIP-derived region standing in for race); ``warn``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from auditkit.checks._proxy_findings import BIAS_TOPICS, protected_findings
from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.checks._transparency_findings import (
    EXPLAIN_TOPICS,
    IMPORTANCE,
    LOCAL_TOPICS,
    TRUST_TOPICS,
    agreement_finding,
    efficiency_finding,
    importance_finding,
    local_finding,
    method_finding,
    stability_finding,
    summary_figure,
    unknown_individuals_finding,
)
from auditkit.errors import ConfigError
from auditkit.hints import did_you_mean
from auditkit.reports import Figure, Finding
from auditkit.reports.catalogue import get_catalogue

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from auditkit._context import AuditContext
    from auditkit.explain import TransparencyReport


class TransparencyOptions(CheckOptions):
    """``[checks.transparency]`` in ``audit.toml``."""

    method: str = "auto"
    sample_rows: int | None = Field(default=None, ge=1)
    n_bootstrap: int = Field(default=200, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    individuals: list[str | int] = Field(default_factory=list)
    n_individuals: int = Field(default=3, ge=0, le=50)
    lime_samples: int = Field(default=2000, ge=50)
    top_k: int = Field(default=5, ge=1)
    min_spearman: float = Field(default=0.5, ge=-1, le=1)
    min_top_k_overlap: float = Field(default=0.6, ge=0, le=1)
    min_lime_fidelity: float = Field(default=0.5, le=1)
    stability_repeats: int = Field(default=5, ge=0)
    stability_rows: int = Field(default=1000, ge=1)
    max_rank_spread: int = Field(default=2, ge=0)
    association_threshold: float | None = Field(default=None, ge=0, le=1)
    share_threshold: float = Field(default=0.05, ge=0, le=1)
    efficiency_tolerance: float | None = Field(default=None, gt=0)
    plots: bool = True

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from auditkit.explain import available_methods

        names = ("auto", *available_methods())
        if value not in names:
            raise ConfigError(
                f"must be one of {', '.join(names)}; got {value!r}."
                + did_you_mean(value, names)
                + " Set [checks.transparency] method to one of them."
            )
        return value

    @field_validator("stability_repeats")
    @classmethod
    def _repeats(cls, value: int) -> int:
        if value == 1:
            raise ConfigError("stability_repeats must be 0 (skip the study) or at least 2; got 1.")
        return value


def _target_class(ctx: AuditContext) -> Any:
    wanted = getattr(ctx.config.data, "positive_label", None)
    classes = getattr(ctx.model, "classes_", None)
    if wanted is None or classes is None:
        return None
    for c in list(classes):
        if c == wanted or str(c) == str(wanted):
            return c
    return None


def _ids(ctx: AuditContext) -> tuple[Any, str]:
    id_col = getattr(ctx.config.data, "id_column", None)
    if id_col and id_col in ctx.data.columns and id_col not in ctx.personal_columns:
        return ctx.data[id_col], f"by their {id_col!r} identifier"
    if id_col and id_col in ctx.personal_columns:
        return None, (
            f"by row index (the id column {id_col!r} is classified as personal data, so it is "
            f"not used to name anyone)"
        )
    return None, "by row index"


def _named_individuals(
    ctx: AuditContext, X: pd.DataFrame, named: list[str | int], ids: Any
) -> tuple[list[Any] | None, list[Finding]]:
    """The individuals the options name, or ``None`` (pick automatically), with an ``error``
    finding when some of them are not in the data."""
    from auditkit import explain

    if not named:
        return None, []
    try:
        explain.resolve_individuals(X, list(named), ids)
    except explain.ExplainInputError as exc:
        return None, [unknown_individuals_finding(ctx, exc, by_identifier=ids is not None)]
    return list(named), []


def _explain(
    ctx: AuditContext, options: TransparencyOptions, X: pd.DataFrame,
    individuals: list[Any] | None, ids: Any,
) -> tuple[TransparencyReport, float]:
    """:func:`auditkit.explain.audit` with the check's options, and the seconds it took."""
    from auditkit import explain

    protected = ctx.data[list(ctx.protected)] if ctx.protected else None
    started = time.perf_counter()
    with ctx.step("Explaining the model (SHAP, LIME, stability, proxies)"):
        report = explain.audit(
            ctx.model,
            X,
            protected=protected,
            individuals=individuals,
            ids=ids,
            n_individuals=options.n_individuals,
            method=options.method,
            target_class=_target_class(ctx),
            sample=options.sample_rows,
            n_bootstrap=options.n_bootstrap,
            confidence=options.confidence,
            lime_samples=options.lime_samples,
            top_k=options.top_k,
            min_spearman=options.min_spearman,
            min_overlap=options.min_top_k_overlap,
            stability_repeats=options.stability_repeats,
            stability_sample=options.stability_rows,
            max_rank_spread=options.max_rank_spread,
            association_threshold=options.association_threshold,
            share_threshold=options.share_threshold,
            efficiency_tolerance=options.efficiency_tolerance,
            random_state=ctx.random_state,
        )
    return report, time.perf_counter() - started


def _findings(
    ctx: AuditContext, report: TransparencyReport, seconds: float, options: TransparencyOptions,
    naming: str,
) -> list[Finding]:
    """The findings on the explanation, in report order (the importance finding third)."""
    res = report.result
    hidden = sorted(ctx.personal_columns)
    findings = [
        method_finding(ctx, report, seconds),
        importance_finding(ctx, res, plots=options.plots),
        efficiency_finding(ctx, res.efficiency),
    ]
    if report.local:
        findings.append(local_finding(
            ctx, report.local, naming=naming, hidden=hidden,
            min_fidelity=options.min_lime_fidelity, plots=options.plots,
        ))
        if report.agreement is not None:
            findings.append(agreement_finding(ctx, report.agreement))
    if report.stability is not None:
        findings.append(stability_finding(ctx, report.stability))
    findings.extend(protected_findings(ctx, report.proxies))
    return findings


def run(ctx: AuditContext, options: TransparencyOptions) -> CheckResult:
    X = ctx.feature_frame()
    ids, naming = _ids(ctx)
    individuals, findings = _named_individuals(ctx, X, options.individuals, ids)
    report, seconds = _explain(ctx, options, X, individuals, ids)
    findings.extend(_findings(ctx, report, seconds, options, naming))
    figures: list[Figure] = []
    if options.plots:
        figures.append(summary_figure(report.result, sorted(ctx.personal_columns)))
        importance = next(f for f in findings if f.check_id == IMPORTANCE.check_id)
        path = ctx.artifact_path("transparency-importance.svg")
        path.write_text(importance.figures[0].svg, encoding="utf-8")
        ctx.add_artifact(path, "figure", note="Global importance bar chart")
    return CheckResult(
        findings=findings,
        summary=(
            f"Explained with {report.result.choice.method} SHAP on "
            f"{report.result.sampling.rows_explained:,} rows; {len(report.local)} individual(s) "
            f"explained with SHAP and LIME."
            + (f" The rows explained were drawn from a sample of the data: {ctx.scale.sample_note()}."
               if ctx.scale is not None and ctx.scale.sampled else "")
        ),
        figures=figures,
    )


SPEC = register_check(CheckSpec(
    "transparency", "Model explanations (SHAP and LIME)", TransparencyOptions, run,
    requires=("model", "features"), order=10,
    regulations=get_catalogue().on_topics(
        (*EXPLAIN_TOPICS, *LOCAL_TOPICS, *TRUST_TOPICS, *BIAS_TOPICS)),
    description="Global and local SHAP explanations with LIME cross-checks, efficiency, "
    "stability, and reliance on protected attributes and their proxies.",
    data_needs="sample",
))
