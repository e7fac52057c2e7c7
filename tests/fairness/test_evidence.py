"""Evidence bars, Wilson and Jeffreys intervals, the favourable outcome and the reference group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import FairnessInputError, audit
from auditkit.fairness._intervals import jeffreys_draws, wilson, z_value


# -- Wilson ----------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 5000), frac=st.floats(0, 1), ci=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_contains_the_estimate_stays_in_unit_interval_and_solves_the_score_test(n, frac, ci) -> None:
    x = float(round(frac * n))
    lo, hi = (float(v[0]) for v in wilson(np.array([x]), np.array([float(n)]), ci))
    p = x / n
    assert 0.0 <= lo <= p <= hi <= 1.0
    assert hi - lo > 0
    # each bound that is not 0 or 1 is a root of the score test: (p - b)^2 = z^2 b (1 - b) / n
    z = z_value(ci)
    for b in (lo, hi):
        if 0 < b < 1:
            assert abs((p - b) ** 2 - z * z * b * (1 - b) / n) < 1e-9


@pytest.mark.parametrize(("x", "n", "lo", "hi"), [
    # hand-checked closed form at z = 1.959964: 0/10 -> [0, z²/(n+z²)] = [0, 3.8415/13.8415]
    (0, 10, 0.0, 0.277535), (10, 10, 0.722465, 1.0),
    (5, 10, 0.236593, 0.763407),  # Wilson (1927) / Newcombe (1998), table I: 0.2366-0.7634
    (81, 263, 0.255159, 0.366349),  # Newcombe (1998), example (81/263): 0.2553-0.3662
])
def test_wilson_known_answers(x, n, lo, hi) -> None:
    got = wilson(np.array([float(x)]), np.array([float(n)]), 0.95)
    assert got[0][0] == pytest.approx(lo, abs=5e-4) and got[1][0] == pytest.approx(hi, abs=5e-4)


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95, 0.99])
def test_wilson_matches_scipy(level: float) -> None:
    """SciPy's ``binomtest(...).proportion_ci(method="wilson")`` is the reference."""
    from scipy.stats import binomtest

    for n in (1, 2, 7, 30, 1000):
        x = np.unique(np.linspace(0, n, 7).round()).astype(int)
        lo, hi = wilson(x.astype(float), np.full(len(x), float(n)), level)
        for i, k in enumerate(x):
            ref = binomtest(int(k), n).proportion_ci(confidence_level=level, method="wilson")
            assert lo[i] == pytest.approx(ref.low, abs=1e-12)
            assert hi[i] == pytest.approx(ref.high, abs=1e-12)


def test_jeffreys_draws_never_collapse_and_are_nan_without_rows() -> None:
    d = jeffreys_draws(np.array([0.0, 5.0, 0.0]), np.array([5.0, 5.0, 0.0]), 2000, np.random.default_rng(0))
    assert d.shape == (2000, 3) and np.isnan(d[:, 2]).all()
    assert (d[:, 0] > 0).all() and (d[:, 1] < 1).all() and d[:, 0].std() > 0
    # the Jeffreys posterior mean of 0/5 is 0.5/6
    assert d[:, 0].mean() == pytest.approx(0.5 / 6, abs=0.01)


def test_no_interval_collapses_at_zero_or_n() -> None:
    """The issue's case: two groups with TPR 1.0 and 0.0 from 2 actual positives each."""
    y = np.array([1, 1] + [0] * 37 + [1, 1] + [0] * 54)
    p = np.array([1, 1] + [0] * 37 + [0, 0] + [0] * 54)
    g = np.array(["a"] * 39 + ["b"] * 56)
    res = audit(y, p, {"g": g}, n_boot=500, random_state=0, min_group_size=0, min_denominator=0)
    t = res.metric_table("true_positive_rate")
    assert (t["ci_high"] - t["ci_low"] > 0.3).all()
    d = res.disparities.loc[("g", "equal_opportunity_difference")]
    assert d["value"] == 1.0 and d["ci_low"] < 0.8 and d["interval"] == "jeffreys"
    # with the default bar the headline does not rest on 2 positives
    default = audit(y, p, {"g": g}, n_boot=100, random_state=0)
    row = default.disparities.loc[("g", "equalized_odds_difference")]
    assert np.isnan(row["value"]) and "at least 30 actual positives" in row["reason"]
    assert row["n_excluded"] == 2


# -- evidence --------------------------------------------------------------------------------
def _frame(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    race = rng.choice(["a", "b", "c"], n, p=[0.6, 0.38, 0.02])
    y = (rng.random(n) < 0.3).astype(int)
    yhat = (rng.random(n) < np.where(sex == "F", 0.3, 0.5)).astype(int)
    return y, yhat, pd.DataFrame({"sex": sex, "race": race})


def test_denominators_are_the_unweighted_counts_of_each_rate() -> None:
    y, yhat, sf = _frame()
    w = np.random.default_rng(1).uniform(0.5, 2, len(y))
    res = audit(y, yhat, sf, y_score=np.clip(yhat * 0.6 + 0.2, 0, 1), sample_weight=w, n_boot=0)
    assert res.denominators.index.equals(res.by_group.index)
    for (grouping, group), row in res.denominators.iterrows():
        if grouping != "sex":
            continue
        m = (sf["sex"] == group).to_numpy()
        assert row["true_positive_rate"] == (y[m] == 1).sum()
        assert row["false_positive_rate"] == (y[m] == 0).sum()
        assert row["positive_predictive_value"] == (yhat[m] == 1).sum()
        assert row["negative_predictive_value"] == (yhat[m] == 0).sum()
        assert row["selection_rate"] == row["accuracy"] == m.sum()
    for m in ("roc_auc", "expected_calibration_error", "f1", "balanced_accuracy", "impact_ratio"):
        assert res.denominators[m].isna().all()
    ev = res.evidenced
    assert (ev["true_positive_rate"] == (res.denominators["true_positive_rate"] >= 30)).all()
    assert (ev["roc_auc"] == (res.by_group["n"] >= 30)).all()
    assert res.min_denominator == 30


def test_excluded_lists_every_left_out_group_with_its_bar() -> None:
    y, yhat, sf = _frame()
    res = audit(y, yhat, sf, n_boot=0, min_denominator=40)
    ex = res.excluded
    assert list(ex.columns)[:6] == ["grouping", "disparity", "group", "metric", "denominator", "bar"]
    assert (ex["denominator"] < ex["bar"]).all()
    for (grouping, name), row in res.disparities.iterrows():
        sub = ex[(ex["grouping"] == grouping) & (ex["disparity"] == name)]
        assert row["n_excluded"] == sub["group"].nunique()
    assert (ex.query("grouping == 'race'")["group"] == "c").all()


def test_min_denominator_zero_reproduces_fairlearn() -> None:
    from fairlearn.metrics import demographic_parity_ratio, equalized_odds_difference

    y, yhat, sf = _frame(n=400)
    res = audit(y, yhat, sf[["race"]], n_boot=0, min_group_size=0, min_denominator=0)
    assert abs(res.disparities.loc[("race", "demographic_parity_ratio"), "value"]
               - demographic_parity_ratio(y, yhat, sensitive_features=sf["race"])) < 1e-12
    assert abs(res.disparities.loc[("race", "equalized_odds_difference"), "value"]
               - equalized_odds_difference(y, yhat, sensitive_features=sf["race"])) < 1e-12


# -- favourable outcome ----------------------------------------------------------------------
@pytest.mark.parametrize("fav", [0, 1])
def test_favourable_rate_and_impact_ratio(fav) -> None:
    from fairlearn.metrics import demographic_parity_ratio

    y, yhat, sf = _frame()
    res = audit(y, yhat, sf[["sex"]], n_boot=200, random_state=0, favourable_label=fav)
    bg = res.by_group
    sel = bg["selection_rate"]
    assert np.allclose(bg["favourable_rate"], sel if fav == 1 else 1 - sel, atol=1e-15)
    assert res.favourable_label == fav and res.adverse_is_positive is (fav == 0)
    fr = bg["favourable_rate"]
    assert np.allclose(bg["impact_ratio"], fr / fr.max())
    ir = res.disparities.loc[("sex", "impact_ratio")]
    assert ir["value"] == pytest.approx(fr.min() / fr.max())
    assert ir["disadvantaged_group"] == fr.idxmin()[1]
    # demographic parity keeps fairlearn's definition on P(ŷ = positive), whatever is favourable
    dp = res.disparities.loc[("sex", "demographic_parity_ratio"), "value"]
    assert abs(dp - demographic_parity_ratio(y, yhat, sensitive_features=sf["sex"])) < 1e-12
    assert res.disparities.loc[("sex", "demographic_parity_ratio"), "disadvantaged_group"] == fr.idxmin()[1]
    # error rates: the adverse direction flips with the favourable label
    fpr = bg["false_positive_rate"].xs("sex")
    dg = res.disparities.loc[("sex", "false_positive_rate_difference"), "disadvantaged_group"]
    assert dg == (fpr.idxmax() if fav == 0 else fpr.idxmin())


def test_favourable_label_bad_input() -> None:
    y, yhat, sf = _frame(n=200)
    with pytest.raises(FairnessInputError, match="'favourable_label' parameter .* not one of the two labels"):
        audit(y, yhat, sf, n_boot=0, favourable_label=7)
    with pytest.raises(FairnessInputError, match="applies to classification"):
        audit(y * 1.5 + 0.25, yhat * 1.1 + 0.3, sf, n_boot=0, favourable_label=1)
    for bad in (-1, 2.5, True):
        with pytest.raises(FairnessInputError, match="'min_denominator' parameter of audit"):
            audit(y, yhat, sf, n_boot=0, min_denominator=bad)
    # the text of a label is accepted for the label itself ("0" from a command line)
    assert audit(y, yhat, sf, n_boot=0, favourable_label="0").favourable_label == 0


# -- reference group -------------------------------------------------------------------------
def test_reference_group_default_and_given() -> None:
    y, yhat, sf = _frame()
    res = audit(y, yhat, sf, n_boot=0)
    sizes = res.by_group["n"]
    for grouping, label in res.reference.items():
        sub = sizes.xs(grouping)
        ok = res.evidenced.xs(grouping)["selection_rate"] & (sub >= 30)
        assert label == sub[ok].idxmax()
    r = res.ratio_to_reference("selection_rate")
    assert r.index.equals(res.by_group.index)
    ref = res.by_group.loc[("race", res.reference["race"]), "selection_rate"]
    assert np.allclose(r.xs("race"), res.by_group["selection_rate"].xs("race") / ref)
    given_ref = audit(y, yhat, sf, n_boot=0, reference_group={"race": "c", "sex": "F"})
    assert given_ref.reference["race"] == "c" and given_ref.reference["sex"] == "F"
    assert given_ref.ratio_to_reference("selection_rate").loc[("race", "c")] == pytest.approx(1.0)


def test_reference_group_bad_input_does_not_echo_labels() -> None:
    y, yhat, sf = _frame(n=300)
    with pytest.raises(FairnessInputError, match="Did you mean 'race'"):
        audit(y, yhat, sf, n_boot=0, reference_group={"rase": "a"})
    with pytest.raises(FairnessInputError, match="names no group") as err:
        audit(y, yhat, sf, n_boot=0, reference_group={"race": "secret-label"})
    assert "secret-label" not in str(err.value)
    with pytest.raises(FairnessInputError, match="must be a mapping"):
        audit(y, yhat, sf, n_boot=0, reference_group=["race"])
    res = audit(y, yhat, sf, n_boot=0)
    with pytest.raises(FairnessInputError, match="No metric named"):
        res.ratio_to_reference("selection_rat")


def test_to_dict_carries_the_new_fields() -> None:
    import json

    y, yhat, sf = _frame(n=500)
    d = audit(y, yhat, sf, n_boot=50, random_state=0, favourable_label=0).to_dict()
    json.dumps(d)
    assert d["favourable_label"] == 0 and d["adverse_is_positive"] is True
    assert d["min_denominator"] == 30 and d["interval_methods"]["selection_rate"] == "wilson"
    assert {"denominators", "evidenced", "excluded", "reference"} <= set(d)
