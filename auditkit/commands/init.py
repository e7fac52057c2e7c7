"""``auditkit init DATA_FILE``: write a commented audit.toml for a dataset (never prompts)."""

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
        fmt: str = typer.Option("auto", "--format", help="csv or parquet (default: from the name, else the contents)."),
        header: bool | None = typer.Option(None, "--header/--no-header", help="Whether the CSV's first row names the columns (default: detected; a guess is marked)."),
        domain: str | None = typer.Option(None, "--domain", help="What the model decides about: credit, employment, housing, insurance, healthcare, education, criminal_justice or general (default: a marked guess from the column names)."),
        jurisdictions: str | None = typer.Option(None, "--jurisdictions", help="Where the model is used, comma-separated: EU, UK, US, US-CA, US-CO, US-NYC (default: a marked guess, EU,US)."),
    ) -> int:
        """Write a commented audit.toml listing the columns, with guessed roles marked '# guess:'."""
        from auditkit._init_config import write_config

        where = [j.strip() for j in jurisdictions.split(",") if j.strip()] if jurisdictions else None
        result = write_config(data_file, out, force=force, fmt=fmt, header=header, domain=domain,
                              jurisdictions=where)
        con = _common.console()
        err = _common.err_console()
        for line in result.warnings:
            err.print(f"[yellow]warning[/]: {_common.escape(line)}")
        con.print(f"Wrote {result.path}. Check the lines marked '# guess:', then run: "
                  f"auditkit run {result.path}", soft_wrap=True)
        return 0
