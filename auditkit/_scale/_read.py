"""Reading partitions: streamed in frames (the dask engine) or whole (the pandas engine).

Values are typed as :func:`auditkit._io.load_table` types them: its pandas options for CSV
(``string_columns`` kept as text, spaces around text removed, empty text missing), Parquet's own
types. A CSV column's type is inferred per frame, as pandas does per chunk: the frames together
hold the values ``load_table`` reads (numbers as numbers, text as text, missing as missing),
but a column whose values look like numbers in one frame and not in another is typed differently
in each: declare such columns (identifiers, codes) in ``string_columns``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit._io import (
    LoadedTable,
    _csv_name,
    _open_encrypted,
    _rows_differing,
    _strip_text,
    data_errors,
    load_table,
)
from auditkit.errors import DataError
from auditkit.hints import did_you_mean
from auditkit.privacy.tabular import DuplicateColumns, TableFile

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from auditkit._scale._sources import Partition, Sources
    from auditkit.config import KeysConfig

__all__ = ["iter_frames", "read_all", "schema_of"]


def iter_frames(part: Partition, *, columns: list[str] | None, string_columns: list[str],
                keys: KeysConfig | None, base_dir: Path, header: bool = True,
                skip_lines: int = 0, batch_rows: int = 262_144) -> Iterator[pd.DataFrame]:
    """Stream one partition in pandas frames of about ``batch_rows`` rows, in file order.

    An encrypted partition is decrypted while it is read, one segment at a time: never to disk,
    never whole in memory. A CSV file is first checked to the end (one quick pass of Arrow's
    reader over one column, as :func:`auditkit._io.load_table` does), so a ragged row or an
    unclosed quote is refused before any frame is given. A name repeated on identical columns
    keeps the first column; columns that share a name and differ are refused after the last
    frame (the rows that differ are counted over the whole file).

    Parameters
    ----------
    columns:
        Only these columns, in this order; ``None``: every column, in file order.
    string_columns, keys, base_dir, header, skip_lines:
        As :func:`auditkit._io.load_table` takes them (``keys``: for an encrypted partition).
    batch_rows:
        Rows per frame (a Parquet frame may end early, at the end of a row group).

    Raises
    ------
    DataError
        The file cannot be read, decrypted or parsed, a column of ``columns`` is missing, or a
        repeated name holds different columns. The message names the file, rows, columns and
        positions, never a value.
    """
    with _opened(part, keys, base_dir) as source, _as_data_error(part):
        table = _table(part, source, header, skip_lines)
        plan = _plan(table, columns)
        frames = _csv_frames if part.format == "csv" else _parquet_frames
        yield from frames(table, plan, string_columns, batch_rows)


def schema_of(part: Partition, *, string_columns: list[str], keys: KeysConfig | None,
              base_dir: Path, header: bool = True, skip_lines: int = 0) -> list[str]:
    """The column names :func:`iter_frames` and ``load_table`` give the partition, in order
    (a repeated name once), read from the CSV header or the Parquet footer only.

    Raises
    ------
    DataError
        As :func:`iter_frames`, for the header or footer.
    """
    del string_columns  # the names do not depend on it; kept for a uniform call
    with _opened(part, keys, base_dir) as source, _as_data_error(part):
        names, hidden = _names(_table(part, source, header, skip_lines))
        return list(dict.fromkeys(n for n in names if n not in hidden))


def read_all(sources: Sources, *, string_columns: list[str], keys: KeysConfig | None,
             base_dir: Path, header: bool = True, skip_lines: int = 0) -> LoadedTable:
    """Every partition read into one frame (the pandas engine): ``load_table`` for each, rows in
    partition order, a fresh index; the notices of every partition kept.

    Raises
    ------
    DataError
        As ``load_table``; or two partitions whose columns differ (both files named, with the
        differing column names).
    """
    import pandas as pd

    loaded: list[LoadedTable] = []
    for part in sources.partitions:
        loaded.append(load_table(part.path, part.format, string_columns=string_columns, keys=keys,
                                 base_dir=base_dir, header=header, skip_lines=skip_lines))
        _same_columns(sources.partitions[0], list(loaded[0].frame.columns), part,
                      list(loaded[-1].frame.columns))
    if len(loaded) == 1:
        return loaded[0]
    frame = pd.concat([t.frame for t in loaded], ignore_index=True)
    return LoadedTable(frame, tuple(d for t in loaded for d in t.dropped_duplicates),
                       tuple(n for t in loaded for n in t.notices))


def _same_columns(first: Partition, names: list[str], part: Partition, got: list[str]) -> None:
    if got == names:
        return
    missing, extra = [n for n in names if n not in got], [n for n in got if n not in names]
    what = "; ".join([f"it lacks {_quoted(missing)}"] * bool(missing)
                     + [f"it has {_quoted(extra)} in addition"] * bool(extra))
    what = what or "the same columns come in another order"
    raise DataError(
        f"The partitions '{first.path}' and '{part.path}' have different columns: {what}. "
        "Every partition must have the same columns in the same order: rewrite the partition, "
        "or point [data] path at partitions of one table only.")


def _quoted(names: list[str]) -> str:
    shown = ", ".join(repr(str(n)) for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _table(part: Partition, source: Any, header: bool, skip_lines: int) -> TableFile:
    """The partition as a checked :class:`TableFile` (refused when empty, binary, ...)."""
    table = TableFile(source, part.format, name=str(part.path), what="dataset", header=header,
                      skip_lines=skip_lines, allow_duplicate_names=True)
    table.sniff()
    return table


@contextlib.contextmanager
def _opened(part: Partition, keys: KeysConfig | None, base_dir: Path) -> Iterator[Any]:
    """The partition's path, or its plaintext stream when it is encrypted (closed after)."""
    if not part.encrypted:
        yield part.path
        return
    with _open_encrypted(part.path, keys, base_dir) as stream:
        yield stream


