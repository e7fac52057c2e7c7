"""The HTML renderer: one self-contained file, readable offline, printable.

Everything is inline (CSS, SVG figures); the page loads nothing and runs no script, and a
Content-Security-Policy meta tag forbids both, so a hostile value that slipped through escaping
still could not fetch or execute anything. Text from the report is escaped by Jinja2's
autoescape and never evaluated as a template, so ``{{ x }}`` in a column name stays literal.
Figures' SVG is sanitised by :func:`auditkit.reports._svg.sanitize_svg` before it is inlined.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from auditkit.reports._model import Report, Status
from auditkit.reports._svg import sanitize_svg
from auditkit.reports._view import build_view, clean_text, format_scalar, truncate
from auditkit.reports.catalogue import Catalogue

__all__ = ["CELL_LIMIT", "TEXT_LIMIT", "render_html", "render_html_text"]

TEMPLATES = Path(__file__).parent / "templates"

#: Longest table cell shown in full; longer values are cut and their length stated.
CELL_LIMIT = 500
#: Longest free-text field (summary, remediation) shown in full.
TEXT_LIMIT = 20_000

STATUS_ICONS = {
    Status.PASS: "✓",
    Status.WARN: "!",
    Status.FAIL: "✗",
    Status.INSUFFICIENT_EVIDENCE: "?",
    Status.ERROR: "‼",
    Status.NOT_APPLICABLE: "–",
}


def _text(value: Any, limit: int = TEXT_LIMIT) -> Markup:
    """Escaped text; line breaks become <br>."""
    s = truncate(clean_text(value), limit)
    return Markup("<br>\n").join(escape(line) for line in s.split("\n"))


def _cell(value: Any) -> Markup:
    if value is None or isinstance(value, (bool, int, float)):
        return escape(format_scalar(value))
    return _text(value, CELL_LIMIT)


def _one_line(value: Any, limit: int = CELL_LIMIT) -> str:
    return truncate(clean_text(value, keep_newlines=False), limit)


_HEAD_BREAK = re.compile(r"(?<=[_/])(?=\w)")


def _head(value: Any) -> Markup:
    """A column header on one line, escaped, with a break opportunity (``<wbr>``) after each
    ``_`` and ``/`` so that ``false_positive_rate`` wraps between its words, never inside one."""
    parts = _HEAD_BREAK.split(_one_line(value))
    return Markup("<wbr>").join(escape(p) for p in parts)


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["text"] = _text
    env.filters["cell"] = _cell
    env.filters["line"] = _one_line
    env.filters["head"] = _head
    env.filters["num"] = format_scalar
    env.filters["pre"] = lambda value: escape(clean_text(value))
    env.globals["icon"] = STATUS_ICONS.get
    return env


def render_html_text(
    report: Report, *, catalogue: Catalogue | None = None, inline_svg: bool = True
) -> str:
    """The report as an HTML document (a ``str``).

    ``inline_svg=False`` embeds each (sanitised) figure as a ``data:image/svg+xml`` image
    instead of inline markup: the PDF renderer uses it, because WeasyPrint draws SVG images with
    its dedicated SVG renderer but runs inline SVG through the HTML style cascade, element by
    element, which is many times slower on matplotlib output.
    """
    view = build_view(report, catalogue)
    figures: dict[int, Markup | None] = {}
    counter = 0

    def figure_svg(fig: Any) -> Markup | None:
        nonlocal counter
        key = id(fig)
        if key not in figures:
            counter += 1
            clean = sanitize_svg(fig.svg, f"fig{counter}")
            if clean is None:
                figures[key] = None
            elif inline_svg:
                figures[key] = Markup(clean)
            else:
                b64 = base64.b64encode(clean.encode("utf-8")).decode("ascii")
                alt = escape(_one_line(fig.alt or fig.title))
                figures[key] = Markup(f'<img src="data:image/svg+xml;base64,{b64}" alt="{alt}">')
        return figures[key]

    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return (
        _env()
        .get_template("report.html.j2")
        .render(v=view, css=Markup(css), figure_svg=figure_svg, Status=Status)
    )


def render_html(report: Report, *, catalogue: Catalogue | None = None) -> bytes:
    """Render ``report`` as one self-contained HTML file (UTF-8 bytes)."""
    return render_html_text(report, catalogue=catalogue).encode("utf-8")
