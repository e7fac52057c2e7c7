"""``auditkit init DATA_FILE``: write a commented audit.toml for a dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from auditkit.commands import _common


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init_command(
        data_file: Path = typer.Argument(..., help="CSV or Parquet file to audit.", show_default=False),
        out: Path | None = typer.Option(None, "--out", "-o", help="Where to write the config (default: audit.toml next to the data)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing config file."),
    ) -> int:
        """Write a commented audit.toml listing the columns, with guessed roles marked as guesses."""
        from auditkit._init_config import write_config

        path = write_config(data_file, out, force=force)
        con = _common.console()
        con.print(f"Wrote {path}. Check the lines marked 'guess', then run: auditkit run {path}")
        return 0
