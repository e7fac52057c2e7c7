"""``auditkit init``: write a commented ``audit.toml`` for a dataset, with guessed column roles."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from auditkit._io import read_table
from auditkit._personal import classify_personal_columns
from auditkit.errors import DataError, OutputError

__all__ = ["guess_roles", "render_config", "write_config"]

_LABEL = re.compile(r"^(label|target|y|y_true|outcome|class|approved|default|defaulted|repaid|"
                    r"hired|admitted|two_year_recid|is_recid|income|churn|fraud)$", re.I)
_PRED = re.compile(r"^(pred|preds|predicted|prediction|predictions|yhat|y_hat|y_pred|decision)$", re.I)
_SCORE = re.compile(r"^(score|scores|proba|probability|prob|y_score|y_prob|risk_score|decile_score)$", re.I)
_PROTECTED = re.compile(r"^(sex|gender|race|ethnicity|ethnic_group|age|age_group|age_cat|age_band|"
                        r"religion|disability|nationality|native_country|marital_status|"
                        r"pregnancy|sexual_orientation)$", re.I)
_ID = re.compile(r"(^id$|_id$|^id_)", re.I)

SAMPLE_ROWS = 10_000
MAX_GROUPS = 20  # more distinct values than this is not a usable protected grouping


def _norm(col: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", col).strip("_")


def _read_sample(path: Path) -> Any:
    """The first rows of the data file, read as ``auditkit run`` reads it (same refusals)."""
    if not path.exists():
        raise DataError(f"The data file '{path}' does not exist. Pass the path of a CSV or Parquet file.")
    if path.is_dir():
        raise DataError(f"The data path '{path}' is a directory; expected a CSV or Parquet file.")
    return read_table(path, nrows=SAMPLE_ROWS, what="data file")


def guess_roles(df: Any) -> dict[str, Any]:
    """Guess label, prediction, score, protected, personal and id columns from names and values."""
    cols = [str(c) for c in df.columns]

    def first(pattern: re.Pattern[str], *, binary: bool = False) -> str | None:
        for c in cols:
            if pattern.match(_norm(c)) and (not binary or df[c].nunique(dropna=True) <= 2):
                return c
        return None

    personal = classify_personal_columns(df)
    named = [c for c in cols if _PROTECTED.match(_norm(c))]
    # A protected attribute must be categorical: a numeric column with many values (age in
    # years) would make every value its own group. Those are listed for banding instead.
    protected = [c for c in named if df[c].nunique(dropna=True) <= MAX_GROUPS]
    to_band = [c for c in named if c not in protected]
    id_col = next((c for c in cols if _ID.search(_norm(c)) and df[c].is_unique), None)
    label = first(_LABEL, binary=True) or first(_LABEL)
    prediction = first(_PRED)
    score = first(_SCORE)
    taken = {label, prediction, score, id_col, *protected, *personal}
    features = [c for c in cols if c not in taken]
    return {
        "label": label,
        "prediction": prediction,
        "score": score,
        "protected": protected,
        "to_band": to_band,
        "personal": sorted(personal, key=cols.index),
        "id_column": id_col,
        "features": features,
    }


def _toml_value(value: Any) -> str:
    """One TOML value on one line (arrays inline)."""
    import tomli_w

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def render_config(data_path: Path, df: Any, config_dir: Path) -> str:
    """The text of a commented ``audit.toml`` for ``df``."""
    g = guess_roles(df)
    try:
        rel = os.path.relpath(data_path.resolve(), config_dir.resolve())
    except ValueError:  # other drive on Windows
        rel = str(data_path.resolve())
    cols = [str(c) for c in df.columns]
    lines = [
        "# audit.toml for auditkit, written by 'auditkit init'.",
        "# Entries marked 'guess' were inferred from column names and values: check each one.",
        "# Run the audit with: auditkit run audit.toml",
        "",
        "[audit]",
        f"title = {_toml_value('Responsible-AI audit of ' + data_path.name)}",
        'system = ""        # the system or model being audited',
        'owner = ""         # team accountable for it',
        'version = ""',
        "random_state = 0",
        "",
        "[data]",
        f"path = {_toml_value(rel)}",
        f"# Columns ({len(cols)}): " + ", ".join(cols)[:2000],
    ]

    def role(key: str, value: Any, what: str) -> None:
        if value:
            lines.append(f"{key} = {_toml_value(value)}    # guess: {what}")
        else:
            lines.append(f"# {key} = \"...\"    # {what}; no column looked like one")

    role("label", g["label"], "true outcome column")
    role("prediction", g["prediction"], "model decision column (or give [model] below)")
    role("score", g["score"], "model score / probability column")
    role("protected", g["protected"], "protected attributes for the fairness analysis")
    for col in g["to_band"]:
        lines.append(
            f"# {col!r} looks protected but has more than {MAX_GROUPS} values: add a banded copy "
            "(e.g. age groups) to the data and list that in protected."
        )
    role("personal", g["personal"], "columns holding personal data (never shown in reports)")
    role("id_column", g["id_column"], "unique record id")
    lines += [
        "",
        "[model]",
        "# A fitted scikit-learn model saved with skops (safe). Pickle/joblib need trust_model = true.",
        '# path = "model.skops"',
        f"# features = {_toml_value(g['features'][:50])}    # guess: model inputs",
        "",
        "[report]",
        'out = "audit-report"',
        'formats = ["html", "md", "json"]',
        "",
        "# Each check has a [checks.<id>] table; omitted checks run with their defaults.",
        "# [checks.fairness]",
        "# enabled = true",
        "",
    ]
    return "\n".join(lines)


def write_config(data_file: str | Path, out: str | Path | None = None, *, force: bool = False) -> Path:
    """Write ``audit.toml`` (default: next to the data file); refuse to overwrite unless ``force``."""
    from auditkit.atomic import atomic_write_text

    data_path = Path(data_file)
    target = Path(out) if out is not None else data_path.parent / "audit.toml"
    if target.resolve() == data_path.resolve():
        raise OutputError(f"Refusing to write the config over the data file '{data_path}'.")
    if target.exists() and not force:
        raise OutputError(
            f"'{target}' already exists. Pass --force to replace it, or --out to write elsewhere."
        )
    df = _read_sample(data_path)
    text = render_config(data_path, df, target.parent)
    try:
        return atomic_write_text(target, text)
    except OSError as exc:
        raise OutputError(f"Cannot write '{target}' ({exc.__class__.__name__}). Choose another --out.") from None