def _as_data_error(part: Partition) -> Any:
    return data_errors(part.path)


def _names(table: TableFile) -> tuple[list[str], set[str]]:
    """Column names by position as ``load_table`` names them (CSV header names without
    surrounding spaces), and the Parquet columns that hold a stored pandas index (not data)."""
    raw = table.columns()
    if table.format == "csv":
        return [_csv_name(n, i) if table.header else n for i, n in enumerate(raw)], set()
    import pyarrow.parquet as pq

    with table.reading():
        meta = pq.ParquetFile(_arrow_source(table)).schema_arrow.pandas_metadata or {}
    return raw, {c for c in meta.get("index_columns", []) if isinstance(c, str)}


def _arrow_source(table: TableFile) -> Any:
    """What Arrow reads: the path, or the stream rewound."""
    if hasattr(table.source, "seek"):
        table.source.seek(0)
    return table.source if hasattr(table.source, "seek") else str(table.source)


@dataclass(frozen=True)
class _Plan:
    """Which columns to read, by position (from 0): ``keep`` in the order given, ``copies``
    (the later columns of a repeated name, compared with its first), and their names."""

    names: list[str]
    keep: list[int]
    copies: tuple[DuplicateColumns, ...]


def _plan(table: TableFile, columns: list[str] | None) -> _Plan:
    names, hidden = _names(table)
    first: dict[str, int] = {}
    for i, n in enumerate(names):
        if n not in hidden:
            first.setdefault(n, i)
    if columns is None:
        keep = sorted(first.values())
    elif lacking := [c for c in columns if c not in first]:
        raise DataError(
            f"The dataset '{table.name}' has no column {_quoted(lacking)}."
            f"{did_you_mean(str(lacking[0]), list(first))} Check the column names in "
            "audit.toml against the file's header.")
    else:
        keep = [first[c] for c in columns]
    wanted = {names[i] for i in keep}
    copies = tuple(d for d in DuplicateColumns.find(names) if d.name in wanted)
    return _Plan(names, keep, copies)


