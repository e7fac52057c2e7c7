"""Reading the audit's datasets: CSV and Parquet, optionally encrypted (models: :mod:`auditkit._models`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.errors import DataError
from auditkit.privacy.errors import DecryptionError, PrivacyInputError
from auditkit.privacy.tabular import TableFile

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from auditkit.config import KeysConfig

__all__ = ["detect_format", "read_table"]

_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


def detect_format(path: Path, fmt: str = "auto") -> str:
    """``csv`` or ``parquet``, from ``fmt`` or the file's suffix (``.enc`` is skipped)."""
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".enc"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    raise DataError(
        f"Cannot tell the format of dataset '{path}' from its name; expected a .csv or "
        ".parquet file. Set [data] format = \"csv\" or \"parquet\" in audit.toml."
    )


def _check_readable(path: Path, what: str) -> None:
    if not path.exists():
        hint = "Check [data] path in audit.toml." if what == "dataset" else "Check the path."
        raise DataError(f"The {what} '{path}' does not exist. {hint}")
    if path.is_dir():
        raise DataError(f"The {what} '{path}' is a directory; expected a file.")


def read_table(
    path: str | Path,
    fmt: str = "auto",
    *,
    string_columns: list[str] | None = None,
    keys: KeysConfig | None = None,
    base_dir: str | Path | None = None,
    nrows: int | None = None,
    what: str = "dataset",
) -> pd.DataFrame:
    """Read a dataset into pandas.

    The file's shape is checked first by :class:`auditkit.privacy.tabular.TableFile` (the
    reader ``auditkit scan`` and ``mask`` use too), then pandas parses it for its types.

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

    Raises
    ------
    DataError
        The file is missing, empty, binary, not UTF-8, has a row with the wrong number of
        fields, duplicate or nested columns, no data rows, is damaged, or is encrypted and
        cannot be decrypted. The message names lines, rows and columns, never a value.
    """
    import contextlib

    from auditkit.privacy.crypto import is_encrypted

    p = Path(path)
    _check_readable(p, what)
    kind = detect_format(p, fmt)
    with contextlib.ExitStack() as opened:
        source: Any = p
        if is_encrypted(p):
            source = opened.enter_context(_open_encrypted(p, keys, base_dir))
        try:
            return _read_checked(TableFile(source, kind, name=str(p), what=what),
                                 string_columns or [], nrows)
        except PrivacyInputError as exc:  # written by TableFile: positions and counts only
            raise DataError(str(exc)) from None
        except DecryptionError:
            raise DataError(
                f"The encrypted dataset '{p}' could not be decrypted: the key ring does not hold "
                "its key, or the file was altered or truncated. Check [keys] keyring in "
                "audit.toml."
            ) from None


def _read_checked(table: TableFile, string_columns: list[str], nrows: int | None) -> pd.DataFrame:
    """Refuse a malformed file with TableFile's message, then parse it with pandas."""
    import pandas as pd

    table.sniff()
    names = table.columns()
    if table.count_rows(limit=nrows) == 0:  # parses every CSV row: ragged rows, bad quotes
        raise table.no_rows(len(names))
    source = table.source
    with table.reading():
        if hasattr(source, "seek"):
            source.seek(0)
        if table.format == "csv":
            # A declared text column that the file lacks is reported by the caller.
            dtype = {c: "string" for c in string_columns if c in names}
            df = pd.read_csv(source, sep=table.delimiter, dtype=dtype or None, low_memory=False,
                             nrows=nrows)
        elif nrows is None:
            df = pd.read_parquet(source)
        else:
            import pyarrow.parquet as pq

            batch = next(pq.ParquetFile(source).iter_batches(batch_size=nrows), None)
            df = batch.to_pandas() if batch is not None else pd.DataFrame(columns=names)
    if df.shape[0] == 0:
        raise table.no_rows(len(names))
    return df


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
