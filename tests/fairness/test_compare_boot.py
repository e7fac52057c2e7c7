"""The bounded-memory paired bootstrap of ``compare``: the same numbers as holding every draw."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import _compare_boot as boot
from auditkit.fairness import _metrics as M
from auditkit.fairness._compare import DISPARITIES, compare
from auditkit.fairness._compare_inputs import DEFAULT_METRICS, groups, joint_codes
from auditkit.fairness._evaluate import disparity_value
from auditkit.fairness._evidence import harm_sign


def _nanquantile(x: np.ndarray, q: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(x, q, axis=0)


def _streamed(x: np.ndarray, ci: float, sizes: list[int]) -> tuple[boot._Tails, boot._Moments]:
    """Feed the rows of ``x`` to the tails and moments in batches of the given sizes, and the
    columns in two chunks."""
    k = boot.tail_size(len(x), ci)
    tails, moments = boot._Tails(k, x.shape[1]), boot._Moments(x.shape[1])
    half = x.shape[1] // 2
    r0 = 0
    for size in [*sizes, len(x)]:
        rows = slice(r0, min(len(x), r0 + max(size, 1)))
        for cols in (slice(0, half), slice(half, x.shape[1])):
            tails.add(x[rows, cols], cols)
            moments.add(x[rows, cols], cols)
        r0 = rows.stop
        if r0 >= len(x):
            break
    return tails, moments


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.integers(1, 6), st.floats(0.01, 0.99),
       st.sampled_from([0.0, 0.05, 0.5, 0.95, 1.0]), st.booleans(),
       st.lists(st.integers(1, 150), max_size=6))
def test_tails_give_numpys_nanquantile_to_the_bit(seed, n, width, ci, nan_share, ties, sizes) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, width))
    if ties:  # many equal draws, as small groups give
        x = np.round(x * 3) / 7
    x[rng.random((n, width)) < nan_share] = np.nan
    tails, _ = _streamed(x, ci, sizes)
    a = (1.0 - ci) / 2.0
    lo, hi = tails.interval(ci)
    np.testing.assert_array_equal(lo, _nanquantile(x, a))
    np.testing.assert_array_equal(hi, _nanquantile(x, 1.0 - a))
    np.testing.assert_array_equal(tails.count, (~np.isnan(x)).sum(axis=0))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(100, 600), st.sampled_from([0.0, 0.2, 0.6]),
       st.lists(st.integers(1, 200), min_size=1, max_size=5))
def test_moments_give_nanstd(seed, n, bad_share, sizes) -> None:
    """One batch: np.nanstd(ddof=1) of the finite draws to the bit; several: to rounding. A column
    with fewer than half its draws finite has no standard error."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 0.05, size=(n, 4))
    x[:, 3] = 0.0  # a difference that never moves
    bad = rng.random((n, 4)) < bad_share
    x[bad] = np.where(rng.random(bad.sum()) < 0.5, np.nan, np.inf)
    finite = np.isfinite(x)
    ok = finite.mean(axis=0) >= boot.MIN_FINITE_DRAWS
    want = np.where(ok, np.nanstd(np.where(finite, x, np.nan), axis=0, ddof=1), np.nan)
    one = boot._Moments(4)
    one.add(x, slice(0, 4))
    np.testing.assert_array_equal(one.se(n), want)
    _, many = _streamed(x, 0.95, sizes)
    np.testing.assert_allclose(many.se(n), want, rtol=1e-12, atol=0)
    assert many.se(n)[3] == 0.0 or np.isnan(want[3])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 7))
