"""Ed25519 keys for signed reports: reading them, fingerprinting them, making a signing key.

The signer's side (:mod:`auditkit.reports.signing`) reads a *private* key from a 0600 key file,
raw 32 bytes or a key object, and :func:`generate_signing_key` writes a new one. The verifier's
side (:mod:`auditkit.reports.trust` and ``verify``) reads *public* keys: in any common encoding
from the command line (:func:`load_public_key`), in PEM only from the trust store
(:func:`pem_public_key`). A key is named by :func:`key_id`, the first 16 hex digits of the
SHA-256 of its 32 raw bytes.

``cryptography`` is imported when a key is first handled, so importing :mod:`auditkit.reports`
stays light.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.atomic import atomic_write_bytes
from auditkit.reports.errors import ReportInputError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "KeySource",
    "SigningKeyFiles",
    "generate_signing_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "pem_public_key",
    "public_key_pem",
    "raw_public",
]

KeySource = Any  # Ed25519PrivateKey | bytes | str | os.PathLike

_GENERATE_HINT = "Generate one with `auditkit.reports.signing.generate_signing_key(path)`."
_PEM_HINT = (
    "Give the signer's PEM public key (-----BEGIN PUBLIC KEY-----), e.g. the output of "
    "`auditkit keys public-key` or the .pub file next to a signing key."
)


def _ed():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


# -- fingerprints and encodings ----------------------------------------------------------------


def raw_public(public: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def public_key_pem(public: Ed25519PublicKey) -> str:
    """The key as PEM text (SubjectPublicKeyInfo), as ``auditkit keys public-key`` prints it."""
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


# -- reading keys ------------------------------------------------------------------------------


def _source_bytes(
    source: Any, what: str, param: str, expected: str, read: Callable[[Path], bytes]
) -> tuple[bytes, str]:
    """``(the key's bytes, how to name them in a message)`` from bytes or a file path.

    ``what`` is the kind of key ("signing key", "public key"), ``param`` and ``expected`` name
    the caller's parameter and what it accepts, ``read`` reads a path (and checks it first).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), f"the {what} bytes"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return read(path), f"the {what} file {path}"
    raise ReportInputError(
        f"The {param!r} parameter must be {expected}; got {type(source).__name__}."
    )


def _is_raw(data: bytes) -> bool:
    """Whether ``data`` is a bare 32-byte key rather than PEM text."""
    return len(data) == 32 and not data.startswith(b"-----")


def _check_key_file_mode(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ReportInputError(
            f"The signing key file {path} does not exist. Create one with "
            "`auditkit.reports.signing.generate_signing_key(path)` or point the config at an existing key."
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ReportInputError(
            f"The signing key {path} is not a regular file; give a PEM key file."
        )
    if st.st_mode & 0o077:
        raise ReportInputError(
            f"The signing key file {path} is readable or writable by other users "
            f"(mode {stat.S_IMODE(st.st_mode):o}); a private key must be mode 600. "
            f"Run: chmod 600 {path}"
        )


def _read_private_key_file(path: Path) -> bytes:
    _check_key_file_mode(path)
    return path.read_bytes()


def load_private_key(source: KeySource) -> Ed25519PrivateKey:
    """An Ed25519 private key from a key object, raw 32 bytes, PEM bytes, or a key file path.

    A key file must not be readable by group or others (mode 0600).
    """
    ed = _ed()
    if isinstance(source, ed.Ed25519PrivateKey):
        return source
    data, where = _source_bytes(
        source, "signing key", "private_key",
        "a key file path, raw 32-byte key or an Ed25519PrivateKey", _read_private_key_file,
    )
    if _is_raw(data):
        return ed.Ed25519PrivateKey.from_private_bytes(data)
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ReportInputError(
            f"Could not read {where} as an unencrypted PEM Ed25519 private key (or 32 raw bytes). "
            f"{_GENERATE_HINT}"
        ) from None
    if not isinstance(key, ed.Ed25519PrivateKey):
        raise ReportInputError(
            f"{where[0].upper()}{where[1:]} holds a {type(key).__name__}; reports are signed with "
            f"Ed25519 keys. {_GENERATE_HINT}"
        )
    return key


def _read_public_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ReportInputError(
            f"Cannot read the public key file {path}: {exc.strerror}. Give the path of the "
            "signer's public key (the .pub file written next to the signing key)."
        ) from None


def _decode_public(data: bytes) -> Ed25519PublicKey | None:
    """The key in PEM or base64 text ``data``, or None when it holds no Ed25519 public key."""
    ed = _ed()
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        from cryptography.hazmat.primitives import serialization

        try:
            key = serialization.load_pem_public_key(stripped)
        except (ValueError, TypeError):
            return None
        return key if isinstance(key, ed.Ed25519PublicKey) else None
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return None
    return ed.Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else None


def load_public_key(source: Any) -> Ed25519PublicKey:
    """An Ed25519 public key from a key object, raw 32 bytes, PEM, base64 text, or a file path."""
    ed = _ed()
    if isinstance(source, ed.Ed25519PublicKey):
        return source
    if isinstance(source, ed.Ed25519PrivateKey):
        return source.public_key()
    data, where = _source_bytes(
        source, "public key", "public_key", "a path, bytes or an Ed25519PublicKey",
        _read_public_key_file,
    )
    key = ed.Ed25519PublicKey.from_public_bytes(data) if _is_raw(data) else _decode_public(data)
    if key is None:
        raise ReportInputError(
            f"Could not read {where} as an Ed25519 public key (PEM, base64 or 32 raw bytes)."
        )
    return key


def pem_public_key(text: Any, where: str) -> Ed25519PublicKey:
    """An Ed25519 key from PEM text only (the trust store's one encoding).

    ``where`` names the text in messages (e.g. "The public key of 'ci'").
    """
    from cryptography.hazmat.primitives import serialization

    if isinstance(text, str):
        text = text.encode("ascii", "replace")
    if isinstance(text, bytes) and b"PRIVATE KEY-----" in text:
        raise ReportInputError(
            f"{where} is a private key; a trust store holds public keys only. Keep the private "
            f"key secret and give its public key instead. {_PEM_HINT}"
        )
    if not isinstance(text, bytes) or not text.strip().startswith(b"-----BEGIN PUBLIC KEY-----"):
        raise ReportInputError(f"{where} is not a PEM public key. {_PEM_HINT}")
    try:
        key = serialization.load_pem_public_key(text.strip())
    except (ValueError, TypeError):
        raise ReportInputError(f"{where} is not a readable PEM public key. {_PEM_HINT}") from None
    if not isinstance(key, _ed().Ed25519PublicKey):
        raise ReportInputError(
            f"{where} is a {type(key).__name__.lstrip('_')}; report signers use Ed25519 keys. "
            f"{_PEM_HINT}"
        )
    return key


# -- making a signing key ----------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKeyFiles:
    """What :func:`generate_signing_key` wrote."""

    private: Path
    public: Path
    key_id: str


def generate_signing_key(path: str | os.PathLike) -> SigningKeyFiles:
    """Create a new Ed25519 signing key at ``path`` (PEM, mode 0600) and its public key at
    ``path + '.pub'``. Refuses to overwrite an existing key."""
    from cryptography.hazmat.primitives import serialization

    priv_path = Path(path)
    pub_path = priv_path.with_name(priv_path.name + ".pub")
    key = _ed().Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    priv_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ReportInputError(
            f"A file already exists at {priv_path}; refusing to overwrite a signing key. "
            "Choose another path or remove the old key deliberately."
        ) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(priv_path, 0o600)
    public = key.public_key()
    atomic_write_bytes(pub_path, public_key_pem(public).encode("ascii"))
    return SigningKeyFiles(priv_path, pub_path, key_id(public))
