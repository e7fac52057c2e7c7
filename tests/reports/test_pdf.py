"""The PDF: produced from the HTML by WeasyPrint, every section heading in its text, pages
render to PNG."""

from __future__ import annotations

import io
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pypdf
import pytest
import weasyprint  # noqa: F401 - the test command installs it: missing, the run fails (never skips)

from auditkit.reports._pdf import render_pdf
from auditkit.reports._render import get_renderer

from .conftest import build_report


def _norm(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def pdf_bytes() -> bytes:
    return render_pdf(build_report(hostile=True))


def test_pdf_is_registered_and_produced(pdf_bytes: bytes) -> None:
    assert get_renderer("pdf").extension == "pdf"
    assert pdf_bytes.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(pdf_bytes))
    assert len(reader.pages) >= 5


def test_pdf_text_contains_every_section_heading(pdf_bytes: bytes) -> None:
    report = build_report(hostile=True)
    reader = pypdf.PdfReader(io.BytesIO(pdf_bytes))
    text = _norm(" ".join(page.extract_text() or "" for page in reader.pages))
    headings = [
        report.metadata["title"],
        "Contents",
        "Executive summary",
        "Scope and method",
        "Regulation index",
        "Limitations",
        "Appendix",
        "Configuration",
        "Environment",
        "Package versions",
        "Artifacts",
    ]
    headings += [s.title for s in report.sections]
    headings += [f.title for f in report.findings]
    for h in headings:
        assert _norm(h) in text, h
    assert "not legal advice" in text
    assert "29 CFR §1607.4(D)" in text


def test_pdf_pages_render_to_png(pdf_bytes: bytes, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian package poppler-utils) is not installed")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(pdf_bytes)
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120
    )
    pngs = sorted(tmp_path.glob("page-*.png"))
    n_pages = len(pypdf.PdfReader(io.BytesIO(pdf_bytes)).pages)
    assert len(pngs) == n_pages
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000


def test_pdf_makes_no_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditkit.reports import Figure, Finding, Report, Section, Status, _pdf

    from .conftest import HOSTILE_SVG

    seen: list[str] = []
    make = _pdf._make_fetcher

    def spying_fetcher():
        inner = make()

        class Spy(type(inner)):
            def fetch(self, url, headers=None):
                seen.append(url)
                return inner.fetch(url, headers)

        return Spy()

    monkeypatch.setattr(_pdf, "_make_fetcher", spying_fetcher)
    fig = Figure("hostile", HOSTILE_SVG)
    report = Report(
        metadata={"title": "t"},
        sections=[
            Section("fairness", "F", findings=[Finding("f.x", "x", Status.PASS, figures=(fig,))])
        ],
    )
    assert render_pdf(report).startswith(b"%PDF")
    assert seen and all(str(u).startswith("data:") for u in seen), seen
    fetcher = make()
    for url in ("https://evil.example/x.png", "file:///etc/passwd", None):
        with pytest.raises(ValueError):
            fetcher.fetch(url)


# -- the demo's PDF: fit for filing ------------------------------------------------------------
#: Most A4 pages the demo's report may take: 25 (issue 13), plus the accountability section
#: (audit trail and access, issue 16), which takes about one page.
MAX_DEMO_PAGES = 26
_HEADINGS = {"h1", "h2", "h3", "h4"}


def _layout(html: str):
    """The WeasyPrint layout of ``html`` (pages of boxes), fetching nothing."""
    import logging

    from auditkit.reports._pdf import _make_fetcher

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return weasyprint.HTML(string=html, url_fetcher=_make_fetcher(), base_url="about:blank").render()


def _flow(page):
    """The block and line boxes of a page's content (margin boxes left out), in order."""
    from weasyprint.formatting_structure import boxes

    for child in page._page_box.children:
        if isinstance(child, boxes.MarginBox):
            continue
        for box in child.descendants():
            if isinstance(box, (boxes.BlockLevelBox, boxes.LineBox)):
                yield box


def orphan_headings(document) -> list[tuple[int, str]]:
    """(page, heading text) of every heading with no line of content after it on its page."""
    from weasyprint.formatting_structure import boxes

    found = []
    for number, page in enumerate(document.pages, 1):
        seq = list(_flow(page))
        heads = [i for i, b in enumerate(seq) if isinstance(b, boxes.BlockLevelBox)
                 and getattr(b, "element_tag", None) in _HEADINGS]
        if not heads:
            continue
        head = seq[heads[-1]]
        inside = {id(b) for b in head.descendants()}
        if not any(isinstance(b, boxes.LineBox) and id(b) not in inside
                   for b in seq[heads[-1] + 1:]):
            found.append((number, _text(head)))
    return found


