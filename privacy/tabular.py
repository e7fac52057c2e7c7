"""Reading tables from untrusted files without letting a parser quote them.

Parsers quote what they choke on: Arrow's ``CSV parse error: Expected 6 columns, got 7: <the
row>``, the bytes around a ``UnicodeDecodeError``. In an audit toolkit that row holds names and
e-mail addresses. :class:`TableFile` is the one reader of CSV and Parquet input for the runner
(``auditkit run``, ``gate``, ``init``) and for masking (``scan``, ``mask``): every parser
failure becomes one :class:`~auditkit.privacy.errors.PrivacyInputError` whose message is written
here from the file's name, line and row numbers, column numbers and names and counts. The
parser's own text never leaves; when a failure cannot be located, only numbers matched by fixed
patterns and the exception's class name are kept.

Refused, each with its own message:

- an empty file (no bytes, or only blank lines); a header without data rows (:meth:`no_rows`);
- binary content: NUL or control bytes, or a known signature (gzip, ZIP/xlsx, PNG, PDF,
  Parquet, an auditkit-encrypted file, ...), named by kind;
- UTF-16/UTF-32 text and text that is not UTF-8 (the line and byte offset of the first bad
  byte, and how to convert the file);
- duplicate column names (the names and their positions), unless ``allow_duplicate_names``:
  then :class:`DuplicateColumns` and the two messages that a reader comparing the copies
  needs (:meth:`TableFile.duplicates_dropped`, :meth:`TableFile.duplicates_differ`);
- a row whose number of fields differs from the header's (its line and data-row number),
  including a double quote that is never closed;
- a Parquet file that is not Parquet, is truncated, or has a damaged footer or column chunk;
- nested Parquet columns (list, struct, map, union): every column must hold flat values.

Example
-------
>>> table = TableFile("customers.csv", "csv")            # doctest: +SKIP
>>> table.sniff(); names = table.columns()               # doctest: +SKIP
>>> rows = sum(b.num_rows for b in table.batches())      # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from auditkit.hints import did_you_mean
from auditkit.privacy._tabular_diagnosis import (
    diagnose,
    from_library,
    join_positions,
    show_name,
    sniff_problem,
)
from auditkit.privacy.errors import PrivacyError, PrivacyInputError

__all__ = ["TABLE_FORMATS", "DuplicateColumns", "TableFile", "delimiter_for", "table_format"]

#: The table formats read here, each with the lower-case file suffixes that identify it (the
#: first the usual one). The one list: the masking streams and the runner's reader
#: (``auditkit._formats.DATA_FORMATS``) are built from it.
TABLE_FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".tsv", ".txt"),
    "parquet": (".parquet", ".pq"),
}

# Not parser failures: these keep their own type and message.
_PASS_THROUGH = (PrivacyError, FileNotFoundError, PermissionError, IsADirectoryError,
                 MemoryError)


def table_format(path: str | os.PathLike[str], given: str | None = None, what: str = "input") -> str:
    """The name in :data:`TABLE_FORMATS` of ``path``'s format: ``given`` when set (checked),
    else told from the file's suffix; a refusal names the file and what to do.

    >>> table_format("scores.TSV"), table_format("x.bin", "parquet")
    ('csv', 'parquet')
    """
    names = " or ".join(repr(n) for n in TABLE_FORMATS)
    if given is not None:
        if given not in TABLE_FORMATS:
            raise PrivacyInputError(
                f"The {what} format must be {names}; got {given!r}.{did_you_mean(given, TABLE_FORMATS)}"
            )
        return given
    suffix = Path(path).suffix.lower()
    for name, suffixes in TABLE_FORMATS.items():
        if suffix in suffixes:
            return name
    known = ", ".join(s for suffixes in TABLE_FORMATS.values() for s in suffixes)
    raise PrivacyInputError(
        f"Cannot tell the format of {what} {Path(path).name!r} from its extension; use one of "
        f"{known}, or pass the format explicitly ({names})."
    )


def delimiter_for(path: str | os.PathLike[str]) -> str:
    """The field delimiter of a CSV file from its name: a tab for ``.tsv`` (``.enc`` skipped)."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() != ".enc"]
    return "\t" if suffixes and suffixes[-1] == ".tsv" else ","



