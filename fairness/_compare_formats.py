"""Outputs of a model comparison for people and CI: JSON, JUnit XML, Markdown, GitHub annotations.

Every format states what decided the verdict: the correction and the family size, ``alpha``,
``tolerance``, the number of bootstrap draws and the seed (:func:`settings`).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from auditkit.fairness._metrics import group_text

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.fairness._compare import ComparisonResult

__all__ = ["github_annotations", "settings", "settings_line", "to_dict", "to_json", "to_junit",
           "to_markdown"]


def _fmt(x: float, spec: str = ".3f") -> str:
    return "n/a" if not isinstance(x, (int, float)) or not math.isfinite(x) else format(x, spec)


def _plain(v: Any) -> Any:
    """A value as JSON: non-finite numbers as None, an intersection's label as a list of levels."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        return _plain(v.item())
    return v


def settings(result: ComparisonResult) -> dict[str, Any]:
    """What decided the verdict, for every format."""
    from auditkit.fairness._multiplicity import CORRECTION_TITLES

    return {
        "correction": result.correction, "correction_method": CORRECTION_TITLES[result.correction],
        "n_tests": result.n_tests, "alpha": result.alpha, "tolerance": result.tolerance,
        "n_boot": result.n_boot, "seed": result.seed, "ci": result.ci,
        "min_group_size": result.min_group_size, "min_denominator": result.min_denominator,
        "p_value": result.p_value_method, "interval": result.interval_method,
        "pos_label": _plain(result.pos_label), "favourable_label": _plain(result.favourable_label),
    }


def settings_line(result: ComparisonResult) -> str:
    """The settings in one sentence."""
    seed = "a caller's Generator" if result.seed is None else str(result.seed)
    return (f"{result.correction} correction over {result.n_tests} group x metric tests, "
            f"alpha {result.alpha:g}, tolerance {result.tolerance:g}, {result.n_boot} paired-bootstrap "
            f"draws, seed {seed}, {result.ci:.0%} intervals")


def to_dict(result: ComparisonResult) -> dict[str, Any]:
    worse = [{k: _plain(v) for k, v in w.__dict__.items()} for w in result.worse]
    return {
        "passed": result.passed,
        "exit_code": result.exit_code,
        "models": {"baseline": result.names[0], "candidate": result.names[1]},
        "n_rows": result.n_rows,
        "settings": settings(result),
        "worse": worse,
        "groups": [{k: _plain(v) for k, v in r.items()} for r in result.table.to_dict("records")],
        "disparities": [{k: _plain(v) for k, v in r.items()}
                        for r in result.disparities.to_dict("records")],
    }


def to_json(result: ComparisonResult) -> str:
    return json.dumps(to_dict(result), indent=2, allow_nan=False)


def _row_line(r: dict[str, Any]) -> str:
    p = f" p={_fmt(r['p_value'], '.3g')} p_adj={_fmt(r['p_adjusted'], '.3g')}" if not r["reason"] else ""
    why = f" (not judged: {r['reason']})" if r["reason"] else ""
    return (f"{r['metric']}: {_fmt(r['baseline'])} -> {_fmt(r['candidate'])} "
            f"diff={_fmt(r['difference'], '+.3f')} ci=[{_fmt(r['ci_low'], '+.3f')}, "
            f"{_fmt(r['ci_high'], '+.3f')}]{p}{why}")


