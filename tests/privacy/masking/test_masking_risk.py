"""Re-identification risk: brute-force known answers, mergeable counts, generalisation search."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.privacy.masking import (
    ClassCounts,
    Policy,
    Rule,
    get_operator,
    mask,
    risk_report,
    suggest_generalisation,
)
from auditkit.privacy.masking._risk import _ladder, _Search

rows = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from([1, 2]),
              st.sampled_from(["x", "y", "z", None])),
    min_size=1, max_size=40,
)


def _brute(records, k, l):  # noqa: E741
    classes = Counter((a, b) for a, b, _ in records)
    sens = defaultdict(set)
    for a, b, s in records:
        sens[(a, b)].add(s)
    return {
        "k_achieved": min(classes.values()),
        "records_below_k": sum(n for n in classes.values() if n < k),
        "unique_records": sum(1 for n in classes.values() if n == 1),
        "n_classes": len(classes),
        "l_achieved": min(len(v) for v in sens.values()),
        "classes_below_l": sum(1 for v in sens.values() if len(v) < l),
    }


@given(rows, st.integers(1, 6), st.integers(1, 4))
@settings(max_examples=100, deadline=None)
def test_risk_report_equals_brute_force(records, k, l):  # noqa: E741
    df = pd.DataFrame(records, columns=["qa", "qb", "s"])
    r = risk_report(df, ["qa", "qb"], k=k, sensitive="s", l=l)
    got = {key: getattr(r, key) for key in _brute(records, k, l)}
    assert got == _brute(records, k, l)


@given(rows, st.integers(1, 5))
@settings(max_examples=60, deadline=None)
def test_class_counts_merge_over_chunks_equals_whole(records, cut):
    df = pd.DataFrame(records, columns=["qa", "qb", "s"])
    whole = risk_report(df, ["qa", "qb"], k=3, sensitive="s")
    cc = ClassCounts(["qa", "qb"], "s")
    for start in range(0, len(df), cut):
        cc.update(df.iloc[start:start + cut])
    assert cc.report(3) == whole


def test_missing_values_form_their_own_class():
    df = pd.DataFrame({"zip": ["1", None, None], "sex": ["F", "F", "F"]})
    r = risk_report(df, ["zip", "sex"], k=2)
    assert (r.n_classes, r.k_achieved, r.records_below_k) == (2, 1, 1)


def _people(n=5_000, seed=0):
    rng = np.random.default_rng(seed)
    dob = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 50, n), unit="D")
    return pd.DataFrame({
        "zip": [f"{z:05d}" for z in rng.integers(10_000, 99_999, n)],
        "dob": dob.strftime("%Y-%m-%d"),
        "sex": rng.choice(["F", "M"], n),
        "age": rng.integers(18, 90, n),
        "diagnosis": rng.choice(["a", "b", "c", "d"], n),
    })


@pytest.mark.parametrize("k", [2, 5, 20])
def test_suggestion_reaches_target_and_its_rules_work_in_a_policy(k):
    df = _people()
    s = suggest_generalisation(df, ["zip", "dob", "sex", "age"], k, sensitive="diagnosis")
    assert s.before.k_achieved == 1
    assert s.reached and s.after.k_achieved >= k
    assert s.steps and len(s.rules) == len(s.steps)
    # The same rules in a policy give the same figures.
    res = mask(df, Policy(rules=s.rules, quasi_identifiers=("zip", "dob", "sex", "age"), k=k))
    assert res.summary.risk_after.k_achieved == s.after.k_achieved


def test_suggestion_is_minimal_per_column():
    df = _people(2_000)
    qi = ["zip", "dob", "sex", "age"]
    s = suggest_generalisation(df, qi, 3)
    assert s.reached and s.rules
    assert all(r.column in qi for r in s.rules)
    # Backing any chosen column off by one rung breaks the target (minimal in that sense).
    chosen = {r.column: (r.operator, r.to_dict()) for r in s.rules}
    for col in chosen:
        ladder = _ladder(df[col], 3)
        rungs = [get_operator(op).validate(params) for op, params in ladder]
        at = next(i for i, (op, p) in enumerate(ladder)
                  if op == chosen[col][0] and rungs[i] == s.rules[[r.column for r in s.rules].index(col)].params)
        rules = [r for r in s.rules if r.column != col]
        if at > 0:
            rules.append(Rule.of(col, ladder[at - 1][0], **ladder[at - 1][1]))
        res = mask(df, Policy(rules=tuple(rules), quasi_identifiers=tuple(qi), k=3))
        assert res.summary.risk_after.k_achieved < 3, col


def test_rung_that_merges_nothing_is_skipped():
    # Every value occurs 3 times: the first rung (suppress values seen fewer than 2 times)
    # merges nothing, so the search takes the next one (fewer than 4 times), which does.
    df = pd.DataFrame({"city": [c for c in "abcdefgh" for _ in range(3)]})
    s = suggest_generalisation(df, ["city"], 4)
    assert s.reached
    assert [(r.column, r.operator, r.params.min_count) for r in s.rules] == [("city", "suppress", 4)]
    assert s.steps == ("city: suppress min_count=4",)


def test_bad_inputs():
    df = _people(10)
    with pytest.raises(ValueError, match="list of column names"):
        risk_report(df, "zip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not in the data"):
        risk_report(df, ["zipcode"])


def test_back_off_undoes_rungs_the_target_does_not_need():
    # 'a' is one value already: suppressing it too (level 0) is not needed for k = 4.
    df = pd.DataFrame({"a": ["x"] * 4, "b": ["1", "2", "3", "4"]})
    top = [("replace", {"value": "*"})]
    search = _Search(df, ["a", "b"], 4, {"a": list(top), "b": list(top)})
    assert search.back_off({"a": 0, "b": 0}) == {"a": -1, "b": 0}
    # The greedy climb only takes rungs that merge values, so it never picks 'a'.
    assert search.climb() == ({"a": -1, "b": 0}, True)
