"""What the security check reads from disk: the audit's artifacts and how each is stored.

For each artifact (the dataset, the model, the key ring, further files named in
``[checks.security] artifacts`` and files earlier checks of this run wrote) it records whether
it is encrypted with ``auditkit.privacy.crypto`` (read from the file's header, no key needed),
the algorithm and the key id; when the key ring opens, every encrypted artifact is also fully
authenticated, in constant memory. The findings are judged in :mod:`auditkit.checks.security`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext
    from auditkit.privacy.crypto import KeyRing

__all__ = [
    "COLUMNS",
    "Inventory",
    "KeyringAccess",
    "StoredArtifact",
    "display_path",
    "open_keyring",
    "take_inventory",
]

#: Columns of the "Artifacts at rest" table, one per field of :meth:`StoredArtifact.row`.
COLUMNS = ("artifact", "path", "encrypted", "algorithm", "key id", "key in ring", "authenticated",
           "bytes")


@dataclass
class StoredArtifact:
    """One file of the audit as it is stored: encrypted or not, under which key, authenticated."""

    role: str
    path: Path
    exists: bool
    encrypted: bool = False
    algorithm: str = "-"
    key_id: str = "-"
    key_in_ring: str = "unknown"
    authenticated: str = "not checked"
    size: int = 0

    @property
    def failed(self) -> bool:
        """Whether it is encrypted but did not authenticate (or its header is unreadable)."""
        return self.authenticated.lower().startswith("failed")

    def row(self, base: Path) -> list[Any]:
        """Its row of the "Artifacts at rest" table (:data:`COLUMNS`)."""
        return [
            self.role,
            display_path(self.path, base),
            "missing" if not self.exists else ("yes" if self.encrypted else "no"),
            self.algorithm,
            self.key_id,
            self.key_in_ring,
            self.authenticated,
            self.size,
        ]


@dataclass(frozen=True)
class Inventory:
    """Every artifact inspected: the dataset, the model (if configured), the key ring (if
    configured) and the further files (``extras``: listed ones and those earlier checks wrote)."""

    dataset: StoredArtifact
    model: StoredArtifact | None
    keyring: StoredArtifact | None
    extras: tuple[StoredArtifact, ...]

    @property
    def items(self) -> list[StoredArtifact]:
        """All of them, in table order."""
        fixed = (self.dataset, self.model, self.keyring)
        return [*(i for i in fixed if i is not None), *self.extras]


def display_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (the config's directory), else its file name only."""
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return path.name


def _authenticate(path: Path, ring: KeyRing) -> bool:
    from auditkit.privacy.crypto import open_decrypted
    from auditkit.privacy.errors import DecryptionError

    try:
        with open_decrypted(path, ring) as fh:
            while fh.read(1024 * 1024):
                pass
    except DecryptionError:
        return False
    return True


def inspect_artifact(role: str, path: Path, ring: KeyRing | None, verify: bool) -> StoredArtifact:
    """How ``path`` is stored; authenticated under ``ring`` when ``verify`` and the ring is open."""
    from auditkit.privacy.crypto import ALGORITHM, file_info, is_encrypted
    from auditkit.privacy.errors import PrivacyError

    if not path.is_file():
        return StoredArtifact(role, path, exists=False)
    item = StoredArtifact(role, path, exists=True, size=path.stat().st_size)
    if not is_encrypted(path):
        item.key_in_ring = "-"
        item.authenticated = "-"
        return item
    item.encrypted = True
    item.algorithm = ALGORITHM
    try:
        info = file_info(path)
    except PrivacyError:
        item.authenticated = "failed (bad header)"
        return item
    item.key_id = info.key_id
    if ring is not None:
        item.key_in_ring = "yes" if info.key_id in ring else "no"
        if verify:
            item.authenticated = "yes" if _authenticate(path, ring) else "FAILED"
    return item


@dataclass(frozen=True)
class KeyringAccess:
    """The configured key ring (``path``, ``None`` when none is), the variable holding its
    passphrase, the ring when it opened, and its state in words ("opened", or why not)."""

    path: Path | None
    env: str
    ring: KeyRing | None
    state: str


def open_keyring(path: Path | None, env: str) -> KeyringAccess:
    """Open the key ring at ``path`` with the passphrase in ``$env``, when both are there."""
    from auditkit.privacy.crypto import KeyRing
    from auditkit.privacy.errors import PrivacyError

    if path is None:
        return KeyringAccess(path, env, None, "no key ring configured")
    if not path.is_file():
        return KeyringAccess(path, env, None, "the key ring file does not exist")
    if not os.environ.get(env):
        return KeyringAccess(path, env, None, f"${env} is not set, so the ring was not opened")
    try:
        return KeyringAccess(path, env, KeyRing.load_from_env(path, env), "opened")
    except PrivacyError as exc:
        return KeyringAccess(path, env, None, f"could not be opened ({type(exc).__name__})")


def _keyring_artifact(path: Path, opened: bool) -> StoredArtifact:
    item = StoredArtifact("key ring", path, path.is_file())
    if item.exists:
        item.size = path.stat().st_size
        item.encrypted = True
        item.algorithm = "AES-256-GCM under a KEK"
        item.key_in_ring = "-"
        item.authenticated = "yes" if opened else "not checked"
    return item


def _extras(ctx: AuditContext, listed: list[str], seen: set[Path], ring: KeyRing | None,
            verify: bool) -> tuple[StoredArtifact, ...]:
    """The files listed in ``artifacts``, then those earlier checks of this run wrote (masked
    exports, ledgers; figures aside), each once."""
    extras = [inspect_artifact("artifact", ctx.resolve(p), ring, verify) for p in listed]
    seen |= {i.path.resolve() for i in extras}
    for art in ctx.artifacts:
        if art.path and art.kind != "figure" and Path(art.path).resolve() not in seen:
            seen.add(Path(art.path).resolve())
            extras.append(inspect_artifact(art.kind, Path(art.path), ring, verify))
    return tuple(extras)


def _dataset_item(ctx: AuditContext, ring: KeyRing | None, verify: bool) -> StoredArtifact:
    """How the dataset is stored; of data in partitions, the first partition that fails
    authentication, else the first in clear, else the first (all encrypted and sound)."""
    from auditkit._scale._sources import resolve_sources
    from auditkit.errors import AuditkitError

    cfg = ctx.config
    try:
        paths = [p.path for p in resolve_sources(cfg.data.path, ctx.base_dir, cfg.data.format).partitions]
    except AuditkitError:  # the runner has read it; a file removed since is inspected as missing
        paths = [ctx.resolve(cfg.data.path)]
    items = [inspect_artifact("dataset", p, ring, verify) for p in paths]
    failed = [i for i in items if i.encrypted and i.authenticated == "FAILED"]
    clear = [i for i in items if not i.encrypted]
    return (failed or clear or items)[0]


def take_inventory(ctx: AuditContext, access: KeyringAccess, listed: list[str],
                   verify: bool) -> Inventory:
    """Inspect every artifact of the audit (see :class:`Inventory`), authenticating the
    encrypted ones under the ring when it opened and ``verify``."""
    cfg = ctx.config
    ring, ring_path = access.ring, access.path
    dataset = _dataset_item(ctx, ring, verify)
    model = (inspect_artifact("model", ctx.resolve(cfg.model.path), ring, verify)
             if cfg.model.path else None)
    keyring = _keyring_artifact(ring_path, ring is not None) if ring_path is not None else None
    seen = {i.path.resolve() for i in (dataset, model, keyring) if i is not None}
    return Inventory(dataset, model, keyring, _extras(ctx, listed, seen, ring, verify))
