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
- duplicate column names (the names and their positions);
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

import codecs
import csv
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from auditkit.privacy.errors import PrivacyError, PrivacyInputError

__all__ = ["TableFile", "delimiter_for"]

_HEAD = 1 << 16  # bytes sniffed at the start of a file
_BLOCK = 1 << 20  # bytes per step when a whole file is checked for UTF-8
_PAR1 = b"PAR1"
_CONVERT = ("Expected UTF-8 text: convert the file, e.g. `iconv -f WINDOWS-1252 -t UTF-8 "
            "in.csv > in-utf8.csv` (use the encoding the file was saved in; older Excel "
            "versions write Windows-1252), or save it from the spreadsheet as 'CSV UTF-8'.")
_EXPORT = "Check the path; export the table as CSV (UTF-8) or Parquet."

# (signature, what the file is, what to do): only consulted when the head is not clean text.
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"AKCRYPT", "encrypted with auditkit", "Decrypt it first (auditkit decrypt IN OUT), or, "
     "for auditkit run, name the key ring in [keys] keyring."),
    (_PAR1, "a Parquet file", "Name it .parquet, or set the format to parquet."),
    (b"\x1f\x8b", "a gzip archive", "Decompress it first (gunzip)."),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)",
     "Export the sheet as 'CSV UTF-8', or extract the archive."),
    (b"\xd0\xcf\x11\xe0", "an Office document (an Excel .xls workbook is one)",
     "Export the sheet as 'CSV UTF-8'."),
    (b"BZh", "a bzip2 archive", "Decompress it first (bunzip2)."),
    (b"\xfd7zXZ\x00", "an xz archive", "Decompress it first (unxz)."),
    (b"\x28\xb5\x2f\xfd", "a zstd archive", "Decompress it first (unzstd)."),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", _EXPORT),
    (b"\xff\xd8\xff", "a JPEG image", _EXPORT),
    (b"GIF8", "a GIF image", _EXPORT),
    (b"%PDF-", "a PDF document", _EXPORT),
    (b"SQLite format 3\x00", "an SQLite database", "Export the table as CSV (UTF-8)."),
)
_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
_CONTROL = bytes([*range(0, 9), *range(14, 32), 127])
# Numbers a parser put in its message, kept when the file itself shows no fault (digits only).
_LIBRARY_NUMBERS = (
    (re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)"),
     "line {1} has {2} fields where the header has {0}"),
    (re.compile(r"Expected (\d+) columns, got (\d+)"),
     "a row has {1} fields where the header has {0}"),
    (re.compile(r"EOF inside string starting at row (\d+)"),
     "a double quote opened in row {0} is never closed"),
)
# Not parser failures: these keep their own type and message.
_PASS_THROUGH = (PrivacyError, FileNotFoundError, PermissionError, IsADirectoryError,
                 MemoryError)


