"""The key ring: versioned 256-bit keys with ids and a primary, stored encrypted at rest.

Every key is 32 random bytes. Nothing encrypts under a ring key directly: each use derives its
own sub-key with HKDF-SHA-256 and a purpose label (file-key wrapping, randomized column tokens,
deterministic column tokens, pseudonyms per context), so one key never serves two algorithms.

The ring file is JSON text:

.. code-block:: json

    {"format": "auditkit-keyring", "version": 1,
     "kek": {"kind": "scrypt", "salt": "...", "n": 32768, "r": 8, "p": 1},
     "nonce": "...", "ciphertext": "..."}

``ciphertext`` is AES-256-GCM under the key-encryption key (KEK) of the JSON of the keys, with
every other field of the file as associated data, so the KDF parameters cannot be altered
either. The KEK comes from scrypt over a passphrase (parameters stored in the file) or from an
environment variable holding 32 random bytes in base64. The scrypt parameters are read before
the file can be authenticated, so :meth:`KeyRing.load` refuses any outside the bounds of
:func:`~auditkit.privacy.crypto._kek.check_scrypt_cost` before deriving anything (the KEK and
its sources are in ``_kek``). ``docs/crypto.md`` gives the exact layout.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from auditkit.atomic import atomic_write_text
from auditkit.privacy.crypto._base64url import b64d, b64e
from auditkit.privacy.crypto._kek import (
    UNREADABLE_RING,
    check_scrypt_cost,
    kek_for_load,
    kek_for_save,
)
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

__all__ = ["KeyInfo", "KeyRing", "RingSigner", "check_private_key_file", "kek_kind", "keyring_protection"]

FORMAT = "auditkit-keyring"
FORMAT_VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 4


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about one key of a ring (never its material)."""

    key_id: str
    version: int
    created: str
    primary: bool

    def __str__(self) -> str:
        mark = " (primary)" if self.primary else ""
        return f"{self.key_id} v{self.version} created {self.created}{mark}"


@dataclass(frozen=True)
class _Key:
    key_id: str
    version: int
    created: str
    material: bytes

    def __repr__(self) -> str:  # never show the material
        return f"_Key(key_id={self.key_id!r}, version={self.version})"


def _key_from_entry(entry: Any) -> _Key:
    """One key of a decrypted ring body; DecryptionError when the entry is malformed."""
    key_id = entry["id"]
    if not isinstance(key_id, str) or len(key_id) != 2 * KEY_ID_BYTES:
        raise DecryptionError(UNREADABLE_RING)
    bytes.fromhex(key_id)  # ValueError (caught by the caller) unless hex
    key = _Key(key_id, int(entry["version"]), str(entry["created"]), b64d(entry["material"]))
    if len(key.material) != KEY_BYTES:
        raise DecryptionError(UNREADABLE_RING)
    return key


