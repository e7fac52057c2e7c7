"""``auditkit compare``: is a new model worse than the old one for some group?

Both models' predictions for the same rows come from one file (``--baseline`` and
``--candidate`` columns), or the candidate's from a second file joined by ``--id`` (every id
exactly once on both sides; a mismatch is refused with counts, never ids). The comparison is
:func:`auditkit.fairness.compare`: paired-bootstrap intervals of every group metric's change and
a one-sided test per group and metric, corrected for the family (Holm or Benjamini–Hochberg).

Exit status as ``auditkit gate``: 0 no group is worse, 1 a group is worse, 2 usage or input error
(one line; ``--debug`` shows the traceback), 3 internal error or the personal-data guard refused
to write. With ``--config`` an ``audit.toml`` gives what the flags do not: ``[data]`` label,
prediction (the baseline), protected, positive_label, favourable_label and personal, and the
evidence bar and seed of ``[checks.fairness]`` as ``auditkit gate`` reads them. Only typer,
rich and the standard library are imported at module level.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from auditkit.commands import _common

_Opt = typer.Option


def compare(
    predictions: Annotated[Path, typer.Argument(help="Predictions file (.csv or .parquet) with the label, "
                                                "the protected columns and the baseline's predictions.",
                                                show_default=False)],
    label: Annotated[str | None, _Opt("--label", help="Column of true labels (default: [data] label "
                                      "of --config).")] = None,
    baseline: Annotated[str | None, _Opt("--baseline", help="Column of the baseline model's predictions "
                                         "(default: [data] prediction of --config).")] = None,
    candidate: Annotated[str | None, _Opt("--candidate", help="Column of the candidate model's "
                                          "predictions (in --candidate-file when given).")] = None,
    sensitive: Annotated[str | None, _Opt("--sensitive", help="Protected attribute columns, "
                                          "comma-separated (default: [data] protected).")] = None,
    candidate_file: Annotated[Path | None, _Opt("--candidate-file", help="A second file holding the "
                                                "candidate's predictions, joined on --id.")] = None,
    id_column: Annotated[str | None, _Opt("--id", help="Column of row ids in both files (with "
                                          "--candidate-file).")] = None,
    config: Annotated[Path | None, _Opt("--config", help="audit.toml: [data] roles and the evidence "
                                        "bar of [checks.fairness].")] = None,
    metrics: Annotated[str | None, _Opt("--metrics", help="Metrics to compare, comma-separated "
                                        "(default: selection rate, TPR, FPR, PPV, NPV, accuracy, "
                                        "balanced accuracy, F1).")] = None,
    correction: Annotated[str, _Opt("--correction", help="holm (family-wise error) or bh "
                                    "(Benjamini-Hochberg, false discovery rate).")] = "holm",
    alpha: Annotated[float, _Opt("--alpha", help="Level of the verdict.")] = 0.05,
    tolerance: Annotated[float, _Opt("--tolerance", help="How much worse a metric may get before "
                                     "it counts.")] = 0.0,
    n_boot: Annotated[int, _Opt("--n-boot", help="Paired-bootstrap draws.")] = 2000,
    seed: Annotated[int | None, _Opt("--seed", help="Bootstrap seed (default: [checks.fairness] "
                                     "random_state, else 0).")] = None,
    pos_label: Annotated[str | None, _Opt("--pos-label", help="Value of the positive class when "
                                          "labels are not 0/1.")] = None,
    json_out: Annotated[Path | None, _Opt("--json", help="Write the comparison as JSON.")] = None,
    junit: Annotated[Path | None, _Opt("--junit", help="Write JUnit XML here.")] = None,
) -> None:
    """Compare two models' predictions group by group; exit 1 when the candidate is worse for a group."""
    args = {"predictions": predictions, "label": label, "baseline": baseline, "candidate": candidate,
            "sensitive": sensitive, "candidate_file": candidate_file, "id_column": id_column,
            "config": config, "metrics": metrics, "correction": correction, "alpha": alpha,
            "tolerance": tolerance, "n_boot": n_boot, "seed": seed, "pos_label": pos_label,
            "json_out": json_out, "junit": junit}
    try:
        code = _compare(args)
    except Exception as exc:  # one line, exit 2 for user errors
        raise typer.Exit(_common.report_exception(exc)) from None
    raise typer.Exit(code)


