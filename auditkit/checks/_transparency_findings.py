"""Findings of the transparency check: how the model was explained, what it relies on overall,
whether the explanations add up, individuals, SHAP/LIME agreement and stability.

Each function takes the piece of :class:`auditkit.explain.ExplanationAudit` it reports on and
the audit's scope (``ctx``, for citations); none reads the check's options. Reliance on
protected attributes and their proxies is :mod:`auditkit.checks._proxy_findings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from auditkit.checks._findings import Cites, FindingSpec, rounded
from auditkit.reports import Figure, Finding, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from auditkit.explain import (
        AgreementReport,
        EfficiencyCheck,
        ExplanationResult,
        LocalExplanation,
        StabilityReport,
        TransparencyReport,
    )

# Catalogue topics each kind of finding cites (auditkit.reports.catalogue.TOPICS); the ids come
# from ctx.cite, so only provisions in the audit's domain and jurisdictions are cited.
EXPLAIN_TOPICS = ("transparency",)
LOCAL_TOPICS = ("adverse-action",)
TRUST_TOPICS = ("explanation-quality",)

INDIVIDUALS = FindingSpec(
    "transparency.individuals", "Individuals named for local explanations",
    topics=LOCAL_TOPICS, severity=Severity.MEDIUM,
)
METHOD = FindingSpec(
    "transparency.method", "How the model was explained",
    topics=EXPLAIN_TOPICS, severity=Severity.INFO,
)
IMPORTANCE = FindingSpec(
    "transparency.global_importance", "What the model relies on overall",
    topics=EXPLAIN_TOPICS, severity=Severity.INFO,
)
EFFICIENCY = FindingSpec(
    "transparency.efficiency", "Explanations account for the whole output (efficiency)",
    topics=TRUST_TOPICS, severity=Severity.HIGH, problem_status=Status.FAIL,
    remediation="Use an exact engine (method='tree' with no background, or 'permutation'), or "
    "report the approximation error alongside the explanations.",
)
LOCAL = FindingSpec(
    "transparency.local_explanations", "Explanations for individual decisions",
    topics=LOCAL_TOPICS, severity=Severity.MEDIUM, pass_severity=Severity.INFO,
    problem_status=Status.WARN,
)
AGREEMENT = FindingSpec(
    "transparency.agreement", "Do SHAP and LIME tell the same story?",
    topics=TRUST_TOPICS, severity=Severity.MEDIUM, pass_severity=Severity.INFO,
    problem_status=Status.WARN,
    remediation="Report both methods for these individuals and prefer the one with the better "
    "fidelity; investigate interactions the linear surrogate misses.",
)
STABILITY = FindingSpec(
    "transparency.stability", "Are the importance ranks stable across seeds and samples?",
    topics=TRUST_TOPICS, severity=Severity.MEDIUM, pass_severity=Severity.INFO,
    problem_status=Status.WARN,
    remediation="Explain more rows (sample_rows) or report importance as a band, not a rank.",
)

#: Columns of an individual's table, in order (LIME's only when LIME ran).
LOCAL_COLUMNS = ("feature", "value", "shap", "shap_rank", "lime_contribution", "lime_rank",
                 "lime_weight")


def _svg_figure(title: str, svg: str | bytes, alt: str) -> Figure:
    """A report figure from a plot of :mod:`auditkit.explain` (SVG text or bytes)."""
    return Figure(title, svg if isinstance(svg, str) else svg.decode("utf-8"), alt)


def summary_figure(result: ExplanationResult, hidden: Sequence[str]) -> Figure:
    """The section's beeswarm-like chart; values of the ``hidden`` columns are not shown."""
    from auditkit import explain

    return _svg_figure(
        "How each feature moves the output",
        explain.plot_summary(result, hide_values=list(hidden)),
        "Beeswarm-like summary: one dot per explained row at its SHAP value per feature.",
    )


def unknown_individuals_finding(ctx: Cites, error: Exception, *, by_identifier: bool) -> Finding:
    """The named individuals could not all be found; they are picked automatically instead."""
    return INDIVIDUALS.make(
        ctx, Status.ERROR, f"{error} Individuals were picked automatically instead.",
        remediation="Name individuals that are in the audited data, by "
        + ("identifier." if by_identifier else "row index."),
    )


