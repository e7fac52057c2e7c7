"""Prepare the audit inputs of the walk-through (docs/walkthrough.md): UCI Adult and COMPAS.

A new user's steps, scripted so that anyone can repeat them:

* **Adult.** Train the model of the fairlearn quickstart (one-hot encoded features, a
  ``DecisionTreeClassifier(min_samples_leaf=10, max_depth=4)``) on ``adult.data`` and score the
  published test file ``adult.test``. The audit input is ``adult.test`` as downloaded (no header,
  labels ending in ``.``) with two columns appended: the decision (1 = income above 50K) and its
  predicted probability. A copy with a header row and the raw ``adult.test`` are written too,
  and the model as a ``.skops`` file.
* **COMPAS.** ProPublica's ``compas-scores-two-years.csv`` filtered as ProPublica analysed it
  (screening within 30 days of arrest, ``is_recid != -1``, ``c_charge_degree != "O"``, a score
  text), with ``pred_high_risk`` = 1 when ``score_text`` is Medium or High (decile score 5 or
  more). The label is ``two_year_recid``.

Nothing here imports auditkit: the script is what a user runs before the toolkit sees any data.

Usage::

    python docs/walkthrough/prepare.py OUT_DIR --adult-data adult.data \
        --adult-test adult.test --compas compas-scores-two-years.csv

It prints the model's accuracy and selection rates by sex (to compare with the quickstart) and
COMPAS's false positive and false negative rates by race (to compare with ProPublica's).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Column names from UCI's adult.names (the data files have no header row). The last column is
# the outcome, "<=50K" / ">50K" (with a trailing "." in adult.test).
ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]
ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
ADULT_LABEL = "income"
ADULT_MISSING = "?"  # UCI's marker for an unknown value
PRED_COLUMN = "y_pred"  # names used only in the copy with a header row
PROBA_COLUMN = "y_prob"
COMPAS_PRED = "pred_high_risk"
SEED = 0

# ProPublica's published two-year rates (Compas Analysis.ipynb, "Directions of the Racial Bias").
PROPUBLICA_RATES = {
    "African-American": {"fpr": 0.4485, "fnr": 0.2799},
    "Caucasian": {"fpr": 0.2345, "fnr": 0.4772},
}


class PrepareError(Exception):
    """A bad input to this script; the message says which and what to do."""


@dataclass(frozen=True)
class AdultResult:
    """What the Adult step wrote and measured."""

    files: dict[str, Path]
    accuracy: float
    selection_rate: dict[str, float]


def read_adult(path: Path) -> pd.DataFrame:
    """Read a headerless UCI Adult file (``adult.data`` or ``adult.test``).

    Lines starting with ``|`` (the ``|1x3 Cross validator`` line that opens ``adult.test``) and
    blank lines are skipped; the trailing ``.`` of the test file's labels is removed.

    Parameters
    ----------
    path : Path
        The file as downloaded from UCI.

    Returns
    -------
    pandas.DataFrame
        One row per person, columns :data:`ADULT_COLUMNS`.
    """
    if not path.is_file():
        raise PrepareError(
            f"Adult file '{path}' not found: pass the path of adult.data / adult.test."
        )
    df = pd.read_csv(
        path,
        header=None,
        names=ADULT_COLUMNS,
        skipinitialspace=True,
        comment="|",
        skip_blank_lines=True,
    )
    if df[ADULT_LABEL].isna().any() or len(df) == 0:
        raise PrepareError(
            f"Adult file '{path}' does not have the {len(ADULT_COLUMNS)} comma-separated columns "
            "of UCI's adult.data / adult.test; pass the files as downloaded."
        )
    df[ADULT_LABEL] = df[ADULT_LABEL].str.rstrip(".")
    return df


def adult_model(train: pd.DataFrame) -> Pipeline:
    """The fairlearn quickstart's model as a pipeline that takes the raw columns.

    The quickstart one-hot encodes with ``pandas.get_dummies`` (an unknown value gets no
    indicator) and fits ``DecisionTreeClassifier(min_samples_leaf=10, max_depth=4)``. The
    pipeline does the same, with the categories learnt from the training data and ``?`` left
    without an indicator, so that the saved model scores the audit file's own columns.

    Parameters
    ----------
    train : pandas.DataFrame
        Rows of ``adult.data`` (:func:`read_adult`).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fitted on ``train`` with label 1 for income above 50K.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    categorical = [c for c in ADULT_COLUMNS[:-1] if c not in ADULT_NUMERIC]
    categories = [sorted(set(train[c]) - {ADULT_MISSING}) for c in categorical]
    encode = ColumnTransformer(
        [
            ("numeric", "passthrough", ADULT_NUMERIC),
            ("onehot", OneHotEncoder(categories=categories, handle_unknown="ignore"), categorical),
        ],
        sparse_threshold=0.0,
    )
    tree = DecisionTreeClassifier(min_samples_leaf=10, max_depth=4, random_state=SEED)
    model = Pipeline([("encode", encode), ("tree", tree)])
    model.fit(train[ADULT_COLUMNS[:-1]], (train[ADULT_LABEL] == ">50K").astype(int))
    return model


