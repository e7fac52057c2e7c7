"""Ctrl-C during a run: one Python swallows still stops the run at the next safe point; one
held over a block arrives after it; an ignored or foreign SIGINT handler is left alone; one the
program handled never turns ``python -m``'s exit status into death by SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
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


# -- a handled Ctrl-C under ``python -m``: the exit status chosen, not death by SIGINT -----------
#
# CPython flags a KeyboardInterrupt that leaves code ``exec``/``eval`` ran from a string
# (dataclasses and namedtuple build their methods so, at every import) and, under ``python -m``,
# kills the process by SIGINT at exit even though the program caught it (status -2, no output).

STRING_CODE_CTRL_C = 'exec("import signal; signal.raise_signal(signal.SIGINT)", {})'


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_module(folder, name: str, source: str) -> subprocess.CompletedProcess[str]:
    """``python -m name`` in ``folder``, with Ctrl-C's default action (a test run started in
    the background, as CI's harness starts it, has SIGINT ignored, which children inherit)."""
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", name],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_default_sigint,
    )


def test_a_ctrl_c_from_string_code_noted_and_caught_keeps_the_exit_status(tmp_path) -> None:
    proc = _run_module(
        tmp_path,
        "noted_probe",
        f"""
        import sys
        from auditkit._interrupt import noting_interrupts
        try:
            with noting_interrupts():
                {STRING_CODE_CTRL_C}
        except KeyboardInterrupt:
            sys.exit(7)
        """,
    )
    assert proc.returncode == 7, proc.stderr


@pytest.mark.parametrize("where", ["load_config", "build_context"])
def test_the_cli_exits_130_after_a_ctrl_c_in_string_code(tmp_path, audit_dir, where) -> None:
    """Ctrl-C while code from a string runs, before the run notes interrupts (loading the
    config) and while it does (reading the data): exit status 130, no traceback, no report."""
    proc = _run_module(
        tmp_path,
        "cli_probe",
        f"""
        import auditkit.runner as runner
        from auditkit.cli import main

        original = runner.{where}

        def interrupted(*args, **kwargs):
            {STRING_CODE_CTRL_C}
            return original(*args, **kwargs)

        runner.{where} = interrupted
        raise SystemExit(main(["run", {str(audit_dir / "audit.toml")!r}]))
        """,
    )
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (audit_dir / "out").exists()


def test_a_ctrl_c_pending_as_the_block_ends_is_raised_and_the_handler_restored(monkeypatch) -> None:
    """``signal.signal`` first runs the handlers of signals already received, and changes
    nothing when one raises: the handler and the unraisable hook are still restored."""
    real = signal.signal
    calls = []

    def pending_first(signum, handler):
        calls.append(handler)
        if len(calls) == 2:  # the restore: a Ctrl-C received just before it
            raise KeyboardInterrupt
        return real(signum, handler)

    hook = sys.unraisablehook
    monkeypatch.setattr(signal, "signal", pending_first)
    with pytest.raises(KeyboardInterrupt):
        with noting_interrupts():
            pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert sys.unraisablehook is hook
    raise_if_interrupted()
