"""``auditkit verify REPORT_DIR [--public-key FILE]... [--trust-store FILE]``: check a signed report.

Exit status: 0 the signature is valid, every file matches and the signer is trusted (pinned with
``--public-key``, or listed in the trust store with the ``report-signer`` role); 1 naming each
file that was altered, added or removed; 2 usage or bad input (no such directory, unreadable key,
malformed trust store); 3 internal error; 4 the report is intact but its signer is not trusted
(named by key id).
Without ``--public-key`` the trust store is ``--trust-store``, else ``$AUDITKIT_TRUST_STORE``,
else ``$XDG_CONFIG_HOME/auditkit/trusted_keys.toml``; with it, only the pinned keys (and a
``--trust-store`` given explicitly) are accepted.

Each check is recorded in the audit trail (action ``report.verify``, resource the report's
``manifest.json`` with its SHA-256; outcome ``ok`` when verified and trusted, else ``error``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from auditkit.commands import _common

_KEY_ID = re.compile(r"[0-9a-f]{16}")


@contextlib.contextmanager
def _recorded(report_dir: Path) -> Iterator[Callable[[Any], None]]:
    """Record the check of ``report_dir`` (``report.verify``): the block calls the function it
    is given with the result; a check that raises (bad input) is recorded as ``error``."""
    from auditkit.privacy import trail
    from auditkit.privacy.errors import TrailError

    manifest = report_dir / "manifest.json"
    try:
        sha = trail.file_sha256(manifest) if manifest.is_file() else None
    except TrailError:
        sha = None  # unreadable: the check itself says so

    def record(result: Any) -> None:
        kid = result.key_id  # from the manifest, which may be forged: recorded only when well-formed
        trail.record("report.verify", resource=manifest, sha256=sha,
                     outcome="ok" if result.ok else "error", params={
                         "intact": bool(result.intact), "trusted": bool(result.trusted),
                         "signer_key_id": kid if _KEY_ID.fullmatch(str(kid)) else None,
                         "files_checked": result.files_checked,
                         "inputs_checked": result.inputs_checked,
                         "problems": len(result.problems), "exit_code": int(result.exit_code)})

    try:
        yield record
    except TrailError:
        raise
    except Exception as exc:
        trail.record("report.verify", resource=manifest, sha256=sha, outcome="error",
                     params={"error": type(exc).__name__})
        raise


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

        with _recorded(report_dir) as record:
            store = (
                TrustStore.load_default(trust_store)
                if trust_store is not None or not public_key
                else None
            )
            result = verify(
                report_dir, public_key or None, trust_store=store, check_inputs=not skip_inputs
            )
            record(result)
        con = _common.console() if result.ok else _common.err_console()
        con.print(escape(result.summary()))
        return ExitCode(result.exit_code)  # 0 OK, 1 FAILED (altered), 4 UNTRUSTED