def _settings(config: Path | None) -> tuple[Any, dict[str, Any]]:
    """``[data]`` of an audit.toml and the evidence bar and seed of its ``[checks.fairness]``."""
    if config is None:
        return None, {}
    from auditkit.commands.gate import gate_config_from
    from auditkit.config import load_config
    from auditkit.errors import ConfigError

    cfg = load_config(config)
    if cfg.data is None:  # pragma: no cover - the config model requires [data]
        raise ConfigError(f"{config} has no [data] table; compare reads the roles of columns there.")
    gate_cfg, _ = gate_config_from(cfg, source=config.name)
    return cfg.data, {"min_group_size": gate_cfg.min_group_size, "min_denominator": gate_cfg.min_denominator,
                      "intersectional": gate_cfg.intersectional, "random_state": gate_cfg.random_state}


def _compare(a: dict[str, Any]) -> int:
    from auditkit.commands._comma_list import parse_list
    from auditkit.commands.gate import _column, _groups, _layout, _role
    from auditkit.errors import DataError
    from auditkit.fairness import compare

    data, options = _settings(a["config"])
    label = _role(a["label"], data.label if data else None, "--label", "label")
    base = _role(a["baseline"], data.prediction if data else None, "--baseline", "prediction")
    if not a["candidate"]:
        raise DataError("--candidate is missing: name the column of the candidate model's predictions.")
    attrs = parse_list(a["sensitive"] or (",".join(data.protected) if data else "")) or []
    if not attrs:
        raise DataError("--sensitive names no column; pass e.g. --sensitive sex,race "
                        "(or list [data] protected in the audit.toml given with --config).")
    df = _read(a["predictions"], "predictions file", a["id_column"],
               _layout(a["predictions"], a["config"], data) if data is not None else {})
    cand_name = a["candidate"]
    if a["candidate_file"] is not None:
        df, cand_name = _join(df, a["candidate_file"], a["id_column"], cand_name)
    elif a["id_column"] is not None:
        raise DataError("--id joins a second file: pass --candidate-file with it, or drop --id.")
    sf, hidden = _groups(df[[c for c in attrs if _column(df, c, "--sensitive") is not None]], data)
    y_true, pos, fav = _outcomes(df, label, base, cand_name, a["pos_label"], data)
    options.setdefault("random_state", 0)
    if a["seed"] is not None:
        options["random_state"] = a["seed"]
    result = compare(
        y_true, _column(df, base, "--baseline").to_numpy(), _column(df, cand_name, "--candidate").to_numpy(),
        sf, metrics=parse_list(a["metrics"]), n_boot=a["n_boot"], alpha=a["alpha"],
        correction=a["correction"], tolerance=a["tolerance"], pos_label=pos, favourable_label=fav,
        names=(base, a["candidate"]) if base != a["candidate"] else ("baseline", "candidate"), **options)
    _refuse_leaks(result, df, hidden | (set(data.personal if data else ()) - set(attrs)))
    _print(result)
    _publish(result, a["json_out"], a["junit"])
    return result.exit_code


def _read(path: Path, what: str, id_column: str | None, layout: dict[str, Any]) -> Any:
    from auditkit._io import load_table

    loaded = load_table(path, what=what, string_columns=[id_column] if id_column else None, **layout)
    for notice in loaded.notices:  # names and positions only, never values
        typer.echo(notice, err=True)
    return loaded.frame


def _join(df: Any, other_path: Path, id_column: str | None, candidate: str) -> tuple[Any, str]:
    """The predictions with the candidate file's ``candidate`` column, matched row by row on the id."""
    from auditkit.commands.gate import _column
    from auditkit.errors import DataError
    from auditkit.hints import did_you_mean

    if not id_column:
        raise DataError("--candidate-file needs --id: the column of row ids both files hold.")
    other = _read(other_path, "candidate file", id_column, {})
    left = _column(df, id_column, "--id").astype("string")
    for name, option in ((id_column, "--id"), (candidate, "--candidate")):
        if name not in other.columns:
            raise DataError(f"The {option} column {name!r} is not in the candidate file."
                            f"{did_you_mean(name, other.columns)} "
                            f"Columns: {', '.join(map(str, other.columns))}.")
    right = other[id_column].astype("string")
    problems = []
    for where, ids in (("predictions file", left), ("candidate file", right)):
        if ids.isna().any():
            problems.append(f"{int(ids.isna().sum())} row(s) of the {where} have no id")
        if ids.duplicated().any():
            problems.append(f"{int(ids.duplicated(keep=False).sum())} row(s) of the {where} share "
                            f"an id with another row")
    only_left = int((~left.isin(right)).sum())
    only_right = int((~right.isin(left)).sum())
    if only_left:
        problems.append(f"{only_left} id(s) of the predictions file are not in the candidate file")
    if only_right:
        problems.append(f"{only_right} id(s) of the candidate file are not in the predictions file")
    if problems:
        raise DataError(
            f"Cannot join the candidate file on --id {id_column!r}: {'; '.join(problems)} "
            f"({len(left):,} and {len(right):,} rows). Every id must appear exactly once in each file."
        )
    mapped = other[candidate].set_axis(right.to_numpy()).reindex(left.to_numpy())
    name = "__auditkit_candidate__"
    return df.assign(**{name: mapped.to_numpy()}), name


