"""The self-starting CUSUM: its threshold keeps the false-alarm rate, its residuals are N(0, 1)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness._sequential import DetectorSpec, cusum_threshold, detect
from auditkit.fairness._sequential_counts import detect_rate
from auditkit.fairness.errors import FairnessInputError


def _null_rate(h: float, horizon: int, k: float, warmup: int, n: int, seed: int) -> float:
    """Share of fresh N(0, 1) residual streams whose two-sided CUSUM exceeds h (written anew)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, horizon))
    up = np.zeros(n)
    lo = np.zeros(n)
    hit = np.zeros(n, dtype=bool)
    for t in range(horizon):
        up = np.maximum(0.0, up + z[:, t] - k)
        lo = np.maximum(0.0, lo - z[:, t] - k)
        if t + 1 >= warmup:
            hit |= (up > h) | (lo > h)
    return float(hit.mean())


def test_one_step_threshold_is_the_normal_quantile_minus_k() -> None:
    # horizon 1: the statistic is max(0, |z| - k), so P(> h) = alpha at h = z_{1 - alpha/2} - k
    h = cusum_threshold(1, 0.05, 0.5, warmup=1)
    exact = NormalDist().inv_cdf(0.975) - 0.5
    assert exact <= h <= NormalDist().inv_cdf(1 - 0.95 * 0.05 / 2) - 0.5


@pytest.mark.parametrize(("alpha", "k"), [(0.05, 1.25), (0.05, 0.5), (0.01, 1.25)])
def test_threshold_false_alarm_rate_on_fresh_residuals(alpha: float, k: float) -> None:
    h = cusum_threshold(52, alpha, k, warmup=2)
    n = 100_000
    rate = _null_rate(h, 52, k, 2, n, seed=99)
    sd = np.sqrt(alpha * (1 - alpha) / n)
    # at most alpha (up to Monte Carlo error), and not needlessly conservative: the upper
    # confidence bound of 400,000 draws gives up ~1.65 of their standard deviations
    assert alpha * 0.9 - 3 * sd <= rate <= alpha + 3 * sd, (rate, alpha)


def test_threshold_orders_and_repeats() -> None:
    a = cusum_threshold(52, 0.05)
    assert cusum_threshold(52, 0.05) == a
    assert cusum_threshold(52, 0.01) > a > cusum_threshold(52, 0.1)
    assert cusum_threshold(104, 0.05) > a > cusum_threshold(13, 0.05)
    assert cusum_threshold(52, 0.05, 0.5) > a


def test_null_streams_with_heterogeneous_errors_keep_the_rate() -> None:
    rng = np.random.default_rng(5)
    spec = DetectorSpec(horizon=52, alpha=0.1)
    reps, alarms, zs = 2000, 0, []
    for _ in range(reps):
        se = rng.uniform(0.01, 0.1, 52)
        d = 0.3 + se * rng.standard_normal(52)
        trace = detect(d, se, np.ones(52, dtype=bool), spec)
        alarms += bool(trace.alarm.any())
        zs.append(trace.z[1:4])
    rate = alarms / reps
    assert 0.1 - 3 * np.sqrt(0.09 / reps) - 0.01 <= rate <= 0.1 + 3 * np.sqrt(0.09 / reps), rate
    # the first residuals (baselines of 1-3 windows) are standard normal and uncorrelated
    z = np.array(zs)
    assert np.all(np.abs(z.mean(axis=0)) < 0.08)
    assert np.all(np.abs(z.std(axis=0) - 1) < 0.05), z.std(axis=0)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.07


def test_first_residual_and_baseline_by_hand() -> None:
    d = np.array([1.0, 2.0, 0.0, 5.0])
    s = np.array([1.0, 2.0, 1.0, 1.0])
    trace = detect(d, s, spec=DetectorSpec(k=0.5, warmup=1))
    assert np.isnan(trace.z[0]) and np.isnan(trace.baseline[0])
    assert trace.baseline[1] == 1.0 and trace.z[1] == pytest.approx(1.0 / np.sqrt(4 + 1))
    # baseline after two windows: (1/1 + 2/4) / (1 + 1/4) = 1.2, variance 1 / 1.25 = 0.8
    assert trace.baseline[2] == pytest.approx(1.2)
    assert trace.z[2] == pytest.approx(-1.2 / np.sqrt(1 + 0.8))
    assert trace.upper[1] == pytest.approx(max(0.0, trace.z[1] - 0.5))
    assert trace.lower[2] == pytest.approx(max(0.0, -trace.z[2] - 0.5))