class KeyRing:
    """Versioned keys with ids and a primary key.

    The primary key encrypts and pseudonymises; every key in the ring decrypts. Rotation adds a
    new primary and keeps the old keys, so data written under them stays readable (and files
    can be rewrapped to the new key with :func:`auditkit.privacy.crypto.rewrap`).

    Examples
    --------
    >>> ring = KeyRing.generate()
    >>> old = ring.primary_id
    >>> new = ring.rotate()
    >>> ring.primary_id == new and ring.key_ids == (old, new)
    True
    """

    def __init__(self, keys: list[_Key], primary_id: str) -> None:
        if not keys:
            raise PrivacyInputError("A key ring needs at least one key; got none.")
        self._keys: dict[str, _Key] = {k.key_id: k for k in sorted(keys, key=lambda k: k.version)}
        if primary_id not in self._keys:
            raise PrivacyInputError("The key ring's primary key id is not one of its keys.")
        self._primary = primary_id
        self._derived: dict[tuple[str, bytes, int], bytes] = {}

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def generate(cls) -> KeyRing:
        """A new ring holding one fresh random key, which is the primary."""
        key = _Key(cls._new_id(set()), 1, _now(), secrets.token_bytes(KEY_BYTES))
        return cls([key], key.key_id)

    @staticmethod
    def _new_id(taken: set[str]) -> str:
        while True:
            kid = secrets.token_hex(KEY_ID_BYTES)
            if kid not in taken:
                return kid

    def rotate(self) -> str:
        """Add a fresh key, make it the primary, and return its id. Old keys stay for decryption."""
        version = max(k.version for k in self._keys.values()) + 1
        key = _Key(self._new_id(set(self._keys)), version, _now(), secrets.token_bytes(KEY_BYTES))
        self._keys[key.key_id] = key
        self._primary = key.key_id
        return key.key_id

    # -- introspection ---------------------------------------------------------------------
    @property
    def primary_id(self) -> str:
        """Id of the key that encrypts and pseudonymises."""
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Ids of every key, oldest first."""
        return tuple(self._keys)

    def keys_info(self) -> list[KeyInfo]:
        """Id, version, creation time and primary flag of every key, oldest first."""
        return [
            KeyInfo(k.key_id, k.version, k.created, k.key_id == self._primary)
            for k in self._keys.values()
        ]

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(primary_id={self._primary!r}, key_ids={list(self._keys)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyRing):
            return NotImplemented
        return self._primary == other._primary and self._keys == other._keys

    __hash__ = None  # type: ignore[assignment]  # mutable (rotate)

    def signing_key(self, key_id: str | None = None) -> bytes:
        """Raw Ed25519 private key (32 bytes) for signing report manifests.

        Derived with HKDF from key ``key_id`` (default: the primary) for this one purpose, so
        the ring's encryption keys are never used to sign. The same ring and key id always give
        the same signing key; its public half can be published for ``auditkit verify``.
        """
        return self._derive(self._known_id(key_id), b"report-signing/ed25519", 32)

    def ledger_key(self, key_id: str | None = None) -> bytes:
        """HMAC-SHA-256 key (32 bytes) that authenticates DP budget ledgers.

        Derived with HKDF-SHA-256 (no salt, info ``b"auditkit/v1/dp-ledger/hmac-sha256"``) from
        key ``key_id`` (default: the primary), so no other use of the ring shares it.
        """
        return self._derive(self._known_id(key_id), b"dp-ledger/hmac-sha256", 32)

    def trail_signer(self, key_id: str | None = None) -> RingSigner:
        """The signer of audit-trail seals for the legacy one-principal model.

        Without identities, whoever holds the ring is one principal, named ``keyring:<key id>``;
        its Ed25519 key is derived with HKDF from key ``key_id`` (default: the primary) for this
        one purpose (info ``b"auditkit/v1/trail-signing/ed25519"``). ``auditkit trail verify
        --keyring`` trusts it; :mod:`auditkit.privacy.trail` documents the seal.
        """
        kid = self._known_id(key_id)
        return RingSigner(f"keyring:{kid}", self._derive(kid, b"trail-signing/ed25519", 32))

    def _known_id(self, key_id: str | None) -> str:
        """``key_id`` (default: the primary's), refused unless the ring holds it."""
        kid = self._primary if key_id is None else key_id
        if kid not in self._keys:
            raise PrivacyInputError(
                f"The key ring has no key {kid!r}; its key ids are {', '.join(self._keys)}."
            )
        return kid

    # -- sub-keys (private to auditkit.privacy.crypto) ------------------------------------------------
    def _derive(self, key_id: str, purpose: bytes, length: int = KEY_BYTES) -> bytes:
        """HKDF-SHA-256 sub-key of key ``key_id`` for ``purpose``; KeyError if unknown id."""
        cache_key = (key_id, purpose, length)
        sub = self._derived.get(cache_key)
        if sub is None:
            material = self._keys[key_id].material
            sub = HKDF(
                algorithm=hashes.SHA256(), length=length, salt=None, info=b"auditkit/v1/" + purpose
            ).derive(material)
            self._derived[cache_key] = sub
        return sub

    # -- persistence -----------------------------------------------------------------------
    def secret_bytes(self) -> bytes:
        """The ring's keys, material included, as the JSON that :meth:`save` encrypts.

        Key material in clear: only for sealing the ring under another key (the access
        envelope of :mod:`auditkit.privacy.access`); never write it to disk or a log.
        """
        keys = [
            {"id": k.key_id, "version": k.version, "created": k.created, "material": b64e(k.material)}
            for k in self._keys.values()
        ]
        return json.dumps({"primary": self._primary, "keys": keys}, sort_keys=True).encode()

    @classmethod
    def from_secret_bytes(cls, data: bytes) -> KeyRing:
        """The ring of :meth:`secret_bytes` output; DecryptionError when it is malformed."""
        try:
            doc = json.loads(data)
            return cls([_key_from_entry(k) for k in doc["keys"]], doc["primary"])
        except PrivacyInputError:
            raise DecryptionError(UNREADABLE_RING) from None
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise DecryptionError(UNREADABLE_RING) from None

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        passphrase: str | None = None,
        kek_env: str | None = None,
    ) -> Path:
        """Write the ring, encrypted, to ``path`` (mode 0600, atomically).

        Parameters
        ----------
        passphrase:
            Derive the key-encryption key with scrypt (fresh salt; parameters stored).
        kek_env:
            Name of an environment variable holding the key-encryption key (base64 of 32
            bytes, see :func:`new_kek`). Give exactly one of ``passphrase`` and ``kek_env``.
        """
        kek, kek_params = kek_for_save(passphrase, kek_env)
        header: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION, "kek": kek_params}
        body = self.secret_bytes()
        nonce = secrets.token_bytes(12)
        header["nonce"] = b64e(nonce)
        ct = AESGCM(kek).encrypt(nonce, body, _canonical(header))
        doc = dict(header, ciphertext=b64e(ct))
        target = Path(path)
        atomic_write_text(target, json.dumps(doc, indent=1) + "\n", mode=0o600)
        return target

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        passphrase: str | None = None,
        kek_env: str | None = None,
    ) -> KeyRing:
        """Read a ring written by :meth:`save`.

        Raises
        ------
        PrivacyInputError
            The file is missing, not a key ring, or readable by group or others (``chmod 600``),
            or its scrypt parameters are not ints within the load limits (``n`` a power of two
            from 2^14 to 2^21, ``128 * n * r`` at most 256 MiB, ``1 <= p <= 4``); checked
            before any key derivation runs.
        DecryptionError
            Wrong passphrase or key-encryption key, or the file was altered.
        """
        target = Path(path)
        check_private_key_file(target)
        doc = _read_ring_document(target)
        kek_params = doc.get("kek")
        if isinstance(kek_params, dict) and kek_params.get("kind") == "scrypt":
            check_scrypt_cost(kek_params, str(target))  # before any derivation runs
        try:
            header = {k: doc[k] for k in ("format", "version", "kek", "nonce")}
            kek = kek_for_load(header["kek"], passphrase, kek_env, str(target))
            body = AESGCM(kek).decrypt(
                b64d(header["nonce"]), b64d(doc["ciphertext"]), _canonical(header)
            )
            data = json.loads(body)
            return cls([_key_from_entry(k) for k in data["keys"]], data["primary"])
        except PrivacyInputError:
            raise
        except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
            raise DecryptionError(UNREADABLE_RING) from None

    @classmethod
    def load_from_env(cls, path: str | os.PathLike[str], env_var: str) -> KeyRing:
        """Load a ring whose secret is in environment variable ``env_var``, whatever its kind.

        For a passphrase-protected ring the variable holds the passphrase; for a ring saved with
        ``kek_env`` it holds the key-encryption key. Services and the audit runner use this.

        Raises
        ------
        PrivacyInputError
            The variable is not set (or see :meth:`load`).
        """
        if not os.environ.get(env_var):
            raise PrivacyInputError(
                f"The environment variable {env_var!r} is not set or empty; it must hold the "
                f"passphrase (or key-encryption key) of the key ring {str(path)!r}. Set it in the "
                "environment of this process, e.g. from your secret store."
            )
        if kek_kind(path) == "env":
            return cls.load(path, kek_env=env_var)
        return cls.load(path, passphrase=os.environ[env_var])


