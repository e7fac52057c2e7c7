"""Reading the audit's datasets: CSV and Parquet, optionally encrypted (models: :mod:`auditkit._models`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit._formats import AUTO, DATA_FORMATS, format_from_suffix, suffix_list
from auditkit.errors import DataError
from auditkit.privacy.errors import DecryptionError, PrivacyInputError
from auditkit.privacy.tabular import DuplicateColumns, TableFile

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from auditkit.config import KeysConfig

__all__ = [
    "CsvLayout", "LoadedTable", "detect_format", "load_table", "sniff_format",
    "sniff_layout",
]

def detect_format(path: Path, fmt: str = AUTO, *, hint: str = "") -> str:
    """A name of :data:`auditkit._formats.DATA_FORMATS` (``csv``, ``parquet``), from ``fmt`` or
    the file's suffix (``.enc`` is skipped).

    ``hint`` is what the caller's user can do when the name does not tell (default: set
    ``[data] format`` in audit.toml).
    """
    if fmt != AUTO:
        return fmt
    found = format_from_suffix(DATA_FORMATS, path, skip=(".enc",))
    if found is not None:
        return found.name
    names = " or ".join(f'"{f.name}"' for f in DATA_FORMATS)
    raise DataError(
        f"Cannot tell the format of the file '{path}' from its name; expected a "
        f"{suffix_list(DATA_FORMATS)} file. "
        + (hint or f"Set [data] format = {names} in audit.toml.")
    )


def _check_readable(path: Path, what: str) -> None:
    if not path.exists():
        hint = "Check [data] path in audit.toml." if what == "dataset" else "Check the path."
        raise DataError(f"The {what} '{path}' does not exist. {hint}")
    if path.is_dir():
        raise DataError(f"The {what} '{path}' is a directory; expected a file.")


@dataclass(frozen=True)
class LoadedTable:
    """A dataset as :func:`load_table` read it.

    Attributes
    ----------
    frame:
        The data, one column per distinct name, in file order.
    dropped_duplicates:
        Names the file gave to more than one column with identical contents: the first
        column of each was kept, the copies (``DuplicateColumns.dropped``, positions counted
        from 1) were dropped.
    notices:
        What the reader did that the user should hear of, one sentence each, naming the file
        (by its name, without the directory), columns and positions only, never a value (the
        dropped duplicates, at most one sentence).
    """

    frame: pd.DataFrame
    dropped_duplicates: tuple[DuplicateColumns, ...] = ()
    notices: tuple[str, ...] = ()


def load_table(
    path: str | Path,
    fmt: str = "auto",
    *,
    string_columns: list[str] | None = None,
    keys: KeysConfig | None = None,
    base_dir: str | Path | None = None,
    nrows: int | None = None,
    what: str = "dataset",
    header: bool = True,
    skip_lines: int = 0,
) -> LoadedTable:
    """Read a dataset into pandas, with what the reader had to drop.

    The file's shape is checked first by :class:`auditkit.privacy.tabular.TableFile` (the
    reader ``auditkit scan`` and ``mask`` use too), then pandas parses it for its types.

    - **Repeated column names.** A name given to several columns whose contents are
      identical (value for value, missing in the same rows) is harmless: the first column is
      kept, the copies are dropped, and :attr:`LoadedTable.notices` says so once.
      ProPublica's ``compas-scores-two-years.csv`` repeats ``decile_score`` and
      ``priors_count`` this way. Columns that share a name and differ in any row are refused,
      with the name, the positions and the number of rows that differ. With ``nrows`` only
      the rows read are compared.
    - **Spaces around CSV text.** Spaces and tabs before and after every CSV text value (and
      every column name) are removed, quoted or not; a text value that is empty once they are
      removed is missing, like an empty cell. UCI's Adult files separate values with
      ``", "``: ``" Male"`` reads as ``"Male"``. Numbers parse as before. Parquet values are
      read as they are.

    Parameters
    ----------
    path:
        CSV or Parquet file, plain or encrypted with ``auditkit encrypt`` (detected from its
        first bytes, whatever its name; ``.csv.enc`` names keep the format detectable).
    string_columns:
        Columns to keep as text (identifiers such as ZIP codes keep their leading zeros).
    keys:
        Key-ring settings (``[keys] keyring`` and ``passphrase_env``), needed for an encrypted
        dataset, which is then decrypted while it is read: the plaintext never touches disk.
    base_dir:
        Directory a relative ``[keys] keyring`` path resolves against (the config's
        directory); default the current directory.
    nrows:
        Read only the first rows (a sample); default all.
    what:
        What the file is to the caller, for messages (``"dataset"``, ``"predictions file"``).
    header, skip_lines:
        CSV only: whether the first record names the columns (``False``: they are named
        ``column_1`` .. ``column_N``), and how many lines come before it (``[data] header`` and
        ``[data] skip_lines``; :func:`sniff_layout` guesses both for ``auditkit init``).

    Raises
    ------
    DataError
        The file is missing, empty, binary, not UTF-8, has a row with the wrong number of
        fields, a repeated column name whose columns differ, nested columns, no data rows, is
        damaged, or is encrypted and cannot be decrypted. The message names lines, rows and
        columns, never a value.
    """
    p = Path(path)
    _check_readable(p, what)
    kind = detect_format(p, fmt)
    layout = _Layout(header, skip_lines, what)
    return _read_file(p, kind, layout, _Wanted(string_columns or [], nrows), keys, base_dir)


@dataclass(frozen=True)
class _Layout:
    """How to read the file: CSV header and leading lines, and what it is to the caller."""

    header: bool
    skip_lines: int
    what: str


@dataclass(frozen=True)
class _Wanted:
    """What the caller wants of the data: columns kept as text, and how many rows."""

    string_columns: list[str]
    nrows: int | None


def _read_file(p: Path, kind: str, layout: _Layout, wanted: _Wanted,
               keys: KeysConfig | None, base_dir: str | Path | None) -> LoadedTable:
    """Open ``p`` (decrypting it while it is read when it is encrypted) and read it checked;
    every refusal becomes a :class:`DataError` naming positions and counts only."""
    from auditkit.privacy.crypto import is_encrypted

    with contextlib.ExitStack() as opened:
        source: Any = p
        if is_encrypted(p):
            source = opened.enter_context(_open_encrypted(p, keys, base_dir))
        with data_errors(p):
            table = TableFile(source, kind, name=str(p), what=layout.what, header=layout.header,
                              skip_lines=layout.skip_lines, allow_duplicate_names=True)
            return _read_checked(table, wanted.string_columns, wanted.nrows)


@contextlib.contextmanager
def data_errors(path: Path) -> Iterator[None]:
    """Reading ``path``: TableFile's refusals (positions and counts only) and a failed
    decryption become one :class:`DataError` each."""
    try:
        yield
    except PrivacyInputError as exc:  # written by TableFile: positions and counts only
        raise DataError(str(exc)) from None
    except DecryptionError:
        raise DataError(
            f"The encrypted dataset '{path}' could not be decrypted: the key ring does not hold "
            "its key, or the file was altered or truncated. Check [keys] keyring in "
            "audit.toml."
        ) from None


def _read_checked(table: TableFile, string_columns: list[str], nrows: int | None) -> LoadedTable:
    """Refuse a malformed file with TableFile's message, parse it with pandas, then settle
    repeated names."""
    table.sniff()
    names = table.columns()
    if table.count_rows(limit=nrows) == 0:  # parses every CSV row: ragged rows, bad quotes
        raise table.no_rows(len(names))
    if table.format == "csv":
        names = [_csv_name(n, i) if table.header else n for i, n in enumerate(names)]
    duplicates = DuplicateColumns.find(names)
    with table.reading():
        df = PARSERS[table.format](table, names, string_columns, nrows, bool(duplicates))
    if df.shape[0] == 0:
        raise table.no_rows(len(names))
    if table.format == "csv":
        _strip_text(df)
    if duplicates:
        df = _drop_identical_copies(table, df, duplicates)
        df.columns = [n for i, n in enumerate(names, 1)
                      if not any(i in d.dropped for d in duplicates)]
        # Named by the file's name alone: the notice goes into reports, which stay portable.
        notice = replace(table, name=Path(table.name).name).duplicates_dropped(duplicates)
        return LoadedTable(df, duplicates, (notice,))
    if table.format == "csv":
        df.columns = names
    return LoadedTable(df)


def _csv_name(name: str, index: int) -> str:
    """A CSV header name without surrounding spaces; an empty one is named as pandas names
    it (``Unnamed: 3``, counting from 0)."""
    name = name.strip(_SPACES)
    return name or f"Unnamed: {index}"


def _parse_csv(table: TableFile, names: list[str], string_columns: list[str],
               nrows: int | None, by_position: bool) -> pd.DataFrame:
    """The CSV parsed by pandas, its columns named by position (``0`` .. ``N-1``) whatever
    ``by_position`` says (the caller names them)."""
    import pandas as pd

    source = table.source
    if hasattr(source, "seek"):
        source.seek(0)
    wanted = set(string_columns)  # a declared text column the file lacks is reported by the caller
    dtype = {i: "string" for i, n in enumerate(names) if n in wanted}
    return pd.read_csv(source, sep=table.delimiter, header=0 if table.header else None,
                       names=list(range(len(names))), dtype=dtype or None, low_memory=False,
                       nrows=nrows, skiprows=table.skip_lines or None, skipinitialspace=True)


def _parse_parquet(table: TableFile, names: list[str], string_columns: list[str],
                   nrows: int | None, by_position: bool) -> pd.DataFrame:
    """The Parquet file as pandas reads it (its own types: ``string_columns`` is not needed);
    with ``by_position`` (repeated names, which pandas' own reader refuses) its columns are
    named ``0`` .. ``N-1`` instead."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = table.source
    if hasattr(source, "seek"):
        source.seek(0)
    if nrows is None and not by_position:
        return pd.read_parquet(source)
    pf = pq.ParquetFile(source)
    if nrows is None:
        data = pf.read()
    else:
        batch = next(pf.iter_batches(batch_size=nrows), None)
        data = pa.Table.from_batches([batch]) if batch is not None else pf.schema_arrow.empty_table()
    if not by_position:
        return data.to_pandas()
    return data.rename_columns([str(i) for i in range(len(names))]).to_pandas(
        ignore_metadata=True).set_axis(range(len(names)), axis=1)


#: The parser of each format of :data:`auditkit._formats.DATA_FORMATS`, by name: ``(table,
#: names, string_columns, nrows, by_position) -> DataFrame``.
PARSERS: dict[str, Callable[[TableFile, list[str], list[str], int | None, bool], pd.DataFrame]] = {
    "csv": _parse_csv,
    "parquet": _parse_parquet,
}

_SPACES = " \t"


def _strip_text(df: pd.DataFrame) -> None:
    """Remove spaces and tabs around every text value, in place; a value left empty is
    missing. Columns of numbers, booleans and mixed objects are left as they are."""
    import pandas as pd

    for j in range(df.shape[1]):
        col = df.iloc[:, j]
        is_text = isinstance(col.dtype, pd.StringDtype) or (
            col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) == "string")
        if is_text:
            stripped = col.str.strip(_SPACES)
            df.isetitem(j, stripped.mask((stripped == "").fillna(False)))


