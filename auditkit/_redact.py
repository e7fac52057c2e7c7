"""A last line of defence against personal data in the toolkit's own output.

Checks are written never to emit raw values from personal-data columns. This index is the
guard behind them: the runner scans every rendered report (and error messages) for the values of
those columns and refuses to write a report that contains one.

Matching is exact substring matching of whole cell values, pre-filtered by an "anchor" token of
each value so that the cost is one pass over the text plus a few substring tests. Values too
short to be distinctive (under 6 characters, or digit strings under 7 digits, which would
collide with counts) are not indexed.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["PersonalValueIndex"]

_SPLIT = re.compile(r"[\s<>\"'`|()\[\]{},;*\\]+")
_MIN_LEN = 6
_MIN_DIGITS = 7


def _indexable(value: str) -> bool:
    if len(value) < _MIN_LEN:
        return False
    digits = sum(ch.isdigit() for ch in value)
    if digits == len(value.replace(" ", "").replace("-", "")) and digits < _MIN_DIGITS:
        return False
    return True


class PersonalValueIndex:
    """Index of the distinct values of personal-data columns."""

    def __init__(self) -> None:
        self._by_anchor: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.size = 0

    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, columns: Iterable[str], *, max_values_per_column: int = 500_000
    ) -> PersonalValueIndex:
        index = cls()
        for col in columns:
            if col not in df.columns:
                continue
            series = df[col].dropna()
            if len(series) > max_values_per_column:
                series = series.sample(max_values_per_column, random_state=0)
            for value in series.astype(str).str.strip().unique():
                index.add(str(col), value)
        return index

    def add(self, column: str, value: str) -> None:
        if not _indexable(value):
            return
        tokens = [t for t in _SPLIT.split(value) if t]
        if not tokens:
            return
        anchor = max(tokens, key=len)
        self._by_anchor[anchor].append((value, column))
        self.size += 1

    def find(self, text: str) -> list[str]:
        """Names of the columns whose values occur in ``text`` (never the values)."""
        if not self._by_anchor or not text:
            return []
        plain = html.unescape(text)
        hits: set[str] = set()
        for token in set(_SPLIT.split(plain)):
            for anchor in self._candidate_anchors(token):
                for value, column in self._by_anchor[anchor]:
                    if column not in hits and value in plain:
                        hits.add(column)
        return sorted(hits)

    def _candidate_anchors(self, token: str) -> Iterable[str]:
        if token in self._by_anchor:
            yield token
        # A token glued to punctuation ("value." or "value:") still matches its anchor.
        stripped = token.strip(".:!?/=&#")
        if stripped != token and stripped in self._by_anchor:
            yield stripped

    def redact(self, text: str) -> str:
        """``text`` with every indexed value replaced by ``[REDACTED:<column>]``."""
        if not self._by_anchor or not text:
            return text
        out = text
        for token in set(_SPLIT.split(text)):
            for anchor in self._candidate_anchors(token):
                for value, column in self._by_anchor[anchor]:
                    if value in out:
                        out = out.replace(value, f"[REDACTED:{column}]")
        return out
