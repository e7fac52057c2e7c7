"""The trail directory on disk: checks, locking, the cached tail, rotation, crash recovery.

One :class:`Appender` per (directory, process) appends lines under an exclusive ``flock`` of
``LOCK``: it finds the tail (cached; re-read only when the segment's size or inode changed or a
newer segment appeared), cuts an incomplete last line left by a crash and records the cut in an
``r`` line, starts a new segment (``n`` line) when the current one has reached its size, writes
every line of the call in one ``write()`` and ``fsync``-s it, then rewrites ``HEAD`` when asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from auditkit.privacy.errors import TrailError
from auditkit.privacy.trail import _format as fmt
from auditkit.privacy.trail._io import NotRegular, open_regular, pread, read_last_line

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "Appender",
    "appender",
    "check_directory",
    "list_segments",
    "locked",
    "read_genesis",
    "read_last_line",
    "segment_name",
]


DEFAULT_SEGMENT_BYTES = 64 << 20
_SEGMENT = re.compile(r"([0-9]{6})\.jsonl")
_TRAIL_FILES = ("LOCK", "HEAD")
#: The size of the HEAD record: JSON of seq, hash and segment, padded with spaces, and "\n".
HEAD_BYTES = 128
_FIX = "Fix its permissions, or point AUDITKIT_TRAIL (or bind(location=...)) at a directory you own."

#: A line builder: ``(prev hash, seq) -> (line bytes, hash)``.
Builder = Callable[[str, int], tuple[bytes, str]]


def segment_name(number: int) -> str:
    """File name of segment ``number`` (``000001.jsonl`` ...)."""
    return f"{number:06d}.jsonl"


def list_segments(directory: Path) -> list[int]:
    """The segment numbers present in ``directory``, ascending."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(int(m[1]) for m in map(_SEGMENT.fullmatch, names) if m)


def _is_trail_entry(name: str) -> bool:
    return name in _TRAIL_FILES or bool(_SEGMENT.fullmatch(name))


def is_team_mode(mode: int) -> bool:
    """A team trail: a set-group-id directory its group may write and others may not (2770)."""
    return bool(mode & stat.S_ISGID) and mode & 0o070 == 0o070 and not mode & 0o002


def file_mode(directory: Path) -> int:
    """The mode of the files a writer creates: 0660 in a team trail, else 0600."""
    try:
        return 0o660 if is_team_mode(stat.S_IMODE(os.stat(directory).st_mode)) else 0o600
    except OSError:
        return 0o600


def check_directory(directory: Path, *, create: bool) -> None:
    """Refuse a trail directory that cannot be used safely (TrailError naming it and the fix).

    With ``create`` (a writer) the directory is made when missing (mode 0700) and must be
    writable by its user and by nobody else; a reader only needs it to exist.
    """
    if not directory.exists():
        if not create:
            raise TrailError(
                f"There is no audit trail at {directory}: the directory does not exist. Give the "
                "directory of an existing trail (see `auditkit trail` and docs/trail.md)."
            )
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise TrailError(
                f"Cannot create the audit trail directory {directory}: {exc.strerror}. {_FIX}"
            ) from None
    if not directory.is_dir():
        raise TrailError(
            f"The audit trail location {directory} is not a directory; expected a directory "
            f"holding LOCK, HEAD and NNNNNN.jsonl segments. {_FIX}"
        )
    mode = stat.S_IMODE(directory.stat().st_mode)
    if create and os.name == "posix" and mode & 0o022 and not is_team_mode(mode):
        raise TrailError(
            f"The audit trail directory {directory} is writable by group or others (mode {mode:o}); "
            f"anyone could rewrite the trail. Expected mode 700 (one user), or 2770 for a team "
            f"trail its group shares. Run: chmod 700 {directory}, or chgrp TEAM {directory} && "
            f"chmod 2770 {directory}"
        )
    if create and not os.access(directory, os.W_OK | os.X_OK):
        raise TrailError(f"The audit trail directory {directory} is not writable by you. {_FIX}")
    entries = os.listdir(directory)
    if entries and not list_segments(directory) and not all(map(_is_trail_entry, entries)):
        raise TrailError(
            f"The directory {directory} is not an audit trail: it holds other files and no "
            "000001.jsonl. Point AUDITKIT_TRAIL (or bind(location=...)) at an empty directory or "
            "an existing trail."
        )


