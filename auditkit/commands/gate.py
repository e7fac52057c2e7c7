"""``auditkit gate``: fail a CI job when predictions break the fairness thresholds.

Exit status: 0 every threshold passed (or warned), 1 a threshold failed (or had insufficient
evidence with ``fail_on_insufficient_evidence``), 2 usage or input error, 3 internal error (never
0 or 1). Thresholds come from ``--config`` or, by default, ``[tool.auditkit.fairness]`` of
``./pyproject.toml`` or else ``./audit.toml``. An ``audit.toml`` is read as ``auditkit run``
reads it: its ``[checks.fairness]`` options through the fairness check's own options model
(:func:`gate_config_from`), so a missing table or ``thresholds`` key gives run's defaults, and
``[data]`` supplies the label, prediction, score, protected columns, ``positive_label`` and
``favourable_label`` the flags do not give. Only typer, rich and the standard library are
imported at module level; the gate path never imports torch, opacus, shap, lime, weasyprint,
fairlearn or scikit-learn.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditkit.commands import _common

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.config import AuditConfig
    from auditkit.fairness import GateConfig

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "insufficient_evidence": "magenta"}


def _find_config(explicit: Path | None) -> Path:
    from auditkit.errors import ConfigError

    if explicit is not None:
        return explicit  # _load refuses a missing or unreadable one
    py = Path("pyproject.toml")
    if py.is_file() and "[tool.auditkit.fairness]" in py.read_text(encoding="utf-8", errors="replace"):
        return py
    if Path("audit.toml").is_file():
        return Path("audit.toml")
    raise ConfigError(
        "No fairness thresholds found: add a [tool.auditkit.fairness] table to ./pyproject.toml "
        "(thresholds = [\"demographic_parity_ratio >= 0.8\"]), or pass --config with an "
        "audit.toml (its [checks.fairness] options, or auditkit run's defaults)."
    )


def gate_config_from(cfg: AuditConfig, *, source: str = "audit.toml") -> tuple[GateConfig, list[str]]:
    """The gate configuration ``auditkit run`` applies for ``cfg``, and what came from defaults.

    The options are ``cfg.check_options("fairness")``: the ``[checks.fairness]`` table validated
    by the fairness check's options model, with its defaults when the table or a key is absent.
    Every option the gate shares with it is passed on; ``random_state`` falls back to
    ``[audit] random_state`` and ``pos_label``/``favourable_label`` come from ``[data]``, as in
    the run.

    Returns
    -------
    (GateConfig, list of str)
        The configuration, and the options it took from run's defaults (``thresholds`` first
        when the file sets none).
    """
    from auditkit.checks.fairness import gate_config
    from auditkit.fairness import GateConfig

    options = cfg.check_options("fairness")
    fields = type(options).model_fields
    defaults = [k for k in GateConfig.KEYS if k in fields and k not in options.model_fields_set
                and k != "random_state"]
    config = gate_config(cfg, options, pos_label=cfg.data.positive_label,
                         favourable_label=cfg.data.favourable_label, source=source)
    return config, defaults


def _load(path: Path) -> tuple[GateConfig, AuditConfig | None, list[str]]:
    """Gate configuration from a pyproject.toml table or an audit.toml read as ``run`` reads it."""
    from auditkit.config import load_config, parse_config
    from auditkit.errors import ConfigError
    from auditkit.fairness import load_thresholds
    from auditkit.toml_files import read_toml

    raw = read_toml(path, error=ConfigError, what="gate configuration file",
                    fix="Pass --config with a pyproject.toml ([tool.auditkit.fairness]) or an "
                        "audit.toml ([checks.fairness]).")
    if "fairness" in raw.get("tool", {}).get("auditkit", {}):
        return load_thresholds(path), None, []
    if "data" in raw:
        cfg = load_config(path)
    else:  # thresholds only: the same options model, no dataset
        cfg = parse_config({**raw, "data": {"path": ""}}, source=str(path))
    gate_cfg, defaults = gate_config_from(cfg, source=path.name)
    return gate_cfg, (cfg if "data" in raw else None), defaults


def _column(df, name: str, option: str):
    from auditkit.errors import DataError
    from auditkit.hints import did_you_mean

    if name not in df.columns:
        raise DataError(
            f"The {option} column {name!r} is not in the predictions file.{did_you_mean(name, df.columns)} "
            f"Columns: {', '.join(map(str, df.columns))}."
        )
    return df[name]


def gate(
    predictions: Annotated[Path, typer.Argument(help="Predictions file (.csv or .parquet).",
                                                show_default=False)],
    label: Annotated[str | None, typer.Option("--label", help="Column of true labels (default: "
                                              "[data] label of an audit.toml --config).")] = None,
    pred: Annotated[str | None, typer.Option("--pred", help="Column of predicted labels (default: "
                                             "[data] prediction).")] = None,
    sensitive: Annotated[str | None, typer.Option("--sensitive", help="Protected attribute columns, "
                                                  "comma-separated (default: [data] protected).")] = None,
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

    from auditkit._io import load_table
    from auditkit.commands._comma_list import parse_list
    from auditkit.errors import DataError
    from auditkit.fairness import audit, evaluate_gate

    source = _find_config(config)
    cfg, audit_cfg, defaults = _load(source)
    if mode is not None:
        if mode not in ("point", "ci"):
            raise DataError(f"--mode must be 'point' or 'ci'; got {mode!r}.")
        cfg = dataclasses.replace(cfg, mode=mode)
    _say_defaults(cfg, defaults, source)
    data = audit_cfg.data if audit_cfg is not None else None
    label = _role(label, data.label if data else None, "--label", "label")
    pred = _role(pred, data.prediction if data else None, "--pred", "prediction")
    sensitive = sensitive or (",".join(data.protected) if data else "")
    attrs = parse_list(sensitive) or []
    if not attrs:
        raise DataError("--sensitive names no column; pass e.g. --sensitive sex,race "
                        "(or list [data] protected in the audit.toml given with --config).")
    loaded = load_table(predictions, what="predictions file",  # malformed files: one message
                        **_layout(predictions, source, data))
    for notice in loaded.notices:  # names and positions only, never values
        typer.echo(notice, err=True)
    df = loaded.frame
    if score is None and data is not None and data.score in df.columns:
        score = data.score
    sf, hidden = _groups(df[[c for c in attrs if _column(df, c, "--sensitive") is not None]], data)
    y_true = _column(df, label, "--label")
    y_pred = _column(df, pred, "--pred")
    y_score = _column(df, score, "--score") if score else None
    kwargs = cfg.audit_kwargs()
    if pos_label is not None:
        kwargs["pos_label"] = _coerce(pos_label, y_true)
    # a text label beside 0/1 predictions is recoded into the predictions' values, as in `run`
    from auditkit._outcomes import resolve_outcomes

    outcomes = resolve_outcomes(
        _values(y_true), _values(y_pred), positive_label=kwargs.get("pos_label"),
        favourable_label=kwargs.get("favourable_label"), label_name=label, prediction_name=pred)
    if outcomes.recoded:
        y_true = outcomes.y_true
        kwargs.update(pos_label=outcomes.positive, favourable_label=outcomes.favourable)
    result = audit(y_true, y_pred, sf, y_score=y_score, **kwargs)
    report = evaluate_gate(result, cfg)
    _refuse_leaks(report, df, hidden | (set(data.personal if data else ()) - set(attrs)))
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


def _groups(sf: Any, data: Any) -> tuple[Any, set[str]]:
    """The sensitive columns as every output of the gate shows them, and the columns
    relabelled: category labels as they are, any other column "group 1".."group k" by the
    decision ``auditkit run`` takes (:func:`auditkit._personal.labels_to_pseudonymise`), with
    the ``[data] personal`` and ``protected`` of an audit.toml ``--config``."""
    from auditkit._personal import (
        PersonalDataClassification,
        labels_to_pseudonymise,
        pseudonymise_labels,
    )

    columns = [str(c) for c in sf.columns]
    classification = PersonalDataClassification.from_inventory(
        None, declared=[c for c in (data.personal if data else ()) if c in columns],
        protected=columns, columns=columns)
    hidden = labels_to_pseudonymise(sf, classification)
    return pseudonymise_labels(sf, hidden), set(hidden)


def _refuse_leaks(report: Any, df: Any, columns: set[str]) -> None:
    """Raise before anything is written when an output of the gate (table, messages, GitHub
    annotations, step summary, JUnit, JSON) holds a raw value of ``columns``: the relabelled
    sensitive columns and the other columns of ``[data] personal``."""
    from auditkit._redact import PersonalValueIndex
    from auditkit.errors import PersonalDataLeakError

    index = PersonalValueIndex.from_frame(df, sorted(c for c in columns if c in df.columns))
    text = "\n".join([report.to_markdown(), report.to_json(), report.to_junit(),
                      *report.github_annotations()])
    leaked = index.find(text)
    if leaked:
        raise PersonalDataLeakError(
            f"Refusing to write the gate's outputs: they hold raw values of personal data from "
            f"column(s) {', '.join(leaked)}. Nothing was written. If the column is not personal "
            "data, remove it from [data] personal; otherwise run with --debug and report it.")


def _role(given: str | None, configured: str | None, option: str, key: str) -> str:
    from auditkit.errors import DataError

    if given:
        return given
    if configured:
        return configured
    raise DataError(f"{option} is missing: name the column, or pass --config with an audit.toml "
                    f"whose [data] {key} names it.")


def _layout(predictions: Path, source: Path, data: Any) -> dict[str, Any]:
    """Read the audit's own dataset as ``run`` does ([data] format, header, skip_lines)."""
    if data is None:
        return {}
    own = Path(data.path) if Path(data.path).is_absolute() else source.parent / data.path
    if not own.exists() or own.resolve() != predictions.resolve():
        return {}
    return {"fmt": data.format, "header": data.header, "skip_lines": data.skip_lines}


def _say_defaults(cfg: GateConfig, defaults: list[str], source: Path) -> None:
    if "thresholds" not in defaults:
        return
    listing = ", ".join(str(t) for t in cfg.thresholds)
    _common.err_console().print(_common.escape(
        f"{source.name} sets no fairness thresholds ([checks.fairness] thresholds); "
        f"applying auditkit run's defaults: {listing}."), soft_wrap=True)


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
            con.print(f"[{_STYLE[o.status]}]{o.status}[/]: {_common.escape(o.message)}")
    verdict = "[green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    con.print(f"Fairness gate {verdict}")


def register(app: typer.Typer) -> None:
    app.command("gate", help="Check predictions against fairness thresholds (exit 0 pass, 1 fail, "
                "2 usage).")(gate)


def _values(column):
    """A column (Series or array) as a numpy array."""
    return column.to_numpy() if hasattr(column, "to_numpy") else column
