"""The one TensorBoard scalar writer of the toolkit: DP training and monitoring both log through it.

:class:`ScalarLog` writes scalars to a new TensorBoard event file in a log directory, in the
format TensorBoard reads (``Event`` protocol buffers in TFRecord framing, written with the
``tensorboard`` package's own protos and record writer). ``tensorboard`` is an optional
dependency (``pip install auditkit-rai[monitor]``); it is imported when a :class:`ScalarLog` is
opened, never when this module is imported, so the CLI and the domain packages stay fast.

>>> from auditkit.tensorboard_log import ScalarLog, make_tag            # doctest: +SKIP
>>> with ScalarLog("runs/monitor") as log:                              # doctest: +SKIP
...     log.scalar(make_tag("fairness", "selection_rate", group), 0.42, step=3)
...     log.scalars({"dp/loss": 0.7, "dp/epsilon": 1.2}, step=3)

The contract
------------
- **The directory** is created if missing, each new level with mode ``0o700`` (the scalars may
  describe personal data: per-group rates, non-private training statistics); an existing
  directory is used as it is.
- **The event file** is new: it is created exclusively (``O_EXCL``) with mode ``0o600`` under
  TensorBoard's naming scheme ``events.out.tfevents.<time>.<host>.<pid>.<n><suffix>``; a name
  already taken is never overwritten (the counter ``<n>`` moves on). Every :class:`ScalarLog`
  writes its own file, so runs resumed into the same directory add files beside the old ones.
- **Tags** are sanitised to TensorBoard's characters (:func:`clean_tag`): letters, digits, ``_``,
  ``-``, ``.`` and ``/``; anything else becomes ``_``. Build a tag from toolkit words and a
  caller's group labels with :func:`make_tag`, which also turns a ``/`` inside a label into
  ``_`` so that a label never adds a level. Two labels that differ only in such characters
  (``"a b"``, ``"a_b"``) share a tag: the caller keeps labels distinct after cleaning.
- **Values** are stored as TensorBoard's ``simple_value`` (32-bit float). A value that is not
  finite (NaN, ±inf), or that is finite but beyond the 32-bit range, is skipped without error;
  :meth:`ScalarLog.scalar` returns ``False`` for it and :attr:`ScalarLog.skipped` counts it.
- **Steps** are non-negative integers; ``wall_time`` defaults to :func:`time.time`.
- Writes are buffered; :meth:`ScalarLog.flush` makes them visible to TensorBoard, and
  :meth:`ScalarLog.close` (or leaving the ``with`` block) flushes and closes. Not thread-safe:
  one writer per thread.

Errors
------
- :class:`TensorBoardUnavailable` (an ``ImportError``): the ``tensorboard`` package is missing.
- :class:`TensorBoardLogError` (a ``ValueError``): a bad argument (tag, value, step, suffix) or a
  write after :meth:`ScalarLog.close`. Messages never repeat a tag (it may hold a group label).
- Failures of the file system (no permission, not a directory) are the usual ``OSError``.

This module imports only the standard library at import time (``tensorboard`` lazily), and
nothing else of auditkit, so the runner and every domain package may use it.
"""

from __future__ import annotations

import math
import os
import re
import socket
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "INSTALL_HINT",
    "ScalarLog",
    "TensorBoardLogError",
    "TensorBoardUnavailable",
    "clean_tag",
    "make_tag",
]

#: How to install what :class:`ScalarLog` needs.
INSTALL_HINT = "pip install auditkit-rai[monitor] (or: pip install tensorboard)"

# TensorBoard's (and TensorFlow's, and torch.utils.tensorboard's) rule for tag characters.
_INVALID_TAG_CHARACTERS = re.compile(r"[^-/\w.]")
_REPEATED_SLASHES = re.compile(r"/{2,}")
_MAX_FILE_ATTEMPTS = 1000
_FLOAT32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]


class TensorBoardUnavailable(ImportError):
    """The ``tensorboard`` package is not installed; the message says how to install it."""


class TensorBoardLogError(ValueError):
    """A bad argument to :class:`ScalarLog` (or a write after close); the message names the
    argument, what was expected and what to do, never the value of a tag."""


