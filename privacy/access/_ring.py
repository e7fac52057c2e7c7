"""Detokenisation keys by role: the key ring sealed in a version-2 envelope (``keyring.access``).

The ring's keys (the JSON body that :meth:`KeyRing.save` encrypts: ``{"keys": [...],
"primary": ...}``) are encrypted as a version-2 file whose data key is wrapped to every principal
of the policy holding ``detokenise`` or ``administer-keys`` (on any resource: the ring's keys
serve every column). :func:`open_ring` gives the :class:`KeyRing` to an entitled identity and the
opaque :class:`DecryptionError` to anyone else; both outcomes are recorded in the audit trail.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditkit.privacy.errors import DecryptionError, PolicyError

__all__ = ["RING_ENVELOPE", "RING_RESOURCE", "open_ring", "seal_ring"]

#: The envelope's file name beside the key ring.
RING_ENVELOPE = "keyring.access"
#: The resource name the envelope's header carries.
RING_RESOURCE = "keyring"
_MAX_RING_BYTES = 1 << 20


def ring_to_bytes(ring: Any) -> bytes:
    """The ring's keys as the JSON body :meth:`KeyRing.save` encrypts (key material included)."""
    return ring.secret_bytes()


def ring_from_bytes(data: bytes) -> Any:
    """The :class:`KeyRing` of a body written by :func:`ring_to_bytes`; DecryptionError if malformed."""
    from auditkit.privacy.crypto import KeyRing

    return KeyRing.from_secret_bytes(data)


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A path reading ``data``: an anonymous in-memory file (Linux ``memfd``) so key material
    never reaches a disk; elsewhere a 0600 file in a private temporary directory, removed after."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("auditkit-ring", 0)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="auditkit-") as tmp:  # pragma: no cover - not Linux
        path = Path(tmp) / "ring"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            yield str(path)
        finally:
            path.unlink()


def seal_ring(ring: Any, policy: Any, path: str | os.PathLike) -> Path:
    """Encrypt ``ring``'s keys to ``path`` for the policy's ``detokenise`` and ``administer-keys``
    holders (atomically; mode 0600).

    Raises
    ------
    PolicyError
        No principal of ``policy`` holds either permission (the ring would be sealed to nobody).
    """
    from auditkit.privacy.crypto import encrypt_file_to

    recipients = policy.holders_of("detokenise", "administer-keys")
    if not recipients:
        raise PolicyError(
            "No principal of the access policy holds 'detokenise' or 'administer-keys', so the key "
            "ring would be sealed to nobody. Grant one of them a role with 'administer-keys' first."
        )
    target = Path(path)
    with _memory_file(ring_to_bytes(ring)) as src:
        encrypt_file_to(src, target, recipients, policy=policy.ref(), resource=RING_RESOURCE)
    os.chmod(target, 0o600)
    return target


def open_ring(path: str | os.PathLike, identity: Any) -> Any:
    """The key ring sealed at ``path``, for an ``identity`` it is wrapped to.

    Records a ``detokenise`` event (outcome ``ok``, or ``denied`` when the envelope does not
    open for ``identity``) in the audit trail.

    Raises
    ------
    DecryptionError
        ``identity`` is not entitled (no stanza for it), or the envelope was altered.
    """
    from auditkit.privacy import trail
    from auditkit.privacy.crypto import open_decrypted

    params = {"key": "keyring", "principal": str(getattr(identity, "name", "?"))[:100]}
    try:
        with open_decrypted(path, identity) as fh:
            data = fh.read(_MAX_RING_BYTES + 1)
        ring = ring_from_bytes(data)
    except DecryptionError:
        trail.record("detokenise", resource=path, outcome="denied", params=params)
        raise
    trail.record("detokenise", resource=path, params=params)
    return ring

