"""Encryption at rest, column tokens and keyed pseudonyms, with real key management.

Safe recipes over the ``cryptography`` package's AEAD primitives; no unauthenticated mode is
used anywhere, and every failure to decrypt (wrong key, tampering, truncation) raises the same
opaque :class:`~privacy.errors.DecryptionError`.

- :class:`KeyRing` — versioned 256-bit keys with ids and a primary; ``rotate()``; saved
  encrypted under a key-encryption key from a passphrase (scrypt) or an environment variable,
  in a 0600 file that :meth:`KeyRing.load` refuses when group or others can read it.
- :func:`encrypt_file` / :func:`decrypt_file` / :func:`open_decrypted` — streaming AES-256-GCM
  in segments (the STREAM construction), one data key per file wrapped by the ring key
  (envelope encryption), constant memory, atomic outputs. :func:`rewrap` moves a file to the
  ring's current primary key without re-encrypting its data. :func:`is_encrypted` and
  :func:`file_info` read the header without a key.
- :func:`encrypt_columns` / :func:`decrypt_columns` — text tokens in pandas or Dask columns,
  randomized (:class:`RandomizedCipher`, AES-GCM) or deterministic and joinable
  (:class:`DeterministicCipher`, AES-SIV).
- :class:`Pseudonymizer` — HMAC-SHA-256 pseudonyms for linking records without revealing them.

See ``docs/crypto.md`` for formats, guarantees and what each mode leaks.

Examples
--------
>>> from privacy.crypto import KeyRing, Pseudonymizer, encrypt_columns, decrypt_columns
>>> ring = KeyRing.generate()
>>> Pseudonymizer(ring).pseudonymize(["alice"])[0].startswith("akp1:")
True
"""

from typing import TYPE_CHECKING, Any

from privacy.crypto._keyring import KeyInfo, KeyRing, kek_kind, keyring_protection, new_kek
from privacy.crypto._reader import open_decrypted
from privacy.crypto._stream import (
    ALGORITHM,
    EncryptedFileInfo,
    decrypt_file,
    encrypt_file,
    file_info,
    is_encrypted,
    rewrap,
)
from privacy.errors import DecryptionError

if TYPE_CHECKING:  # pragma: no cover
    from privacy.crypto._columns import decrypt_columns, encrypt_columns
    from privacy.crypto._tokens import DeterministicCipher, Pseudonymizer, RandomizedCipher

# The column and pseudonym tools need pandas; load them on first use so that file encryption
# (and the CLI) stay light.
_LAZY = {
    "DeterministicCipher": "privacy.crypto._tokens",
    "Pseudonymizer": "privacy.crypto._tokens",
    "RandomizedCipher": "privacy.crypto._tokens",
    "decrypt_columns": "privacy.crypto._columns",
    "encrypt_columns": "privacy.crypto._columns",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'privacy.crypto' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "ALGORITHM",
    "DecryptionError",
    "DeterministicCipher",
    "EncryptedFileInfo",
    "KeyInfo",
    "KeyRing",
    "Pseudonymizer",
    "RandomizedCipher",
    "decrypt_columns",
    "decrypt_file",
    "encrypt_columns",
    "encrypt_file",
    "file_info",
    "is_encrypted",
    "kek_kind",
    "keyring_protection",
    "new_kek",
    "open_decrypted",
    "rewrap",
]