def clean_tag(tag: str) -> str:
    """``tag`` with TensorBoard's characters only: anything but letters, digits, ``_``, ``-``,
    ``.`` and ``/`` becomes ``_``; repeated ``/`` collapse, leading and trailing ``/`` go.

    Raises
    ------
    TensorBoardLogError
        ``tag`` is not a string, or nothing is left of it.

    Examples
    --------
    >>> clean_tag("fairness/selection rate/age 18-25")
    'fairness/selection_rate/age_18-25'
    """
    if not isinstance(tag, str):
        raise TensorBoardLogError(
            f"A TensorBoard tag must be a string; got {type(tag).__name__}. Build tags with "
            "auditkit.tensorboard_log.make_tag."
        )
    cleaned = _REPEATED_SLASHES.sub("/", _INVALID_TAG_CHARACTERS.sub("_", tag)).strip("/")
    if not cleaned:
        raise TensorBoardLogError(
            "A TensorBoard tag is empty (or only '/'); give a tag with at least one letter or "
            "digit, e.g. 'dp/loss'."
        )
    return cleaned


def make_tag(*parts: Any) -> str:
    """A tag from its levels, e.g. ``make_tag("fairness", "selection_rate", group)``.

    Each part is converted with :class:`str` and cleaned on its own, a ``/`` inside it included,
    so a caller's group label is always one level; empty parts are left out.

    Examples
    --------
    >>> make_tag("drift", "psi", "north/east", "age 30+")
    'drift/psi/north_east/age_30_'
    """
    levels = [_INVALID_TAG_CHARACTERS.sub("_", str(p).replace("/", "_")) for p in parts]
    levels = [level for level in levels if level]
    if not levels:
        raise TensorBoardLogError(
            "make_tag was given no non-empty part; pass at least one word, e.g. make_tag('dp', 'loss')."
        )
    return "/".join(levels)


def require_tensorboard() -> None:
    """Raise :class:`TensorBoardUnavailable` now, before any work, when ``tensorboard`` is missing
    (imports it; call it only when a log was asked for)."""
    _tensorboard()


