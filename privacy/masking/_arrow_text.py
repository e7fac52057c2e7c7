"""Vectorised text over Arrow: the cells an operator rewrites, and the Series it hands back.

Operators work on the non-null cells of a column as one Arrow string array
(:func:`text_cells`) and put the result back into a pandas Series shaped like the input,
missing cells left missing (:func:`rebuild`). :func:`mask_characters` hides characters one
code point at a time over the UTF-8 bytes, without a Python loop over the values.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.privacy.errors import PrivacyInputError

__all__ = [
    "arrow_strings", "mask_characters", "object_strings", "re2_superset", "rebuild",
    "repeated", "replace_spans", "text_cells", "unencodable_cells",
]

_STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def text_cells(values: pd.Series, *, row_offset: int = 0) -> tuple[pa.Array, np.ndarray]:
    """(Arrow string array of the non-null cells, boolean mask of non-null cells).

    A cell Arrow cannot hold (a lone surrogate) raises :class:`PrivacyInputError` naming the
    column and the row (counted from ``row_offset``), never the value: see
    :func:`arrow_strings`.
    """
    mask = values.notna().to_numpy()
    nonnull = values if mask.all() else values[mask]
    arr = None
    if pd.api.types.is_string_dtype(nonnull.dtype):
        try:
            arr = pa.array(nonnull, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):
            arr = None  # objects that are not all str, or a cell Arrow cannot hold
    if arr is None:
        arr = arrow_strings(object_strings(nonnull), values.name, np.flatnonzero(mask) + row_offset)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr, mask


def object_strings(values: pd.Series) -> np.ndarray:
    """The cells of ``values`` as ``str`` objects (``str(cell)`` for a cell that is not one)."""
    try:
        return values.astype(str).to_numpy(dtype=object)
    except (UnicodeError, pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # pandas' own string dtype is Arrow's: it cannot hold a lone surrogate either
    return np.array([v if isinstance(v, str) else str(v) for v in values.to_numpy(dtype=object)],
                    dtype=object)


def arrow_strings(cells: np.ndarray, column: Any, rows: np.ndarray) -> pa.Array:
    """``cells`` (Python strings) as an Arrow string array.

    A cell that is not valid Unicode (a lone surrogate, left by bytes decoded with
    ``errors="surrogateescape"``) cannot be stored: one :class:`PrivacyInputError` names the
    ``column``, the row of the first such cell (``rows[i]`` is the row of ``cells[i]``) and how
    many there are, never the value, and chains no exception that would carry it.
    """
    try:
        return pa.array(cells, type=pa.string(), from_pandas=True)
    except (UnicodeError, pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # raised below, outside this handler: no exception holding a cell is chained
    error = unencodable_cells(cells, column, rows)
    if error is not None:
        raise error
    return pa.array(cells, type=pa.string(), from_pandas=True)  # another failure: Arrow's own


def unencodable_cells(cells: Any, column: Any, rows: Any) -> PrivacyInputError | None:
    """The error for a column some of whose ``cells`` are not valid Unicode (``None`` when every
    cell is): it names the column, the row of the first (``rows[i]`` is the row of
    ``cells[i]``) and their count, never a value, and says what to do. Raise it outside any
    ``except`` block, so that no exception holding the cell is chained to it."""
    bad = [i for i, cell in enumerate(cells) if not _encodable(cell)]
    if not bad:
        return None
    return PrivacyInputError(
        f"Column {str(column)!r} holds text that is not valid Unicode: {len(bad)} cell(s), the "
        f"first at row {int(np.asarray(rows)[bad[0]])}, contain a lone surrogate (left by bytes "
        "decoded with errors='surrogateescape', or a broken string), which Arrow cannot store; "
        "the value is not shown. Clean the column first, e.g. df[col] = "
        "df[col].str.encode('utf-8', 'replace').str.decode('utf-8'), or read the file with "
        "encoding_errors='replace'."
    )


def _encodable(cell: Any) -> bool:
    if not isinstance(cell, str):
        return True
    try:
        cell.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def repeated(value: str, n: int) -> pa.Array:
    """``n`` copies of ``value`` as an Arrow string array."""
    return pa.array([value], type=pa.string()).take(pa.array(np.zeros(n, dtype=np.int64)))


def rebuild(values: pd.Series, new: pa.Array | np.ndarray | list[Any], mask: np.ndarray) -> pd.Series:
    """An Arrow-backed string Series like ``values`` with the non-null cells replaced by ``new``."""
    if not isinstance(new, (pa.Array, pa.ChunkedArray)):
        new = pa.array(np.asarray(new, dtype=object), type=pa.string(), from_pandas=True)
    if isinstance(new, pa.ChunkedArray):
        new = new.combine_chunks()
    if new.type != pa.string():
        new = new.cast(pa.string())
    if not mask.all():
        pos = np.full(len(values), 0, dtype=np.int64)
        pos[mask] = np.arange(int(mask.sum()))
        new = new.take(pa.array(pos, mask=~mask))
    series = new.to_pandas(types_mapper={pa.string(): _STR_DTYPE}.get)
    series.index = values.index
    series.name = values.name
    return series


_ASCII_ALNUM = np.zeros(256, dtype=bool)
for _lo, _hi in ((48, 57), (65, 90), (97, 122)):
    _ASCII_ALNUM[_lo:_hi + 1] = True


def mask_characters(arr: pa.Array, char: str, keep_separators: bool) -> pa.Array:
    """Every character of ``arr`` replaced by ``char`` (letters and digits only when
    ``keep_separators``), vectorised over the UTF-8 bytes: one ``char`` per code point."""
    if len(char.encode("utf-8")) != 1:
        pattern = r"[\pL\pN]" if keep_separators else r"."
        return pc.replace_substring_regex(arr, pattern, char)
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    if arr.offset or arr.null_count:
        arr = pa.concat_arrays([arr])  # normalise offset
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    data_buf = arr.buffers()[2]
    if data_buf is None or offsets[-1] == offsets[0]:
        return arr
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]]
    code = ord(char)
    if keep_separators:
        # ASCII letters and digits, and every non-ASCII code point (letters of other scripts,
        # to be safe), become ``char``; ASCII punctuation and spaces stay.
        lut = np.arange(256, dtype=np.uint8)
        lut[_ASCII_ALNUM] = code
        lut[0xC0:] = code
    else:
        lut = np.full(256, code, dtype=np.uint8)
    out = lut[data]
    # One output byte per code point: drop UTF-8 continuation bytes (10xxxxxx).
    cont = np.flatnonzero((data & 0xC0) == 0x80)
    rel = offsets - offsets[0]
    if cont.size:
        keep = np.ones(data.shape, dtype=bool)
        keep[cont] = False
        out = out[keep]
        rel = rel - np.searchsorted(cont, rel)
    new_offsets = rel.astype(np.int32)
    return pa.StringArray.from_buffers(len(arr), pa.py_buffer(new_offsets), pa.py_buffer(out))


# --------------------------------------------------------------------------------------------
# A Python regular expression as an RE2 pre-filter: a superset that Arrow runs on a column.

try:  # Python 3.11+
    from re import _constants as _sre_c
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_NON_ASCII = r"\x{80}-\x{10FFFF}"
_NOTHING = r"[^\x00-\x{10FFFF}]"
_MAX_COUNT = 100  # wider bounded repeats become unbounded (RE2 limits counts and program size)
_CATEGORY_SRC = {
    _sre_c.CATEGORY_DIGIT: r"\d", _sre_c.CATEGORY_NOT_DIGIT: r"\D",
    _sre_c.CATEGORY_SPACE: r"\s", _sre_c.CATEGORY_NOT_SPACE: r"\S",
    _sre_c.CATEGORY_WORD: r"\w", _sre_c.CATEGORY_NOT_WORD: r"\W",
}
_CLASS_FLAGS = re.IGNORECASE | re.ASCII | re.UNICODE


class _Untranslatable(Exception):
    """A construct the translation does not know: no pre-filter for that pattern."""


def re2_superset(pattern: str, flags: int = 0) -> str | None:
    """An RE2 expression that finds a match in every string where Python's ``re.search`` with
    ``pattern`` does (it may find more), or ``None`` when the pattern cannot be translated.

    Assertions (look-arounds, ``\\b``, anchors) are dropped, a back-reference becomes a copy of
    its group, and every character class keeps its exact ASCII members (tested against Python's
    own engine with the pattern's flags) plus, where it may match any, every non-ASCII code
    point. On ASCII text the filter is as sharp as the pattern's consuming parts.
    """
    return _superset(pattern, flags)


@lru_cache(maxsize=512)
def _superset(pattern: str, flags: int) -> str | None:
    try:
        tree = _sre_parse.parse(pattern, flags)
        return _emit(list(tree), tree.state.flags, {})
    except (_Untranslatable, re.error, KeyError, RecursionError):
        return None


def _emit(items: list[Any], flags: int, groups: dict[int, tuple[str, int]]) -> str:
    return "".join(_emit_item(op, av, flags, groups) for op, av in items)


def _emit_item(op: Any, av: Any, flags: int, groups: dict[int, tuple[str, int]]) -> str:
    c = _sre_c
    if op in (c.LITERAL, c.NOT_LITERAL, c.IN):
        return _class(op, av, flags)
    if op is c.ANY:
        return r"(?s:.)" if flags & re.DOTALL else r"[^\n]"
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return ""
    if op is c.BRANCH:
        return "(?:" + "|".join(_emit(list(b), flags, groups) for b in av[1]) + ")"
    if op is c.SUBPATTERN:
        group, add, remove, sub = av
        inner = (flags | add) & ~remove
        text = "(?:" + _emit(list(sub), inner, groups) + ")"
        if group:
            groups[group] = (text, inner)
        return text
    if op in (c.MAX_REPEAT, c.MIN_REPEAT) or op is getattr(c, "POSSESSIVE_REPEAT", None):
        return _repeat(av, flags, groups)
    if op is c.GROUPREF:
        text, gflags = groups[av]
        if flags & re.IGNORECASE and not gflags & re.IGNORECASE:
            raise _Untranslatable
        return text
    if op is c.GROUPREF_EXISTS:
        _, yes, no = av
        return "(?:" + _emit(list(yes), flags, groups) + "|" + (
            _emit(list(no), flags, groups) if no else "") + ")"
    if op is getattr(c, "ATOMIC_GROUP", None):
        return "(?:" + _emit(list(av), flags, groups) + ")"
    raise _Untranslatable


def _repeat(av: Any, flags: int, groups: dict[int, tuple[str, int]]) -> str:
    lo, hi, sub = av
    body = "(?:" + _emit(list(sub), flags, groups) + ")"
    lo = min(lo, _MAX_COUNT)
    if hi is _sre_c.MAXREPEAT or hi > _MAX_COUNT:
        return body + ("*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}")
    return body + f"{{{lo},{hi}}}"


def _class(op: Any, av: Any, flags: int) -> str:
    """One character: a literal, a negated literal or a class, as an RE2 class."""
    c = _sre_c
    if op is c.LITERAL:
        items, negate = [(c.LITERAL, av)], False
    elif op is c.NOT_LITERAL:
        items, negate = [(c.LITERAL, av)], True
    else:
        negate = bool(av) and av[0][0] is c.NEGATE
        items = list(av[1:] if negate else av)
    src, wide, extra = _class_parts(items, flags)
    members = _ascii_members(("[^" if negate else "[") + src + "]", flags & _CLASS_FLAGS)
    if negate or wide:
        extra = _NON_ASCII
    ranges = _ranges(members) + extra
    return "[" + ranges + "]" if ranges else _NOTHING


def _class_parts(items: list[Any], flags: int) -> tuple[str, bool, str]:
    """(Python source of the class body, whether it may match any non-ASCII character, its exact
    non-ASCII members as RE2 ranges when not)."""
    c = _sre_c
    src, extra = [], []
    wide = bool(flags & re.IGNORECASE)
    for op, av in items:
        if op is c.LITERAL:
            src.append(f"\\U{av:08x}")
            if av >= 0x80:
                extra.append(f"\\x{{{av:x}}}")
        elif op is c.RANGE:
            lo, hi = av
            src.append(f"\\U{lo:08x}-\\U{hi:08x}")
            if hi >= 0x80:
                extra.append(f"\\x{{{max(lo, 0x80):x}}}-\\x{{{hi:x}}}")
        elif op is c.CATEGORY and av in _CATEGORY_SRC:
            src.append(_CATEGORY_SRC[av])
            wide = True
        else:
            raise _Untranslatable
    return "".join(src), wide, "".join(extra)


@lru_cache(maxsize=4096)
def _ascii_members(src: str, flags: int) -> tuple[int, ...]:
    rx = re.compile(src, flags)
    return tuple(i for i in range(128) if rx.fullmatch(chr(i)))


def _ranges(codes: tuple[int, ...]) -> str:
    out, i = [], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        out.append(f"\\x{{{codes[i]:x}}}" + (f"-\\x{{{codes[j]:x}}}" if j > i else ""))
        i = j + 1
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Spans replaced inside the cells, vectorised over the UTF-8 bytes.

def replace_spans(arr: pa.Array, rows: Any, starts: Any, ends: Any, replacements: Any) -> pa.Array:
    """``arr`` with ``arr[rows[k]][starts[k]:ends[k]]`` replaced by ``replacements[k]``.

    Offsets count code points (as Python's ``str`` does); the spans of one cell must not
    overlap. Every byte is copied once by one gather: no Python loop over the cells.
    """
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    rows, starts, ends = (np.asarray(x, dtype=np.int64) for x in (rows, starts, ends))
    if rows.size == 0:
        return arr
    order = np.lexsort((ends, starts, rows))
    rows, starts, ends = rows[order], starts[order], ends[order]
    reps = replacements if isinstance(replacements, pa.Array) else pa.array(
        np.asarray(replacements, dtype=object), type=pa.string(), from_pandas=True)
    reps = pa.concat_arrays([reps.cast(pa.string()).take(pa.array(order)).fill_null("")])
    arr = pa.concat_arrays([arr])  # offset 0
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[:len(arr) + 1].astype(np.int64)
    data = _bytes(arr.buffers()[2], offsets[-1])
    b_start, b_end = _byte_offsets(data, offsets, rows, starts, ends)
    rep_off = np.frombuffer(reps.buffers()[1], dtype=np.int32)[:len(reps) + 1].astype(np.int64)
    rep_data = _bytes(reps.buffers()[2], rep_off[-1])
    n, ns = len(arr), rows.size
    before = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    pos = np.arange(n) + 2 * before[:-1]  # first output segment of each row
    local = np.arange(ns) - before[rows]
    src = np.empty(n + 2 * ns, dtype=np.int64)
    length = np.empty(n + 2 * ns, dtype=np.int64)
    prev_end = np.where(local == 0, offsets[rows], np.roll(b_end, 1))
    src[pos[rows] + 2 * local] = prev_end
    length[pos[rows] + 2 * local] = b_start - prev_end
    src[pos[rows] + 2 * local + 1] = data.size + rep_off[:-1]
    length[pos[rows] + 2 * local + 1] = np.diff(rep_off)
    last = offsets[:-1].copy()
    has = before[1:] > before[:-1]
    last[has] = b_end[before[1:][has] - 1]
    src[pos + 2 * (before[1:] - before[:-1])] = last
    length[pos + 2 * (before[1:] - before[:-1])] = offsets[1:] - last
    if np.any(length < 0):
        raise PrivacyInputError("replace_spans: the spans of a cell overlap or are reversed.")
    seg_out = np.concatenate([[0], np.cumsum(length)])
    if seg_out[-1] >= 2**31:
        raise PrivacyInputError("replace_spans: the masked text exceeds 2 GiB; use smaller chunks.")
    gather = np.repeat(src - seg_out[:-1], length) + np.arange(seg_out[-1])
    out = np.concatenate([data, rep_data])[gather]
    new_offsets = np.append(seg_out[pos], seg_out[-1]).astype(np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(new_offsets), pa.py_buffer(out),
                                       arr.buffers()[0], arr.null_count)


def _bytes(buf: Any, size: int) -> np.ndarray:
    if buf is None or size == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(buf, dtype=np.uint8)[:size]


def _byte_offsets(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray, starts: np.ndarray,
                  ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Code point offsets inside cells as byte offsets into the data buffer."""
    lead = np.flatnonzero((data & 0xC0) != 0x80)  # byte position of every code point
    base = np.searchsorted(lead, offsets)  # code point index of each cell's first character
    count = base[rows + 1] - base[rows]
    if np.any((starts < 0) | (starts > ends) | (ends > count)):
        raise PrivacyInputError("replace_spans: a span lies outside its cell.")
    if lead.size == data.size:  # ASCII only
        return offsets[rows] + starts, offsets[rows] + ends
    lead = np.append(lead, data.size)
    return lead[base[rows] + starts], lead[base[rows] + ends]
