"""Shared pieces of the CLI commands: consoles, error reporting, progress."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

T = TypeVar("T")

__all__ = ["console", "err_console", "escape", "progress_tracker", "report_exception", "state",
           "sweep_leftovers"]


@dataclass
class _State:
    debug: bool = False


state = _State()


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def report_exception(exc: BaseException) -> int:
    """Print ``exc`` as one line (traceback with --debug) and return the exit status."""
    from auditkit.errors import is_user_error

    err = err_console()
    if state.debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    from auditkit.errors import ExitCode, PersonalDataLeakError

    if is_user_error(exc):
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        return ExitCode.USAGE
    if isinstance(exc, PersonalDataLeakError):  # its message names columns, never values
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        return ExitCode.INCOMPLETE
    # An unexpected exception's text can quote whatever it was handed (a library quoting a row):
    # only its type is shown unless --debug asks for everything.
    err.print(
        f"[bold red]internal error:[/] {type(exc).__name__}"
        + ("" if state.debug else ". Run again with --debug for the message and the traceback.")
    )
    return ExitCode.INCOMPLETE


def escape(text: str) -> str:
    """``text`` with Rich markup escaped, to print a message that may hold brackets."""
    from rich.markup import escape

    return escape(text)


def sweep_leftovers(*paths: Path) -> None:
    """Remove what killed auditkit writers left beside ``paths`` (see ``sweep_stale``); say so."""
    from auditkit.atomic import sweep_stale

    for directory in dict.fromkeys(p.parent for p in paths):
        removed = sweep_stale(directory)
        if removed:
            err_console().print(
                f"Removed {len(removed)} temporary file(s) left in '{directory}' by an "
                "interrupted auditkit command.",
                highlight=False,
                markup=False,
            )


@contextmanager
def progress_tracker(enabled: bool = True) -> Iterator[Any]:
    """A ``track(items, description, total)`` function drawing a Rich progress bar on stderr.

    Descriptions are step names chosen by the toolkit; they never carry data values.
    """
    if not enabled:
        def plain(items: Iterable[T], description: str = "", total: int | None = None,
                  status: Callable[[T], str] | None = None) -> Iterator[T]:
            yield from items

        yield plain
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=err_console(),
        transient=False,
    )

    def track(items: Iterable[T], description: str = "", total: int | None = None,
              status: Callable[[T], str] | None = None) -> Iterator[T]:
        """Each item of ``items`` in turn, advancing a bar; ``status(item)``, when given, is
        shown beside it once the item is done (counts and rates, never data values)."""
        seq = list(items) if total is None else items
        n = total if total is not None else len(seq)  # type: ignore[arg-type]
        task = progress.add_task(description, total=n, status="")
        for item in seq:
            yield item
            progress.update(task, advance=1, status=status(item) if status is not None else "")

    with progress:
        yield track


#: The ``--trust-store`` option of ``verify``, ``keys trust`` and ``keys trusted``.
TrustStoreOption = Annotated[
    Path | None,
    typer.Option(
        "--trust-store",
        help="Trusted keys file (default: $AUDITKIT_TRUST_STORE, else "
        "$XDG_CONFIG_HOME/auditkit/trusted_keys.toml); see `auditkit keys trust`.",
        show_default=False,
    ),
]
