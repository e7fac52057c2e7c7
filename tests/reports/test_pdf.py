"""The PDF: produced from the HTML by WeasyPrint, every section heading in its text, pages
render to PNG."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("weasyprint", reason="PDF output needs the 'pdf' extra (WeasyPrint)")
pypdf = pytest.importorskip("pypdf", reason="the PDF text check needs pypdf")

from auditkit.reports._pdf import render_pdf  # noqa: E402
from auditkit.reports._render import get_renderer  # noqa: E402

from .conftest import build_report  # noqa: E402


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
