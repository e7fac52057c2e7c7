"""Streaming authenticated file encryption (AES-256-GCM, STREAM construction, envelope keys).

File layout (all integers big-endian)::

    offset  size  field
    0       7     magic b"AKCRYPT"
    7       1     format version (1)
    8       4     key id of the ring key that wraps the data key
    12      4     segment size S (plaintext bytes per segment, 64 KiB .. 1 MiB)
    16      7     nonce prefix (random per file)
    23      12    wrap nonce
    35      48    data key (32 bytes) wrapped with AES-256-GCM under a sub-key of the ring key,
                  with bytes 0..35 as associated data
    83      ...   segments: each AES-256-GCM(data key, nonce, plaintext) = ciphertext || 16-byte tag;
                  every segment holds S plaintext bytes except the last, which holds 0..S

Segment ``i`` uses the 12-byte nonce ``prefix(7) || i(4) || last(1)`` where ``last`` is 1 only
for the final segment (Hoang, Reyhanitabar, Rogaway and Vizár's STREAM, as in Tink and age).
Every file has its own random data key, so segments cannot move between files; the counter
pins each segment's position; the last-segment flag makes truncation at a boundary and appended
bytes fail. The header's fields are the associated data of the wrapped data key, so changing
any of them fails too. Rotation rewraps only the 48-byte data key (:func:`rewrap`).

This module holds format version 1 and the segment code both versions share (a version-2 file
has a variable-length header, so the segment helpers take the offset where segments start);
:mod:`._stream_v2` holds version 2 and the public functions that read either version.
"""

from __future__ import annotations

import os
import secrets
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditkit.atomic import atomic_write
from auditkit.privacy.crypto._keyring import KeyRing
from auditkit.privacy.crypto._parallel import decrypt_segments, default_workers, encrypt_segments
from auditkit.privacy.errors import DecryptionError, PrivacyInputError
from auditkit.privacy.trail import record

if TYPE_CHECKING:
    from auditkit.privacy.crypto._recipients import Recipient

__all__ = [
    "ALGORITHM",
    "DEFAULT_SEGMENT_SIZE",
    "EncryptedFileInfo",
    "encrypt_file",
    "is_encrypted",
]

MAGIC = b"AKCRYPT"
VERSION = 1
ALGORITHM = "AES-256-GCM STREAM, per-file data key"
MIN_SEGMENT_SIZE = 64 * 1024
MAX_SEGMENT_SIZE = 1024 * 1024
DEFAULT_SEGMENT_SIZE = MAX_SEGMENT_SIZE
TAG = 16
_PREFIX_LEN = 7
_AAD_LEN = 35
HEADER_LEN = _AAD_LEN + 32 + TAG  # 83
_WRAP_PURPOSE = b"file-key-wrap"
_MAX_SEGMENTS = 2**32


@dataclass(frozen=True)
class EncryptedFileInfo:
    """What the (unauthenticated until decrypted) header of an encrypted file says.

    ``key_id`` is the id of the ring key that wraps the data key (version 2: the key ring
    stanza's, ``""`` when the file has none). Version 2 files also list their ``recipients``
    (:class:`~auditkit.privacy.crypto.Recipient`), the access ``policy`` reference
    (``{"serial", "hash"}``) and the ``resource`` name the header carries.
    """

    key_id: str
    segment_size: int
    format_version: int
    algorithm: str = ALGORITHM
    recipients: tuple[Recipient, ...] = ()
    policy: dict[str, Any] | None = field(default=None, hash=False)
    resource: str | None = None


@dataclass(frozen=True)
class _Header:
    key_id: str
    segment_size: int
    prefix: bytes
    wrap_nonce: bytes
    wrapped: bytes

    def aad(self) -> bytes:
        return (
            MAGIC
            + bytes([VERSION])
            + bytes.fromhex(self.key_id)
            + struct.pack(">I", self.segment_size)
            + self.prefix
            + self.wrap_nonce
        )

    def pack(self) -> bytes:
        return self.aad() + self.wrapped


def _wrap_key(ring: KeyRing, key_id: str) -> AESGCM:
    return AESGCM(ring._derive(key_id, _WRAP_PURPOSE))


def _new_header(ring: KeyRing, segment_size: int, dek: bytes) -> _Header:
    h = _Header(ring.primary_id, segment_size, secrets.token_bytes(_PREFIX_LEN), b"", b"")
    return _seal(h, ring, dek)


def _seal(h: _Header, ring: KeyRing, dek: bytes) -> _Header:
    h = _Header(h.key_id, h.segment_size, h.prefix, secrets.token_bytes(12), b"")
    wrapped = _wrap_key(ring, h.key_id).encrypt(h.wrap_nonce, dek, h.aad())
    return _Header(h.key_id, h.segment_size, h.prefix, h.wrap_nonce, wrapped)