def _drop_identical_copies(table: TableFile, df: pd.DataFrame,
                           duplicates: tuple[DuplicateColumns, ...]) -> pd.DataFrame:
    """``df`` (columns by position) without the copies of each repeated name, once every copy
    is found equal to the first column of its name: value for value, missing in the same rows.

    Raises
    ------
    PrivacyInputError
        A copy differs from the first column in at least one row.
    """
    differing = []
    for dup in duplicates:
        first = df.iloc[:, dup.positions[0] - 1]
        counts = {p: _rows_differing(first, df.iloc[:, p - 1]) for p in dup.dropped}
        counts = {p: k for p, k in counts.items() if k}
        if counts:
            differing.append((dup, counts))
    if differing:
        raise table.duplicates_differ(differing, df.shape[0])
    gone = {p - 1 for dup in duplicates for p in dup.dropped}
    return df.iloc[:, [j for j in range(df.shape[1]) if j not in gone]]


def _rows_differing(a: pd.Series, b: pd.Series) -> int:
    """Rows where two columns differ; two missing values are equal, ``1`` equals ``1.0``."""
    if a.dtype != b.dtype:
        a, b = a.astype(object), b.astype(object)
    same = (a == b).to_numpy(dtype=bool, na_value=False) | (a.isna() & b.isna()).to_numpy()
    return int((~same).sum())