def test_spreads_built_chunk_by_chunk_give_the_disparity(seed, chunk, rows) -> None:
    """Max, min and counts merged over column chunks and row batches give, per draw,
    :func:`disparity_value` of the whole grouping (NaN where fewer than two groups count)."""
    rng = np.random.default_rng(seed)
    n_boot, width = 20, 9
    slices = (("g", slice(0, 2)), ("h", slice(2, 9)))
    names = ("selection_rate", "true_positive_rate", "false_positive_rate")
    values = tuple({m: np.where(rng.random((n_boot, width)) < 0.3, np.nan, rng.random((n_boot, width)))
                    for m in names} for _ in range(2))
    eligible = {m: rng.random(width) < 0.7 for m in names}
    spec = boot.Spec(signs={}, needed=names, favourable_is_positive=True, ci=0.9, eligible=eligible,
                     disparities=tuple((g, d, bases, sl) for g, sl in slices for d, bases in DISPARITIES.items()))
    spreads = boot._Spreads(spec, n_boot)
    for r0 in range(0, n_boot, rows):
        r = slice(r0, min(n_boot, r0 + rows))
        for c0 in range(0, width, chunk):
            c1 = min(width, c0 + chunk)
            spreads.add(tuple({m: v[m][r, c0:c1] for m in names} for v in values), r, c0, c1)
    got = spreads.changes()
    for g, d, bases, sl in spec.disparities:
        per = [disparity_value(v, eligible, bases, "difference", sl) for v in values]
        np.testing.assert_array_equal(got[(g, d)], per[1] - per[0])


# -- the whole bootstrap against holding every draw -----------------------------------------
def _setup(n: int, n_levels: int, seed: int) -> tuple[np.ndarray, boot.Spec]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    b = np.where(rng.random(n) < 0.8, y, 1 - y)
    c = np.where(rng.random(n) < 0.15, 1 - b, b)
    codes, _, _ = joint_codes(y, b, c, None, None)
    g = groups(codes, {"s": rng.integers(0, n_levels, n), "t": rng.choice(["p", "q"], n)}, True)
    n_rows = g.tables.sum(axis=1)
    eligible = {m: n_rows >= 5 for m in ("selection_rate", "true_positive_rate", "false_positive_rate")}
    spec = boot.Spec(signs={m: harm_sign(m, False) for m in DEFAULT_METRICS}, needed=DEFAULT_METRICS,
                     favourable_is_positive=True, ci=0.9,
                     disparities=tuple((name, d, bases, sl) for name, sl in g.slices
                                       for d, bases in DISPARITIES.items()),
                     eligible=eligible)
    return g.tables, spec


def _holding_every_draw(tables: np.ndarray, n_boot: int, seed: int, spec: boot.Spec) -> dict:
    """The bootstrap as it was: every draw of every group in memory at once."""
    draws = boot._draw(tables, n_boot, np.random.default_rng(seed))
    values = [M.binary_metrics(c, 1, spec.needed) for c in boot._confusions(draws)]
    out: dict = {"low": {}, "high": {}, "se": {}, "changes": {}}
    a = (1.0 - spec.ci) / 2.0
    for m, sign in spec.signs.items():
        d = values[1][m] - values[0][m]
        out["low"][m], out["high"][m] = _nanquantile(d, a), _nanquantile(d, 1.0 - a)
        h = np.where(np.isfinite(sign * d), sign * d, np.nan)
        ok = np.isfinite(h).mean(axis=0) >= boot.MIN_FINITE_DRAWS
        out["se"][m] = np.where(ok, np.nanstd(np.where(ok, h, 0.0), axis=0, ddof=1), np.nan)
    for grouping, name, bases, sl in spec.disparities:
        per = [disparity_value(v, spec.eligible, bases, "difference", sl) for v in values]
        out["changes"][(grouping, name)] = per[1] - per[0]
    return out


@pytest.mark.parametrize("budget", [None, 1_500_000, 800_000])
def test_bootstrap_equals_holding_every_draw_whatever_the_batches(budget) -> None:
    """Default budget: one batch, identical to the bit. Small budgets force draw batches, metric
    chunks and group passes that replay the stream: the intervals and the disparities' draws stay
    identical to the bit, the standard errors to rounding, and the caller's generator ends in the
    same state."""
    tables, spec = _setup(6000, 60, 0)
    n_boot = 300
    want = _holding_every_draw(tables, n_boot, 7, spec)
    rng = np.random.default_rng(7)
    got = boot.bootstrap(tables, n_boot, rng, spec, budget=budget)
    if budget is None:
        assert got.plan.passes == 1 and got.plan.draw_batch == n_boot
    else:
        assert got.plan.draw_batch < n_boot and got.plan.chunk < len(tables)
        assert got.plan.passes == (1 if budget > 1_000_000 else 3)
    for m in spec.signs:
        np.testing.assert_array_equal(got.low[m], want["low"][m])
        np.testing.assert_array_equal(got.high[m], want["high"][m])
        if budget is None:
            np.testing.assert_array_equal(got.se[m], want["se"][m])
        else:
            np.testing.assert_allclose(got.se[m], want["se"][m], rtol=1e-12, atol=0)
    assert got.changes.keys() == want["changes"].keys()
    for key, draws in want["changes"].items():
        np.testing.assert_array_equal(got.changes[key], draws)
    after = np.random.default_rng(7)
    boot._draw(tables, n_boot, after)
    assert rng.bit_generator.state == after.bit_generator.state


