"""HTML and Markdown renderers on a hand-built report with every status and hostile text.

The hostile strings (``<script>``, ``{{ x }}``, ``| --- |``, backticks, newlines, bidi overrides,
very long values) must come out inert: no element, attribute, link or request they could create,
and still readable as the literal text.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from auditkit.reports import Finding, Report, Section, Status, Table
from auditkit.reports._html import render_html
from auditkit.reports._markdown import md_cell, md_text, render_markdown
from auditkit.reports._svg import sanitize_svg
from auditkit.reports._view import NOT_LEGAL_ADVICE
from auditkit.reports.catalogue import ALLOWED_HOSTS

from .conftest import HOSTILE, HOSTILE_SVG


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        self.tags.append((tag, d))
        if "id" in d:
            self.ids.append(d["id"])

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    c.close()
    return c


def test_html_hostile_content_is_inert(hostile_report: Report) -> None:
    html = render_html(hostile_report).decode("utf-8")
    doc = _parse(html)
    tags = [t for t, _ in doc.tags]
    assert "script" not in tags
    assert "img" not in tags
    assert "iframe" not in tags and "foreignobject" not in tags and "object" not in tags
    assert "link" not in tags  # no external stylesheet
    for tag, attrs in doc.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "xlink:href", "src"):
                assert value is not None
                if value.startswith("#"):
                    continue
                parts = urlsplit(value)
                assert parts.scheme == "https" and parts.hostname in ALLOWED_HOSTS, (tag, value)
    text = "".join(doc.text)
    # The hostile strings are still there, as text.
    assert "<script>alert(1)</script>" in text
    assert "{{ x }}" in text and "{% raw %}" in text and "| --- |" in text
    assert "\\u202e" in text and "\\u0000" in text  # invisible characters made visible
    assert "\u202e" not in html and "\x00" not in html
    assert "truncated; 5,000 characters in all" in text
    assert "x" * 5000 not in html
    # ids are unique (anchors work)
    assert len(doc.ids) == len(set(doc.ids))


def test_html_structure(hostile_report: Report) -> None:
    html = render_html(hostile_report).decode("utf-8")
    doc = _parse(html)
    ids = set(doc.ids)
    for anchor in (
        "cover",
        "summary",
        "scope",
        "regulation-index",
        "limitations",
        "appendix",
        "fingerprints",
        "appendix-config",
        "appendix-packages",
        "appendix-artifacts",
    ):
        assert anchor in ids, anchor
    for s in hostile_report.sections:
        assert f"section-{s.id.replace('_', '-')}" in ids
    text = " ".join("".join(doc.text).split())
    assert " ".join(NOT_LEGAL_ADVICE.split()) in text
    for status in Status:
        assert status.label in text
    # every finding, its check id, severity and remediation
    for f in hostile_report.findings:
        assert f.check_id in text
    assert "severity: high" in text
    # regulation references: citation, our title, link; unknown ids flagged
    assert "29 CFR §1607.4(D)" in text
    assert 'href="https://www.ecfr.gov/current/title-29/section-1607.4"' in html
    assert "not in the regulation catalogue" in text
    # fingerprints from artifacts on the cover
    assert "a" * 64 in text and "b" * 64 in text and "c" * 64 in text
    # self-contained: inline CSS, CSP forbidding every fetch, print stylesheet
    assert "default-src 'none'" in html and "@media print" in html
    # the matplotlib figure is inline SVG; the hostile one is stripped to drawing
    assert html.count("<svg") == 2
    assert "evil.example" not in html and "javascript:" not in html.split("<main>")[1].replace(
        "[link](javascript:alert(3))", ""
    )


def test_svg_sanitizer_keeps_drawing_and_drops_the_rest() -> None:
    out = sanitize_svg(HOSTILE_SVG, "f1")
    assert out is not None
    for bad in (
        "script",
        "onload",
        "evil.example",
        "javascript",
        "foreignObject",
        "@import",
        "style",
    ):
        assert bad not in out
    assert 'id="f1-ok"' in out
    assert sanitize_svg("<html>not svg</html>", "f") is None
    assert sanitize_svg("<svg", "f") is None
    entity = '<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>'
    assert sanitize_svg(entity, "f") is None


def test_svg_ids_are_prefixed_and_references_follow() -> None:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<defs><clipPath id="c1"><rect width="5" height="5"/></clipPath><path id="g" d="M0 0"/></defs>'
        '<use xlink:href="#g"/><rect clip-path="url(#c1)" width="9" height="9"/></svg>'
    )
    out = sanitize_svg(svg, "fig7")
    assert 'id="fig7-c1"' in out and "url(#fig7-c1)" in out and '"#fig7-g"' in out


def _md_html(md: str) -> str:
    return (
        MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").render(md)
    )


def test_markdown_hostile_content_is_inert(hostile_report: Report) -> None:
    md = render_markdown(hostile_report).decode("utf-8")
    html = _md_html(md)
    doc = _parse(html)
    allowed = {
        "h1",
        "h2",
        "h3",
        "p",
        "strong",
        "em",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "ul",
        "li",
        "a",
        "code",
        "pre",
        "blockquote",
        "br",
        "sub",
    }
    assert {t for t, _ in doc.tags} <= allowed, {t for t, _ in doc.tags} - allowed
    for tag, attrs in doc.tags:
        if tag == "a":
            parts = urlsplit(attrs["href"] or "")
            assert parts.scheme == "https" and parts.hostname in ALLOWED_HOSTS, attrs
    text = "".join(doc.text)
    assert "<script>alert(1)</script>" in text
    assert "{{ x }}" in text and "| --- |" in text and "[link](javascript:alert(3))" in text
    assert "**bold** _it_" in text and "~~strike~~" in text and "$x$" in text
    assert "\u202e" not in md and "\x00" not in md
    assert "x" * 200 not in md
    # a mention cannot ping
    assert "@everyone" not in md


def test_markdown_tables_keep_their_shape(hostile_report: Report) -> None:
    md = render_markdown(hostile_report).decode("utf-8")
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    # every table row has exactly as many cells as its header
    widths: list[int] = []
    row: int | None = None
    header: int | None = None
    for tok in tokens:
        if tok.type == "table_open":
            header = None
        elif tok.type == "tr_open":
            row = 0
        elif tok.type in ("th_open", "td_open"):
            row += 1
        elif tok.type == "tr_close":
            if header is None:
                header = row
            else:
                widths.append(row - header)
    assert widths and set(widths) == {0}
    # the evidence table with hostile cells is one table of 7 body rows
    assert md.count("| --- | --- | --- | --- |") >= 2


def test_markdown_structure(hostile_report: Report) -> None:
    md = render_markdown(hostile_report).decode("utf-8")
    for heading in (
        "## Executive summary",
        "## Scope and method",
        "## Regulation index",
        "## Limitations",
        "## Appendix",
        "### Configuration",
        "### Package versions",
        "### Artifacts",
    ):
        assert heading in md
    assert NOT_LEGAL_ADVICE in md
    for f in hostile_report.findings:
        assert f"`{f.check_id}`" in md
    assert "[29 CFR §1607.4(D)](https://www.ecfr.gov/current/title-29/section-1607.4)" in md
    assert "not in the regulation catalogue" in md


def test_markdown_code_fence_cannot_be_closed_by_content() -> None:
    report = Report(metadata={"title": "t"}, config={"x": "````` ``` ~~~"})
    md = render_markdown(report).decode("utf-8")
    html = _md_html(md)
    assert "<pre><code" in html and "````` ``` ~~~" in html


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_helpers_make_each_hostile_string_inert(value: str) -> None:
    cell = md_cell(value)
    assert "\n" not in cell
    assert "|" not in cell.replace("\\|", "")
    html = _md_html(f"| h |\n| --- |\n| {cell} |\n\n{md_text(value)}\n")
    tags = {t for t, _ in _parse(html).tags}
    assert tags <= {"table", "thead", "tbody", "tr", "th", "td", "p", "br"}


def test_every_status_and_empty_report_render() -> None:
    findings = [Finding(f"x.{s.value}", s.label, s) for s in Status]
    report = Report(
        metadata={},
        sections=[
            Section("dataset", "Dataset", findings=findings),
            Section("security", "Security"),
        ],
    )
    html = render_html(report).decode()
    md = render_markdown(report).decode()
    for s in Status:
        assert f"st-{s.value}" in html and s.label in md
    empty = Report(metadata={})
    assert b"No finding cites a provision" in render_html(empty)
    assert b"No finding cites a provision" in render_markdown(empty)


def test_table_values_are_formatted() -> None:
    t = Table("t", ["a", "b", "c", "d"], [[0.123456789, 12345678, None, True]])
    report = Report(
        metadata={},
        sections=[
            Section("dataset", "D", findings=[Finding("d.x", "x", Status.PASS, tables=(t,))])
        ],
    )
    md = render_markdown(report).decode()
    assert "| 0.1235 | 12,345,678 | — | yes |" in md


# -- property tests: any text stays one inert cell -------------------------------------------

_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("|`<>&*_[]()#!\\~$@{}%-+=.:\n\r\t \"'")),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=200,
)


@settings(max_examples=150, deadline=None)
@given(_TEXT, _TEXT)
def test_markdown_cell_never_breaks_the_table(a: str, b: str) -> None:
    md = f"| h1 | h2 |\n| --- | --- |\n| {md_cell(a)} | {md_cell(b)} |\n"
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    cells = [t.type for t in tokens if t.type in ("th_open", "td_open")]
    assert cells == ["th_open", "th_open", "td_open", "td_open"]
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    tags = {t for t, _ in _parse(html).tags}
    assert tags <= {"table", "thead", "tbody", "tr", "th", "td", "br"}


@settings(max_examples=100, deadline=None)
@given(_TEXT)
def test_html_cell_text_round_trips(value: str) -> None:
    from auditkit.reports._view import clean_text

    report = Report(
        metadata={"title": "t"},
        sections=[Section("dataset", "D", tables=(Table("t", ["c"], [[value]]),))],
    )
    html = render_html(report).decode("utf-8")
    doc = _parse(html)
    assert "script" not in {t for t, _ in doc.tags}
    expected = " ".join(clean_text(value).split())
    assert expected in " ".join("".join(doc.text).split())


def test_compact_markdown_summary(hostile_report: Report) -> None:
    from auditkit.reports import render_markdown_summary

    full = render_markdown(hostile_report).decode()
    short = render_markdown_summary(hostile_report).decode()
    assert len(short) < len(full)
    assert "## Executive summary" in short and "## Regulation index" in short
    assert "### Configuration" not in short and "in the full reports" in short
    assert NOT_LEGAL_ADVICE in short
    tags = {t for t, _ in _parse(_md_html(short)).tags}
    assert "script" not in tags and "img" not in tags


@pytest.mark.slow
def test_demo_markdown_summary_fits_a_pull_request_comment(demo_run) -> None:
    import json

    from auditkit.reports import render_markdown_summary

    doc = json.loads((demo_run / "report" / "report.json").read_text())
    summary = render_markdown_summary(Report.from_dict(doc)).decode()
    assert len(summary) < 65_536  # GitHub's limit for a comment body
