"""Entity spans in a whole column at once: the same spans as :func:`find_spans`, faster.

:func:`find_spans_batch` takes a column of texts and returns, for every text, exactly the
spans :func:`~auditkit.privacy.masking.find_spans` would, as parallel arrays
(:class:`SpanBatch`). It is fast because most of the work never reaches Python:

1. The column is de-duplicated (Arrow dictionary encoding): each distinct text is searched once.
2. Each recogniser's pattern is translated into an RE2 expression that matches wherever the
   Python pattern can (:func:`~auditkit.privacy.masking._arrow_text.re2_superset`), and Arrow
   runs it over the whole column, with the recogniser's trigger and context words likewise.
   A first combined pass drops the texts no recogniser can match at all.
3. Only the (text, recogniser) pairs that survive run the recogniser's Python pattern, context
   check, validator (once per distinct candidate) and span filter, highest priority first, so
   overlaps resolve as in :func:`find_spans`. Text finders run on every distinct text, through
   their batch form when they have one.

Recognisers are used only through their declared fields, so a user's own recogniser is
filtered the same way; a pattern the translation does not understand simply runs on every text.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._arrow_text import re2_superset
from auditkit.privacy.masking._recognisers import Recogniser
from auditkit.privacy.masking._spans import (
    TRIGGERS,
    Found,
    Sources,
    Span,
    TextFinder,
    _find,
    add_finder_spans,
    entity_names,
    finder_results,
    plan,
    run_recogniser,
    text_finders,
    text_recognisers,
)

__all__ = ["SpanBatch", "find_spans_batch"]


@dataclass(frozen=True)
class SpanBatch:
    """The spans of a batch of texts as parallel arrays, by text then position.

    ``rows[k]`` is the index of the text that holds span ``k``, ``starts[k]:ends[k]`` its
    offsets (in characters), and ``sources[codes[k]]`` its ``(entity, score, recogniser)``.
    The spans of text ``i`` are ``offsets[i]:offsets[i + 1]``.
    """

    n_texts: int
    rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    codes: np.ndarray
    sources: tuple[tuple[str, float, str], ...]
    offsets: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.size)

    @property
    def entities(self) -> np.ndarray:
        """The entity type of every span (object array)."""
        return self._field(0)

    @property
    def scores(self) -> np.ndarray:
        return self._field(1).astype(float)

    @property
    def recognisers(self) -> np.ndarray:
        return self._field(2)

    def _field(self, k: int) -> np.ndarray:
        table = np.array([s[k] for s in self.sources] or [""], dtype=object)
        return table[self.codes] if self.codes.size else np.array([], dtype=object)

    def spans(self, i: int) -> list[Span]:
        """The spans of text ``i``, as :func:`find_spans` returns them."""
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return [Span(int(self.starts[k]), int(self.ends[k]), *self.sources[self.codes[k]])
                for k in range(lo, hi)]

    def to_lists(self) -> list[list[Span]]:
        """The spans of every text."""
        return [self.spans(i) for i in range(self.n_texts)]


def find_spans_batch(
    texts: pa.Array | pa.ChunkedArray | Sequence[str | None] | Any,
    entities: Iterable[str] | None = None,
    *,
    recognisers: Sequence[Recogniser] | None = None,
) -> SpanBatch:
    """:func:`~auditkit.privacy.masking.find_spans` of every text, vectorised where it can be.

    Parameters
    ----------
    texts:
        An Arrow string array, a pandas Series or a list of strings (not one bare string);
        missing cells (``None``, NaN) have no spans, any other non-string cell is refused.
    entities, recognisers:
        As for :func:`find_spans`.

    Examples
    --------
    >>> b = find_spans_batch(["mail a@b.org", None, "card 4111 1111 1111 1111"])
    >>> [[(s.entity, s.start, s.end) for s in spans] for spans in b.to_lists()]
    [[('EMAIL_ADDRESS', 5, 12)], [], [('CREDIT_CARD', 5, 24)]]
    """
    entities = entity_names(entities)
    if recognisers is None:
        recs: Sequence[Recogniser] = text_recognisers(entities)
        finders = text_finders(entities)
    else:
        recs, finders = sorted(recognisers, key=lambda r: -r.priority), ()
    wanted = None if entities is None else set(entities)
    recs = [r for r in recs if r.compiled is not None]
    if isinstance(texts, (str, bytes)):
        raise PrivacyInputError(
            f"find_spans_batch needs a list of texts; got a single {type(texts).__name__}. "
            "Pass a list of texts (or call find_spans on one text)."
        )
    if not isinstance(texts, (pa.Array, pa.ChunkedArray)) and not hasattr(texts, "dtype"):
        texts = list(texts)
    arr = _as_array(texts)
    if arr is None:  # not representable in Arrow (e.g. lone surrogates): one text at a time
        return _from_lists([_find_one(t, i, recs, finders, wanted) for i, t in enumerate(texts)])
    n = len(arr)
    encoded = arr.dictionary_encode() if n else pa.array([], pa.dictionary(pa.int32(), pa.string()))
    distinct = encoded.dictionary
    with _no_gc():  # many small tuples, none cyclic: collections would only rescan them
        found, sources, where = _search(distinct, recs, finders, wanted)
    index = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return _expand(found, sources, where, index, len(distinct))


@contextmanager
def _no_gc() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _missing(text: Any) -> bool:
    """``None``, NaN or pandas' ``NA``/``NaT``: a missing cell."""
    return text is None or (isinstance(text, float) and text != text) or \
        type(text).__name__ in ("NAType", "NaTType")


