"""Wrapping a file's data key to its recipients: the stanzas of a version-2 header.

Two kinds of stanza, each a JSON object (``docs/crypto.md`` gives the bytes):

- ``x25519`` — ephemeral-static X25519 as in age: a fresh ephemeral key pair per stanza, the
  wrap key ``HKDF-SHA-256(shared secret, salt = epk || recipient, info =
  b"auditkit/v2/x25519-wrap")`` and AES-256-GCM with a zero nonce (each wrap key is used once).
  The stanza names its recipient (principal name, Ed25519 key id, X25519 public key).
- ``keyring`` — the version-1 wrap under a key ring key (HKDF info
  ``b"auditkit/v1/file-key-wrap"``), random nonce, associated data ``b"AKCRYPT" || 0x02 ||
  key id``, so that a holder of the legacy ring is a recipient too.

What opens a file (an *opener*) is a :class:`~auditkit.privacy.crypto.KeyRing` (through a
keyring stanza) or any object with ``x25519_private_bytes()`` (:class:`Unwrapper`;
``auditkit.privacy.access.Identity`` is one). An opener that no stanza names gets the same
opaque :class:`~auditkit.privacy.errors.DecryptionError` as any other failure.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from auditkit.privacy.crypto._base64url import b64d, b64e
from auditkit.privacy.crypto._keyring import KeyRing
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

__all__ = ["MAX_RECIPIENTS", "Recipient", "Unwrapper"]

MAX_RECIPIENTS = 1024
X25519_WRAP_INFO = b"auditkit/v2/x25519-wrap"
KEYRING_WRAP_PURPOSE = b"file-key-wrap"  # HKDF info b"auditkit/v1/file-key-wrap", as in version 1
KEYRING_AAD_PREFIX = b"AKCRYPT\x02"
ZERO_NONCE = bytes(12)
DATA_KEY_LEN = 32
_NAME_MAX = 120
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_RING_KEY_ID = re.compile(r"[0-9a-f]{8}")


class Recipient(NamedTuple):
    """Who a version-2 file's data key is wrapped to.

    ``name`` is the principal's name, ``key_id`` the 16-hex-digit id of its Ed25519 signing key
    (as in the trust store), ``x25519_public`` its raw 32-byte X25519 public key.
    """

    name: str
    key_id: str
    x25519_public: bytes

    def __repr__(self) -> str:
        pub = self.x25519_public.hex()[:16] if isinstance(self.x25519_public, bytes) else "?"
        return f"Recipient(name={self.name!r}, key_id={self.key_id!r}, x25519_public=<{pub}...>)"


@runtime_checkable
class Unwrapper(Protocol):
    """What can open the x25519 stanza wrapped to it: ``auditkit.privacy.access.Identity``."""

    def x25519_private_bytes(self) -> bytes:
        """The raw 32-byte X25519 private key."""
        ...


class NotARecipient(DecryptionError):
    """No stanza names the opener (private: the public functions raise plain DecryptionError)."""


@dataclass(frozen=True)
class X25519Stanza:
    name: str
    key_id: str
    recipient: bytes
    epk: bytes
    wrapped: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "type": "x25519",
            "name": self.name,
            "key_id": self.key_id,
            "recipient": b64e(self.recipient),
            "epk": b64e(self.epk),
            "wrapped": b64e(self.wrapped),
        }

    def as_recipient(self) -> Recipient:
        return Recipient(self.name, self.key_id, self.recipient)


@dataclass(frozen=True)
class KeyringStanza:
    key_id: str
    nonce: bytes
    wrapped: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "type": "keyring",
            "key_id": self.key_id,
            "nonce": b64e(self.nonce),
            "wrapped": b64e(self.wrapped),
        }


Stanza = X25519Stanza | KeyringStanza


# -- wrapping --------------------------------------------------------------------------------
def _x25519_wrap_key(shared: bytes, epk: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), length=32, salt=epk + recipient, info=X25519_WRAP_INFO).derive(
        shared
    )


def wrap_x25519(
    dek: bytes, rcpt: Recipient, *, ephemeral: X25519PrivateKey | None = None
) -> X25519Stanza:
    """A stanza wrapping ``dek`` to ``rcpt`` (``ephemeral`` is for known-answer tests only)."""
    eph = ephemeral if ephemeral is not None else X25519PrivateKey.generate()
    epk = eph.public_key().public_bytes_raw()
    try:
        shared = eph.exchange(X25519PublicKey.from_public_bytes(rcpt.x25519_public))
    except ValueError:  # a low-order point: the shared secret would be all zeros
        raise PrivacyInputError(
            f"The X25519 public key of recipient {rcpt.name!r} is not a usable key (a low-order "
            "point). Ask the principal for the encryption key of their identity file."
        ) from None
    wrapped = AESGCM(_x25519_wrap_key(shared, epk, rcpt.x25519_public)).encrypt(
        ZERO_NONCE, dek, None
    )
    return X25519Stanza(rcpt.name, rcpt.key_id, rcpt.x25519_public, epk, wrapped)


def _keyring_aad(key_id: str) -> bytes:
    return KEYRING_AAD_PREFIX + bytes.fromhex(key_id)


def wrap_keyring(dek: bytes, ring: KeyRing) -> KeyringStanza:
    """A stanza wrapping ``dek`` under the ring's primary key."""
    kid = ring.primary_id
    nonce = secrets.token_bytes(12)
    wrapped = AESGCM(ring._derive(kid, KEYRING_WRAP_PURPOSE)).encrypt(nonce, dek, _keyring_aad(kid))
    return KeyringStanza(kid, nonce, wrapped)


def make_stanzas(
    dek: bytes, recipients: Sequence[Recipient], ring: KeyRing | None
) -> tuple[Stanza, ...]:
    """One fresh stanza per recipient, then a keyring stanza when ``ring`` is given."""
    out: list[Stanza] = [wrap_x25519(dek, r) for r in recipients]
    if ring is not None:
        out.append(wrap_keyring(dek, ring))
    return tuple(out)


# -- unwrapping ------------------------------------------------------------------------------
def _private_key(opener: Any) -> X25519PrivateKey:
    raw = opener.x25519_private_bytes()
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 32:
        raise PrivacyInputError(
            f"The opener's x25519_private_bytes() must return the 32 raw bytes of an X25519 "
            f"private key; got {type(raw).__name__} of another length. Load the identity with "
            "auditkit.privacy.access.Identity.load."
        )
    return X25519PrivateKey.from_private_bytes(bytes(raw))


def _unwrap_x25519(stanza: X25519Stanza, key: X25519PrivateKey) -> bytes | None:
    try:
        shared = key.exchange(X25519PublicKey.from_public_bytes(stanza.epk))
        dek = AESGCM(_x25519_wrap_key(shared, stanza.epk, stanza.recipient)).decrypt(
            ZERO_NONCE, stanza.wrapped, None
        )
    except (ValueError, InvalidTag):
        return None
    return dek if len(dek) == DATA_KEY_LEN else None


def _unwrap_keyring(stanza: KeyringStanza, ring: KeyRing) -> bytes | None:
    try:
        aead = AESGCM(ring._derive(stanza.key_id, KEYRING_WRAP_PURPOSE))
        dek = aead.decrypt(stanza.nonce, stanza.wrapped, _keyring_aad(stanza.key_id))
    except InvalidTag:
        return None
    return dek if len(dek) == DATA_KEY_LEN else None


def unlock(stanzas: Iterable[Stanza], opener: Any) -> bytes:
    """The data key from the first stanza that names ``opener`` and opens.

    Raises :class:`NotARecipient` when no stanza names the opener (its ring key id or X25519
    public key), :class:`DecryptionError` when the stanzas naming it do not open.
    """
    if isinstance(opener, KeyRing):
        ring_mine = [s for s in stanzas if isinstance(s, KeyringStanza) and s.key_id in opener]
        if not ring_mine:
            raise NotARecipient()
        found = (_unwrap_keyring(s, opener) for s in ring_mine)
    else:
        key = _private_key(opener)
        pub = key.public_key().public_bytes_raw()
        x_mine = [
            s
            for s in stanzas
            if isinstance(s, X25519Stanza) and hmac.compare_digest(s.recipient, pub)
        ]
        if not x_mine:
            raise NotARecipient()
        found = (_unwrap_x25519(s, key) for s in x_mine)
    for dek in found:
        if dek is not None:
            return dek
    raise DecryptionError()


# -- checking --------------------------------------------------------------------------------
def check_opener(opener: Any, fn: str) -> str:
    """``"keyring"`` or ``"x25519"``: how ``opener`` opens files; PrivacyInputError otherwise."""
    if isinstance(opener, KeyRing):
        return "keyring"
    if callable(getattr(opener, "x25519_private_bytes", None)):
        return "x25519"
    raise PrivacyInputError(
        f"The opener of {fn} must be a auditkit.privacy.crypto.KeyRing or an identity with "
        f"x25519_private_bytes() (auditkit.privacy.access.Identity); got {type(opener).__name__}. "
        "Load one with KeyRing.load(...) or Identity.load(...)."
    )


