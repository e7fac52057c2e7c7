"""The header of format version 2: build, parse and authenticate (no file I/O beyond reading it).

Layout (integers big-endian; ``docs/crypto.md`` gives every byte)::

    magic b"AKCRYPT" (7) | version 2 (1) | header length L (4) | header JSON (L bytes) |
    header MAC (32) | segments exactly as version 1, from byte 44 + L

The header JSON is canonical (sorted keys, no whitespace, ASCII)::

    {"nonce_prefix": b64u(7), "policy": {"hash": hex, "serial": n} | null,
     "recipients": [stanza, ...], "resource": str | null, "segment_size": S}

with the stanzas of :mod:`._recipients`. The MAC is HMAC-SHA-256 under
``HKDF-SHA-256(data key, info=b"auditkit/v2/header-mac")`` over every byte before it, and is
checked before any segment is decrypted: a removed, added or edited stanza, policy or resource,
or a header from another file, fails. The header length is bounded (1 MiB) before anything
else is read, and the stanza count (1024) before any stanza is parsed. :func:`read_header`
parses a header of either version into one :class:`Parsed` view.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import re
import struct
from dataclasses import dataclass
from typing import IO, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from auditkit.privacy.crypto import _stream as v1
from auditkit.privacy.crypto._base64url import b64d, b64e
from auditkit.privacy.crypto._keyring import KeyRing
from auditkit.privacy.crypto._recipients import (
    MAX_RECIPIENTS,
    KeyringStanza,
    NotARecipient,
    Recipient,
    Stanza,
    X25519Stanza,
    parse_stanza,
    unlock,
)
from auditkit.privacy.crypto._stream import EncryptedFileInfo
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

__all__ = ["MAX_HEADER_LEN", "Parsed", "V2Header", "read_header"]

VERSION = 2
PREAMBLE_LEN = 12  # magic (7) + version (1) + header length (4)
MAC_LEN = 32
MAX_HEADER_LEN = 1024 * 1024
MAC_INFO = b"auditkit/v2/header-mac"
_HEADER_FIELDS = frozenset({"segment_size", "nonce_prefix", "recipients", "policy", "resource"})
_POLICY_HASH = re.compile(r"[0-9a-f]{16,128}")
_RESOURCE_MAX = 4096


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _mac(dek: bytes, signed: bytes) -> bytes:
    key = HKDF(hashes.SHA256(), length=32, salt=None, info=MAC_INFO).derive(dek)
    return hmac.new(key, signed, hashlib.sha256).digest()


@dataclass(frozen=True)
class V2Header:
    segment_size: int
    prefix: bytes
    stanzas: tuple[Stanza, ...]
    policy: dict[str, Any] | None
    resource: str | None

    def body(self) -> bytes:
        return _canonical(
            {
                "segment_size": self.segment_size,
                "nonce_prefix": b64e(self.prefix),
                "recipients": [s.to_json() for s in self.stanzas],
                "policy": self.policy,
                "resource": self.resource,
            }
        )

    def pack(self, dek: bytes) -> bytes:
        """Preamble, header JSON and MAC: every byte before the segments."""
        body = self.body()
        if len(body) > MAX_HEADER_LEN:
            raise PrivacyInputError(
                f"The version-2 header would be {len(body)} bytes; at most {MAX_HEADER_LEN} are "
                "allowed. Use fewer recipients or a shorter resource name."
            )
        signed = v1.MAGIC + bytes([VERSION]) + struct.pack(">I", len(body)) + body
        return signed + _mac(dek, signed)

    def access(self) -> tuple[frozenset[Recipient], frozenset[str], Any, Any]:
        """Who can open it and what it points at: equal for two headers granting the same."""
        x = frozenset(s.as_recipient() for s in self.stanzas if isinstance(s, X25519Stanza))
        ring_ids = frozenset(s.key_id for s in self.stanzas if isinstance(s, KeyringStanza))
        return x, ring_ids, _canonical(self.policy), self.resource


@dataclass(frozen=True)
class Parsed:
    """A parsed header of either version, not yet authenticated."""

    version: int
    segment_size: int
    prefix: bytes
    offset: int  # where the segments start
    v1: v1._Header | None = None
    v2: V2Header | None = None
    signed: bytes = b""
    mac: bytes = b""

    def unlock(self, opener: Any) -> bytes:
        """The data key, with the version-2 header MAC checked; NotARecipient / DecryptionError."""
        if self.v1 is not None:
            if not isinstance(opener, KeyRing) or self.v1.key_id not in opener:
                raise NotARecipient()
            return v1._unwrap(self.v1, opener)
        assert self.v2 is not None
        dek = unlock(self.v2.stanzas, opener)
        if not hmac.compare_digest(_mac(dek, self.signed), self.mac):
            raise DecryptionError()
        return dek

    def info(self) -> EncryptedFileInfo:
        if self.v1 is not None:
            return EncryptedFileInfo(self.v1.key_id, self.segment_size, 1)
        assert self.v2 is not None
        ring_ids = [s.key_id for s in self.v2.stanzas if isinstance(s, KeyringStanza)]
        return EncryptedFileInfo(
            ring_ids[0] if ring_ids else "",
            self.segment_size,
            VERSION,
            recipients=tuple(
                s.as_recipient() for s in self.v2.stanzas if isinstance(s, X25519Stanza)
            ),
            policy=None if self.v2.policy is None else dict(self.v2.policy),
            resource=self.v2.resource,
        )

    def params(self) -> dict[str, Any]:
        """Trail parameters: the format, never a name or a value."""
        out: dict[str, Any] = {"format_version": self.version, "segment_size": self.segment_size}
        if self.v2 is not None:
            out["recipients"] = len(self.v2.stanzas)
        return out


def _read_exact(fh: IO[bytes], n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise DecryptionError()
    return data


def read_header(fh: IO[bytes], name: str) -> Parsed:
    """Parse the header of either version from the start of ``fh`` (no key needed)."""
    head = fh.read(8)
    v1._check_magic(head, name)
    if head[7] == v1.VERSION:
        h = v1._parse_header(head + fh.read(v1.HEADER_LEN - 8), name)
        return Parsed(1, h.segment_size, h.prefix, v1.HEADER_LEN, v1=h)
    if head[7] != VERSION:
        raise DecryptionError()
    (length,) = struct.unpack(">I", _read_exact(fh, 4))
    if not 2 <= length <= MAX_HEADER_LEN:  # bounded before anything is read or parsed
        raise DecryptionError()
    body = _read_exact(fh, length)
    mac = _read_exact(fh, MAC_LEN)
    h = _parse_body(body)
    signed = head + struct.pack(">I", length) + body
    return Parsed(
        VERSION,
        h.segment_size,
        h.prefix,
        PREAMBLE_LEN + length + MAC_LEN,
        v2=h,
        signed=signed,
        mac=mac,
    )


def _parse_body(body: bytes) -> V2Header:
    try:
        doc = json.loads(body.decode("ascii"))
        if not isinstance(doc, dict) or doc.keys() != _HEADER_FIELDS:
            raise DecryptionError()
        seg, stanzas = doc["segment_size"], doc["recipients"]
        if type(seg) is not int or not v1.MIN_SEGMENT_SIZE <= seg <= v1.MAX_SEGMENT_SIZE:
            raise DecryptionError()
        if not isinstance(stanzas, list) or not 1 <= len(stanzas) <= MAX_RECIPIENTS:
            raise DecryptionError()
        prefix = b64d(doc["nonce_prefix"]) if isinstance(doc["nonce_prefix"], str) else b""
        h = V2Header(
            seg,
            prefix,
            tuple(parse_stanza(s) for s in stanzas),
            _parsed_policy(doc["policy"]),
            _parsed_resource(doc["resource"]),
        )
    except (ValueError, TypeError, RecursionError, binascii.Error):  # JSON, base64, hex
        raise DecryptionError() from None
    if len(prefix) != v1._PREFIX_LEN or h.body() != body:  # one encoding per header
        raise DecryptionError()
    return h


def _parsed_policy(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or value.keys() != {"serial", "hash"}
        or type(value["serial"]) is not int
        or value["serial"] < 0
        or not isinstance(value["hash"], str)
        or not _POLICY_HASH.fullmatch(value["hash"])
    ):
        raise DecryptionError()
    return {"serial": value["serial"], "hash": value["hash"]}


def _parsed_resource(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= _RESOURCE_MAX):
        raise DecryptionError()
    return value


def check_policy(policy: Any, fn: str) -> dict[str, Any] | None:
    try:
        return _parsed_policy(None if policy is None else dict(policy))
    except (DecryptionError, TypeError, ValueError):
        raise PrivacyInputError(
            f"The 'policy' parameter of {fn} must be None or a mapping with exactly 'serial' (an "
            "int >= 0) and 'hash' (16 to 128 lowercase hex digits): the signed access policy's "
            "reference, as auditkit.privacy.access gives it."
        ) from None


def check_resource(resource: Any, fn: str) -> str | None:
    if resource is None or (
        isinstance(resource, str) and 1 <= len(resource) <= _RESOURCE_MAX and resource.isprintable()
    ):
        return resource
    raise PrivacyInputError(
        f"The 'resource' parameter of {fn} must be None or a printable name of 1 to {_RESOURCE_MAX} "
        "characters (the file's resource name in the access policy, e.g. 'data/applicants.csv.enc')."
    )