def to_junit(result: ComparisonResult, suite: str = "auditkit.fairness.compare") -> str:
    """One test case per group and metric (as ``auditkit gate`` has one per threshold): a failure
    where the candidate is worse, skipped where the row is not judged (its reason)."""
    rows = result.table.to_dict("records")
    n_fail = sum(bool(r["worse"]) for r in rows)
    n_skip = sum(bool(r["reason"]) for r in rows)
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(rows)), failures=str(n_fail),
                       errors="0", skipped=str(n_skip))
    props = ET.SubElement(ts, "properties")
    for k, v in settings(result).items():
        ET.SubElement(props, "property", name=k, value=str(v))
    ET.SubElement(props, "property", name="baseline", value=result.names[0])
    ET.SubElement(props, "property", name="candidate", value=result.names[1])
    for r in rows:
        where = f"{r['grouping']} = {group_text(r['group'])}"
        case = ET.SubElement(ts, "testcase", classname=f"{suite}.{r['metric']}", name=f"{where}: {r['metric']}")
        if r["worse"]:
            msg = (f"{result.names[1]} is worse than {result.names[0]} on {r['metric']} for {where} "
                   f"({settings_line(result)})")
            ET.SubElement(case, "failure", message=msg, type="worse").text = _row_line(r)
        elif r["reason"]:
            ET.SubElement(case, "skipped", message=f"not judged: {r['reason']}")
        ET.SubElement(case, "system-out").text = _row_line(r)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _escape(msg: str) -> str:
    """A workflow command's message: ``%``, CR and LF escaped (GitHub's ``escapeData``)."""
    return msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    """A workflow command's property (``title=``): also ``:`` and ``,`` (GitHub's ``escapeProperty``)."""
    return _escape(value).replace(":", "%3A").replace(",", "%2C")


def github_annotations(result: ComparisonResult) -> list[str]:
    """A ``::notice`` with the verdict and the settings, then an ``::error`` per worse group and metric."""
    verdict = "passed" if result.passed else f"failed: {len(result.worse)} group x metric worse"
    lines = [f"::notice title={_escape_property(f'Model comparison {verdict}')}::"
             + _escape(f"{result.names[1]} vs {result.names[0]} on {result.n_rows:,} rows; "
                       f"{settings_line(result)}.")]
    for w in result.worse:
        title = _escape_property(f"Model comparison: {w.metric} worse for {w.grouping}")
        lines.append(f"::error title={title}::" + _escape(f"{w.describe(result.ci)}. {settings_line(result)}."))
    return lines


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a ``|`` escaped, line breaks as spaces."""
    return " ".join(str(text).splitlines()).replace("|", "\\|")


def to_markdown(result: ComparisonResult) -> str:
    """A Markdown summary: verdict, settings, the worse groups, the disparity changes."""
    verdict = "passed" if result.passed else "failed"
    lines = [
        f"### Model comparison {verdict}: `{result.names[1]}` vs `{result.names[0]}` "
        f"({result.n_rows:,} rows)", "",
        f"{settings_line(result)}; p-values: {result.p_value_method}.", "",
    ]
    worse = result.worse
    if worse:
        lines += ["| Grouping | Group | Metric | Baseline | Candidate | Difference | Interval | "
                  "Adjusted p | Rows |", "|---|---|---|---|---|---|---|---|---|"]
        for w in worse:
            lines.append(
                f"| {_cell(w.grouping)} | {_cell(group_text(w.group))} | {w.metric} | {_fmt(w.baseline)} | "
                f"{_fmt(w.candidate)} | {_fmt(w.difference, '+.3f')} | [{_fmt(w.ci_low, '+.3f')}, "
                f"{_fmt(w.ci_high, '+.3f')}] | {_fmt(w.p_adjusted, '.2g')} | {w.n:,} |")
    else:
        lines.append(f"No group is worse for `{result.names[1]}` beyond the evidence bar.")
    not_judged = int((result.table["reason"] != "").sum())
    lines += ["", f"{not_judged} group x metric row(s) not judged (evidence bar or no direction of harm)."]
    d = result.disparities
    if len(d):
        lines += ["", "| Grouping | Disparity | Baseline | Candidate | Change | Interval |",
                  "|---|---|---|---|---|---|"]
        for r in d.to_dict("records"):
            lines.append(f"| {_cell(r['grouping'])} | {r['disparity']} | {_fmt(r['baseline'])} | "
                         f"{_fmt(r['candidate'])} | {_fmt(r['change'], '+.3f')} | "
                         f"[{_fmt(r['ci_low'], '+.3f')}, {_fmt(r['ci_high'], '+.3f')}] |")
    return "\n".join(lines) + "\n"
