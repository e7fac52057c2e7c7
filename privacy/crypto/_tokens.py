"""Value-level tokens: randomized (AES-GCM) and deterministic (AES-SIV) encryption, and keyed
pseudonyms (HMAC-SHA-256), vectorised over pandas Series.

Tokens are ASCII text, safe in CSV, JSON and Parquet string columns::

    akr1:<key id>:<base64url(nonce || ciphertext || tag)>    randomized, AES-256-GCM
    akd1:<key id>:<base64url(synthetic IV || ciphertext)>    deterministic, AES-256-SIV
    akp1:<key id>:<base64url(HMAC-SHA-256)>                  pseudonym, not reversible

The ``akr1:<key id>`` / ``akd1:<key id>`` prefix is the associated data of the ciphertext, so the
key id and kind cannot be swapped. Values keep their type through a round trip: each is encoded
as a one-byte type tag (str, int, float, bool, bytes, timestamp, date) followed by its text, so
``5``, ``5.0``, ``"5"`` and ``True`` give different tokens. Missing values (None, NaN, NA, NaT)
stay missing and are not encrypted: whether a value is missing is visible.
"""

from __future__ import annotations

import binascii
import contextlib
import contextvars
import datetime as _dt
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from auditkit.privacy.crypto._base64url import b64d as _b64d
from auditkit.privacy.crypto._base64url import b64e as _b64e
from auditkit.privacy.crypto._keyring import KeyRing
from auditkit.privacy.errors import DecryptionError, PrivacyInputError, TrailError
from auditkit.privacy.trail import enforce, record

__all__ = [
    "DeterministicCipher",
    "Pseudonymizer",
    "RandomizedCipher",
    "decrypt_values",
    "recorded_by_caller",
    "recorded_tokens",
]

RANDOMIZED = "akr1"
DETERMINISTIC = "akd1"
PSEUDONYM = "akp1"
_NONCE = 12


# -- the audit trail ---------------------------------------------------------------------------
_CALLER_RECORDS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "auditkit_tokens_recorded_by_caller", default=False
)


@contextlib.contextmanager
def recorded_by_caller() -> Iterator[None]:
    """Token operations in the block belong to the caller's one trail event (``mask`` records
    the pseudonyms its keyed operators make): they record no event of their own."""
    token = _CALLER_RECORDS.set(True)
    try:
        yield
    finally:
        _CALLER_RECORDS.reset(token)


@contextlib.contextmanager
def recorded_tokens(action: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One trail event (``tokenise``, ``detokenise``, ``pseudonymise``) for the operation in the
    block: ``ok`` when it returns, ``error`` (with the exception's class name) when it raises,
    re-raised. ``params`` (counts and modes only, never a value) may be completed in the block.
    Nothing is recorded inside :func:`recorded_by_caller`."""
    if _CALLER_RECORDS.get():
        yield params
        return
    enforce("detokenise" if action == "detokenise" else "mask")  # no-op without a policy
    try:
        yield params
    except TrailError:
        raise
    except Exception as exc:
        record(action, outcome="error", params={**params, "error": type(exc).__name__})
        raise
    record(action, params=params)


def _count(values: Any) -> int:
    """How many values an operation was given (1 for a scalar)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        return 1
    return len(values)


# -- typed encoding -------------------------------------------------------------------------
def _encode(value: Any) -> bytes | None:
    """The typed encoding of ``value`` (type tag, then text); None for a type without one."""
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bool, np.bool_)):
        return b"b1" if value else b"b0"
    if isinstance(value, (int, np.integer)):
        return b"i" + str(int(value)).encode()
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return b"f" + repr(f if f != 0 else 0.0).encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"y" + bytes(value)
    if isinstance(value, _dt.datetime):
        return b"t" + pd.Timestamp(value).isoformat().encode()
    if isinstance(value, _dt.date):
        return b"d" + value.isoformat().encode()
    return None


