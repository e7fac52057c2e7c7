"""Reading trail files safely: regular files only, bounded lines, no whole-file reads.

A trail directory is input that someone else may have written. Its files are opened without
following symbolic links and without blocking (a FIFO named ``000002.jsonl`` must not hang a
verifier), must be regular files, and are read in blocks: a line longer than :data:`MAX_LINE`
is replaced by ``b""`` (which no check accepts) instead of being held in memory, and the last
line of a file is found by scanning backwards without copying what lies after it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

__all__ = ["MAX_LINE", "LineReader", "NotRegular", "open_regular", "pread", "read_last_line"]

#: The longest line a reader accepts (a seal listing its events' ranges is the longest kind).
MAX_LINE = 64 << 20
BLOCK = 16 << 20
_BACK = 1 << 16
_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


class NotRegular(OSError):
    """The path is a symbolic link, a directory, a FIFO or a device, not a regular file."""


def open_regular(path: os.PathLike | str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """A descriptor of ``path``, opened without following a link or blocking; NotRegular if it
    is not a regular file (OSError when it cannot be opened at all)."""
    try:
        fd = os.open(path, flags | _FLAGS, mode)
    except OSError as exc:
        if os.path.islink(path):
            raise NotRegular(exc.errno, "a symbolic link, not a regular file") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotRegular(0, "not a regular file")
    return fd


def pread(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset`` (fewer at the end of the file)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, size)  # pragma: no cover


class LineReader:
    """The complete lines of the first ``size`` bytes of ``fd``, in batches (lists of lines
    without newline); afterwards ``partial`` is the number of bytes after the last newline.

    A line longer than :data:`MAX_LINE` comes out as ``b""``; memory stays within about one
    block plus one line.
    """

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size, self.partial = fd, size, 0

    def __iter__(self) -> Iterator[list[bytes]]:
        limit = MAX_LINE
        block = max(1, min(BLOCK, limit))
        offset, carry, skipping = 0, b"", False
        while offset < self.size:
            chunk = pread(self.fd, min(block, self.size - offset), offset)
            if not chunk:
                break
            offset += len(chunk)
            if skipping:
                nl = chunk.find(b"\n")
                if nl < 0:
                    self.partial += len(chunk)
                    continue
                skipping, chunk = False, chunk[nl + 1:]
                carry, self.partial = b"", 0
                yield [b""]
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            if lines and max(map(len, lines)) > limit:
                lines = [x if len(x) <= limit else b"" for x in lines]
            if lines:
                yield lines
            self.partial = len(carry)
            if len(carry) > limit:
                skipping, carry = True, b""


def read_last_line(fd: int, size: int) -> tuple[bytes | None, int]:
    """``(last complete line without newline, or None; offset where the incomplete rest begins)``.

    Scans backwards in small blocks without keeping them; a last line longer than
    :data:`MAX_LINE` is returned as ``b""``.
    """
    nl = _rfind_newline(fd, size, size)
    if nl < 0:
        return None, 0
    start = _rfind_newline(fd, nl, MAX_LINE + 1) + 1
    if nl - start > MAX_LINE:
        return b"", nl + 1
    return pread(fd, nl - start, start), nl + 1


def _rfind_newline(fd: int, end: int, limit: int) -> int:
    """The offset of the last newline before ``end``, looking at most ``limit`` bytes back; -1."""
    stop = max(0, end - limit)
    while end > stop:
        start = max(stop, end - _BACK)
        at = pread(fd, end - start, start).rfind(b"\n")
        if at >= 0:
            return start + at
        end = start
    return -1
