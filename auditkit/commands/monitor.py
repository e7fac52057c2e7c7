"""``auditkit monitor MONITOR.toml``: follow fairness and drift over time from a prediction log.

Each run counts only the log files (and label files) it has not seen, merges their per-window
counts into the state directory, judges the closed windows with a sequential change detector,
and writes the trend report. Exit status: 0 no active alert of a kind in ``fail_on``; 1 such an
alert (it keeps failing until acknowledged with ``--acknowledge ID`` or retracted by later
data); 2 usage or input error (nothing is committed); 3 internal error or the personal-data guard
refused to write (nothing is committed). Only typer, rich and the standard library are imported
at module level.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from auditkit.commands import _common

_STATUS_STYLE = {"new": "bold red", "open": "red", "retracted": "yellow", "acknowledged": "green"}


def monitor(
    config: Annotated[Path, typer.Argument(help="The monitor.toml describing the log and the rules.",
                                           show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Report directory; default: [report] out "
                                             "next to the config.")] = None,
    format: Annotated[str | None, typer.Option("--format", "-f", help="Comma-separated report formats; "
                                               "default: [report] formats.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result (windows, series, "
                                                  "alerts) as JSON here.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    tensorboard: Annotated[Path | None, typer.Option("--tensorboard", help="Write each window's "
                                                     "statistics as TensorBoard scalars under DIR.")] = None,
    acknowledge: Annotated[list[str] | None, typer.Option("--acknowledge", help="Alert id to mark "
                                                          "acknowledged (repeatable).")] = None,
    close_latest: Annotated[bool, typer.Option("--close-latest", help="Judge the latest window although "
                                               "it may still receive rows.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no table.")] = False,
) -> None:
    """Follow fairness and drift over time; exit 1 while an alert of a failing kind is active."""
    try:
        code = _monitor(config, out, format, json_out, junit, tensorboard, acknowledge or [], close_latest,
                        quiet)
    except Exception as exc:
        raise typer.Exit(_common.report_exception(exc)) from None
    raise typer.Exit(code)


def _monitor(config: Path, out: Path | None, format: str | None, json_out: Path | None, junit: Path | None,
             tensorboard: Path | None, acknowledge: list[str], close_latest: bool, quiet: bool) -> int:
    from auditkit._monitor_config import load_monitor_config
    from auditkit._monitor_setup import check_output_paths, monitor_arguments
    from auditkit.commands._comma_list import parse_list
    from auditkit.config import validate_formats
    from auditkit.fairness import run_monitor

    cfg = load_monitor_config(config)
    if tensorboard is not None:  # before anything is counted: a missing package commits nothing
        from auditkit.tensorboard_log import require_tensorboard

        require_tensorboard()
    formats = validate_formats(parse_list(format)) if format else list(cfg.report.formats)
    out_dir = out if out is not None else cfg.resolve(cfg.report.out)
    args = monitor_arguments(cfg)
    check_output_paths(args, config, files=[*(("--out", out_dir / f"{cfg.report.basename}.{_extension(f)}")
                                               for f in formats),
                                             *((o, p) for o, p in (("--json", json_out), ("--junit", junit))
                                               if p is not None)],
                       directories=[(o, p) for o, p in (("--out", out_dir), ("--tensorboard", tensorboard))
                                    if p is not None])

    def check_outputs(result: Any) -> dict[str, Any]:
        # Runs before the state is committed: a refusal leaves the state as it was.
        return _prepare_outputs(result, cfg, formats, out_dir, json_out, junit, tensorboard is not None)

    with _common.progress_tracker(not quiet) as track:
        run = run_monitor(**args, now=None, close_latest=close_latest, acknowledge=tuple(acknowledge),
                          progress=track, before_commit=check_outputs)
    result = run.result
    _write_outputs(run.prepared)
    if tensorboard is not None:
        _tensorboard(run.prepared["scalars"], tensorboard)
    if not quiet:
        _print(run)
    _warn_not_failing(run.prepared["shown"])
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in run.prepared["annotations"]:
            typer.echo(line)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(run.prepared["markdown"])
    return result.exit_code


def _prepare_outputs(result: Any, cfg: Any, formats: list[str], out_dir: Path, json_out: Path | None,
                     junit: Path | None, tensorboard: bool) -> dict[str, Any]:
    """Render every output, run the personal-data guard over all of them, and keep the bytes;
    nothing is written here."""
    from auditkit._monitor_privacy import guard_outputs, shown_result, tensorboard_scalars
    from auditkit._monitor_report import monitor_report
    from auditkit.reports import render

    shown = shown_result(result, cfg)
    report = monitor_report(shown, config=cfg.model_dump(mode="json", exclude={"base_dir"}))
    rendered = {fmt: render(report, fmt) for fmt in formats}
    prepared = {"report": report, "rendered": rendered, "out_dir": out_dir,
                "basename": cfg.report.basename, "json": (json_out, shown.to_json()),
                "junit": (junit, shown.to_junit()), "annotations": shown.github_annotations(),
                "markdown": shown.to_markdown(), "shown": shown,
                "scalars": list(tensorboard_scalars(shown)) if tensorboard else []}
    guard_outputs(result, cfg, prepared)
    return prepared


def _extension(fmt: str) -> str:
    from auditkit.reports import get_renderer

    return get_renderer(fmt).extension


def _write_outputs(prepared: dict[str, Any]) -> None:
    from auditkit.atomic import atomic_write_bytes, atomic_write_text
    from auditkit.reports import get_renderer

    out_dir: Path = prepared["out_dir"]
    out_dir.mkdir(parents=True, exist_ok=True)
    for fmt, data in prepared["rendered"].items():
        atomic_write_bytes(out_dir / f"{prepared['basename']}.{get_renderer(fmt).extension}", data)
    for path, text in (prepared["json"], prepared["junit"]):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)


def _tensorboard(scalars: list[tuple[str, float, int, float | None]], logdir: Path) -> None:
    """Write the scalars rendered and guarded before the commit."""
    from auditkit.tensorboard_log import ScalarLog

    with ScalarLog(logdir, filename_suffix=".monitor") as log:
        for tag, value, step, wall in scalars:
            log.scalar(tag, value, step, wall_time=wall)


def _print(run: Any) -> None:
    from rich.table import Table

    result = run.prepared["shown"]
    con = _common.console()
    lines = list(run.ingested)
    for line in lines if len(lines) <= 6 else [*lines[:3], f"... and {len(lines) - 3} more file(s)"]:
        con.print(_common.escape(line), soft_wrap=True)
    if not lines:
        con.print("No new file to count; the windows were judged again.")
    alerts = [a for a in result.alerts if a.status != "retracted" or a.changed_run == result.run]
    if alerts:
        table = Table(title=f"Monitor alerts — run {result.run}")
        for col in ("id", "status", "kind", "window", "group", "metric"):
            table.add_column(col, no_wrap=col in ("id", "status"))
        for a in alerts:
            table.add_row(a.id, f"[{_STATUS_STYLE.get(a.status, '')}]{a.status}[/]", a.kind, a.window_label,
                          _common.escape(f"{a.grouping}={a.group}" if a.grouping else "all rows"), a.metric)
        con.print(table)
        for a in alerts:
            con.print(f"[{_STATUS_STYLE.get(a.status, '')}]{a.id}[/]: {_common.escape(a.describe())}", soft_wrap=True)
    judged = sum(1 for w in result.windows if w.closed)
    verdict = "[green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
    con.print(f"Monitor {verdict}: {len(result.windows)} windows ({judged} closed), "
              f"{sum(result.n_streams.values())} streams, {sum(a.active for a in result.alerts)} active alert(s).")


def _warn_not_failing(result: Any) -> None:
    """Say so (on stderr, even with --quiet) when active alerts do not fail the run: their kind is
    not in ``fail_on``."""
    quiet = [a for a in result.alerts if a.active and a.kind not in result.spec.fail_on]
    if quiet:
        kinds = ", ".join(sorted({a.kind for a in quiet}))
        text = (f"{len(quiet)} active alert(s) of kind(s) not in [monitor] fail_on ({kinds}) do not fail the "
                "run; add the kind to fail_on to fail on them, or acknowledge them.")
        _common.err_console().print(f"[yellow]warning:[/] {_common.escape(text)}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("monitor", help="Follow fairness and drift over time from a prediction log (exit 0 no "
                "alert, 1 alert, 2 usage, 3 incomplete).")(monitor)
