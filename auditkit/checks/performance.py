"""The performance-by-group check: how well the score ranks and how well it is calibrated, group
by group, judged only where a group has enough observations.

Findings
--------
- ``performance.auc_gap``: highest minus lowest ROC AUC over the groups of each protected
  attribute (and intersection) with at least ``min_denominator`` actual positives and as many
  negatives, against ``max_auc_gap``. The groups left out are listed with their counts.
- ``performance.calibration``: for a probability score (non-integer, inside [0, 1]) the gap in
  expected calibration error (10 equal-width bins) between groups with at least
  ``min_denominator`` rows, against ``max_calibration_gap``; for an ordinal score (integers such
  as a 1–10 decile score, or anything outside [0, 1], never read as a probability) the largest
  difference between groups in the observed outcome rate at one score level, among groups
  with at least ``min_denominator`` rows at that level, against ``max_outcome_rate_gap``.

Both are decided like ``auditkit gate`` in interval mode: ``fail`` when the whole interval is
over the budget, ``warn`` when it straddles it, ``pass`` when it is within, and
``insufficient_evidence`` when no grouping has two groups that clear the bar.

Section tables: AUC (and ECE) by group of each attribute; the worst ``worst_k`` intersection
groups by AUC, with every intersection group in the appendix; for ordinal scores the observed
outcome rate per score level by group (Wilson intervals); with ``mitigation = true`` the
accuracy–disparity trade-off of :func:`auditkit.fairness.mitigate`. Figure: reliability curves,
or outcome rate by score level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from auditkit.checks._findings import Cites, FindingSpec
from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.errors import ConfigError
from auditkit.fairness import group_text
from auditkit.hints import did_you_mean
from auditkit.reports import Finding, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext
    from auditkit.checks._performance_eval import Gap, PerfData
    from auditkit.checks._performance_render import Layout

__all__ = ["PerformanceOptions", "REGULATIONS", "SPEC"]

#: Every catalogue id a performance finding may cite (each run cites the subset of
#: ``ctx.cite("error-disparity")`` that applies in the audit's scope).
REGULATIONS = ("gdpr-art-5-1-a", "gdpr-recital-71", "euaiact-art-10-2-f", "euaiact-art-10-2-g",
               "euaiact-art-13-3-b-v", "reg-b-1002-4-a", "colorado-ai-act-6-1-1702-1",
               "colorado-ai-act-6-1-1703-1", "uk-equality-act-s-19", "nist-ai-rmf-measure-2-11",
               "title-vi-42-usc-2000d", "aca-1557-42-usc-18116-a", "hhs-45-cfr-92-210")
_STATUS = {"pass": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL,
           "insufficient_evidence": Status.INSUFFICIENT_EVIDENCE}
_REMEDIATION = (
    "Look at the groups named above: check the quality and quantity of their labels and "
    "features, consider recalibrating the score per deployment population (and re-audit), and "
    "do not let one score threshold stand for the same risk in every group until the gap is "
    "explained.")
AUC_GAP = FindingSpec("performance.auc_gap", "AUC gap between groups", ("error-disparity",),
                      remediation=_REMEDIATION)
CALIBRATION = FindingSpec("performance.calibration", "Calibration gap between groups",
                          ("error-disparity",), remediation=_REMEDIATION)


class PerformanceOptions(CheckOptions):
    """``[checks.performance]``: budgets for the gaps, the evidence bar and report settings."""

    max_auc_gap: float = Field(default=0.05, gt=0, lt=1)
    max_calibration_gap: float = Field(default=0.05, gt=0, lt=1)
    max_outcome_rate_gap: float = Field(default=0.10, gt=0, lt=1)
    min_denominator: int = Field(default=30, ge=1)
    min_group_size: int = Field(default=30, ge=0)
    suppress_small: bool = True
    intersectional: bool = True
    worst_k: int = Field(default=5, ge=1)
    ci: float = Field(default=0.95, gt=0, lt=1)
    n_boot: int = Field(default=500, ge=0, le=100_000)
    score_kind: Literal["auto", "probability", "ordinal"] = "auto"
    random_state: int | None = None
    mitigation: bool = False
    mitigation_method: str = "threshold_optimizer"
    mitigation_constraint: str = "demographic_parity"
    mitigation_attribute: str | None = None

    @field_validator("mitigation_method")
    @classmethod
    def _method(cls, v: str) -> str:
        from auditkit.fairness import MITIGATION_METHODS as METHODS

        return _one_of(v, METHODS, "mitigation_method")

    @field_validator("mitigation_constraint")
    @classmethod
    def _constraint(cls, v: str) -> str:
        from auditkit.fairness import MITIGATION_CONSTRAINTS as CONSTRAINTS

        return _one_of(v, CONSTRAINTS, "mitigation_constraint")


def _one_of(value: str, options: tuple[str, ...], key: str) -> str:
    """``value`` when it is one of ``options``, else :class:`ConfigError` naming ``key``."""
    if value not in options:
        raise ConfigError(
            f"must be one of {', '.join(options)}; got {value!r}.{did_you_mean(value, options)} "
            f"Set [checks.performance] {key} to one of them.")
    return value


def _reasons(layout: Layout) -> Any:
    """``reason(item, kind)``: why a group (or a cell) was left out, without small counts."""

    def reason(item: Any, kind: str) -> str:
        rows = item.rows if kind != "level" else item.n
        if layout.hidden(rows):
            where = " at this level" if kind == "level" else ""
            return f"fewer than {layout.min_group_size} rows{where} (bar {layout.bar})"
        if kind == "auc":
            return (f"{item.auc.n_pos} positives, {item.auc.n_neg} negatives "
                    f"(bar: {layout.bar} of each)")
        if kind == "ece":
            return f"{rows} rows (bar {layout.bar})"
        return f"{rows} rows at this level (bar {layout.bar})"

    return reason


def _excluded_table(title: str, gaps: list[Gap], with_level: bool) -> Table | None:
    rows = [[g.grouping, *([g.level] if with_level else []), group, why]
            for g in gaps for group, why in g.excluded]
    if not rows:
        return None
    cols = ["grouping", *(["score level"] if with_level else []), "group", "why left out"]
    return Table(title, cols, rows, placement="appendix" if len(rows) > 12 else "body")


def _gap_table(title: str, gaps: list[Gap], names: tuple[str, str], with_level: bool) -> Table:
    from auditkit.checks._performance_render import fmt

    shown = [g for g in gaps if g.n_groups >= 2] if with_level else gaps
    rows = [[g.grouping, *([g.level] if with_level else []), g.status.replace("_", " "),
             fmt(g.value), fmt(g.ci_low), fmt(g.ci_high), g.high_group or "—",
             g.low_group or "—", g.n_groups, len(g.excluded)] for g in shown]
    cols = ["grouping", *(["score level"] if with_level else []), "status", "gap", "ci_low",
            "ci_high", names[0], names[1], "groups compared", "left out"]
    return Table(title, cols, rows)


_INTERVALS = (" Intervals of a gap hold simultaneously for every pair of groups compared "
              "(Bonferroni), so a gap among groups that are in truth alike is not reported as "
              "shown.")


def _left_out_sentence(gaps: list[Gap], what: str) -> str:
    n = sum(len(g.excluded) for g in gaps)
    if not n:
        return _INTERVALS + f" Every group had enough {what} to be judged."
    return _INTERVALS + (f" {n} group(s) were left out for too few {what} to be judged; they are listed "
            "with their counts, and no verdict rests on them.")


def _finding(spec: FindingSpec, scope: Cites, gap: Gap | None, summary: str, *,
             title: str, metrics: dict[str, Any], tables: list[Table | None]) -> Finding:
    """The gap's finding, with the status the gap was decided with (none: insufficient
    evidence): ``fail`` high, ``warn`` and insufficient evidence medium, ``pass`` info."""
    status = _STATUS[gap.status] if gap is not None else Status.INSUFFICIENT_EVIDENCE
    severity = {Status.FAIL: Severity.HIGH, Status.WARN: Severity.MEDIUM,
                Status.INSUFFICIENT_EVIDENCE: Severity.MEDIUM}.get(status, Severity.INFO)
    return spec.make(scope, status, summary, title=title, severity=severity, metrics=metrics,
                     tables=[t for t in tables if t is not None])


def _auc_finding(gaps: list[Gap], options: PerformanceOptions, pos: Any, scope: Cites) -> Finding:
    from auditkit.checks._performance_eval import worst
    from auditkit.checks._performance_render import fmt

    g = worst(gaps)
    budget = options.max_auc_gap
    lead = ("ROC AUC is the chance that a randomly chosen actual positive "
            f"(label {pos}) scores above a randomly chosen actual negative. ")
    if g is None or g.status == "insufficient_evidence":
        text = ("No attribute has two groups with at least "
                f"{options.min_denominator} positives and {options.min_denominator} negatives, "
                "so no gap in AUC can be judged.")
    else:
        verdict = {"pass": "within", "warn": "not shown to be within",
                   "fail": "over"}[g.status]
        high, low = group_text(g.high_group), group_text(g.low_group)
        text = (f"AUC differs most by {g.grouping}: {high} has the highest AUC and "
                f"{low} the lowest (the score ranks {low} least well); gap "
                f"{fmt(g.value)} [{fmt(g.ci_low)}, {fmt(g.ci_high)}], {verdict} the budget of "
                f"{budget:g}.")
    text += " " + lead.strip() + _left_out_sentence(gaps, "positives or negatives")
    metrics = {"value": None if g is None else g.value, "ci_low": None if g is None else g.ci_low,
               "ci_high": None if g is None else g.ci_high, "threshold": budget,
               "grouping": None if g is None else g.grouping,
               "min_denominator": options.min_denominator,
               "groups_left_out": sum(len(x.excluded) for x in gaps)}
    return _finding(AUC_GAP, scope, g, text, title=f"AUC gap between groups <= {budget:g}",
                    metrics=metrics,
                    tables=[_gap_table("AUC gap by grouping", gaps, ("highest AUC", "lowest AUC"),
                                       False),
                            _excluded_table("Groups left out of the AUC gap", gaps, False)])


def _calibration_finding(gaps: list[Gap], data: PerfData, options: PerformanceOptions,
                         scope: Cites) -> Finding:
    from auditkit.checks._performance_eval import worst
    from auditkit.checks._performance_render import fmt

    g = worst(gaps)
    ordinal = data.kind == "ordinal"
    budget = options.max_outcome_rate_gap if ordinal else options.max_calibration_gap
    if ordinal:
        lead = (f"The score is ordinal ({len(data.level_labels)} levels) and is not read as a "
                "probability; calibration asks whether groups with the same score have the same "
                "observed outcome rate. ")
    else:
        lead = ("Expected calibration error (ECE, 10 equal-width score bins, corrected for the "
                "noise of small groups) is how far the score's stated probability is from the "
                "observed positive rate. ")
    if g is None or g.status == "insufficient_evidence":
        what = "at one score level" if ordinal else ""
        text = (f"No attribute has two groups with at least {options.min_denominator} "
                f"rows {what}, so calibration between groups cannot be judged.")
    elif ordinal:
        d = g.details
        text = (f"At equal score, outcome rates differ most at level {g.level} by {g.grouping}: "
                f"{group_text(g.high_group)} {fmt(d['high_rate'])} (n={d['high_n']}) against "
                f"{group_text(g.low_group)} {fmt(d['low_rate'])} (n={d['low_n']}); difference {fmt(g.value)} "
                f"[{fmt(g.ci_low)}, {fmt(g.ci_high)}], against a budget of "
                f"{budget:g}. The same score does not mean the same outcome rate for these groups."
                if g.status != "pass" else
                f"At every score level, outcome rates of groups with enough rows differ "
                f"by at most {fmt(g.value)} (largest: level {g.level}, {g.grouping}), within "
                f"the budget of {budget:g}.")
    else:
        verdict = {"pass": "within", "warn": "not shown to be within", "fail": "over"}[g.status]
        high, low = group_text(g.high_group), group_text(g.low_group)
        text = (f"Calibration error differs most by {g.grouping}: {high} is the least well "
                f"calibrated and {low} the best; gap {fmt(g.value)} [{fmt(g.ci_low)}, "
                f"{fmt(g.ci_high)}], {verdict} the budget of {budget:g}.")
    text += " " + lead.strip() + _left_out_sentence(gaps, "rows")
    metrics = {"value": None if g is None else g.value, "ci_low": None if g is None else g.ci_low,
               "ci_high": None if g is None else g.ci_high, "threshold": budget,
               "grouping": None if g is None else g.grouping, "score_kind": data.kind,
               "level": None if g is None or not ordinal else g.level,
               "min_denominator": options.min_denominator,
               "groups_left_out": sum(len(x.excluded) for x in gaps)}
    names = ("highest rate", "lowest rate") if ordinal else ("worst ECE", "best ECE")
    title = (f"Outcome rate at equal score, gap between groups <= {budget:g}" if ordinal
             else f"Calibration (ECE) gap between groups <= {budget:g}")
    return _finding(CALIBRATION, scope, g, text, title=title, metrics=metrics,
                    tables=[_gap_table("Calibration gap by " + ("grouping and score level"
                                                                if ordinal else "grouping"),
                                       gaps, names, ordinal),
                            _excluded_table("Groups left out of the calibration gap", gaps,
                                            ordinal)])


def _positive_label(ctx: AuditContext) -> Any:
    """The positive class in the label's vocabulary as the audit uses it (a text label beside
    0/1 predictions is recoded: :meth:`AuditContext.outcomes`)."""
    pos = ctx.positive_label if ctx.has("prediction") else ctx.config.data.positive_label
    return 1 if pos is None else pos


def run(ctx: AuditContext, options: PerformanceOptions) -> CheckResult:
    """Measure AUC and calibration by group and judge the gaps (see the module docstring)."""
    import numpy as np

    from auditkit.checks import _performance_eval as ev
    from auditkit.checks import _performance_render as rd
    from auditkit.checks.fairness import _protected_frame

    rs = ctx.random_state if options.random_state is None else options.random_state
    rng = np.random.default_rng(rs)
    layout = rd.Layout(options.min_denominator, options.min_group_size, options.suppress_small,
                       options.worst_k, options.ci, options.n_boot)
    frame = _protected_frame(ctx)
    with ctx.step("Performance by group: AUC and calibration"):
        data = ev.prepare(ctx.y_true(), ctx.y_score(), frame,
                          pos_label=_positive_label(ctx),
                          requested_kind=options.score_kind,
                          intersectional=options.intersectional,
                          score_column=ctx.score or "predict_proba")
        perf = ev.group_performance(data, bar=options.min_denominator, ci=options.ci,
                                    n_boot=options.n_boot, rng=rng)
        reason = _reasons(layout)
        auc = ev.auc_gaps(perf, budget=options.max_auc_gap, ci=options.ci, reason=reason)
        tables = rd.group_tables(perf, data, layout)
        if data.kind == "ordinal":
            cells = ev.level_cells(data, options.ci)
            calib = ev.level_gaps(cells, data, bar=options.min_denominator,
                                  budget=options.max_outcome_rate_gap, ci=options.ci,
                                  reason=reason)
            tables += rd.level_tables(cells, data, layout)
            figure = rd.level_figure(cells, data, layout)
        else:
            calib = ev.ece_gaps(perf, budget=options.max_calibration_gap,
                                ci=options.ci, reason=reason)
            figure = rd.reliability_figure(data, layout)
    findings = [_auc_finding(auc, options, _positive_label(ctx), ctx),
                _calibration_finding(calib, data, options, ctx)]
    summary = (f"Score {'(ordinal, not read as a probability) ' if data.kind == 'ordinal' else ''}"
               f"judged by group for {len(data.singles)} protected attribute(s)"
               f"{' and their intersections' if len(data.groupings) > len(data.singles) else ''}; "
               f"evidence bar {options.min_denominator}."
               + (f" {data.dropped} row(s) without a score were left out." if data.dropped else "")
               + (f" AUC and calibration were {ctx.scale.sample_note()}; their intervals "
                  "reflect that sample." if ctx.scale is not None and ctx.scale.sampled else ""))
    if options.mitigation:
        from auditkit.checks._performance_mitigation import mitigation_table

        with ctx.step("Performance by group: mitigation trade-off"):
            table, note = mitigation_table(ctx, options, frame, rs)
        summary += " " + note
        if table is not None:
            tables.append(table)
    return CheckResult(findings=findings, summary=summary, tables=tables,
                       figures=[figure] if figure is not None else [])


SPEC = register_check(CheckSpec(
    "performance", "Performance by group", PerformanceOptions, run,
    requires=("label", "score", "protected"), order=10,
    regulations=REGULATIONS,
    description="ROC AUC and calibration of the score by protected group (ECE and "
    "reliability curves for probabilities, outcome rate per score level for ordinal scores), "
    "judged on groups with enough positives and negatives; optional mitigation trade-off.",
    data_needs="sample",
))