def _refuse(i: int, text: Any) -> PrivacyInputError:
    return PrivacyInputError(
        f"find_spans_batch needs strings; text {i} is a {type(text).__name__}. Convert the "
        "column to text first (decode bytes)."
    )


def _find_one(text: Any, i: int, recs: Sequence[Recogniser], finders: Sequence[TextFinder],
              wanted: set[str] | None) -> list[Span]:
    if _missing(text):
        return []
    if not isinstance(text, str):
        raise _refuse(i, text)
    return _find(text, recs, finders, wanted) if text else []


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    view = getattr(pa.types, "is_string_view", None)  # pyarrow 16+
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t) or (
        view is not None and view(t))


def _as_array(texts: Any) -> pa.Array | None:
    """``texts`` as an Arrow string array; ``None`` when Arrow cannot hold them (then each
    text is checked and searched on its own). Cells that are not text are refused."""
    arrow_in = isinstance(texts, (pa.Array, pa.ChunkedArray))
    try:  # no type given: Arrow infers one, so bytes or numbers are not silently converted
        arr = texts if arrow_in else pa.array(texts, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not _is_text(arr.type):
        if arrow_in:
            raise PrivacyInputError(
                f"find_spans_batch needs text; got an Arrow array of type {arr.type}. Cast it "
                "to a string type first."
            )
        for i, text in enumerate(texts):
            if not _missing(text) and not isinstance(text, str):
                raise _refuse(i, text)
        arr = pa.nulls(len(arr), pa.string())  # every cell missing (an all-NaN float column)
    return arr.cast(pa.string()) if arr.type != pa.string() else arr


def _search(distinct: pa.Array, recs: Sequence[Recogniser], finders: Sequence[TextFinder],
            wanted: set[str] | None) -> tuple[Found, Sources, np.ndarray]:
    """Spans per distinct text; ``where``: the distinct texts searched, by position in ``found``."""
    nonempty = _np(pc.greater(pc.binary_length(distinct), 0)) if len(distinct) else \
        np.zeros(0, dtype=bool)
    masks = _Masks(distinct, nonempty)
    possible = {id(r): masks.candidates(r) for r in recs}
    if finders:
        where = np.flatnonzero(nonempty)
    else:
        any_rec = np.zeros(len(distinct), dtype=bool)
        for m, _ in possible.values():
            any_rec |= m
        where = np.flatnonzero(any_rec)
    texts = distinct.take(pa.array(where, type=pa.int64())).to_pylist() if where.size else []
    found: Found = {}
    sources = Sources()
    nonascii = set(np.flatnonzero(masks.nonascii[where]).tolist())
    everywhere = range(len(texts))
    for step in plan(recs, finders):
        if isinstance(step, TextFinder):
            pos = range(len(texts))
            add_finder_spans(step, wanted, texts, pos, finder_results(step, texts), found,
                             sources)
            continue
        mask, recheck_all = possible[id(step)]
        sel = np.flatnonzero(mask[where])
        if sel.size:
            run_recogniser(step, sources.code(step.entity, step.score, step.name), texts,
                           sel.tolist(), found, everywhere if recheck_all else nonascii)
    return found, sources, where


def _np(a: Any) -> np.ndarray:
    return a.to_numpy(zero_copy_only=False)


class _Masks:
    """Vectorised necessary conditions of a recogniser over the distinct texts."""

    def __init__(self, distinct: pa.Array, nonempty: np.ndarray) -> None:
        self.arr = distinct
        self.nonempty = nonempty
        self.nonascii = ~_np(pc.string_is_ascii(distinct)) if len(distinct) else nonempty
        self._memo: dict[tuple[str, str], np.ndarray] = {}

    def _match(self, kind: str, expr: str) -> np.ndarray:
        key = (kind, expr)
        if key not in self._memo:
            try:
                self._memo[key] = _np(pc.match_substring_regex(self.arr, expr)).astype(bool)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                self._memo[key] = np.ones(len(self.arr), dtype=bool)
        return self._memo[key]

    def candidates(self, rec: Recogniser) -> tuple[np.ndarray, bool]:
        """Texts where ``rec`` may find a span (its pattern, trigger and context all may
        match), and whether Python must test the trigger on every one of them (otherwise only
        on non-ASCII texts). Each condition is exact or wider on ASCII text; non-ASCII texts
        pass the trigger and context conditions."""
        ok = self.nonempty.copy()
        trig = TRIGGERS.get(rec.trigger)
        trig_sup = None if trig is None else re2_superset(trig.pattern, trig.flags)
        if not len(ok):
            return ok, False
        if trig_sup is not None:
            ok &= self._match("trigger", trig_sup) | self.nonascii
        words = rec.context
        if words and all(w.isascii() for w in words):
            expr = "(?i)" + "|".join(re.escape(w) for w in words)
            ok &= self._match("context", expr) | self.nonascii
        sup = re2_superset(rec.compiled.pattern, rec.compiled.flags)  # type: ignore[union-attr]
        if sup is not None:
            ok = self._narrow(ok, sup)
        return ok, trig is not None and trig_sup is None

    def _narrow(self, ok: np.ndarray, expr: str) -> np.ndarray:
        """``ok`` where ``expr`` also matches; a sparse ``ok`` is narrowed on its texts only."""
        if ("pattern", expr) in self._memo or ok.sum() * 2 > ok.size:
            return ok & self._match("pattern", expr)
        pos = np.flatnonzero(ok)
        if pos.size:
            try:
                hit = _np(pc.match_substring_regex(self.arr.take(pa.array(pos)), expr)).astype(bool)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return ok
            ok = np.zeros_like(ok)
            ok[pos[hit]] = True
        return ok


def _expand(found: Found, sources: Sources, where: np.ndarray, index: np.ndarray,
            n_distinct: int) -> SpanBatch:
    """Spans per distinct text, in :class:`Span` order, spread over the rows that hold it."""
    keys = sorted(found)
    per_key = np.array([len(found[p]) for p in keys], dtype=np.int64)
    flat = np.array([t for p in keys for t in found[p]], dtype=np.int64).reshape(-1, 3)
    text = np.repeat(where[np.array(keys, dtype=np.int64)], per_key)
    items = sources.items
    rank = np.empty(max(len(items), 1), dtype=np.int64)
    rank[sorted(range(len(items)), key=items.__getitem__)] = np.arange(len(items))
    order = np.lexsort((rank[flat[:, 2]], flat[:, 1], flat[:, 0], text)) if flat.size else \
        np.zeros(0, dtype=np.int64)
    flat = flat[order]
    count = np.zeros(n_distinct + 1, dtype=np.int64)  # the extra slot: missing cells
    np.add.at(count, text, 1)
    first = np.concatenate([[0], np.cumsum(count)])[:-1]
    row_count = count[index]
    offsets = np.concatenate([[0], np.cumsum(row_count)])
    gather = np.repeat(first[index] - offsets[:-1], row_count) + np.arange(offsets[-1])
    rows = np.repeat(np.arange(index.size), row_count)
    return SpanBatch(int(index.size), rows, flat[gather, 0], flat[gather, 1],
                     flat[gather, 2].astype(np.int32), tuple(items), offsets)


def _from_lists(per_text: list[list[Span]]) -> SpanBatch:
    sources = Sources()
    rows, starts, ends, codes = [], [], [], []
    for i, spans in enumerate(per_text):
        for s in spans:
            rows.append(i)
            starts.append(s.start)
            ends.append(s.end)
            codes.append(sources.code(s.entity, s.score, s.recogniser))
    counts = np.bincount(np.array(rows, dtype=np.int64), minlength=len(per_text))
    return SpanBatch(len(per_text), np.array(rows, dtype=np.int64),
                     np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64),
                     np.array(codes, dtype=np.int32), tuple(sources.items),
                     np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