def test_unusable_windows_are_skipped() -> None:
    rng = np.random.default_rng(1)
    d = rng.normal(0, 1, 30)
    s = np.ones(30)
    base = detect(d, s)
    d2, s2 = np.insert(d, [5, 10, 10, 20], [1e6, -1e6, np.nan, 7.0]), np.insert(s, [5, 10, 10, 20], 1.0)
    usable = np.ones(34, dtype=bool)
    skipped = np.array([5, 11, 12, 23])  # positions of the inserted windows
    usable[[5, 11, 23]] = False  # the nan estimate (12) is unusable by itself
    trace = detect(d2, s2, usable)
    keep = np.setdiff1d(np.arange(34), skipped)
    assert np.all(np.isnan(trace.z[skipped])) and not trace.used[skipped].any()
    np.testing.assert_allclose(trace.z[keep], base.z, equal_nan=True)
    np.testing.assert_array_equal(trace.alarm[keep], base.alarm)
    # a zero standard error cannot scale a residual: that window is skipped too
    s3 = s.copy()
    s3[7] = 0.0
    assert not detect(d, s3).used[7]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.floats(-1e3, 1e3), scale=st.floats(1e-3, 1e3),
       jump=st.floats(0.0, 8.0))
def test_invariant_to_location_and_scale(seed: int, shift: float, scale: float, jump: float) -> None:
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.5, 2.0, 40)
    d = s * rng.standard_normal(40) + np.where(np.arange(40) >= 25, jump, 0.0)
    usable = rng.random(40) > 0.1
    ref = detect(d, s, usable)
    moved = detect(d + shift, s, usable)
    scaled = detect(d * scale, s * scale, usable)
    for other in (moved, scaled):
        np.testing.assert_allclose(other.z, ref.z, rtol=1e-6, atol=1e-6, equal_nan=True)
        near = np.abs(np.maximum(ref.upper, ref.lower) - ref.threshold) < 1e-5
        assert np.array_equal(other.alarm[~near], ref.alarm[~near])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_large_shift_alarms_at_once_and_restarts(sign: float) -> None:
    rng = np.random.default_rng(3)
    s = np.full(40, 0.03)
    d = 0.05 + s * rng.standard_normal(40)
    d[20:] += sign * 0.3  # a ten standard-error change at window 20
    trace = detect(d, s, n_streams=20)
    assert np.flatnonzero(trace.alarm).tolist() == [20]
    assert (trace.upper if sign > 0 else trace.lower)[20] > trace.threshold
    # restart: the alarm window's estimate alone is the next baseline, the sums begin at 0
    assert trace.baseline[21] == pytest.approx(d[20], rel=1e-12)
    assert trace.upper[21] == pytest.approx(max(0.0, trace.z[21] - DetectorSpec().k))
    assert trace.z[21] == pytest.approx((d[21] - d[20]) / np.sqrt(2) / 0.03)


def test_warmup_holds_alarms_back_also_after_a_restart() -> None:
    s = np.ones(12)
    d = np.zeros(12)
    d[1:] = 20.0  # a jump at the first residual
    d[6:] = 60.0  # and another one later
    trace = detect(d, s, spec=DetectorSpec(warmup=2))
    # residual 1 (window 1) may not alarm; window 2 may; after the restart at 2 the new baseline is
    # window 2, window 3 is residual 1 and window 4 residual 2, so the jump at 6 alarms at 6 itself
    assert np.flatnonzero(trace.alarm).tolist() == [2, 6]
    late = detect(d, s, spec=DetectorSpec(warmup=3))
    assert late.alarm[3] and not late.alarm[:3].any()


def test_thresholds_use_bonferroni() -> None:
    d, s = np.zeros(10), np.ones(10)
    trace = detect(d, s, spec=DetectorSpec(alpha=0.05), n_streams=4)
    assert trace.alpha_per_stream == pytest.approx(0.0125)
    assert trace.threshold == cusum_threshold(52, 0.0125)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: detect([1.0, 2.0], [0.1, -0.1]), "negative standard error"),
        (lambda: detect([1.0, 2.0], [0.1]), "'std_errors' to have one value per window"),
        (lambda: detect([1.0, 2.0], [0.1, 0.1], [True]), "'usable' to have one value"),
        (lambda: detect([1.0, 2.0], [0.1, 0.1], [1, 0]), "'usable' to be an array of booleans"),
        (lambda: detect([[1.0]], [[0.1]]), "one-dimensional"),
        (lambda: detect(["a"], [0.1]), "could not be read as numbers"),
        (lambda: detect([1.0], [0.1], n_streams=0), "'n_streams'"),
        (lambda: detect([1.0], [0.1], spec={"alpha": 0.05}), "DetectorSpec"),
        (lambda: DetectorSpec(alpha=0.0), "'alpha'"),
        (lambda: DetectorSpec(alpha=1.0), "'alpha'"),
        (lambda: DetectorSpec(horizon=0), "'horizon'"),
        (lambda: DetectorSpec(k=-1.0), "'k'"),
        (lambda: DetectorSpec(warmup=0), "'warmup'"),
        (lambda: cusum_threshold(52, 1.5, 1.0), "'alpha'"),
        (lambda: cusum_threshold(0, 0.05, 1.0), "'horizon'"),
        (lambda: cusum_threshold(52, 1e-9, 1.0), "too small to calibrate"),
    ],
)
def test_bad_input_is_refused_with_a_message(call, words: str) -> None:
    with pytest.raises(FairnessInputError, match=words.replace("(", r"\(")):
        call()