def delimiter_for(path: str | os.PathLike[str]) -> str:
    """The field delimiter of a CSV file from its name: a tab for ``.tsv`` (``.enc`` skipped)."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() != ".enc"]
    return "\t" if suffixes and suffixes[-1] == ".tsv" else ","


def _show(name: str) -> str:
    """A column name for a message: quoted, and cut to 40 characters."""
    return repr(name if len(name) <= 40 else name[:39] + "…")


def _positions(cols: list[int]) -> str:
    words = [str(c) for c in cols]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _is_binary(head: bytes) -> bool:
    """NUL bytes, or more than 1% control bytes: no text file looks like that."""
    return b"\x00" in head or sum(head.count(bytes([b])) for b in _CONTROL) > len(head) // 100


def _is_clean_text(head: bytes) -> bool:
    if _is_binary(head):
        return False
    try:
        codecs.utf_8_decode(head, "strict", False)
    except UnicodeDecodeError:
        return False
    return True


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
    """

    source: str | os.PathLike[str] | BinaryIO
    format: str
    name: str = ""
    what: str = "input file"
    delimiter: str = ""

    def __post_init__(self) -> None:
        if self.format not in ("csv", "parquet"):
            raise PrivacyInputError(f"The table format must be 'csv' or 'parquet'; got {self.format!r}.")
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
        problem = self._sniff_problem()
        if problem:
            raise PrivacyInputError(problem)

    def columns(self) -> list[str]:
        """The column names: the CSV header, or the Parquet schema.

        Raises
        ------
        PrivacyInputError
            No header, duplicate names, nested Parquet columns, or a file that cannot be parsed.
        """
        if self.format == "csv":
            with self._open() as fh, self.reading():
                text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
                try:
                    header = next((r for r in csv.reader(text, delimiter=self.delimiter) if r), None)
                finally:
                    text.detach()
            if header is None:
                raise PrivacyInputError(self._empty())
            names = header
        else:
            import pyarrow.parquet as pq

            with self.reading():
                schema = pq.ParquetFile(self._arrow_source()).schema_arrow
            names = list(schema.names)
            nested = [(i, f.name, k) for i, f in enumerate(schema, 1)
                      if (k := _nested_kind(f.type)) is not None]
            if nested:
                listing = ", ".join(f"{_show(n)} (column {i}, {k})" for i, n, k in nested[:10])
                raise PrivacyInputError(
                    f"{self._label()} has nested columns: {listing}"
                    f"{' and more' if len(nested) > 10 else ''}. Every column must hold flat "
                    "values (text, numbers, booleans, dates): flatten them (one column per "
                    "struct field, list items joined into text) or drop them first."
                )
        problem = self._duplicates(names)
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
                        block_size=max(1 << 20, min(batch_rows * 64, 1 << 24))),
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
            raise self.failure(exc) from None

    # -- messages -----------------------------------------------------------------------

    def failure(self, exc: BaseException) -> PrivacyInputError:
        """The error for a parser's exception, located by re-reading the file, never quoting it."""
        try:
            problem = self._diagnose()
        except Exception:  # the diagnosis itself must not leak a library message either
            problem = None
        if problem is None:
            problem = self._from_library(exc)
        return PrivacyInputError(problem)

    def no_rows(self, n_columns: int) -> PrivacyInputError:
        """The error for a file with a header and no data rows."""
        return PrivacyInputError(
            f"{self._label()} has no rows: it holds a header of {n_columns} column"
            f"{'s' if n_columns != 1 else ''} and no data. Expected at least one data row; "
            "check that this is the file you meant."
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

    def _arrow_source(self) -> Any:
        if isinstance(self.source, (str, os.PathLike)):
            return str(self.source)
        self.source.seek(0)
        return self.source

    def _diagnose(self) -> str | None:
        problem = self._sniff_problem()
        if problem or self.format == "parquet":
            return problem or self._parquet_problem()
        return self._utf8_problem() or self._csv_problem()

    def _sniff_problem(self) -> str | None:
        with self._open() as fh:
            head = fh.read(_HEAD)
            size = fh.seek(0, io.SEEK_END)
            fh.seek(max(0, size - 4))
            tail = fh.read(4)
        if not head.strip(b" \t\r\n\x0b\x0c" + codecs.BOM_UTF8):
            return self._empty()
        if self.format == "parquet":
            if size < 12 or not head.startswith(_PAR1):
                return f"{self._label()} is not a Parquet file: {self._looks_like(head)}"
            if tail != _PAR1:
                return (f"{self._label()} is truncated or damaged: a Parquet file ends with its "
                        f"footer and the signature PAR1, which this one ({size:,} bytes) lacks. "
                        "Copy or export it again.")
            return None
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                return (f"{self._label()} is {encoding} text, not UTF-8. Convert it, e.g. "
                        f"`iconv -f {encoding} -t UTF-8 in.csv > in-utf8.csv`, or save it from "
                        "the spreadsheet as 'CSV UTF-8'.")
        if _is_clean_text(head):
            return None
        for magic, kind, todo in _MAGIC:
            if head.startswith(magic):
                return f"{self._label()} is not CSV text: it is {kind}. {todo}"
        if _is_binary(head):
            return (f"{self._label()} is not CSV text: its first {min(size, _HEAD):,} bytes hold "
                    f"binary data (NUL or control bytes). {_EXPORT}")
        return None  # text that is not UTF-8: located by _utf8_problem

    def _looks_like(self, head: bytes) -> str:
        for magic, kind, todo in _MAGIC:
            if magic != _PAR1 and head.startswith(magic):
                return f"it is {kind}. {todo}"
        if _is_clean_text(head):
            return ("it holds text (CSV?), not the Parquet signature PAR1. Name it .csv, or "
                    "set the format to csv.")
        return f"it does not start with the Parquet signature PAR1. {_EXPORT}"

    def _utf8_problem(self) -> str | None:
        line, offset, carry = 1, 0, b""
        with self._open() as fh:
            while True:
                block = fh.read(_BLOCK)
                data = carry + block
                try:
                    _, used = codecs.utf_8_decode(data, "strict", not block)
                except UnicodeDecodeError as exc:
                    line += data[: exc.start].count(b"\n")
                    return (f"{self._label()} is not UTF-8 text: line {line} (byte offset "
                            f"{offset + exc.start:,}) holds a byte sequence UTF-8 does not "
                            f"allow. {_CONVERT}")
                line += data[:used].count(b"\n")
                offset += used
                carry = data[used:]
                if not block:
                    return None

    def _csv_problem(self) -> str | None:
        """Walk the records with Python's csv module: the first one that does not fit."""
        with self._open() as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
            reader = csv.reader(text, delimiter=self.delimiter)
            header: list[str] | None = None
            row_no, start = 0, 1
            try:
                for row in reader:
                    if not row:
                        start = reader.line_num + 1
                        continue
                    if header is None:
                        header = row
                        dup = self._duplicates(header)
                        if dup:
                            return dup
                    else:
                        row_no += 1
                        if len(row) != len(header):
                            end = reader.line_num
                            at_end = next(reader, None) is None
                            return self._ragged(start, end, row_no, len(row), len(header),
                                                at_end)
                    start = reader.line_num + 1
            except csv.Error as exc:
                return self._csv_error(str(exc), start, reader.line_num,
                                       row_no + 1 if header is not None else 0)
            finally:
                text.detach()
        return None

    def _ragged(self, start: int, end: int, row_no: int, got: int, want: int,
                at_end: bool) -> str:
        fields = f"{got} field{'s' if got != 1 else ''} where the header has {want}"
        if end == start:
            return (f"{self._label()} is not a regular CSV table: line {start} (data row "
                    f"{row_no}) has {fields}. Every row needs one field per column: fix that "
                    f"line (a value that contains {self.delimiter!r} must be in double quotes).")
        closed = "is never closed" if at_end else f"is closed only on line {end}"
        return (f"{self._label()} is not a regular CSV table: the record that starts on line "
                f"{start} (data row {row_no}) runs to line {end} and has {fields}, most likely "
                f"because a double quote opened on line {start} {closed}. Balance the quotes on "
                "that line (a double quote inside a quoted value is written twice).")

    def _csv_error(self, text: str, start: int, line: int, row_no: int) -> str:
        """``row_no`` 0: the header."""
        record = f"data row {row_no}" if row_no else "the header"
        if "field larger than field limit" in text:
            return (f"{self._label()} cannot be parsed as CSV: a field in the record that starts "
                    f"on line {start} ({record}) runs past {csv.field_size_limit():,} "
                    f"characters, most likely because a double quote opened on line {start} is "
                    "never closed. Balance the quotes on that line.")
        if "NUL" in text:
            return (f"{self._label()} is not CSV text: line {line} holds a NUL byte (binary or "
                    f"damaged data). {_EXPORT}")
        return (f"{self._label()} cannot be parsed as CSV at line {line} ({record}): check "
                "the quoting on that line.")

    def _duplicates(self, names: list[str]) -> str | None:
        seen: dict[str, list[int]] = {}
        for i, n in enumerate(names, 1):
            seen.setdefault(str(n), []).append(i)
        dups = [(n, pos) for n, pos in seen.items() if len(pos) > 1]
        if not dups:
            return None
        listing = ", ".join(f"{_show(n)} (columns {_positions(pos)})" for n, pos in dups[:10])
        return (f"{self._label()} has duplicate column names: {listing}. Every column needs "
                "its own name: rename or remove the duplicates.")

    def _parquet_problem(self) -> str | None:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self._arrow_source())
        except Exception:
            return (f"{self._label()} is damaged: its footer (the schema and the index of row "
                    "groups) cannot be decoded. Copy or export it again.")
        names, groups = pf.schema_arrow.names, pf.num_row_groups
        for g in range(groups):
            for i, name in enumerate(names, 1):
                try:
                    pf.read_row_group(g, columns=[name])
                except Exception:
                    return (f"{self._label()} is damaged: column {_show(name)} (column {i}) in "
                            f"row group {g + 1} of {groups} cannot be decoded. Copy or export "
                            "it again.")
        return None

    def _from_library(self, exc: BaseException) -> str:
        said = str(exc)  # read for digits only, through fixed patterns
        for pattern, template in _LIBRARY_NUMBERS:
            m = pattern.search(said)
            if m:
                return (f"{self._label()} cannot be parsed as CSV: {template.format(*m.groups())}. "
                        "Every row needs one field per column and balanced double quotes.")
        expected = ("UTF-8 text with a header row and the same number of fields on every line"
                    if self.format == "csv" else "a complete Parquet file")
        return (f"{self._label()} cannot be read as {self.format.upper()} "
                f"({type(exc).__name__}); no single line could be blamed. Check that it is "
                f"{expected}.")
