"""Key-encryption keys: what protects a key ring file at rest.

A ring file is encrypted under a 32-byte key-encryption key (KEK) that comes from one of two
sources, named in the file's ``kek`` section:

- ``{"kind": "scrypt", "salt": ..., "n": ..., "r": ..., "p": ...}``: scrypt over a passphrase
  (for people). The parameters are read before the file can be authenticated, so
  :func:`check_scrypt_cost` bounds what one unlock may cost before anything is derived.
- ``{"kind": "env"}``: 32 random bytes in base64url held by an environment variable (for
  services); :func:`new_kek` makes one.

:mod:`auditkit.privacy.crypto._keyring` encrypts and decrypts the ring with the key given here.
"""

from __future__ import annotations

import binascii
import os
import secrets
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from auditkit.privacy.crypto._base64url import b64d, b64e
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

__all__ = [
    "SCRYPT_MAX_MEMORY",
    "SCRYPT_MAX_P",
    "SCRYPT_MIN_N",
    "UNREADABLE_RING",
    "check_scrypt_cost",
    "kek_for_load",
    "kek_for_save",
    "new_kek",
]

KEK_BYTES = 32

# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB of memory, ~0.1 s on a laptop (RFC 7914 guidance
# for interactive logins). The parameters are read from the ring file *before* it can be
# authenticated, so loading bounds them (a planted N=2**20, r=32, p=16 would take ~4 GiB):
# N a power of two >= 2**14 (the scrypt paper's interactive-login setting, used by RFC 7914's
# test vectors; every ring auditkit saved has 2**15), 128 * N * r <= 256 MiB, p <= 4.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MIN_N = 2**14
SCRYPT_MAX_MEMORY = 256 * 1024 * 1024
SCRYPT_MAX_P = 4
_SALT_BYTES = 16

#: The one message for a ring that does not open: wrong secret and tampering look the same.
UNREADABLE_RING = (
    "Could not open the key ring: wrong passphrase or key-encryption key, or the file was altered."
)

_KEK_HINT = (
    'Generate one with `python -c "import auditkit.privacy.crypto as c; print(c.new_kek())"` and keep '
    "it in a secret store."
)


def new_kek() -> str:
    """A fresh key-encryption key for ``kek_env``: 32 random bytes, base64url text.

    Examples
    --------
    >>> len(new_kek())
    43
    """
    return b64e(secrets.token_bytes(KEK_BYTES))


def _one_source(passphrase: str | None, kek_env: str | None) -> None:
    if (passphrase is None) == (kek_env is None):
        raise PrivacyInputError(
            "Give exactly one of 'passphrase' and 'kek_env' to protect the key ring; got "
            f"{'both' if passphrase is not None else 'neither'}. Use a passphrase for people, an "
            "environment variable holding a key-encryption key for services."
        )
    if passphrase is not None and (not isinstance(passphrase, str) or not passphrase):
        raise PrivacyInputError(
            "The 'passphrase' for the key ring must be a non-empty string; got an empty one."
        )


def _env_kek(kek_env: str) -> bytes:
    value = os.environ.get(kek_env)
    if not value:
        raise PrivacyInputError(
            f"The environment variable {kek_env!r} named by 'kek_env' is not set or empty; it "
            f"must hold the key ring's key-encryption key. {_KEK_HINT}"
        )
    try:
        kek = b64d(value.strip())
    except (ValueError, binascii.Error):
        kek = b""
    if len(kek) != KEK_BYTES:
        raise PrivacyInputError(
            f"The environment variable {kek_env!r} must hold 32 random bytes in base64; it holds "
            f"something else. {_KEK_HINT}"
        )
    return kek


def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=KEK_BYTES, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _describe(value: Any) -> str:
    """A parameter's value for an error message: a small int as such, anything else by type."""
    if type(value) is int and abs(value) < 10**12:
        return str(value)
    return f"a {value.bit_length()}-bit int" if type(value) is int else f"a {type(value).__name__}"


def check_scrypt_cost(params: dict[str, Any], ring_name: str) -> tuple[int, int, int]:
    """(n, r, p) of a ring file's scrypt section; PrivacyInputError unless within the limits.

    The parameters are read before the file can be authenticated, so they bound what one
    unlock may cost: ``n`` a power of two from :data:`SCRYPT_MIN_N` to 2^21, ``r >= 1`` with
    ``128 * n * r <=`` :data:`SCRYPT_MAX_MEMORY`, ``1 <= p <=`` :data:`SCRYPT_MAX_P`, all ints.
    """
    values = [params.get(name) for name in ("n", "r", "p")]
    n, r, p = (v if type(v) is int else 0 for v in values)
    max_n = SCRYPT_MAX_MEMORY // 128
    problems = [
        ("n", f"a power of two from {SCRYPT_MIN_N} (2^14) to {max_n} (2^21)",
         SCRYPT_MIN_N <= n <= max_n and not n & (n - 1)),
        ("r", f"an int >= 1 with 128 * n * r at most {SCRYPT_MAX_MEMORY // 2**20} MiB per unlock "
         f"(r <= {SCRYPT_MAX_MEMORY // (128 * max(n, 1))} with this ring's n = {n})",
         r >= 1 and 128 * n * r <= SCRYPT_MAX_MEMORY),
        ("p", f"an int from 1 to {SCRYPT_MAX_P}", 1 <= p <= SCRYPT_MAX_P),
    ]
    for (name, expected, ok), value in zip(problems, values, strict=True):
        if not ok or type(value) is not int:  # bool, float, str and missing are refused too
            got = _describe(value) if name in params else "missing"
            raise PrivacyInputError(
                f"The key ring file {ring_name!r} has scrypt parameter {name!r} = {got}; expected "
                f"{expected}. auditkit writes n=2^15, r=8, p=1: a ring outside these limits was "
                "not written by auditkit or was altered. Restore it from your backup."
            )
    return n, r, p


def kek_for_save(passphrase: str | None, kek_env: str | None) -> tuple[bytes, dict[str, Any]]:
    """The KEK to save a ring under and the file's ``kek`` section (a fresh salt for scrypt)."""
    _one_source(passphrase, kek_env)
    if kek_env is not None:
        return _env_kek(kek_env), {"kind": "env"}
    assert passphrase is not None
    salt = secrets.token_bytes(_SALT_BYTES)
    params = {"kind": "scrypt", "salt": b64e(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
    return _scrypt(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P), params


def kek_for_load(
    params: Any, passphrase: str | None, kek_env: str | None, ring_name: str
) -> bytes:
    """The KEK a ring file's ``kek`` section asks for, from the secret the caller gave.

    Raises
    ------
    PrivacyInputError
        The caller gave the other kind of secret, or the scrypt cost is out of bounds.
    DecryptionError
        The section names no known kind: the file was altered.
    """
    _one_source(passphrase, kek_env)
    kind = params.get("kind") if isinstance(params, dict) else None
    if kind == "env":
        if kek_env is None:
            raise PrivacyInputError(
                "This key ring is protected by a key-encryption key from an environment "
                "variable, not a passphrase; pass kek_env (CLI: --kek-env NAME)."
            )
        return _env_kek(kek_env)
    if kind == "scrypt":
        if passphrase is None:
            raise PrivacyInputError(
                "This key ring is protected by a passphrase, not an environment key; pass "
                "passphrase (CLI: --passphrase-env NAME or the prompt)."
            )
        n, r, p = check_scrypt_cost(params, ring_name)
        return _scrypt(passphrase, b64d(params["salt"]), n, r, p)
    raise DecryptionError(UNREADABLE_RING)