def check_recipients(recipients: Any, fn: str) -> list[Recipient]:
    """``recipients`` as a list of :class:`Recipient`, exact duplicates dropped, order kept."""
    if isinstance(recipients, (str, bytes)) or not isinstance(recipients, Iterable):
        raise PrivacyInputError(
            f"The 'recipients' parameter of {fn} must be a list of "
            f"auditkit.privacy.crypto.Recipient; got {type(recipients).__name__}."
        )
    out: list[Recipient] = []
    by_key: dict[bytes, Recipient] = {}
    for i, item in enumerate(recipients):
        r = _check_recipient(item, fn, i)
        seen = by_key.get(r.x25519_public)
        if seen is None:
            by_key[r.x25519_public] = r
            out.append(r)
        elif seen != r:
            raise PrivacyInputError(
                f"Recipients {seen.name!r} and {r.name!r} of {fn} have the same X25519 public key; "
                "each principal needs its own identity key. Fix the policy's principals."
            )
    if len(out) > MAX_RECIPIENTS:
        raise PrivacyInputError(
            f"{fn} got {len(out)} recipients; a file can have at most {MAX_RECIPIENTS}. "
            "Wrap to roles' members in smaller groups, or share through the key ring."
        )
    return out


def _check_recipient(item: Any, fn: str, i: int) -> Recipient:
    try:
        name, key_id, pub = item
    except (TypeError, ValueError):
        raise PrivacyInputError(
            f"Recipient {i} of {fn} must be a Recipient(name, key_id, x25519_public); got "
            f"{type(item).__name__}. Use Identity.recipient() or Policy.recipients_for()."
        ) from None
    if not isinstance(name, str) or not 1 <= len(name) <= _NAME_MAX or not name.isprintable():
        raise PrivacyInputError(
            f"Recipient {i} of {fn}: the name must be printable text of 1 to {_NAME_MAX} characters."
        )
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise PrivacyInputError(
            f"Recipient {name!r} of {fn}: key_id must be the 16 lowercase hex digits of its "
            "Ed25519 key id (as `auditkit keys trusted` shows)."
        )
    if not isinstance(pub, (bytes, bytearray)) or len(pub) != 32:
        raise PrivacyInputError(
            f"Recipient {name!r} of {fn}: x25519_public must be the 32 raw bytes of an X25519 "
            "public key (decode the trust store's base64url encryption_key)."
        )
    return Recipient(name, key_id, bytes(pub))


def _b64_exact(value: Any, length: int) -> bytes:
    if not isinstance(value, str) or len(value) != -(-length * 4 // 3):
        raise DecryptionError()
    raw = b64d(value)  # binascii.Error / ValueError: the caller maps it to DecryptionError
    if len(raw) != length or b64e(raw) != value:
        raise DecryptionError()
    return raw


_X25519_FIELDS = frozenset({"type", "name", "key_id", "recipient", "epk", "wrapped"})
_KEYRING_FIELDS = frozenset({"type", "key_id", "nonce", "wrapped"})


def parse_stanza(obj: Any) -> Stanza:
    """A stanza from its JSON object; DecryptionError (or ValueError) when it is malformed."""
    if not isinstance(obj, dict):
        raise DecryptionError()
    kind = obj.get("type")
    if kind == "x25519" and obj.keys() == _X25519_FIELDS:
        name, key_id = obj["name"], obj["key_id"]
        if not isinstance(name, str) or not 1 <= len(name) <= _NAME_MAX or not name.isprintable():
            raise DecryptionError()
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise DecryptionError()
        return X25519Stanza(
            name,
            key_id,
            _b64_exact(obj["recipient"], 32),
            _b64_exact(obj["epk"], 32),
            _b64_exact(obj["wrapped"], DATA_KEY_LEN + 16),
        )
    if kind == "keyring" and obj.keys() == _KEYRING_FIELDS:
        key_id = obj["key_id"]
        if not isinstance(key_id, str) or not _RING_KEY_ID.fullmatch(key_id):
            raise DecryptionError()
        return KeyringStanza(
            key_id, _b64_exact(obj["nonce"], 12), _b64_exact(obj["wrapped"], DATA_KEY_LEN + 16)
        )
    raise DecryptionError()
