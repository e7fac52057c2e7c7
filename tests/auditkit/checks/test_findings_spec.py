"""auditkit.checks._findings: the one way checks build findings, and the one rounding rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditkit.checks._findings import FindingSpec, rounded
from auditkit.reports import Severity, Status


class _Scope:
    """A stand-in for the audit context: cites per topic, records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def cite(self, *topics: str) -> tuple[str, ...]:
        self.asked.append(topics)
        return tuple(f"id-{t}" for t in topics)


SPEC = FindingSpec("area.thing", "A thing", topics=("t1", "t2"), severity=Severity.HIGH,
                   pass_severity=Severity.INFO, problem_status=Status.WARN, remediation="Fix it.")


@pytest.mark.parametrize("problem", [True, False])
def test_judge_gives_problem_status_or_pass(problem: bool) -> None:
    scope = _Scope()
    f = SPEC.judge(scope, problem=problem, summary="s", metrics={"m": np.float64(0.5)})
    assert f.check_id == "area.thing" and f.title == "A thing" and f.summary == "s"
    assert f.status == (Status.WARN if problem else Status.PASS)
    assert f.severity == (Severity.HIGH if problem else Severity.INFO)
    assert f.remediation == ("Fix it." if problem else None)
    assert f.regulations == ("id-t1", "id-t2") and scope.asked == [("t1", "t2")]
    assert f.metrics == {"m": 0.5}


@pytest.mark.parametrize("status", list(Status))
def test_declared_remediation_only_on_a_problem(status: Status) -> None:
    f = SPEC.make(_Scope(), status, "s")
    assert f.remediation == ("Fix it." if status in (Status.FAIL, Status.WARN) else None)
    assert SPEC.make(_Scope(), status, "s", remediation="Other.").remediation == "Other."


def test_overrides_and_no_topics() -> None:
    bare = FindingSpec("area.bare", "Bare")
    scope = _Scope()
    f = bare.make(scope, Status.FAIL, "s", severity=Severity.LOW, title="Renamed")
    assert (f.title, f.severity, f.regulations, scope.asked) == ("Renamed", Severity.LOW, (), [])
    assert bare.judge(scope, problem=False, summary="s").severity == Severity.MEDIUM


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.nan, np.float32("inf"), None])
def test_rounded_not_measured_is_none(value: object) -> None:
    assert rounded(value) is None


@pytest.mark.parametrize("value", ["001", "text", True, False, (1, 2)])
def test_rounded_leaves_non_numbers_alone(value: object) -> None:
    assert rounded(value) is value


@given(st.floats(allow_nan=False, allow_infinity=False, width=64), st.integers(0, 6))
def test_rounded_finite_is_round(x: float, digits: int) -> None:
    assert rounded(x, digits) == round(x, digits)
    assert rounded(np.float64(x), digits) == round(x, digits)


def test_provisions_narrow_the_topic_to_the_findings_own_ids_in_scope() -> None:
    spec = FindingSpec("a.b", "T", topics=("t1",), provisions=("id-x", "id-t1", "id-y"))
    # the topic's in-scope provisions are ("id-t1",): only that one of the three is cited
    assert spec.make(_Scope(), Status.FAIL, "s").regulations == ("id-t1",)
    assert FindingSpec("a.b", "T", provisions=("id-t1",)).cited(_Scope()) == ()
