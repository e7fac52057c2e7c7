"""The groups a disparity names, and the groups it compares, checked against brute force.

For a worst-case disparity (equalized odds: the larger of the TPR and FPR differences, or the
smaller of their ratios) the max and min groups must come from the part that decides the value,
not always from the first part. Each part compares only the groups whose denominator for that
part's rate (actual positives for TPR, actual negatives for FPR, predicted positives for
precision, rows for the selection rate) clears the evidence bar ``min_denominator`` and that
have at least ``min_group_size`` rows. Checked against brute force on random small data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import audit
from auditkit.fairness._metrics import DISPARITY_ALIASES

# metric -> (rate, denominator) by brute force on one group's rows; fav = favourable label
RATES = {
    "selection_rate": (lambda y, p, fav: p.mean(), lambda y, p: len(y)),
    "favourable_rate": (lambda y, p, fav: (p == fav).mean(), lambda y, p: len(y)),
    "true_positive_rate": (lambda y, p, fav: p[y == 1].mean() if (y == 1).any() else np.nan,
                           lambda y, p: int((y == 1).sum())),
    "false_positive_rate": (lambda y, p, fav: p[y == 0].mean() if (y == 0).any() else np.nan,
                            lambda y, p: int((y == 0).sum())),
    "positive_predictive_value": (lambda y, p, fav: y[p == 1].mean() if (p == 1).any() else np.nan,
                                  lambda y, p: int((p == 1).sum())),
}


def _part(rates: pd.Series, kind: str, multi: bool) -> float:
    r = rates.dropna()
    if len(r) < 2:
        return np.nan
    if kind == "difference":
        return float(r.max() - r.min())
    if r.max() == 0 and r.min() == 0 and multi:  # a part at parity (0 everywhere) of a worst case
        return 1.0
    return float(r.min() / r.max()) if r.max() > 0 else np.nan


def test_the_reported_repro() -> None:
    y = [1, 1, 1, 1, 0, 0, 0, 0] * 2
    p = [1, 1, 1, 0, 0, 0, 0, 0] + [1, 1, 0, 0, 1, 1, 0, 0]
    res = audit(y, p, {"g": ["A"] * 8 + ["B"] * 8}, n_boot=0, min_group_size=0, min_denominator=0)
    row = res.disparities.loc[("g", "equalized_odds_difference")]
    assert row["value"] == 0.5 and (row["max_group"], row["min_group"]) == ("B", "A")


def _brute(frame: pd.DataFrame, fav: int, bar: int, min_rows: int) -> tuple[dict, dict]:
    """Each metric by group, NaN for the groups below the bars, and those groups per metric."""
    out, left_out = {}, {}
    for m, (rate, den) in RATES.items():
        vals, left_out[m] = {}, set()
        for g, d in frame.groupby("g"):
            y, p = d["y"].to_numpy(), d["p"].to_numpy()
            ok = den(y, p) >= bar and len(d) >= max(min_rows, 1)
            vals[g] = rate(y, p, fav) if ok else np.nan
            if not ok:
                left_out[m].add(g)
        out[m] = pd.Series(vals, dtype=float)
    return out, left_out


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**6), n_groups=st.integers(2, 4), n=st.integers(8, 90),
       bar=st.sampled_from([0, 3, 8]), min_rows=st.sampled_from([0, 10]), fav=st.sampled_from([0, 1]))
def test_named_groups_hold_the_extremes_of_the_deciding_part(seed, n_groups, n, bar, min_rows, fav) -> None:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n).astype(str)
    y = rng.integers(0, 2, n)
    y[:2] = (0, 1)  # both outcomes occur (a single class is refused, by design)
    p = (rng.random(n) < rng.uniform(0.1, 0.9)).astype(int)
    res = audit(y, p, {"g": g}, n_boot=0, min_group_size=min_rows, min_denominator=bar,
                favourable_label=fav)
    frame = pd.DataFrame({"g": g, "y": y, "p": p})
    rates, left_out = _brute(frame, fav, bar, min_rows)
    for name, (bases, kind) in DISPARITY_ALIASES.items():
        row = res.disparities.loc[("g", name)]
        parts = {b: _part(rates[b], kind, len(bases) > 1) for b in bases}
        # the groups left out, with the bar, are listed per base metric
        excl = res.excluded.query("grouping == 'g' and disparity == @name")
        for b in bases:
            assert set(excl.loc[excl["metric"] == b, "group"]) == left_out[b]
        assert row["n_excluded"] == len(set(excl["group"]))
        if any(np.isnan(v) for v in parts.values()):
            # a worst case needs every part: one part with under two evidenced groups (or a
            # ratio without a positive maximum) leaves the disparity undefined, with a reason
            assert np.isnan(row["value"]) and row["reason"], (name, parts, row.to_dict())
            continue
        if name in ("impact_ratio", "demographic_parity_ratio"):
            # the disadvantaged group has the lowest favourable rate among the compared groups
            fr = rates["favourable_rate"].dropna()
            assert np.isclose(fr[row["disadvantaged_group"]], fr.min()), row.to_dict()
        worst = (max if kind == "difference" else min)(parts.values())
        assert np.isclose(row["value"], worst)
        deciding = [b for b, v in parts.items() if np.isclose(v, worst)]
        ok = False
        for b in deciding:
            r = rates[b].dropna()
            if row["max_group"] in r.index and row["min_group"] in r.index:
                ok |= bool(np.isclose(r[row["max_group"]], r.max())
                           and np.isclose(r[row["min_group"]], r.min()))
        assert ok, (name, row.to_dict(), {b: rates[b].to_dict() for b in bases})

