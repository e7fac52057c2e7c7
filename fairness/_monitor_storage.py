"""Storage primitives of the monitor's state directory: locking, hashing, and careful reading/writing.

Every file is created with mode ``0o600`` and synced before it is renamed or named; every file read
back is treated as hostile input: anything unreadable is refused with one
:class:`~auditkit.fairness.errors.FairnessInputError` that names the file and says what to do, never
a parser's traceback (which could quote a value of the data).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._monitor_counts import canonical
from auditkit.fairness.errors import FairnessInputError

__all__ = ["FORMAT_VERSION", "GEN_NAME", "TMP_NAME", "corrupt", "fingerprint", "fsync_dir", "json_default",
           "lock", "read_current", "read_meta", "read_table", "remove_generation", "rename_into_place",
           "unlock", "write_file", "write_table"]

#: Version of the state directory's format (``meta.json``'s ``format_version``).
FORMAT_VERSION = 1
GEN_NAME = re.compile(r"gen-[0-9]{6,12}")
TMP_NAME = re.compile(r"\.tmp-gen-[0-9]{6,12}")
_MAX_META = 256 << 20
_HASH_BLOCK = 1 << 20


def corrupt(path: Path, what: str) -> FairnessInputError:
    return FairnessInputError(
        f"The monitor state file {path} {what}. Restore the state directory {path.parent.parent} from a "
        "backup, or rebuild the state in a new, empty state directory (every log file is counted again)."
    )


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, write: Any) -> None:
    """Create ``path`` (mode 0o600), let ``write(fh)`` fill it, and sync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())


def write_table(path: Path, frame: pd.DataFrame) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_file(path, lambda fh: pq.write_table(table, fh))


def rename_into_place(tmp: Path, final: Path) -> None:
    os.rename(tmp, final)


def remove_generation(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, (set, tuple, np.ndarray)):
        return list(value)
    return str(value)


def fingerprint(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file (streamed), or of a directory's files (sorted relative paths)."""
    path = Path(path)
    if path.is_dir():
        outer, total = hashlib.sha256(), 0
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            digest, size = fingerprint(p)
            outer.update(f"{p.relative_to(path).as_posix()}\0{size}\0{digest}\n".encode())
            total += size
        return outer.hexdigest(), total
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest(), path.stat().st_size


def lock(root: Path) -> int:
    try:
        fd = os.open(root / "LOCK", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except PermissionError:
        raise FairnessInputError(
            f"Cannot open {root / 'LOCK'} for writing: the monitor needs write access to its state directory "
            f"{root}. Run as the user that owns it, or name a state directory you can write."
        ) from None
    except OSError:  # a symbolic link (O_NOFOLLOW), a directory, ...
        raise FairnessInputError(
            f"The monitor state file {root / 'LOCK'} is not a regular file (a symbolic link or a directory?). "
            f"Remove it: the monitor recreates it, and it holds nothing but the lock."
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise FairnessInputError(
            f"Another monitor run holds the state directory {root} (its LOCK file is locked). Wait for that "
            "run to finish; the lock is released when its process ends."
        ) from None
    return fd


def unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def read_current(path: Path) -> str:
    try:
        text = path.read_bytes()[:64].decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    if not GEN_NAME.fullmatch(text):
        raise FairnessInputError(
            f"The monitor state file {path} does not name a generation of this directory (it should hold "
            "e.g. 'gen-000003'). Restore the state directory from a backup, or rebuild the state in a new, "
            "empty state directory."
        )
    return text


def read_meta(path: Path) -> dict[str, Any]:
    try:
        if path.is_symlink() or path.stat().st_size > _MAX_META:
            raise corrupt(path, "is not a plain file of a readable size")
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except FairnessInputError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise corrupt(path, "is missing or is not valid JSON") from None
    if not isinstance(meta, dict):
        raise corrupt(path, "is not a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise corrupt(path, f"has format version {version!r}, which this auditkit does not read "
                             f"(it reads version {FORMAT_VERSION})")
    needed = ("columns", "windowing", "bins", "files", "rows_seen", "latest_timestamp", "alerts", "runs")
    missing = [k for k in needed if k not in meta]
    if missing:
        raise corrupt(path, f"is damaged (it lacks {', '.join(missing)})")
    return meta


def read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    import pyarrow.parquet as pq

    if path.is_symlink() or not path.is_file():
        raise corrupt(path, "is missing")
    try:
        frame = pq.read_table(path).to_pandas()
    except Exception:
        raise corrupt(path, "is not a readable Parquet file") from None
    if list(frame.columns) != columns:
        raise corrupt(path, "does not have the columns of its table")
    try:
        return canonical(frame, columns)
    except Exception:
        raise corrupt(path, "has columns of the wrong type") from None
