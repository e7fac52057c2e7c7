"""The fairness check: group rates with intervals, disparities over the groups with enough
evidence, and one finding per distinct fact.

Findings
--------
- ``fairness.<disparity>`` (e.g. ``fairness.demographic_parity_ratio``): one per threshold of
  ``[checks.fairness] thresholds``, decided like ``auditkit gate`` (point or interval mode; the
  worst grouping decides). Each says which outcome was treated as favourable (``[data]
  favourable_label``; when unset, the positive class, and the finding says it was assumed),
  which way is harm, and which group is disadvantaged. Two thresholds that evaluate the same
  quantity to the same value (the demographic parity ratio and the impact ratio when the
  favourable outcome is the positive prediction) give one finding that names both.
- ``fairness.group_coverage``: the evidence statement: which groups were left out of which
  disparity, on which rate, and why (its denominator against the bar ``min_denominator``, or
  fewer than ``min_group_size`` rows), and the groups formed by missing protected values.

Section tables: for each attribute the favourable rate, false positive and false negative rates
with Wilson intervals and denominators, and ratios to the reference group; the intersections'
worst groups (full tables in the appendix). Figure: favourable rate by group with the
four-fifths line (inline SVG, matplotlib Agg).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.errors import ConfigError
from auditkit.hints import did_you_mean
from auditkit.reports import Finding, Status

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext

# Every provision ctx.cite() may return for this check's topics, in any scope (the catalogue
# test checks they exist; tests/auditkit/checks/test_fairness_demo.py that they cover the topics).
_OUTCOME = ("gdpr-art-5-1-a", "gdpr-art-22-3", "gdpr-recital-71", "euaiact-art-10-2-f",
            "euaiact-art-10-2-g", "ecoa-15-usc-1691-a", "reg-b-1002-4-a", "reg-b-1002-6-a",
            "reg-b-1002-9-a", "fha-42-usc-3604", "fha-42-usc-3605", "hud-24-cfr-100-500",
            "colorado-ai-act-6-1-1702-1", "colorado-ai-act-6-1-1703-1", "uk-equality-act-s-4",
            "uk-equality-act-s-19", "nist-ai-rmf-measure-2-11", "us-ugesp-1607-4-d",
            "nyc-admin-code-20-871", "nyc-rcny-5-300", "nyc-rcny-5-301-b", "title-vi-42-usc-2000d",
            "title-vii-42-usc-2000e-2-a", "title-vii-42-usc-2000e-2-k-1-a", "aca-1557-42-usc-18116-a",
            "hhs-45-cfr-92-210", "colorado-ins-10-3-1104-9-1", "uk-gdpr-art-22c")
_ERRORS = ("gdpr-art-5-1-a", "gdpr-recital-71", "euaiact-art-10-2-f", "euaiact-art-10-2-g",
           "euaiact-art-13-3-b-v", "reg-b-1002-4-a", "colorado-ai-act-6-1-1702-1",
           "colorado-ai-act-6-1-1703-1", "uk-equality-act-s-19", "nist-ai-rmf-measure-2-11",
           "title-vi-42-usc-2000d", "aca-1557-42-usc-18116-a", "hhs-45-cfr-92-210")
_COVERAGE = ("euaiact-art-10-2-g", "euaiact-art-10-2-h", "euaiact-art-10-3", "nist-ai-rmf-map-2-3",
             "nist-ai-rmf-measure-2-11", "nyc-rcny-5-301-d")
REGULATIONS = tuple(dict.fromkeys(_OUTCOME + _ERRORS + _COVERAGE))
#: How a threshold is decided: on the point value, or on its interval (``[checks.fairness] mode``).
MODES = ("point", "ci")


class FairnessOptions(CheckOptions):
    """``[checks.fairness]``: the gate's keys plus report settings."""

    thresholds: list[str] = ["demographic_parity_ratio >= 0.8", "equalized_odds_difference <= 0.1"]
    mode: str = "ci"
    ci: float = Field(default=0.95, gt=0, lt=1)
    n_boot: int = Field(default=1000, ge=0, le=100_000)
    min_group_size: int = Field(default=30, ge=0)
    min_denominator: int = Field(default=30, ge=1)
    reference_group: dict[str, str | list[str]] = {}
    intersectional: bool = True
    groupings: list[str] | None = None
    fail_on_insufficient_evidence: bool = False
    random_state: int | None = None
    suppress_small: bool = True
    worst_k: int = Field(default=5, ge=1)

    @field_validator("thresholds")
    @classmethod
    def _parse(cls, v: list[str]) -> list[str]:
        from auditkit.fairness import parse_threshold

        return [str(parse_threshold(t)) for t in v]

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v not in MODES:
            raise ConfigError(f"must be 'point' or 'ci'; got {v!r}.{did_you_mean(v, MODES)} "
                              "Set [checks.fairness] mode to one of them.")
        return v


def _protected_frame(ctx: AuditContext):
    """Protected columns; any whose labels are not category labels (more than 50 values, or
    names, ids, contacts, dates of birth: :func:`auditkit._personal.labels_to_pseudonymise`) is
    relabelled ``group 1..k`` (:func:`auditkit._personal.pseudonymise_labels`). The performance
    check groups by the same frame."""
    from auditkit._personal import pseudonymise_labels

    frame = ctx.data[ctx.protected]
    shown = ctx.category_label_columns
    return pseudonymise_labels(frame, [c for c in frame.columns if str(c) not in shown])


