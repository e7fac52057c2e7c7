"""Intervals agree with their points (issue 13, review 2): all-zero parts, NaN points, the
max − min bias and the gate, the deciding part's group count, exact calibration bins."""

from __future__ import annotations

import doctest
import math
import warnings
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import audit, evaluate_gate
from auditkit.fairness._gate import _decide
from auditkit.fairness._thresholds import Threshold


def _quiet_audit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return audit(*args, **kwargs)


def _no_false_positives(tp: list[int], n_pos: int = 50, n_neg: int = 50):
    """Groups A, B, ... with ``tp[i]`` of ``n_pos`` positives caught and no false positive."""
    k = len(tp)
    g = np.repeat([chr(65 + i) for i in range(k)], n_pos + n_neg)
    y = np.tile(np.r_[np.ones(n_pos), np.zeros(n_neg)], k).astype(int)
    yh = np.concatenate([np.r_[np.ones(t), np.zeros(n_pos - t), np.zeros(n_neg)] for t in tp])
    return y, yh.astype(int), {"g": g}


DISPARITIES = ["equalized_odds_ratio", "equalized_odds_difference", "true_positive_rate_ratio",
               "true_positive_rate_difference", "false_positive_rate_ratio",
               "false_positive_rate_difference", "true_negative_rate_ratio"]


@pytest.mark.parametrize("tp", [[40, 40, 39, 40], [40, 40], [30, 45, 38], [50, 50, 50],
                                [0, 0, 0], [10, 12]])
def test_every_interval_contains_its_point_or_both_are_nan(tp: list[int]) -> None:
    res = _quiet_audit(*_no_false_positives(tp), n_boot=400, random_state=0)
    d = res.disparities.loc["g"]
    for name in DISPARITIES:
        v, lo, hi = (float(d.loc[name, c]) for c in ("value", "ci_low", "ci_high"))
        if math.isnan(v):
            assert math.isnan(lo) and math.isnan(hi), name
        else:
            assert lo <= v <= hi, (name, v, lo, hi)


@pytest.mark.parametrize("tp", [[40, 40, 39, 40], [45, 44, 45], [20, 22]])
def test_an_all_zero_part_is_parity_in_every_draw(tp: list[int]) -> None:
    """FPR is 0 in every group: the worst-case ratio is the TPR ratio, interval included."""
    res = _quiet_audit(*_no_false_positives(tp), n_boot=400, random_state=1)
    d = res.disparities.loc["g"]
    for kind in ("ratio", "difference"):
        eo, tpr = d.loc[f"equalized_odds_{kind}"], d.loc[f"true_positive_rate_{kind}"]
        assert (eo.value, eo.ci_low, eo.ci_high) == (tpr.value, tpr.ci_low, tpr.ci_high)
    assert math.isnan(d.loc["false_positive_rate_ratio", "value"])
    assert math.isnan(d.loc["false_positive_rate_ratio", "ci_low"])
    assert (d.loc["true_negative_rate_ratio", ["value", "ci_low", "ci_high"]] == 1.0).all()


def test_reviewer_case_is_not_failed_in_ci_mode() -> None:
    res = _quiet_audit(*_no_false_positives([40, 40, 39, 40]), n_boot=1000, random_state=0)
    rep = evaluate_gate(res, ["equalized_odds_ratio >= 0.8"])
    assert rep.outcomes[0].status != "fail" and rep.exit_code == 0
    assert rep.outcomes[0].ci_low <= rep.outcomes[0].value <= rep.outcomes[0].ci_high


@pytest.mark.parametrize("op", [">=", "<="])
@pytest.mark.parametrize(("value", "lo", "hi"), [
    (0.90, 0.70, 0.75), (0.90, 0.95, 0.99), (0.90, 0.85, 0.95), (0.70, 0.60, 0.75),
    (0.70, 0.85, 0.95), (0.90, 0.70, 0.95), (0.79, 0.81, 0.83), (0.81, 0.81, 0.81),
])
def test_ci_mode_needs_point_and_interval_on_one_side(op: str, value: float, lo: float,
                                                      hi: float) -> None:
    t = Threshold("equalized_odds_ratio", op, 0.8)
    held = {t.holds(value), t.holds(lo), t.holds(hi)}
    expected = "warn" if len(held) == 2 else ("pass" if held == {True} else "fail")
    assert _decide(t, value, lo, hi, "ci") == expected
    assert _decide(t, value, lo, hi, "point") == ("pass" if t.holds(value) else "fail")
    if t.holds(value):  # a point that meets the threshold is never failed
        assert _decide(t, value, lo, hi, "ci") != "fail"


