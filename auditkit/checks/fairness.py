"""The fairness check: group metrics with intervals, disparities, and one finding per threshold.

Findings
--------
- ``fairness.<disparity>`` (e.g. ``fairness.demographic_parity_ratio``): one per threshold of
  ``[checks.fairness] thresholds``, decided like ``auditkit gate`` (point or interval mode; the
  worst grouping decides), citing the regulations the disparity bears on.
- ``fairness.group_coverage``: groups below ``min_group_size`` (left out of disparities and,
  with ``suppress_small``, blanked in the tables: small cells can re-identify people) and the
  explicit group of missing protected values.

Section tables: selection rate, true/false positive rates, precision and the impact ratio by
group for each attribute and their intersection, with bootstrap intervals. Figure: selection
rate by group with intervals and the four-fifths line (inline SVG, matplotlib Agg).
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.reports import Figure, Finding, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext

_PARITY = ("gdpr-art-5-1-a", "gdpr-art-22-3", "gdpr-recital-71", "euaiact-art-10-2-f",
           "nist-ai-rmf-measure-2-11", "us-ugesp-1607-4-d", "nyc-rcny-5-300", "nyc-rcny-5-301-b")
_ERRORS = ("gdpr-art-5-1-a", "gdpr-recital-71", "euaiact-art-10-2-f", "euaiact-art-10-2-g",
           "nist-ai-rmf-measure-2-11")
_COVERAGE = ("euaiact-art-10-3", "euaiact-art-10-2-g", "nist-ai-rmf-measure-2-11")
REGULATIONS = tuple(dict.fromkeys(_PARITY + _ERRORS + _COVERAGE))
_TABLE_METRICS = ("selection_rate", "impact_ratio", "true_positive_rate", "false_positive_rate",
                  "positive_predictive_value")
_STATUS = {"pass": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL,
           "insufficient_evidence": Status.INSUFFICIENT_EVIDENCE}


class FairnessOptions(CheckOptions):
    """``[checks.fairness]``: the gate's keys plus report settings."""

    thresholds: list[str] = ["demographic_parity_ratio >= 0.8", "equalized_odds_difference <= 0.1"]
    mode: str = "ci"
    ci: float = Field(default=0.95, gt=0, lt=1)
    n_boot: int = Field(default=1000, ge=0, le=100_000)
    min_group_size: int = Field(default=30, ge=0)
    intersectional: bool = True
    groupings: list[str] | None = None
    fail_on_insufficient_evidence: bool = False
    random_state: int | None = None
    suppress_small: bool = True

    @field_validator("thresholds")
    @classmethod
    def _parse(cls, v: list[str]) -> list[str]:
        from auditkit.fairness import parse_threshold

        return [str(parse_threshold(t)) for t in v]

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v not in ("point", "ci"):
            raise ValueError(f"mode must be 'point' or 'ci'; got {v!r}")
        return v


def _regulations(disparity: str) -> tuple[str, ...]:
    parity = ("demographic_parity", "impact_ratio", "selection_rate")
    return _PARITY if disparity.startswith(parity) else _ERRORS