def _write_headerless(rows: pd.DataFrame, path: Path) -> None:
    """Write rows in adult.test's own shape: no header, ``", "`` between values."""
    text = rows.astype(str).agg(", ".join, axis=1)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def prepare_adult(
    data: Path, test: Path, out: Path, *, text_decisions: bool = False
) -> AdultResult:
    """Train on ``adult.data``, score ``adult.test`` and write the audit inputs under ``out``.

    Parameters
    ----------
    data, test : Path
        UCI's ``adult.data`` and ``adult.test`` as downloaded.
    out : Path
        Folder for ``adult.test`` (raw copy), ``adult_test_scored.csv`` (headerless),
        ``adult_test_scored_named.csv`` (header row) and ``model.skops``.
    text_decisions : bool
        Write the decision in the label's own words (``>50K.`` / ``<=50K.``) instead of the
        quickstart model's 1 / 0, for a toolkit that needs both columns in one vocabulary.

    Returns
    -------
    AdultResult
        The paths written, test accuracy and selection rate by sex.
    """
    train, scored = read_adult(data), read_adult(test)
    model = adult_model(train)
    features = scored[ADULT_COLUMNS[:-1]]
    with warnings.catch_warnings():  # "?" is unknown to the encoder by design (no indicator)
        warnings.simplefilter("ignore", UserWarning)
        pred = model.predict(features)
        proba = model.predict_proba(features)[:, 1]
    out.mkdir(parents=True, exist_ok=True)
    raw = test.read_text(encoding="utf-8").splitlines()
    scored_raw = pd.DataFrame(
        [line.split(", ") for line in raw if line and not line.startswith("|")]
    )
    if len(scored_raw) != len(scored):
        raise PrepareError(
            f"Adult test file '{test}' has rows of unequal length; pass it as downloaded."
        )
    scored_raw[len(ADULT_COLUMNS)] = (
        np.where(pred == 1, ">50K.", "<=50K.") if text_decisions else pred
    )
    scored_raw[len(ADULT_COLUMNS) + 1] = np.round(proba, 6)
    files = {
        "raw": out / "adult.test",
        "headerless": out / "adult_test_scored.csv",
        "named": out / "adult_test_scored_named.csv",
        "model": out / "model.skops",
    }
    shutil.copyfile(test, files["raw"])
    _write_headerless(scored_raw, files["headerless"])
    named = scored_raw.set_axis([*ADULT_COLUMNS, PRED_COLUMN, PROBA_COLUMN], axis=1)
    named.to_csv(files["named"], index=False)
    _save_model(model, files["model"])
    y = (scored[ADULT_LABEL] == ">50K").to_numpy()
    rates = pd.Series(pred).groupby(scored["sex"].to_numpy()).mean()
    return AdultResult(files, float(np.mean(pred == y)), {k: float(v) for k, v in rates.items()})


def _save_model(model: object, path: Path) -> None:
    """Save with skops (a safe format, no pickle); skip with a note when skops is missing."""
    try:
        import skops.io as sio
    except ImportError:
        print(f"  skops is not installed: {path.name} not written (pip install skops)")
        return
    sio.dump(model, path)


COMPAS_FILTERS = (
    "days_b_screening_arrest within [-30, 30]",
    "is_recid != -1",
    'c_charge_degree != "O"',
    'score_text != "N/A"',
)


def filter_compas(raw: pd.DataFrame) -> pd.DataFrame:
    """ProPublica's rows of the two-year file, with ``pred_high_risk`` added.

    Parameters
    ----------
    raw : pandas.DataFrame
        ``compas-scores-two-years.csv`` as read by pandas (duplicate column names get ``.1``).

    Returns
    -------
    pandas.DataFrame
        The rows kept by :data:`COMPAS_FILTERS` (6,172 in ProPublica's file), all columns, and
        ``pred_high_risk`` = 1 for a Medium or High ``score_text``.
    """
    needed = {
        "days_b_screening_arrest",
        "is_recid",
        "c_charge_degree",
        "score_text",
        "two_year_recid",
        "race",
    }
    missing = sorted(needed - set(raw.columns))
    if missing:
        raise PrepareError(
            f"COMPAS file lacks columns {missing}; pass ProPublica's compas-scores-two-years.csv."
        )
    days = raw["days_b_screening_arrest"]
    keep = (
        days.between(-30, 30)
        & (raw["is_recid"] != -1)
        & (raw["c_charge_degree"] != "O")
        & raw["score_text"].notna()
        & (raw["score_text"] != "N/A")
    )
    df = raw.loc[keep].copy()
    df[COMPAS_PRED] = df["score_text"].isin(["Medium", "High"]).astype(int)
    return df


