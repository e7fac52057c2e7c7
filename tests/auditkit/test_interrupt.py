"""Ctrl-C during a run: one Python swallows still stops the run at the next safe point; one
held over a block arrives after it; an ignored or foreign SIGINT handler is left alone."""

from __future__ import annotations

import signal
import sys
import weakref

import pytest

from auditkit._interrupt import interrupt_held, noting_interrupts, raise_if_interrupted


@pytest.fixture(autouse=True)
def _python_handles_sigint():
    """Python's own SIGINT handler, as in a terminal: a test run started in the background (as
    CI's harness starts it) has SIGINT ignored, which the run then leaves alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Obj:
    pass


def _swallowed_ctrl_c() -> None:
    """SIGINT delivered inside a weak-reference callback, where Python ignores exceptions."""
    obj = _Obj()
    ref = weakref.ref(obj, lambda _ref: signal.raise_signal(signal.SIGINT))
    del obj  # the callback runs here; its KeyboardInterrupt is printed and dropped
    assert ref() is None


def test_a_swallowed_ctrl_c_is_raised_at_the_next_safe_point(capsys) -> None:
    seen: list = []
    record = seen.append
    hook = sys.unraisablehook
    sys.unraisablehook = record
    try:
        with noting_interrupts():
            _swallowed_ctrl_c()  # nothing raised here, and no "Exception ignored" traceback
            with pytest.raises(KeyboardInterrupt):
                raise_if_interrupted()
        assert seen == []
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert sys.unraisablehook is record
        raise_if_interrupted()  # forgotten once the run is over
    finally:
        sys.unraisablehook = hook


def test_ctrl_c_raises_at_once_as_usual() -> None:
    with noting_interrupts():
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()


def test_a_held_ctrl_c_arrives_after_the_block() -> None:
    done = []
    with noting_interrupts():
        with pytest.raises(KeyboardInterrupt):
            with interrupt_held():
                signal.raise_signal(signal.SIGINT)
                done.append("the block ran to its end")
        assert done == ["the block ran to its end"]
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()


@pytest.mark.parametrize("handler", [signal.SIG_IGN, "custom"])
def test_an_ignored_or_foreign_handler_is_left_alone(handler) -> None:
    seen = []
    installed = (lambda signum, frame: seen.append(signum)) if handler == "custom" else handler
    previous = signal.signal(signal.SIGINT, installed)
    try:
        with noting_interrupts(), interrupt_held():
            assert signal.getsignal(signal.SIGINT) is installed
            signal.raise_signal(signal.SIGINT)
        raise_if_interrupted()
        assert seen == ([signal.SIGINT] if handler == "custom" else [])
    finally:
        signal.signal(signal.SIGINT, previous)
