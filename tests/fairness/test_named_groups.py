"""The groups a disparity names are the ones that set its value, for every composite disparity.

For a worst-case disparity (equalized odds: the larger of the TPR and FPR differences, or the
smaller of their ratios) the max and min groups must come from the part that decides the value,
not always from the first part. Checked against brute force on random small data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import audit
from auditkit.fairness._metrics import DISPARITY_ALIASES

RATES = {
    "selection_rate": lambda y, p: p.mean(),
    "true_positive_rate": lambda y, p: p[y == 1].mean() if (y == 1).any() else np.nan,
    "false_positive_rate": lambda y, p: p[y == 0].mean() if (y == 0).any() else np.nan,
    "positive_predictive_value": lambda y, p: y[p == 1].mean() if (p == 1).any() else np.nan,
}


def _part(rates: pd.Series, kind: str) -> float:
    r = rates.dropna()
    if len(r) < 2:
        return np.nan
    if kind == "difference":
        return float(r.max() - r.min())
    if r.max() == 0 and r.min() == 0:
        return 1.0
    return float(r.min() / r.max()) if r.max() > 0 else np.nan


def test_the_reported_repro() -> None:
    y = [1, 1, 1, 1, 0, 0, 0, 0] * 2
    p = [1, 1, 1, 0, 0, 0, 0, 0] + [1, 1, 0, 0, 1, 1, 0, 0]
    res = audit(y, p, {"g": ["A"] * 8 + ["B"] * 8}, n_boot=0, min_group_size=0)
    row = res.disparities.loc[("g", "equalized_odds_difference")]
    assert row["value"] == 0.5 and (row["max_group"], row["min_group"]) == ("B", "A")


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**6), n_groups=st.integers(2, 4), n=st.integers(8, 60))
def test_named_groups_hold_the_extremes_of_the_deciding_part(seed, n_groups, n) -> None:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n).astype(str)
    y = rng.integers(0, 2, n)
    y[:2] = (0, 1)  # both outcomes occur (a single class is refused, by design)
    p = rng.integers(0, 2, n)
    res = audit(y, p, {"g": g}, n_boot=0, min_group_size=0)
    frame = pd.DataFrame({"g": g, "y": y, "p": p})
    rates = {m: frame.groupby("g").apply(lambda d, f=f: f(d["y"].to_numpy(), d["p"].to_numpy()),
                                         include_groups=False)
             for m, f in RATES.items()}
    for name, (bases, kind) in DISPARITY_ALIASES.items():
        row = res.disparities.loc[("g", name)]
        parts = {b: _part(rates[b], kind) for b in bases}
        finite = {b: v for b, v in parts.items() if not np.isnan(v)}
        if np.isnan(row["value"]) or not finite:
            continue
        worst = (max if kind == "difference" else min)(finite.values())
        assert np.isclose(row["value"], worst)
        deciding = [b for b, v in finite.items() if np.isclose(v, worst)]
        ok = False
        for b in deciding:
            r = rates[b].dropna()
            if row["max_group"] in r.index and row["min_group"] in r.index:
                ok |= bool(np.isclose(r[row["max_group"]], r.max())
                           and np.isclose(r[row["min_group"]], r.min()))
        assert ok, (name, row.to_dict(), {b: rates[b].to_dict() for b in bases})