def _fmt(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"


def _protected_frame(ctx: AuditContext):
    """Protected columns; any whose labels are not category labels (more than 50 values, or
    names and ids) is relabelled ``group 1..k`` (:func:`auditkit._personal.pseudonymise_labels`)."""
    from auditkit._personal import pseudonymise_labels

    frame = ctx.data[ctx.protected]
    return pseudonymise_labels(frame, [c for c in frame.columns
                                       if str(c) not in ctx.category_label_columns])


def _group_tables(result: Any, suppress: bool) -> list[Table]:
    metrics = [m for m in _TABLE_METRICS if m in result.by_group.columns] or list(result.metrics)[:4]
    tables = []
    for grouping in result.groupings:
        sub = result.by_group.xs(grouping, level="grouping")
        lo = result.by_group_ci_low.xs(grouping, level="grouping")
        hi = result.by_group_ci_high.xs(grouping, level="grouping")
        rows = []
        for group, r in sub.iterrows():
            hidden = suppress and bool(r["small"])
            cells: list[Any] = [group, f"< {result.min_group_size}" if hidden else int(r["n"])]
            for m in metrics:
                cells.append(None if hidden else f"{_fmt(r[m])} [{_fmt(lo.loc[group, m])}, {_fmt(hi.loc[group, m])}]")
            rows.append(cells)
        note = (f"{result.ci:.0%} bootstrap intervals ({result.n_boot} count-tensor resamples). "
                + (f"Groups under {result.min_group_size} rows are suppressed." if suppress else ""))
        tables.append(Table(f"Metrics by {grouping}", ["group", "rows", *metrics], rows, note=note))
    return tables


def _chart(result: Any, suppress: bool) -> Figure | None:
    if "selection_rate" not in result.by_group.columns:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    df = result.by_group
    keep = ~df["small"] if suppress else df["n"] >= 0
    singles = [g for g in result.groupings if " × " not in g]
    labels, vals, los, his, colors = [], [], [], [], []
    palette = plt.get_cmap("tab10")
    for i, g in enumerate(singles):
        sub = df.xs(g, level="grouping")
        k = keep.xs(g, level="grouping")
        for group in sub.index[k.to_numpy()]:
            labels.append(f"{g}: {group}")
            vals.append(sub.loc[group, "selection_rate"])
            los.append(result.by_group_ci_low.loc[(g, group), "selection_rate"])
            his.append(result.by_group_ci_high.loc[(g, group), "selection_rate"])
            colors.append(palette(i % 10))
    if not labels:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.2))
    y = list(range(len(labels)))[::-1]
    err = [[max(v - lo, 0) if lo == lo else 0 for v, lo in zip(vals, los, strict=True)],
           [max(hi - v, 0) if hi == hi else 0 for v, hi in zip(vals, his, strict=True)]]
    ax.barh(y, vals, xerr=err, color=colors, alpha=0.85, capsize=3)
    ax.set_yticks(y, labels, fontsize=8)
    for i, g in enumerate(singles):
        top = df.xs(g, level="grouping").loc[keep.xs(g, level="grouping").to_numpy(), "selection_rate"].max()
        if top == top:
            ax.axvline(0.8 * top, color=palette(i % 10), linestyle="--", linewidth=0.8)
    ax.set_xlabel("Selection rate (dashed: four-fifths of the highest group of the attribute)")
    finite = [v for v in his + vals if v == v]
    ax.set_xlim(0, min(1.0, max(finite) * 1.15) if finite and max(finite) > 0 else 1.0)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    return Figure("Selection rate by group", svg,
                  alt="Horizontal bars of the selection rate of each group with bootstrap "
                      "intervals, and the four-fifths line per attribute.")


