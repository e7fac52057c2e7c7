"""Findings of the fairness check (:mod:`auditkit.checks.fairness`): the outcome direction in
plain words, one finding per distinct fact, and the evidence statement (group coverage)."""

from __future__ import annotations

import math
from typing import Any

from auditkit.checks._fairness_tables import coverage_rows, fmt
from auditkit.checks._findings import Cites, FindingSpec
from auditkit.reports import Finding, Severity, Status, Table

__all__ = ["ASSUMED", "COVERAGE", "coverage_finding", "direction", "distinct_outcomes",
           "threshold_finding", "threshold_spec"]

COVERAGE = FindingSpec("fairness.group_coverage", "Groups with enough evidence to judge",
                       ("group-coverage",), Severity.MEDIUM, pass_severity=Severity.INFO,
                       problem_status=Status.WARN)

ASSUMED = ("Assumed: [data] favourable_label is not set; the positive class was treated as "
           "favourable.")
_STATUS = {"pass": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL,
           "insufficient_evidence": Status.INSUFFICIENT_EVIDENCE}
_RANK = {"pass": 0, "insufficient_evidence": 1, "warn": 2, "fail": 3}
# base metric -> (what harms, with the positive prediction adverse; with it favourable)
_HARM = {
    "selection_rate": ("receives the adverse outcome (a positive prediction) most often",
                       "receives the favourable outcome (a positive prediction) least often"),
    "favourable_rate": ("receives the favourable outcome least often",
                        "receives the favourable outcome least often"),
    "true_positive_rate": ("has the largest share of its actual positives given the adverse "
                           "outcome",
                           "has the smallest share of its actual positives given the favourable "
                           "outcome (deserving people refused)"),
    "false_positive_rate": ("has the largest share of its actual negatives wrongly given the "
                            "adverse outcome",
                            "has the smallest share of its actual negatives given the favourable "
                            "outcome"),
    "false_negative_rate": ("has the smallest share of its actual positives spared the adverse "
                            "outcome",
                            "has the largest share of its actual positives wrongly refused the "
                            "favourable outcome"),
    "positive_predictive_value": ("has the largest share of wrong adverse predictions among "
                                  "those it receives",
                                  "has the largest share of right favourable predictions (the "
                                  "strictest bar to receive one)"),
}
_REMEDIATION = (
    "Investigate the groups named above: check the label and feature quality for them, look for "
    "proxies of the protected attribute, and consider mitigation (auditkit.fairness.mitigate: "
    "threshold optimisation or exponentiated gradient; [checks.performance] mitigation = true "
    "reports the accuracy it costs).")


def direction(result: Any, configured: Any) -> str:
    """Which outcome was treated as favourable, and which way is harm, in plain words."""
    if result.adverse_is_positive is None:
        return "No outcome direction applies (not a binary classification)."
    pos, fav = result.pos_label, result.favourable_label
    if result.adverse_is_positive:
        text = (f"The favourable outcome is a negative prediction (label {fav}); the adverse "
                f"outcome is a positive prediction (label {pos}).")
    else:
        text = (f"The favourable outcome is a positive prediction (label {pos}); the adverse "
                "outcome is a negative prediction.")
    return text + (" " + ASSUMED if configured is None else "")


def _harm(metric: str, adverse_is_positive: bool) -> str:
    parts = [_HARM[m][0 if adverse_is_positive else 1] for m in metric.split("+") if m in _HARM]
    if not parts:
        return f"is at the harmful end of {metric.replace('_', ' ')}"
    if len(parts) == 1:
        return parts[0]
    return "is at the harmful end of the rate that sets the value: it " + ", or ".join(parts)


def _signature(o: Any) -> tuple | None:
    vals = []
    for d in o.details:
        v = float(d["value"])
        vals.append((d["grouping"], round(v, 12) if math.isfinite(v) else None,
                     d["max_group"], d["min_group"]))
    if all(v[1] is None for v in vals):
        return None  # undefined everywhere: nothing to say is the same
    kind = "ratio" if o.threshold.disparity.endswith("ratio") else "difference"
    return (kind, tuple(vals))