def _decode(data: bytes) -> Any:
    tag, body = data[:1], data[1:]
    if tag == b"s":
        return body.decode("utf-8", "surrogatepass")
    if tag == b"i":
        return int(body)
    if tag == b"f":
        return float(body)
    if tag == b"b":
        return body == b"1"
    if tag == b"y":
        return body
    if tag == b"t":
        return pd.Timestamp(body.decode())
    if tag == b"d":
        return _dt.date.fromisoformat(body.decode())
    raise DecryptionError()  # authenticated, yet no type tag auditkit writes


# -- shape handling ---------------------------------------------------------------------------
_HOMOGENEOUS = {"string", "integer", "floating", "boolean", "datetime64", "datetime", "date"}


def _is_null(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # arrays and other non-scalars
        return False


def _apply(values: Any, fn: Callable[[bytes], str], what: str, per_row: bool = False) -> Any:
    """Apply ``fn`` to the typed encoding of every non-missing value, keeping the shape.

    Equal values are computed once (unless ``per_row``): pseudonyms and deterministic tokens
    are functions of the value.
    """
    if isinstance(values, pd.Series):
        return pd.Series(
            _apply_array(values, fn, what, per_row),
            index=values.index,
            name=values.name,
            dtype=object,
        )
    if isinstance(values, pd.Index):
        return pd.Index(
            _apply_array(pd.Series(values), fn, what, per_row), name=values.name, dtype=object
        )
    if isinstance(values, np.ndarray):
        return _apply_array(pd.Series(values.ravel()), fn, what, per_row).reshape(values.shape)
    if isinstance(values, (list, tuple)):
        return list(_apply_array(pd.Series(list(values), dtype=object), fn, what, per_row))
    if _is_null(values):
        return values
    return _apply_array(pd.Series([values], dtype=object), fn, what, per_row)[0]


def _apply_array(s: pd.Series, fn: Callable[[bytes], str], what: str, per_row: bool) -> np.ndarray:
    out = np.empty(len(s), dtype=object)
    if len(s) == 0:
        return out
    mask = s.notna().to_numpy()
    out[~mask] = s.to_numpy(dtype=object)[~mask]
    nonnull = s[mask]
    if len(nonnull) == 0:
        return out
    kind = pd.api.types.infer_dtype(nonnull, skipna=True)
    if not per_row and kind in _HOMOGENEOUS:
        codes, uniques = pd.factorize(nonnull)
        done = np.array([fn(_encode_at(u, s, what)) for u in uniques], dtype=object)
        out[mask] = done[codes]
        return out
    cache: dict[bytes, str] = {}
    res = np.empty(len(nonnull), dtype=object)
    for i, v in enumerate(nonnull.to_numpy(dtype=object)):
        enc = _encode_at(v, s, what)
        if per_row:
            res[i] = fn(enc)
        else:
            tok = cache.get(enc)
            if tok is None:
                tok = cache[enc] = fn(enc)
            res[i] = tok
    out[mask] = res
    return out


def _encode_at(v: Any, s: pd.Series, what: str) -> bytes:
    encoded = _encode(v)
    if encoded is None:
        col = f" of column {s.name!r}" if s.name is not None else ""
        raise PrivacyInputError(
            f"{what} handles str, int, float, bool, bytes, date and timestamp values; a value"
            f"{col} has type {type(v).__name__!r}. Convert the column first (e.g. .astype(str))."
        )
    return encoded


# -- ciphers ------------------------------------------------------------------------------------
class _TokenCipher:
    _kind = ""

    def __init__(self, ring: KeyRing) -> None:
        if not isinstance(ring, KeyRing):
            raise PrivacyInputError(
                f"The 'ring' parameter of {type(self).__name__} must be a auditkit.privacy.crypto.KeyRing; "
                f"got {type(ring).__name__}. Load one with KeyRing.load(path, passphrase=...)."
            )
        self._ring = ring

    @property
    def key_id(self) -> str:
        """Id of the key new tokens are made with (the ring's primary)."""
        return self._ring.primary_id

    def decrypt(self, tokens: Any) -> Any:
        """Decrypt tokens of either kind made under any key of the ring; same shape as input.

        Raises
        ------
        DecryptionError
            A token does not authenticate (wrong ring, altered token).
        """
        return decrypt_values(tokens, self._ring)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self.key_id!r})"


