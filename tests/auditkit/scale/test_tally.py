"""Mergeable tallies of partitions (:mod:`auditkit._scale._tally`).

The reference is always the whole frame in memory (the partitions concatenated, as the pandas
engine reads them): the merged tally of any partitioning, batching and merge order has the same
row count, missing counts, distinct counts, label counts and dtypes, and its fairness counts give
the same :func:`auditkit.fairness.audit_counts` result as :func:`auditkit.fairness.audit`.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit._scale import _tally
from auditkit._scale._tally import Tally, TallyPlan, tally_frames
from auditkit.fairness import MISSING, audit, audit_counts
from auditkit.fairness._counts import _bin_index, probability_edges

AUDIT = {"n_boot": 30, "random_state": 0, "min_group_size": 5, "min_denominator": 5}
FAIR_PLAN = TallyPlan(label="y", prediction="p", score="sc", protected=("g", "h"), sample_rows=50)


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1][:n]  # both outcomes present
    score = np.clip(0.35 * y + rng.random(n) * 0.65, 0, 1).round(3)  # ties within and across bins
    m = rng.integers(0, 4, n).astype(float)
    m[rng.random(n) < 0.15] = np.nan
    text = rng.choice(np.array(["u", "v", "w", "1"], dtype=object), n)
    text[rng.random(n) < 0.2] = None
    return pd.DataFrame(
        {
            "y": y.astype(np.int64),
            "p": (score > 0.5).astype(np.int64),
            "sc": score,
            "g": pd.Series(
                rng.choice(np.array(["a", "b", "c", None], dtype=object), n), dtype="str"
            ),
            "h": rng.integers(0, 3, n).astype(np.int64),
            "m": m,  # int64 in a batch without missing values, float64 with one
            "t": pd.Series(text, dtype="str"),
        }
    )


def batches(frame: pd.DataFrame, cuts: list[int]) -> list[pd.DataFrame]:
    """Batches cut at ``cuts``, each typed on its own (``m`` int64 when it has no missing)."""
    n = len(frame)
    points = sorted({0, n, *(c % (n + 1) for c in cuts)})
    out = []
    for lo, hi in zip(points[:-1], points[1:], strict=True):
        b = frame.iloc[lo:hi].reset_index(drop=True)
        if not b["m"].isna().any():
            b["m"] = b["m"].astype(np.int64)
        out.append(b)
    return out


def split(
    frame: pd.DataFrame, n_parts: int, cuts: list[int], rnd: random.Random
) -> list[list[pd.DataFrame]]:
    """Partitions (contiguous, possibly empty of batches) of batches."""
    n = len(frame)
    bounds = sorted({0, n, *(rnd.randrange(n + 1) for _ in range(n_parts - 1))})
    return [
        batches(frame.iloc[lo:hi].reset_index(drop=True), cuts)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def merged_tally(plan: TallyPlan, parts: list[list[pd.DataFrame]], rnd: random.Random) -> Tally:
    tallies = [tally_frames(plan, frames, p) for p, frames in enumerate(parts)]
    rnd.shuffle(tallies)
    while len(tallies) > 1:  # a random merge tree
        i = rnd.randrange(len(tallies) - 1)
        a, b = tallies[i], tallies[i + 1]
        tallies[i : i + 2] = [a.merge(b) if rnd.random() < 0.5 else b.merge(a)]
    return tallies[0]


def whole_of(parts: list[list[pd.DataFrame]]) -> pd.DataFrame:
    return pd.concat([b for frames in parts for b in frames], ignore_index=True)


def label_items(counts: pd.Series) -> list[tuple[str, int]]:
    """(value, count) pairs, the missing value written "NA" (NaN is not equal to itself)."""
    return sorted(("NA" if pd.isna(k) else repr(float(k)), int(v)) for k, v in counts.items())


# -- data figures ----------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 120),
    seed=st.integers(0, 10_000),
    n_parts=st.integers(1, 5),
    cuts=st.lists(st.integers(0, 121), max_size=4),
    order=st.randoms(use_true_random=False),
)
def test_merged_figures_equal_those_of_the_whole_frame(n, seed, n_parts, cuts, order):
    parts = split(make_frame(n, seed), n_parts, cuts, order)
    plan = TallyPlan(label="m", sample_rows=n + 1)
    t = merged_tally(plan, parts, order)
    whole = whole_of(parts)
    assert t.n_rows == len(whole) == n
    assert t.partitions == len(parts)
    assert t.dtypes == {c: str(whole[c].dtype) for c in whole.columns}
    assert t.missing == {c: int(whole[c].isna().sum()) for c in whole.columns}
    assert {c: len(h) for c, h in t.distinct.items()} == {
        c: int(whole[c].nunique()) for c in whole.columns
    }
    expected_labels = whole["m"].value_counts(dropna=False)
    assert t.labels.dtype == np.int64
    assert label_items(t.labels) == label_items(expected_labels)
    assert not t.errors
    # a sample at least as large as the data is the data, in order
    pd.testing.assert_frame_equal(t.sample.rows(), whole)


def test_int_chunk_and_float_chunk_with_missing_make_float64():
    a = pd.DataFrame({"x": pd.Series([1, 2], dtype="int64"), "b": [True, False]})
    b = pd.DataFrame({"x": pd.Series([np.nan, 2.0]), "b": [False, True]})
    t = tally_frames(TallyPlan(), [a], 0).merge(tally_frames(TallyPlan(), [b], 1))
    assert t.dtypes == {"x": "float64", "b": "bool"}
    assert t.dtypes["x"] == str(pd.concat([a, b])["x"].dtype)
    assert t.missing == {"x": 1, "b": 0}
    assert {c: len(h) for c, h in t.distinct.items()} == {"x": 2, "b": 2}


def test_distinct_counts_past_the_cap_are_none(monkeypatch):
    monkeypatch.setattr(_tally, "DISTINCT_CAP", 5)
    frame = pd.DataFrame({"few": [1, 2, 1, 2] * 2, "many": np.arange(8)})
    a, b = (
        tally_frames(TallyPlan(), [frame.iloc[:4]], 0),
        tally_frames(TallyPlan(), [frame.iloc[4:]], 1),
    )
    assert len(a.distinct["many"]) == 4
    t = a.merge(b)
    assert t.distinct["many"] is None and len(t.distinct["few"]) == 2
    assert t.merge(a).distinct["many"] is None  # over the cap stays over


def test_distinct_of_bool_column_with_missing_values_in_one_partition():
    a = pd.DataFrame({"b": [True, False]})
    b = pd.DataFrame({"b": pd.Series([True, None], dtype=object)})
    t = tally_frames(TallyPlan(), [a], 0).merge(tally_frames(TallyPlan(), [b], 1))
    assert len(t.distinct["b"]) == pd.concat([a, b])["b"].nunique() == 2


# -- fairness counts -------------------------------------------------------------------------
def assert_same_result(got, expected, *, skip_auc: bool = False) -> None:
    drop = ["roc_auc"] if skip_auc else []
    pd.testing.assert_frame_equal(
        got.by_group.drop(columns=drop), expected.by_group.drop(columns=drop), rtol=1e-9
    )
    for a, b in (
        (got.by_group_ci_low, expected.by_group_ci_low),
        (got.by_group_ci_high, expected.by_group_ci_high),
    ):
        pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop), rtol=1e-9)
    overall = expected.overall.drop(index=drop)
    pd.testing.assert_frame_equal(got.overall.drop(index=drop), overall, rtol=1e-9)
    if not skip_auc:
        pd.testing.assert_frame_equal(got.disparities, expected.disparities, rtol=1e-9)
    assert got.reference == expected.reference
    assert got.interval_methods == expected.interval_methods


def in_memory(whole: pd.DataFrame):
    return audit(whole["y"], whole["p"], whole[["g", "h"]], y_score=whole["sc"], **AUDIT)


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(60, 400),
    seed=st.integers(0, 10_000),
    n_parts=st.integers(1, 4),
    cuts=st.lists(st.integers(0, 401), max_size=3),
    order=st.randoms(use_true_random=False),
)
def test_fairness_counts_give_the_in_memory_audit(n, seed, n_parts, cuts, order):
    parts = split(make_frame(n, seed), n_parts, cuts, order)
    t = merged_tally(FAIR_PLAN, parts, order)
    assert not t.errors
    assert t.counts.scores.exact
    expected = in_memory(whole_of(parts))
    got = audit_counts(t.counts, **AUDIT)
    assert_same_result(got, expected)
    for name in ("by_group", "overall", "disparities", "undefined", "denominators"):
        a, b = got.to_dict()[name], expected.to_dict()[name]
        assert len(a) == len(b)


def group_mask(whole: pd.DataFrame, grouping: str, group) -> np.ndarray:
    attrs = grouping.split(" × ")
    levels = group if isinstance(group, tuple) else (group,)
    mask = np.ones(len(whole), dtype=bool)
    for a, v in zip(attrs, levels, strict=True):
        col = whole[a]
        mask &= col.isna().to_numpy() if v == MISSING else (col.astype(str) == str(v)).to_numpy()
    return mask


def tie_bound(y: np.ndarray, s: np.ndarray) -> float:
    """Largest |binned - exact| ROC AUC: pairs of one positive and one negative in one bin
    count 1/2 in the binned figure and 0, 1/2 or 1 exactly."""
    b = _bin_index(s, probability_edges())
    p = np.bincount(b[y == 1], minlength=200)
    q = np.bincount(b[y == 0], minlength=200)
    return 0.5 * float((p * q).sum()) / float(p.sum() * q.sum())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_without_the_exact_table_auc_is_binned_within_the_tie_bound(monkeypatch, seed):
    monkeypatch.setattr(_tally, "EXACT_SCORE_ROWS", 10)
    rnd = random.Random(seed)
    parts = split(make_frame(500, seed), 4, [37, 120, 260], rnd)
    t = merged_tally(FAIR_PLAN, parts, rnd)
    assert not t.counts.scores.exact
    assert len(t.counts.scores.ex_score) == 0
    whole = whole_of(parts)
    expected = in_memory(whole)
    got = audit_counts(t.counts, **AUDIT)
    assert_same_result(got, expected, skip_auc=True)  # every other figure is unchanged
    auc, exact = got.by_group["roc_auc"], expected.by_group["roc_auc"]
    checked = 0
    for (grouping, group), value in auc.items():
        mask = group_mask(whole, grouping, group)
        y, s = whole["y"].to_numpy()[mask], whole["sc"].to_numpy()[mask]
        if np.isnan(exact[(grouping, group)]):
            assert np.isnan(value)
            continue
        assert abs(value - exact[(grouping, group)]) <= tie_bound(y, s) + 1e-12
        checked += 1
    assert checked >= 5
    bound = tie_bound(whole["y"].to_numpy(), whole["sc"].to_numpy())
    assert (
        abs(got.overall.loc["roc_auc", "value"] - expected.overall.loc["roc_auc", "value"])
        <= bound + 1e-12
    )
    lo, hi = got.by_group_ci_low["roc_auc"], got.by_group_ci_high["roc_auc"]
    ok = auc.notna() & lo.notna()
    assert ok.any() and ((lo[ok] <= auc[ok] + 1e-12) & (auc[ok] <= hi[ok] + 1e-12)).all()


def test_binned_auc_equals_exact_when_no_bin_holds_both_classes(monkeypatch):
    """Known answer: positives score in the top half, negatives in the bottom, no shared bin:
    the binned and the exact ROC AUC are both 1."""
    monkeypatch.setattr(_tally, "EXACT_SCORE_ROWS", 1)
    frame = make_frame(200, 9)
    frame["sc"] = np.where(frame["y"] == 1, 0.75, 0.25) + (np.arange(200) % 10) / 100
    rnd = random.Random(0)
    parts = split(frame, 3, [50], rnd)
    got = audit_counts(merged_tally(FAIR_PLAN, parts, rnd).counts, **AUDIT)
    expected = in_memory(whole_of(parts))
    np.testing.assert_allclose(
        got.by_group["roc_auc"].to_numpy(dtype=float),
        expected.by_group["roc_auc"].to_numpy(dtype=float),
    )
    assert got.overall.loc["roc_auc", "value"] == 1.0


@pytest.mark.parametrize("missing_part", [0, 2])
def test_missing_label_in_a_partition_drops_the_fairness_counts(missing_part):
    frame = make_frame(300, 4)
    parts = split(frame, 3, [40], random.Random(1))
    bad = parts[missing_part][0].copy()
    bad["y"] = bad["y"].astype(float)
    bad.loc[0, "y"] = np.nan
    parts[missing_part][0] = bad
    tallies = [tally_frames(FAIR_PLAN, frames, p) for p, frames in enumerate(parts)]
    assert "fairness" in tallies[missing_part].errors
    assert tallies[missing_part].counts is None
    with pytest.raises(Exception, match="y_true"):  # the error of the in-memory audit
        raise tallies[missing_part].errors["fairness"]
    for t in (
        tallies[0].merge(tallies[1]).merge(tallies[2]),
        tallies[2].merge(tallies[1].merge(tallies[0])),
    ):
        assert t.counts is None and "fairness" in t.errors
        assert t.n_rows == 300  # the other figures are still counted
        assert t.missing["y"] == 1
    # the in-memory audit refuses the same data
    with pytest.raises(Exception, match="y_true"):
        in_memory(whole_of(parts))


def test_scores_outside_0_1_in_one_partition_only_do_not_break_the_merge():
    frame = make_frame(200, 5)
    a, b = frame.iloc[:100].reset_index(drop=True), frame.iloc[100:].reset_index(drop=True)
    b["sc"] = b["sc"] * 2 - 0.5  # raw margins, not probabilities
    ta, tb = tally_frames(FAIR_PLAN, [a], 0), tally_frames(FAIR_PLAN, [b], 1)
    t = ta.merge(tb)  # raises today
    assert t.counts is None or t.counts.scores is None or "fairness" in t.errors
