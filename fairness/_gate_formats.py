"""Gate outputs for CI: JUnit XML, GitHub Actions annotations, Markdown summary, JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from auditkit.fairness._metrics import group_text

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.fairness._gate import GateReport

__all__ = ["github_annotations", "offenders_table", "to_json", "to_junit", "to_markdown"]

_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "insufficient_evidence": "❔"}


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def offenders_table(report: GateReport) -> str:
    """Plain-text table of the failing thresholds and their offending groups."""
    lines = []
    for o in report.outcomes:
        if o.status == "pass":
            continue
        lines.append(f"{o.status.upper()}: {o.message}")
        if o.offenders:
            lines.append(f"  {'grouping':<20} {'group':<24} {'metric':<28} {'n':>8} {'value':>7}  interval")
            for r in o.offenders:
                lines.append(
                    f"  {r['grouping'][:20]:<20} {group_text(r['group'])[:24]:<24} {r['metric'][:28]:<28} "
                    f"{r['n']:>8} {_fmt(r['value']):>7}  [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
                )
    return "\n".join(lines)


def to_junit(report: GateReport, suite: str = "auditkit.fairness") -> str:
    """JUnit XML with one test case per threshold (failures and, optionally, insufficient evidence)."""
    failed = {id(o) for o in report.failed}
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(report.outcomes)),
                       failures=str(len(failed)), errors="0",
                       skipped=str(sum(1 for o in report.outcomes
                                       if o.status == "insufficient_evidence" and id(o) not in failed)))
    for o in report.outcomes:
        case = ET.SubElement(ts, "testcase", classname=suite, name=o.name)
        if id(o) in failed:
            node = ET.SubElement(case, "failure", message=o.message, type=o.status)
            node.text = offenders_table(dataclasses.replace(
                report, outcomes=(o,), fail_on_insufficient_evidence=True))
        elif o.status == "insufficient_evidence":
            ET.SubElement(case, "skipped", message=o.message)
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(
            f"{d['grouping']}: {d['status']} value={_fmt(d['value'])} "
            f"ci=[{_fmt(d['ci_low'])}, {_fmt(d['ci_high'])}] excluded={d.get('n_excluded', 0)}"
            for d in o.details)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def github_annotations(report: GateReport) -> list[str]:
    """``::error``/``::warning``/``::notice`` workflow commands, one per non-passing threshold."""
    lines = []
    failed = {id(o) for o in report.failed}
    for o in report.outcomes:
        if o.status == "pass":
            continue
        level = "error" if id(o) in failed else ("warning" if o.status == "warn" else "notice")
        msg = o.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        lines.append(f"::{level} title=Fairness gate {o.status}: {o.threshold.disparity}::{msg}")
    return lines


def to_markdown(report: GateReport) -> str:
    """A Markdown summary for ``$GITHUB_STEP_SUMMARY``."""
    verdict = "passed" if report.passed else "failed"
    lines = [
        f"### Fairness gate {verdict} ({report.n_rows:,} rows, mode `{report.mode}`, "
        f"{report.ci:.0%} intervals)",
        "",
        "| | Threshold | Worst grouping | Value | Interval | Groups excluded | Verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in report.outcomes:
        lines.append(
            f"| {_ICON[o.status]} | `{o.name}` | {o.grouping or ''} | {_fmt(o.value)} | "
            f"[{_fmt(o.ci_low)}, {_fmt(o.ci_high)}] | {o.n_excluded} | {o.status} |"
        )
    bad = [o for o in report.outcomes if o.status != "pass"]
    if bad:
        lines += ["", "<details><summary>Details</summary>", "", "```", offenders_table(report), "```",
                  "", "</details>"]
    return "\n".join(lines) + "\n"


def to_json(report: GateReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False)
