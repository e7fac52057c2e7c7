"""Report schema 1.2: a table cell may be a tuple of texts (an intersection's group, one level
per attribute), a JSON array; documents of schema 1.1 still read."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.reports import SCHEMA_VERSION, Report, Section, Table
from auditkit.reports._cells import cell_text, clean_cell
from auditkit.reports._json import load_schema, render_json, validate_report_json
from auditkit.reports._markdown import md_cell
from auditkit.reports._view import format_scalar

GROUP = ("a, b", "x × y")


def _report(cell) -> Report:
    t = Table("Intersections", ["intersection", "group", "rows"], [["s × r", cell, 40]])
    return Report(metadata={}, sections=[Section("fairness", "Fairness", tables=[t])])


def test_version_and_schema_file() -> None:
    assert SCHEMA_VERSION == "1.2"
    assert load_schema()["properties"]["schema_version"] == {"const": "1.2"}


def test_a_tuple_cell_is_a_json_array_and_reads_back_a_tuple() -> None:
    doc = json.loads(render_json(_report(GROUP)))
    assert doc["sections"][0]["tables"][0]["rows"][0][1] == list(GROUP)
    back = Report.from_dict(doc)
    assert back.sections[0].tables[0].rows[0][1] == GROUP
    assert back.to_dict() == _report(GROUP).to_dict()


def test_schema_refuses_an_array_of_other_than_strings() -> None:
    doc = json.loads(render_json(_report(GROUP)))
    doc["sections"][0]["tables"][0]["rows"][0][1] = ["a", 1]
    with pytest.raises(jsonschema.ValidationError):
        validate_report_json(doc)


def test_a_1_1_document_still_reads() -> None:
    """A 1.1 report holds intersections as joined text; it reads as it was written."""
    doc = {"schema_version": "1.1", "metadata": {}, "sections": [
        {"id": "fairness", "title": "Fairness", "summary": "", "findings": [], "kind": "area",
         "tables": [{"title": "t", "columns": ["group", "rows"], "rows": [["a, b, x", 3]],
                     "note": None, "placement": "appendix"}],
         "figures": []}]}
    report = Report.from_dict(doc)
    assert report.schema_version == "1.1"
    assert report.sections[0].tables[0].rows == (("a, b, x", 3),)


def test_renderers_join_the_parts() -> None:
    assert cell_text(GROUP) == "a, b × x × y" == format_scalar(GROUP)
    assert md_cell(GROUP) == "a, b × x × y"
    assert clean_cell(("F", 1)) == ("F", "1")
    from auditkit.reports._html import render_html_text

    html = render_html_text(_report(GROUP))
    assert "a, b × x × y" in html and "(&#39;a" not in html


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=8), min_size=1, max_size=4).map(tuple))
def test_any_tuple_cell_round_trips(cell: tuple[str, ...]) -> None:
    doc = json.loads(render_json(_report(cell)))
    validate_report_json(doc)
    assert Report.from_dict(doc).sections[0].tables[0].rows[0][1] == cell