def run(ctx: AuditContext, options: FairnessOptions) -> CheckResult:
    from auditkit.fairness import GateConfig, audit, evaluate_gate

    rs = ctx.random_state if options.random_state is None else options.random_state
    config = GateConfig.from_mapping({
        "thresholds": options.thresholds, "mode": options.mode, "ci": options.ci,
        "n_boot": options.n_boot, "min_group_size": options.min_group_size,
        "intersectional": options.intersectional, "groupings": options.groupings,
        "fail_on_insufficient_evidence": options.fail_on_insufficient_evidence,
        "random_state": rs,
    })
    with ctx.step("Fairness: counting groups and bootstrapping"):
        result = audit(ctx.y_true(), ctx.y_pred(), _protected_frame(ctx), y_score=ctx.y_score(),
                       n_boot=options.n_boot, ci=options.ci, min_group_size=options.min_group_size,
                       intersectional=options.intersectional, random_state=rs,
                       pos_label=ctx.config.data.positive_label)
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    if result.task == "binary" or result.task == "regression":
        report = evaluate_gate(result, config)
        for o in report.outcomes:
            name = o.threshold.disparity
            seen[name] = seen.get(name, 0) + 1
            cid = f"fairness.{name}" + (f".{seen[name]}" if seen[name] > 1 else "")
            status = _STATUS[o.status]
            if o.status == "insufficient_evidence" and options.fail_on_insufficient_evidence:
                status = Status.FAIL
            rows = [[d["grouping"], d["status"], d["value"], d["ci_low"], d["ci_high"],
                     d["max_group"], d["min_group"], d["n_groups"], d["n_small"]] for d in o.details]
            findings.append(Finding(
                check_id=cid,
                title=f"{name.replace('_', ' ').capitalize()} {o.threshold.op} {o.threshold.value:g}",
                status=status,
                severity=Severity.HIGH if status == Status.FAIL else Severity.MEDIUM,
                summary=o.message,
                metrics={"value": o.value, "ci_low": o.ci_low, "ci_high": o.ci_high,
                         "threshold": o.threshold.value, "grouping": o.grouping, "mode": config.mode},
                tables=(Table(f"{name} by grouping",
                              ["grouping", "status", "value", "ci_low", "ci_high", "max group",
                               "min group", "groups compared", "groups too small"], rows),),
                regulations=_regulations(name),
                remediation=None if status == Status.PASS else
                "Investigate the groups named above: check the label and feature quality for them, "
                "look for proxies of the protected attribute, and consider mitigation "
                "(auditkit.fairness.mitigate: threshold optimisation or exponentiated gradient).",
            ))
    small = result.by_group[result.by_group["small"]]
    missing = [g for g in result.by_group.index if "<missing>" in str(g[1])]
    findings.append(Finding(
        check_id="fairness.group_coverage",
        title="Groups large enough to measure",
        status=Status.WARN if len(small) else Status.PASS,
        severity=Severity.MEDIUM if len(small) else Severity.INFO,
        summary=(f"{len(small)} of {len(result.by_group)} groups have fewer than "
                 f"{options.min_group_size} rows; they are left out of disparities"
                 + (" and suppressed in the tables" if options.suppress_small else "")
                 + f". {len(missing)} group(s) are formed by missing protected values."),
        metrics={"groups": len(result.by_group), "small_groups": len(small),
                 "missing_value_groups": len(missing), "min_group_size": options.min_group_size},
        regulations=_COVERAGE,
    ))
    figure = _chart(result, options.suppress_small)
    fails = sum(f.status == Status.FAIL for f in findings)
    return CheckResult(
        findings=findings,
        summary=(f"{len(ctx.protected)} protected attribute(s), {len(result.by_group)} groups "
                 f"({'with' if options.intersectional else 'without'} intersections); "
                 f"{fails} threshold finding(s) failed."),
        tables=_group_tables(result, options.suppress_small),
        figures=[figure] if figure is not None else [],
    )


def demo(ctx: Any) -> dict[str, Any]:
    """The demo's policy: the four-fifths rule and a 0.1 equalized-odds budget.

    The demo data's planted disparity (race groups and women penalised) makes the
    demographic-parity / impact-ratio findings fail.
    """
    return {
        "thresholds": ["demographic_parity_ratio >= 0.8", "impact_ratio >= 0.8",
                       "equalized_odds_difference <= 0.1"],
        "mode": "ci",
        "n_boot": 1000,
        "min_group_size": 30,
    }


SPEC = register_check(
    CheckSpec(
        id="fairness",
        section="fairness",
        section_title="Fairness",
        title="Group fairness",
        options=FairnessOptions,
        run=run,
        requires=("label", "prediction", "protected"),
        regulations=REGULATIONS,
        demo=demo,
        order=10,
        description="Metrics by protected group and intersection with bootstrap intervals; "
        "disparities against thresholds (four-fifths rule, equalized odds).",
    )
)