@pytest.mark.parametrize(("n", "n_levels", "n_boot", "budget"),
                         [(20000, 2000, 200, 16 * 2**20), (20000, 2000, 200, 8 * 2**20),
                          (3000, 5, 500, 2 * 2**20)])
def test_the_bootstrap_stays_under_its_memory_budget(n, n_levels, n_boot, budget) -> None:
    """The guard at work: the plan's estimate and the bytes numpy really allocates during the
    bootstrap (traced) both stay under the budget, which the old all-draws-at-once way exceeds."""
    tables, spec = _setup(n, n_levels, 1)
    held_at_once = n_boot * len(tables) * 8 * 8  # the old (n_boot, G, 8) draws alone
    assert held_at_once > budget or n_levels == 5
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        res = boot.bootstrap(tables, n_boot, np.random.default_rng(0), spec, budget=budget)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert res.plan.estimate <= budget
    assert peak <= budget, (peak, res.plan)


def test_plan_keeps_everything_in_one_batch_when_it_fits() -> None:
    p = boot.plan(14, 2000, 8, 8, 0.95, 60)
    assert (p.passes, p.chunk, p.draw_batch) == (1, 14, 2000)
    big = boot.plan(5000, 2000, 8, 8, 0.95, 60)
    assert big.passes == 1 and big.group_batch == 5000 and boot.tail_size(2000, 0.95) <= big.draw_batch < 2000
    assert big.estimate <= boot.BOOTSTRAP_MEMORY_BYTES
    # the tails of 200,000 groups do not fit in 512 MiB: several passes over the same stream
    huge = boot.plan(200_000, 2000, 8, 8, 0.95, 60)
    assert huge.passes > 1 and huge.estimate <= boot.BOOTSTRAP_MEMORY_BYTES


def test_tail_size_covers_the_interval_indices() -> None:
    for n_boot in (100, 101, 999, 2000, 20000):
        for ci in (0.5, 0.8, 0.9, 0.95, 0.99):
            a = (1.0 - ci) / 2.0
            k = boot.tail_size(n_boot, ci)
            assert np.floor(a * (n_boot - 1)) + 1 < k <= n_boot  # lower quantile's two neighbours
            assert (n_boot - 1) - np.floor((1 - a) * (n_boot - 1)) < k  # and the upper one's


def test_compare_gives_the_same_table_under_a_small_budget(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    n = 8000
    sf = pd.DataFrame({"s": rng.integers(0, 40, n).astype(str), "t": rng.choice(["p", "q"], n)})
    y = rng.integers(0, 2, n)
    b = np.where(rng.random(n) < 0.8, y, 1 - y)
    c = np.where((sf["s"] == "3") & (b == y) & (rng.random(n) < 0.5), 1 - b, b)
    kw = {"n_boot": 400, "random_state": 5, "min_group_size": 20, "min_denominator": 10}
    full = compare(y, b, c, sf, **kw)
    monkeypatch.setattr(boot, "BOOTSTRAP_MEMORY_BYTES", 600_000)  # two passes, chunks, draw batches
    small = compare(y, b, c, sf, **kw)
    pd.testing.assert_frame_equal(small.disparities, full.disparities, check_exact=True)
    exact = [col for col in full.table.columns if col not in ("se", "p_value", "p_adjusted")]
    pd.testing.assert_frame_equal(small.table[exact], full.table[exact], check_exact=True)
    pd.testing.assert_frame_equal(small.table, full.table, check_exact=False, rtol=1e-10, atol=0)
    assert [(w.group, w.metric) for w in small.worse] == [(w.group, w.metric) for w in full.worse] != []
