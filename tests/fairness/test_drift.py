"""Drift measures: PSI and Jensen-Shannon by hand, the PSI critical value, the drift table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2

from auditkit.fairness._drift import (
    ReferenceSpec,
    _psi_rows,
    drift_table,
    js_distance,
    psi,
    psi_critical,
)
from auditkit.fairness.errors import FairnessInputError

histograms = st.lists(st.integers(0, 300), min_size=2, max_size=12)


def test_psi_known_answers() -> None:
    # smoothed: p = (10.5, 20.5, 30.5, 40.5)/102, q = (20.5, 20.5, 20.5, 40.5)/102
    assert psi([10, 20, 30, 40], [20, 20, 20, 40]) == pytest.approx(10 / 102 * math.log(30.5 / 10.5))
    # a bin that empties: p = (0.5, 10.5)/11, q = (10.5, 0.5)/11 -> 2 (10/11) ln 21
    assert psi([0, 10], [10, 0]) == pytest.approx(2 * 10 / 11 * math.log(21))
    # bins empty on both sides are left out
    assert psi([0, 10, 0, 5], [0, 5, 0, 10]) == pytest.approx(psi([10, 5], [5, 10]))
    assert psi([3, 4], [3, 4]) == 0.0
    assert math.isnan(psi([0, 0], [1, 2]))


def test_psi_critical_is_the_chi_square_scaled() -> None:
    assert psi_critical(2000, 500, 10, 0.05) == pytest.approx((1 / 2000 + 1 / 500) * chi2.ppf(0.95, 9))
    assert psi_critical(100, 100, 2, 0.01) == pytest.approx(0.02 * chi2.ppf(0.99, 1))
    assert psi_critical(100, 100, 1, 0.01) == 0.0


@settings(max_examples=60, deadline=None)
@given(histograms, st.data())
def test_js_equals_scipy_and_psi_is_symmetric(ref: list[int], data) -> None:
    cur = data.draw(st.lists(st.integers(0, 300), min_size=len(ref), max_size=len(ref)))
    if sum(ref) == 0 or sum(cur) == 0:
        assert math.isnan(js_distance(ref, cur)) and math.isnan(psi(ref, cur))
        return
    assert js_distance(ref, cur) == pytest.approx(jensenshannon(ref, cur, base=2), abs=1e-7)
    assert psi(ref, cur) == pytest.approx(psi(cur, ref), rel=1e-12, abs=1e-15)
    assert psi(ref, cur) >= 0
    # adding a bin empty on both sides changes nothing
    assert psi(ref + [0], cur + [0]) == pytest.approx(psi(ref, cur), rel=1e-12, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(histograms, st.data())
def test_psi_is_zero_exactly_when_equal(ref: list[int], data) -> None:
    if sum(ref) == 0:
        return
    assert psi(ref, ref) == 0.0
    # same total, another histogram: the smoothed proportions differ, PSI > 0
    i, j = data.draw(st.tuples(st.integers(0, len(ref) - 1), st.integers(0, len(ref) - 1)))
    if ref[i] > 0 and i != j:
        moved = list(ref)
        moved[i] -= 1
        moved[j] += 1
        assert psi(ref, moved) > 0


@pytest.mark.parametrize(("n", "m"), [(2000, 500), (300, 300)])
def test_psi_critical_false_alarm_rate_is_alpha_on_multinomial_null(n: int, m: int) -> None:
    rng = np.random.default_rng(7)
    p = np.array([0.05, 0.1, 0.1, 0.15, 0.2, 0.1, 0.1, 0.05, 0.1, 0.05])
    draws = 20_000
    ref = rng.multinomial(n, p, size=draws).astype(float)
    cur = rng.multinomial(m, p, size=draws).astype(float)
    values, _ = _psi_rows(ref, cur)
    for alpha in (0.05, 0.01):
        rate = float(np.mean(values > psi_critical(n, m, len(p), alpha)))
        # sd of the rate is ~0.0015 at 0.05; a formula with one sample size or B degrees of
        # freedom misses this band by far
        assert 0.8 * alpha <= rate <= 1.2 * alpha, (alpha, rate)


def _features(rng, shift_from: int | None = 7, windows: range = range(10), rows: int = 1000):
    """A features table: 'age' (10 bins + missing) and 'job' (4), all rows and by sex (F, M)."""
    base = {"age": np.r_[0.02, np.full(10, 0.098)], "job": np.array([0.4, 0.3, 0.2, 0.1])}
    shifted = np.r_[0.02, np.full(5, 0.04), np.full(5, 0.156)]
    out = []
    for w in windows:
        for feature, probs in base.items():
            per_sex = {}
            for sex in ("F", "M"):
                planted = feature == "age" and sex == "F" and shift_from is not None and w >= shift_from
                per_sex[sex] = rng.multinomial(rows, shifted if planted else probs)
            per_sex[""] = per_sex["F"] + per_sex["M"]
            for group, counts in per_sex.items():
                for b, n in enumerate(counts):
                    if n:
                        grouping = "" if group == "" else "sex"
                        out.append((w, feature, grouping, group, b - 1 if feature == "age" else b, n))
    frame = pd.DataFrame(out, columns=["window", "feature", "grouping", "group", "bin", "n"])
    return frame.astype({"window": "int64", "bin": "int32", "n": "int64"})


def test_planted_shift_alarms_there_and_not_elsewhere() -> None:
    table = drift_table(_features(np.random.default_rng(0)), reference=ReferenceSpec("first", n=4), alpha=0.05)
    assert sorted(table["window"].unique()) == [4, 5, 6, 7, 8, 9]
    hit = table[table["alarm"]]
    target = (table["feature"] == "age") & (table["group"] == "F") & (table["window"] >= 7)
    assert table.loc[target, "alarm"].all()
    # elsewhere only the all-rows histogram of the same feature, which holds the F rows
    others = hit[~((hit["feature"] == "age") & (hit["group"].isin(["F", ""])) & (hit["window"] >= 7))]
    assert others.empty, others
    assert (table.loc[table["window"] < 7, "psi"] < 0.05).all()
    assert (table["reference_start"] == 0).all() and (table["reference_end"] == 3).all()
    row = table[(table["window"] == 7) & (table["feature"] == "job") & (table["group"] == "M")].iloc[0]
    assert row["n_reference"] == 4000 and row["n_current"] == 1000 and row["n_bins"] == 4
    # Bonferroni over the window's six tests (2 features x 3 groups)
    np.testing.assert_allclose(table["alpha_per_test"], 0.05 / 6)
    assert row["psi_critical"] == pytest.approx(psi_critical(4000, 1000, 4, 0.05 / 6))


def test_previous_reference_alarms_at_the_change_only() -> None:
    table = drift_table(_features(np.random.default_rng(1)), reference=ReferenceSpec("previous"))
    hit = table[table["alarm"] & (table["group"] == "F")]
    assert hit["window"].tolist() == [7] and hit["feature"].tolist() == ["age"]
    assert (table["reference_end"] == table["window"] - 1).all()


def test_range_reference_and_windows_without_data() -> None:
    frame = _features(np.random.default_rng(2), shift_from=None, windows=range(0, 20, 2))
    table = drift_table(frame, reference=ReferenceSpec("range", start=2, end=5))
    assert sorted(table["window"].unique()) == [6, 8, 10, 12, 14, 16, 18]
    assert (table["reference_start"] == 2).all() and (table["reference_end"] == 4).all()
    assert (table.loc[table["group"] == "F", "n_reference"] == 2000).all()
    # the first n windows *with data*: 0, 2, 4 for n = 3
    first = drift_table(frame, np.array([6, 8]), ReferenceSpec("first", n=3))
    assert sorted(first["window"].unique()) == [6, 8] and (first["reference_end"] == 4).all()
    # previous: the window with data before (two indices back here)
    prev = drift_table(frame, reference=ReferenceSpec("previous"))
    assert (prev["reference_start"] == prev["window"] - 2).all()
    assert not table["alarm"].any() and not prev["alarm"].any()


def test_small_samples_are_skipped_with_a_reason() -> None:
    frame = _features(np.random.default_rng(3), shift_from=None, windows=range(6), rows=60)
    table = drift_table(frame, reference=ReferenceSpec("first", n=2), min_rows=100)
    by_sex = table[table["grouping"] == "sex"]
    assert by_sex["reason"].str.contains("window has 60 rows").all()
    assert not by_sex["alarm"].any() and by_sex["psi_critical"].isna().all()
    assert by_sex["psi"].notna().all()
    tested = table[table["grouping"] == ""]
    assert (tested["reason"] == "").all()
    np.testing.assert_allclose(tested["alpha_per_test"], 0.05 / 2)
    small_ref = drift_table(frame, reference=ReferenceSpec("first", n=2), min_rows=200)
    assert small_ref.loc[small_ref["grouping"] == "sex", "reason"].str.startswith("reference has").all()
    assert small_ref.loc[small_ref["grouping"] == "", "reason"].str.startswith("window has 120").all()


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: ReferenceSpec("frist"), "Did you mean 'first'"),
        (lambda: ReferenceSpec("range", start=5, end=2), "'start' <= 'end'"),
        (lambda: ReferenceSpec("range"), "'start' <= 'end'"),
        (lambda: ReferenceSpec("first", n=0), "'n'"),
        (lambda: psi([1, 2], [1, 2, 3]), "same bins"),
        (lambda: psi([1, -2], [1, 2]), ">= 0"),
        (lambda: js_distance([1, np.nan], [1, 2]), "finite"),
        (lambda: psi_critical(0, 10, 5, 0.05), "'n_reference'"),
        (lambda: psi_critical(10, 10, 5, 1.0), "'alpha'"),
        (lambda: drift_table(pd.DataFrame({"window": [1]})), "missing: feature"),
        (lambda: drift_table([]), "DataFrame"),
        (lambda: drift_table(_features(np.random.default_rng(0)), alpha=0), "'alpha'"),
        (lambda: drift_table(_features(np.random.default_rng(0)), np.array(["a"])), "'windows'"),
        (lambda: drift_table(_features(np.random.default_rng(0)), psi_threshold=-1), "'psi_threshold'"),
        (lambda: drift_table(_features(np.random.default_rng(0)), reference="first"), "ReferenceSpec"),
    ],
)
def test_bad_input_is_refused_with_a_message(call, words: str) -> None:
    with pytest.raises(FairnessInputError, match=words):
        call()
