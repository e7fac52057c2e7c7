"""Bootstrap on the count tensor: same distribution as the row bootstrap, nominal coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditkit.fairness import audit


def _population_draw(rng, n, weighted=False):
    sex = rng.choice(["F", "M"], n)
    p_true = np.where(sex == "F", 0.3, 0.5)
    yhat = (rng.random(n) < p_true).astype(int)
    y = (rng.random(n) < 0.4).astype(int)
    w = rng.choice([0.5, 1.0, 3.0], n) if weighted else None
    return y, yhat, pd.DataFrame({"sex": sex}), w


def test_multinomial_draw_matches_row_level_bootstrap() -> None:
    rng = np.random.default_rng(0)
    y, yhat, sf, _ = _population_draw(rng, 600)
    res = audit(y, yhat, sf, n_boot=4000, random_state=1, metrics=["selection_rate", "true_positive_rate"])
    # row-level bootstrap of the F selection rate and the difference, by brute force
    f = (sf["sex"] == "F").to_numpy()
    boot = np.random.default_rng(2)
    sr_f, diff = [], []
    for _ in range(4000):
        idx = boot.integers(0, len(y), len(y))
        ff, pp = f[idx], yhat[idx]
        a, b = pp[ff].mean(), pp[~ff].mean()
        sr_f.append(a)
        diff.append(abs(a - b))
    lo, hi = np.quantile(sr_f, [0.025, 0.975])
    ours = res.metric_table("selection_rate").loc[("sex", "F")]
    assert abs(ours["ci_low"] - lo) < 0.01 and abs(ours["ci_high"] - hi) < 0.01
    dlo, dhi = np.quantile(diff, [0.025, 0.975])
    d = res.disparities.loc[("sex", "demographic_parity_difference")]
    assert abs(d["ci_low"] - dlo) < 0.012 and abs(d["ci_high"] - dhi) < 0.012


@pytest.mark.slow
@pytest.mark.parametrize("weighted", [False, True])
def test_intervals_cover_the_true_value_at_the_nominal_rate(weighted) -> None:
    """300 samples from a known population: the 95% intervals cover the truth ~95% of the time."""
    rng = np.random.default_rng(11 + weighted)
    reps = 300
    cover_rate = cover_diff = 0
    for _ in range(reps):
        y, yhat, sf, w = _population_draw(rng, 500, weighted)
        res = audit(y, yhat, sf, sample_weight=w, n_boot=500, random_state=rng.integers(2**31),
                    metrics=["selection_rate"], min_group_size=0, min_denominator=0)
        t = res.metric_table("selection_rate").loc[("sex", "F")]
        cover_rate += t["ci_low"] <= 0.3 <= t["ci_high"]
        d = res.disparities.loc[("sex", "demographic_parity_difference")]
        cover_diff += d["ci_low"] <= 0.2 <= d["ci_high"]
    # binomial(300, 0.95): 0.92..0.98 holds with probability > 0.99
    assert 0.92 <= cover_rate / reps <= 0.985, cover_rate / reps
    assert 0.92 <= cover_diff / reps <= 0.985, cover_diff / reps


@pytest.mark.slow
def test_regression_and_auc_intervals_cover() -> None:
    rng = np.random.default_rng(5)
    reps, cover_mae, cover_auc = 200, 0, 0
    for _ in range(reps):
        n = 600
        g = rng.choice(["a", "b"], n)
        y = rng.normal(size=n)
        yhat = y + rng.normal(scale=1.0, size=n)  # |error| has mean sqrt(2/pi)
        res = audit(y, yhat, {"g": g}, n_boot=400, random_state=rng.integers(2**31), min_group_size=0, min_denominator=0)
        t = res.metric_table("mean_absolute_error").loc[("g", "a")]
        cover_mae += t["ci_low"] <= np.sqrt(2 / np.pi) <= t["ci_high"]
        # scores: positives ~ N(1, 1), negatives ~ N(0, 1): AUC = Phi(1/sqrt(2))
        lab = rng.integers(0, 2, n)
        s = np.clip((rng.normal(size=n) + lab + 4) / 9, 0, 1)
        r2 = audit(lab, (s > 0.5).astype(int), {"g": g}, y_score=s, n_boot=400,
                   random_state=rng.integers(2**31), metrics=["roc_auc"], min_group_size=0, min_denominator=0)
        t2 = r2.metric_table("roc_auc").loc[("g", "a")]
        cover_auc += t2["ci_low"] <= 0.760249938 <= t2["ci_high"]
    assert 0.9 <= cover_mae / reps <= 0.99, cover_mae / reps
    assert 0.9 <= cover_auc / reps <= 0.99, cover_auc / reps


def test_same_seed_same_intervals_and_no_boot_no_intervals() -> None:
    rng = np.random.default_rng(3)
    y, yhat, sf, _ = _population_draw(rng, 300)
    a = audit(y, yhat, sf, n_boot=200, random_state=7)
    b = audit(y, yhat, sf, n_boot=200, random_state=7)
    pd.testing.assert_frame_equal(a.disparities, b.disparities)
    none = audit(y, yhat, sf, n_boot=0)
    # Wilson intervals are closed form (no draws); everything drawn is absent with n_boot=0
    wilson = [m for m, how in none.interval_methods.items() if how == "wilson"]
    drawn = [m for m in none.by_group_ci_low.columns if m not in wilson]
    assert wilson and drawn and set(none.interval_methods[m] for m in drawn) == {"none"}
    assert none.by_group_ci_low[wilson].notna().all().all()
    assert none.by_group_ci_low[drawn].isna().all().all()
    assert none.disparities["ci_low"].isna().all()
    # point values do not depend on the bootstrap
    pd.testing.assert_series_equal(a.by_group["selection_rate"], none.by_group["selection_rate"])


def test_interval_contains_the_point_estimate_for_group_rates() -> None:
    rng = np.random.default_rng(4)
    y, yhat, sf, _ = _population_draw(rng, 2000)
    res = audit(y, yhat, sf, n_boot=300, random_state=0)
    for m in ("selection_rate", "true_positive_rate", "accuracy"):
        t = res.metric_table(m)
        assert ((t["ci_low"] <= t["value"]) & (t["value"] <= t["ci_high"])).all(), m