class RandomizedCipher(_TokenCipher):
    """AES-256-GCM tokens with a random nonce: equal values give different tokens.

    Reveals nothing about the values beyond their length (and which are missing).

    Examples
    --------
    >>> ring = KeyRing.generate()
    >>> c = RandomizedCipher(ring)
    >>> t = c.encrypt(["a", "a"])
    >>> t[0] != t[1] and c.decrypt(t) == ["a", "a"]
    True
    """

    _kind = RANDOMIZED

    def encrypt(self, values: Any) -> Any:
        """Encrypt every non-missing value; returns tokens in the same shape as ``values``."""
        kid = self._ring.primary_id
        aead = AESGCM(self._ring._derive(kid, b"column-gcm"))
        head = f"{RANDOMIZED}:{kid}:"
        aad = head.encode()

        def fn(data: bytes) -> str:
            nonce = os.urandom(_NONCE)
            return head + _b64e(nonce + aead.encrypt(nonce, data, aad))

        return _apply(values, fn, "RandomizedCipher.encrypt", per_row=True)


class DeterministicCipher(_TokenCipher):
    """AES-256-SIV tokens: equal values give equal tokens, so encrypted columns still join.

    What it leaks: which rows share a value (hence value frequencies, and any value whose
    frequency is distinctive), plus lengths and missingness. Use it only for join keys and
    identifiers that must be matched; use :class:`RandomizedCipher` otherwise.

    Examples
    --------
    >>> ring = KeyRing.generate()
    >>> c = DeterministicCipher(ring)
    >>> t = c.encrypt(["a", "a", "b"])
    >>> t[0] == t[1] != t[2] and c.decrypt(t) == ["a", "a", "b"]
    True
    """

    _kind = DETERMINISTIC

    def encrypt(self, values: Any) -> Any:
        """Encrypt every non-missing value; returns tokens in the same shape as ``values``."""
        kid = self._ring.primary_id
        siv = AESSIV(self._ring._derive(kid, b"column-siv", 64))
        head = f"{DETERMINISTIC}:{kid}:"
        aad = [head.encode()]

        def fn(data: bytes) -> str:
            return head + _b64e(siv.encrypt(data, aad))

        return _apply(values, fn, "DeterministicCipher.encrypt")


def decrypt_values(tokens: Any, ring: KeyRing) -> Any:
    """Decrypt randomized or deterministic tokens (any key of ``ring``); same shape as input."""
    gcm: dict[str, AESGCM] = {}
    siv: dict[str, AESSIV] = {}

    def one(token: str) -> Any:
        kind, kid, body = token.split(":", 2)
        aad = f"{kind}:{kid}:".encode()
        if kid not in ring:
            raise DecryptionError()
        data = _b64d(body)
        if kind == RANDOMIZED:
            if kid not in gcm:
                gcm[kid] = AESGCM(ring._derive(kid, b"column-gcm"))
            plain = gcm[kid].decrypt(data[:_NONCE], data[_NONCE:], aad)
        else:
            if kid not in siv:
                siv[kid] = AESSIV(ring._derive(kid, b"column-siv", 64))
            plain = siv[kid].decrypt(data, [aad])
        return _decode(plain)

    def checked(token: Any, where: str) -> Any:
        if not isinstance(token, str) or not token.startswith(
            (RANDOMIZED + ":", DETERMINISTIC + ":")
        ):
            raise PrivacyInputError(
                f"{where} is not an auditkit encryption token (expected text starting with "
                f"'{RANDOMIZED}:' or '{DETERMINISTIC}:'). Check that the column was encrypted "
                "with encrypt_columns."
            )
        try:
            return one(token)
        except DecryptionError:
            raise
        except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
            raise DecryptionError() from None

    def run(s: pd.Series) -> np.ndarray:
        out = np.empty(len(s), dtype=object)
        mask = s.notna().to_numpy()
        out[~mask] = s.to_numpy(dtype=object)[~mask]
        positions = np.flatnonzero(mask)
        nonnull = s.to_numpy(dtype=object)[mask]
        if len(nonnull) == 0:
            return out
        codes, uniques = pd.factorize(pd.Series(nonnull, dtype=object))
        _, first = np.unique(codes, return_index=True)
        label = f"column {s.name!r}" if s.name is not None else "the input"
        done = np.empty(len(uniques), dtype=object)
        for j, u in enumerate(uniques):
            done[j] = checked(u, f"Row {positions[first[j]]} of {label}")
        out[mask] = done[codes]
        return out

    if isinstance(tokens, pd.Series):
        return pd.Series(run(tokens), index=tokens.index, name=tokens.name, dtype=object)
    if isinstance(tokens, pd.Index):
        return pd.Index(run(pd.Series(tokens)), name=tokens.name, dtype=object)
    if isinstance(tokens, np.ndarray):
        return run(pd.Series(tokens.ravel(), dtype=object)).reshape(tokens.shape)
    if isinstance(tokens, (list, tuple)):
        return list(run(pd.Series(list(tokens), dtype=object)))
    if _is_null(tokens):
        return tokens
    return checked(tokens, "The token")


