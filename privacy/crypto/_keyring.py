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
:func:`_check_scrypt_cost` before deriving anything. ``docs/crypto.md`` gives the exact layout.
"""

from __future__ import annotations

import base64
import binascii
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
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from auditkit.atomic import atomic_write_text
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

__all__ = ["KeyInfo", "KeyRing", "kek_kind", "keyring_protection", "new_kek"]

FORMAT = "auditkit-keyring"
FORMAT_VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 4

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

_KEK_HINT = (
    'Generate one with `python -c "import auditkit.privacy.crypto as c; print(c.new_kek())"` and keep '
    "it in a secret store."
)


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_kek() -> str:
    """A fresh key-encryption key for ``kek_env``: 32 random bytes, base64url text.

    Examples
    --------
    >>> len(new_kek())
    43
    """
    return _b64e(secrets.token_bytes(KEY_BYTES))


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


def _check_key_id(key_id: str) -> str:
    if not isinstance(key_id, str) or len(key_id) != 2 * KEY_ID_BYTES:
        raise ValueError("bad key id")
    bytes.fromhex(key_id)
    return key_id


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
        kid = self._primary if key_id is None else key_id
        if kid not in self._keys:
            raise PrivacyInputError(
                f"The key ring has no key {kid!r}; its key ids are {', '.join(self._keys)}."
            )
        return self._derive(kid, b"report-signing/ed25519", 32)

    def ledger_key(self, key_id: str | None = None) -> bytes:
        """HMAC-SHA-256 key (32 bytes) that authenticates DP budget ledgers.

        Derived with HKDF-SHA-256 (no salt, info ``b"auditkit/v1/dp-ledger/hmac-sha256"``) from
        key ``key_id`` (default: the primary), so no other use of the ring shares it.
        """
        kid = self._primary if key_id is None else key_id
        if kid not in self._keys:
            raise PrivacyInputError(
                f"The key ring has no key {kid!r}; its key ids are {', '.join(self._keys)}."
            )
        return self._derive(kid, b"dp-ledger/hmac-sha256", 32)

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
        kek, kek_params = _kek_for_save(passphrase, kek_env)
        header: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION, "kek": kek_params}
        body = json.dumps(
            {
                "primary": self._primary,
                "keys": [
                    {
                        "id": k.key_id,
                        "version": k.version,
                        "created": k.created,
                        "material": _b64e(k.material),
                    }
                    for k in self._keys.values()
                ],
            },
            sort_keys=True,
        ).encode()
        nonce = secrets.token_bytes(12)
        header["nonce"] = _b64e(nonce)
        ct = AESGCM(kek).encrypt(nonce, body, _canonical(header))
        doc = dict(header, ciphertext=_b64e(ct))
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
        try:
            st = target.stat()
        except FileNotFoundError:
            raise PrivacyInputError(
                f"The key ring file {str(target)!r} does not exist. "
                "Create one with `auditkit keys init`."
            ) from None
        if os.name == "posix" and stat.S_IMODE(st.st_mode) & 0o077:
            raise PrivacyInputError(
                f"The key ring file {str(target)!r} is readable or writable by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); key files must be private. "
                f"Run `chmod 600 {target}` and check who may have read it."
            )
        try:
            doc = json.loads(target.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise PrivacyInputError(
                f"The file {str(target)!r} is not an auditkit key ring; expected the JSON written "
                "by `auditkit keys init` or KeyRing.save."
            ) from None
        if doc.get("version") != FORMAT_VERSION:
            raise PrivacyInputError(
                f"The key ring {str(target)!r} has format version {doc.get('version')!r}; this "
                f"auditkit reads version {FORMAT_VERSION}. Upgrade auditkit."
            )
        kek_params = doc.get("kek")
        if isinstance(kek_params, dict) and kek_params.get("kind") == "scrypt":
            _check_scrypt_cost(kek_params, str(target))  # before any derivation runs
        try:
            header = {k: doc[k] for k in ("format", "version", "kek", "nonce")}
            kek = _kek_for_load(header["kek"], passphrase, kek_env, str(target))
            body = AESGCM(kek).decrypt(
                _b64d(header["nonce"]), _b64d(doc["ciphertext"]), _canonical(header)
            )
            data = json.loads(body)
            keys = [
                _Key(
                    _check_key_id(k["id"]),
                    int(k["version"]),
                    str(k["created"]),
                    _b64d(k["material"]),
                )
                for k in data["keys"]
            ]
            if any(len(k.material) != KEY_BYTES for k in keys):
                raise ValueError
            return cls(keys, data["primary"])
        except PrivacyInputError:
            raise
        except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
            raise DecryptionError(
                "Could not open the key ring: wrong passphrase or key-encryption key, or the file "
                "was altered."
            ) from None

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
        kek = _b64d(value.strip())
    except (ValueError, binascii.Error):
        kek = b""
    if len(kek) != KEY_BYTES:
        raise PrivacyInputError(
            f"The environment variable {kek_env!r} must hold 32 random bytes in base64; it holds "
            f"something else. {_KEK_HINT}"
        )
    return kek


def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _describe(value: Any) -> str:
    """A parameter's value for an error message: a small int as such, anything else by type."""
    if type(value) is int and abs(value) < 10**12:
        return str(value)
    return f"a {value.bit_length()}-bit int" if type(value) is int else f"a {type(value).__name__}"


def _check_scrypt_cost(params: dict[str, Any], ring_name: str) -> tuple[int, int, int]:
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


def _kek_for_save(passphrase: str | None, kek_env: str | None) -> tuple[bytes, dict[str, Any]]:
    _one_source(passphrase, kek_env)
    if kek_env is not None:
        return _env_kek(kek_env), {"kind": "env"}
    assert passphrase is not None
    salt = secrets.token_bytes(_SALT_BYTES)
    params = {"kind": "scrypt", "salt": _b64e(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
    return _scrypt(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P), params


def _kek_for_load(
    params: Any, passphrase: str | None, kek_env: str | None, ring_name: str
) -> bytes:
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
        n, r, p = _check_scrypt_cost(params, ring_name)
        return _scrypt(passphrase, _b64d(params["salt"]), n, r, p)
    raise ValueError("unknown KEK kind")