def _tensorboard() -> tuple[Any, Any, Any]:
    """``(event_pb2, summary_pb2, RecordWriter)`` from the ``tensorboard`` package."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError as exc:
        raise TensorBoardUnavailable(
            f"Writing TensorBoard logs needs the 'tensorboard' package, which is not installed "
            f"({exc.name or 'tensorboard'} could not be imported). Install it with {INSTALL_HINT}, "
            "or leave the TensorBoard option out."
        ) from exc
    return event_pb2, summary_pb2, RecordWriter


def _make_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents, each new one with mode ``0o700``."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(d, 0o700)  # the umask may have removed bits; never added any
    if not path.is_dir():
        raise TensorBoardLogError(f"The 'logdir' of ScalarLog, {path}, exists and is not a directory; "
                                  "give a directory path.")


def _check_suffix(filename_suffix: Any) -> str:
    if not isinstance(filename_suffix, str) or any(c in filename_suffix for c in ("/", "\\", "\0")):
        raise TensorBoardLogError(
            "The 'filename_suffix' parameter of ScalarLog must be a string without '/', '\\' or "
            "NUL (it ends the event file's name); e.g. filename_suffix='.monitor'."
        )
    return filename_suffix


def _open_new_event_file(directory: Path, suffix: str) -> tuple[Path, Any]:
    """A new event file in ``directory`` (never one that exists), opened for binary writing."""
    stem = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for n in range(_MAX_FILE_ATTEMPTS):
        path = directory / f"{stem}.{n}{suffix}"
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        return path, os.fdopen(fd, "wb")
    raise TensorBoardLogError(f"Could not create a new TensorBoard event file in {directory}: "
                              f"{_MAX_FILE_ATTEMPTS} names were taken; use another log directory.")


def _check_step(step: Any) -> int:
    try:
        value = int(step.__index__()) if not isinstance(step, bool) else -1
    except (AttributeError, TypeError):
        value = -1
    if value < 0:
        raise TensorBoardLogError(
            f"The 'step' of a TensorBoard scalar must be a non-negative integer; got "
            f"{type(step).__name__}. Pass the training step or window number, e.g. step=3."
        )
    return value


def _as_float(value: Any, what: str = "A TensorBoard scalar") -> float:
    if isinstance(value, (str, bytes, bool)):
        number = None
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
    if number is None:
        raise TensorBoardLogError(
            f"{what} must be a real number; got {type(value).__name__}. Pass a "
            "float or int (a one-element array or tensor works too)."
        )
    return number


class ScalarLog:
    """Write scalars to a new TensorBoard event file in ``logdir``.

    Parameters
    ----------
    logdir:
        The run's log directory (``tensorboard --logdir`` its parent or itself). Created with
        mode ``0o700`` where missing.
    filename_suffix:
        Appended to the event file's name (e.g. ``".monitor"``); no path separators.

    Raises
    ------
    TensorBoardUnavailable
        ``tensorboard`` is not installed.
    TensorBoardLogError
        A bad ``filename_suffix``.
    OSError
        The directory or the file cannot be created.
    """

    def __init__(self, logdir: str | os.PathLike[str], *, filename_suffix: str = "") -> None:
        suffix = _check_suffix(filename_suffix)
        if not isinstance(logdir, (str, os.PathLike)) or not os.fspath(logdir):
            got = "an empty string" if isinstance(logdir, str) else type(logdir).__name__
            raise TensorBoardLogError(
                f"The 'logdir' parameter of ScalarLog must be a directory path; got {got}. "
                "E.g. logdir='runs/dp'."
            )
        self._event_pb2, self._summary_pb2, record_writer = _tensorboard()
        self.logdir = Path(logdir)
        _make_dirs(self.logdir)
        self.path, handle = _open_new_event_file(self.logdir, suffix)
        self._writer = record_writer(handle)
        #: values skipped because they were not finite (or beyond the 32-bit float range)
        self.skipped = 0
        self._closed = False
        self._write(self._event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"ScalarLog({str(self.logdir)!r}, file={self.path.name!r}, {state})"

    # -- writing ------------------------------------------------------------------------------
    def scalar(self, tag: str, value: Any, step: int, wall_time: float | None = None) -> bool:
        """Log ``value`` under ``tag`` at ``step``; returns ``False`` when it was skipped
        (not finite, or beyond the 32-bit float range) and ``True`` when written."""
        return self.scalars({tag: value}, step, wall_time=wall_time) == 1

    def scalars(self, mapping: Mapping[str, Any], step: int, wall_time: float | None = None) -> int:
        """Log every ``tag: value`` of ``mapping`` at ``step`` in one event; returns how many
        were written (the rest were not finite and were skipped)."""
        self._check_open()
        if not isinstance(mapping, Mapping):
            raise TensorBoardLogError(
                f"ScalarLog.scalars takes a mapping of tag to value; got {type(mapping).__name__}. "
                "E.g. log.scalars({'dp/loss': 0.7}, step=1)."
            )
        step = _check_step(step)
        when = time.time() if wall_time is None else _as_float(wall_time, "The 'wall_time' of a TensorBoard scalar")
        if not math.isfinite(when):
            raise TensorBoardLogError("The 'wall_time' of a TensorBoard scalar must be finite "
                                      "(seconds since the epoch); leave it out for now.")
        values = []
        for tag, value in mapping.items():
            cleaned, number = clean_tag(tag), _as_float(value)
            if not math.isfinite(number) or abs(number) > _FLOAT32_MAX:
                self.skipped += 1
                continue
            values.append(self._summary_pb2.Summary.Value(tag=cleaned, simple_value=number))
        if values:
            summary = self._summary_pb2.Summary(value=values)
            self._write(self._event_pb2.Event(wall_time=when, step=step, summary=summary))
        return len(values)

    def flush(self) -> None:
        """Make everything written so far visible to TensorBoard."""
        if not self._closed:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (idempotent)."""
        if not self._closed:
            self._closed = True
            self._writer.flush()
            self._writer.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> ScalarLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise TensorBoardLogError(
                f"This ScalarLog ({self.path.name}) is closed; open a new ScalarLog to write more."
            )

    def _write(self, event: Any) -> None:
        self._writer.write(event.SerializeToString())
