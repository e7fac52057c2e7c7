"""``auditkit init``: write a commented ``audit.toml`` for a dataset, with guessed roles marked.

The file is read as ``auditkit run`` will read it: the format comes from ``--format``, else the
name, else the first bytes (then written to ``[data] format``); for CSV, whether the first row
is a header and which leading lines are notes is sniffed (:func:`auditkit._io.sniff_layout`)
unless ``--header``/``--no-header`` says, and written to ``[data] header`` / ``skip_lines``.
The role guesses are :func:`auditkit._init_guess.guess_roles`. ``init`` never prompts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit._formats import AUTO, DATA_FORMATS, choice_problem
from auditkit._init_guess import MAX_GROUPS, Guesses, guess_roles
from auditkit._io import CsvLayout, detect_format, load_table, sniff_format, sniff_layout
from auditkit.errors import ConfigError, DataError, OutputError
from auditkit.hints import did_you_mean

__all__ = ["DOC_LINKS", "InitResult", "render_config", "write_config"]

SAMPLE_ROWS = 10_000
#: The documentation each generated file points to (a test checks every one resolves).
DOC_LINKS = {
    "guide": "docs/init.md",
    "layout": "docs/init.md#reading-the-file",
    "domain": "docs/reports.md#regulation-catalogue",
    "model": "docs/reports.md#loading-the-audited-model",
    "gate": "docs/fairness.md#the-gate",
}


@dataclass(frozen=True)
class InitResult:
    """What ``auditkit init`` wrote, and the warnings to show (never a value from the data)."""

    path: Path
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class _Source:
    """How the data file was read: the lines written to ``[data]`` for ``run`` to read it alike."""

    fmt: str
    fmt_note: str  # why the format was chosen ("" when its name tells)
    layout: CsvLayout
    layout_given: bool
    notices: tuple[str, ...] = ()  # what the reader did (repeated identical columns dropped)


def _toml_value(value: Any) -> str:
    """One TOML value on one line (arrays inline)."""
    import tomli_w

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _resolve_format(path: Path, fmt: str) -> tuple[str, str]:
    problem = choice_problem(fmt, DATA_FORMATS)
    if problem:
        raise ConfigError(f"--format {problem}.")
    if fmt != AUTO:
        return fmt, "from --format"
    passes = " or ".join(f"--format {f.name}" for f in DATA_FORMATS)
    try:
        return detect_format(path, hint=f"Pass {passes}."), ""
    except DataError:
        sniffed = sniff_format(path)
        if sniffed is None:
            raise
        return sniffed, f"guess: the name does not tell; the contents look like {sniffed.upper()}"


def _read_sample(path: Path, fmt: str, header: bool | None) -> tuple[Any, _Source]:
    """The first rows of the data file, read as ``auditkit run`` will read it (same refusals)."""
    if not path.exists():
        raise DataError(f"The data file '{path}' does not exist. Pass the path of a CSV or Parquet file.")
    if path.is_dir():
        raise DataError(f"The data path '{path}' is a directory; expected a CSV or Parquet file.")
    kind, note = _resolve_format(path, fmt)
    layout = CsvLayout()
    if kind == "csv":
        sniffed = sniff_layout(path)
        layout = sniffed if header is None else CsvLayout(header, sniffed.skip_lines, sniffed.notes[:1] if sniffed.skip_lines else ())
    loaded = load_table(path, kind, nrows=SAMPLE_ROWS, what="data file", header=layout.header,
                        skip_lines=layout.skip_lines)
    return loaded.frame, _Source(kind, note, layout, header is not None, tuple(loaded.notices))


def _audit_lines(data_path: Path, g: Guesses, domain: str | None, jurisdictions: list[str] | None) -> list[str]:
    from auditkit.config import DOMAINS, JURISDICTIONS

    if domain:
        dom = f"domain = {_toml_value(domain)}    # from --domain"
    else:
        dom = (f"domain = {_toml_value(g.domain)}    # guess: {g.why['domain']}; one of "
               f"{', '.join(DOMAINS)}: it decides which laws findings cite ({DOC_LINKS['domain']})")
    juris = (f"jurisdictions = {_toml_value(jurisdictions)}    # from --jurisdictions" if jurisdictions
             else f"jurisdictions = {_toml_value(['EU', 'US'])}    # guess: where the model is used; "
                  f"any of {', '.join(JURISDICTIONS)}")
    return [
        "[audit]",
        f"title = {_toml_value('Responsible-AI audit of ' + data_path.name)}",
        'system = ""        # the system or model being audited',
        'owner = ""         # team accountable for it',
        'version = ""',
        "random_state = 0",
        dom,
        juris,
        'controller = ""    # who decides why and how personal data is processed (DPIA)',
        'dpo = ""           # data protection officer',
        'action_owner = ""  # who carries out the recommended actions (the report says "to assign")',
        'action_due = ""    # YYYY-MM-DD',
    ]


def _source_lines(src: _Source) -> list[str]:
    lines = []
    if src.fmt_note:
        lines.append(f"format = {_toml_value(src.fmt)}    # {src.fmt_note}")
    if src.fmt != "csv":
        return lines
    lay, how = src.layout, ("from --no-header" if src.layout_given else "guess: " + "; ".join(
        n for n in src.layout.notes if "first row" in n))
    if not lay.header:
        lines.append(f"header = false    # {how}; columns are named column_1, column_2, ... "
                     f"(set true if the first row names the columns; {DOC_LINKS['layout']})")
    else:
        lines.append(f"# header = false    # when the first row is data, not column names ({DOC_LINKS['layout']})")
    if lay.skip_lines:
        lines.append(f"skip_lines = {lay.skip_lines}    # guess: {lay.notes[0]}")
    return lines


def _role_lines(g: Guesses, cols: list[str]) -> list[str]:
    lines: list[str] = []

    def role(key: str, value: Any, what: str, missing: str = "no column looked like one") -> None:
        if value:
            lines.append(f"{key} = {_toml_value(value)}    # guess: {what}")
        else:
            lines.append(f"# {key} = \"...\"    # {what.split(';')[0]}; {missing}")

    role("label", g.label, g.why.get("label") or "true outcome column")
    pred_missing = "no column looked like one: add the model's decisions, or give [model] below"
    if any(c.lower() == "score_text" for c in cols):
        pred_missing = ("no prediction column (COMPAS has decile_score and score_text; ProPublica "
                        "took score_text other than \"Low\" as the prediction: add such a 0/1 "
                        "column and name it here)")
    role("prediction", g.prediction, g.why.get("prediction") or "the model's decision column",
         pred_missing)
    role("score", g.score, g.why.get("score") or "the model's score or probability")
    role("protected", list(g.protected), "protected attributes for the fairness analysis"
         + "".join(f"; {c}: {g.why[c]}" for c in g.protected if c in g.why))
    for col in g.to_band:
        lines.append(f"# {col!r} looks protected but has more than {MAX_GROUPS} values: add a banded "
                     "copy (e.g. age groups) to the data and list that in protected.")
    role("personal", list(g.personal), "columns holding personal data (never shown in reports)")
    role("id_column", g.id_column, "unique record id")
    if g.label is not None and g.why.get("positive_label"):  # not guessed: no value quoted
        lines.append(f"# positive_label = ...    # set this: {g.why['positive_label']}")
        lines.append("# favourable_label = ...    # set this: the outcome that benefits the person")
    elif g.label is not None:
        pos = 1 if g.positive_label is None else g.positive_label
        if g.positive_label is None:
            lines.append(f"# positive_label = {_toml_value(pos)}    # the class the model predicts as "
                         "positive (default 1 for 0/1 labels)")
        else:
            spaced = isinstance(pos, str) and pos != pos.strip()
            lines.append(f"positive_label = {_toml_value(pos)}    # guess: the class the model predicts "
                         "as positive and the score measures"
                         + (" (spaces kept as they are in the file)" if spaced else ""))
        lines.append(f"favourable_label = {_toml_value(g.favourable_label)}    # guess: "
                     f"{g.why['favourable_label']}")
    return lines


def _left_out_lines(g: Guesses) -> list[str]:
    """``# Not proposed as features``, one line per reason."""
    by_reason: dict[str, list[str]] = {}
    for col, why in g.excluded.items():
        by_reason.setdefault(why, []).append(col)
    lines = ["# Not proposed as features:"] if by_reason else []
    for why, cols in by_reason.items():
        shown = ", ".join(cols[:30]) + (f" and {len(cols) - 30} more" if len(cols) > 30 else "")
        lines.append(f"#   {why}: {shown}")
    return lines


