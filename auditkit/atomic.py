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
  that one left behind by a killed writer is recognisable: ``<writer pid>`` is the decimal
  process id of the writer, ``<random>`` is the 8 characters (``a-z``, ``0-9``, ``_``) that
  :func:`tempfile.mkstemp` draws. :func:`sweep_stale` removes those whose writer is gone.
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
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TEMP_SUFFIX",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "parse_temp_name",
    "sweep_stale",
]

#: Suffix of every temporary file an atomic write creates.
TEMP_SUFFIX = ".auditkit-tmp"

# ``.<target name>.<pid>.<8 random chars of mkstemp>.auditkit-tmp``, read from the right so a
# target name holding dots or digits parses the same. Pids are positive; 10 digits is > 2**32.
_TEMP_NAME = re.compile(
    r"\.(?P<target>.+)\.(?P<pid>[1-9][0-9]{0,9})\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX),
    re.DOTALL,
)


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


def parse_temp_name(name: str) -> int | None:
    """The writer's pid if ``name`` is exactly an :func:`atomic_write` temporary name, else None.

    Examples
    --------
    >>> parse_temp_name(".report.html.4242.k3x_9qz0.auditkit-tmp")
    4242
    >>> parse_temp_name("report.html.4242.tmp") is None
    True
    """
    m = _TEMP_NAME.fullmatch(name)
    return int(m["pid"]) if m else None


def _writer_gone(pid: int) -> bool:
    """Whether no process ``pid`` exists (only ``ProcessLookupError`` counts as gone)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError, ValueError):  # EPERM: alive, someone else's; or unsure
        return False
    return False


def sweep_stale(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files that killed :func:`atomic_write` writers left in ``directory``.

    A file is removed only when all of these hold: its name is exactly an :func:`atomic_write`
    temporary name (see :func:`parse_temp_name`); it is a regular file, not a symlink (links
    are never followed, nor removed); and the process whose pid the name carries no longer
    exists (``os.kill(pid, 0)`` raises :class:`ProcessLookupError`). A live writer, this
    process included, keeps its file. Only ``directory`` itself is scanned, not below it.
    Nothing raises: a missing or unreadable directory, or a file that vanished or cannot be
    removed meanwhile, is skipped. Call it before writing into a directory.

    The liveness test is by process id on this machine: on a directory shared with other
    machines or containers (another pid namespace), a writer there looks gone. On platforms
    other than POSIX, where ``os.kill(pid, 0)`` is not a probe, nothing is removed.

    Parameters
    ----------
    directory
        The directory to clean (not recursive).

    Returns
    -------
    list of Path
        The files removed, sorted.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> sweep_stale(pathlib.Path(tempfile.mkdtemp()))
    []
    """
    if os.name != "posix":
        return []
    removed: list[Path] = []
    try:
        with os.scandir(directory) as entries:
            candidates = [
                (e.name, pid)
                for e in entries
                if (pid := parse_temp_name(e.name)) is not None
            ]
    except OSError:
        return []
    for name, pid in candidates:
        path = Path(directory, name)
        try:
            if not _is_plain_file(path) or not _writer_gone(pid):
                continue
            os.unlink(path)  # removes the entry itself, never what a link points to
        except OSError:  # vanished, replaced, or not ours to remove
            continue
        removed.append(path)
    return sorted(removed)


def _is_plain_file(path: Path) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)
