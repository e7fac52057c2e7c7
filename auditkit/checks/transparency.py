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

from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.checks._transparency_findings import (
    BIAS_TOPICS,
    LOCAL_TOPICS,
    TRUST_TOPICS,
    _figure,
    _r,
    local_findings,
    protected_findings,
    stability_findings,
)
from auditkit.reports import Figure, Finding, Severity, Status, Table
from auditkit.reports.catalogue import get_catalogue

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext

EXPLAIN_TOPICS = ("transparency",)


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
            import difflib

            close = difflib.get_close_matches(value, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"method must be one of {', '.join(names)}; got {value!r}.{hint}")
        return value

    @field_validator("stability_repeats")
    @classmethod
    def _repeats(cls, value: int) -> int:
        if value == 1:
            raise ValueError("stability_repeats must be 0 (skip the study) or at least 2; got 1.")
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


def run(ctx: AuditContext, options: TransparencyOptions) -> CheckResult:
    from auditkit import explain

    X = ctx.feature_frame()
    personal = set(ctx.personal_columns)
    ids, naming = _ids(ctx)
    protected = ctx.data[list(ctx.protected)] if ctx.protected else None
    individuals: list[Any] | None = list(options.individuals) or None
    findings: list[Finding] = []
    if individuals is not None:
        try:
            explain.resolve_individuals(X, individuals, ids)
        except explain.ExplainInputError as exc:
            findings.append(
                Finding(
                    check_id="transparency.individuals",
                    title="Individuals named for local explanations",
                    status=Status.ERROR,
                    severity=Severity.MEDIUM,
                    summary=f"{exc} Individuals were picked automatically instead.",
                    regulations=ctx.cite(*LOCAL_TOPICS),
                    remediation="Name individuals that are in the audited data, by "
                    + ("identifier." if ids is not None else "row index."),
                )
            )
            individuals = None

    started = time.perf_counter()
    with ctx.step("Explaining the model (SHAP, LIME, stability, proxies)"):
        rep = explain.audit(
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
    seconds = time.perf_counter() - started
    res = rep.result
    choice = res.choice

    findings.append(
        Finding(
            check_id="transparency.method",
            title="How the model was explained",
            status=Status.PASS,
            severity=Severity.INFO,
            summary=(
                f"{choice.method} explainer ({choice.engine}): {choice.reason} Explained output: "
                f"{choice.output}, on the {choice.space}. {res.sampling.describe()}. "
                f"The whole section took {seconds:.1f} s."
            ),
            metrics={
                "explainer": choice.method,
                "rows_total": res.sampling.rows_total,
                "rows_explained": res.sampling.rows_explained,
                "seconds": round(seconds, 2),
                **{f"seconds.{k}": round(v, 2) for k, v in rep.seconds.items()},
            },
            regulations=ctx.cite(*EXPLAIN_TOPICS),
        )
    )

    imp = res.importance.to_frame()
    top = imp.iloc[0] if len(imp) else None
    imp_table = Table(
        "Global importance: mean |SHAP value| per feature",
        [
            "rank",
            "feature",
            "mean |SHAP|",
            f"{res.importance.confidence:.0%} CI low",
            f"{res.importance.confidence:.0%} CI high",
            "share",
            "mean SHAP",
        ],
        [
            [
                int(r.rank),
                r.feature,
                _r(r.mean_abs_shap),
                _r(r.ci_low),
                _r(r.ci_high),
                _r(r.share),
                _r(r.mean_shap),
            ]
            for r in imp.itertuples()
        ],
        note=f"Bootstrap over the {len(res.values):,} explained rows ({res.importance.n_bootstrap} "
        f"resamples). SHAP values are in units of the {choice.output}.",
    )
    figures: list[Figure] = []
    if options.plots:
        figures.append(
            _figure(
                "Global importance",
                explain.plot_importance(res),
                "Bar chart of mean absolute SHAP value per feature with bootstrap intervals; "
                + ", ".join(f"{r.feature} {r.share:.0%}" for r in imp.head(5).itertuples()),
            )
        )
    findings.append(
        Finding(
            check_id="transparency.global_importance",
            title="What the model relies on overall",
            status=Status.PASS,
            severity=Severity.INFO,
            summary=(
                f"The most influential feature is {top.feature} ({top.share:.0%} of total mean "
                f"|SHAP|); the top {min(3, len(imp))} together carry "
                f"{imp.share.head(3).sum():.0%}."
                if top is not None
                else "No features."
            ),
            metrics={f"share.{r.feature}": _r(r.share) for r in imp.itertuples()},
            tables=(imp_table,),
            figures=tuple(figures),
            regulations=ctx.cite(*EXPLAIN_TOPICS),
        )
    )

    eff = res.efficiency
    findings.append(
        Finding(
            check_id="transparency.efficiency",
            title="Explanations account for the whole output (efficiency)",
            status=Status.PASS if eff.passed else Status.FAIL,
            severity=Severity.HIGH,
            summary=(
                f"On all {eff.rows_checked:,} explained rows the SHAP values add up to the model "
                f"output minus the base value (largest gap {eff.max_abs_error:.2e}, tolerance "
                f"{eff.tolerance:.1e})."
                if eff.passed
                else f"On {eff.rows_violating:,} of {eff.rows_checked:,} explained rows the SHAP "
                f"values do not add up to the model output minus the base value (largest gap "
                f"{eff.max_abs_error:.3g}, tolerance {eff.tolerance:.1e}): these explanations "
                f"misstate what drives the output."
            ),
            metrics={
                "max_abs_error": eff.max_abs_error,
                "mean_abs_error": eff.mean_abs_error,
                "tolerance": eff.tolerance,
                "rows_violating": eff.rows_violating,
                "exact_engine": eff.exact,
            },
            regulations=ctx.cite(*TRUST_TOPICS),
            remediation=None
            if eff.passed
            else (
                "Use an exact engine (method='tree' with no background, or 'permutation'), or "
                "report the approximation error alongside the explanations."
            ),
        )
    )

    findings.extend(local_findings(rep, options, personal, naming, ctx.cite))
    findings.extend(stability_findings(rep, ctx.cite))
    findings.extend(protected_findings(rep, ctx.cite))

    section_figures: list[Figure] = []
    if options.plots:
        section_figures.append(
            _figure(
                "How each feature moves the output",
                explain.plot_summary(res, hide_values=sorted(personal)),
                "Beeswarm-like summary: one dot per explained row at its SHAP value per feature.",
            )
        )
        path = ctx.artifact_path("transparency-importance.svg")
        path.write_text(
            figures[0].svg if figures else explain.plot_importance(res), encoding="utf-8"
        )
        ctx.add_artifact(path, "figure", note="Global importance bar chart")
    return CheckResult(
        findings=findings,
        summary=(
            f"Explained with {choice.method} SHAP on {res.sampling.rows_explained:,} rows; "
            f"{len(rep.local)} individual(s) explained with SHAP and LIME."
        ),
        figures=section_figures,
    )


def demo(demo_ctx: Any) -> dict[str, Any]:
    """Options for ``auditkit demo``: sampled rows keep the section to a few seconds on 2 cores
    (about 2 s for the default 20,000-row demo on a busy machine)."""
    return {
        "sample_rows": 1500,
        "n_bootstrap": 200,
        "n_individuals": 3,
        "lime_samples": 1500,
        "stability_repeats": 5,
        "stability_rows": 500,
    }


SPEC = register_check(
    CheckSpec(
        id="transparency",
        section="transparency",
        section_title="Transparency and explanations",
        title="Model explanations (SHAP and LIME)",
        options=TransparencyOptions,
        run=run,
        requires=("model", "features"),
        regulations=get_catalogue().on_topics(
            (*EXPLAIN_TOPICS, *LOCAL_TOPICS, *TRUST_TOPICS, *BIAS_TOPICS)
        ),
        demo=demo,
        order=10,
        description="Global and local SHAP explanations with LIME cross-checks, efficiency, "
        "stability, and reliance on protected attributes and their proxies.",
    )
)