def read_genesis(directory: Path) -> dict:
    """The genesis line's fields of the trail in ``directory`` (TrailError when it has none)."""
    path = directory / segment_name(1)
    try:
        fd = open_regular(path)
        try:
            first = pread(fd, 1 << 16, 0)
        finally:
            os.close(fd)
    except OSError as exc:
        raise TrailError(f"Cannot read the audit trail {path}: {exc.strerror or 'not a regular file'}. "
                         f"{_FIX}") from None
    nl = first.find(b"\n")
    obj = fmt.parse_line(first[:nl]) if nl >= 0 else None
    if not obj or obj.get("kind") != "g" or obj.get("format") != fmt.FORMAT:
        raise TrailError(
            f"The directory {directory} is not an audit trail: {path.name} does not start with an "
            "auditkit-trail genesis line. Point the trail location at another directory, or run "
            "`auditkit trail verify` on it to see what is wrong."
        )
    if obj.get("version") != fmt.VERSION:
        raise TrailError(
            f"The audit trail {directory} is format version {str(obj.get('version'))[:20]!r}; this auditkit "
            f"reads version {fmt.VERSION}. Upgrade auditkit to append to it."
        )
    return obj


# -- locking -----------------------------------------------------------------------------------


def _flock(fd: int, exclusive: bool) -> Callable[[], None]:
    """Lock ``fd``; return the unlock function."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        return lambda: fcntl.flock(fd, fcntl.LOCK_UN)
    try:  # pragma: no cover - Windows
        import msvcrt
    except ImportError:  # pragma: no cover
        raise TrailError(
            "This platform offers neither fcntl.flock nor msvcrt.locking, so appends to the audit "
            "trail cannot be serialised. Run auditkit on Linux, macOS or Windows."
        ) from None
    while True:  # pragma: no cover - Windows
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            break
        except OSError:
            continue

    def unlock() -> None:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    return unlock


@contextlib.contextmanager
def locked(directory: Path, *, exclusive: bool = False) -> Iterator[None]:
    """Hold ``LOCK`` of a trail (shared by default) for a consistent read; no-op if unreadable."""
    try:
        fd = open_regular(directory / "LOCK")
    except OSError:
        yield
        return
    try:
        unlock = _flock(fd, exclusive)
        try:
            yield
        finally:
            unlock()
    finally:
        os.close(fd)


def _cut_digest(fd: int, start: int, end: int) -> str:
    """SHA-256 hex of the bytes ``[start, end)`` of ``fd``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    while start < end:
        chunk = pread(fd, min(1 << 20, end - start), start)
        if not chunk:
            break
        digest.update(chunk)
        start += len(chunk)
    return digest.hexdigest()


