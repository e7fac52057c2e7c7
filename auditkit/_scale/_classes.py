"""Exact equivalence-class sizes of any number of records, in bounded memory.

k-anonymity and l-diversity need the size of every class of records that share their
quasi-identifiers: with ZIP code and date of birth that is about one class per record, so the
classes of 100 million records do not fit in memory as values. Each record's class is hashed
instead (two independent 64-bit hashes of its quasi-identifier values: one picks a bucket file,
the other is stored), the hashes are appended to bucket files on disk as partitions are read,
and each bucket is then counted on its own with ``numpy.unique``. Memory is one bucket; the
figures are exact unless two different classes share both hashes (about 2^-64 per pair of
classes in the same bucket).

For distinct l-diversity the pair (class, sensitive value) is hashed too and stored beside its
class hash in the class's bucket, so every class's pairs are counted in one place.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ClassHashes", "ClassSpill", "class_hashes", "value_hashes"]

N_BUCKETS = 64
_KEY_A = "auditkit-qi-a-00"  # hash_pandas_object keys: 16 bytes
_KEY_B = "auditkit-qi-b-00"
_SALT = {_KEY_A: np.uint64(0x243F6A8885A308D3), _KEY_B: np.uint64(0x13198A2E03707344)}
_MISSING = np.uint64(0x6A09E667F3BCC908)  # the hash of a missing value, whatever its dtype
_EXACT = 2**53  # integers beyond it are not exact as float64


def _canonical(col: pd.Series) -> pd.Series:
    """One representation per value whatever the chunk's dtype: numbers and booleans as float64
    (a column that is int64 in one chunk and float64 in another, for a missing value, or bool in
    one and object in another, hashes alike), integers past 2**53 as int64, the rest as text."""
    dtype = col.dtype
    as_float = lambda: pd.Series(col.to_numpy(dtype="float64", na_value=np.nan), index=col.index)  # noqa: E731
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return as_float()
    if pd.api.types.is_integer_dtype(dtype):
        big = bool(col.notna().any()) and int(col.abs().max()) >= _EXACT
        return col.astype("Int64") if big else as_float()
    if pd.api.types.is_object_dtype(dtype):
        kind = pd.api.types.infer_dtype(col, skipna=True)
        if kind == "boolean":
            return as_float()
        if kind in ("integer", "floating", "mixed-integer-float"):
            return _canonical(pd.to_numeric(col))
    return col.astype("string")


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (a bijection of uint64), vectorised."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def value_hashes(col: pd.Series, key: str = _KEY_A) -> np.ndarray:
    """A 64-bit hash of each value of ``col``, equal for equal values across chunks whatever
    their dtype (:func:`_canonical`); every missing value hashes alike. Numbers are hashed by a
    bijection of their bits (no two numbers share a hash); text by pandas' keyed hash."""
    canon = _canonical(col)
    if pd.api.types.is_float_dtype(canon.dtype) or pd.api.types.is_integer_dtype(canon.dtype):
        floats = pd.api.types.is_float_dtype(canon.dtype)
        arr = canon.to_numpy(dtype="float64" if floats else "int64", na_value=0)
        if floats:
            arr = arr + 0.0  # -0.0 and 0.0 are one value
        h = _mix(arr.view(np.uint64) ^ _SALT[key])
    else:
        h = pd.util.hash_pandas_object(canon, index=False, hash_key=key).to_numpy(np.uint64)
    missing = col.isna().to_numpy()
    if missing.any():
        h = h.copy()
        h[missing] = _MISSING
    return h


def _hash(frame: pd.DataFrame, key: str) -> np.ndarray:
    """One hash per row of the values of every column (in order)."""
    h = np.zeros(len(frame), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in frame.columns:
            h = _mix(h * np.uint64(0x9E3779B97F4A7C15) + value_hashes(frame[c], key))
    return h


@dataclass
class ClassHashes:
    """The class hashes of one chunk of records (and, with a sensitive column, of its pairs)."""

    bucket: np.ndarray  # uint8 bucket of each record
    cls: np.ndarray  # uint64 class hash
    pair: np.ndarray | None  # uint64 hash of (class, sensitive value)


def class_hashes(frame: pd.DataFrame, qi: list[str], sensitive: str | None) -> ClassHashes:
    """Hash each record's class on ``qi`` (and its pair with ``sensitive``)."""
    sub = frame[qi]
    a = _hash(sub, _KEY_A)
    b = _hash(sub, _KEY_B)
    pair = None
    if sensitive is not None:
        with np.errstate(over="ignore"):
            pair = _mix(_mix(a ^ b) + value_hashes(frame[sensitive], _KEY_A))
    return ClassHashes((b % N_BUCKETS).astype(np.uint8), a, pair)


@dataclass
class ClassSpill:
    """Bucket files of class hashes, appended to chunk by chunk; :meth:`report` counts them."""

    qi: tuple[str, ...]
    sensitive: str | None
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="auditkit-classes-")))
    n: int = 0

    def add(self, hashes: ClassHashes) -> None:
        self.n += len(hashes.cls)
        order = np.argsort(hashes.bucket, kind="stable")
        buckets = hashes.bucket[order]
        bounds = np.searchsorted(buckets, np.arange(N_BUCKETS + 1))
        cls = hashes.cls[order]
        pair = hashes.pair[order] if hashes.pair is not None else None
        for b in range(N_BUCKETS):
            lo, hi = bounds[b], bounds[b + 1]
            if lo == hi:
                continue
            with open(self.directory / f"c{b}", "ab") as fh:
                cls[lo:hi].tofile(fh)
            if pair is not None:
                with open(self.directory / f"p{b}", "ab") as fh:
                    pair[lo:hi].tofile(fh)

    def report(self, k: int, l: int) -> Any:  # noqa: E741
        """The :class:`~auditkit.privacy.masking.RiskReport` of every record added."""
        from auditkit.privacy.masking import ClassCounts, RiskReport

        if not self.qi:  # one class of every record, reported as the in-memory counter does
            empty = ClassCounts((), self.sensitive)
            empty.n = self.n
            return empty.report(k, l)

        n_classes = k_min = below_k = unique = 0
        l_min: int | None = None
        below_l: int | None = None if self.sensitive is None else 0
        for b in range(N_BUCKETS):
            path = self.directory / f"c{b}"
            if not path.exists():
                continue
            cls = np.fromfile(path, dtype=np.uint64)
            keys, sizes = np.unique(cls, return_counts=True)
            n_classes += len(sizes)
            k_min = int(sizes.min()) if k_min == 0 else min(k_min, int(sizes.min()))
            below_k += int(sizes[sizes < k].sum())
            unique += int((sizes == 1).sum())
            if self.sensitive is not None:
                pairs = np.fromfile(self.directory / f"p{b}", dtype=np.uint64)
                _, first = np.unique(pairs, return_index=True)
                owners = cls[first]  # the class of each distinct pair
                distinct = np.bincount(np.searchsorted(keys, owners), minlength=len(keys))
                l_min = int(distinct.min()) if l_min is None else min(l_min, int(distinct.min()))
                below_l = (below_l or 0) + int((distinct < l).sum())
        if self.n == 0:
            return RiskReport(self.qi, k, 0, 0, 0, 0, 0, self.sensitive, l,
                              None if self.sensitive is None else 0,
                              None if self.sensitive is None else 0)
        return RiskReport(
            quasi_identifiers=self.qi, k=k, n_records=self.n, n_classes=n_classes,
            k_achieved=k_min, records_below_k=below_k, unique_records=unique,
            sensitive=self.sensitive, l=l, l_achieved=l_min, classes_below_l=below_l,
        )

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
