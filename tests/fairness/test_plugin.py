"""The pytest plugin: registered by entry point, import-light, readable failures."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

TEST_FILE = """
import numpy as np

def _data(gap):
    rng = np.random.default_rng(0)
    sex = rng.choice(["F", "M"], 3000)
    yhat = (rng.random(3000) < np.where(sex == "F", 0.5 - gap, 0.5)).astype(int)
    return rng.integers(0, 2, 3000), yhat, {"sex": sex}

def test_fair(assert_fair):
    y, yhat, sf = _data(0.0)
    assert_fair(y, yhat, sf, ["demographic_parity_ratio >= 0.8"], n_boot=200)

def test_unfair(assert_fair):
    y, yhat, sf = _data(0.25)
    assert_fair(y, yhat, sf, ["demographic_parity_ratio >= 0.8"], n_boot=200)

def test_thresholds_from_pyproject(assert_fair, fairness_thresholds):
    y, yhat, sf = _data(0.25)
    assert_fair(y, yhat, sf, fairness_thresholds)
"""


def test_fixture_passes_and_fails_with_a_table(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_model=TEST_FILE)
    pytester.makefile(".toml", pyproject='[tool.auditkit.fairness]\nn_boot = 200\n'
                      'thresholds = ["demographic_parity_ratio >= 0.8"]\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "UnfairError: Fairness thresholds failed:" in out
    assert "FAIL: demographic_parity_ratio by sex" in out
    assert "grouping" in out and "interval" in out  # the table header
    assert "selection_rate" in out


def test_plugin_module_is_import_light() -> None:
    code = ("import sys, auditkit.fairness.pytest_plugin\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'fairlearn', 'sklearn', 'numpy'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_entry_point_is_registered() -> None:
    from importlib.metadata import entry_points

    eps = {e.name: e.value for e in entry_points(group="pytest11")}
    assert eps.get("auditkit_fairness") == "auditkit.fairness.pytest_plugin"
