"""Encryption at rest, column tokens and keyed pseudonyms, with real key management.

Safe recipes over the ``cryptography`` package's AEAD primitives; no unauthenticated mode is
used anywhere, and every failure to decrypt (wrong key, tampering, truncation) raises the same
opaque :class:`~auditkit.privacy.errors.DecryptionError`.

- :class:`KeyRing` — versioned 256-bit keys with ids and a primary; ``rotate()``; saved
  encrypted under a key-encryption key from a passphrase (scrypt) or an environment variable,
  in a 0600 file that :meth:`KeyRing.load` refuses when group or others can read it.
- :func:`encrypt_file` / :func:`decrypt_file` / :func:`open_decrypted` — streaming AES-256-GCM
  in segments (the STREAM construction), one data key per file wrapped by the ring key
  (envelope encryption), constant memory, atomic outputs. :func:`rewrap` moves a file to the
  ring's current primary key without re-encrypting its data. :func:`is_encrypted` and
  :func:`file_info` read the header without a key.
- :func:`encrypt_file_to` — format version 2: the data key wrapped to several recipients
  (:class:`Recipient`, X25519 as in age) and optionally the ring; :func:`set_recipients` grants
  and revokes by rewriting only the header, :func:`upgrade_to_v2` moves a version-1 file.
  :func:`decrypt_file` and :func:`open_decrypted` read either version with a ring or an
  identity (any :class:`Unwrapper`). Every operation is recorded in the audit trail
  (:mod:`auditkit.privacy.trail`).
- :func:`encrypt_columns` / :func:`decrypt_columns` — text tokens in pandas or Dask columns,
  randomized (:class:`RandomizedCipher`, AES-GCM) or deterministic and joinable
  (:class:`DeterministicCipher`, AES-SIV).
- :class:`Pseudonymizer` — HMAC-SHA-256 pseudonyms for linking records without revealing them.

See ``docs/crypto.md`` for formats, guarantees and what each mode leaks.

Examples
--------
>>> from auditkit.privacy.crypto import KeyRing, Pseudonymizer, encrypt_columns, decrypt_columns
>>> ring = KeyRing.generate()
>>> Pseudonymizer(ring).pseudonymize(["alice"])[0].startswith("akp1:")
True
"""

import lazy_loader as _lazy

# Every name loads its module on first use (the column and pseudonym tools need pandas; file
# encryption and the CLI stay light). The names are listed once, in ``__init__.pyi``.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
