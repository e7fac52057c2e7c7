"""Evidence in a column's text besides validated spans: the format of its cells, and the
person names a text finder reads in them.

**Formats.** :func:`cell_formats` writes each cell as its format (``12/2024`` -> ``9/9``); when
one format dominates a column, the spans in its cells count only if most of them hold one
type (:func:`format_explains`): a code that passes a validator by chance is not data.

**Names.** A text finder (the offline name and place detector, or a model the user
registered) reports names without a validator, and to it a run of two capitalised words is a
name more often than not, so in labels (companies, car models, products) its spans alone are
no evidence. Two readings of a ``PERSON`` span count, each corroborated by the shipped
gazetteers of given names and surnames (case and accents folded):

- **a full name as the whole cell** (titles and suffixes aside) of at least two words, one of
  them a known given name or surname (:func:`name_values`): a column whose distinct values
  mostly read so holds names, whatever its header;
- **a full name inside text** (:func:`is_text_name`): two or more words, one a known given name
  and another a known surname, in a cell that also holds a lower-case word (``ask Sarah
  Johnson``, ``Tom Hanks called``): a cell of capitalised words only is a label (``Martha
  Stewart Towels``).

The thresholds that turn these into a verdict for the column live in
:mod:`auditkit.privacy.masking._scan`; only ``PERSON`` spans count here: a column of places
(cities, countries) is governed by its header.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.privacy.masking import _gazetteers as g
from auditkit.privacy.masking._span_engine import SpanBatch, find_spans_batch
from auditkit.privacy.masking._spans import Span

__all__ = [
    "cell_formats", "dominant_format", "format_explains", "is_text_name", "name_values",
    "text_name_cells",
]

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
#: Two to six words and nothing else: the shape of a name as a whole cell (RE2).
_NAME_SHAPE = r"^[\pL\pM'’.,-]+(?:\s+[\pL\pM'’.,-]+){1,5}$"
#: Two capitalised words side by side, and a lower-case word: a name inside text (RE2).
_TWO_CAPITALS = r"\p{Lu}[\pL\pM'’.-]*\s+\p{Lu}"
_LOWER_WORD = r"(?:^|[^\pL\pM])\p{Ll}[\pL\pM]"
_PERSON = ("PERSON",)


def cell_formats(values: pa.Array) -> pa.Array:
    """Each cell's format: a token with a digit becomes ``9``, a word ``a``, spaces one space
    (``12/2024`` and ``1/2020`` are both ``9/9``; ``Call 212-555-0123`` is ``a 9-9-9``)."""
    out = pc.replace_substring_regex(values, r"[\pL\pN_]*\pN[\pL\pN_]*", "9")
    out = pc.replace_substring_regex(out, r"[\pL_]+", "a")
    return pc.replace_substring_regex(out, r"\s+", " ")


def dominant_format(formats: pa.Array, share: float) -> tuple[str, int] | None:
    """(the format, its cells) when one covers ``share`` of the cells."""
    if len(formats) == 0:
        return None
    vc = pc.value_counts(formats)
    counts = vc.field("counts").to_numpy()
    top = int(np.argmax(counts))
    if counts[top] < share * len(formats) - 1e-9:
        return None
    return vc.field("values")[top].as_py(), int(counts[top])


def format_explains(span_sets: list[set[str]], n_format: int, consistent: float) -> bool:
    """Whether a column's dominant format, not its data, explains the spans in its cells: fewer
    than ``consistent`` of its ``n_format`` cells hold a span of one type."""
    tally = Counter(e for ents in span_sets for e in ents)
    return bool(tally) and max(tally.values()) < consistent * n_format - 1e-9


def _fold(word: str) -> str:
    """Case and accents folded (``García`` -> ``garcia``)."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _known(word: str, table: frozenset[str]) -> bool:
    """Whether ``word`` (or, hyphenated or with an apostrophe, a part or the joined parts) is
    in ``table``: ``O'Brien`` -> ``obrien``, ``Brontë-Ångström`` -> ``bronte``."""
    w = _fold(word)
    parts = re.split(r"['’-]", w)
    return w in table or "".join(parts) in table or any(p in table for p in parts if len(p) > 1)


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _full_name(words: Sequence[str]) -> bool:
    """A known given name and, as another of the words, a known surname."""
    given, family = g.given_names(), g.surnames()
    return any(_known(w, given) and any(_known(o, family) for o in words[:i] + words[i + 1:])
               for i, w in enumerate(words))


def _whole(text: str, span: Span) -> bool:
    """Whether ``span`` is the whole cell, titles, suffixes and punctuation aside."""
    rest = _words(text[:span.start]) + _words(text[span.end:])
    return all(_fold(w) in g.TITLES or _fold(w) in g.NAME_SUFFIXES for w in rest)


def _known_name(words: Sequence[str]) -> bool:
    """Two words or more, one of them a known given name or surname."""
    given, family = g.given_names(), g.surnames()
    return len(words) >= 2 and any(_known(w, given) or _known(w, family) for w in words)


def name_values(values: pa.Array, bar: float) -> float:
    """The share of the distinct ``values`` that a text finder reads as one full name, whole
    (:func:`_known_name`); 0.0 when fewer than ``bar`` of them even have a name's shape (the
    finders are not run)."""
    distinct = pc.unique(values)
    n = len(distinct)
    if n == 0:
        return 0.0
    shaped = pc.match_substring_regex(distinct, _NAME_SHAPE).to_numpy(zero_copy_only=False)
    if shaped.sum() < bar * n - 1e-9:
        return 0.0
    cells = distinct.filter(pa.array(shaped))
    batch = find_spans_batch(cells, _PERSON)
    texts = cells.to_pylist()
    names = sum(
        1 for i, text in enumerate(texts)
        if any(s.entity == "PERSON" and _whole(text, s)
               and _known_name(_words(text[s.start:s.end])) for s in batch.spans(i))
    )
    return names / n


def is_text_name(text: str, span: Span) -> bool:
    """Whether a finder's ``PERSON`` span is a full name inside text (see the module)."""
    if span.entity != "PERSON" or not _full_name(_words(text[span.start:span.end])):
        return False
    rest = _words(text[:span.start]) + _words(text[span.end:])
    return any(len(w) > 1 and w[0].islower() for w in rest)


def text_name_cells(values: pa.Array, pattern_spans: SpanBatch) -> list[int]:
    """Positions of the cells of ``values`` holding a full name inside text
    (:func:`is_text_name`) that overlaps none of the cell's ``pattern_spans`` (a validated
    span wins an overlap, as in :func:`~auditkit.privacy.masking.find_spans`)."""
    if len(values) == 0:
        return []
    maybe = pc.and_(pc.match_substring_regex(values, _TWO_CAPITALS),
                    pc.match_substring_regex(values, _LOWER_WORD))
    where = np.flatnonzero(maybe.to_numpy(zero_copy_only=False))
    if where.size == 0:
        return []
    cells = values.take(pa.array(where, type=pa.int64()))
    batch = find_spans_batch(cells, _PERSON)
    out = []
    for k, (i, text) in enumerate(zip(where.tolist(), cells.to_pylist(), strict=True)):
        taken = [(s.start, s.end) for s in pattern_spans.spans(i)]
        if any(is_text_name(text, s) and not any(a < s.end and s.start < b for a, b in taken)
               for s in batch.spans(k)):
            out.append(i)
    return out
