"""The ``auditkit`` command line.

Commands live in ``auditkit.commands``, one module per group, each with ``register(app)``.
Exit status: 0 success (no failing finding), 1 a finding failed (or an internal error),
2 usage or input error. Errors print one line; ``--debug`` (anywhere on the line) adds the
traceback. Only typer, rich and the standard library are imported to build the help.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from auditkit import __version__
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
    """Entry point of the ``auditkit`` script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        _common.state.debug = True
        args = [a for a in args if a != "--debug"]
    _load_commands()
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="auditkit", standalone_mode=False)
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


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