def _outcomes(df: Any, label: str, base: str, cand: str, pos_label: str | None, data: Any) -> tuple[Any, Any, Any]:
    """The label in the predictions' values, and the positive and favourable labels (as ``gate``)."""
    import numpy as np

    from auditkit._outcomes import resolve_outcomes
    from auditkit.commands.gate import _coerce, _column

    y = _column(df, label, "--label")
    b = _column(df, base, "--baseline").to_numpy()
    c = _column(df, cand, "--candidate").to_numpy()
    pos = _coerce(pos_label, y) if pos_label is not None else (data.positive_label if data else None)
    fav = data.favourable_label if data else None
    both = np.concatenate([b.astype(object), c.astype(object)]) if b.dtype != c.dtype else np.concatenate([b, c])
    out = resolve_outcomes(y.to_numpy(), both, positive_label=pos, favourable_label=fav,
                           label_name=label, prediction_name=f"{base}/{cand}")
    return out.y_true, out.positive, out.favourable


def _refuse_leaks(result: Any, df: Any, columns: set[str]) -> None:
    """Raise before anything is written when an output holds a raw value of ``columns`` (the
    relabelled sensitive columns and the other ``[data] personal`` columns)."""
    from auditkit._redact import PersonalValueIndex
    from auditkit.errors import PersonalDataLeakError

    index = PersonalValueIndex.from_frame(df, sorted(c for c in columns if c in df.columns))
    text = "\n".join([result.to_markdown(), result.to_json(), result.to_junit(), *result.github_annotations()])
    leaked = index.find(text)
    if leaked:
        raise PersonalDataLeakError(
            f"Refusing to write the comparison's outputs: they hold raw values of personal data from "
            f"column(s) {', '.join(leaked)}. Nothing was written. If the column is not personal "
            "data, remove it from [data] personal; otherwise run with --debug and report it.")


def _publish(result: Any, json_out: Path | None, junit: Path | None) -> None:
    """GitHub annotations and step summary, then the files, each written whole or not at all."""
    from auditkit.atomic import atomic_write_text

    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in result.github_annotations():
            typer.echo(line)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        path = Path(summary)
        before = path.read_text(encoding="utf-8") if path.is_file() else ""
        atomic_write_text(path, before + result.to_markdown())
    if junit is not None:
        atomic_write_text(junit, result.to_junit())
    if json_out is not None:
        atomic_write_text(json_out, result.to_json())


def _print(result: Any) -> None:
    from rich.table import Table

    from auditkit.fairness import group_text

    con = _common.console()
    worse = result.worse
    if worse:
        table = Table(title=f"Groups for which {result.names[1]} is worse than {result.names[0]}")
        for col in ("Grouping", "Group", "Metric", "Before", "After", "Change", f"{result.ci:.0%} interval",
                    "Adj. p", "Rows"):
            table.add_column(col, justify="left" if col in ("Grouping", "Group", "Metric") else "right",
                             overflow="fold")
        for w in worse:
            table.add_row(_common.escape(w.grouping), _common.escape(group_text(w.group)), w.metric,
                          f"{w.baseline:.3f}", f"{w.candidate:.3f}", f"{w.difference:+.3f}",
                          _common.escape(f"[{w.ci_low:+.3f}, {w.ci_high:+.3f}]"), f"{w.p_adjusted:.2g}",
                          f"{w.n:,}")
        con.print(table)
    else:
        con.print(f"No group is worse for {_common.escape(result.names[1])} beyond the evidence bar.")
    not_judged = int((result.table["reason"] != "").sum())
    con.print(_common.escape(
        f"{result.n_rows:,} rows; {result.settings_line()}; {len(worse)} group x metric worse, "
        f"{not_judged} not judged (evidence bar or no direction of harm)."), soft_wrap=True)
    verdict = "[green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
    con.print(f"Model comparison {verdict}")


def register(app: typer.Typer) -> None:
    app.command("compare", help="Compare two models' predictions group by group (exit 0 no group "
                "worse, 1 a group worse, 2 usage).")(compare)
