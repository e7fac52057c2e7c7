"""fairness._compare_exact: McNemar's exact floor under compare's p-values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import compare
from auditkit.fairness._compare_exact import PAIRED, discordant_rows, exact_floor


def _brute(w: int, d: int) -> float:
    return sum(math.comb(d, k) for k in range(w, d + 1)) / 2**d


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=8, max_size=8), st.sampled_from(sorted(PAIRED)),
       st.sampled_from([1, -1]), st.booleans())
def test_floor_is_the_exact_binomial_tail_of_the_discordant_rows(cells, metric, sign, fav_is_pos) -> None:
    table = np.array([cells])
    y, b, c = (np.array([(k >> s) & 1 for k in range(8)]) for s in (2, 1, 0))
    rows, kind = PAIRED[metric]

    def event(pred):
        return {"pos": pred == 1, "neg": pred == 0, "fav": pred == (1 if fav_is_pos else 0),
                "correct": pred == y}[kind]

    mask = np.isin(y, rows)
    against = mask & ((event(c) & ~event(b)) if sign > 0 else (event(b) & ~event(c)))
    d = int(table[0, mask & (event(b) != event(c))].sum())
    w = int(table[0, against].sum())
    assert exact_floor(table, metric, sign, fav_is_pos)[0] == pytest.approx(_brute(w, d) if w > 0 else 1.0,
                                                                          rel=1e-9)
    assert discordant_rows(table)[0] == int(table[0, b != c].sum())


def test_few_discordant_rows_are_not_called_worse() -> None:
    """200 rows; the models differ on 4, each time the candidate is the one that is wrong:
    the Wald p-value is about 0.02, McNemar's exact one-sided p-value is 1/16."""
    n = 200
    y = np.array([1, 0] * (n // 2))
    base = y.copy()
    cand = y.copy()
    cand[:4] = 1 - cand[:4]
    res = compare(y, base, cand, np.array(["a"] * n), metrics=["accuracy"], random_state=0, n_boot=500)
    row = res.table.set_index("metric").loc["accuracy"]
    assert row["p_value"] == pytest.approx(0.0625)
    assert not res.table["worse"].any() and res.exit_code == 0


def test_many_discordant_rows_against_the_candidate_still_make_it_worse() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.9, y, 1 - y)
    cand = np.where(rng.random(n) < 0.8, y, 1 - y)
    res = compare(y, base, cand, np.array(["a"] * n), metrics=["accuracy", "positive_predictive_value"],
                  random_state=0, n_boot=500)
    assert res.table.set_index("metric").loc["accuracy", "worse"]