def distinct_outcomes(outcomes: list[Any]) -> list[list[Any]]:
    """Thresholds grouped by the quantity they evaluate: two that give the same value between
    the same groups in every grouping (the demographic parity ratio and the impact ratio when the favourable outcome is
    the positive prediction) are one fact. Their intervals, drawn separately, may differ in the
    last digits; the first threshold's is shown."""
    groups: dict[Any, list[Any]] = {}
    for i, o in enumerate(outcomes):
        sig = _signature(o)
        groups.setdefault(sig if sig is not None else ("alone", i), []).append(o)
    return list(groups.values())


def _interval_sentence(result: Any, name: str, mode: str) -> str:
    if mode == "point":
        return "Decided on the point value (mode = 'point')."
    method = result.interval_methods.get(name, "none")
    if method == "jeffreys":
        return (f"Interval: {result.ci:.0%} quantiles of {result.n_boot} draws of each group's "
                "rate from its Jeffreys posterior Beta(x + ½, n − x + ½).")
    if method == "bootstrap":
        return f"Interval: {result.ci:.0%} percentile bootstrap ({result.n_boot} resamples)."
    return ""


def _name(g: Any) -> str | None:
    """A group's display form (an intersection's parts joined by " × "), or None for none."""
    from auditkit.fairness import group_text

    return group_text(g) if isinstance(g, (str, tuple)) and g else None


def _other(d: dict[str, Any]) -> str | None:
    """The group at the other extreme from the disadvantaged one."""
    dis = _name(d.get("disadvantaged_group"))
    if dis is None:
        return _name(d["max_group"])
    return _name(d["min_group"] if _name(d["max_group"]) == dis else d["max_group"])


def threshold_spec(disparity: str) -> FindingSpec:
    """The finding of one disparity's thresholds: ``fairness.<disparity>``, citing the outcome-
    or error-disparity provisions; ``fail`` is high, any other status medium. Its title names
    the thresholds it decides."""
    return FindingSpec(f"fairness.{disparity}", disparity.replace("_", " ").capitalize(),
                       (_topic(disparity),), Severity.MEDIUM)


def threshold_finding(outcomes: list[Any], result: Any, *, configured_fav: Any, mode: str,
                      fail_on_insufficient: bool, scope: Cites) -> Finding:
    """One finding for one fact: the thresholds in ``outcomes`` evaluate the same quantity."""
    worst = max(outcomes, key=lambda o: _RANK[o.status])
    o = outcomes[0]
    name = o.threshold.disparity
    status = _STATUS[worst.status]
    if worst.status == "insufficient_evidence" and fail_on_insufficient:
        status = Status.FAIL
    d = next((x for x in o.details if x["grouping"] == o.grouping), o.details[0])
    row = result.disparities.loc[(o.grouping, name)]
    # the fact first (what the executive summary quotes), then which way is harm
    parts: list[str] = []
    if o.status == "insufficient_evidence":
        parts.append(f"{name.replace('_', ' ').capitalize()}: no grouping has two groups that "
                     f"clear the evidence bar ({d.get('reason') or 'too few observations'}).")
    else:
        verdicts = "; ".join(
            f"{x.threshold} {'holds' if x.status == 'pass' else 'is not shown to hold' if x.status == 'warn' else 'is violated'}"
            for x in outcomes)
        parts.append(f"{name.replace('_', ' ').capitalize()} by {o.grouping} = {fmt(o.value)}"
                     + (f" [{fmt(o.ci_low)}, {fmt(o.ci_high)}]" if math.isfinite(o.ci_low) else "")
                     + f": {verdicts}.")
        dis = _name(d.get("disadvantaged_group"))
        if dis is not None and result.adverse_is_positive is not None:
            parts.append(f"Disadvantaged group: {dis}, which "
                         f"{_harm(str(row['metric']), bool(result.adverse_is_positive))}.")
    parts.append(direction(result, configured_fav))
    if o.status != "insufficient_evidence":
        parts.append(_interval_sentence(result, name, mode))
    if len(outcomes) > 1:
        names = " and ".join(x.threshold.disparity.replace("_", " ") for x in outcomes)
        parts.append(f"The {names} are the same quantity here (the same value between the "
                     "same groups in every grouping), so this one finding decides all of these thresholds.")
    if d["n_excluded"] or o.n_excluded:
        parts.append(f"{int(d['n_excluded'])} group(s) of {o.grouping} were left out below the "
                     "evidence bar (fairness.group_coverage lists them); no verdict rests on them.")
    rows = [[x["grouping"], x["status"].replace("_", " "), x["value"], x["ci_low"], x["ci_high"],
             _name(x.get("disadvantaged_group")) or "—", _other(x) or "—", x["n_groups"],
             x["n_excluded"]]
            for x in o.details]
    title = " and ".join(f"{x.threshold.disparity.replace('_', ' ')} {x.threshold.op} "
                         f"{x.threshold.value:g}" for x in outcomes)
    return threshold_spec(name).make(
        scope, status, " ".join(p for p in parts if p), title=title[0].upper() + title[1:],
        severity=Severity.HIGH if status == Status.FAIL else None,
        metrics={"value": o.value, "ci_low": o.ci_low, "ci_high": o.ci_high,
                 "threshold": o.threshold.value, "grouping": o.grouping, "mode": mode,
                 "also_decides": ", ".join(str(x.threshold) for x in outcomes[1:]) or None,
                 "favourable_label": str(result.favourable_label),
                 "disadvantaged_group": _name(d.get("disadvantaged_group")),
                 "min_denominator": result.min_denominator},
        tables=(Table(f"{name} by grouping",
                      ["grouping", "status", "value", "ci_low", "ci_high", "disadvantaged group",
                       "other extreme", "groups compared", "groups left out"], rows),),
        remediation=None if status == Status.PASS else _REMEDIATION,
    )