def _nested_kind(t: Any) -> str | None:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    if not pa.types.is_nested(t):
        return None
    if pa.types.is_struct(t):
        return "struct"
    if pa.types.is_map(t):
        return "map"
    if pa.types.is_union(t):
        return "union"
    return "list"


def _scrub(exc: BaseException) -> None:
    """Empty a parser's exception of the data it quotes. ``raise ... from None`` hides it, but
    it stays reachable as ``__context__`` of the error raised (a decoding error's ``object``
    holds the file's raw bytes, its ``args`` the text around a bad value)."""
    if isinstance(exc, UnicodeError) and hasattr(exc, "object"):
        exc.object = b"" if isinstance(exc.object, bytes) else ""  # type: ignore[attr-defined]
    exc.args = ()


@dataclass(frozen=True)
class DuplicateColumns:
    """A name the file gives to more than one column.

    ``positions`` count from 1, in file order; the first is the column a reader keeps when the
    copies are identical.
    """

    name: str
    positions: tuple[int, ...]

    @property
    def dropped(self) -> tuple[int, ...]:
        """The positions after the first."""
        return self.positions[1:]

    @staticmethod
    def find(names: list[str]) -> tuple[DuplicateColumns, ...]:
        """Every name of ``names`` that occurs more than once, in order of first occurrence."""
        seen: dict[str, list[int]] = {}
        for i, n in enumerate(names, 1):
            seen.setdefault(str(n), []).append(i)
        return tuple(DuplicateColumns(n, tuple(p)) for n, p in seen.items() if len(p) > 1)