# --- counts: detect_rate (null-restricted errors, minimum expected count) ---------------------

def _binomial_null(n_group: int, n_rest: int, rate: float, streams: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.binomial(n_group, rate, (streams, 52)).astype(float)
    rx = rng.binomial(n_rest, rate, (streams, 52)).astype(float)
    return x, np.full_like(x, n_group), rx, np.full_like(x, n_rest)


def test_plug_in_errors_of_small_groups_inflate_false_alarms_and_counts_do_not() -> None:
    # 30-row group against a 300-row rest, both rates 0.5 (15 expected rows of each outcome):
    # the plug-in error of the gap understates the spread in the tails the threshold sits in
    streams, alpha = 1500, 0.05
    x, d, rx, rd = _binomial_null(30, 300, 0.5, streams, seed=21)
    spec = DetectorSpec(alpha=alpha)
    old = new = 0
    for i in range(streams):
        ps, qs = (x[i] + 0.5) / (d[i] + 1), (rx[i] + 0.5) / (rd[i] + 1)
        se = np.sqrt(ps * (1 - ps) / d[i] + qs * (1 - qs) / rd[i])
        old += bool(detect(x[i] / d[i] - rx[i] / rd[i], se, spec=spec).alarm.any())
        new += bool(detect_rate(x[i], d[i], rx[i], rd[i], spec=spec).alarm.any())
    sd = np.sqrt(alpha * (1 - alpha) / streams)
    assert old / streams > alpha + 4 * sd  # the flaw: about 2.5 alpha
    assert new / streams <= alpha + 3 * sd, new / streams


def test_windows_below_the_expected_count_are_skipped() -> None:
    # rate 0.1 in 30 rows expects 3 positive rows: never judged, whatever happens
    x, d, rx, rd = _binomial_null(30, 300, 0.1, 1, seed=2)
    x[0, 40:] = 30.0
    trace = detect_rate(x[0], d[0], rx[0], rd[0])
    assert not trace.used[:40].any() and not trace.alarm.any()
    # the same stream with the rule off uses every window
    assert detect_rate(x[0], d[0], rx[0], rd[0], min_expected=0).used.all()


def test_residual_by_hand_pooled_rates() -> None:
    x, d = np.array([40.0, 50.0, 70.0]), np.array([100.0, 100.0, 100.0])
    rx, rd = np.array([100.0, 90.0, 110.0]), np.array([200.0, 200.0, 200.0])
    trace = detect_rate(x, d, rx, rd, spec=DetectorSpec(k=0.5, warmup=1))
    assert np.isnan(trace.z[0]) and trace.used.all()
    p, q = (40 + 50 + 0.5) / 201, (100 + 90 + 0.5) / 401
    v = p * (1 - p) / 100 + q * (1 - q) / 200
    assert trace.baseline[1] == pytest.approx(0.4 - 0.5)
    assert trace.z[1] == pytest.approx((0.5 - 0.45 - (0.4 - 0.5)) / np.sqrt(2 * v))
    # third window: the baseline is the mean of two equally weighted windows
    p, q = (160 + 0.5) / 301, (300 + 0.5) / 601
    v = p * (1 - p) / 100 + q * (1 - q) / 200
    assert trace.baseline[2] == pytest.approx((-0.1 + 0.05) / 2)
    assert trace.z[2] == pytest.approx((0.7 - 0.55 + 0.025) / np.sqrt(v + v / 2))


def test_single_rate_and_a_lasting_shift_alarms_once() -> None:
    rng = np.random.default_rng(4)
    n = np.full(52, 500.0)
    x = rng.binomial(500, np.where(np.arange(52) >= 30, 0.45, 0.3)).astype(float)
    trace = detect_rate(x, n)
    assert 30 <= int(np.flatnonzero(trace.alarm)[0]) <= 32
    assert int(trace.alarm.sum()) == 1


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: detect_rate([1.0, 2.0], [1.0]), "'denominator' to be one-dimensional"),
        (lambda: detect_rate([5.0], [1.0]), "at most its denominator"),
        (lambda: detect_rate([-1.0], [1.0]), "finite counts >= 0"),
        (lambda: detect_rate(["a"], [1.0]), "could not be read"),
        (lambda: detect_rate([1.0], [2.0], [1.0]), "both 'rest_numerator' and 'rest_denominator'"),
        (lambda: detect_rate([1.0], [2.0], usable=[1]), "'usable' to be booleans"),
        (lambda: detect_rate([1.0], [2.0], n_streams=0), "'n_streams'"),
        (lambda: detect_rate([1.0], [2.0], min_expected=-1.0), "'min_expected'"),
        (lambda: detect_rate([1.0], [2.0], spec=0.05), "DetectorSpec"),
    ],
)
def test_detect_rate_refuses_bad_input(call, words: str) -> None:
    with pytest.raises(FairnessInputError, match=words):
        call()
