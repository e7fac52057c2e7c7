"""Locating the fault in a table file a parser refused, without quoting the file.

Private to :mod:`auditkit.privacy.tabular`: once a parser has failed, :func:`diagnose` reads the
file again (its first and last bytes, its UTF-8, its CSV records with Python's ``csv`` module,
or each Parquet column chunk) and writes the message from line, row and column numbers, column
names and counts. :func:`from_library` is the fallback when nothing can be located: only
numbers matched by fixed patterns survive from the parser's own text.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.tabular import TableFile

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


def show_name(name: str) -> str:
    """A column name for a message: quoted, and cut to 40 characters."""
    return repr(name if len(name) <= 40 else name[:39] + "…")


def join_positions(cols: list[int]) -> str:
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


def diagnose(table: TableFile) -> str | None:
    problem = sniff_problem(table)
    if problem or table.format == "parquet":
        return problem or _parquet_problem(table)
    return _utf8_problem(table) or _csv_problem(table)


def sniff_problem(table: TableFile) -> str | None:
    with table._open() as fh:
        head = fh.read(_HEAD)
        size = fh.seek(0, io.SEEK_END)
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    if not head.strip(b" \t\r\n\x0b\x0c" + codecs.BOM_UTF8):
        return table._empty()
    if table.format == "parquet":
        if size < 12 or not head.startswith(_PAR1):
            return f"{table._label()} is not a Parquet file: {_looks_like(table, head)}"
        if tail != _PAR1:
            return (f"{table._label()} is truncated or damaged: a Parquet file ends with its "
                    f"footer and the signature PAR1, which this one ({size:,} bytes) lacks. "
                    "Copy or export it again.")
        return None
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return (f"{table._label()} is {encoding} text, not UTF-8. Convert it, e.g. "
                    f"`iconv -f {encoding} -t UTF-8 in.csv > in-utf8.csv`, or save it from "
                    "the spreadsheet as 'CSV UTF-8'.")
    if _is_clean_text(head):
        return None
    for magic, kind, todo in _MAGIC:
        if head.startswith(magic):
            return f"{table._label()} is not CSV text: it is {kind}. {todo}"
    if _is_binary(head):
        return (f"{table._label()} is not CSV text: its first {min(size, _HEAD):,} bytes hold "
                f"binary data (NUL or control bytes). {_EXPORT}")
    return None  # text that is not UTF-8: located by _utf8_problem


def _looks_like(table: TableFile, head: bytes) -> str:
    for magic, kind, todo in _MAGIC:
        if magic != _PAR1 and head.startswith(magic):
            return f"it is {kind}. {todo}"
    if _is_clean_text(head):
        return ("it holds text (CSV?), not the Parquet signature PAR1. Name it .csv, or "
                "set the format to csv.")
    return f"it does not start with the Parquet signature PAR1. {_EXPORT}"


def _utf8_problem(table: TableFile) -> str | None:
    line, offset, carry = 1, 0, b""
    with table._open() as fh:
        while True:
            block = fh.read(_BLOCK)
            data = carry + block
            try:
                _, used = codecs.utf_8_decode(data, "strict", not block)
            except UnicodeDecodeError as exc:
                line += data[: exc.start].count(b"\n")
                return (f"{table._label()} is not UTF-8 text: line {line} (byte offset "
                        f"{offset + exc.start:,}) holds a byte sequence UTF-8 does not "
                        f"allow. {_CONVERT}")
            line += data[:used].count(b"\n")
            offset += used
            carry = data[used:]
            if not block:
                return None


def _csv_problem(table: TableFile) -> str | None:
    """Walk the records with Python's csv module: the first one that does not fit."""
    with table._open() as fh:
        text = table._text(fh)
        reader = csv.reader(text, delimiter=table.delimiter)
        header: list[str] | None = None
        row_no, start, skip = 0, table.skip_lines + 1, table.skip_lines
        try:
            for row in reader:
                if not row:
                    start = skip + reader.line_num + 1
                    continue
                if header is None:
                    header = row
                    row_no = 0 if table.header else 1
                    dup = (table._duplicates(header)
                           if table.header and not table.allow_duplicate_names else None)
                    if dup:
                        return dup
                else:
                    row_no += 1
                    if len(row) != len(header):
                        end = skip + reader.line_num
                        at_end = next(reader, None) is None
                        return _ragged(table, start, end, row_no, len(row), len(header), at_end)
                start = skip + reader.line_num + 1
        except csv.Error as exc:
            return _csv_error(table, str(exc), start, skip + reader.line_num,
                              row_no + 1 if header is not None else int(not table.header))
        finally:
            text.detach()
    return None


def _ragged(table: TableFile, start: int, end: int, row_no: int, got: int, want: int,
            at_end: bool) -> str:
    first = "the header" if table.header else "the first row"
    fields = f"{got} field{'s' if got != 1 else ''} where {first} has {want}"
    if end == start:
        return (f"{table._label()} is not a regular CSV table: line {start} (data row "
                f"{row_no}) has {fields}. Every row needs one field per column: fix that "
                f"line (a value that contains {table.delimiter!r} must be in double quotes).")
    closed = "is never closed" if at_end else f"is closed only on line {end}"
    return (f"{table._label()} is not a regular CSV table: the record that starts on line "
            f"{start} (data row {row_no}) runs to line {end} and has {fields}, most likely "
            f"because a double quote opened on line {start} {closed}. Balance the quotes on "
            "that line (a double quote inside a quoted value is written twice).")


def _csv_error(table: TableFile, text: str, start: int, line: int, row_no: int) -> str:
    """``row_no`` 0: the header."""
    record = f"data row {row_no}" if row_no else "the header"
    if "field larger than field limit" in text:
        return (f"{table._label()} cannot be parsed as CSV: a field in the record that starts "
                f"on line {start} ({record}) runs past {csv.field_size_limit():,} "
                f"characters, most likely because a double quote opened on line {start} is "
                "never closed. Balance the quotes on that line.")
    if "NUL" in text:
        return (f"{table._label()} is not CSV text: line {line} holds a NUL byte (binary or "
                f"damaged data). {_EXPORT}")
    return (f"{table._label()} cannot be parsed as CSV at line {line} ({record}): check "
            "the quoting on that line.")


def _parquet_problem(table: TableFile) -> str | None:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(table._arrow_source())
    except Exception:
        return (f"{table._label()} is damaged: its footer (the schema and the index of row "
                "groups) cannot be decoded. Copy or export it again.")
    names, groups = pf.schema_arrow.names, pf.num_row_groups
    for g in range(groups):
        for i, name in enumerate(names, 1):
            try:
                pf.read_row_group(g, columns=[name])
            except Exception:
                return (f"{table._label()} is damaged: column {show_name(name)} (column {i}) in "
                        f"row group {g + 1} of {groups} cannot be decoded. Copy or export "
                        "it again.")
    return None


def from_library(table: TableFile, exc: BaseException) -> str:
    said = str(exc)  # read for digits only, through fixed patterns
    for pattern, template in _LIBRARY_NUMBERS:
        m = pattern.search(said)
        if m:
            return (f"{table._label()} cannot be parsed as CSV: {template.format(*m.groups())}. "
                    "Every row needs one field per column and balanced double quotes.")
    expected = ("UTF-8 text with a header row and the same number of fields on every line"
                if table.format == "csv" else "a complete Parquet file")
    return (f"{table._label()} cannot be read as {table.format.upper()} "
            f"({type(exc).__name__}); no single line could be blamed. Check that it is "
            f"{expected}.")
