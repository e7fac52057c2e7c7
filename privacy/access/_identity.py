"""A principal's identity: a name with an Ed25519 signing key and an X25519 encryption key.

The private halves are kept in ``NAME.identity.json``, encrypted at rest exactly like the key
ring (:mod:`auditkit.privacy.crypto._kek`: scrypt over a passphrase, or a key-encryption key from
an environment variable), in a 0600 file that :meth:`Identity.load` refuses when group or others
may read it. The public halves are in the clear in the same file (and authenticated as associated
data), so :func:`read_public` needs no secret:

.. code-block:: json

    {"format": "auditkit-identity", "version": 1, "name": "alice", "key_id": "<16 hex>",
     "signing_key": "<b64url Ed25519 public>", "encryption_key": "<b64url X25519 public>",
     "kek": {"kind": "scrypt", "salt": "...", "n": 32768, "r": 8, "p": 1},
     "nonce": "...", "ciphertext": "..."}

``ciphertext`` is AES-256-GCM under the KEK of ``{"ed25519": b64url seed, "x25519": b64url
private}``, with every other field (canonical JSON, sorted keys, no spaces) as associated data.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditkit.atomic import atomic_write_text
from auditkit.privacy.crypto import (
    b64d,
    b64e,
    check_private_key_file,
    check_scrypt_cost,
    kek_for_load,
    kek_for_save,
)
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

__all__ = ["Identity", "PublicIdentity", "check_principal_name", "read_public"]

FORMAT = "auditkit-identity"
FORMAT_VERSION = 1
UNREADABLE_IDENTITY = (
    "Could not open the identity file: wrong passphrase or key-encryption key, or the file was altered."
)
_PUBLIC_FIELDS = ("format", "version", "name", "key_id", "signing_key", "encryption_key")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def check_principal_name(name: Any, where: str = "The principal name") -> str:
    """``name`` when it is a usable principal name (letters, digits, ``. _ @ + -``, at most 100)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PrivacyInputError(
            f"{where} must be 1 to 100 letters, digits, '.', '_', '@', '+' or '-', starting with a "
            "letter or digit (e.g. 'alice' or 'ci-pipeline'); choose such a name."
        )
    return name