def scaled_counts(ctx: AuditContext) -> Any:
    """The fairness counts of every row of data read at scale, in the vocabulary the in-memory
    audit uses: protected columns whose labels are not category labels renamed ``group 1..k``
    (numbered as :func:`auditkit._personal.pseudonymise_labels` numbers them), and the label put
    in the predictions' values when the audit recodes it (:meth:`AuditContext.outcomes`)."""
    from auditkit._scale._view import recode_true, relabel_levels
    from auditkit.fairness import MISSING, level_key

    view = ctx.scale
    if view.counts_error is not None:
        raise view.counts_error
    counts = view.counts
    shown = ctx.category_label_columns
    for c in ctx.protected:
        if c in shown:
            continue
        levels = counts.levels[counts.attributes.index(c)]
        values = sorted((v for v in levels if not (isinstance(v, str) and v == MISSING)), key=str)
        numbers = {v: f"group {i + 1}" for i, v in enumerate(values)}
        counts = relabel_levels(counts, c, numbers.__getitem__)
    if ctx.outcomes().recoded:
        from auditkit._outcomes import label_recoder

        vocabulary = view.vocabulary("__prediction")
        recode = label_recoder(ctx.y_pred() if vocabulary is None else vocabulary,
                               positive_label=ctx.config.data.positive_label)
        counts = recode_true(counts, recode, level_key)
    return counts


def gate_config(cfg: Any, options: FairnessOptions, *, pos_label: Any, favourable_label: Any,
                source: str = "audit.toml") -> Any:
    """The :class:`~auditkit.fairness.GateConfig` of ``[checks.fairness]`` options: the one
    builder behind ``auditkit run``'s fairness check and ``auditkit gate --config``, so the two
    decide with the same thresholds and defaults. ``random_state`` falls back to
    ``[audit] random_state``; an empty ``reference_group`` means the largest group."""
    from auditkit.fairness import GateConfig

    fields = type(options).model_fields
    table: dict[str, Any] = {k: getattr(options, k) for k in GateConfig.KEYS if k in fields}
    if table.get("random_state") is None:
        table["random_state"] = cfg.audit.random_state
    if "reference_group" in table:
        table["reference_group"] = dict(table["reference_group"] or {}) or None
    table["pos_label"] = pos_label
    table["favourable_label"] = favourable_label
    return GateConfig.from_mapping(table, source=f"[checks.fairness] table of {source}")


def _gate_config(ctx: AuditContext, options: FairnessOptions) -> Any:
    return gate_config(ctx.config, options, pos_label=ctx.positive_label,
                       favourable_label=ctx.favourable_label)


def _threshold_findings(ctx: AuditContext, options: FairnessOptions, result: Any,
                        config: Any) -> list[Finding]:
    from auditkit.checks._fairness_findings import distinct_outcomes, threshold_finding
    from auditkit.fairness import evaluate_gate

    if result.task not in ("binary", "regression"):
        return []
    report = evaluate_gate(result, config)
    findings, seen = [], {}
    for group in distinct_outcomes(list(report.outcomes)):
        f = threshold_finding(group, result, configured_fav=ctx.config.data.favourable_label,
                              mode=config.mode,
                              fail_on_insufficient=options.fail_on_insufficient_evidence,
                              scope=ctx)
        seen[f.check_id] = seen.get(f.check_id, 0) + 1
        if seen[f.check_id] > 1:  # the same disparity under two thresholds
            from dataclasses import replace

            f = replace(f, check_id=f"{f.check_id}.{seen[f.check_id]}")
        findings.append(f)
    return findings


def run(ctx: AuditContext, options: FairnessOptions) -> CheckResult:
    """Audit the predictions by group and decide the thresholds (see the module docstring)."""
    from auditkit.checks._fairness_findings import ASSUMED, coverage_finding, direction
    from auditkit.checks._fairness_tables import group_tables, selection_chart
    from auditkit.fairness import audit

    config = _gate_config(ctx, options)
    with ctx.step("Fairness: counting groups and drawing intervals"):
        if ctx.scale is not None:
            from auditkit.fairness import audit_counts

            result = audit_counts(scaled_counts(ctx), **config.audit_kwargs())
        else:
            result = audit(ctx.y_true(), ctx.y_pred(), _protected_frame(ctx),
                           y_score=ctx.y_score(), **config.audit_kwargs())
    findings = _threshold_findings(ctx, options, result, config)
    findings.append(coverage_finding(result, [t.disparity for t in config.thresholds],
                                     suppress=options.suppress_small, scope=ctx))
    figure = selection_chart(result, options.suppress_small)
    fails = sum(f.status == Status.FAIL for f in findings)
    fav = ctx.config.data.favourable_label
    summary = (f"{len(ctx.protected)} protected attribute(s), {len(result.by_group)} groups "
               f"({'with' if options.intersectional else 'without'} intersections); "
               f"evidence bar {options.min_denominator} per rate denominator; "
               f"{fails} finding(s) failed. {direction(result, fav)}")
    if fav is None and ASSUMED not in summary:
        summary += " " + ASSUMED
    return CheckResult(findings=findings, summary=summary,
                       tables=group_tables(result, options.suppress_small, options.worst_k),
                       figures=[figure] if figure is not None else [])


SPEC = register_check(CheckSpec(
    "fairness", "Group fairness", FairnessOptions, run,
    requires=("label", "prediction", "protected"), order=10,
    regulations=REGULATIONS,
    description="Rates by protected group and intersection with Wilson intervals, judged on "
    "groups whose denominators clear the evidence bar; disparities against thresholds "
    "(four-fifths rule on the favourable outcome, equalized odds) with the direction of harm.",
    data_needs="counts",
))
