"""The one-screen summary printed after an audit."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

_STYLE = {
    "pass": "green",
    "warn": "yellow",
    "fail": "bold red",
    "insufficient_evidence": "magenta",
    "error": "red",
    "not_applicable": "dim",
}


def status_text(status: str) -> str:
    return f"[{_STYLE.get(status, '')}]{status.replace('_', ' ')}[/]"


def print_summary(run: Any, console: Console, *, max_findings: int = 12) -> None:
    """Sections with their status and counts, the findings that need attention, the files."""
    from rich.markup import escape

    report = run.report
    table = Table(title=f"{escape(str(report.metadata.get('title', 'Audit')))}", title_justify="left")
    table.add_column("Section")
    table.add_column("Status")
    for st in ("pass", "warn", "fail", "insufficient_evidence", "error"):
        table.add_column(st.replace("_", " ").replace("insufficient evidence", "insuff."), justify="right")
    for section in report.areas:
        counts = {s: 0 for s in _STYLE}
        for f in section.findings:
            counts[f.status.value] += 1
        table.add_row(
            escape(section.title),
            status_text(section.status.value),
            *(str(counts[s]) for s in ("pass", "warn", "fail", "insufficient_evidence", "error")),
        )
    console.print(table)
    attention = [f for f in report.findings if f.status.value in ("fail", "error", "warn")]
    order = {"fail": 0, "error": 1, "warn": 2}
    attention.sort(key=lambda f: order[f.status.value])
    if attention:
        console.print("Needs attention:")
        for f in attention[:max_findings]:
            console.print(f"  {status_text(f.status.value)}  {escape(f.title)}  [dim]({escape(f.check_id)})[/]")
        if len(attention) > max_findings:
            console.print(f"  ... and {len(attention) - max_findings} more in the report")
    console.print(f"Overall: {status_text(report.status.value)}  ({run.seconds:.1f} s)")
    for fmt, path in run.paths.items():
        console.print(f"  {fmt:5s} {escape(str(path))}")
