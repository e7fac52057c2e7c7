"""Cases a review of the streaming pass found: each equal to the in-memory audit now."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditkit._scale._build import RiskPlan, _second_plan, _typed_counts
from auditkit._scale._classes import ClassSpill, class_hashes
from auditkit._scale._tally import TallyPlan, tally_frames
from auditkit.privacy.masking import Masker, Policy, Rule, risk_report


def _spill(frames: list[pd.DataFrame], qi: list[str], sensitive: str | None) -> ClassSpill:
    spill = ClassSpill(tuple(qi), sensitive)
    for f in frames:
        spill.add(class_hashes(f, qi, sensitive))
    return spill


@pytest.mark.parametrize("sensitive", [None, "s"])
@pytest.mark.parametrize("k", [1, 3, 50])
def test_no_quasi_identifier_left_is_one_class_as_in_memory(sensitive, k) -> None:
    frame = pd.DataFrame({"s": list("aabbc") * 4})
    spill = _spill([frame.iloc[:7], frame.iloc[7:]], [], sensitive)
    try:
        assert spill.report(k, 2) == risk_report(frame, [], k=k, sensitive=sensitive, l=2)
    finally:
        spill.close()


def test_a_policy_that_drops_the_sensitive_column_measures_after_without_it() -> None:
    policy = Policy(rules=(Rule.of("race", "drop"), Rule.of("zip", "generalise", to="prefix", keep=2)))
    columns = ["zip", "sex", "race"]
    masker = Masker(policy, columns)
    risk = RiskPlan(policy, ("zip", "sex"), "race", 2, 2)
    plan = _second_plan(TallyPlan(), risk, ("zip", "sex"), masker)
    assert plan.after == (("zip", "sex"), None)
    frame = pd.DataFrame({"zip": ["02134", "02139", "10001", "10002"] * 5,
                          "sex": ["F", "M"] * 10, "race": ["a", "b", "c", "d"] * 5})
    t = tally_frames(plan, [frame.iloc[:9], frame.iloc[9:]], 0)
    masked, _ = masker.apply(frame)
    spill = ClassSpill(*plan.after)
    try:
        for h in t.classes_after:
            spill.add(h)
        assert spill.report(2, 2) == risk_report(masked, ["zip", "sex"], k=2, l=2)
    finally:
        spill.close()


def test_a_chunk_of_missing_scores_is_an_error_not_a_silent_drop() -> None:
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame({"y": rng.integers(0, 2, n), "p": rng.integers(0, 2, n),
                          "s": rng.random(n), "g": rng.choice(["a", "b"], n)})
    frame.loc[20:, "s"] = np.nan
    plan = TallyPlan(label="y", prediction="p", score="s", protected=("g",), sample_rows=10)
    t = tally_frames(plan, [frame.iloc[:20], frame.iloc[20:]], 0)
    assert "fairness" in t.errors and t.counts is None


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_protected_levels_are_typed_as_the_whole_column_whatever_the_order(order) -> None:
    ints = pd.DataFrame({"y": [0, 1, 0, 1], "p": [0, 1, 1, 0], "g": [1, 2, 1, 2]})
    floats = pd.DataFrame({"y": [1, 0, 1], "p": [1, 0, 0], "g": [1.0, np.nan, 2.0]})
    chunks = [ints, floats]
    plan = TallyPlan(label="y", prediction="p", protected=("g",), sample_rows=10)
    t = tally_frames(plan, [chunks[i] for i in order], 0)
    counts = _typed_counts(t.counts, t.dtypes)
    assert t.dtypes["g"] == "float64"
    assert [type(v) for v in counts.levels[0][:2]] == [float, float]
