"""The JSON renderer: schema-valid output and an exact round trip through the model."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.reports import Artifact, Figure, Finding, Report, Section, Severity, Status, Table
from auditkit.reports._json import load_schema, render_json, validate_report_json

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
ids = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z0-9_]{1,8}){0,2}", fullmatch=True)
reg_ids = st.from_regex(r"[a-z]{2,6}(-[a-z0-9]{1,4}){0,3}", fullmatch=True)


@st.composite
def tables(draw):
    n = draw(st.integers(1, 4))
    cols = draw(st.lists(st.text(max_size=10), min_size=n, max_size=n))
    rows = draw(st.lists(st.lists(scalars, min_size=n, max_size=n), max_size=4))
    return Table(
        draw(st.text(max_size=20)), cols, rows, draw(st.one_of(st.none(), st.text(max_size=20))),
        draw(st.sampled_from(["body", "appendix"])),
    )


findings = st.builds(
    Finding,
    check_id=ids,
    title=st.text(max_size=30),
    status=st.sampled_from(list(Status)),
    severity=st.sampled_from(list(Severity)),
    summary=st.text(max_size=50),
    metrics=st.dictionaries(st.text(max_size=10), scalars, max_size=4),
    tables=st.lists(tables(), max_size=2).map(tuple),
    figures=st.lists(
        st.builds(
            Figure,
            st.text(max_size=10),
            st.just("<svg xmlns='http://www.w3.org/2000/svg'/>"),
            st.text(max_size=10),
        ),
        max_size=1,
    ).map(tuple),
    regulations=st.lists(reg_ids, max_size=3).map(tuple),
    remediation=st.one_of(st.none(), st.text(max_size=30)),
)
sections = st.one_of(
    st.builds(
        Section,
        id=ids,
        title=st.text(max_size=20),
        summary=st.text(max_size=30),
        findings=st.lists(findings, max_size=3).map(tuple),
        tables=st.lists(tables(), max_size=1).map(tuple),
    ),
    st.builds(
        Section,
        id=ids,
        title=st.text(max_size=20),
        summary=st.text(max_size=30),
        tables=st.lists(tables(), max_size=2).map(tuple),
        kind=st.just("narrative"),
    ),
)
reports_ = st.builds(
    Report,
    metadata=st.dictionaries(st.text(max_size=10), scalars, max_size=4),
    sections=st.lists(sections, max_size=3).map(tuple),
    artifacts=st.lists(
        st.builds(
            Artifact,
            st.text(max_size=10),
            st.sampled_from(["data", "model"]),
            st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
            st.integers(0, 10**6),
        ),
        max_size=2,
    ).map(tuple),
    limitations=st.lists(st.text(max_size=20), max_size=2).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(report=reports_)
def test_render_validates_and_round_trips(report: Report) -> None:
    doc = json.loads(render_json(report))
    validate_report_json(doc)
    back = Report.from_dict(doc)
    assert back.to_dict() == report.to_dict()


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_schema_rejects_unknown_status() -> None:
    report = Report(
        metadata={"title": "t"},
        sections=[Section("s", "S", findings=[Finding("a.b", "t", Status.PASS)])],
    )
    doc = json.loads(render_json(report))
    doc["sections"][0]["findings"][0]["status"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        validate_report_json(doc)


def test_non_finite_metrics_become_null() -> None:
    f = Finding("a.b", "t", Status.WARN, metrics={"ratio": float("nan"), "inf": float("inf")})
    doc = json.loads(render_json(Report(metadata={}, sections=[Section("s", "S", findings=[f])])))
    assert doc["sections"][0]["findings"][0]["metrics"] == {"ratio": None, "inf": None}


@pytest.mark.parametrize(
    ("where", "key", "bad"),
    [("table", "placement", "sidebar"), ("section", "kind", "chapter")],
)
def test_schema_rejects_unknown_placement_and_kind(where: str, key: str, bad: str) -> None:
    t = Table("t", ["a"], [[1]], placement="appendix")
    report = Report(metadata={}, sections=[Section("s", "S", tables=[t], kind="narrative")])
    doc = json.loads(render_json(report))
    assert doc["sections"][0]["kind"] == "narrative"
    assert doc["sections"][0]["tables"][0]["placement"] == "appendix"
    target = doc["sections"][0] if where == "section" else doc["sections"][0]["tables"][0]
    target[key] = bad
    with pytest.raises(jsonschema.ValidationError):
        validate_report_json(doc)


def test_a_1_0_document_still_loads() -> None:
    """Reports written before placement and kind existed read back with their defaults."""
    doc = {"schema_version": "1.0", "metadata": {}, "sections": [
        {"id": "s", "title": "S", "summary": "", "findings": [],
         "tables": [{"title": "t", "columns": ["a"], "rows": [[1]], "note": None}],
         "figures": []}]}
    report = Report.from_dict(doc)
    assert report.sections[0].kind == "area"
    assert report.sections[0].tables[0].placement == "body"
