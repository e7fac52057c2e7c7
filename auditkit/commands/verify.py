"""``auditkit verify REPORT_DIR [--public-key FILE]``: check a signed report directory.

Exit status: 0 when the signature is valid and every file matches; 1 naming each file that was
altered, added or removed; 2 for usage errors (no such directory, unreadable key).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from auditkit.commands import _common


def register(app: typer.Typer) -> None:
    @app.command("verify")
    def verify_command(
        report_dir: Annotated[
            Path,
            typer.Argument(
                help="Report directory holding manifest.json and manifest.sig.",
                show_default=False,
            ),
        ],
        public_key: Annotated[
            Path | None,
            typer.Option(
                "--public-key",
                "-k",
                help="The signer's public key (PEM, base64 or raw). Without it the key inside "
                "the manifest is used, which proves integrity but not who signed.",
            ),
        ] = None,
        skip_inputs: Annotated[
            bool,
            typer.Option("--skip-inputs", help="Do not re-hash the data, model and config files."),
        ] = False,
    ) -> int:
        """Check a signed report: exit 0 when everything matches, 1 naming what was altered."""
        from auditkit.reports.signing import verify

        result = verify(report_dir, public_key, check_inputs=not skip_inputs)
        con = _common.console() if result.ok else _common.err_console()
        from rich.markup import escape

        con.print(escape(result.summary()))
        return 0 if result.ok else 1