def empty_new_trail(directory: Path) -> bool:
    """Whether the trail holds only an empty ``000001.jsonl`` (its creator died before the
    genesis line was written): the next writer writes the genesis line into it."""
    try:
        return list_segments(directory) == [1] and os.lstat(directory / segment_name(1)).st_size == 0
    except OSError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Appender:
    """Appends to one trail directory from this process (see the module docstring)."""

    def __init__(self, directory: Path, *, segment_bytes: int | None = None) -> None:
        self.directory = directory
        self._new_segment_bytes = segment_bytes or DEFAULT_SEGMENT_BYTES
        self._mutex = threading.Lock()
        self._lock_fd = -1
        self._fd = -1
        self._seg = 0
        self._size = -1
        self._ino = -1
        self._path = ""
        self._last = (fmt.GENESIS_PREV, -1)
        self._cut = -1
        self.segment_bytes = self._new_segment_bytes
        self.trail_id = ""
        self.file_mode = file_mode(directory)

    # -- tail ----------------------------------------------------------------------------------

    def _cache_valid(self) -> bool:
        if self._fd < 0:
            return False
        try:
            st = os.stat(self._path)
        except OSError:
            return False
        # Another writer rotates only when this segment is full, and then this size changed —
        # unless this process wrote the line that filled it: look for a newer segment then.
        return (st.st_size == self._size and st.st_ino == self._ino
                and (self._size < self.segment_bytes
                     or not os.path.exists(self.directory / segment_name(self._seg + 1))))

    def _open_segment(self, number: int, *, new: bool) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT | os.O_EXCL if new else 0)
        path = self.directory / segment_name(number)
        try:
            self._fd = open_regular(path, flags, self.file_mode)
            if new and self.file_mode != 0o600:
                os.fchmod(self._fd, self.file_mode)  # past the umask: the team must append
        except NotRegular:
            raise TrailError(f"The audit trail segment {path} is not a regular file (a link, a "
                             "directory or a device): someone changed the trail. Run `auditkit trail "
                             "verify` and restore the trail from a copy.") from None
        except OSError as exc:
            raise TrailError(f"Cannot open the audit trail segment {path}: {exc.strerror}. {_FIX}") from None
        st = os.fstat(self._fd)
        self._seg, self._size, self._ino, self._path = number, st.st_size, st.st_ino, str(path)

    def _genesis(self) -> Builder:
        self.trail_id = os.urandom(16).hex()
        self.segment_bytes = self._new_segment_bytes
        fields = [("format", fmt.FORMAT), ("version", fmt.VERSION), ("trail_id", self.trail_id),
                  ("segment_bytes", self.segment_bytes)]
        return lambda prev, seq: fmt.build_line(prev, fmt.ZERO_CMD, "g", seq, fields)

    def _segment_line(self, number: int) -> Builder:
        return lambda prev, seq: fmt.build_line(prev, fmt.ZERO_CMD, "n", seq, [("segment", number)])

    def _reload(self) -> list[Builder]:
        """Re-read the tail from disk; return the lines that must precede the caller's.

        Nothing on disk changes here: an incomplete last line is cut (``self._cut``) only once
        every line of the append has been built, so a failure in between loses no record of it.
        """
        self._cut = -1
        segments = list_segments(self.directory)
        if not segments or empty_new_trail(self.directory):
            self._open_segment(1, new=not segments)
            self._last = (fmt.GENESIS_PREV, -1)
            return [self._genesis()]
        if not self.trail_id:
            genesis = read_genesis(self.directory)
            self.trail_id = str(genesis.get("trail_id", ""))
            size = genesis.get("segment_bytes")
            self.segment_bytes = size if isinstance(size, int) and size > 0 else DEFAULT_SEGMENT_BYTES
        self._open_segment(segments[-1], new=False)
        line, cut = read_last_line(self._fd, self._size)
        pending: list[Builder] = []
        if line is None and self._seg == 1:
            raise TrailError(
                f"The audit trail {self.directory} has no complete genesis line (a crash while it "
                f"was created?). If it holds nothing else, remove {segment_name(1)} and try again."
            )
        if line is None:
            self._last = self._tail_of(self._seg - 1)
            pending.append(self._segment_line(self._seg))
        else:
            self._last = self._parse_tail(line)
        if cut < self._size:
            fields = [("segment", self._seg), ("cut_bytes", self._size - cut),
                      ("cut_sha256", _cut_digest(self._fd, cut, self._size))]
            pending.append(lambda prev, seq: fmt.build_line(prev, fmt.ZERO_CMD, "r", seq, fields))
            self._cut = cut
        return pending

    def _tail_of(self, number: int) -> tuple[str, int]:
        try:
            fd = open_regular(self.directory / segment_name(number))
        except OSError:
            fd = -1
        if fd < 0:
            line = None
        else:
            try:
                line, _ = read_last_line(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
        if line is None:
            raise TrailError(
                f"The audit trail {self.directory} has an empty or unreadable segment "
                f"{segment_name(number)}. Run `auditkit trail verify` and restore the trail from a copy."
            )
        return self._parse_tail(line)

    def _parse_tail(self, line: bytes) -> tuple[str, int]:
        seq = fmt.seq_of(line) if fmt.well_formed(line) else None
        if seq is None:
            raise TrailError(
                f"The last line of the audit trail {self.directory} is damaged, so nothing can be "
                "chained to it. Run `auditkit trail verify` and restore the trail from a copy."
            )
        return line[-66:-2].decode("ascii"), seq

    # -- appending -----------------------------------------------------------------------------

    def _ensure_lock_fd(self) -> int:
        if self._lock_fd < 0:
            try:
                self._lock_fd = open_regular(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, self.file_mode)
                if self.file_mode != 0o600 and os.fstat(self._lock_fd).st_uid == os.geteuid():
                    os.fchmod(self._lock_fd, self.file_mode)
            except OSError as exc:
                raise TrailError(
                    f"Cannot open the lock file of the audit trail {self.directory}: "
                    f"{exc.strerror or 'not a regular file'}. {_FIX}"
                ) from None
        return self._lock_fd

    def append(self, builders: Sequence[Builder], *, head: bool = False) -> list[tuple[int, str]]:
        """Append the lines ``builders`` make, chained, in one write; return their (seq, hash)."""
        with self._mutex:
            unlock = _flock(self._ensure_lock_fd(), True)
            try:
                return self._append_locked(builders, head)
            finally:
                unlock()

    def _build(self, builders: Sequence[Builder]) -> tuple[bytes, list[tuple[int, str]]]:
        """Find the tail and build every line; nothing is written (on failure the tail is
        re-read next time, so a half-prepared rotation, genesis or cut is redone)."""
        try:
            pending = [] if self._cache_valid() else self._reload()
            genesis = bool(pending) and self._last[1] < 0
            if not genesis and self._cut < 0 and self._size >= self.segment_bytes and self._last[1] >= 0:
                self._open_segment(self._seg + 1, new=True)
                pending.insert(0, self._segment_line(self._seg))
            prev, seq = self._last
            chunks, written = [], []
            for build in [*pending, *builders]:
                seq += 1
                line, prev = build(prev, seq)
                chunks.append(line)
                written.append((seq, prev))
        except BaseException:
            self._size = -1
            raise
        return b"".join(chunks), written

    def _append_locked(self, builders: Sequence[Builder], head: bool) -> list[tuple[int, str]]:
        data, written = self._build(builders)
        if not written:
            return []
        genesis = written[0][0] == 0
        try:
            if self._cut >= 0:
                os.ftruncate(self._fd, self._cut)
                self._size, self._cut = self._cut, -1
            _write_all(self._fd, data)
            os.fsync(self._fd)
        except OSError as exc:
            self._size = -1
            raise TrailError(f"Cannot write to the audit trail {self.directory}: {exc.strerror}. {_FIX}") from None
        self._size += len(data)
        self._last = (written[-1][1], written[-1][0])
        if head or genesis:
            self._write_head()
        return written[len(written) - len(builders):]

    def _write_head(self) -> None:
        """Rewrite HEAD in place (under the lock, after the segment's fsync): one fixed-size record
        of :data:`HEAD_BYTES` (JSON padded with spaces, then a newline), written at offset 0 with
        one ``pwrite`` and ``fdatasync``-ed. A record this small lies in one disk sector, so a
        crash leaves the old HEAD or the new one, never a mix; as it is written after the
        segment is durable, HEAD may lag the trail but never lead it."""
        seq_hash = {"seq": self._last[1], "hash": self._last[0], "segment": segment_name(self._seg)}
        data = json.dumps(seq_hash, sort_keys=True).encode("ascii").ljust(HEAD_BYTES - 1) + b"\n"
        path = self.directory / "HEAD"
        try:
            fd = open_regular(path, os.O_RDWR | os.O_CREAT, self.file_mode)
        except OSError as exc:
            raise TrailError(f"Cannot write the HEAD of the audit trail {self.directory}: "
                             f"{exc.strerror or 'not a regular file'}. {_FIX}") from None
        try:
            if self.file_mode != 0o600 and os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, self.file_mode)
            if hasattr(os, "pwrite"):
                os.pwrite(fd, data, 0)
            else:  # pragma: no cover - Windows
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, data)
            os.ftruncate(fd, len(data))
            (os.fdatasync if hasattr(os, "fdatasync") else os.fsync)(fd)
        finally:
            os.close(fd)


_APPENDERS: dict[tuple[str, int], Appender] = {}
_APPENDERS_LOCK = threading.Lock()


def _after_fork() -> None:  # a lock held by another thread at fork time would never be released
    global _APPENDERS_LOCK
    _APPENDERS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def appender(directory: Path, *, create: bool = True, segment_bytes: int | None = None) -> Appender:
    """The appender of ``directory`` for this process (checked and created on first use)."""
    key = (str(directory), os.getpid())
    with _APPENDERS_LOCK:
        found = _APPENDERS.get(key)
        if found is None:
            check_directory(directory, create=create)
            if list_segments(directory) and not empty_new_trail(directory):
                read_genesis(directory)
            found = _APPENDERS[key] = Appender(directory, segment_bytes=segment_bytes)
        return found
