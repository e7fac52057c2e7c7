"""A bounded uniform sample that merges across partitions: the rows with the smallest keys.

Every row gets a pseudo-random 64-bit key from ``(seed, partition, row)`` alone (SplitMix64 of
the three), so the sample does not depend on how partitions are read, in which order they finish
or how they are batched: each partition keeps its ``k`` rows of smallest key, and the merge of
any set of partial samples keeps the ``k`` smallest of their union. Rows come back in data order
(partition, then row), so a sample of at least as many rows as the data is the data itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["BottomK", "row_keys"]

_PART = "__auditkit_part"
_ROW = "__auditkit_row"
_KEY = "__auditkit_key"
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, vectorised (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def row_keys(seed: int, partition: int, start: int, n: int) -> np.ndarray:
    """Keys of rows ``start .. start + n - 1`` of ``partition``."""
    base = _mix(np.array([(seed & 0xFFFFFFFFFFFFFFFF)], dtype=np.uint64))
    with np.errstate(over="ignore"):
        part = _mix(base ^ (np.uint64(partition) * _GOLDEN))
        rows = np.arange(start, start + n, dtype=np.uint64)
        return _mix(part ^ (rows * _GOLDEN + np.uint64(1)))


@dataclass
class BottomK:
    """The ``k`` rows of smallest key seen so far (a frame with three bookkeeping columns)."""

    k: int
    seed: int
    frame: pd.DataFrame | None = None
    rows_seen: int = 0
    bound: int | None = None
    """Keys at or above it are not kept: the largest key of a full sample of other rows, which
    no row of larger key can enter (it makes a partition's share of the sample small without
    changing the merged sample)."""

    def limit(self) -> int | None:
        """The largest key kept when the sample is full (``None`` while it is not)."""
        if self.frame is None or len(self.frame) < self.k:
            return self.bound
        top = int(self.frame[_KEY].to_numpy().max())
        return top if self.bound is None else min(top, self.bound)

    schema: pd.DataFrame | None = None
    """The data's columns (no rows), for :meth:`rows` when no row was kept."""

    def add(self, frame: pd.DataFrame, partition: int, start: int) -> None:
        """Offer rows ``start ..`` of ``partition``."""
        n = len(frame)
        self.rows_seen += n
        if self.schema is None:
            self.schema = frame.iloc[:0]
        if n == 0 or self.k <= 0:
            return
        keys = row_keys(self.seed, partition, start, n)
        bound = self.limit()
        # only rows that can enter the sample
        chosen = np.arange(n) if bound is None else np.flatnonzero(keys < np.uint64(bound))
        if len(chosen) > self.k:
            chosen = chosen[np.argpartition(keys[chosen], self.k - 1)[: self.k]]
        chosen = np.sort(chosen)
        if len(chosen) == 0:
            return
        part = frame.iloc[chosen].copy()
        part[_PART] = np.int64(partition)
        part[_ROW] = chosen.astype(np.int64) + start
        part[_KEY] = keys[chosen]
        self._keep(part)

    def merge(self, other: BottomK) -> BottomK:
        """The sample of the union of both sets of rows."""
        out = BottomK(self.k, self.seed, self.frame, self.rows_seen + other.rows_seen,
                      bound=None if self.bound is None or other.bound is None
                      else max(self.bound, other.bound),
                      schema=self.schema if self.schema is not None else other.schema)
        if other.frame is not None:
            out._keep(other.frame)
        return out

    def _keep(self, part: pd.DataFrame) -> None:
        both = part if self.frame is None else pd.concat([self.frame, part], ignore_index=True)
        if len(both) > self.k:
            both = both.iloc[np.argsort(both[_KEY].to_numpy(), kind="stable")[: self.k]]
        self.frame = both.reset_index(drop=True)

    def rows(self) -> pd.DataFrame:
        """The sample in data order, without the bookkeeping columns."""
        if self.frame is None:
            return self.schema.copy() if self.schema is not None else pd.DataFrame()
        ordered = self.frame.sort_values([_PART, _ROW], kind="stable")
        return ordered.drop(columns=[_PART, _ROW, _KEY]).reset_index(drop=True)