def _open_encrypted(p: Path, keys: KeysConfig | None, base_dir: str | Path | None) -> Any:
    """The plaintext stream of an encrypted dataset, opened with the configured key ring."""
    from auditkit.privacy.crypto import KeyRing, open_decrypted

    if keys is None or not keys.keyring:
        raise DataError(
            f"The dataset '{p}' is encrypted (auditkit format) but audit.toml names no key ring. "
            "Add [keys] keyring = \"path/to/keyring.json\" and set the passphrase in the "
            "environment variable named by [keys] passphrase_env."
        )
    ring_path = Path(keys.keyring).expanduser()
    if not ring_path.is_absolute():
        ring_path = Path(base_dir or ".") / ring_path
    try:
        ring = KeyRing.load_from_env(ring_path, keys.passphrase_env)
        return open_decrypted(p, ring)
    except DecryptionError:
        raise DataError(
            f"The encrypted dataset '{p}' could not be opened with the key ring '{ring_path}': "
            f"wrong passphrase in ${keys.passphrase_env}, the ring does not hold the file's key, "
            "or a file was altered or truncated."
        ) from None
    except PrivacyInputError as exc:
        raise DataError(f"Cannot decrypt the dataset '{p}': {exc}") from None


# -- sniffing, for ``auditkit init`` ---------------------------------------------------------