@dataclass(frozen=True, eq=False)
class TableFile:
    """A CSV or Parquet file read as a table, whose every failure is described, never quoted.

    Parameters
    ----------
    source:
        Path of the file, or an open seekable binary stream of its bytes (a decrypted
        dataset); a stream is rewound before each pass and never closed.
    format:
        ``"csv"`` or ``"parquet"``.
    name:
        How messages name the file (default: the path as given).
    what:
        What the file is to the caller, for messages: ``"input file"``, ``"dataset"``, ...
    delimiter:
        CSV field delimiter (default: from the name, see :func:`delimiter_for`).
    header:
        Whether the first CSV record names the columns; ``False``: it is data, and the columns
        are named ``column_1`` .. ``column_N``.
    skip_lines:
        Lines before the first CSV record (a note such as UCI's ``|1x3 Cross validator``).
    allow_duplicate_names:
        ``False`` (the default): a name given to two columns is refused. ``True``:
        :meth:`columns` returns them as they are, for a reader that compares the copies
        (``auditkit run`` keeps one of identical copies, see :meth:`duplicates_dropped`).
    """

    source: str | os.PathLike[str] | BinaryIO
    format: str
    name: str = ""
    what: str = "input file"
    delimiter: str = ""
    header: bool = True
    skip_lines: int = 0
    allow_duplicate_names: bool = False

    def __post_init__(self) -> None:
        if self.format not in TABLE_FORMATS:
            table_format(self.name or "table", self.format, "table")  # refuses, naming the choices
        if not isinstance(self.skip_lines, int) or not 0 <= self.skip_lines <= 10_000:
            raise PrivacyInputError("The lines to skip must be a whole number from 0 to 10000; "
                                    f"got {self.skip_lines!r}.")
        is_path = isinstance(self.source, (str, os.PathLike))
        if not self.name:
            object.__setattr__(self, "name", str(self.source) if is_path else "stream")
        if not self.delimiter:
            object.__setattr__(self, "delimiter", delimiter_for(self.name))

    # -- reading ------------------------------------------------------------------------

    def sniff(self) -> None:
        """Refuse, from the first and last bytes, a file that cannot be the table it claims.

        Raises
        ------
        PrivacyInputError
            Empty, binary (named by kind when its signature is known), UTF-16/32, not Parquet or
            truncated Parquet.
        """
        problem = sniff_problem(self)
        if problem:
            raise PrivacyInputError(problem)

    def columns(self) -> list[str]:
        """The column names: the CSV header, or the Parquet schema.

        Raises
        ------
        PrivacyInputError
            No header, duplicate names (unless allowed), nested Parquet columns, or a file that
            cannot be parsed.
        """
        if self.format == "csv":
            with self._open() as fh, self.reading():
                text = self._text(fh)
                try:
                    first = next((r for r in csv.reader(text, delimiter=self.delimiter) if r), None)
                finally:
                    text.detach()
            if first is None:
                raise PrivacyInputError(self._empty())
            names = first if self.header else [f"column_{i}" for i in range(1, len(first) + 1)]
        else:
            import pyarrow.parquet as pq

            with self.reading():
                schema = pq.ParquetFile(self._arrow_source()).schema_arrow
            names = list(schema.names)
            nested = [(i, f.name, k) for i, f in enumerate(schema, 1)
                      if (k := _nested_kind(f.type)) is not None]
            if nested:
                listing = ", ".join(f"{show_name(n)} (column {i}, {k})" for i, n, k in nested[:10])
                raise PrivacyInputError(
                    f"{self._label()} has nested columns: {listing}"
                    f"{' and more' if len(nested) > 10 else ''}. Every column must hold flat "
                    "values (text, numbers, booleans, dates): flatten them (one column per "
                    "struct field, list items joined into text) or drop them first."
                )
        problem = None if self.allow_duplicate_names else self._duplicates(names)
        if problem:
            raise PrivacyInputError(problem)
        return names

    def batches(self, columns: list[str] | None = None, batch_rows: int = 65_536) -> Iterator[Any]:
        """Arrow record batches of the file (CSV cells as text, empty cells missing).

        Parameters
        ----------
        columns:
            Only these columns (default: all).
        batch_rows:
            Rows per batch, roughly for CSV (it sets Arrow's block size).
        """
        import pyarrow as pa

        with self.reading():
            if self.format == "csv":
                import pyarrow.csv as pacsv

                names = self.columns()
                reader = pacsv.open_csv(
                    self._arrow_source(),
                    read_options=pacsv.ReadOptions(
                        block_size=max(1 << 20, min(batch_rows * 64, 1 << 24)),
                        skip_rows=self.skip_lines, column_names=None if self.header else names),
                    parse_options=pacsv.ParseOptions(delimiter=self.delimiter,
                                                     newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(
                        column_types={c: pa.string() for c in names},
                        strings_can_be_null=True, null_values=[""], include_columns=columns,
                    ),
                )
                yield from reader
            else:
                import pyarrow.parquet as pq

                yield from pq.ParquetFile(self._arrow_source()).iter_batches(
                    batch_size=min(batch_rows, 1 << 16), columns=columns)

    def count_rows(self, limit: int | None = None) -> int:
        """Data rows in the file (or at least ``limit`` of them), checking every CSV row parses.

        A CSV file is parsed to the end (or to ``limit`` rows), so a ragged row or a bad quote
        raises here, before a slower reader runs.
        """
        if self.format == "parquet":
            import pyarrow.parquet as pq

            with self.reading():
                n = pq.ParquetFile(self._arrow_source()).metadata.num_rows
            return n if limit is None else min(n, limit)
        n = 0
        for batch in self.batches(columns=self.columns()[:1], batch_rows=limit or 65_536):
            n += batch.num_rows
            if limit is not None and n >= limit:
                break
        return n

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Run a parser: any failure inside becomes one :class:`PrivacyInputError`."""
        try:
            yield
        except _PASS_THROUGH:
            raise
        except Exception as exc:  # parsers raise many types; none may reach the user
            error = self.failure(exc)
            _scrub(exc)
            raise error from None

    # -- messages -----------------------------------------------------------------------

    def failure(self, exc: BaseException) -> PrivacyInputError:
        """The error for a parser's exception, located by re-reading the file, never quoting it."""
        try:
            problem = diagnose(self)
        except Exception:  # the diagnosis itself must not leak a library message either
            problem = None
        if problem is None:
            problem = from_library(self, exc)
        return PrivacyInputError(problem)

    def no_rows(self, n_columns: int) -> PrivacyInputError:
        """The error for a file with a header and no data rows."""
        return PrivacyInputError(
            f"{self._label()} has no rows: it holds a header of {n_columns} column"
            f"{'s' if n_columns != 1 else ''} and no data. Expected at least one data row; "
            "check that this is the file you meant."
        )

    def duplicates_dropped(self, duplicates: tuple[DuplicateColumns, ...]) -> str:
        """The notice for names repeated with identical contents, whose copies were dropped.

        Names and positions only, never a value.
        """
        listing = ", ".join(f"{show_name(d.name)} (columns {join_positions(list(d.positions))})"
                            for d in duplicates)
        dropped = [p for d in duplicates for p in d.dropped]
        return (f"{self._label()} repeats column names with identical contents: {listing}. "
                f"The first of each was kept and the copies (column{'s' if len(dropped) > 1 else ''}"
                f" {join_positions(dropped)}) were dropped.")

    def duplicates_differ(self, differing: list[tuple[DuplicateColumns, dict[int, int]]],
                          n_rows: int) -> PrivacyInputError:
        """The error for a name given to columns whose contents differ.

        ``differing`` pairs each repeated name with ``{position: rows that differ from the
        first column of that name}``; ``n_rows`` is the number of rows compared. Names,
        positions and counts only, never a value.
        """
        parts = []
        for dup, counts in differing[:10]:
            first = dup.positions[0]
            what = "; ".join(f"column {p} differs from column {first} in {k:,} of {n_rows:,} rows"
                             for p, k in counts.items())
            parts.append(f"{show_name(dup.name)} (columns {join_positions(list(dup.positions))}),"
                         f" where {what}")
        return PrivacyInputError(
            f"{self._label()} has duplicate column names: {'; '.join(parts)}"
            f"{' and more' if len(differing) > 10 else ''}. A name may repeat only when its "
            "columns are identical (the copies are then dropped): rename the columns that hold "
            "different data, or remove the copy you do not want, and read the file again."
        )

    # -- internals ----------------------------------------------------------------------

    def _label(self) -> str:
        return f"The {self.what} '{self.name}'"

    def _empty(self) -> str:
        kind = "a CSV file with a header row and data rows" if self.format == "csv" else \
            "a Parquet file with data rows"
        return f"{self._label()} is empty; expected {kind}."

    @contextmanager
    def _open(self) -> Iterator[BinaryIO]:
        if isinstance(self.source, (str, os.PathLike)):
            with open(self.source, "rb") as fh:
                yield fh
        else:
            self.source.seek(0)
            yield self.source

    def _text(self, fh: BinaryIO) -> io.TextIOWrapper:
        """The file as text, past its ``skip_lines`` (the caller detaches it)."""
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
        for _ in range(self.skip_lines):
            text.readline()
        return text

    def _arrow_source(self) -> Any:
        if isinstance(self.source, (str, os.PathLike)):
            return str(self.source)
        self.source.seek(0)
        return self.source

    def _duplicates(self, names: list[str]) -> str | None:
        dups = DuplicateColumns.find(names)
        if not dups:
            return None
        listing = ", ".join(f"{show_name(d.name)} (columns {join_positions(list(d.positions))})"
                            for d in dups[:10])
        return (f"{self._label()} has duplicate column names: {listing}. Every column needs "
                "its own name: rename or remove the duplicates.")
