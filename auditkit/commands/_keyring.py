"""Opening a key ring from the command line: where it is, and its passphrase or key.

Shared by ``auditkit keys``, ``encrypt``/``decrypt``/``rewrap``, ``ledger`` and ``mask``. The
ring's passphrase comes from the environment variable the user names (default
``AUDITKIT_KEYRING_PASSPHRASE``) or, when that is unset, from a hidden prompt; for a ring
protected by a key-encryption key, that variable holds the key instead. Only typer and the
standard library are imported at module level.

A command that opens (or creates) a key ring keeps its audit trail beside the ring (unless
``$AUDITKIT_TRAIL`` or a bound location says otherwise) and, when no identity signs for it
(``$AUDITKIT_IDENTITY``), signs its trail seal as the ring's one principal
(:meth:`KeyRing.trail_signer`): :func:`bind_trail`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.crypto import KeyRing

__all__ = [
    "DEFAULT_KEYRING",
    "DEFAULT_PASSPHRASE_ENV",
    "bind_trail",
    "open_ring",
    "prompt_passphrase",
    "unlock",
]

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


def bind_trail(ring: KeyRing | None, keyring: Path) -> None:
    """Keep this command's audit trail beside ``keyring`` (unless its location is set, or the
    command already writes elsewhere: a trail cannot move mid-command), and sign its seal as
    ``ring``'s principal unless a signer (an identity) is bound already.

    The binding configures the command's session (the CLI opens one per command). Outside one
    (a script calling a command function) it does nothing, so nothing leaks into the process
    default that later API calls would sign with.
    """
    from auditkit.privacy import trail
    from auditkit.privacy.errors import TrailError

    if not trail.in_command():
        return
    try:
        trail.bind(keyring=keyring)
    except TrailError:
        pass  # events were written before the ring was opened; the trail stays where it is
    if ring is not None and trail.current_signer() is None:
        trail.bind(signer=ring.trail_signer())
    if trail.enforcer() is None:  # after `auditkit access migrate`: the policy beside the ring rules
        from auditkit.privacy.access import activate, find_policy, load_policy

        found = find_policy(None, keyring=keyring)
        if found is not None:
            activate(load_policy(found))


def unlock(keyring: Path, passphrase_env: str) -> tuple[KeyRing, dict[str, str]]:
    """The ring, and the keyword arguments that save it again with the same protection.

    The command's audit trail is then kept beside the ring and signed by it (:func:`bind_trail`).
    """
    from auditkit.privacy.crypto import KeyRing, kek_kind
    from auditkit.privacy.errors import PrivacyInputError

    if not keyring.exists():
        raise PrivacyInputError(
            f"The key ring file '{keyring}' does not exist. Create one with `auditkit keys init "
            f"--keyring {keyring}`, or point --keyring (or $AUDITKIT_KEYRING) at yours."
        )
    bind_trail(None, keyring)
    if kek_kind(keyring) == "env":
        ring, protection = KeyRing.load(keyring, kek_env=passphrase_env), {"kek_env": passphrase_env}
    else:
        secret = os.environ.get(passphrase_env) or prompt_passphrase(confirm=False)
        ring, protection = KeyRing.load(keyring, passphrase=secret), {"passphrase": secret}
    bind_trail(ring, keyring)
    return ring, protection


def open_ring(keyring: Path, passphrase_env: str) -> KeyRing:
    """The ring at ``keyring``, opened with the passphrase (or key) of ``$passphrase_env``."""
    return unlock(keyring, passphrase_env)[0]