def error_rates(df: pd.DataFrame, label: str, pred: str, group: str) -> pd.DataFrame:
    """False positive and false negative rates by group, with their denominators.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per person.
    label, pred, group : str
        Columns: true outcome (1 = positive), decision (1 = positive), group.

    Returns
    -------
    pandas.DataFrame
        Index: group; columns ``n``, ``negatives``, ``fpr``, ``positives``, ``fnr``.
    """
    y, p = df[label].astype(int), df[pred].astype(int)
    out = pd.DataFrame(
        {
            "n": df.groupby(group).size(),
            "negatives": (y == 0).groupby(df[group]).sum(),
            "fpr": ((p == 1) & (y == 0)).groupby(df[group]).sum()
            / (y == 0).groupby(df[group]).sum(),
            "positives": (y == 1).groupby(df[group]).sum(),
            "fnr": ((p == 0) & (y == 1)).groupby(df[group]).sum()
            / (y == 1).groupby(df[group]).sum(),
        }
    )
    return out


def prepare_compas(source: Path, out: Path) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """Write ``compas_propublica.csv`` under ``out``; return it with the rates to check.

    Returns
    -------
    tuple
        The path written, FPR/FNR by race on the filtered rows, and the same on every row of
        the two-year file (the population of ProPublica's published truth tables).
    """
    if not source.is_file():
        raise PrepareError(f"COMPAS file '{source}' not found: pass compas-scores-two-years.csv.")
    raw = pd.read_csv(source)
    df = filter_compas(raw)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "compas_propublica.csv"
    df.to_csv(path, index=False)
    every = raw.assign(**{COMPAS_PRED: raw["score_text"].isin(["Medium", "High"]).astype(int)})
    return (
        path,
        error_rates(df, "two_year_recid", COMPAS_PRED, "race"),
        error_rates(every, "two_year_recid", COMPAS_PRED, "race"),
    )


def _print_compas(path: Path, filtered: pd.DataFrame, every: pd.DataFrame) -> None:
    print(
        f"COMPAS: wrote {path} ({int(filtered['n'].sum())} rows; filters: "
        + "; ".join(COMPAS_FILTERS)
        + ")"
    )
    print("  rates by race, two_year_recid vs pred_high_risk (decile score >= 5):")
    print(
        "  race               FPR filtered  FPR all rows  FPR ProPublica   "
        "FNR filtered  FNR all rows  FNR ProPublica"
    )
    for race, published in PROPUBLICA_RATES.items():
        f, a = filtered.loc[race], every.loc[race]
        print(
            f"  {race:<18} {f.fpr:>12.4f}  {a.fpr:>12.4f}  {published['fpr']:>14.4f}   "
            f"{f.fnr:>12.4f}  {a.fnr:>12.4f}  {published['fnr']:>14.4f}"
        )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the walk-through's models and write the audit inputs into OUT_DIR."
    )
    parser.add_argument("out", type=Path, metavar="OUT_DIR", help="folder for the audit inputs")
    parser.add_argument("--adult-data", type=Path, help="UCI adult.data (training rows)")
    parser.add_argument("--adult-test", type=Path, help="UCI adult.test (rows to audit)")
    parser.add_argument("--compas", type=Path, help="ProPublica compas-scores-two-years.csv")
    parser.add_argument(
        "--text-decisions",
        action="store_true",
        help="write Adult's decision as '>50K.' / '<=50K.' (the label's words) instead of 1 / 0",
    )
    args = parser.parse_args(argv)
    if (args.adult_data is None) != (args.adult_test is None):
        parser.error("give both --adult-data and --adult-test, or neither")
    if args.adult_data is None and args.compas is None:
        parser.error("nothing to do: give --adult-data and --adult-test, and/or --compas")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the steps the arguments ask for; 0 on success, 2 on a bad input."""
    args = _parse(argv)
    try:
        if args.adult_data is not None:
            res = prepare_adult(
                args.adult_data,
                args.adult_test,
                args.out / "adult",
                text_decisions=args.text_decisions,
            )
            print(f"Adult: wrote {', '.join(str(p) for p in res.files.values() if p.exists())}")
            rates = ", ".join(f"{k} {v:.4f}" for k, v in sorted(res.selection_rate.items()))
            print(f"  test accuracy {res.accuracy:.4f}; selection rate by sex: {rates}")
        if args.compas is not None:
            _print_compas(*prepare_compas(args.compas, args.out / "compas"))
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
