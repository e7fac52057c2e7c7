"""A last line of defence against personal data in the toolkit's own output.

Checks are written never to emit raw values from personal-data columns. This index is the
guard behind them, in two uses:

- :meth:`PersonalValueIndex.leaks_in_report` checks the findings model — the one data structure
  every format (HTML, Markdown, JSON, PDF, the PR summary) is rendered from — before anything is
  rendered. Every string in it (metadata, summaries, table cells, the text of figure SVG,
  artifact notes, limitations, config) is checked, case for case, at word boundaries: a value
  of several words (an e-mail address, a full name, a phone number, a date) is a leak wherever
  it stands as whole words; a value of one word (a first or last name) is a leak where it is a
  whole string — a table cell, a label, a text node or comment of a figure, or a part of a
  figure's label between separators ("officer: Alice") — but not as a word inside
  prose, where it cannot be told from the ordinary word ("little", "white", "long" are
  surnames). A one-word value that is one of the toolkit's own words (a status such as "pass",
  a severity, "n/a", a column name of the dataset) is not a match either: the report writes
  that word in that place whatever the data holds, so it discloses nothing. A fragment is never
  a match ("carrie" inside "carried"). The fixed wording of the
  templates is never in the model, so it cannot block a report. A leak is reported by column
  and place (section, finding, table, row, column), never by value.
- :meth:`PersonalValueIndex.redact` scrubs free text that is not part of the model (an error
  message a check raised) by plain substring matching, as described below.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Leak", "PersonalValueIndex"]

_K = 6
_MIN_LEN = _K
_MIN_DIGITS = 7
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")
_WORD = re.compile(r"\w+")
_MIN_WORD_LEN = 4  # a single-token value shorter than this is not distinctive at word level
_MAX_TOKENS = 16


_SVG_TEXT = re.compile(r">([^<>]+)<")
# matplotlib writes every text of a figure as a comment beside its glyph paths
_SVG_COMMENT = re.compile(r"<!--(.*?)(?:-->|$)", re.DOTALL)
# Separators inside a figure's label ("officer: Alice", "Female & Alice", "Alice (reference)"):
# each part of a label is a whole string too.
_LABEL_PARTS = re.compile(r"\s*(?:[:;,&|/=()\[\]]|\s-\s)\s*")
# Words the toolkit itself writes as whole cells and labels whatever the data holds (statuses,
# severities, yes/no, "n/a", "overall"): a one-word personal value equal to one of them (a
# surname "Pass", "Fail", "High") reveals nothing where the report shows the word, so it is
# not a match there. The dataset's own column names are added per index (headers, groupings).
_TOOLKIT_WORDS = frozenset({
    "pass", "passed", "warn", "warning", "fail", "failed", "error", "insufficient", "evidence",
    "info", "low", "medium", "high", "critical", "yes", "no", "none", "all", "overall", "true",
    "false", "missing", "unknown", "other", "open", "below", "above", "bar", "small", "excluded",
    "applicable", "not", "n/a", "to", "assign", "favourable", "adverse", "reference", "group",
    "clear", "masked", "redacted", "kept", "encrypted", "signed", "unsigned", "running",
    "finished", "settled",
})
# Fields of the model whose values are the toolkit's own enumerations, ids and digests.
_STRUCTURAL = frozenset({"check_id", "status", "severity", "regulations", "kind", "sha256",
                         "size", "schema_version", "counts", "id"})


def _core(value: str) -> str:
    """``value`` without the punctuation and space around its first and last word."""
    spans = [m.span() for m in _WORD.finditer(value)]
    return value[spans[0][0] : spans[-1][1]] if spans else ""


def _distinctive(core: str) -> bool:
    digits = re.sub(r"[\s\-.()+/]", "", core)
    if digits.isdigit():
        return len(digits) >= _MIN_DIGITS  # shorter numbers collide with counts
    return len(core) >= _MIN_WORD_LEN


def _svg_pieces(svg: str) -> list[str]:
    """The texts of a figure: its text nodes and its comments (where matplotlib writes every
    label), each whole and each part of it between separators."""
    pieces = _SVG_TEXT.findall(svg) + _SVG_COMMENT.findall(svg)
    parts = [p for piece in pieces for p in _LABEL_PARTS.split(html.unescape(piece)) if p.strip()]
    return pieces + [p for p in parts if p not in pieces]


@dataclass(frozen=True)
class Leak:
    """A personal value found in the findings model: which column, and where (never what)."""

    column: str
    place: str

    def __str__(self) -> str:
        return f"column {self.column!r} in {self.place}"


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
        self._words: dict[str, str] = {}  # one-word values -> column
        self._phrases: dict[str, str] = {}  # values of several words (e-mail, full name) -> column
        self._max_tokens = 1
        self._vocabulary: set[str] = set(_TOOLKIT_WORDS)
        self.size = 0

    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, columns: Iterable[str], *, max_values_per_column: int = 500_000
    ) -> PersonalValueIndex:
        index = cls()
        index._vocabulary.update(str(c).casefold() for c in df.columns)
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
        core = _core(value)
        if core and _distinctive(core):  # the word-level index of the model guard
            n_tokens = len(_WORD.findall(core))
            if n_tokens == 1:
                self._words.setdefault(core, column)
            elif n_tokens <= _MAX_TOKENS:
                self._phrases.setdefault(core, column)
                self._max_tokens = max(self._max_tokens, n_tokens)
        if not _indexable(value):
            return
        self._by_prefix[value[:_K]].append((value, column))
        self.size += 1

    @property
    def vocabulary(self) -> frozenset[str]:
        """The toolkit's own words (case-folded) that a one-word value never matches as."""
        return frozenset(self._vocabulary)

    # -- the model guard: whole words and phrases ----------------------------------------------
    def _word_matches(self, text: str) -> set[str]:
        """Columns whose values are ``text`` (a one-word value, or any value, as the whole
        string or a whole SVG text node), or occur in it as a phrase of whole words (values
        of several words)."""
        if not text or not (self._words or self._phrases):
            return set()
        found: set[str] = set()
        pieces = _svg_pieces(text) if "<svg" in text else [text]
        for piece in pieces:
            core = _core(html.unescape(piece))
            column = self._phrases.get(core)
            if column is None and core.casefold() not in self._vocabulary:
                column = self._words.get(core)
            if column is not None:
                found.add(column)
        if not self._phrases:
            return found
        phrases = self._phrases
        for piece in pieces:
            piece = html.unescape(piece)
            spans = [m.span() for m in _WORD.finditer(piece)]
            for i, (start, _) in enumerate(spans):
                for j in range(i + 1, min(i + self._max_tokens, len(spans))):
                    column = phrases.get(piece[start : spans[j][1]])
                    if column is not None:
                        found.add(column)
        return found

    def leaks_in_report(self, report: Any) -> list[Leak]:
        """Every place in ``report`` (a :class:`auditkit.reports.Report`) holding a personal
        value as a whole word or phrase, as (column, place); empty when it is clean."""
        if not (self._words or self._phrases):
            return []
        leaks: list[Leak] = []

        def visit(value: Any, place: str) -> None:
            if isinstance(value, str):
                leaks.extend(Leak(c, place) for c in sorted(self._word_matches(value)))
            elif isinstance(value, dict):
                for key, v in value.items():
                    if key in _STRUCTURAL:  # enumerations and ids the toolkit chose
                        continue
                    visit(str(key), f"{place}, a key")
                    visit(v, f"{place}.{key}")
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    visit(v, f"{place}[{i}]")

        doc = report.to_dict()
        for key in ("metadata", "artifacts", "environment", "config", "limitations"):
            visit(doc.get(key), key)
        for section in doc.get("sections", []):
            where = f"section {section.get('id')!r}"
            visit(section.get("title"), f"{where}, title")
            visit(section.get("summary"), f"{where}, summary")
            for finding in section.get("findings", []):
                fid = f"{where}, finding {finding.get('check_id')!r}"
                for key, v in finding.items():
                    if key not in _STRUCTURAL:
                        visit(v, f"{fid}, {key}")
            for t, table in enumerate(section.get("tables", [])):
                tid = f"{where}, table {t + 1} ({table.get('title')!r})"
                visit(table.get("title"), f"{tid}, title")
                visit(table.get("note"), f"{tid}, note")
                columns = table.get("columns", [])
                for c, name in enumerate(columns):
                    visit(name, f"{tid}, header of column {c + 1}")
                for r, row in enumerate(table.get("rows", [])):
                    for c, cell in enumerate(row):
                        name = columns[c] if c < len(columns) else c + 1
                        visit(cell, f"{tid}, row {r + 1}, column {name!r}")
            for f, figure in enumerate(section.get("figures", [])):
                visit(figure, f"{where}, figure {f + 1}")
        return leaks

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