def test_n_groups_counts_the_part_that_decides() -> None:
    """TPR lacks evidence (one group with enough actual positives): the undefined worst case
    reports that part's group count, not the FPR part's."""
    rng = np.random.default_rng(1)
    g = np.array(["A"] * 300 + ["B"] * 300)
    y = np.r_[rng.random(300) < 0.5, np.r_[np.ones(10), np.zeros(290)]].astype(int)
    yh = np.r_[rng.random(300) < 0.5, np.r_[np.zeros(10), rng.random(290) < 0.3]].astype(int)
    d = _quiet_audit(y, yh, {"g": g}, n_boot=0).disparities.loc["g"]
    assert math.isnan(d.loc["equalized_odds_difference", "value"])
    assert d.loc["equalized_odds_difference", "n_groups"] == 1
    assert d.loc["false_positive_rate_difference", "n_groups"] == 2


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.integers(2, 5))
def test_n_groups_is_the_deciding_parts_count(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n = rng.integers(5, 80, k)
    g = np.repeat([f"g{i}" for i in range(k)], n)
    y = (rng.random(len(g)) < rng.uniform(0.05, 0.9)).astype(int)
    yh = (rng.random(len(g)) < rng.uniform(0.1, 0.9)).astype(int)
    res = _quiet_audit(y, yh, {"g": g}, n_boot=0, min_group_size=5, min_denominator=10)
    d, ev = res.disparities.loc["g"], res.evidenced.loc["g"]
    bg = res.by_group.loc["g"]
    for kind in ("difference", "ratio"):
        row = d.loc[f"equalized_odds_{kind}"]
        parts = {}
        for b in ("true_positive_rate", "false_positive_rate"):
            ok = ev[b] & ~bg["small"] & bg[b].notna()
            parts[b] = (float(d.loc[f"{b}_{kind}", "value"]), int(ok.sum()))
        if math.isnan(row.value):
            assert row.n_groups in {c for v, c in parts.values() if math.isnan(v)}
        else:
            deciding = [c for v, c in parts.values() if v == row.value]
            assert row.n_groups in deciding


# -- calibration bins match their definition -------------------------------------------------
def _brute_ece(y: list[int], scores: list[str]) -> float:
    """ECE over the bins [k/10, (k+1)/10) (the last one closed), binning the decimal as written."""
    sums: dict[int, list[float]] = {}
    for yi, s in zip(y, scores, strict=True):
        k = min(int(Decimal(s) * 10), 9)
        acc = sums.setdefault(k, [0.0, 0.0, 0])
        acc[0] += yi
        acc[1] += float(s)
        acc[2] += 1
    return sum(abs(a - b) for a, b, _ in sums.values()) / len(y)


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 100), st.booleans()),
                     min_size=4, max_size=60))
def test_ece_bins_scores_as_written(data: list[tuple[int, int, bool]]) -> None:
    y = [a for a, _, _ in data][:-2] + [0, 1]  # both outcomes, as a binary audit needs
    scores = [f"{(c // 10) / 10:.1f}" if one else f"{c / 100:.2f}" for _, c, one in data]
    s = np.array([float(x) for x in scores])
    res = _quiet_audit(np.array(y), (s > 0.5).astype(int), {"g": np.zeros(len(y), int)},
                       y_score=s, n_boot=0, metrics=["expected_calibration_error"],
                       min_group_size=0, min_denominator=0)
    got = float(res.overall.loc["expected_calibration_error", "value"])
    assert got == pytest.approx(_brute_ece(y, scores), abs=1e-9)


def test_reviewer_ece_case() -> None:
    s = np.array([0.25, 0.3, 0.3, 0.35] * 10)
    y = np.array([0, 1, 1, 0] * 10)
    res = _quiet_audit(y, (s > 0.5).astype(int), {"g": np.zeros(len(y), int)}, y_score=s,
                       n_boot=0, metrics=["expected_calibration_error"], min_group_size=0,
                       min_denominator=0)
    assert res.overall.loc["expected_calibration_error", "value"] == pytest.approx(0.325)


@pytest.mark.parametrize("module", ["auditkit.checks._performance_stats",
                                    "auditkit.fairness._counts",
                                    "auditkit.fairness._intervals"])
def test_docstring_examples_run(module: str) -> None:
    import importlib

    failed, attempted = doctest.testmod(importlib.import_module(module))
    assert attempted > 0 and failed == 0
