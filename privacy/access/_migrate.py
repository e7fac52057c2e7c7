"""Moving a single-passphrase key ring into the role model.

:func:`migrate` opens the ring, signs a first policy (serial 1) in which the administrator holds
the role ``admin`` (every permission), seals the ring's keys to it (``keyring.access``), and
optionally upgrades version-1 files to version 2 (their data key wrapped to the policy's
recipients and still to the ring, so nothing that read them before stops working). The ring file
itself is left as it is: the legacy one-principal mode keeps working until it is retired.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.privacy.access._policy import POLICY_FILE, Policy, sign_policy
from auditkit.privacy.access._ring import RING_ENVELOPE, seal_ring
from auditkit.privacy.errors import PolicyError

__all__ = ["ADMIN_ROLE", "Migration", "migrate"]

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate` wrote: the signed policy, the sealed ring and the upgraded files."""

    policy: Policy
    policy_path: Path
    envelope_path: Path
    upgraded: tuple[Path, ...]


def first_policy_body(admin: Any, *, root: str = ".") -> dict[str, Any]:
    """A first policy body: the role ``admin`` with every permission, held by ``admin``."""
    return {
        "version": 1,
        "policy_id": secrets.token_hex(16),
        "serial": 1,
        "previous": None,
        "root": root,
        "roles": {ADMIN_ROLE: {"permissions": ["*"], "description": "every permission (from migration)"}},
        "principals": [{**admin.public_entry(), "roles": [ADMIN_ROLE]}],
    }


def migrate(keyring: str | os.PathLike, *, admin: Any, passphrase: str | None = None,
            kek_env: str | None = None, ring: Any = None, out_dir: str | os.PathLike | None = None,
            upgrade: Iterable[str | os.PathLike] = (), force: bool = False) -> Migration:
    """Move the key ring at ``keyring`` into the role model with ``admin`` as its administrator.

    Parameters
    ----------
    keyring:
        The ring file; opened with ``passphrase`` or ``kek_env`` (or pass the opened ``ring``).
    admin:
        The administrator's :class:`Identity`; it signs the policy, so it must hold
        ``access-admin`` in the trust store for the policy to be accepted when loaded.
    out_dir:
        Where ``access-policy.json`` and ``keyring.access`` go (default: beside the ring).
    upgrade:
        Version-1 files to upgrade in place to version 2 (the data is not re-encrypted).
    force:
        Replace an existing policy or envelope in ``out_dir``.
    """
    from auditkit.privacy import trail
    from auditkit.privacy.crypto import KeyRing, upgrade_to_v2

    ring_path = Path(keyring)
    if ring is None:
        ring = KeyRing.load(ring_path, passphrase=passphrase, kek_env=kek_env)
    target = Path(out_dir) if out_dir is not None else ring_path.parent
    policy_path, envelope_path = target / POLICY_FILE, target / RING_ENVELOPE
    files = _check_upgrades(ring, ring_path, (policy_path, envelope_path), upgrade)
    for p in (policy_path, envelope_path):
        if p.exists() and not force:
            raise PolicyError(
                f"{str(p)!r} already exists: this ring looks migrated already. Use `auditkit access "
                "grant` to change the policy, or pass force to start a new one."
            )
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    policy = sign_policy(first_policy_body(admin), admin, out=policy_path)
    seal_ring(ring, policy, envelope_path)
    done = []
    for path in files:
        upgrade_to_v2(path, ring, policy.recipients_for(path), policy=policy.ref())
        done.append(path)
    trail.record("access.migrate", resource=policy_path, params={
        "principal": admin.name, "ring_key": ring.primary_id, "upgraded": len(done)})
    return Migration(policy, policy_path, envelope_path, tuple(done))


def _check_upgrades(ring: Any, ring_path: Path, outputs: tuple[Path, ...],
                    upgrade: Iterable[str | os.PathLike]) -> list[Path]:
    """The files to upgrade (each once), checked before anything is written: none of the inputs
    is one of the outputs, and each is a version-1 file whose key the ring holds."""
    from auditkit.privacy.crypto import file_info

    def same(a: Path, b: Path) -> bool:
        return os.path.realpath(a) == os.path.realpath(b)

    for out in outputs:
        if same(ring_path, out):
            raise PolicyError(
                f"The key ring {str(ring_path)!r} is where migration would write {out.name}; it would be "
                "overwritten. Move the ring to another name, or pass another output directory."
            )
    files: list[Path] = []
    for f in upgrade:
        path = Path(f)
        if any(same(path, seen) for seen in files):
            continue
        if any(same(path, out) for out in (ring_path, *outputs)):
            raise PolicyError(f"{str(path)!r} is the key ring or an output of the migration, not a file to upgrade.")
        info = file_info(path)
        if info.format_version != 1 or info.key_id not in ring:
            raise PolicyError(
                f"{str(path)!r} is not a version-1 file encrypted under this key ring, so it cannot be "
                "upgraded; nothing was written. Leave it out, or migrate with the ring that wrote it."
            )
        files.append(path)
    return files
