"""Ctrl-C during ``auditkit run``: raised as usual, and remembered.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT
arrives. When that is inside a weak-reference or garbage-collection callback, or a ``__del__``
(Dask, pandas and Arrow run such code often), Python prints "Exception ignored" with a
traceback and carries on, and the run would finish as if Ctrl-C had not been pressed. While
:func:`noting_interrupts` is in force, each Ctrl-C is also remembered (and such a swallowed one
is not printed), and :func:`raise_if_interrupted`, called at points
where stopping is safe (between partitions, between checks, before the report is moved into
place), raises it again. :func:`interrupt_held` holds Ctrl-C back over a block that must not be
left half-done. Only Python's own handler is ever replaced, and only from the main thread: an
ignored SIGINT stays ignored, and a handler of the caller's stays in place.

A Ctrl-C that was handled must not kill the process at exit: see
:func:`forget_handled_interrupt`, which :func:`noting_interrupts` and the CLI call.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["forget_handled_interrupt", "interrupt_held", "noting_interrupts",
           "raise_if_interrupted"]

_pending = threading.Event()


def _note(signum: int, frame: Any) -> None:
    _pending.set()
    raise KeyboardInterrupt


def _ours() -> bool:
    """Whether this thread may, and should, handle SIGINT here."""
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _note))


def forget_handled_interrupt() -> bool:
    """Keep a Ctrl-C that was handled from ending ``python -m ...`` by SIGINT at exit; return
    whether a Ctrl-C arrived meanwhile (then handle it as one: the caller did not see it).

    CPython sets a process-wide flag when a ``KeyboardInterrupt`` leaves code that
    ``exec``/``eval`` ran from a string (``PyRun_String``), even when a caller catches it later;
    under ``python -m`` (not a console script), the interpreter then ends the process, after
    its cleanup and its output, by sending itself SIGINT with the default action: killed by the
    signal (status -2 to ``subprocess``), whatever exit status the program chose, with nothing
    printed. Such code runs all the time: ``dataclasses`` and ``collections.namedtuple`` build
    their methods with it (``import distributed`` does so hundreds of times), so a Ctrl-C
    while the Dask cluster starts lands there now and then. Each string ``exec`` clears the
    flag before it runs, so an empty one clears it (CPython 3.8 to 3.13).
    """
    interrupted = False
    for _ in range(100):  # a Ctrl-C inside the exec itself sets the flag again: once more
        try:
            exec("", {})  # see above: the one reset of the flag Python code can reach
        except KeyboardInterrupt:
            interrupted = True
        else:
            break
    return interrupted


def _set_handler(handler: Any) -> bool:
    """``signal.signal(SIGINT, handler)``; return whether a Ctrl-C's handler raised first.

    ``signal.signal`` runs the handlers of signals already received before it changes the
    handler, and when one raises (``_note``), it changes nothing: it is then called again."""
    interrupted = False
    for _ in range(100):
        try:
            signal.signal(signal.SIGINT, handler)
        except KeyboardInterrupt:
            interrupted = True
        else:
            break
    return interrupted


@contextlib.contextmanager
def noting_interrupts() -> Iterator[None]:
    """Remember every Ctrl-C of the block (see the module docstring)."""
    if not _ours():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    previous_hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        """A swallowed Ctrl-C is noted (raised again later), not printed as a traceback."""
        if not (isinstance(info.exc_type, type) and issubclass(info.exc_type, KeyboardInterrupt)):
            previous_hook(info)

    _pending.clear()
    signal.signal(signal.SIGINT, _note)
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        interrupted = _set_handler(previous)
        sys.unraisablehook = previous_hook
        _pending.clear()
        if forget_handled_interrupt() or interrupted:
            raise KeyboardInterrupt  # a Ctrl-C as the block ended: still one


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed and Python swallowed it."""
    if _pending.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def interrupt_held() -> Iterator[None]:
    """Ctrl-C held back until the block has finished, then raised (and remembered)."""
    if not _ours():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        held.append(signum)
        _pending.set()

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt
