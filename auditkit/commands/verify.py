"""``auditkit verify REPORT_DIR [--public-key FILE]... [--trust-store FILE]``: check a signed report.

Exit status: 0 the signature is valid, every file matches and the signer is trusted (pinned with
``--public-key``, or listed in the trust store with the ``report-signer`` role); 1 naming each
file that was altered, added or removed; 2 usage or bad input (no such directory, unreadable key,
malformed trust store); 3 internal error; 4 the report is intact but its signer is not trusted
(named by key id).
Without ``--public-key`` the trust store is ``--trust-store``, else ``$AUDITKIT_TRUST_STORE``,
else ``$XDG_CONFIG_HOME/auditkit/trusted_keys.toml``; with it, only the pinned keys (and a
``--trust-store`` given explicitly) are accepted.
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
            list[Path] | None,
            typer.Option(
                "--public-key",
                "-k",
                help="A public key (PEM, base64 or raw) the report must be signed with; repeat "
                "to accept several. Without it, signers come from the trust store.",
            ),
        ] = None,
        trust_store: _common.TrustStoreOption = None,
        skip_inputs: Annotated[
            bool,
            typer.Option("--skip-inputs", help="Do not re-hash the data, model and config files."),
        ] = False,
    ) -> int:
        """Check a signed report: 0 verified and trusted, 1 altered, 2 bad input, 4 untrusted signer."""
        from rich.markup import escape

        from auditkit.errors import ExitCode
        from auditkit.reports.signing import verify
        from auditkit.reports.trust import TrustStore

        store = (
            TrustStore.load_default(trust_store)
            if trust_store is not None or not public_key
            else None
        )
        result = verify(
            report_dir, public_key or None, trust_store=store, check_inputs=not skip_inputs
        )
        con = _common.console() if result.ok else _common.err_console()
        con.print(escape(result.summary()))
        return ExitCode(result.exit_code)  # 0 OK, 1 FAILED (altered), 4 UNTRUSTED