_SNIFF_RECORDS = 200
_MAX_PREAMBLE = 5


def sniff_format(path: Path) -> str | None:
    """``parquet`` or ``csv`` from the file's first bytes; ``None`` when they do not tell
    (binary, encrypted or not UTF-8: the reader then names the problem)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith(b"PAR1"):
        return "parquet"
    if not head or b"\x00" in head or head.startswith(b"AKCRYPT"):
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a character cut at the end of the sample is fine
            return None
    return "csv"


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV file is laid out, as :func:`sniff_layout` guessed it.

    ``notes`` say why, by line and column numbers and counts only: never a value.
    """

    header: bool = True
    skip_lines: int = 0
    notes: tuple[str, ...] = ()


def sniff_layout(path: str | Path, delimiter: str | None = None) -> CsvLayout:
    """Guess whether a CSV file starts with notes to skip and whether its first row is a header.

    A first row is taken as data when a cell of it looks like an e-mail address, a date or a
    telephone number; when a column that holds numbers below it holds a number in the first
    row too (and no column holds a name above numbers); or when in at least half of the
    columns the first row's value is shaped like the values below it and unlike a column name,
    or recurs below it (:func:`auditkit._sniff_header.first_row_is_header`). Leading lines with fewer fields
    than the rows below (UCI's ``|1x3 Cross validator``) are notes to skip.
    """
    from auditkit.privacy.tabular import delimiter_for

    p = Path(path)
    records = _head_records(p, delimiter or delimiter_for(p))
    skip, notes = _preamble(records)
    rows = [row for line, row in records if line > skip]
    if len(rows) < 2:
        return CsvLayout(skip_lines=skip, notes=notes)
    from auditkit._sniff_header import first_row_is_header

    header, why = first_row_is_header(rows)
    return CsvLayout(header=header, skip_lines=skip, notes=notes + why)


def _head_records(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """The first non-empty records, each with the line it ends on."""
    import csv
    import io

    out: list[tuple[int, list[str]]] = []
    with open(path, "rb") as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    out.append((reader.line_num, row))
                if len(out) >= _SNIFF_RECORDS:
                    break
        except csv.Error:  # the reader names the fault when the file is read
            pass
        finally:
            text.detach()
    return out


def _preamble(records: list[tuple[int, list[str]]]) -> tuple[int, tuple[str, ...]]:
    """Lines of notes before the table: leading records narrower than the rows below."""
    from collections import Counter

    if len(records) < 3:
        return 0, ()
    width, count = Counter(len(r) for _, r in records[1:]).most_common(1)[0]
    if width < 2 or count < 0.9 * (len(records) - 1):
        return 0, ()
    k = 0
    while k < min(_MAX_PREAMBLE, len(records) - 2) and len(records[k][1]) < width:
        k += 1
    if k == 0:
        return 0, ()
    skip = records[k - 1][0]
    return skip, (f"line{'s 1 to' if skip > 1 else ''} {skip} "
                  f"{'have' if skip > 1 else 'has'} fewer fields than the {width} of the rows "
                  "below: taken as a note before the table and skipped",)