class RingSigner:
    """Signs audit-trail seals with a key derived from a ring (``auditkit.privacy.trail.Signer``)."""

    def __init__(self, name: str, seed: bytes) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.name = name
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self._public = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = hashlib.sha256(self._public).hexdigest()[:16]

    def public_key_raw(self) -> bytes:
        """The 32 raw bytes of the Ed25519 public key."""
        return self._public

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature (64 bytes) of ``message``."""
        return self._private.sign(message)

    def __repr__(self) -> str:  # never show the key
        return f"RingSigner(name={self.name!r}, key_id={self.key_id!r})"


def keyring_protection(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """How a ring file is protected, from its public part (no secret needed).

    Returns ``{"kind": "scrypt", "n": ..., "r": ..., "p": ..., "cipher": "AES-256-GCM"}``,
    ``{"kind": "env", "cipher": "AES-256-GCM"}``, or ``None`` when the file is missing or not a
    key ring.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            return None
        kek = doc["kek"]
        kind = kek["kind"]
        if kind == "scrypt":
            return {
                "kind": "scrypt",
                "n": int(kek["n"]),
                "r": int(kek["r"]),
                "p": int(kek["p"]),
                "cipher": "AES-256-GCM",
            }
        if kind == "env":
            return {"kind": "env", "cipher": "AES-256-GCM"}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def kek_kind(path: str | os.PathLike[str]) -> str | None:
    """``"scrypt"`` or ``"env"``: how a ring file's key is protected (``None`` if unreadable)."""
    info = keyring_protection(path)
    return None if info is None else info["kind"]


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _canonical(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def check_private_key_file(
    target: Path, what: str = "key ring file", create: str = "Create one with `auditkit keys init`."
) -> None:
    """Refuse a key file (a ring, an identity) that is missing or that group or others may read
    or write; ``what`` names it in the message and ``create`` says how to make one."""
    try:
        st = target.stat()
    except FileNotFoundError:
        raise PrivacyInputError(f"The {what} {str(target)!r} does not exist. {create}") from None
    if os.name == "posix" and stat.S_IMODE(st.st_mode) & 0o077:
        raise PrivacyInputError(
            f"The {what} {str(target)!r} is readable or writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); key files must be private. "
            f"Run `chmod 600 {target}` and check who may have read it."
        )


def _read_ring_document(target: Path) -> dict[str, Any]:
    """The ring file's JSON object, refused unless it is an auditkit ring of this version."""
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except ValueError:  # UnicodeDecodeError included
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PrivacyInputError(
            f"The file {str(target)!r} is not an auditkit key ring; expected the JSON written "
            "by `auditkit keys init` or KeyRing.save."
        )
    if doc.get("version") != FORMAT_VERSION:
        raise PrivacyInputError(
            f"The key ring {str(target)!r} has format version {doc.get('version')!r}; this "
            f"auditkit reads version {FORMAT_VERSION}. Upgrade auditkit."
        )
    return doc