def _csv_frames(table: TableFile, plan: _Plan, string_columns: list[str],
                batch_rows: int) -> Iterator[pd.DataFrame]:
    """The CSV in chunks, parsed with ``auditkit._io``'s pandas options."""
    import pandas as pd

    if table.count_rows() == 0:  # parses every row (Arrow, one column): ragged rows, bad quotes
        raise table.no_rows(len(plan.names))
    read = sorted({*plan.keep, *(p - 1 for d in plan.copies for p in d.dropped)})
    dtype = {i: "string" for i in read if plan.names[i] in set(string_columns)}
    counts: dict[int, int] = {}
    rows = 0
    with table.reading(), pd.read_csv(
            _arrow_source(table), sep=table.delimiter, header=0 if table.header else None,
            names=list(range(len(plan.names))), usecols=read, dtype=dtype or None,
            low_memory=False, skiprows=table.skip_lines or None, skipinitialspace=True,
            chunksize=batch_rows) as reader:
        for chunk in reader:
            _strip_text(chunk)
            rows += len(chunk)
            yield _selected(chunk, plan, counts)
    _refuse_differing(table, plan, counts, rows)


def _parquet_frames(table: TableFile, plan: _Plan, string_columns: list[str],
                    batch_rows: int) -> Iterator[pd.DataFrame]:
    """The Parquet file in record batches, as pandas reads it (its own types and metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    del string_columns  # Parquet keeps its own types
    counts: dict[int, int] = {}
    rows = 0
    with table.reading():
        pf = pq.ParquetFile(_arrow_source(table), pre_buffer=False, buffer_size=1 << 20)
        if pf.metadata.num_rows == 0:
            raise table.no_rows(len(plan.names))
        by_position = bool(plan.copies)
        columns = None if by_position else [plan.names[i] for i in plan.keep]
        for batch in pf.iter_batches(batch_size=batch_rows, columns=columns,
                                     use_pandas_metadata=not by_position):
            if by_position:
                chunk = batch.rename_columns([str(i) for i in range(batch.num_columns)]).to_pandas(
                    ignore_metadata=True).set_axis(range(batch.num_columns), axis=1)
                frame = _selected(chunk, plan, counts)
            else:
                frame = pa.Table.from_batches([batch]).to_pandas()
                if columns is not None and list(frame.columns) != columns:
                    frame = frame[columns]
            frame = _numbered(frame, rows)
            rows += len(frame)
            yield frame
    _refuse_differing(table, plan, counts, rows)


def _numbered(frame: pd.DataFrame, start: int) -> pd.DataFrame:
    """A default (range) index continued from the frames before, as one read would number it."""
    import pandas as pd

    if isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0:
        frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def _selected(chunk: pd.DataFrame, plan: _Plan, counts: dict[int, int]
              ) -> pd.DataFrame:
    """The kept columns of a chunk whose columns are positions, named; the rows where each
    copy of a repeated name differs from its first column are added to ``counts``."""
    for dup in plan.copies:
        first = chunk[dup.positions[0] - 1]
        for p in dup.dropped:
            counts[p] = counts.get(p, 0) + _rows_differing(first, chunk[p - 1])
    frame = chunk[plan.keep]
    frame.columns = [plan.names[i] for i in plan.keep]
    return frame


def _refuse_differing(table: TableFile, plan: _Plan, counts: dict[int, int],
                      rows: int) -> None:
    """Refuse the copies of a repeated name that differ from its first column (``counts``: rows
    that differ, by the copy's position), as ``load_table`` does."""
    found = [(dup, {p: counts[p] for p in dup.dropped if counts.get(p)}) for dup in plan.copies]
    differing = [(dup, diff) for dup, diff in found if diff]
    if differing:
        raise table.duplicates_differ(differing, rows)
