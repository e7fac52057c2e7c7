"""Encrypted files, format version 2: one data key wrapped to several recipients.

:func:`encrypt_file_to` writes a version-2 file (header in :mod:`._header_v2`, stanzas in
:mod:`._recipients`, segments exactly as version 1 by :mod:`._stream`). Changing who may decrypt
rewrites only the header (:func:`set_recipients`, :func:`upgrade_to_v2`, :func:`rewrap`); the
segments are copied byte for byte. This module also holds the public functions that read
either version (:func:`decrypt_file`, :func:`file_info`), and records every operation in the
audit trail (:mod:`auditkit.privacy.trail`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditkit.atomic import atomic_write
from auditkit.privacy.crypto import _stream as v1
from auditkit.privacy.crypto._header_v2 import (
    VERSION,
    Parsed,
    V2Header,
    check_policy,
    check_resource,
    read_header,
)
from auditkit.privacy.crypto._keyring import KeyRing
from auditkit.privacy.crypto._recipients import (
    KeyringStanza,
    NotARecipient,
    Recipient,
    check_opener,
    check_recipients,
    make_stanzas,
    wrap_keyring,
)
from auditkit.privacy.crypto._stream import (
    DEFAULT_SEGMENT_SIZE,
    EncryptedFileInfo,
    _check_distinct,
    _check_ring,
    _check_segment_size,
    _check_workers,
    _open_src,
    _SegmentReader,
)
from auditkit.privacy.errors import DecryptionError, PrivacyInputError
from auditkit.privacy.trail import enforce, record

__all__ = [
    "decrypt_file",
    "encrypt_file_to",
    "file_info",
    "rewrap",
    "set_recipients",
    "upgrade_to_v2",
]

_KEEP: Any = ...


# -- opening ---------------------------------------------------------------------------------
def _open_reader(fh: IO[bytes], opener: Any, name: str) -> tuple[_SegmentReader, Parsed]:
    """The authenticated segment reader of an encrypted file of either version."""
    parsed = read_header(fh, name)
    dek = parsed.unlock(opener)
    return _SegmentReader(
        fh, AESGCM(dek), parsed.segment_size, parsed.prefix, parsed.offset
    ), parsed


@contextmanager
def _recorded(action: str, resource: Any, params: dict[str, Any]) -> Iterator[None]:
    """Record a failed decryption in the trail (denied: no stanza for the opener), re-raise."""
    try:
        yield
    except NotARecipient:
        record(action, resource=resource, outcome="denied", params=params)
        raise DecryptionError() from None  # the same opaque error as any other failure
    except DecryptionError:
        record(action, resource=resource, outcome="error", params=params)
        raise


def decrypt_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    opener: Any,
    *,
    workers: int | None = None,
) -> EncryptedFileInfo:
    """Decrypt ``src`` (either format version) to ``dst``, in constant memory.

    ``opener`` is a :class:`~auditkit.privacy.crypto.KeyRing` (version 1, or a version-2 file
    with a keyring stanza) or an identity with ``x25519_private_bytes()`` named by a stanza of a
    version-2 file. ``dst`` is created with mode 0600 and appears atomically, complete and
    fully authenticated, or not at all; the decryption is recorded in the audit trail first.

    Raises
    ------
    DecryptionError
        No stanza for the opener, or the file was altered, truncated, extended or reordered.
    PrivacyInputError
        ``src`` is not an auditkit encrypted file, or ``opener`` is neither kind.
    """
    params: dict[str, Any] = {"via": check_opener(opener, "decrypt_file")}
    n_workers = _check_workers(workers)
    _check_distinct(src, dst)
    enforce("decrypt", src)  # an access policy in force must grant it (no-op without one)
    with _recorded("decrypt", Path(src), params), _open_src(src, "encrypted") as fin:
        reader, parsed = _open_reader(fin, opener, str(src))
        params.update(parsed.params())
        with atomic_write(dst, mode=0o600) as fout:
            reader.decrypt_to(fout, n_workers)
            record("decrypt", resource=Path(src), params=params)  # before the plaintext appears
    return parsed.info()


def file_info(path: str | os.PathLike[str]) -> EncryptedFileInfo:
    """Version, key id, segment size and (version 2) recipients, policy and resource of a file.

    No key is needed; the header is only authenticated when the file is decrypted, so use this
    for reporting, never to decide who may read the file.
    """
    with _open_src(path, "encrypted") as fh:
        return read_header(fh, str(path)).info()


# -- writing ---------------------------------------------------------------------------------
def encrypt_file_to(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    recipients: Sequence[Recipient],
    *,
    ring: KeyRing | None = None,
    policy: Mapping[str, Any] | None = None,
    resource: str | None = None,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    workers: int | None = None,
) -> EncryptedFileInfo:
    """Encrypt ``src`` to ``dst`` (format version 2) so that each recipient can decrypt it.

    A fresh data key encrypts the file exactly as :func:`encrypt_file` does; the header wraps
    it once per recipient (X25519) and, when ``ring`` is given, under the ring's primary key.
    ``policy`` (``{"serial", "hash"}`` of the signed access policy) and ``resource`` are
    recorded in the authenticated header. ``dst`` appears atomically.

    Examples
    --------
    >>> encrypt_file_to("data.csv", "data.csv.enc", [alice.recipient()], ring=ring)  # doctest: +SKIP
    >>> decrypt_file("data.csv.enc", "copy.csv", alice)  # doctest: +SKIP
    """
    fn = "encrypt_file_to"
    rcpts = check_recipients(recipients, fn)
    if ring is not None:
        _check_ring(ring, fn)
    elif not rcpts:
        raise PrivacyInputError(
            f"{fn} needs at least one recipient or a ring; nobody could decrypt the file. "
            "Pass the policy's recipients (Policy.recipients_for) or ring=."
        )
    pol, res = check_policy(policy, fn), check_resource(resource, fn)
    seg = _check_segment_size(segment_size, fn)
    n_workers = _check_workers(workers)
    _check_distinct(src, dst)
    dek = AESGCM.generate_key(bit_length=256)
    header = V2Header(
        seg, secrets.token_bytes(v1._PREFIX_LEN), make_stanzas(dek, rcpts, ring), pol, res
    )
    packed = header.pack(dek)
    params = {"format_version": VERSION, "recipients": len(header.stanzas), "segment_size": seg}
    with _open_src(src, "input") as fin, atomic_write(dst) as fout:
        fout.write(packed)
        v1._encrypt_body(fin, fout, AESGCM(dek), header.prefix, seg, len(packed), n_workers)
        record("encrypt", resource=Path(dst), params=params)  # before the file appears
    return Parsed(VERSION, seg, header.prefix, len(packed), v2=header).info()


def _replace_header(
    fin: IO[bytes], target: Path, parsed: Parsed, packed: bytes, params: dict[str, Any]
) -> None:
    """Rewrite ``target`` with header ``packed`` and its segments copied; record the rewrap.

    The new file's SHA-256 is computed while it is written and goes into the trail event.
    """
    v1._layout(os.fstat(fin.fileno()).st_size, parsed.segment_size, parsed.offset)
    mode = os.stat(target).st_mode & 0o777
    digest = hashlib.sha256(packed)
    fin.seek(parsed.offset)
    with atomic_write(target, mode=mode) as fout:
        fout.write(packed)
        while chunk := fin.read(4 * 1024 * 1024):
            fout.write(chunk)
            digest.update(chunk)
        record(
            "rewrap", resource=target, sha256=digest.hexdigest(), params={**params, "changed": True}
        )


def _unchanged(target: Path, params: dict[str, Any]) -> bool:
    """Record a rewrap that found nothing to change (the data key was still unwrapped)."""
    record("rewrap", resource=target, params={**params, "changed": False})
    return False


def rewrap(path: str | os.PathLike[str], ring: KeyRing) -> bool:
    """Rewrap an encrypted file's data key under the ring's primary key.

    Version 1: the 48-byte wrapped data key and the key id change. Version 2: the keyring
    stanza is replaced by one under the primary (the other stanzas stay) and the header MAC is
    recomputed. The segments are copied, not re-encrypted; the file is replaced atomically and
    keeps its permission bits.

    Returns
    -------
    bool
        ``True`` when the file was rewritten, ``False`` when it already used the primary key.

    Raises
    ------
    DecryptionError
        The ring does not open the file (no keyring stanza for it), or the header was altered.
    """
    _check_ring(ring, "rewrap")
    target = Path(path)
    enforce("administer-keys", target)  # an access policy in force must grant it (no-op without)
    params: dict[str, Any] = {"via": "keyring"}
    with _recorded("rewrap", target, params), _open_src(target, "encrypted") as fin:
        parsed = read_header(fin, str(target))
        params.update(parsed.params())
        dek = parsed.unlock(ring)
        if parsed.v1 is not None:
            if parsed.v1.key_id == ring.primary_id:
                return _unchanged(target, params)
            h = v1._Header(ring.primary_id, parsed.segment_size, parsed.prefix, b"", b"")
            packed = v1._seal(h, ring, dek).pack()
        else:
            assert parsed.v2 is not None
            old = parsed.v2.stanzas
            if any(isinstance(s, KeyringStanza) and s.key_id == ring.primary_id for s in old):
                return _unchanged(target, params)
            kept = tuple(s for s in old if not isinstance(s, KeyringStanza) or s.key_id not in ring)
            header = V2Header(
                parsed.segment_size,
                parsed.prefix,
                (*kept, wrap_keyring(dek, ring)),
                parsed.v2.policy,
                parsed.v2.resource,
            )
            packed = header.pack(dek)
        _replace_header(fin, target, parsed, packed, params)
    return True


def set_recipients(
    path: str | os.PathLike[str],
    opener: Any,
    recipients: Sequence[Recipient],
    *,
    ring: KeyRing | None = None,
    policy: Mapping[str, Any] | None = None,
    resource: Any = _KEEP,
) -> bool:
    """Give a version-2 file exactly these recipients (grant and revoke), without re-encrypting.

    ``opener`` (a recipient of the file now: an identity, or a ring through its keyring stanza)
    unwraps the data key; the new header wraps it afresh to each of ``recipients`` and, when
    ``ring`` is given, under the ring's primary key — without ``ring`` the file keeps no keyring
    stanza. ``policy`` replaces the header's policy reference (``None``: keep it); ``resource``
    replaces its resource name (default: keep it). The segments are copied byte for byte; the
    file is replaced atomically and keeps its permission bits.

    A removed recipient cannot open the rewritten file, but this cannot recall plaintext they
    already decrypted, nor a copy of the old file, its header or its data key that they kept.

    Returns
    -------
    bool
        ``True`` when the file was rewritten, ``False`` when it already had exactly this access.
    """
    fn = "set_recipients"
    via = check_opener(opener, fn)
    rcpts = check_recipients(recipients, fn)
    if ring is not None:
        _check_ring(ring, fn)
    elif not rcpts:
        raise PrivacyInputError(
            f"{fn} needs at least one recipient or a ring; nobody could decrypt the file."
        )
    pol = check_policy(policy, fn)
    res = check_resource(resource, fn) if resource is not _KEEP else None
    target = Path(path)
    params: dict[str, Any] = {"via": via}
    with _recorded("rewrap", target, params), _open_src(target, "encrypted") as fin:
        parsed = read_header(fin, str(target))
        params.update(parsed.params())
        if parsed.v2 is None:
            raise PrivacyInputError(
                f"The file {str(target)!r} is in format version 1 (one key ring key); upgrade it "
                "with upgrade_to_v2 (or `auditkit access migrate --upgrade`) before setting recipients."
            )
        dek = parsed.unlock(opener)
        header = V2Header(
            parsed.segment_size,
            parsed.prefix,
            make_stanzas(dek, rcpts, ring),
            parsed.v2.policy if pol is None else pol,
            parsed.v2.resource if resource is _KEEP else res,
        )
        if header.access() == parsed.v2.access():
            return _unchanged(target, params)
        params["recipients"] = len(header.stanzas)
        _replace_header(fin, target, parsed, header.pack(dek), params)
    return True


def upgrade_to_v2(
    path: str | os.PathLike[str],
    ring: KeyRing,
    recipients: Sequence[Recipient],
    *,
    policy: Mapping[str, Any] | None = None,
    resource: str | None = None,
) -> None:
    """Turn a version-1 file into version 2 wrapped to ``recipients`` and the ring's primary.

    The data key, nonce prefix, segment size and segments stay (the segments are copied byte
    for byte); only the header changes. The file is replaced atomically, keeping its mode.

    Raises
    ------
    PrivacyInputError
        The file is already version 2 (use :func:`set_recipients`), or an argument is wrong.
    DecryptionError
        The ring does not hold the file's key, or the header was altered.
    """
    fn = "upgrade_to_v2"
    _check_ring(ring, fn)
    rcpts = check_recipients(recipients, fn)
    pol, res = check_policy(policy, fn), check_resource(resource, fn)
    target = Path(path)
    params: dict[str, Any] = {"via": "keyring"}
    with _recorded("rewrap", target, params), _open_src(target, "encrypted") as fin:
        parsed = read_header(fin, str(target))
        params.update(parsed.params())
        if parsed.v1 is None:
            raise PrivacyInputError(
                f"The file {str(target)!r} is already in format version 2; change its recipients "
                "with set_recipients (or `auditkit access grant/revoke`)."
            )
        dek = parsed.unlock(ring)
        header = V2Header(
            parsed.segment_size, parsed.prefix, make_stanzas(dek, rcpts, ring), pol, res
        )
        params.update(format_version=VERSION, recipients=len(header.stanzas), upgraded=True)
        _replace_header(fin, target, parsed, header.pack(dek), params)