def _text(box) -> str:
    from weasyprint.formatting_structure import boxes

    return "".join(b.text for b in box.descendants() if isinstance(b, boxes.TextBox))


def broken_header_words(document) -> list[str]:
    """Header cells whose text wraps anywhere but at a space or after '_', '/' or '-'."""
    from weasyprint.formatting_structure import boxes

    bad = []
    for page in document.pages:
        for box in page._page_box.descendants():
            if getattr(box, "element_tag", None) != "th" or not isinstance(
                    box, boxes.TableCellBox):
                continue
            lines = [_text(b) for b in box.descendants() if isinstance(b, boxes.LineBox)]
            lines = [line.replace("\u200b", "") for line in lines]  # <wbr> lays out as U+200B
            lines = [line for line in lines if line.strip()]
            source = " ".join("".join(box.element.itertext()).split())  # the header as written
            for a, b in itertools.pairwise(lines):
                if a.endswith(("_", "/", "-")):
                    continue  # after '_' or '/' (the <wbr>) or a hyphen: between two words
                # otherwise the break must stand where the header has a space
                if f"{a.rstrip()} {b.lstrip()}"[: len(a.rstrip()) + 2] not in source:
                    bad.append(" | ".join(lines))
    return bad


def test_orphan_detector_finds_a_forced_orphan() -> None:
    """The detector can fail: a heading forced to a page foot is reported, a kept one is not."""
    tail = "<p>" + "text " * 40 + "</p>"
    kept = _layout(f"<h2>Kept</h2>{tail}")
    forced = _layout(f"<h2>Alone</h2><p style='break-before: page'>x</p>{tail}")
    assert orphan_headings(kept) == []
    assert orphan_headings(forced) == [(1, "Alone")]


def test_header_break_detector_finds_a_word_broken_inside() -> None:
    css = "<style>th{width:2.2em;overflow-wrap:anywhere}</style>"
    broken = _layout(f"{css}<table><tr><th>status</th></tr></table>")
    assert broken_header_words(broken)
    ok = _layout("<style>th{width:4em}</style><table><tr><th>false_<wbr>positive_<wbr>rate</th>"
                 "<th>groups too small to judge</th></tr></table>")
    assert broken_header_words(ok) == []


@pytest.fixture(scope="module")
def demo_pdf(demo_run: Path) -> tuple[Any, bytes]:
    """The demo's report (from its JSON) laid out and printed as the PDF renderer does."""
    from auditkit.reports import Report
    from auditkit.reports._html import render_html_text

    report = Report.from_dict(json.loads((demo_run / "report" / "report.json").read_text()))
    return _layout(render_html_text(report, inline_svg=False)), render_pdf(report)


def test_demo_pdf_fits_for_filing(demo_pdf) -> None:
    document, data = demo_pdf
    reader = pypdf.PdfReader(io.BytesIO(data))
    n = len(reader.pages)
    assert n == len(document.pages)
    assert n <= MAX_DEMO_PAGES, f"the demo's PDF takes {n} pages (at most {MAX_DEMO_PAGES})"
    assert orphan_headings(document) == []
    assert broken_header_words(document) == []


def test_demo_pdf_contents_and_footer_give_pages(demo_pdf) -> None:
    _, data = demo_pdf
    pages = [_norm(p.extract_text() or "") for p in pypdf.PdfReader(io.BytesIO(data)).pages]
    n = len(pages)
    for i, text in enumerate(pages, 1):
        assert f"Page {i} of {n}" in text, i
    entries = {}
    for title in ("Executive summary", "Scope and method",
                  "Data protection impact assessment (GDPR Art. 35(7))", "Model card",
                  "Regulation index", "Limitations", "Appendix"):
        m = re.search(re.escape(title) + r" ?\.{4,} ?(\d+)", pages[0])
        assert m, f"no page number for {title!r} in the contents"
        entries[title] = int(m.group(1))
    assert list(entries.values()) == sorted(entries.values())
    for title, page in entries.items():
        # the section starts on the page the contents give, and the footer names it there
        assert 1 <= page <= n and title in pages[page - 1], (title, page)
    summary_page = entries["Executive summary"]
    assert pages[summary_page - 1].rstrip().endswith(
        f"Executive summary Page {summary_page} of {n}")