def _check_magic(raw: bytes, name: str) -> None:
    if len(raw) < 8 or raw[:7] != MAGIC:
        raise PrivacyInputError(
            f"The file {name!r} is not an auditkit encrypted file (its first bytes are not the "
            "auditkit magic). Check the path, or encrypt it first with `auditkit encrypt`."
        )


def _parse_header(raw: bytes, name: str) -> _Header:
    _check_magic(raw, name)
    if raw[7] != VERSION:
        raise DecryptionError()
    if len(raw) < HEADER_LEN:
        raise DecryptionError()
    (seg,) = struct.unpack(">I", raw[12:16])
    if not MIN_SEGMENT_SIZE <= seg <= MAX_SEGMENT_SIZE:
        raise DecryptionError()
    return _Header(raw[8:12].hex(), seg, raw[16:23], raw[23:35], raw[35:HEADER_LEN])


def _unwrap(h: _Header, ring: KeyRing) -> bytes:
    if h.key_id not in ring:
        raise DecryptionError()
    try:
        return _wrap_key(ring, h.key_id).decrypt(h.wrap_nonce, h.wrapped, h.aad())
    except InvalidTag:
        raise DecryptionError() from None


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= _MAX_SEGMENTS:
        raise PrivacyInputError("The file is too large for this segment size; use a larger one.")
    return prefix + struct.pack(">I?", index, last)


def _check_segment_size(segment_size: int, fn: str = "encrypt_file") -> int:
    if (
        isinstance(segment_size, bool)
        or not isinstance(segment_size, int)
        or not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE
    ):
        raise PrivacyInputError(
            f"The 'segment_size' parameter of {fn} must be an integer number of bytes "
            f"from {MIN_SEGMENT_SIZE} (64 KiB) to {MAX_SEGMENT_SIZE} (1 MiB); got "
            f"{segment_size!r}. The default, {DEFAULT_SEGMENT_SIZE}, is the fastest."
        )
    return segment_size