def _signing_key_id(raw_public: bytes) -> str:
    """The trust store's key id: the first 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


class PublicIdentity:
    """The public half of an identity: name, key id, Ed25519 and X25519 public keys."""

    def __init__(self, name: str, signing_key: bytes, encryption_key: bytes) -> None:
        self.name = check_principal_name(name)
        if len(signing_key) != 32 or len(encryption_key) != 32:
            raise PrivacyInputError(
                f"The public keys of {name!r} must be 32 raw bytes each (Ed25519 and X25519)."
            )
        self.signing_key = bytes(signing_key)
        self.encryption_key = bytes(encryption_key)
        self.key_id = _signing_key_id(self.signing_key)

    def public_key_raw(self) -> bytes:
        """The 32 raw bytes of the Ed25519 public (signing) key."""
        return self.signing_key

    def public_key_pem(self) -> str:
        """The Ed25519 public key as PEM, as the trust store holds it."""
        key = Ed25519PublicKey.from_public_bytes(self.signing_key)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def public_entry(self) -> dict[str, str]:
        """``{"name", "key_id", "signing_key", "encryption_key"}`` as an access policy lists it."""
        return {
            "name": self.name,
            "key_id": self.key_id,
            "signing_key": b64e(self.signing_key),
            "encryption_key": b64e(self.encryption_key),
        }

    def recipient(self) -> Any:
        """This principal as a :class:`auditkit.privacy.crypto.Recipient` (files are wrapped to it)."""
        from auditkit.privacy.crypto import Recipient

        return Recipient(self.name, self.key_id, self.encryption_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, key_id={self.key_id!r})"


class Identity(PublicIdentity):
    """A principal's private keys: signs (trail seals, policies) and opens what is wrapped to it.

    Implements :class:`auditkit.privacy.trail.Signer` (``name``, ``key_id``,
    ``public_key_raw()``, ``sign()``) and the opener of version-2 encrypted files
    (``x25519_private_bytes()``). ``repr`` never shows key material.

    Examples
    --------
    >>> alice = Identity.generate("alice")
    >>> len(alice.sign(b"message")), len(alice.key_id)
    (64, 16)
    >>> alice
    Identity(name='alice', key_id='...')
    """

    def __init__(self, name: str, ed25519_seed: bytes, x25519_private: bytes) -> None:
        try:
            self._ed = Ed25519PrivateKey.from_private_bytes(ed25519_seed)
            self._x = X25519PrivateKey.from_private_bytes(x25519_private)
        except ValueError:
            raise PrivacyInputError(
                "An identity needs a 32-byte Ed25519 seed and a 32-byte X25519 private key."
            ) from None
        super().__init__(
            name, self._ed.public_key().public_bytes(*_RAW), self._x.public_key().public_bytes(*_RAW)
        )

    @classmethod
    def generate(cls, name: str) -> Identity:
        """A new identity called ``name`` with fresh random key pairs."""
        return cls(check_principal_name(name), secrets.token_bytes(32), secrets.token_bytes(32))

    def public(self) -> PublicIdentity:
        """The public half only (safe to hand to anyone)."""
        return PublicIdentity(self.name, self.signing_key, self.encryption_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._ed.sign(message)

    def x25519_private_bytes(self) -> bytes:
        """The raw X25519 private key: what opens a version-2 header stanza wrapped to it."""
        return self._x.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def _seed(self) -> bytes:
        return self._ed.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    # -- persistence ------------------------------------------------------------------------
    def save(
        self, path: str | os.PathLike[str], *, passphrase: str | None = None, kek_env: str | None = None
    ) -> Path:
        """Write the identity, its private keys encrypted, to ``path`` (mode 0600, atomically).

        Give exactly one of ``passphrase`` (scrypt) and ``kek_env`` (an environment variable
        holding a key-encryption key, see :func:`auditkit.privacy.crypto.new_kek`).
        """
        kek, kek_params = kek_for_save(passphrase, kek_env)
        header: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION, **self.public_entry()}
        header["kek"] = kek_params
        nonce = secrets.token_bytes(12)
        header["nonce"] = b64e(nonce)
        body = json.dumps(
            {"ed25519": b64e(self._seed()), "x25519": b64e(self.x25519_private_bytes())}, sort_keys=True
        ).encode()
        ct = AESGCM(kek).encrypt(nonce, body, _canonical(header))
        target = Path(path)
        atomic_write_text(target, json.dumps(dict(header, ciphertext=b64e(ct)), indent=1) + "\n", mode=0o600)
        return target

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, passphrase: str | None = None, kek_env: str | None = None
    ) -> Identity:
        """Read an identity written by :meth:`save`.

        Raises
        ------
        PrivacyInputError
            The file is missing, not an identity, readable by group or others, or its scrypt
            parameters are out of bounds (checked before any derivation).
        DecryptionError
            Wrong passphrase or key-encryption key, or the file was altered.
        """
        target = Path(path)
        _check_private_file(target)
        doc = _read_document(target)
        kek_params = doc.get("kek")
        if isinstance(kek_params, dict) and kek_params.get("kind") == "scrypt":
            check_scrypt_cost(kek_params, str(target))
        try:
            header = {k: doc[k] for k in (*_PUBLIC_FIELDS, "kek", "nonce")}
            kek = kek_for_load(header["kek"], passphrase, kek_env, str(target))
            body = json.loads(
                AESGCM(kek).decrypt(b64d(header["nonce"]), b64d(doc["ciphertext"]), _canonical(header))
            )
            identity = cls(header["name"], b64d(body["ed25519"]), b64d(body["x25519"]))
        except PrivacyInputError:
            raise
        except (DecryptionError, InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
            raise DecryptionError(UNREADABLE_IDENTITY) from None
        if identity.public_entry() != {k: header[k] for k in _PUBLIC_FIELDS[2:]}:
            raise DecryptionError(UNREADABLE_IDENTITY)
        return identity

    @classmethod
    def load_from_env(cls, path: str | os.PathLike[str], env_var: str) -> Identity:
        """Load an identity whose secret (passphrase or key-encryption key) is in ``$env_var``."""
        if not os.environ.get(env_var):
            raise PrivacyInputError(
                f"The environment variable {env_var!r} is not set or empty; it must hold the "
                f"passphrase (or key-encryption key) of the identity {str(path)!r}. Set it in the "
                "environment of this process, e.g. from your secret store."
            )
        if kek_kind_of(path) == "env":
            return cls.load(path, kek_env=env_var)
        return cls.load(path, passphrase=os.environ[env_var])


def read_public(path: str | os.PathLike[str]) -> PublicIdentity:
    """The public half of an identity file (no secret needed; not authenticated until loaded)."""
    doc = _read_document(Path(path))
    try:
        public = PublicIdentity(doc["name"], b64d(doc["signing_key"]), b64d(doc["encryption_key"]))
    except (KeyError, TypeError, ValueError, binascii.Error):
        public = None
    if public is None or public.key_id != doc.get("key_id"):
        raise PrivacyInputError(
            f"The identity file {str(path)!r} has unreadable public keys; it was altered. "
            "Restore it from your backup or create a new identity."
        )
    return public


def kek_kind_of(path: str | os.PathLike[str]) -> str | None:
    """``"scrypt"`` or ``"env"``: how an identity file's private keys are protected."""
    try:
        kek = _read_document(Path(path)).get("kek")
    except PrivacyInputError:
        return None
    return kek.get("kind") if isinstance(kek, dict) else None


def _canonical(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _check_private_file(target: Path) -> None:
    check_private_key_file(target, "identity file",
                           "Create one with `auditkit access identity new NAME --out FILE`.")


def _read_document(target: Path) -> dict[str, Any]:
    try:
        with target.open("rb") as fh:
            raw = fh.read(1 << 16)
        doc = json.loads(raw)
    except FileNotFoundError:
        raise PrivacyInputError(
            f"The identity file {str(target)!r} does not exist. Create one with `auditkit access "
            "identity new NAME --out FILE`."
        ) from None
    except (OSError, ValueError, RecursionError):  # RecursionError: planted deep nesting
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PrivacyInputError(
            f"The file {str(target)!r} is not an auditkit identity; expected the JSON written by "
            "`auditkit access identity new` or Identity.save."
        )
    if doc.get("version") != FORMAT_VERSION:
        raise PrivacyInputError(
            f"The identity {str(target)!r} has format version {str(doc.get('version'))[:20]!r}; "
            f"this auditkit reads version {FORMAT_VERSION}. Upgrade auditkit."
        )
    return doc