# -- pseudonyms ---------------------------------------------------------------------------------
class Pseudonymizer:
    """Keyed pseudonyms: HMAC-SHA-256 of each value under a sub-key of a ring key.

    Stable (same ring key, context and value give the same pseudonym, so records link across
    tables and runs), not reversible, and useless to anyone without the ring: unlike a plain
    hash, a pseudonym cannot be confirmed by hashing guessed values. Different ``context``
    strings give unrelated pseudonyms for the same value (one per purpose or data recipient).

    Parameters
    ----------
    ring:
        The key ring.
    context:
        Domain-separation label mixed into the sub-key.
    key_id:
        Ring key to use; default the primary. Pass an older id to keep linking to pseudonyms
        made before a rotation.

    Attributes
    ----------
    key_id:
        The key the pseudonyms are made under (also inside every pseudonym).

    Examples
    --------
    >>> ring = KeyRing.generate()
    >>> p = Pseudonymizer(ring, context="patients")
    >>> a, b, c = p.pseudonymize(["alice", "bob", "alice"])
    >>> a == c != b and a.startswith("akp1:" + p.key_id + ":")
    True
    """

    def __init__(self, ring: KeyRing, *, context: str = "", key_id: str | None = None) -> None:
        if not isinstance(ring, KeyRing):
            raise PrivacyInputError(
                f"The 'ring' parameter of Pseudonymizer must be a auditkit.privacy.crypto.KeyRing; got "
                f"{type(ring).__name__}. Load one with KeyRing.load(path, passphrase=...)."
            )
        if not isinstance(context, str):
            raise PrivacyInputError(
                f"The 'context' parameter of Pseudonymizer must be a string; got "
                f"{type(context).__name__}."
            )
        kid = ring.primary_id if key_id is None else key_id
        if kid not in ring:
            raise PrivacyInputError(
                f"The 'key_id' parameter of Pseudonymizer names key {kid!r}, which is not in the "
                f"ring; its keys are {list(ring.key_ids)}."
            )
        self.key_id: str = kid
        self.context: str = context
        sub = ring._derive(kid, b"pseudonym/" + context.encode("utf-8"))
        self._mac = _hmac.HMAC(sub, hashes.SHA256())
        self._head = f"{PSEUDONYM}:{kid}:"

    def _one(self, data: bytes) -> str:
        h = self._mac.copy()
        h.update(data)
        return self._head + _b64e(h.finalize())

    def pseudonymize(self, values: Any) -> Any:
        """Pseudonyms for ``values`` in the same shape (Series keeps index and name).

        Missing values stay missing. Equal values are hashed once. Each call is recorded in
        the audit trail (action ``pseudonymise``: the count of values, the key id).
        """
        params = {"rows": _count(values), "mode": "hmac", "key_id": self.key_id}
        with recorded_tokens("pseudonymise", params):
            return _apply(values, self._one, "Pseudonymizer.pseudonymize")

    def __repr__(self) -> str:
        return f"Pseudonymizer(key_id={self.key_id!r}, context={self.context!r})"
