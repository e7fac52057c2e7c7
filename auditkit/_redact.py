"""A last line of defence against personal data in the toolkit's own output.

Checks are written never to emit raw values from personal-data columns. This index is the
guard behind them: the runner scans every rendered report (and error messages) for the values of
those columns and refuses to write a report that contains one.

Matching is exact substring matching of whole cell values: every value is indexed by its first
six characters, and the text is scanned once, looking up the six characters at each position, so
a value is found wherever it stands, glued to other text or not. The text is also scanned with
HTML entities and Markdown backslash escapes undone. Values too short to be distinctive (under 6
characters, or digit strings under 7 digits, which would collide with counts) are not indexed.
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

_K = 6
_MIN_LEN = _K
_MIN_DIGITS = 7
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")


def _indexable(value: str) -> bool:
    if len(value) < _MIN_LEN:
        return False
    digits = sum(ch.isdigit() for ch in value)
    if digits == len(value.replace(" ", "").replace("-", "")) and digits < _MIN_DIGITS:
        return False
    return True


def _variants(text: str) -> set[str]:
    """The text as written, with HTML entities undone, and with Markdown escapes undone."""
    unescaped = html.unescape(text)
    return {text, unescaped, _MD_ESCAPE.sub(r"\1", text), _MD_ESCAPE.sub(r"\1", unescaped)}


class PersonalValueIndex:
    """Index of the distinct values of personal-data columns."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, list[tuple[str, str]]] = defaultdict(list)
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
        self._by_prefix[value[:_K]].append((value, column))
        self.size += 1

    def _matches(self, text: str) -> Iterable[tuple[int, str, str]]:
        """(position, value, column) of every indexed value occurring in ``text``."""
        lookup = self._by_prefix
        if not lookup:
            return
        for i in range(len(text) - _K + 1):
            candidates = lookup.get(text[i : i + _K])
            if candidates:
                for value, column in candidates:
                    if text.startswith(value, i):
                        yield i, value, column

    def find(self, text: str) -> list[str]:
        """Names of the columns whose values occur in ``text`` (never the values)."""
        if not text:
            return []
        return sorted({column for variant in _variants(text) for _, _, column in self._matches(variant)})

    def redact(self, text: str) -> str:
        """``text`` with every indexed value replaced by ``[REDACTED:<column>]``.

        Values hidden behind HTML entities or Markdown escapes are redacted too (the text is
        then returned in its unescaped form).
        """
        if not text or not self._by_prefix:
            return text
        out = self._replace(text)
        for variant in sorted(_variants(out), key=len):
            if variant != out and any(True for _ in self._matches(variant)):
                return self._replace(variant)
        return out

    def _replace(self, plain: str) -> str:
        out: list[str] = []
        pos = 0
        for i, value, column in sorted(self._matches(plain), key=lambda m: (m[0], -len(m[1]))):
            if i < pos:
                continue
            out.append(plain[pos:i])
            out.append(f"[REDACTED:{column}]")
            pos = i + len(value)
        out.append(plain[pos:])
        return "".join(out)
