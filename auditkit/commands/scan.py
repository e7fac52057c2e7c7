"""PII discovery and masking commands.

``auditkit scan DATA`` prints the inventory of personal data per column (entity type, share of
matching values, confidence, free text with embedded entities) as a table or, with ``--json``,
as JSON. ``auditkit mask DATA OUT --policy policy.toml`` applies a masking policy chunk by
chunk, writes ``OUT`` atomically, never over ``DATA``, and prints a summary of what changed.
Nothing printed contains a value from the data: only column names, entity types and counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditkit.commands import _common
from auditkit.commands._keyring import DEFAULT_PASSPHRASE_ENV

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.masking import Inventory, MaskSummary

_INVENTORY_HEADERS = ("column", "entity", "share", "confidence", "free text", "embedded entities",
                      "category")


def _print_json(result: Inventory | MaskSummary) -> None:
    import json

    typer.echo(json.dumps(result.to_dict(), indent=2))


def _print_inventory(inv: Inventory, data: Path) -> None:
    from rich.table import Table

    table = Table(title=f"Personal data in {data.name} ({inv.n_scanned} rows scanned)")
    for h in _INVENTORY_HEADERS:
        table.add_column(h, justify="right" if h in ("share", "confidence") else "left")
    for col, ent, share, conf, free, emb, cat in inv.to_rows():
        table.add_row(str(col), str(ent), f"{share:.2f}", f"{conf:.2f}",
                      "yes" if free else "", str(emb), str(cat))
    con = _common.console()
    con.print(table)
    con.print(
        f"{len(inv.personal_columns)} of {len(inv)} columns hold personal data; "
        f"{len(inv.special_category_columns)} special-category (GDPR Art. 9)."
    )


def scan_command(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file to scan.",
                                         show_default=False)],
    json_out: Annotated[bool, typer.Option("--json", help="Print the inventory as JSON.")] = False,
    sample_rows: Annotated[int, typer.Option(
        "--sample-rows", min=1, help="Rows read from the start of the file.")] = 20_000,
) -> int:
    """Inventory of personal data per column (counts and shares only, never values)."""
    from auditkit.privacy.masking import scan_file

    inv = scan_file(data, sample_rows=sample_rows)
    if json_out:
        _print_json(inv)
    else:
        _print_inventory(inv, data)
    return 0


def _print_mask_summary(summary: MaskSummary, data: Path, out: Path) -> None:
    """The table of what changed per column, unmasked personal columns, k-anonymity before/after."""
    from rich.table import Table

    con = _common.console()
    table = Table(title=f"Masked {summary.n_rows:,} rows of {data.name} -> {out.name}")
    for h in summary.ROW_HEADERS:
        table.add_column(h.replace("_", " "))
    for row in summary.to_rows():
        table.add_row(*[str(v) for v in row])
    con.print(table)
    if summary.unmasked_personal:
        con.print(f"[yellow]Personal columns left unmasked (not in the policy):[/] "
                  f"{', '.join(summary.unmasked_personal)}")
    for label, r in (("before", summary.risk_before), ("after", summary.risk_after)):
        if r is not None:
            con.print(
                f"k-anonymity {label}: k = {r.k_achieved} (target {r.k}); "
                f"{r.records_below_k:,} records in classes below k; "
                f"{r.unique_records:,} unique records"
                + (f"; l = {r.l_achieved}" if r.l_achieved is not None else "")
            )


def mask_command(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file to mask.",
                                         show_default=False)],
    out: Annotated[Path, typer.Argument(help="Output file (.csv or .parquet); never DATA.",
                                        show_default=False)],
    policy: Annotated[Path, typer.Option("--policy", "-p", help="Masking policy (TOML).",
                                         show_default=False)],
    keyring: Annotated[Path | None, typer.Option(
        "--keyring", "-k", help="Key ring for pseudonymize/tokenize (default: the policy's "
        "key_ring).", show_default=False)] = None,
    passphrase_env: Annotated[str, typer.Option(
        "--passphrase-env", help="Environment variable holding the key ring's passphrase "
        "(or key-encryption key).")] = DEFAULT_PASSPHRASE_ENV,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1,
                                            help="Rows per chunk.")] = 100_000,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace OUT if it exists (never DATA).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
    = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress",
                                           help="Show rows done on stderr.")] = True,
) -> int:
    """Apply a masking policy to a file, chunk by chunk; print what changed."""
    from auditkit.privacy.masking import load_policy, mask_file

    _common.sweep_leftovers(out)  # what a killed earlier `mask` left behind
    pol = load_policy(policy)  # validated before any data is read
    ring = None
    if keyring is not None:
        from auditkit.privacy.crypto import KeyRing

        ring = KeyRing.load_from_env(keyring, passphrase_env)
    err = _common.err_console()

    def tick(rows: int) -> None:
        if progress:
            err.print(f"masked {rows:,} rows", highlight=False)

    summary = mask_file(data, out, pol, key_ring=ring, chunk_rows=chunk_rows,
                        overwrite=overwrite, progress=tick)
    if json_out:
        _print_json(summary)
    else:
        _print_mask_summary(summary, data, out)
    return 0


def register(app: typer.Typer) -> None:
    """Add ``scan`` and ``mask`` to ``app``."""
    app.command("scan")(scan_command)
    app.command("mask")(mask_command)
