"""``auditkit run AUDIT.toml``: run the audit a config describes and write its reports."""

from __future__ import annotations

from pathlib import Path

import typer

from auditkit.commands import _common
from auditkit.commands._comma_list import parse_list


def _formats_help() -> str:
    from auditkit.reports import available_formats

    return f"Comma-separated report formats ({', '.join(available_formats())}); default: [report] formats."


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_command(
        config: Path = typer.Argument(..., help="The audit.toml describing the audit.", show_default=False),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output directory; default: [report] out next to the config."),
        format: str | None = typer.Option(None, "--format", "-f", help=_formats_help()),
        only: str | None = typer.Option(None, "--only", help="Comma-separated check ids to run (default: every enabled check)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars and no summary."),
    ) -> int:
        """Run every check the config enables and write the reports.

        Exit status: 0 every finding passed or warned, 1 a finding failed, 2 refused before any
        check ran (bad input), 3 incomplete (a check errored; the report marks it).
        """
        from auditkit.commands._summary import print_summary
        from auditkit.runner import run_audit

        with _common.progress_tracker(not quiet) as track:
            result = run_audit(
                config, out_dir=out, formats=parse_list(format), only=parse_list(only),
                track=track, debug=_common.state.debug,
            )
        if not quiet:
            print_summary(result, _common.console())
        return result.exit_code