def _topic(disparity: str) -> str:
    outcome = ("demographic_parity", "impact_ratio", "selection_rate", "favourable_rate")
    return "outcome-disparity" if disparity.startswith(outcome) else "error-disparity"


def coverage_finding(result: Any, disparities: list[str], *, suppress: bool,
                     scope: Cites) -> Finding:
    """The evidence statement: which groups were left out of which disparity, and why."""
    rows = coverage_rows(result, disparities, suppress)
    missing = [g for g in result.by_group.index if "<missing>" in str(g[1])]
    pairs = {(r[0], r[2]) for r in rows}
    by_reason: dict[str, int] = {}
    for r in rows:
        key = "rows" if "min_group_size" in r[6] else r[3].replace("_", " ")
        by_reason[key] = by_reason.get(key, 0) + 1
    detail = "; ".join(f"{n} on {k}" if k != "rows" else f"{n} for fewer than "
                       f"{result.min_group_size} rows" for k, n in sorted(by_reason.items()))
    summary = (f"Each rate is judged on its own denominator (actual positives for the true "
               f"positive and false negative rates, actual negatives for the false positive "
               f"rate, rows for the favourable rate) against a bar of {result.min_denominator}. "
               + (f"For the thresholds' disparities ({', '.join(disparities)}), {len(rows)} "
                  f"group-and-rate pair(s) were left out ({detail}), concerning {len(pairs)} "
                  "group(s); they are listed below with their denominators, and no verdict "
                  "rests on them." if rows else
                  f"Every group cleared the bar for the thresholds' disparities "
                  f"({', '.join(disparities) or 'none'}).")
               + f" {len(missing)} group(s) are formed by missing protected values.")
    table = Table("Groups left out of the thresholds' disparities",
                  ["grouping", "disparity", "group", "rate", "denominator", "bar", "why"], rows,
                  placement="appendix" if len(rows) > 12 else "body") if rows else None
    return COVERAGE.judge(
        scope, problem=bool(rows), summary=summary,
        metrics={"groups": len(result.by_group), "left_out_pairs": len(rows),
                 "left_out_groups": len(pairs), "missing_value_groups": len(missing),
                 "min_denominator": result.min_denominator,
                 "min_group_size": result.min_group_size},
        tables=(table,) if table is not None else (),
    )
