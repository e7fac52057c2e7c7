"""Opening a key ring from the command line: where it is, and its passphrase or key.

Shared by ``auditkit keys``, ``encrypt``/``decrypt``/``rewrap``, ``ledger`` and ``mask``. The
ring's passphrase comes from the environment variable the user names (default
``AUDITKIT_KEYRING_PASSPHRASE``) or, when that is unset, from a hidden prompt; for a ring
protected by a key-encryption key, that variable holds the key instead. Only typer and the
standard library are imported at module level.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.crypto import KeyRing

__all__ = ["DEFAULT_KEYRING", "DEFAULT_PASSPHRASE_ENV", "open_ring", "prompt_passphrase", "unlock"]

DEFAULT_PASSPHRASE_ENV = "AUDITKIT_KEYRING_PASSPHRASE"
DEFAULT_KEYRING = "keyring.json"


def prompt_passphrase(confirm: bool) -> str:
    """Ask for the passphrase with a hidden prompt (twice when ``confirm``); refuse an empty one."""
    value = typer.prompt(
        "Key ring passphrase", hide_input=True, confirmation_prompt=confirm, show_default=False
    )
    if not value:
        from auditkit.privacy.errors import PrivacyInputError

        raise PrivacyInputError("The key ring passphrase must not be empty; type a passphrase.")
    return value


def unlock(keyring: Path, passphrase_env: str) -> tuple[KeyRing, dict[str, str]]:
    """The ring, and the keyword arguments that save it again with the same protection."""
    from auditkit.privacy.crypto import KeyRing, kek_kind
    from auditkit.privacy.errors import PrivacyInputError

    if not keyring.exists():
        raise PrivacyInputError(
            f"The key ring file '{keyring}' does not exist. Create one with `auditkit keys init "
            f"--keyring {keyring}`, or point --keyring (or $AUDITKIT_KEYRING) at yours."
        )
    if kek_kind(keyring) == "env":
        return KeyRing.load(keyring, kek_env=passphrase_env), {"kek_env": passphrase_env}
    secret = os.environ.get(passphrase_env) or prompt_passphrase(confirm=False)
    return KeyRing.load(keyring, passphrase=secret), {"passphrase": secret}


def open_ring(keyring: Path, passphrase_env: str) -> KeyRing:
    """The ring at ``keyring``, opened with the passphrase (or key) of ``$passphrase_env``."""
    return unlock(keyring, passphrase_env)[0]
