"""Counts of data read at scale, in the in-memory audit's vocabulary (:mod:`auditkit._scale._view`).

:func:`relabel_levels` renames group levels after counting (the in-memory audit renames the
values before); :func:`recode_true` recodes the label after counting (the in-memory audit recodes
the rows, :func:`auditkit._outcomes.resolve_outcomes`). Both must give the same audit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit._outcomes import label_recoder, resolve_outcomes
from auditkit._personal import pseudonymise_labels
from auditkit._scale._view import recode_true, relabel_levels
from auditkit.fairness import MISSING, audit, audit_counts, count, level_key

AUDIT = {"n_boot": 20, "random_state": 0, "min_group_size": 5, "min_denominator": 5}


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    score = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1).round(3)
    g = rng.choice(np.array(["north", "south", "east", "west", "10", "9"], dtype=object), n)
    g[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "y": y.astype(np.int64),
            "p": (score > 0.5).astype(np.int64),
            "sc": score,
            "g": pd.Series(g, dtype="str"),
            "h": rng.integers(0, 4, n).astype(np.int64) * 5,
        }
    )


def chunked_counts(y, p, sf: pd.DataFrame, score, cuts=(0, 70, 150)) -> object:
    """Counts of chunks merged, as the streaming pass merges them."""
    n = len(y)
    points = sorted({*(min(c, n) for c in cuts), n})
    out = None
    for lo, hi in zip(points[:-1], points[1:], strict=True):
        if hi == lo:
            continue
        part = count(
            np.asarray(y)[lo:hi],
            np.asarray(p)[lo:hi],
            sf.iloc[lo:hi].reset_index(drop=True),
            y_score=np.asarray(score)[lo:hi],
        )
        out = part if out is None else out.merge(part)
    return out


def assert_same_result(got, expected) -> None:
    for name in (
        "by_group",
        "by_group_ci_low",
        "by_group_ci_high",
        "overall",
        "disparities",
        "denominators",
        "evidenced",
    ):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), rtol=1e-9)
    assert got.reference == expected.reference
    assert (got.pos_label, got.favourable_label, got.task) == (
        expected.pos_label,
        expected.favourable_label,
        expected.task,
    )


# -- relabel_levels ----------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["g", "h"])
def test_pseudonymised_levels_give_the_audit_of_the_pseudonymised_frame(column):
    frame = make_frame(400, 1)
    sf = frame[["g", "h"]]
    counts = chunked_counts(frame["y"], frame["p"], sf, frame["sc"])
    levels = counts.levels[counts.attributes.index(column)]
    values = sorted((v for v in levels if not (isinstance(v, str) and v == MISSING)), key=str)
    numbers = {v: f"group {i + 1}" for i, v in enumerate(values)}
    got = audit_counts(relabel_levels(counts, column, numbers.__getitem__), **AUDIT)
    renamed = pseudonymise_labels(frame, [column])
    expected = audit(
        renamed["y"], renamed["p"], renamed[["g", "h"]], y_score=renamed["sc"], **AUDIT
    )
    assert_same_result(got, expected)
    new_levels = got.counts.levels[got.counts.attributes.index(column)]
    if column == "g":  # the missing level stays, last
        assert new_levels[-1] == MISSING
        assert got.by_group.loc[("g", MISSING), "n"] == int(frame["g"].isna().sum())
    assert set(new_levels) - {MISSING} == {f"group {i + 1}" for i in range(len(values))}
    assert list(new_levels) == sorted(new_levels, key=level_key)


NAMES = ["zeta", "alpha", "group 10", "group 2", "x", "Y", "7", "-1"]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    column=st.sampled_from(["g", "h"]),
    names=st.permutations(NAMES + [3, 0.5, -2]),
)
def test_any_bijection_of_levels_gives_the_audit_of_the_renamed_frame(seed, column, names):
    frame = make_frame(200, seed)
    sf = frame[["g", "h"]]
    counts = chunked_counts(frame["y"], frame["p"], sf, frame["sc"])
    values = [v for v in frame[column].dropna().unique()]
    mapping = dict(zip(values, names, strict=False))
    got = audit_counts(relabel_levels(counts, column, mapping.__getitem__), **AUDIT)
    renamed = frame.copy()
    renamed[column] = frame[column].astype(object).map(mapping)
    expected = audit(
        renamed["y"], renamed["p"], renamed[["g", "h"]], y_score=renamed["sc"], **AUDIT
    )
    assert_same_result(got, expected)
    # the exact score table follows the rows to their new cells
    s, e = got.counts.scores, expected.counts.scores
    order_g = np.lexsort((s.ex_score, s.ex_cls, s.ex_cell))
    order_e = np.lexsort((e.ex_score, e.ex_cls, e.ex_cell))
    np.testing.assert_array_equal(s.ex_cell[order_g], e.ex_cell[order_e])
    np.testing.assert_array_equal(s.hist_n, e.hist_n)


# -- recode_true -------------------------------------------------------------------------------
def text_label(y: np.ndarray, words: tuple[str, str]) -> np.ndarray:
    return np.where(y == 1, words[0], words[1]).astype(object)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(40, 300),
    words=st.sampled_from([(">50K.", "<=50K."), ("Y", "N"), ("approved", "denied")]),
    pred_kind=st.sampled_from(["01", "bool", "one class"]),
    cuts=st.lists(st.integers(0, 300), max_size=3),
)
def test_recoded_counts_give_the_audit_of_the_recoded_labels(seed, n, words, pred_kind, cuts):
    frame = make_frame(n, seed)
    label = text_label(frame["y"].to_numpy(), words)
    pred = frame["p"].to_numpy()
    if pred_kind == "bool":
        pred = pred.astype(bool)
    elif pred_kind == "one class":
        pred = np.ones(n, dtype=np.int64)
    sf = frame[["g", "h"]]
    oc = resolve_outcomes(
        label,
        pred,
        positive_label=words[0],
        favourable_label=None,
        label_name="y",
        prediction_name="p",
    )
    assert oc.recoded
    raw = chunked_counts(label, pred, sf, frame["sc"], cuts=(0, *cuts))
    recoded = recode_true(raw, label_recoder(pred, positive_label=words[0]), level_key)
    direct = count(oc.y_true, pred, sf, y_score=frame["sc"])
    assert recoded.classes == direct.classes
    np.testing.assert_array_equal(recoded.n, direct.n)
    np.testing.assert_array_equal(recoded.scores.hist_n, direct.scores.hist_n)
    np.testing.assert_allclose(recoded.scores.hist_ws, direct.scores.hist_ws, rtol=1e-12)
    got = audit_counts(recoded, pos_label=oc.positive, **AUDIT)
    expected = audit(oc.y_true, pred, sf, y_score=frame["sc"], pos_label=oc.positive, **AUDIT)
    assert_same_result(got, expected)
    assert not np.isnan(got.overall.loc["roc_auc", "value"])


def test_recode_true_known_answer():
    """Four rows, one group: label Y/N beside predictions 1/0 (two rows predicted wrong)."""
    label = np.array(["Y", "Y", "N", "N"], dtype=object)
    pred = np.array([1, 0, 0, 1])
    counts = count(
        label, pred, pd.DataFrame({"g": ["a"] * 4}), y_score=np.array([0.9, 0.4, 0.2, 0.6])
    )
    assert counts.classes == (0, 1, "N", "Y")
    out = recode_true(counts, label_recoder(pred, positive_label="Y"), level_key)
    assert out.classes == (0, 1)
    np.testing.assert_array_equal(out.n[0], [[1, 1], [1, 1]])  # [true, pred]
    np.testing.assert_array_equal(out.scores.ex_cls, [1, 1, 0, 0])
    assert out.scores.hist_n[0, 1].sum() == 2 and out.scores.hist_n[0, 0].sum() == 2
    # the input is left as it was
    assert counts.classes == (0, 1, "N", "Y") and counts.n.shape[-1] == 4
