"""The bounded uniform sample of data read in partitions (:mod:`auditkit._scale._sample`).

Known answers come from brute force: every row's key from :func:`row_keys`, the ``k`` smallest,
put back in data order. Properties: the sample does not depend on how partitions are batched,
in which order partial samples merge, or on the bound a partition is told.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from auditkit._scale._sample import BottomK, row_keys


def make_parts(sizes: list[int], seed: int = 0) -> list[pd.DataFrame]:
    """Partitions of a frame with an id (partition, row), an int, a float and a text column."""
    rng = np.random.default_rng(seed)
    parts = []
    for p, n in enumerate(sizes):
        parts.append(
            pd.DataFrame(
                {
                    "pid": np.full(n, p, dtype=np.int64),
                    "row": np.arange(n, dtype=np.int64),
                    "x": rng.normal(size=n),
                    "t": pd.Series(rng.choice(["a", "b", "c"], size=n), dtype="str"),
                }
            )
        )
    return parts


def brute_force(parts: list[pd.DataFrame], k: int, seed: int) -> pd.DataFrame:
    """The k rows of smallest key, in data order."""
    keys = np.concatenate([row_keys(seed, p, 0, len(f)) for p, f in enumerate(parts)])
    whole = pd.concat(parts, ignore_index=True)
    if k >= len(whole):
        return whole
    chosen = np.sort(np.argsort(keys, kind="stable")[:k])
    return whole.iloc[chosen].reset_index(drop=True)


def split_points(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    """Batches [lo, hi) of ``n`` rows cut at ``cuts`` (taken modulo n + 1)."""
    points = sorted({0, n, *(c % (n + 1) for c in cuts)})
    return list(zip(points[:-1], points[1:], strict=True))


def sample_partition(
    frame: pd.DataFrame, p: int, k: int, seed: int, cuts: list[int], bound: int | None = None
) -> BottomK:
    s = BottomK(k, seed, bound=bound)
    for lo, hi in split_points(len(frame), cuts) or [(0, 0)]:
        s.add(frame.iloc[lo:hi], p, lo)
    return s


# -- keys ------------------------------------------------------------------------------------
def test_row_keys_depend_on_seed_partition_and_row_only():
    whole = row_keys(7, 3, 0, 100)
    np.testing.assert_array_equal(
        np.concatenate([row_keys(7, 3, 0, 40), row_keys(7, 3, 40, 60)]), whole
    )
    assert whole.dtype == np.uint64
    assert len(np.unique(whole)) == 100
    assert not np.array_equal(row_keys(8, 3, 0, 100), whole)
    assert not np.array_equal(row_keys(7, 4, 0, 100), whole)
    np.testing.assert_array_equal(row_keys(7, 3, 0, 100), whole)  # deterministic
    # a negative seed is taken modulo 2**64, as the docs' random_state may be any int
    np.testing.assert_array_equal(row_keys(-1, 0, 0, 5), row_keys(2**64 - 1, 0, 0, 5))


# -- known answers ---------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 7, 50])
def test_sample_is_the_rows_of_smallest_key_in_data_order(k):
    parts = make_parts([30, 0, 25, 12], seed=1)
    merged = None
    for p, f in enumerate(parts):
        s = sample_partition(f, p, k, seed=11, cuts=[5, 17])
        merged = s if merged is None else merged.merge(s)
    got = merged.rows()
    pd.testing.assert_frame_equal(got, brute_force(parts, k, 11))
    assert len(got) == k
    assert not got.duplicated(["pid", "row"]).any()
    assert merged.rows_seen == 67


def test_k_at_least_n_is_the_data_itself_with_pandas_dtypes():
    parts = make_parts([4, 3], seed=2)
    parts[1]["n"] = [1, 2, 3]  # int64 in one partition, float64 with a missing value in another
    parts[0]["n"] = [1.0, np.nan, 2.0, 3.0]
    merged = sample_partition(parts[0], 0, 100, 5, [2]).merge(
        sample_partition(parts[1], 1, 100, 5, [])
    )
    whole = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(merged.rows(), whole)
    assert merged.rows()["n"].dtype == np.float64


def test_no_rows_keeps_the_columns():
    """Data of zero rows (every partition empty): the sample, which is the data when k >= n, is
    an empty frame with the data's columns and dtypes, as the in-memory path's frame is."""
    parts = make_parts([0, 0])
    s = sample_partition(parts[0], 0, 10, 1, []).merge(sample_partition(parts[1], 1, 10, 1, []))
    pd.testing.assert_frame_equal(s.rows(), pd.concat(parts, ignore_index=True))


def test_zero_k_and_empty_input():
    s = BottomK(0, 1)
    s.add(make_parts([10])[0], 0, 0)
    assert s.rows_seen == 10 and len(s.rows()) == 0
    e = BottomK(5, 1)
    e.add(make_parts([0])[0], 0, 0)
    assert e.rows_seen == 0 and len(e.rows()) == 0


# -- properties ------------------------------------------------------------------------------
sizes_st = st.lists(st.integers(0, 40), min_size=1, max_size=5)
cuts_st = st.lists(st.lists(st.integers(0, 41), max_size=4), min_size=5, max_size=5)


@settings(max_examples=60, deadline=None)
@given(
    sizes=sizes_st,
    k=st.integers(1, 60),
    seed=st.integers(-(2**63), 2**64 - 1),
    cuts=cuts_st,
    order=st.randoms(use_true_random=False),
)
def test_sample_independent_of_batching_and_merge_order(sizes, k, seed, cuts, order):
    assume(sum(sizes) > 0)  # no rows: test_no_rows_keeps_the_columns
    parts = make_parts(sizes)
    samples = [sample_partition(f, p, k, seed, cuts[p]) for p, f in enumerate(parts)]
    order.shuffle(samples)
    # merge as a random binary tree (Dask's tree reduction in any shape)
    while len(samples) > 1:
        i = order.randrange(len(samples) - 1)
        a, b = samples[i], samples[i + 1]
        samples[i : i + 2] = [a.merge(b) if order.random() < 0.5 else b.merge(a)]
    got = samples[0].rows()
    expected = brute_force(parts, k, seed)
    pd.testing.assert_frame_equal(got, expected)
    n = sum(sizes)
    assert len(got) == min(k, n)
    assert not got.duplicated(["pid", "row"]).any()
    assert samples[0].rows_seen == n


@settings(max_examples=60, deadline=None)
@given(
    sizes=sizes_st,
    k=st.integers(1, 30),
    seed=st.integers(0, 2**32),
    cuts=cuts_st,
    order=st.randoms(use_true_random=False),
)
def test_bound_from_the_running_sample_does_not_change_the_result(sizes, k, seed, cuts, order):
    """Each partition is told the limit of the sample of the partitions done before it (in any
    order, as the Dask pass does); the merged sample is the same as without bounds."""
    assume(sum(sizes) > 0)
    parts = make_parts(sizes)
    todo = list(range(len(parts)))
    order.shuffle(todo)
    running = None
    for p in todo:
        bound = None if running is None else running.limit()
        s = sample_partition(parts[p], p, k, seed, cuts[p], bound=bound)
        if bound is not None and s.frame is not None:
            assert (s.frame["__auditkit_key"].to_numpy() < np.uint64(bound)).all()
        running = (
            s
            if running is None
            else (running.merge(s) if order.random() < 0.5 else s.merge(running))
        )
    pd.testing.assert_frame_equal(running.rows(), brute_force(parts, k, seed))


@settings(max_examples=40, deadline=None)
@given(sizes=sizes_st, k=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_union_merge_is_the_sample_of_the_concatenation(sizes, k, seed):
    """Two sets of rows of one partition (a split at any row): merging their samples gives the
    sample of all the rows, whichever comes first."""
    frame = make_parts([sum(sizes)])[0]
    cut = sizes[0]
    a = BottomK(k, seed)
    a.add(frame.iloc[:cut], 0, 0)
    b = BottomK(k, seed)
    b.add(frame.iloc[cut:], 0, cut)
    whole = BottomK(k, seed)
    whole.add(frame, 0, 0)
    pd.testing.assert_frame_equal(a.merge(b).rows(), whole.rows())
    pd.testing.assert_frame_equal(b.merge(a).rows(), whole.rows())


def test_sample_is_roughly_uniform_over_the_rows():
    """Chi-square of the decile of the data each sampled row falls in, pooled over 200 fixed
    seeds: 10 equal cells, 9 degrees of freedom; 40 is far in the tail (p < 1e-5)."""
    sizes = [300, 500, 200]
    parts = make_parts(sizes)
    n = sum(sizes)
    offsets = np.cumsum([0, *sizes[:-1]])
    counts = np.zeros(10)
    first_half = 0
    for seed in range(200):
        merged = None
        for p, f in enumerate(parts):
            s = sample_partition(f, p, 50, seed, [77, 150])
            merged = s if merged is None else merged.merge(s)
        rows = merged.rows()
        position = offsets[rows["pid"].to_numpy()] + rows["row"].to_numpy()
        counts += np.bincount(position * 10 // n, minlength=10)
        first_half += int((position < n // 2).sum())
    expected = counts.sum() / 10
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert counts.sum() == 200 * 50
    assert chi2 < 40, chi2
    # and the sample is not the first or the last rows
    assert 0.45 < first_half / counts.sum() < 0.55
