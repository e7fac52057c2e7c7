"""The personal-value guard: finds every indexed value wherever it is embedded, never misses."""

from __future__ import annotations

import html

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit._redact import PersonalValueIndex

values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=6, max_size=30
).filter(lambda v: v.strip() == v and any(c.isalpha() for c in v))
filler = st.text(alphabet="abc XYZ.,;:<>|\n\t0123", max_size=200)


@settings(max_examples=200, deadline=None)
@given(value=values, before=filler, after=filler)
def test_any_embedded_value_is_found(value: str, before: str, after: str) -> None:
    index = PersonalValueIndex.from_frame(pd.DataFrame({"secret": [value]}), ["secret"])
    assert index.find(before + value + after) == ["secret"]
    redacted = index.redact(before + value + after)
    assert value not in redacted


@settings(max_examples=100, deadline=None)
@given(value=values)
def test_html_escaped_value_is_found(value: str) -> None:
    index = PersonalValueIndex.from_frame(pd.DataFrame({"v": [value]}), ["v"])
    assert index.find("<td>" + html.escape(value) + "</td>") == ["v"]


def test_short_and_numeric_values_are_not_indexed() -> None:
    df = pd.DataFrame({"zip": ["02134", "10001"], "age": ["42", "37"], "ssn": ["123-45-6789", "987-65-4321"]})
    index = PersonalValueIndex.from_frame(df, ["zip", "age", "ssn"])
    assert index.size == 2
    assert index.find("rows: 10001, 02134") == []
    assert index.find("id 123-45-6789.") == ["ssn"]


def test_absent_values_are_not_reported() -> None:
    df = pd.DataFrame({"email": ["jane.doe@example.com"], "name": ["Jane Doe"]})
    index = PersonalValueIndex.from_frame(df, ["email", "name"])
    assert index.find("Jane wrote to doe@example.com about Doe") == []
    assert index.find("Dear Jane Doe,") == ["name"]
