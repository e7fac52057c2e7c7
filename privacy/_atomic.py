"""Atomic file writes shared by the ``privacy`` subpackages.

A file written through :func:`atomic_write` appears at its final path complete or not at all:
the data goes to a temporary file in the target's own directory (so the final rename never
crosses file systems), is flushed and ``fsync``-ed, then moved over the target with
:func:`os.replace`. If anything raises before that, the temporary file is removed and the
target is left untouched (absent, or its previous content).

Examples
--------
>>> from privacy._atomic import atomic_write
>>> with atomic_write("out.bin", mode=0o600) as fh:  # doctest: +SKIP
...     fh.write(b"all or nothing")
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text"]


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
    path:
        The final path. Its directory must exist.
    text:
        Open in text mode (``encoding``, ``newline``) instead of binary.
    mode:
        Permission bits for the new file (e.g. ``0o600`` for key material). The temporary file
        is created with these bits from the start, so secret data is never readable by others,
        even briefly. Default: ``0o666`` minus the umask, like :func:`open`.

    Yields
    ------
    file object
        Write to it; do not close it yourself.

    Notes
    -----
    On any exception inside the ``with`` block (including ``KeyboardInterrupt``) the temporary
    file is removed and the exception propagates; ``path`` is not touched.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        else:
            os.chmod(tmp, mode)
        if text:
            fh: IO[Any] = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        else:
            fh = os.fdopen(fd, "wb")
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
) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, mode=mode) as fh:
        fh.write(data)


def atomic_write_text(
    path: str | os.PathLike[str],
    data: str,
    *,
    encoding: str = "utf-8",
    mode: int | None = None,
) -> None:
    """Write ``data`` to ``path`` atomically as text (see :func:`atomic_write`)."""
    with atomic_write(path, text=True, encoding=encoding, mode=mode) as fh:
        fh.write(data)
