"""Fixtures of the fairness tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def ref():
    """The fairlearn reference helpers (tests/fairness/_reference.py)."""
    name = "tests_fairness_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "_reference.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def _read_adult(path: Path, skip_first: bool) -> pd.DataFrame:
    cols = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
            "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
            "hours_per_week", "native_country", "income"]
    df = pd.read_csv(path, header=None, names=cols, skipinitialspace=True, na_values="?",
                     skiprows=1 if skip_first else 0)
    df["income"] = df["income"].str.rstrip(".")
    return df


@pytest.fixture(scope="session")
def adult(shared_datasets) -> pd.DataFrame:
    """UCI Adult (train + test, 48,842 rows) with a simple rule as the 'model'.

    Predictions: ``education_num >= 13 or capital_gain > 5000``; scores: a logistic function of
    a few numeric columns. Missing workclass/occupation/native-country stay missing.
    """
    d = shared_datasets / "adult"
    df = pd.concat([_read_adult(d / "adult.data", False), _read_adult(d / "adult.test", True)],
                   ignore_index=True)
    df["y"] = (df["income"] == ">50K").astype(int)
    df["yhat"] = ((df["education_num"] >= 13) | (df["capital_gain"] > 5000)).astype(int)
    z = 0.3 * (df["education_num"] - 10) + 0.03 * (df["hours_per_week"] - 40) + 0.04 * (df["age"] - 38)
    df["score"] = np.round(1.0 / (1.0 + np.exp(-z)), 4)
    return df


@pytest.fixture(scope="session")
def compas(shared_datasets) -> pd.DataFrame:
    """ProPublica COMPAS two-year recidivism, all 7,214 rows (no ProPublica filtering).

    Prediction: ``score_text`` Medium or High (ProPublica's 'higher risk'); score: decile / 10.
    """
    df = pd.read_csv(shared_datasets / "compas" / "compas-scores-two-years.csv")
    df["y"] = df["two_year_recid"].astype(int)
    df["yhat"] = df["score_text"].isin(["Medium", "High"]).astype(int)
    df["score"] = df["decile_score"] / 10.0
    return df