def _layout(total: int, seg: int, offset: int = HEADER_LEN) -> tuple[int, int]:
    """(number of segments, ciphertext length of the last one) for a file of ``total`` bytes
    whose segments start at ``offset``."""
    body = total - offset
    if body < TAG:
        raise DecryptionError()
    full = seg + TAG
    n = -(-body // full)
    last = body - (n - 1) * full
    if last < TAG:
        raise DecryptionError()
    return n, last


def _readinto_exact(fh: IO[bytes], view: memoryview) -> int:
    got = 0
    while got < len(view):
        k = fh.readinto(view[got:])  # type: ignore[attr-defined]
        if not k:
            break
        got += k
    return got


def _open_src(src: str | os.PathLike[str], what: str) -> IO[bytes]:
    try:
        return open(src, "rb")
    except FileNotFoundError:
        raise PrivacyInputError(f"The {what} file {str(src)!r} does not exist.") from None
    except IsADirectoryError:
        raise PrivacyInputError(
            f"The {what} path {str(src)!r} is a directory, not a file."
        ) from None


def _check_distinct(src: Any, dst: Any) -> None:
    try:
        same = Path(dst).exists() and Path(src).resolve() == Path(dst).resolve()
    except OSError:
        same = False
    if same:
        raise PrivacyInputError(
            f"The input and output paths are the same file ({str(src)!r}); write to a new path."
        )


def _encrypt_stream(fin: IO[bytes], fout: IO[bytes], aead: AESGCM, prefix: bytes, seg: int) -> None:
    """Sequential encryption of a stream of unknown length (one segment of look-ahead)."""
    bufs = [bytearray(seg), bytearray(seg)]
    cur = 0
    n_cur = _readinto_exact(fin, memoryview(bufs[0]))
    index = 0
    while True:
        nxt = 1 - cur
        # The current segment is the last when nothing follows it.
        n_nxt = _readinto_exact(fin, memoryview(bufs[nxt])) if n_cur == seg else 0
        last = n_nxt == 0
        pt = bytes(memoryview(bufs[cur])[:n_cur])
        fout.write(aead.encrypt(_nonce(prefix, index, last), pt, None))
        if last:
            return
        index += 1
        cur, n_cur = nxt, n_nxt


def _check_ring(ring: Any, fn: str) -> None:
    if not isinstance(ring, KeyRing):
        raise PrivacyInputError(
            f"The 'ring' parameter of {fn} must be a auditkit.privacy.crypto.KeyRing; got "
            f"{type(ring).__name__}. Load one with KeyRing.load(path, passphrase=...)."
        )


def _check_workers(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise PrivacyInputError(
            f"The 'workers' parameter must be a positive number of threads or None (one per "
            f"CPU, at most 8); got {workers!r}."
        )
    return workers


def encrypt_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    ring: KeyRing,
    *,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    workers: int | None = None,
) -> EncryptedFileInfo:
    """Encrypt ``src`` to ``dst`` under the ring's primary key, in constant memory.

    A fresh data key encrypts the file in segments of ``segment_size`` plaintext bytes; the
    data key is stored in the header, wrapped by the ring's primary key. ``dst`` appears
    atomically: on any failure no partial file remains.

    Segments of a regular file are encrypted by ``workers`` threads (default: one per CPU, at
    most 8), each holding two segment buffers; pipes are encrypted sequentially.

    Examples
    --------
    >>> ring = KeyRing.generate()
    >>> encrypt_file("data.csv", "data.csv.enc", ring)  # doctest: +SKIP
    >>> decrypt_file("data.csv.enc", "copy.csv", ring)  # doctest: +SKIP
    """
    _check_ring(ring, "encrypt_file")
    seg = _check_segment_size(segment_size)
    n_workers = _check_workers(workers)
    _check_distinct(src, dst)
    dek = AESGCM.generate_key(bit_length=256)
    header = _new_header(ring, seg, dek)
    with _open_src(src, "input") as fin, atomic_write(dst) as fout:
        fout.write(header.pack())
        _encrypt_body(fin, fout, AESGCM(dek), header.prefix, seg, HEADER_LEN, n_workers)
        # Recorded before the file appears: no encrypted file without its trail event.
        record("encrypt", resource=Path(dst), params={"format_version": VERSION, "segment_size": seg})
    return EncryptedFileInfo(header.key_id, seg, VERSION)


def _encrypt_body(
    fin: IO[bytes],
    fout: IO[bytes],
    aead: AESGCM,
    prefix: bytes,
    seg: int,
    offset: int,
    workers: int,
) -> None:
    """Write the segments of ``fin`` to ``fout``, whose ``offset`` header bytes are written."""
    st = os.fstat(fin.fileno())
    if stat.S_ISREG(st.st_mode) and hasattr(aead, "encrypt_into"):
        fout.flush()
        encrypt_segments(
            fin.fileno(),
            fout.fileno(),
            aead,
            lambda i, last: _nonce(prefix, i, last),
            seg,
            st.st_size,
            offset,
            workers,
        )
    else:  # pipes and other streams; cryptography < 45
        _encrypt_stream(fin, fout, aead, prefix, seg)


class _SegmentReader:
    """Random access to the authenticated plaintext segments of an encrypted file.

    ``aead`` holds the file's data key; segments start at byte ``offset`` (83 in version 1;
    variable in version 2) and use ``prefix`` in their nonces.
    """

    def __init__(self, fh: IO[bytes], aead: AESGCM, seg: int, prefix: bytes, offset: int) -> None:
        self._fh = fh
        self._aead = aead
        self.seg = seg
        self.prefix = prefix
        self.offset = offset
        total = os.fstat(fh.fileno()).st_size
        self.n_segments, last_ct = _layout(total, seg, offset)
        self.size = (self.n_segments - 1) * seg + last_ct - TAG
        self._ct = bytearray(seg + TAG)
        self._into = hasattr(aead, "decrypt_into")

    def read_segment(self, index: int, out: bytearray | None = None) -> memoryview:
        """Decrypt segment ``index``; raises DecryptionError when it does not authenticate."""
        last = index == self.n_segments - 1
        ct_len = (self.size - index * self.seg if last else self.seg) + TAG
        self._fh.seek(self.offset + index * (self.seg + TAG))
        view = memoryview(self._ct)[:ct_len]
        if _readinto_exact(self._fh, view) != ct_len:
            raise DecryptionError()  # the file shrank under us
        nonce = _nonce(self.prefix, index, last)
        try:
            if self._into and out is not None:
                self._aead.decrypt_into(nonce, view, None, memoryview(out)[: ct_len - TAG])
                return memoryview(out)[: ct_len - TAG]
            return memoryview(self._aead.decrypt(nonce, bytes(view), None))
        except InvalidTag:
            raise DecryptionError() from None

    def decrypt_to(self, fout: IO[bytes], workers: int) -> None:
        """Decrypt every segment into ``fout`` (threads for regular files), authenticating each."""
        if self._into:
            prefix = self.prefix
            decrypt_segments(
                self._fh.fileno(),
                fout.fileno(),
                self._aead,
                lambda i, last: _nonce(prefix, i, last),
                self.seg,
                self.n_segments,
                self.size - (self.n_segments - 1) * self.seg + TAG,
                self.offset,
                workers,
            )
        else:  # cryptography < 45
            for i in range(self.n_segments):
                fout.write(self.read_segment(i))


def is_encrypted(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts with the auditkit encrypted-file magic (no key needed)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False
