"""Column-level encryption of pandas (and Dask) DataFrames."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import pandas as pd

from auditkit.hints import did_you_mean
from auditkit.privacy.crypto._keyring import KeyRing
from auditkit.privacy.crypto._tokens import (
    DeterministicCipher,
    RandomizedCipher,
    decrypt_values,
    recorded_tokens,
)
from auditkit.privacy.errors import PrivacyInputError

__all__ = ["decrypt_columns", "encrypt_columns"]


def _columns_arg(df: Any, columns: Any, fn: str) -> list[Hashable]:
    cols = (
        [columns]
        if isinstance(columns, (str, int)) or not isinstance(columns, Sequence)
        else list(columns)
    )
    present = list(df.columns)
    for c in cols:
        if c not in present:
            raise PrivacyInputError(
                f"The 'columns' parameter of {fn} names column {c!r}, which the DataFrame does "
                f"not have.{did_you_mean(c, present)} Its columns are {present}."
            )
    return cols


def _checked_args(df: Any, columns: Any, ring: Any, fn: str) -> list[Hashable]:
    """The column list of ``fn(df, columns, ring)``, after checking the ring and the frame."""
    if not isinstance(ring, KeyRing):
        raise PrivacyInputError(
            f"The 'ring' parameter of {fn} must be a auditkit.privacy.crypto.KeyRing; got "
            f"{type(ring).__name__}."
        )
    if not _is_dask(df) and not isinstance(df, pd.DataFrame):
        raise PrivacyInputError(
            f"The 'df' parameter of {fn} must be a pandas or Dask DataFrame; got "
            f"{type(df).__name__}."
        )
    return _columns_arg(df, columns, fn)


def _object_meta(df: Any, columns: list[Hashable]) -> Any:
    """A Dask frame's meta with ``columns`` as ``object`` (tokens, or values before inference)."""
    return df._meta.astype({c: object for c in columns})


def _is_dask(df: Any) -> bool:
    return type(df).__module__.startswith("dask") and hasattr(df, "map_partitions")


def _encrypt_frame(
    df: pd.DataFrame, columns: list[Hashable], ring: KeyRing, deterministic: bool
) -> pd.DataFrame:
    cipher = DeterministicCipher(ring) if deterministic else RandomizedCipher(ring)
    out = df.copy(deep=False)
    for c in columns:
        out[c] = cipher.encrypt(df[c]).astype(object)
    return out


def _decrypt_frame(
    df: pd.DataFrame, columns: list[Hashable], ring: KeyRing, infer: bool
) -> pd.DataFrame:
    out = df.copy(deep=False)
    for c in columns:
        col = decrypt_values(df[c], ring)
        out[c] = col.infer_objects() if infer else col.astype(object)
    return out


def encrypt_columns(
    df: Any,
    columns: Hashable | Sequence[Hashable],
    ring: KeyRing,
    *,
    deterministic: bool = False,
) -> Any:
    """A copy of ``df`` with ``columns`` replaced by text tokens under the ring's primary key.

    Parameters
    ----------
    df:
        A pandas DataFrame, or a Dask DataFrame (encrypted partition by partition, lazily).
        Never modified.
    columns:
        One column name or a list of them.
    deterministic:
        ``False`` (default): AES-256-GCM with a random nonce; equal values give different
        tokens. ``True``: AES-256-SIV; equal values give equal tokens, so the encrypted column
        still supports equality joins and group-bys, and therefore reveals which rows share a
        value (see :class:`DeterministicCipher`).

    Returns
    -------
    DataFrame
        Same index and columns; the encrypted columns hold ``object`` strings, missing values
        stay missing.

    The call is recorded in the audit trail (action ``tokenise``: counts, mode, key id).

    Examples
    --------
    >>> import pandas as pd
    >>> ring = KeyRing.generate()
    >>> df = pd.DataFrame({"email": ["a@x.org", None], "age": [30, 41]})
    >>> enc = encrypt_columns(df, ["email"], ring)
    >>> decrypt_columns(enc, ["email"], ring).equals(df)
    True
    """
    mode = "deterministic" if deterministic else "randomized"
    with recorded_tokens("tokenise", {"mode": mode}) as params:
        cols = _checked_args(df, columns, ring, "encrypt_columns")
        params.update(_frame_params(df, cols, ring))
        if _is_dask(df):
            return df.map_partitions(
                _encrypt_frame, cols, ring, bool(deterministic), meta=_object_meta(df, cols)
            )
        return _encrypt_frame(df, cols, ring, bool(deterministic))


def decrypt_columns(df: Any, columns: Hashable | Sequence[Hashable], ring: KeyRing) -> Any:
    """A copy of ``df`` with the tokens in ``columns`` decrypted (either kind, any ring key).

    pandas columns get their dtype back when it is uniform (``infer_objects``); Dask columns
    stay ``object`` (every partition must match the declared meta) — cast them afterwards.
    The call is recorded in the audit trail (action ``detokenise``; a failure with outcome
    ``error``).

    Raises
    ------
    DecryptionError
        A token does not authenticate under the ring (wrong ring or altered token).
    PrivacyInputError
        A value is not a token (the message gives its row number, never the value).
    """
    with recorded_tokens("detokenise", {"mode": "columns"}) as params:
        cols = _checked_args(df, columns, ring, "decrypt_columns")
        params.update(_frame_params(df, cols, ring))
        if _is_dask(df):
            return df.map_partitions(_decrypt_frame, cols, ring, False, meta=_object_meta(df, cols))
        return _decrypt_frame(df, cols, ring, True)


def _frame_params(df: Any, columns: list[Hashable], ring: KeyRing) -> dict[str, Any]:
    """What the trail records of a column operation: counts, the ring's primary key id, and
    for a Dask frame (built lazily) its partitions instead of rows."""
    out: dict[str, Any] = {"columns": len(columns), "key_id": ring.primary_id}
    if _is_dask(df):
        out.update(lazy=True, partitions=int(df.npartitions))
    else:
        out["rows"] = len(df)
    return out