def method_finding(ctx: Cites, report: TransparencyReport, seconds: float) -> Finding:
    """Which explainer, why, on what output and rows, and how long the section took."""
    res = report.result
    choice = res.choice
    return METHOD.make(
        ctx, Status.PASS,
        f"{choice.method} explainer ({choice.engine}): {choice.reason} Explained output: "
        f"{choice.output}, on the {choice.space}. {res.sampling.describe()}. "
        f"The whole section took {seconds:.1f} s.",
        metrics={
            "explainer": choice.method,
            "rows_total": res.sampling.rows_total,
            "rows_explained": res.sampling.rows_explained,
            "seconds": round(seconds, 2),
            **{f"seconds.{k}": round(v, 2) for k, v in report.seconds.items()},
        },
    )


def _importance_table(result: ExplanationResult, frame: pd.DataFrame) -> Table:
    level = f"{result.importance.confidence:.0%}"
    return Table(
        "Global importance: mean |SHAP value| per feature",
        ["rank", "feature", "mean |SHAP|", f"{level} CI low", f"{level} CI high", "share",
         "mean SHAP"],
        [
            [int(r.rank), r.feature, rounded(r.mean_abs_shap), rounded(r.ci_low),
             rounded(r.ci_high), rounded(r.share), rounded(r.mean_shap)]
            for r in frame.itertuples()
        ],
        note=f"Bootstrap over the {len(result.values):,} explained rows "
        f"({result.importance.n_bootstrap} resamples). SHAP values are in units of the "
        f"{result.choice.output}.",
    )


def importance_finding(ctx: Cites, result: ExplanationResult, *, plots: bool) -> Finding:
    """Mean |SHAP| per feature with its interval and, with ``plots``, the bar chart (the
    figure the check also keeps as an artifact)."""
    from auditkit import explain

    imp = result.importance.to_frame()
    figures = []
    if plots:
        figures.append(_svg_figure(
            "Global importance",
            explain.plot_importance(result),
            "Bar chart of mean absolute SHAP value per feature with bootstrap intervals; "
            + ", ".join(f"{r.feature} {r.share:.0%}" for r in imp.head(5).itertuples()),
        ))
    top = imp.iloc[0] if len(imp) else None
    summary = (
        f"The most influential feature is {top.feature} ({top.share:.0%} of total mean |SHAP|); "
        f"the top {min(3, len(imp))} together carry {imp.share.head(3).sum():.0%}."
        if top is not None
        else "No features."
    )
    return IMPORTANCE.make(
        ctx, Status.PASS, summary,
        metrics={f"share.{r.feature}": rounded(r.share) for r in imp.itertuples()},
        tables=(_importance_table(result, imp),),
        figures=figures,
    )


def efficiency_finding(ctx: Cites, eff: EfficiencyCheck) -> Finding:
    """Whether the SHAP values add up to the output minus the base value on every row."""
    summary = (
        f"On all {eff.rows_checked:,} explained rows the SHAP values add up to the model output "
        f"minus the base value (largest gap {eff.max_abs_error:.2e}, tolerance "
        f"{eff.tolerance:.1e})."
        if eff.passed
        else f"On {eff.rows_violating:,} of {eff.rows_checked:,} explained rows the SHAP values "
        f"do not add up to the model output minus the base value (largest gap "
        f"{eff.max_abs_error:.3g}, tolerance {eff.tolerance:.1e}): these explanations misstate "
        f"what drives the output."
    )
    return EFFICIENCY.judge(
        ctx, problem=not eff.passed, summary=summary,
        metrics={
            "max_abs_error": eff.max_abs_error,
            "mean_abs_error": eff.mean_abs_error,
            "tolerance": eff.tolerance,
            "rows_violating": eff.rows_violating,
            "exact_engine": eff.exact,
        },
    )


def _local_table(loc: LocalExplanation, hidden: Sequence[str]) -> Table:
    frame = loc.table(hide_values=list(hidden))
    cols = [c for c in LOCAL_COLUMNS if c in frame.columns]
    fidelity = f"{loc.lime.fidelity_r2:.2f}" if loc.lime is not None else "n/a"
    return Table(
        f"Individual {loc.individual}: output {loc.output:.3f} vs base {loc.base_value:.3f}",
        cols,
        [[rounded(v) for v in row] for row in frame[cols].itertuples(index=False, name=None)],
        note=f"SHAP and LIME attributions of the {loc.output_name}; LIME surrogate fidelity "
        f"R^2 = {fidelity}. Values of personal-data columns are withheld.",
    )


