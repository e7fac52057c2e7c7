"""The monitor's mergeable tables against brute force, and merges of any split of the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import _monitor_counts
from auditkit.fairness._inputs import MISSING
from auditkit.fairness._monitor_counts import (
    FEATURE_KEYS,
    FeatureBins,
    LogColumns,
    count_batch,
    count_keys,
    merge_tables,
)
from auditkit.fairness._windows import Windowing, label_text
from auditkit.fairness.errors import FairnessInputError

COLS = LogColumns(timestamp="ts", prediction="pred", protected=("sex", "race"), score="p",
                  features=("x", "c"), label="y")
WEEK = Windowing("week")


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    p[rng.random(n) < 0.1] = np.nan
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    y = rng.integers(0, 2, n).astype(float)
    y[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame({
        "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s"),
        "pred": rng.integers(0, 2, n), "sex": rng.choice(["F", "M", None], n),
        "race": rng.choice(["a", "b", "c"], n), "p": p, "x": x,
        "c": rng.choice(["u", "v", "w", None], n), "y": y,
    })


def _brute_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """The counts table by a per-row reference: Python keys, pandas groupby."""
    days = [(t.date() - pd.Timestamp("1970-01-01").date()).days for t in frame["ts"]]
    rows = []
    for i in range(len(frame)):
        p = frame["p"].iloc[i]
        rows.append({"window": (days[i] + 3) // 7,
                     "sex": MISSING if pd.isna(frame["sex"].iloc[i]) else frame["sex"].iloc[i],
                     "race": frame["race"].iloc[i], "y_pred": str(frame["pred"].iloc[i]),
                     "y_true": None if np.isnan(frame["y"].iloc[i]) else str(int(frame["y"].iloc[i])),
                     "score_bin": -1 if np.isnan(p) else min(int(p * 20), 19),
                     "n": 1, "score_sum": 0.0 if np.isnan(p) else p})
    ref = pd.DataFrame(rows)
    return merge_tables(ref, ref.iloc[0:0], count_keys(COLS))


def _assert_tables_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns=["score_sum"], errors="ignore"),
                                  b.drop(columns=["score_sum"], errors="ignore"))
    if "score_sum" in a:
        np.testing.assert_allclose(a["score_sum"], b["score_sum"], rtol=1e-12, atol=1e-12)


def test_counts_match_brute_force() -> None:
    frame = _frame(400, 0)
    bins = FeatureBins.fit(frame, COLS.features)
    got = count_batch(frame, COLS, WEEK, bins)
    _assert_tables_equal(got.counts, _brute_counts(frame))
    assert got.counts["n"].sum() == 400 and got.rows == 400
    assert got.latest == pd.Timestamp(frame["ts"].max(), tz="UTC")


def test_categorical_and_text_columns_count_the_same() -> None:
    frame = _frame(300, 1)
    cat = frame.assign(sex=frame["sex"].astype("category"), race=frame["race"].astype("category"),
                       pred=frame["pred"].astype(bool).astype(int).astype("int8"))
    bins = FeatureBins.fit(frame, COLS.features)
    a, b = count_batch(frame, COLS, WEEK, bins), count_batch(cat, COLS, WEEK, bins)
    _assert_tables_equal(a.counts, b.counts)
    _assert_tables_equal(a.features, b.features)


def test_features_match_brute_force() -> None:
    frame = _frame(500, 2)
    bins = FeatureBins.fit(frame.iloc[:200], COLS.features)
    edges = np.asarray(bins.numeric["x"])
    assert len(edges) == 9 and np.all(np.diff(edges) > 0)
    assert bins.categorical["c"] == ("u", "v", "w")
    got = count_batch(frame, COLS, WEEK, bins).features
    windows = (frame["ts"].dt.floor("D").sub(pd.Timestamp("1970-01-01")).dt.days + 3) // 7
    xbin = np.where(frame["x"].isna(), -1, np.searchsorted(edges, frame["x"].fillna(0), side="right"))
    cbin = frame["c"].map({"u": 0, "v": 1, "w": 2}).fillna(-1).astype(int)
    for grouping in ("", "sex", "race"):
        group = frame[grouping].fillna(MISSING) if grouping else pd.Series("", index=frame.index)
        for feature, b in (("x", xbin), ("c", cbin)):
            ref = pd.DataFrame({"window": windows, "group": group, "bin": b}).value_counts().sort_index()
            sub = got[(got["feature"] == feature) & (got["grouping"] == grouping)]
            mine = sub.set_index(["window", "group", "bin"])["n"].sort_index()
            assert mine.to_dict() == ref.to_dict()


def test_rare_categories_fall_in_other() -> None:
    values = [f"k{i:02d}" for i in range(25) for _ in range(25 - i)]
    frame = pd.DataFrame({"c": values})
    bins = FeatureBins.fit(frame, ["c"])
    assert bins.categorical["c"] == tuple(sorted(f"k{i:02d}" for i in range(20)))
    b = bins.assign("c", pd.Series(["k00", "k24", "never", None]))
    assert b.tolist() == [0, 20, 20, -1]
    assert FeatureBins.from_dict(bins.to_dict()) == bins


def test_score_bins_known_answers_and_range() -> None:
    cols = LogColumns(timestamp=None, prediction="pred", protected=("g",), score="p")
    frame = pd.DataFrame({"pred": [1] * 6, "g": ["a"] * 6, "p": [0.0, 0.05, 0.5, 0.999, 1.0, np.nan]})
    got = count_batch(frame, cols, Windowing("rows", size=10), FeatureBins()).counts
    assert got.set_index("score_bin")["n"].to_dict() == {-1: 1, 0: 1, 1: 1, 10: 1, 19: 2}
    with pytest.raises(FairnessInputError, match="1 values outside"):
        count_batch(frame.assign(p=[0.1, 0.2, 0.3, 1.5, 0.5, 0.5]), cols, Windowing("rows", size=10), FeatureBins())


def test_missing_prediction_and_missing_column_are_refused() -> None:
    frame = _frame(20, 3)
    frame.loc[3, "pred"] = np.nan
    with pytest.raises(FairnessInputError, match="1 missing values"):
        count_batch(frame, COLS, WEEK, FeatureBins.fit(frame, COLS.features))
    with pytest.raises(FairnessInputError, match="'race'"):
        count_batch(frame.drop(columns=["race"]), COLS, WEEK, FeatureBins())


def test_labels_read_as_text_whatever_their_type() -> None:
    cols = LogColumns(timestamp=None, prediction="pred", protected=("g",), label="y")
    rows = Windowing("rows", size=100)
    ints = pd.DataFrame({"pred": [1, 0, 1], "g": ["a", "a", "b"], "y": [1, 0, 0]})
    floats = ints.assign(pred=[1.0, 0.0, 1.0], y=[1.0, 0.0, 0.0])
    _assert_tables_equal(count_batch(ints, cols, rows, FeatureBins()).counts,
                         count_batch(floats, cols, rows, FeatureBins()).counts)
    assert label_text(np.array([True, 1], dtype=object)).tolist() == ["True", "1"]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.integers(0, 120), min_size=1, max_size=5))
def test_merge_of_any_split_equals_counts_of_all_rows(seed: int, cuts: list[int]) -> None:
    frame = _frame(120, seed)
    bins = FeatureBins.fit(frame.iloc[:40], COLS.features)
    whole = count_batch(frame, COLS, WEEK, bins)
    bounds = sorted({0, 120, *cuts})
    counts, features = whole.counts.iloc[0:0], whole.features.iloc[0:0]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        part = count_batch(frame.iloc[lo:hi], COLS, WEEK, bins)
        counts = merge_tables(counts, part.counts, count_keys(COLS))
        features = merge_tables(features, part.features, FEATURE_KEYS)
    _assert_tables_equal(counts, whole.counts)
    _assert_tables_equal(features, whole.features)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 7))
def test_row_windows_of_a_split_match(seed: int, size: int) -> None:
    cols = LogColumns(timestamp=None, prediction="pred", protected=("sex",))
    frame = _frame(50, seed)
    rows = Windowing("rows", size=size)
    whole = count_batch(frame, cols, rows, FeatureBins()).counts
    a = count_batch(frame.iloc[:23], cols, rows, FeatureBins()).counts
    b = count_batch(frame.iloc[23:], cols, rows, FeatureBins(), row_offset=23).counts
    _assert_tables_equal(merge_tables(a, b, count_keys(cols)), whole)
    assert sorted(whole["window"].unique()) == list(range((50 + size - 1) // size))


def test_sparse_key_spaces_count_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _frame(120, 5)
    bins = FeatureBins.fit(frame, COLS.features)
    dense = count_batch(frame, COLS, WEEK, bins)
    monkeypatch.setattr(_monitor_counts, "_DENSE_LIMIT", 0)  # np.unique and per-grouping paths
    sparse = count_batch(frame, COLS, WEEK, bins)
    _assert_tables_equal(sparse.counts, dense.counts)
    _assert_tables_equal(sparse.features, dense.features)
