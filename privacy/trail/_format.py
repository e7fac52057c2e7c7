"""The trail's line format (v1): how one line is built, hashed, signed and taken apart.

Every line is one JSON object in ASCII with no spaces, ending in ``"\\n"``, with a fixed prefix
and suffix so that a verifier can check a plain event without parsing JSON::

    {"prev":"<64 hex>","cmd":"<32 hex>","kind":"<k>","seq":<n>,"time":"<UTC>",...,"hash":"<64 hex>"}

- ``hash`` is the SHA-256 (lower-case hex) of the line's bytes before ``,"hash":"`` — the line
  without its newline and without its last 75 bytes.
- ``prev`` is the hash of the previous line of the whole trail (64 zeros for the genesis line).
- A signed line (seal ``s`` or checkpoint ``c``) ends ``,"sig":"<128 hex>","hash":...``: the
  Ed25519 signature covers the bytes before ``,"sig":"``, so it covers ``prev`` (the chain head).

docs/trail.md is the full specification; this module is its reference implementation.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

__all__ = [
    "FORMAT",
    "GENESIS_PREV",
    "KINDS",
    "VERSION",
    "ZERO_CMD",
    "b64e",
    "b64d",
    "build_line",
    "dumps",
    "line_hash",
    "now",
    "parse_line",
    "seq_of",
    "split_signed",
    "well_formed",
]

FORMAT = "auditkit-trail"
VERSION = 1
GENESIS_PREV = "0" * 64
ZERO_CMD = "0" * 32
#: g genesis, n segment start, e event, s seal, c checkpoint, r recovery.
KINDS = frozenset("gnescr")

# Fixed byte positions (the line without its newline).
P_PREV = b'{"prev":"'  # [0:9], prev hex at [9:73]
P_CMD = b'","cmd":"'  # [73:82], cmd hex at [82:114]
P_KIND = b'","kind":"'  # [114:124], kind at [124]
P_SEQ = b'","seq":'  # [125:133], seq digits from 133
SEQ_AT = 133
S_HASH = b',"hash":"'  # [-75:-66], hash hex at [-66:-2], then '"}'
SIG_MARK = b',"sig":"'
SUFFIX_LEN = 75
MIN_LEN = SEQ_AT + 1 + SUFFIX_LEN


def now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fraction digits)."""
    t = _dt.datetime.now(_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}Z"


def b64e(data: bytes) -> str:
    """Unpadded base64url text of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Bytes of unpadded base64url ``text`` (``binascii.Error`` / ``ValueError`` when invalid)."""
    if not isinstance(text, str):
        raise binascii.Error("not text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, sort_keys=True,
                          allow_nan=False).encode
#: The format's JSON encoder: ASCII, no spaces, sorted keys (how every field value is written).
dumps = _dumps


def line_hash(body: bytes) -> str:
    """SHA-256 hex of the hashed part of a line (``body`` = the line without newline and suffix)."""
    return hashlib.sha256(body).hexdigest()


def build_line(
    prev: str,
    cmd: str,
    kind: str,
    seq: int,
    fields: Iterable[tuple[str, Any]],
    *,
    sign: Any = None,
    time: str | None = None,
) -> tuple[bytes, str]:
    """One complete line (with newline) and its hash.

    Parameters
    ----------
    prev, cmd, kind, seq
        The fixed fields: previous hash, command id, kind letter and global position.
    fields
        The other ``(name, value)`` pairs in order, after ``seq`` and ``time``.
    sign
        A callable ``bytes -> 64-byte signature``; when given, ``,"sig":"<hex>"`` is added over
        the bytes written so far.
    time
        The UTC time text; :func:`now` by default.
    """
    parts = [f'{{"prev":"{prev}","cmd":"{cmd}","kind":"{kind}","seq":{seq},'
             f'"time":"{time or now()}"']
    parts.extend(f',"{name}":{_dumps(value)}' for name, value in fields)
    body = "".join(parts).encode("ascii")
    if sign is not None:
        sig = sign(body)
        if not isinstance(sig, (bytes, bytearray)) or len(sig) != 64:
            from auditkit.privacy.errors import TrailError

            raise TrailError("The trail signer's sign() must return a 64-byte Ed25519 signature; "
                             "nothing was written. Check the identity or key in use.")
        body += b',"sig":"' + bytes(sig).hex().encode("ascii") + b'"'
    digest = line_hash(body)
    return body + b',"hash":"' + digest.encode("ascii") + b'"}\n', digest


def well_formed(line: bytes) -> bool:
    """Whether ``line`` (without newline) has the fixed prefix and suffix of format v1."""
    return (
        len(line) >= MIN_LEN
        and line[:9] == P_PREV
        and line[73:82] == P_CMD
        and line[114:124] == P_KIND
        and line[125:133] == P_SEQ
        and line[-75:-66] == S_HASH
        and line[-2:] == b'"}'
    )


def seq_of(line: bytes) -> int | None:
    """The ``seq`` field of a well-formed line, read by position (None when not digits)."""
    end = line.find(b",", SEQ_AT)
    digits = line[SEQ_AT:end]
    if end < 0 or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The JSON object of a line (without newline), or None when it is not a JSON object."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: hostile nesting
        return None
    return obj if isinstance(obj, dict) else None


def split_signed(line: bytes) -> tuple[bytes, bytes] | None:
    """``(signed message, signature)`` of a signed line (without newline), or None."""
    body = line[:-SUFFIX_LEN]
    at = body.rfind(SIG_MARK)
    if at < 0 or len(body) - at != len(SIG_MARK) + 128 + 1 or body[-1:] != b'"':
        return None
    try:
        sig = bytes.fromhex(body[at + len(SIG_MARK):-1].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    return body[:at], sig
