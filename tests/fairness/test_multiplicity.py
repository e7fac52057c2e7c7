"""Holm and Benjamini–Hochberg adjusted p-values: known answers, statsmodels, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from auditkit.fairness._multiplicity import adjust, benjamini_hochberg, holm
from auditkit.fairness.errors import FairnessInputError

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_known_answer() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm(P) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bh_known_answer() -> None:
    # sorted times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04 -> running min from the top
    assert benjamini_hochberg(P) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_capped_at_one_and_single_test_unchanged() -> None:
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0]
    assert holm([0.2]).tolist() == [0.2] and benjamini_hochberg([0.2]).tolist() == [0.2]


def test_nan_is_not_a_test() -> None:
    p = [0.01, math.nan, 0.04, 0.03, math.nan, 0.005]
    h, b = holm(p), benjamini_hochberg(p)
    assert np.isnan(h[[1, 4]]).all() and np.isnan(b[[1, 4]]).all()
    # the family is the four finite p-values: same answers as without the NaNs
    assert h[[0, 2, 3, 5]] == pytest.approx(holm(P))
    assert b[[0, 2, 3, 5]] == pytest.approx(benjamini_hochberg(P))
    assert np.isnan(holm([math.nan, math.nan])).all()
    assert holm([]).shape == (0,)


def test_adjust_by_name_and_bad_input() -> None:
    assert adjust(P, "holm") == pytest.approx(holm(P))
    assert adjust(P, "bh") == pytest.approx(benjamini_hochberg(P))
    with pytest.raises(FairnessInputError, match="Did you mean 'holm'"):
        adjust(P, "hlm")
    with pytest.raises(FairnessInputError, match="1 value"):
        holm([0.1, 1.5])
    with pytest.raises(FairnessInputError, match="one-dimensional"):
        benjamini_hochberg([[0.1, 0.2]])
    with pytest.raises(FairnessInputError, match="numbers"):
        holm(["a"])


def test_statsmodels_agrees() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(0)
    for size in (1, 2, 7, 50, 300):
        p = rng.beta(0.3, 1.0, size)
        p[: size // 5] = p[0]  # ties
        assert holm(p) == pytest.approx(multitest.multipletests(p, method="holm")[1], abs=1e-12)
        assert benjamini_hochberg(p) == pytest.approx(
            multitest.multipletests(p, method="fdr_bh")[1], abs=1e-12)


pvalues = st.lists(st.one_of(st.floats(0.0, 1.0), st.just(math.nan)), min_size=0, max_size=40)


@settings(max_examples=200, deadline=None)
@given(pvalues)
def test_properties(p: list[float]) -> None:
    raw = np.asarray(p, dtype=float)
    h, b = holm(raw), benjamini_hochberg(raw)
    ok = ~np.isnan(raw)
    assert (np.isnan(h) == ~ok).all() and (np.isnan(b) == ~ok).all()
    r, hh, bb = raw[ok], h[ok], b[ok]
    assert (hh >= r - 1e-15).all() and (bb >= r - 1e-15).all()  # never below the raw p-value
    assert (hh <= 1.0).all() and (bb <= 1.0).all()
    assert (hh >= bb - 1e-12).all()  # Holm is at least as strict as BH
    order = np.argsort(r, kind="stable")  # monotone in the raw order
    assert (np.diff(hh[order]) >= -1e-12).all() and (np.diff(bb[order]) >= -1e-12).all()
    assert (hh <= np.minimum(r * max(len(r), 1), 1.0) + 1e-12).all()  # at most Bonferroni


@settings(max_examples=50, deadline=None)
@given(pvalues, st.floats(0.001, 0.5))
def test_rejections_match_the_step_procedures(p: list[float], alpha: float) -> None:
    """Adjusted p < alpha rejects exactly the hypotheses the textbook step procedures reject."""
    raw = np.asarray(p, dtype=float)
    r = raw[~np.isnan(raw)]
    m = len(r)
    s = np.sort(r)
    ranks = np.arange(1, m + 1)
    # no p-value within rounding of a step's bar (the two forms could round differently there)
    assume(not np.isclose(s * (m - ranks + 1), alpha, rtol=1e-9, atol=0).any())
    assume(not np.isclose(s * m / np.maximum(ranks, 1), alpha, rtol=1e-9, atol=0).any())
    # Holm: reject p(1..k) where k is the first i with p(i) >= alpha / (m - i + 1), minus one
    k = next((i for i in range(m) if s[i] >= alpha / (m - i)), m)
    holm_rejects = int((holm(r) < alpha).sum())
    # BH: reject the k smallest, k the largest i with p(i) <= alpha * i / m (strict < for ties
    # with the adjusted value equal to alpha is immaterial with continuous draws)
    below = [i + 1 for i in range(m) if s[i] < alpha * (i + 1) / m]
    bh_rejects = int((benjamini_hochberg(r) < alpha).sum())
    assert holm_rejects == k
    assert bh_rejects == (max(below) if below else 0)
