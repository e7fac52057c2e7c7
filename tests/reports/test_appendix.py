"""Appendix placement, narrative sections and one finding per fact, in every format."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.reports import Finding, Report, Section, Severity, Status, Table, render
from auditkit.reports._model import is_interval
from auditkit.reports._view import build_view


def _table(title: str, n: int, placement: str = "body") -> Table:
    return Table(title, ["group", "rows", "value"], [[f"g{i}", 30 + i, i / 7] for i in range(n)],
                 placement=placement)


def _report(placements: list[str]) -> Report:
    """Tables in a section, in a finding and in a narrative section, at the given places."""
    section_table = _table("Section table", 3, placements[0])
    finding_table = _table("Finding table", 5, placements[1])
    narrative_table = _table("Narrative table", 2, placements[2])
    area = Section("fairness", "Fairness", tables=[section_table], findings=[
        Finding("fairness.x", "A finding", Status.FAIL, Severity.HIGH, tables=(finding_table,),
                metrics={"value": 0.25})])
    summary = Section("executive_summary", "Executive summary", "First paragraph.\n\nSecond.",
                      tables=[narrative_table], kind="narrative")
    dpia = Section("dpia", "DPIA", "About the DPIA.", kind="narrative",
                   tables=[Table("(a) Description", ["Item", "Content"], [["Purposes", "x"]])])
    return Report(metadata={"title": "T"}, sections=[summary, area, dpia])


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if "id" in d:
            self.ids.append(d["id"])
        if tag == "a" and d.get("href", "").startswith("#"):
            self.hrefs.append(d["href"][1:])


def _appendix_part(text: str, marker: str) -> str:
    return text[text.index(marker):]


@pytest.mark.parametrize("placements", [
    ["body", "body", "body"], ["appendix", "body", "body"], ["body", "appendix", "body"],
    ["body", "body", "appendix"], ["appendix", "appendix", "appendix"],
])
def test_appendix_tables_round_trip_and_render_in_every_format(placements: list[str]) -> None:
    report = _report(placements)
    back = Report.from_dict(json.loads(render(report, "json")))
    assert back.to_dict() == report.to_dict()
    got = [t.placement for s in back.sections for t in (*s.tables, *(t for f in s.findings
                                                                         for t in f.tables))]
    assert sorted(got) == sorted([*placements, "body"])

    n_appendix = placements.count("appendix")
    html = render(report, "html").decode()
    md = render(report, "md").decode()
    parser = _Ids()
    parser.feed(html)
    # every appendix table has its anchor, is linked from where it belongs, and links back
    for n in range(1, n_appendix + 1):
        assert f"appendix-table-{n}" in parser.ids
        assert f"appendix-table-{n}" in parser.hrefs
    assert f"appendix-table-{n_appendix + 1}" not in parser.ids
    assert html.count("Table A.") == 2 * n_appendix  # the reference and the heading
    assert md.count("Table A.") == 2 * n_appendix
    html_appendix = _appendix_part(html, 'id="appendix-h"')
    md_appendix = _appendix_part(md, "## Appendix")
    for (title, placement) in zip(["Section table", "Finding table", "Narrative table"],
                                  placements, strict=True):
        assert (title in html_appendix) == (placement == "appendix"), title
        assert (title in md_appendix) == (placement == "appendix"), title
        assert title in html and title in md  # always named where it belongs


def test_appendix_numbers_follow_display_order() -> None:
    view = build_view(_report(["appendix", "appendix", "appendix"]))
    order = [(a.number, a.table.title) for a in view.appendix_tables]
    # the executive summary comes first, then the area's own table, then its finding's
    assert order == [("A.1", "Narrative table"), ("A.2", "Section table"),
                     ("A.3", "Finding table")]
    assert [a.source_anchor for a in view.appendix_tables] == [
        "summary", "section-fairness", "finding-fairness-x"]


def test_narrative_sections_render_paragraphs_and_tables() -> None:
    report = _report(["body", "body", "body"])
    html = render(report, "html").decode()
    md = render(report, "md").decode()
    assert "<p>First paragraph.</p>" in html and "<p>Second.</p>" in html
    assert 'id="narrative-dpia"' in html and 'href="#narrative-dpia"' in html  # in contents
    assert "## DPIA" in md and "First paragraph.\n\nSecond." in md
    # narrative sections are not areas: not in the status table, not counted as areas
    assert "across 1 area and 1 finding" in html
    assert [s.id for s in report.areas] == ["fairness"]


def test_narrative_section_refuses_findings() -> None:
    with pytest.raises(ValueError, match="narrative section holds no findings"):
        Section("x", "X", findings=[Finding("a.b", "t", Status.PASS)], kind="narrative")
    with pytest.raises(ValueError, match="kind must be one of"):
        Section("x", "X", kind="chapter")


def _same_fact_pair(ci_shift: float, value_shift: float, groups: tuple[str, str]) -> Report:
    def finding(check_id: str, title: str, shift_ci: float, shift_v: float, g: tuple) -> Finding:
        return Finding(
            check_id, title, Status.FAIL, Severity.HIGH,
            summary=f"{title} = 0.168",
            metrics={"value": 0.168 + shift_v, "ci_low": 0.09 + shift_ci,
                     "ci_high": 0.19 + shift_ci, "threshold": 0.8},
            tables=(Table("by grouping", ["grouping", "value", "ci_low", "ci_high", "max group",
                                          "min group"],
                          [["sex", 0.168 + shift_v, 0.09 + shift_ci, 0.2, g[0], g[1]]]),),
            regulations=("gdpr-art-5-1-a",) if "parity" in check_id else ("nyc-ll144",),
            remediation="Investigate.",
        )

    a = finding("fairness.demographic_parity_ratio", "Demographic parity ratio", 0, 0,
                ("male", "female"))
    b = finding("fairness.impact_ratio", "Impact ratio", ci_shift, value_shift, groups)
    return Report(metadata={}, sections=[Section("fairness", "Fairness", findings=[a, b])])


@pytest.mark.parametrize(("ci_shift", "value_shift", "groups", "same"), [
    (0.0, 0.0, ("male", "female"), True),
    (0.013, 0.0, ("male", "female"), True),   # intervals from other draws: the same fact
    (0.0, 0.01, ("male", "female"), False),   # another value
    (0.0, 0.0, ("female", "male"), False),    # other groups
])
def test_one_finding_per_fact(ci_shift, value_shift, groups, same) -> None:
    report = _same_fact_pair(ci_shift, value_shift, groups)
    first, second = report.findings
    assert (first.fact_key() == second.fact_key()) is same
    view = build_view(report)
    fv1, fv2 = view.sections[0].findings
    assert (fv2.duplicate_of is fv1) is same
    html = render(report, "html").decode()
    md = render(report, "md").decode()
    # the evidence table is printed once when the fact is the same, twice otherwise
    assert html.count("<caption>by grouping</caption>") == (1 if same else 2)
    assert md.count("**by grouping**") == (1 if same else 2)
    assert ("The same fact as" in html) is same and ("The same fact as" in md) is same
    if same:  # the provisions the second finding cites are still shown with the fact
        assert [r.id for r in fv1.all_regulations][-1] == "nyc-ll144"


def test_findings_of_flags_and_counts_are_never_merged() -> None:
    flags = [Finding(f"security.{n}", n, Status.WARN, metrics={"encrypted": False, "n": 3})
             for n in ("data", "model")]
    assert all(f.fact_key() is None for f in flags)
    view = build_view(Report(metadata={}, sections=[Section("security", "S", findings=flags)]))
    assert all(fv.duplicate_of is None for fv in view.sections[0].findings)


@settings(max_examples=100, deadline=None)
@given(name=st.text(max_size=20))
def test_interval_names_are_bounds_only(name: str) -> None:
    words = set(re.split(r"[_ ]", name.lower()))
    bound = bool(words & {"ci", "lower", "upper", "low", "high"}) or "interval" in name.lower()
    assert is_interval(name) is bound


def test_html_headers_break_only_between_words() -> None:
    t = Table("t", ["false_positive_rate", "groups too small", "a/b"], [[0.1, 2, 3]])
    html = render(Report(metadata={}, sections=[Section("s", "S", tables=[t])]), "html").decode()
    assert "false_<wbr>positive_<wbr>rate" in html and "a/<wbr>b" in html
    css = html[html.index("<style>"):html.index("</style>")]
    th_rules = re.findall(r"(?:^|\})\s*([^{}]*\bth\b[^{}]*)\{([^}]*)\}", css)
    assert th_rules
    for selector, body in th_rules:
        assert "anywhere" not in body and "break-all" not in body, selector
        assert "hyphens: auto" not in body, selector


def test_markdown_recorded_subsections_say_when_nothing_was_recorded() -> None:
    from auditkit.reports import Artifact
    from auditkit.reports._markdown import render_markdown_text

    empty = render_markdown_text(Report(metadata={"title": "T"}))
    for heading, line in (
        ("### Environment", "*No environment was recorded.*"),
        ("### Package versions", "*No package versions were recorded.*"),
        ("### Artifacts", "*No artifacts were recorded.*"),
    ):
        assert f"{heading}\n\n{line}\n" in empty

    full = render_markdown_text(Report(
        metadata={"title": "T"},
        environment={"python": "3.11.7", "packages": {"numpy": "2.0.1"}},
        artifacts=[Artifact("data.csv", "data", "ab" * 32, 12)],
    ))
    assert "### Environment\n\n| Key | Value |\n| --- | --- |\n| python | 3.11.7 |\n" in full
    assert "### Package versions\n\n| Package | Version |\n| --- | --- |\n| numpy | 2.0.1 |\n" in full
    assert (
        "### Artifacts\n\n| Name | Kind | Size (bytes) | SHA-256 | Note |\n"
        "| --- | --- | --- | --- | --- |\n| data.csv | data | 12 | " + "ab" * 32 + " |   |\n"
    ) in full
    assert "No environment was recorded" not in full and "No artifacts" not in full