def _waterfall(loc: LocalExplanation, hidden: Sequence[str]) -> Figure:
    from auditkit import explain

    label = f"Individual {loc.individual}"
    return _svg_figure(
        label,
        explain.plot_waterfall(loc, hide_values=list(hidden), top=8, label=label),
        "Waterfall from the base value to this individual's output.",
    )


def local_finding(
    ctx: Cites, local: Sequence[LocalExplanation], *, naming: str, hidden: Sequence[str],
    min_fidelity: float, plots: bool,
) -> Finding:
    """SHAP and LIME for each explained individual (``naming`` says how they are named);
    a warning when a LIME surrogate fits worse than ``min_fidelity``."""
    weak = [loc for loc in local if loc.lime is not None and loc.lime.fidelity_r2 < min_fidelity]
    summary = (
        f"{len(local)} individual(s), named {naming}, explained with SHAP and LIME side by side."
    )
    if weak:
        summary += (
            f" The LIME surrogate fits poorly (R^2 < {min_fidelity}) for "
            + ", ".join(str(loc.individual) for loc in weak) + ": rely on SHAP for them."
        )
    fidelities = (loc.lime.fidelity_r2 for loc in local if loc.lime)
    return LOCAL.judge(
        ctx, problem=bool(weak), summary=summary,
        metrics={"individuals": len(local),
                 "min_lime_fidelity_r2": rounded(min(fidelities, default=float("nan")))},
        tables=[_local_table(loc, hidden) for loc in local],
        figures=[_waterfall(loc, hidden) for loc in local] if plots else (),
    )


def agreement_finding(ctx: Cites, agreement: AgreementReport) -> Finding:
    """SHAP vs LIME rank agreement per individual."""
    ag = agreement
    bad = ag.disagreeing
    summary = (
        f"SHAP and LIME disagree for {len(bad)} of {len(ag.rows)} individual(s) ("
        + ", ".join(str(a.individual) for a in bad)
        + f"): Spearman below {ag.min_spearman} or top-{ag.top_k} overlap below "
        f"{ag.min_overlap:.0%}. Treat their explanations with caution."
        if bad
        else f"SHAP and LIME agree for all {len(ag.rows)} individual(s) (Spearman >= "
        f"{ag.min_spearman}, top-{ag.top_k} overlap >= {ag.min_overlap:.0%})."
    )
    table = Table(
        "SHAP vs LIME agreement per individual",
        ["individual", "Spearman", f"top-{ag.top_k} overlap", "sign agreement", "agrees"],
        [
            [str(r.individual), rounded(r.spearman), rounded(r.top_k_overlap),
             rounded(r.sign_agreement), bool(r.agrees)]
            for r in ag.to_frame().itertuples()
        ],
    )
    return AGREEMENT.judge(
        ctx, problem=bool(bad), summary=summary,
        metrics={"disagreeing": len(bad), "individuals": len(ag.rows)}, tables=(table,),
    )


def stability_finding(ctx: Cites, stability: StabilityReport) -> Finding:
    """Importance ranks across repeats with new seeds, row samples and backgrounds."""
    st = stability
    unstable = st.unstable
    summary = (
        f"Over {st.repeats} repeats ({st.rows_per_repeat:,} rows each, new seed, row sample and "
        f"background each time) "
        + (
            f"{', '.join(unstable)} move by more than {st.max_rank_spread} places while in the "
            f"top {st.top_k}: do not rely on their exact rank."
            if unstable
            else f"no top-{st.top_k} feature moved by more than {st.max_rank_spread} places "
            f"(mean rank correlation {st.mean_pairwise_spearman:.2f})."
        )
    )
    table = Table(
        "Importance rank across repeats",
        ["feature", "median rank", "min rank", "max rank", "spread", "mean |SHAP|", "CV",
         "unstable"],
        [
            [r.feature, rounded(r.median_rank), int(r.min_rank), int(r.max_rank),
             int(r.rank_spread), rounded(r.mean_importance), rounded(r.importance_cv),
             bool(r.unstable)]
            for r in st.to_frame().itertuples()
        ],
    )
    return STABILITY.judge(
        ctx, problem=bool(unstable), summary=summary,
        metrics={
            "repeats": st.repeats,
            "unstable_features": len(unstable),
            "mean_pairwise_spearman": rounded(st.mean_pairwise_spearman),
            "min_top_k_jaccard": rounded(st.top_k_jaccard),
        },
        tables=(table,),
    )
