"""``unlisted``: every personal column the policy does not name, of every category; the summary
says what stayed in clear and why."""

from __future__ import annotations

import pandas as pd
import pytest

from auditkit.privacy.masking import mask, scan
from auditkit.privacy.masking._mask import (
    IN_CLEAR_REASONS,
    KEPT_BY_RULE,
    KEPT_UNLISTED,
    NOT_CLASSIFIED,
    NOT_PERSONAL,
)

N = 40
#: Full names under an ordinary header (no name hint): personal by a text finder's full names.
ASSIGNEES = ["Sarah Johnson", "Li Wei", "Maria García", "Kwame Mensah", "Olga Ivanova",
             "Hiroshi Tanaka", "Priya Sharma", "Björn Andersson", "Fatima Haddad", "David Kim"]

#: One column per personal category the scan knows, with the scan's category.
PERSONAL = {
    "email": ("direct", [f"p{i}@example.org" for i in range(N)]),
    "full_name": ("direct", [f"Person{chr(65 + i % 26)} Name{chr(97 + i % 26)}" for i in range(N)]),
    "assigned_to": ("direct", [ASSIGNEES[i % 10] for i in range(N)]),
    "ssn": ("direct", [f"{100 + i:03d}-{10 + i % 80:02d}-{1000 + i:04d}" for i in range(N)]),
    "username": ("credential", [f"user_{i}" for i in range(N)]),
    "card_number": ("financial", ["4111 1111 1111 1111", "5500 0000 0000 0004"] * (N // 2)),
    "race": ("special", ["White", "Black", "Asian", "Other"] * (N // 4)),
    "religion": ("special", ["Christian", "Muslim", "None", "Jewish"] * (N // 4)),
    "diagnosis": ("special", ["asthma", "diabetes", "none", "flu"] * (N // 4)),
    "zip": ("quasi", [f"{2100 + i:05d}" for i in range(N)]),
    "city": ("quasi", ["Boston", "Denver", "Austin", "Tulsa"] * (N // 4)),
    "latitude": ("quasi", [f"{40 + i / 100:.4f}" for i in range(N)]),
    "date_of_birth": ("quasi", [f"19{50 + i % 40}-0{1 + i % 9}-1{i % 10}" for i in range(N)]),
    "sex": ("quasi", ["F", "M"] * (N // 2)),
    "age": ("quasi", [20 + i for i in range(N)]),
    "notes": (None, [f"please call me at 617-555-01{i:02d} or write to p{i}@example.org today"
                     for i in range(N)]),
    # Short text, a fifth of it holding an e-mail or an SSN: personal by its spans.
    "remarks": ("direct", [f"mail r{i}@example.org" if i % 10 == 0 else
                           f"ssn {200 + i:03d}-{10 + i:02d}-{3000 + i:04d}" if i % 10 == 1 else
                           "ok" for i in range(N)]),
}
CLEAR = {"amount": [float(i) * 1.5 for i in range(N)], "product": ["a", "b"] * (N // 2),
         # Labels a text finder may read as names: not people.
         "vehicle": ["Toyota Corolla", "Ford Focus", "Honda Civic", "Kia Sportage"] * (N // 4),
         "supplier": ["Acme Corp", "Globex Inc", "Initech", "Stark Industries"] * (N // 4),
         "ship_to": ["France", "Japan", "Brazil", "Kenya"] * (N // 4)}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame({**{c: v for c, (_, v) in PERSONAL.items()}, **CLEAR})


def test_the_fixture_covers_every_category(frame):
    inv = scan(frame)
    assert set(inv.personal_columns) == set(PERSONAL)
    for column, (category, _) in PERSONAL.items():
        if category is not None:
            assert inv[column].category == category, column
    assert inv["notes"].text_entities
    assert inv["remarks"].entity is None and not inv["remarks"].free_text
    assert set(inv["remarks"].entities) == {"EMAIL_ADDRESS", "US_SSN"}


@pytest.mark.parametrize("column", sorted(PERSONAL))
def test_unlisted_redact_redacts_every_personal_category(frame, column):
    res = mask(frame, {"policy": {"unlisted": "redact"}})
    out = res.frame[column]
    if column == "notes":  # free text: the spans go, the prose stays
        assert not out.str.contains("@example.org").any()
        assert not out.str.contains("617-555").any()
        assert out.str.contains("please call me").all()
    elif column == "remarks":  # short text with embedded entities: both types go
        assert not out.str.contains("@example.org").any()
        assert not out.str.contains(r"\d{3}-\d{2}-\d{4}").any()
        assert (out[frame[column] == "ok"] == "ok").all()
        assert out.str.startswith("ssn ").sum() == N // 10
    else:
        assert (out == "").all(), column
    assert column not in dict(res.summary.in_clear)


@pytest.mark.parametrize("operator", ["replace", "drop"])
def test_other_unlisted_operators_cover_every_personal_column(frame, operator):
    res = mask(frame, {"policy": {"unlisted": operator}})
    treated = {c.column for c in res.summary.changes}
    assert treated == set(PERSONAL)
    if operator == "drop":
        assert set(res.frame.columns) == set(CLEAR)  # free text too: drop takes whole columns


def test_the_summary_lists_what_stayed_in_clear_and_why(frame):
    res = mask(frame, {"policy": {"unlisted": "redact"}, "columns": {"sex": "keep"}})
    assert dict(res.summary.in_clear) == {**{c: NOT_PERSONAL for c in CLEAR},
                                          "sex": KEPT_BY_RULE}
    kept = mask(frame, {"columns": {"email": "redact"}})
    why = dict(kept.summary.in_clear)
    assert set(why) == set(frame.columns) - {"email"}
    assert {why[c] for c in PERSONAL if c != "email"} == {KEPT_UNLISTED}
    assert {why[c] for c in CLEAR} == {NOT_PERSONAL}
    assert set(kept.summary.unmasked_personal) == set(PERSONAL) - {"email"}
    d = kept.summary.to_dict()["in_clear"]
    assert {e["column"] for e in d} == set(why) and set(why.values()) <= set(IN_CLEAR_REASONS)


def test_without_a_scan_nothing_is_claimed_not_personal(frame):
    res = mask(frame, {"columns": {"email": {"operator": "redact", "free_text": False}}})
    assert set(dict(res.summary.in_clear).values()) == {NOT_CLASSIFIED}


def test_the_callers_classification_decides_what_is_personal(frame):
    """The runner passes its one classification: a protected attribute the scan cannot see
    (marital status) is redacted too, and nothing else changes."""
    df = frame.assign(marital_status=["Married", "Single"] * (N // 2))
    plain = mask(df, {"policy": {"unlisted": "redact"}})
    assert dict(plain.summary.in_clear)["marital_status"] == NOT_PERSONAL
    res = mask(df, {"policy": {"unlisted": "redact"}},
               personal=[*PERSONAL, "marital_status"])
    assert (res.frame["marital_status"] == "").all()
    assert dict(res.summary.in_clear) == {c: NOT_PERSONAL for c in CLEAR}


def test_unlisted_error_names_every_unlisted_personal_column(frame):
    with pytest.raises(ValueError, match="does not say how to treat personal columns") as err:
        mask(frame, {"policy": {"unlisted": "error"}, "columns": {"email": "redact"}})
    for column in PERSONAL:
        if column != "email":
            assert repr(column) in str(err.value)


@pytest.mark.parametrize("operator", ["redact", "replace", "drop"])
def test_full_names_under_an_ordinary_header_are_not_left_in_clear(frame, operator):
    res = mask(frame, {"policy": {"unlisted": operator}})
    assert "assigned_to" not in dict(res.summary.in_clear)
    if operator != "drop":
        out = res.frame["assigned_to"]
        words = {w for name in ASSIGNEES for w in name.split()}
        assert not any(w in cell for cell in out for w in words)
    for column in CLEAR:  # the labels stay as they were
        assert (res.frame[column] == frame[column]).all()
