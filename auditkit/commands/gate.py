"""``auditkit gate``: fail a CI job when predictions break the fairness thresholds.

Exit status: 0 every threshold passed (or warned), 1 a threshold failed (or had insufficient
evidence with ``fail_on_insufficient_evidence``), 2 usage or input error, 3 internal error (never
0 or 1). Thresholds come from
``--config`` or, by default, ``[tool.auditkit.fairness]`` of ``./pyproject.toml`` or
``[checks.fairness]`` of ``./audit.toml``. Only typer, rich and the standard library are imported
at module level; the gate path never imports torch, opacus, shap, lime, weasyprint or fairlearn.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from auditkit.commands import _common

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "insufficient_evidence": "magenta"}


def _find_config(explicit: Path | None) -> Path:
    from auditkit.errors import ConfigError

    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"The gate configuration '{explicit}' does not exist.")
        return explicit
    for name, marker in (("pyproject.toml", "[tool.auditkit.fairness]"),
                         ("audit.toml", "[checks.fairness]")):
        p = Path(name)
        if p.is_file() and marker in p.read_text(encoding="utf-8", errors="replace"):
            return p
    raise ConfigError(
        "No fairness thresholds found: add a [tool.auditkit.fairness] table to ./pyproject.toml "
        "(thresholds = [\"demographic_parity_ratio >= 0.8\"]) or pass --config FILE."
    )


def _column(df, name: str, option: str):
    from auditkit.errors import DataError, suggest

    if name not in df.columns:
        raise DataError(
            f"The {option} column {name!r} is not in the predictions file.{suggest(name, df.columns)} "
            f"Columns: {', '.join(map(str, df.columns))}."
        )
    return df[name]


def gate(
    predictions: Annotated[Path, typer.Argument(help="Predictions file (.csv or .parquet).",
                                                show_default=False)],
    label: Annotated[str, typer.Option("--label", help="Column of true labels.")],
    pred: Annotated[str, typer.Option("--pred", help="Column of predicted labels.")],
    sensitive: Annotated[str, typer.Option("--sensitive",
                                           help="Protected attribute columns, comma-separated.")],
    score: Annotated[str | None, typer.Option("--score", help="Column of positive-class scores "
                                              "(enables ROC AUC and calibration thresholds).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="pyproject.toml or audit.toml "
                                                "holding the thresholds.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="point or ci (default: the config's, "
                                             "else ci).")] = None,
    pos_label: Annotated[str | None, typer.Option("--pos-label", help="Value of the favourable "
                                                  "outcome when labels are not 0/1.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the verdicts as JSON.")] = None,
) -> None:
    """Check predictions against fairness thresholds; exit 1 when one fails."""
    try:
        code = _gate(predictions, label, pred, sensitive, score, config, mode, pos_label, junit,
                     json_out)
    except Exception as exc:  # one line, exit 2 for user errors
        raise typer.Exit(_common.report_exception(exc)) from None
    raise typer.Exit(code)


def _gate(predictions, label, pred, sensitive, score, config, mode, pos_label, junit, json_out) -> int:
    import dataclasses

    from auditkit._io import read_table
    from auditkit.errors import DataError
    from auditkit.fairness import audit, evaluate_gate, load_thresholds

    cfg = load_thresholds(_find_config(config))
    if mode is not None:
        if mode not in ("point", "ci"):
            raise DataError(f"--mode must be 'point' or 'ci'; got {mode!r}.")
        cfg = dataclasses.replace(cfg, mode=mode)
    attrs = [s.strip() for s in sensitive.split(",") if s.strip()]
    if not attrs:
        raise DataError("--sensitive names no column; pass e.g. --sensitive sex,race.")
    df = read_table(predictions, what="predictions file")  # malformed files: one message
    sf = df[[c for c in attrs if _column(df, c, "--sensitive") is not None]]
    # Names, ids or more than 50 distinct values are not category labels: such a column's
    # groups are shown as "group 1".."group k" in every output of the gate.
    from auditkit._personal import labels_to_pseudonymise, pseudonymise_labels

    sf = pseudonymise_labels(sf, labels_to_pseudonymise(sf))
    y_true = _column(df, label, "--label")
    y_pred = _column(df, pred, "--pred")
    y_score = _column(df, score, "--score") if score else None
    pl = cfg.pos_label if pos_label is None else _coerce(pos_label, y_true)
    result = audit(y_true, y_pred, sf, y_score=y_score, n_boot=cfg.n_boot if cfg.mode == "ci" else 0,
                   ci=cfg.ci, min_group_size=cfg.min_group_size, intersectional=cfg.intersectional,
                   random_state=cfg.random_state, pos_label=pl)
    report = evaluate_gate(result, cfg)
    _print_table(report)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in report.github_annotations():
            typer.echo(line)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(report.to_markdown())
    if junit is not None:
        junit.write_text(report.to_junit(), encoding="utf-8")
    if json_out is not None:
        json_out.write_text(report.to_json(), encoding="utf-8")
    return report.exit_code


def _coerce(value: str, column) -> object:
    """``--pos-label`` typed like the label column (``1`` stays an int for an int column)."""
    kind = getattr(column.dtype, "kind", "O")
    try:
        if kind in "iu":
            return int(value)
        if kind == "f":
            return float(value)
        if kind == "b":
            return value.lower() in ("1", "true", "yes")
    except ValueError:
        pass
    return value


def _print_table(report) -> None:
    from rich.table import Table

    def fmt(x: float) -> str:
        return "n/a" if x != x else f"{x:.3f}"

    table = Table(title=f"Fairness gate — {report.n_rows:,} rows, mode {report.mode}, "
                        f"{report.ci:.0%} intervals")
    for col in ("Threshold", "Worst grouping", "Value", "Interval", "Status"):
        table.add_column(col, justify="right" if col in ("Value", "Interval") else "left")
    for o in report.outcomes:
        table.add_row(o.name, o.grouping or "", fmt(o.value), f"[{fmt(o.ci_low)}, {fmt(o.ci_high)}]",
                      f"[{_STYLE[o.status]}]{o.status}[/]")
    con = _common.console()
    con.print(table)
    for o in report.outcomes:
        if o.status != "pass":
            con.print(f"[{_STYLE[o.status]}]{o.status}[/]: {_escape(o.message)}")
    verdict = "[green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    con.print(f"Fairness gate {verdict}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def register(app: typer.Typer) -> None:
    app.command("gate", help="Check predictions against fairness thresholds (exit 0 pass, 1 fail, "
                "2 usage).")(gate)
