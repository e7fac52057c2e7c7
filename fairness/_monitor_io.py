"""Reading a prediction log's files in chunks, refusing bad files without quoting them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from auditkit.fairness.errors import FairnessInputError

__all__ = ["CHUNK_ROWS", "read_chunks"]

#: Rows read at a time: memory stays bounded whatever the size of a file.
CHUNK_ROWS = 1_000_000


def _scrubbed(path: Path, exc: Exception) -> FairnessInputError:
    return FairnessInputError(
        f"Could not read '{path.name}' ({type(exc).__name__}): expected a CSV file with a header row or a "
        "Parquet file holding the configured columns. Check the file (its content is not quoted here).")


def read_chunks(path: Path, columns: Sequence[str], chunk_rows: int = CHUNK_ROWS,
                text: Sequence[str] = ()) -> Iterator[pd.DataFrame]:
    """The rows of a CSV or Parquet file in chunks, only ``columns``; a missing column is
    refused naming it (and the file), never quoting a cell.

    CSV files are checked first for rows with more or fewer fields than the header (a stray
    comma shifts every later cell of its row: refused, never guessed), and the ``text`` columns
    (ids) are read as written, so that a long numeric id is never rounded through a float.
    """
    wanted = list(dict.fromkeys(c for c in columns if c))
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            missing = [c for c in wanted if c not in pf.schema_arrow.names]
            _refuse_missing(path, missing, pf.schema_arrow.names)
            for batch in pf.iter_batches(batch_size=chunk_rows, columns=wanted):
                yield batch.to_pandas()
            return
        header = pd.read_csv(path, nrows=0).columns
        _refuse_missing(path, [c for c in wanted if c not in header], list(header))
        _refuse_ragged(path, len(header))
        dtype = {c: str for c in text if c in wanted}
        yield from pd.read_csv(path, usecols=wanted, chunksize=chunk_rows, low_memory=False, dtype=dtype or None)
    except FairnessInputError:
        raise
    except (OSError, ValueError, TypeError, ImportError) as exc:
        raise _scrubbed(path, exc) from None
    except Exception as exc:  # pyarrow and pandas parser errors: named by type only
        if type(exc).__module__.startswith(("pyarrow", "pandas")):
            raise _scrubbed(path, exc) from None
        raise


def _refuse_missing(path: Path, missing: list[str], present: Sequence[str]) -> None:
    if missing:
        from auditkit.hints import did_you_mean

        raise FairnessInputError(
            f"'{path.name}' has no column {', '.join(map(repr, missing))}.{did_you_mean(missing[0], list(present))} "
            "Name the log's columns in the monitor configuration.")


def _refuse_ragged(path: Path, n_fields: int) -> None:
    """Refuse a CSV file with rows of another number of fields than its header (pandas reading
    only some columns would accept them silently); counted by pyarrow's parser, nothing quoted."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    bad = [0]

    def handler(row: object) -> str:
        bad[0] += 1
        return "skip"

    names = [f"c{i}" for i in range(n_fields)]
    reader = pcsv.open_csv(
        path, read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
        parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=handler),
        convert_options=pcsv.ConvertOptions(include_columns=names[:1], column_types={names[0]: pa.binary()}))
    for _ in reader:
        pass
    if bad[0]:
        raise FairnessInputError(
            f"'{path.name}' has {bad[0]:,} row(s) with more or fewer fields than its header ({n_fields}): an "
            "unquoted comma or a cut line shifts the cells of a row. Fix those rows (quote cells holding commas); "
            "the file was not counted.")
