"""All-or-nothing file writes: the one primitive every auditkit package writes files through.

A file written through :func:`atomic_write` appears at its final path complete or not at all.
The data goes to a temporary file in the target's own directory (so the final rename never
crosses file systems), is flushed and ``fsync``-ed, then moved over the target with
:func:`os.replace`, and the directory entry is synced. If anything raises before the rename
(``KeyboardInterrupt`` included) the temporary file is removed and the target is untouched:
absent, or with its previous content.

This module imports only the standard library and nothing else of auditkit, so that
:mod:`auditkit.privacy`, :mod:`auditkit.reports` and the runner can all use it without breaking
the direction of imports (the domain packages never import the runner).

The contract
------------
- ``path``'s directory must exist (:class:`FileNotFoundError` otherwise); nothing is created
  silently.
- ``mode`` is the new file's permission bits as an ``int`` (``0o600`` for key material and
  decrypted data). The temporary file has these bits from its creation, so secret data is
  never readable by others, even briefly. Default: ``0o666`` less the umask, as :func:`open`.
- Temporary files are named ``.<target name>.<writer pid>.<random>`` + :data:`TEMP_SUFFIX`, so
  that one left behind by a killed writer is recognisable.
- :func:`atomic_write_bytes` and :func:`atomic_write_text` return the final path.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_write(d / "out.bin", mode=0o600) as fh:
...     _ = fh.write(b"all or nothing")
>>> atomic_write_text(d / "out.txt", "done").read_text()
'done'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["TEMP_SUFFIX", "atomic_write", "atomic_write_bytes", "atomic_write_text"]

#: Suffix of every temporary file an atomic write creates.
TEMP_SUFFIX = ".auditkit-tmp"


def _default_mode() -> int:
    """Permissions a plain ``open()`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    *,
    text: bool = False,
    encoding: str = "utf-8",
    newline: str | None = None,
    mode: int | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success move it over ``path`` atomically.

    Parameters
    ----------
    path
        The final path. Its directory must exist.
    text
        Open in text mode (``encoding``, ``newline``) instead of binary.
    encoding, newline
        As for :func:`open`, in text mode.
    mode
        Permission bits of the new file (e.g. ``0o600``); default ``0o666`` less the umask.

    Yields
    ------
    file object
        Write to it; do not close it yourself.
    """
    if mode is not None and (not isinstance(mode, int) or isinstance(mode, bool)):
        raise TypeError(f"atomic_write's 'mode' must be permission bits as an int; got {mode!r}.")
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=directory
    )
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _default_mode() if mode is None else mode)
        fh: IO[Any] = (
            os.fdopen(fd, "w", encoding=encoding, newline=newline) if text else os.fdopen(fd, "wb")
        )
        fd = -1  # owned by fh now
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, mode: int | None = None
) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); return the path."""
    with atomic_write(path, mode=mode) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(
    path: str | os.PathLike[str],
    data: str,
    *,
    encoding: str = "utf-8",
    mode: int | None = None,
) -> Path:
    """Write ``data`` to ``path`` atomically as text (see :func:`atomic_write`); return the path."""
    with atomic_write(path, text=True, encoding=encoding, mode=mode) as fh:
        fh.write(data)
    return Path(path)
