"""Renderer registry: one entry per output format.

The registry is the single source of truth for the list of formats: the CLI's ``--format`` help,
config validation and the docs all read :func:`available_formats`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from reports._atomic import atomic_write_bytes
from reports._model import Report

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


_RENDERERS: dict[str, Renderer] = {}


def register_renderer(renderer: Renderer, *, force: bool = False) -> Renderer:
    if renderer.name in _RENDERERS and not force:
        raise ValueError(
            f"A renderer named {renderer.name!r} is already registered; pass force=True to "
            "replace it."
        )
    _RENDERERS[renderer.name] = renderer
    return renderer


def available_formats() -> list[str]:
    return list(_RENDERERS)


def get_renderer(name: str) -> Renderer:
    try:
        return _RENDERERS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_RENDERERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown report format {name!r}.{hint} Expected one of: "
            f"{', '.join(_RENDERERS)}."
        ) from None


def render(report: Report, fmt: str) -> bytes:
    """Render ``report`` in format ``fmt`` and return the bytes."""
    return get_renderer(fmt).load()(report)


def write_reports(
    report: Report, out_dir: str | Path, formats: Iterable[str], *, basename: str = "report"
) -> dict[str, Path]:
    """Render every format first, then write each file atomically.

    Rendering everything before writing anything means a renderer failure leaves no new file.
    """
    out = Path(out_dir)
    rendered: dict[str, tuple[Renderer, bytes]] = {}
    for fmt in formats:
        r = get_renderer(fmt)
        rendered[fmt] = (r, r.load()(report))
    paths: dict[str, Path] = {}
    for fmt, (r, data) in rendered.items():
        paths[fmt] = atomic_write_bytes(out / f"{basename}.{r.extension}", data)
    return paths


register_renderer(
    Renderer("json", "json", "application/json", "reports._json:render_json",
             "Machine-readable, validated against the shipped JSON Schema")
)
register_renderer(
    Renderer("md", "md", "text/markdown", "reports._markdown:render_markdown",
             "Markdown for pull requests and CI summaries")
)
register_renderer(
    Renderer("html", "html", "text/html", "reports._html:render_html",
             "One self-contained HTML file, readable offline")
)
register_renderer(
    Renderer("pdf", "pdf", "application/pdf", "reports._pdf:render_pdf",
             "PDF from the HTML report (WeasyPrint; install auditkit[pdf])")
)
