"""The ``auditkit`` command line.

Commands live in ``auditkit.commands``, one module per group, each with ``register(app)``.
Exit status: 0 success (no failing finding), 1 a finding failed (or an internal error),
2 usage or input error. Errors print one line; ``--debug`` (anywhere on the line) adds the
traceback. Only typer, rich and the standard library are imported to build the help.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence

import typer

from auditkit import __version__
from auditkit._interrupt import forget_handled_interrupt
from auditkit.commands import _common
from auditkit.registry import import_submodules

__all__ = ["app", "main"]

app = typer.Typer(
    name="auditkit",
    help="Responsible-AI audits: fairness, privacy, security and transparency evidence, "
    "mapped to GDPR and CCPA, as HTML, Markdown, JSON and PDF reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditkit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Print tracebacks for errors (may also be given after the command)."
    ),
) -> None:
    """Responsible-AI audits mapped to GDPR and CCPA."""
    if debug:
        _common.state.debug = True


_loaded = False


def _load_commands() -> None:
    global _loaded
    if _loaded:
        return
    import auditkit.commands as pkg

    for module in import_submodules(pkg):
        module.register(app)
    _loaded = True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``auditkit`` script; returns the exit status.

    A Ctrl-C the command handled (exit status 130) must not kill ``python -m auditkit`` by
    SIGINT at exit instead: see :func:`auditkit._interrupt.forget_handled_interrupt`.
    """
    status = _dispatch(argv)
    if forget_handled_interrupt():  # a Ctrl-C just now: interrupted all the same
        return 130
    return status


def _dispatch(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        _common.state.debug = True
        args = [a for a in args if a != "--debug"]
    _load_commands()
    command = typer.main.get_command(app)
    try:
        with _trail_session(command, args) as session:
            rv = command.main(args=args, prog_name="auditkit", standalone_mode=False)
            session.exit_code = rv if isinstance(rv, int) else 0
    except KeyboardInterrupt:
        _common.err_console().print("Interrupted; no partial output was kept.")
        return 130
    except Exception as exc:
        # Click's exceptions (vendored by recent typer releases, so matched by shape): usage
        # errors show themselves and carry their exit status (2).
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            _common.err_console().print("Aborted.")
            return 130
        return _common.report_exception(exc)
    return rv if isinstance(rv, int) else 0


class _NoSession:
    exit_code: int | None = None


@contextlib.contextmanager
def _trail_session(command: typer.core.TyperGroup, args: list[str]) -> Iterator[object]:
    """Every command run appends to the audit trail: one session, sealed when it ends.

    Help, version and a bare ``auditkit`` write nothing. The principal is the identity named by
    ``$AUDITKIT_IDENTITY`` (its passphrase in ``$AUDITKIT_IDENTITY_PASSPHRASE``) when set; commands
    that open a key ring bind the ring's principal; otherwise the OS user, unauthenticated.
    """
    name = _command_name(command, args)
    if name is None:
        yield _NoSession()
        return
    from auditkit._run_trail import bind_identity_from_env
    from auditkit.privacy import trail

    previous = trail.enforcer()  # a policy a command puts in force ends with it
    try:
        with trail.command(name) as session:
            bind_identity_from_env()
            yield session
    finally:
        trail.set_enforcer(previous)


def _command_name(command: typer.core.TyperGroup, args: list[str]) -> str | None:
    """``"keys rotate"`` for ``auditkit keys rotate ...``; None for help, version and no command."""
    if not args or any(a in ("-h", "--help", "--version", "-V") for a in args):
        return None
    words: list[str] = []
    group: object = command
    for arg in args:
        if arg.startswith("-"):
            break
        sub = getattr(group, "commands", {}).get(arg)
        if sub is None:
            break
        words.append(arg)
        group = sub
    return " ".join(words) or None


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
