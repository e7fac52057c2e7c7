"""Vectorised text over Arrow: the cells an operator rewrites, and the Series it hands back.

Operators work on the non-null cells of a column as one Arrow string array
(:func:`text_cells`) and put the result back into a pandas Series shaped like the input,
missing cells left missing (:func:`rebuild`). :func:`mask_characters` hides characters one
code point at a time over the UTF-8 bytes, without a Python loop over the values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["mask_characters", "rebuild", "repeated", "text_cells"]

_STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def text_cells(values: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """(Arrow string array of the non-null cells, boolean mask of non-null cells)."""
    mask = values.notna().to_numpy()
    nonnull = values if mask.all() else values[mask]
    if pd.api.types.is_string_dtype(nonnull.dtype):
        try:
            arr = pa.array(nonnull, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array(nonnull.astype(str).to_numpy(dtype=object), type=pa.string())
    else:
        arr = pa.array(nonnull.astype(str).to_numpy(dtype=object), type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr, mask


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
