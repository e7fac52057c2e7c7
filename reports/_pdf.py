"""The PDF renderer: the HTML report printed by WeasyPrint.

The PDF is the HTML report laid out with its print stylesheet (A4, page numbers, one area per
page), so both always say the same thing. WeasyPrint is imported only here, when a PDF is asked
for. Its URL fetcher is replaced by one that refuses everything except inline ``data:`` URLs: a
report never triggers a network request, even from a hostile value.
"""

from __future__ import annotations

from typing import Any

from auditkit.reports._html import render_html_text
from auditkit.reports._model import Report
from auditkit.reports.catalogue import Catalogue
from auditkit.reports.errors import ReportError, ReportInputError

__all__ = ["render_pdf"]


def _refuse(url: Any) -> None:
    """Refuse to fetch ``url``; the message names its scheme only, never the address."""
    scheme = url.partition(":")[0] if isinstance(url, str) else ""
    shown = f"a {scheme[:16]!r} URL" if scheme.isalnum() else "a URL that is not inline data"
    raise ReportInputError(
        f"The PDF report asked WeasyPrint to fetch {shown}; auditkit reports load nothing from "
        "outside the file, only inline 'data:' URLs. Embed the resource in the report instead."
    )


def _offline_fetcher(url: Any, *args: Any, **kwargs: Any) -> Any:
    """WeasyPrint < 70 style fetcher: only inline ``data:`` URLs."""
    if not (isinstance(url, str) and url.startswith("data:")):
        _refuse(url)
    from weasyprint.urls import default_url_fetcher

    return default_url_fetcher(url, *args, **kwargs)


def _make_fetcher() -> Any:
    """A URL fetcher that refuses everything except inline ``data:`` URLs."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # pragma: no cover - WeasyPrint < 70
        return _offline_fetcher

    class OfflineFetcher(URLFetcher):
        def __init__(self) -> None:
            super().__init__(timeout=1, allowed_protocols=("data",), allow_redirects=False)

        def fetch(self, url: Any, headers: Any = None) -> Any:
            if not (isinstance(url, str) and url.startswith("data:")):
                _refuse(url)
            return super().fetch(url, headers)

    return OfflineFetcher()


def render_pdf(report: Report, *, catalogue: Catalogue | None = None) -> bytes:
    """Render ``report`` as PDF bytes (requires the ``pdf`` extra: WeasyPrint)."""
    try:
        import weasyprint
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ReportError(
            "PDF output needs WeasyPrint and its system libraries (Pango). Install them with "
            "`pip install 'auditkit-rai[pdf]'`, or drop 'pdf' from the report formats. "
            f"({exc})"
        ) from None
    import logging

    html = render_html_text(report, catalogue=catalogue, inline_svg=False)
    # WeasyPrint logs every unsupported CSS property at WARNING; the report's CSS targets
    # browsers too, so keep those out of the user's terminal.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    doc = weasyprint.HTML(string=html, url_fetcher=_make_fetcher(), base_url="about:blank")
    return doc.write_pdf(
        pdf_identifier=b"auditkit-report",
        uncompressed_pdf=False,
    )
