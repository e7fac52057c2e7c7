"""Reading the audit's inputs: datasets (CSV, Parquet, optionally encrypted) and models."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.errors import DataError, ModelError
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from auditkit.config import KeysConfig

__all__ = ["detect_format", "load_model", "read_table"]

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
        raise DataError(f"The {what} '{path}' does not exist. Check [data] path in audit.toml.")
    if path.is_dir():
        raise DataError(f"The {what} '{path}' is a directory; expected a file.")


def read_table(
    path: str | Path,
    fmt: str = "auto",
    *,
    string_columns: list[str] | None = None,
    keys: KeysConfig | None = None,
    base_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Read a dataset into pandas.

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
    """
    import contextlib

    import pandas as pd

    p = Path(path)
    _check_readable(p, "dataset")
    kind = detect_format(p, fmt)
    source: Any = p
    opened = contextlib.ExitStack()
    from auditkit.privacy.crypto import is_encrypted

    if is_encrypted(p):
        source = opened.enter_context(_open_encrypted(p, keys, base_dir))
    try:
        if kind == "csv":
            dtype = {c: "string" for c in string_columns or []}
            try:
                df = pd.read_csv(source, dtype=dtype or None, low_memory=False)
            except ValueError:
                # A declared text column that the file lacks: read without it, report below.
                if hasattr(source, "seek"):
                    source.seek(0)
                df = pd.read_csv(source, low_memory=False)
        else:
            df = pd.read_parquet(source)
    except pd.errors.EmptyDataError:
        raise DataError(f"The dataset '{p}' is empty; expected a header row and data rows.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(
            f"The dataset '{p}' cannot be parsed as {kind.upper()} ({exc.__class__.__name__}). "
            "Check the file, or set [data] format in audit.toml."
        ) from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise DataError(
            f"The dataset '{p}' cannot be read as {kind.upper()} ({exc.__class__.__name__}). "
            "Check that the file is what its name says."
        ) from None
    except DecryptionError:
        raise DataError(
            f"The encrypted dataset '{p}' could not be decrypted: the key ring does not hold its "
            "key, or the file was altered or truncated. Check [keys] keyring in audit.toml."
        ) from None
    finally:
        opened.close()
    if df.shape[0] == 0:
        raise DataError(f"The dataset '{p}' has no rows; the audit needs data to measure.")
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


def _skops_load(path: Path, trusted_types: list[str]) -> Any:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ModelError(
            f"The model file '{path}' is not a skops file ({exc.__class__.__name__}). Save the "
            "model with skops.io.dump, or set [model] format to the format it has."
        ) from None
    safe_prefixes = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
    unknown = [t for t in untrusted if not t.startswith(safe_prefixes) and t not in trusted_types]
    if unknown:
        raise ModelError(
            f"The model file '{path}' contains types that are not trusted: {', '.join(unknown)}. "
            "Review them, then list them in [model] trusted_types in audit.toml."
        )
    return sio.load(path, trusted=list(untrusted))


def load_model(
    path: str | Path, fmt: str = "auto", *, trust_model: bool = False, trusted_types: list[str] | None = None
) -> Any:
    """Load a fitted model: skops (safe), or pickle/joblib only when ``trust_model`` is set."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"The model file '{p}' does not exist. Check [model] path in audit.toml.")
    if p.is_dir():
        raise ModelError(f"The model path '{p}' is a directory; expected a model file.")
    kind = fmt
    if kind == "auto":
        suffix = p.suffix.lower()
        kind = {".skops": "skops", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib"}.get(
            suffix, ""
        )
        if not kind:
            raise ModelError(
                f"Cannot tell the format of model '{p}' from its name; expected .skops, .pkl or "
                ".joblib. Set [model] format in audit.toml."
            )
    if kind == "skops":
        model = _skops_load(p, list(trusted_types or []))
    else:
        if not trust_model:
            raise ModelError(
                f"Refusing to load '{p}' as {kind}: unpickling runs arbitrary code from the file. "
                "Save the model with skops instead, or, if you trust this file, set "
                "[model] trust_model = true in audit.toml."
            )
        try:
            if kind == "joblib":
                import joblib

                model = joblib.load(p)
            else:
                import pickle

                with open(p, "rb") as fh:
                    model = pickle.load(fh)  # noqa: S301 - explicitly trusted by the user
        except Exception as exc:  # unpickling can raise anything
            raise ModelError(
                f"The model file '{p}' cannot be loaded as {kind} ({exc.__class__.__name__}). "
                "Check that it is a model saved with that format."
            ) from None
    if not hasattr(model, "predict"):
        raise ModelError(
            f"The object in '{p}' has no predict method ({type(model).__name__}); expected a "
            "fitted scikit-learn style model."
        )
    return model
