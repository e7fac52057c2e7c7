"""The sufficient statistics merge exactly; Dask partitions give the pandas answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import MISSING, FairnessInputError, audit, audit_counts, count


def _data(seed: int, n: int = 400, weighted: bool = False):
    rng = np.random.default_rng(seed)
    sf = pd.DataFrame({
        "sex": rng.choice(["F", "M"], n).astype(object),
        "race": rng.choice(["a", "b", "c"], n).astype(object),
    })
    sf.loc[rng.random(n) < 0.05, "race"] = None
    y = rng.integers(0, 2, n)
    yhat = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 3)
    w = rng.uniform(0.2, 2.0, n) if weighted else None
    return y, yhat, sf, s, w


def _assert_same(a, b) -> None:
    pd.testing.assert_frame_equal(a.by_group, b.by_group, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(a.disparities, b.disparities, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(a.overall, b.overall, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.integers(1, 399), min_size=1, max_size=5), st.booleans())
def test_merge_of_any_split_equals_the_whole(seed, cuts, weighted) -> None:
    y, yhat, sf, s, w = _data(seed, weighted=weighted)
    edges = [0, *sorted(set(cuts)), len(y)]
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        parts.append(count(y[lo:hi], yhat[lo:hi], sf.iloc[lo:hi], y_score=s[lo:hi],
                           sample_weight=None if w is None else w[lo:hi]))
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    whole = count(y, yhat, sf, y_score=s, sample_weight=w)
    assert merged.levels == whole.levels
    np.testing.assert_array_equal(merged.n, whole.n)
    np.testing.assert_allclose(merged.w, whole.w, rtol=1e-12)
    np.testing.assert_array_equal(merged.scores.hist_n, whole.scores.hist_n)
    _assert_same(audit_counts(merged, n_boot=0), audit_counts(whole, n_boot=0))


def test_merge_aligns_levels_seen_in_one_chunk_only() -> None:
    a = count([0, 1, 1], [0, 1, 0], {"g": ["x", "x", "y"]})
    b = count([1, 0], [1, 1], {"g": ["z", None]})
    m = a.merge(b)
    assert m.levels == (("x", "y", "z", MISSING),)
    assert m.n_rows == 5
    res = audit_counts(m, n_boot=0, min_group_size=0, min_denominator=0)
    assert list(res.by_group.xs("g", level="grouping").index) == ["x", "y", "z", MISSING]


def test_missing_values_are_an_explicit_group() -> None:
    y, yhat, sf, _, _ = _data(1)
    res = audit(y, yhat, sf, n_boot=0)
    race = res.by_group.xs("race", level="grouping")
    assert MISSING in race.index
    assert race.loc[MISSING, "n"] == sf["race"].isna().sum()
    assert race["n"].sum() == len(y)  # nothing dropped


def test_numpy_pandas_and_list_inputs_give_one_result_type() -> None:
    y, yhat, sf, _, _ = _data(2)
    r1 = audit(y, yhat, sf, n_boot=0)
    r2 = audit(pd.Series(y), pd.Series(yhat), {"sex": sf["sex"].to_numpy(), "race": sf["race"].to_numpy()}, n_boot=0)
    r3 = audit(list(y), list(yhat), sf["sex"], n_boot=0)
    assert type(r1) is type(r2) is type(r3)
    _assert_same(r1, r2)
    assert r3.groupings == ["sex"]
    assert list(r3.by_group.columns) == list(r1.by_group.columns)


def test_dask_partitions_equal_pandas() -> None:
    import dask.dataframe as dd
    y, yhat, sf, s, w = _data(3, n=3000, weighted=True)
    df = sf.assign(y=y, yhat=yhat, s=s, w=w)
    ddf = dd.from_pandas(df, npartitions=7)
    kw = dict(n_boot=200, random_state=5, min_group_size=0, min_denominator=0)
    ours = audit(ddf["y"], ddf["yhat"], ddf[["sex", "race"]], y_score=ddf["s"], sample_weight=ddf["w"], **kw)
    ref = audit(y, yhat, sf, y_score=s, sample_weight=w, **kw)
    _assert_same(ours, ref)
    pd.testing.assert_frame_equal(ours.by_group_ci_low, ref.by_group_ci_low, rtol=1e-9, atol=1e-12)


def test_counts_are_tiny_and_independent_of_rows_without_scores() -> None:
    y, yhat, sf, _, _ = _data(4, n=5000)
    c = count(y, yhat, sf)
    assert c.n.shape == (2, 4, 2, 2)  # sex x race(+missing) x truth x prediction
    assert c.n.sum() == 5000


def test_regression_counts_merge_and_dask() -> None:
    rng = np.random.default_rng(6)
    n = 1200
    sf = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n)})
    y = rng.normal(size=n)
    yhat = y + rng.normal(scale=0.3, size=n)
    w = rng.uniform(0.5, 2, n)
    whole = audit(y, yhat, sf, sample_weight=w, n_boot=0)
    parts = count(y[:500], yhat[:500], sf.iloc[:500], sample_weight=w[:500]).merge(
        count(y[500:], yhat[500:], sf.iloc[500:], sample_weight=w[500:]))
    _assert_same(audit_counts(parts, n_boot=0), whole)
    import dask.dataframe as dd
    ddf = dd.from_pandas(sf.assign(y=y, yhat=yhat, w=w), npartitions=4)
    _assert_same(audit(ddf["y"], ddf["yhat"], ddf[["g"]], sample_weight=ddf["w"], n_boot=0), whole)


def test_a_chunk_missing_an_attribute_merges_but_an_all_missing_whole_is_refused() -> None:
    """Found by hypothesis: a one-row chunk whose attribute is missing refused to count."""
    a = count([0, 1], [0, 1], {"g": [None, None]})
    b = count([1, 0], [1, 0], {"g": ["x", "y"]})
    res = audit_counts(a.merge(b), n_boot=0, min_group_size=0, min_denominator=0)
    assert list(res.by_group.xs("g", level="grouping").index) == ["x", "y", MISSING]
    with pytest.raises(FairnessInputError, match="missing in all 2 rows"):
        audit_counts(a, n_boot=0)
    with pytest.raises(FairnessInputError, match="missing in all 4 rows"):
        audit([0, 1, 1, 0], [0, 1, 0, 0], {"g": [None] * 4}, n_boot=0)