def render_config(data_path: Path, df: Any, config_dir: Path, *, source: _Source | None = None,
                  domain: str | None = None, jurisdictions: list[str] | None = None) -> str:
    """The text of a commented ``audit.toml`` for ``df`` (the sample read from ``data_path``)."""
    src = source or _Source("csv", "", CsvLayout(), False)
    g = guess_roles(df, headerless=not src.layout.header)
    try:
        rel = os.path.relpath(data_path.resolve(), config_dir.resolve())
    except ValueError:  # other drive on Windows
        rel = str(data_path.resolve())
    cols = [str(c) for c in df.columns]
    lines = [
        "# audit.toml for auditkit, written by 'auditkit init'.",
        "# Lines marked '# guess:' were inferred from the file: check and fix each one.",
        f"# How each guess is made: {DOC_LINKS['guide']} in auditkit's documentation.",
        "# Run the audit with: auditkit run audit.toml",
        "",
        *_audit_lines(data_path, g, domain, jurisdictions),
        "",
        "[data]",
        f"path = {_toml_value(rel)}",
        *_source_lines(src),
        f"# Columns ({len(cols)}): " + ", ".join(cols)[:2000],
        *_role_lines(g, cols),
        "",
        "[model]",
        "# A fitted scikit-learn model. .skops files are loaded with auditkit's reviewed list of exact",
        f"# types ({DOC_LINKS['model']}); pickle/joblib files run code and need trust_model = true.",
        '# path = "model.skops"',
        f"# features = {_toml_value(list(g.features[:50]))}    # guess: model inputs",
        *_left_out_lines(g),
        "",
        "[report]",
        'out = "audit-report"',
        'formats = ["html", "md", "json"]',
        "",
        "# Each check has a [checks.<id>] table; omitted checks run with their defaults.",
        f"# [checks.fairness] thresholds are also what 'auditkit gate --config' uses ({DOC_LINKS['gate']}).",
        "# [checks.fairness]",
        "# enabled = true",
        "",
    ]
    return "\n".join(lines)


