"""Renderer registry: one entry per output format.

The registry is the single source of truth for the list of formats: the CLI's ``--format`` help,
config validation and the docs all read :func:`available_formats`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from auditkit.atomic import atomic_write_bytes
from auditkit.registry import Registry
from auditkit.reports._model import Report
from auditkit.reports.errors import ReportInputError

__all__ = [
    "Renderer",
    "available_formats",
    "get_renderer",
    "register_renderer",
    "render",
    "write_reports",
]


@dataclass(frozen=True)
class Renderer:
    """An output format.

    ``render`` is given as ``"module:function"`` so that heavy renderers (PDF imports
    WeasyPrint) load only when used.
    """

    name: str
    extension: str
    media_type: str
    render: str  # "module:function" taking a Report and returning bytes
    description: str = ""

    def load(self) -> Callable[[Report], bytes]:
        module, _, func = self.render.partition(":")
        return getattr(importlib.import_module(module), func)


_RENDERERS: Registry[Renderer] = Registry("report format", ReportInputError)


def register_renderer(renderer: Renderer, *, force: bool = False) -> Renderer:
    """Add an output format; refuses to replace an existing name unless ``force=True``."""
    return _RENDERERS.add(renderer.name, renderer, force=force)


def available_formats() -> list[str]:
    return list(_RENDERERS)


def get_renderer(name: str) -> Renderer:
    """The format registered as ``name``; an unknown name raises
    :class:`~auditkit.reports.errors.ReportInputError` with the known ones and the closest."""
    return _RENDERERS.lookup(name)


def render(report: Report, fmt: str) -> bytes:
    """Render ``report`` in format ``fmt`` and return the bytes."""
    return get_renderer(fmt).load()(report)


def write_reports(
    report: Report,
    out_dir: str | Path,
    formats: Iterable[str],
    *,
    basename: str = "report",
    check: Callable[[Report], None] | None = None,
) -> dict[str, Path]:
    """Check the report, render every format, then write each file atomically.

    Parameters
    ----------
    report
        The findings model to render.
    out_dir
        An existing directory the files go to, as ``<basename>.<extension>``.
    formats
        Format names from :func:`available_formats`.
    basename
        The file name without extension.
    check
        Called as ``check(report)`` before anything is rendered or written. It refuses the
        report by raising; the exception propagates and nothing is written. Every format is
        rendered from this one model, so a check of the model covers all of them (the PDF
        included). The runner passes its personal-data guard here.

    Returns
    -------
    dict
        Format name to the path written.

    Notes
    -----
    Rendering everything before writing anything means a failing renderer leaves no new file;
    each file is written with :func:`auditkit.atomic.atomic_write_bytes`, so none is ever seen
    half-written.
    """
    if check is not None:
        check(report)
    out = Path(out_dir)
    rendered: dict[str, tuple[Renderer, bytes]] = {}
    for fmt in formats:
        r = get_renderer(fmt)
        rendered[fmt] = (r, r.load()(report))
    return {
        fmt: atomic_write_bytes(out / f"{basename}.{r.extension}", data)
        for fmt, (r, data) in rendered.items()
    }


#: The formats auditkit ships, in the order ``available_formats`` lists them.
_BUILTIN_RENDERERS = (
    Renderer("json", "json", "application/json", "auditkit.reports._json:render_json",
             "Machine-readable, validated against the shipped JSON Schema"),
    Renderer("md", "md", "text/markdown", "auditkit.reports._markdown:render_markdown",
             "Markdown for pull requests and CI summaries"),
    Renderer("html", "html", "text/html", "auditkit.reports._html:render_html",
             "One self-contained HTML file, readable offline"),
    Renderer("pdf", "pdf", "application/pdf", "auditkit.reports._pdf:render_pdf",
             "PDF from the HTML report (WeasyPrint; install auditkit-rai[pdf])"),
)
for _renderer in _BUILTIN_RENDERERS:
    register_renderer(_renderer)
