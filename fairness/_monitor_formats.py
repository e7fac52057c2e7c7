"""Monitor outputs for CI and people: JSON, JUnit XML, GitHub annotations, Markdown."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.fairness._monitor import Alert, MonitorResult

__all__ = ["github_annotations", "to_dict", "to_json", "to_junit", "to_markdown"]

#: Columns of the per-window series carried into the JSON output.
DISPARITY_COLUMNS = ("window", "labels", "grouping", "disparity", "value", "ci_low", "ci_high", "n_groups",
                     "n_excluded", "reason")
SERIES_COLUMNS = ("kind", "metric", "grouping", "group", "window", "n", "value", "ci_low", "ci_high",
                  "estimate", "se", "usable", "z", "upper", "lower", "baseline", "threshold", "alarm")
DRIFT_COLUMNS = ("window", "feature", "grouping", "group", "reference_start", "reference_end", "n_reference",
                 "n_current", "psi", "js", "psi_critical", "threshold", "alarm", "reason")
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ICON = {"new": "🚨", "open": "❌", "retracted": "↩️", "acknowledged": "✔️"}


def _clean(v: Any) -> Any:
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    return v


def _records(df: Any, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    if df is None or len(df) == 0:
        return []
    cols = [c for c in columns if c in df.columns]
    return [{k: _clean(v) for k, v in r.items()} for r in df[cols].to_dict("records")]


def to_dict(result: MonitorResult) -> dict[str, Any]:
    """JSON-safe form: windows, alerts, the per-window series and drift, and how it was decided."""
    spec = result.spec
    det = spec.detector
    return {
        "run": result.run,
        "passed": result.passed,
        "exit_code": result.exit_code,
        "decision": {
            "detector": "two-sided self-starting CUSUM on standardised recursive residuals "
                        "(Page 1954; Hawkins 1987)",
            "horizon": det.horizon, "alpha": det.alpha, "k": det.k, "warmup": det.warmup,
            "multiplicity": "Bonferroni over the streams of each kind that have a usable window",
            "rate_streams": "pooled null variances and at least 10 expected rows of each outcome per side "
                            "(counts-based CUSUM); calibration: plug-in errors",
            "streams": dict(result.n_streams), "thresholds": dict(result.thresholds),
            "label_completeness": spec.label_completeness, "min_group_size": spec.min_group_size,
            "min_denominator": spec.min_denominator, "fail_on": list(spec.fail_on),
            "n_boot": spec.n_boot,
            "drift": {"alpha": spec.drift_alpha, "per": "horizon (Bonferroni over windows and tests)",
                      "psi_threshold": spec.psi_threshold,
                      "min_rows": spec.drift_min_rows, "reference": spec.reference.__dict__},
        },
        "windows": [{k: _clean(v) for k, v in w.__dict__.items()} for w in result.windows],
        "alerts": [a.to_dict() for a in result.alerts],
        "series": _records(result.series, SERIES_COLUMNS),
        "drift": _records(result.drift, DRIFT_COLUMNS),
        "disparities": _records(result.disparities, DISPARITY_COLUMNS),
    }


def to_json(result: MonitorResult) -> str:
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False)


def _case_name(a: Alert) -> str:
    where = f"{a.grouping}={a.group}" if a.grouping else "all rows"
    return f"{a.kind}: {a.metric} [{where}] {a.window_label}"


def to_junit(result: MonitorResult, suite: str = "auditkit.monitor") -> str:
    """JUnit XML: one test case per alert (failing while active and of a failing kind) and one
    passing case per kind of stream without an active alert."""
    failing = {a.id for a in result.failing}
    root = ET.Element("testsuites")
    alerts = list(result.alerts)
    quiet = [k for k, n in result.n_streams.items() if n and not any(a.kind == k and a.active for a in alerts)]
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(alerts) + len(quiet)),
                       failures=str(len(failing)), errors="0",
                       skipped=str(sum(1 for a in alerts if a.id not in failing)))
    for a in alerts:
        text = _xml_text(a.describe())
        case = ET.SubElement(ts, "testcase", classname=f"{suite}.{a.kind}", name=_xml_text(_case_name(a)))
        if a.id in failing:
            node = ET.SubElement(case, "failure", message=text, type=a.kind)
            node.text = f"{a.status}: {text}"
        else:
            ET.SubElement(case, "skipped", message=f"{a.status}: {text}")
    for k in quiet:
        case = ET.SubElement(ts, "testcase", classname=f"{suite}.{k}", name=f"{k}: no alert")
        out = ET.SubElement(case, "system-out")
        out.text = f"{result.n_streams[k]} stream(s) followed; threshold {result.thresholds.get(k, float('nan')):.3f}"
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _escape(msg: str) -> str:
    return msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_annotations(result: MonitorResult) -> list[str]:
    """``::error`` for active alerts of a failing kind, ``::warning`` for the other active ones,
    ``::notice`` for alerts retracted by this run."""
    failing = {a.id for a in result.failing}
    lines = []
    for a in result.alerts:
        if a.id in failing:
            level = "error"
        elif a.active:
            level = "warning"
        elif a.status == "retracted" and a.changed_run == result.run:
            level = "notice"
        else:
            continue
        lines.append(f"::{level} title=Monitor {a.kind} alert ({a.status}) {a.window_label}::{_escape(a.describe())}")
    return lines


def _cell(text: str) -> str:
    """Text safe in one Markdown table cell: pipes escaped, line breaks as spaces."""
    return " ".join(str(text).replace("\\", "\\\\").replace("|", "\\|").split())


def _xml_text(text: str) -> str:
    """Text XML 1.0 can hold: control characters (a group label may carry any) as U+FFFD."""
    return _XML_BAD.sub("\ufffd", text)


def to_markdown(result: MonitorResult) -> str:
    """A Markdown summary for ``$GITHUB_STEP_SUMMARY``."""
    verdict = "passed" if result.passed else "failed"
    judged = sum(1 for w in result.windows if w.closed)
    lines = [f"### Fairness monitor {verdict} ({len(result.windows)} windows, {judged} closed; "
             f"{sum(result.n_streams.values())} streams)", ""]
    if not result.alerts:
        lines.append("No alert.")
        return "\n".join(lines) + "\n"
    lines += ["| | Status | Kind | Window | Grouping | Group | Metric | Evidence |", "|---|---|---|---|---|---|---|---|"]
    for a in result.alerts:
        cells = (_ICON.get(a.status, ""), a.status, a.kind, a.window_label, a.grouping, a.group, a.metric, a.evidence)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