def _check_scope(domain: str | None, jurisdictions: list[str] | None) -> None:
    from auditkit.config import DOMAINS, JURISDICTIONS

    if domain is not None and domain not in DOMAINS:
        raise ConfigError(f"--domain must be one of {', '.join(DOMAINS)}; got {domain!r}.{did_you_mean(domain, DOMAINS)}")
    for j in jurisdictions or []:
        if j not in JURISDICTIONS:
            raise ConfigError(f"--jurisdictions names {j!r}, expected some of {', '.join(JURISDICTIONS)}."
                              f"{did_you_mean(j, JURISDICTIONS)} Separate them with commas: EU,US.")


def write_config(
    data_file: str | Path,
    out: str | Path | None = None,
    *,
    force: bool = False,
    fmt: str = "auto",
    header: bool | None = None,
    domain: str | None = None,
    jurisdictions: list[str] | None = None,
) -> InitResult:
    """Write ``audit.toml`` (default: next to the data file); refuse to overwrite unless ``force``.

    Parameters
    ----------
    fmt:
        ``auto`` (from the name, else the first bytes), ``csv`` or ``parquet``.
    header:
        CSV: whether the first row names the columns; ``None`` sniffs it.
    domain, jurisdictions:
        ``[audit]`` values to write as given; ``None`` writes a marked guess.
    """
    from auditkit.atomic import atomic_write_text

    _check_scope(domain, jurisdictions)
    data_path = Path(data_file)
    target = Path(out) if out is not None else data_path.parent / "audit.toml"
    if target.resolve() == data_path.resolve():
        raise OutputError(f"Refusing to write the config over the data file '{data_path}'.")
    if target.exists() and not force:
        raise OutputError(f"'{target}' already exists. Pass --force to replace it, or --out to write elsewhere.")
    df, src = _read_sample(data_path, fmt, header)
    text = render_config(data_path, df, target.parent, source=src, domain=domain,
                         jurisdictions=jurisdictions)
    warnings = [f"{data_path.name}: {n}." for n in src.layout.notes if header is None or "note" in n]
    warnings.extend(src.notices)
    if src.fmt_note.startswith("guess"):
        warnings.append(f"{data_path.name}: read as {src.fmt.upper()} (its name does not say); "
                        f"written as [data] format. Pass --format to choose.")
    try:
        return InitResult(atomic_write_text(target, text), tuple(warnings))
    except OSError as exc:
        raise OutputError(f"Cannot write '{target}' ({exc.__class__.__name__}). Choose another --out.") from None
