"""Intersection groups are tuples of levels, one per attribute, end to end (report schema 1.2).

Before, an intersection was labelled by joining its levels with ", " ("x, p"), which two
different groups could share when a level itself held that separator.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.fairness import FairnessInputError, audit, count, evaluate_gate
from auditkit.fairness._metrics import group_text, make_groupings

# levels that hold both separators: joined with ", " the groups ("a, b", "c") and ("a", "b, c")
# would be the one text "a, b, c"
A = ["a, b", "a", "x × y", "x"]
B = ["c", "b, c", "y", "y"]


def _data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(A), n)
    sf = pd.DataFrame({"first": np.array(A, dtype=object)[pick],
                       "second": np.array(B, dtype=object)[pick]})
    y = rng.integers(0, 2, n)
    p = (rng.random(n) < np.where(pick % 2 == 0, 0.3, 0.6)).astype(int)
    return y, p, sf


@pytest.fixture(scope="module")
def result():
    y, p, sf = _data()
    return audit(y, p, sf, n_boot=0, min_group_size=0, min_denominator=0)


def test_an_intersection_group_is_the_tuple_of_its_levels(result) -> None:
    groups = list(result.by_group.xs("first × second", level="grouping").index)
    assert sorted(groups) == sorted(set(zip(A, B, strict=True)))
    assert ("a, b", "c") in groups and ("a", "b, c") in groups  # joined, both were "a, b, c"
    # a single attribute keeps plain strings
    assert sorted(result.by_group.xs("first", level="grouping").index) == sorted(A)
    n = result.by_group.loc[("first × second", ("a, b", "c")), "n"]
    assert n == int(((_data()[2]["first"] == "a, b") & (_data()[2]["second"] == "c")).sum())


def test_disparity_groups_and_reference_are_tuples(result) -> None:
    row = result.disparities.loc[("first × second", "demographic_parity_difference")]
    for col in ("max_group", "min_group"):
        assert isinstance(row[col], tuple) and len(row[col]) == 2
    assert isinstance(result.reference["first × second"], tuple)
    ratio = result.ratio_to_reference("selection_rate")
    assert ratio.loc[("first × second", result.reference["first × second"])] == pytest.approx(1.0)


def test_result_json_round_trips_the_tuples(result) -> None:
    doc = json.loads(json.dumps(result.to_dict()))
    groups = [tuple(r["group"]) for r in doc["by_group"] if r["grouping"] == "first × second"]
    assert sorted(groups) == sorted(set(zip(A, B, strict=True)))
    assert tuple(doc["reference"]["first × second"]) == result.reference["first × second"]


def test_gate_shows_groups_joined_and_writes_lists_in_json(result) -> None:
    report = evaluate_gate(result, ["demographic_parity_difference <= 0.01"])
    (o,) = report.outcomes
    inter = next(d for d in o.details if d["grouping"] == "first × second")
    doc = json.loads(report.to_json())
    dj = next(d for d in doc["thresholds"][0]["groupings"] if d["grouping"] == "first × second")
    assert tuple(dj["max_group"]) == inter["max_group"] and isinstance(dj["max_group"], list)
    if o.grouping == "first × second":
        assert group_text(inter["max_group"]) in o.message
    offenders = [r for r in o.offenders if r["grouping"] == "first × second"]
    assert offenders and all(isinstance(r["group"], tuple) for r in offenders)
    # people read the levels joined, never a tuple's repr
    assert "('" not in o.message and "('" not in "".join(report.github_annotations())
    assert "('" not in report.to_markdown()


@pytest.mark.parametrize("given", [("a", "b, c"), ["a", "b, c"]])
def test_reference_group_of_an_intersection_as_a_sequence(given) -> None:
    y, p, sf = _data()
    res = audit(y, p, sf, n_boot=0, reference_group={"first × second": given})
    assert res.reference["first × second"] == ("a", "b, c")


def test_reference_group_in_the_old_joined_form_only_when_unambiguous() -> None:
    y, p, sf = _data()
    res = audit(y, p, sf, n_boot=0, reference_group={"first × second": "x × y, y"})
    assert res.reference["first × second"] == ("x × y", "y")
    with pytest.raises(FairnessInputError, match="one level per attribute"):
        audit(y, p, sf, n_boot=0, reference_group={"first × second": "a, b, c"})  # two groups


def test_make_groupings_labels() -> None:
    g = make_groupings(("s", "r"), (("F", 1.0), ("x, y",)), True)
    assert [x.labels for x in g] == [("all",), ("F", "1"), ("x, y",), (("F", "x, y"), ("1", "x, y"))]
    assert group_text(("F", "x, y")) == "F × x, y" and group_text("F") == "F"


def test_counts_that_cannot_merge_raise_the_package_error() -> None:
    a = count([0, 1], [0, 1], {"g": ["x", "y"]})
    b = count([0, 1], [0, 1], {"h": ["x", "y"]})
    with pytest.raises(FairnessInputError, match="same sensitive columns"):
        a.merge(b)
    c = count([0, 1], [0, 1], {"g": ["x", "y"]}, y_score=[0.2, 0.7])
    with pytest.raises(FairnessInputError, match="for every chunk or for none"):
        a.merge(c)


_LEVEL = st.text(alphabet=st.sampled_from(list("ab ,×;|")), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_LEVEL, _LEVEL), min_size=2, max_size=30))
def test_any_labels_survive_as_tuples(pairs: list[tuple[str, str]]) -> None:
    """Whatever the levels hold, every intersection group is exactly one (first, second) pair
    present in the data, and it comes back unchanged through the result's JSON and the
    report's JSON."""
    from auditkit.checks._fairness_tables import group_tables
    from auditkit.reports import Report, Section
    from auditkit.reports._json import render_json

    rows = pairs * 2
    sf = pd.DataFrame(rows, columns=["first", "second"], dtype=object)
    y = np.arange(len(rows)) % 2
    res = audit(y, y[::-1].copy(), sf, n_boot=0, min_group_size=0, min_denominator=0)
    present = set(pairs)
    groups = set(res.by_group.xs("first × second", level="grouping").index)
    assert groups == present
    doc = json.loads(json.dumps(res.to_dict()))
    assert {tuple(r["group"]) for r in doc["by_group"] if r["grouping"] == "first × second"} == present
    tables = group_tables(res, suppress=False)
    every = next(t for t in tables if t.title == "Intersections: metrics of every group")
    report = Report(metadata={}, sections=[Section("fairness", "Fairness", tables=tables)])
    back = Report.from_dict(json.loads(render_json(report)))
    cells = next(t for t in back.sections[0].tables if t.title == every.title).rows
    assert {r[1] for r in cells} == present == {r[1] for r in every.rows}
    assert all(math.isfinite(r[2]) for r in cells)  # the rows column stays a number
