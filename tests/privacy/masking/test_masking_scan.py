"""scan(): entity types per column from validators and name hints, counts only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking import Recogniser, column_hints, iter_recognisers, scan
from auditkit.privacy.masking._scan import _judge
from auditkit.privacy.masking._scan_text import name_values
from auditkit.privacy.masking.validators import always

DATA = Path(__file__).parent / "data" / "FakeNameGenerator.com_100.csv"

# Every personal column of the FakeNameGenerator sample and the entity type it must get.
EXPECTED = {
    "Gender": "GENDER", "GivenName": "PERSON", "MiddleInitial": "PERSON", "Surname": "PERSON",
    "StreetAddress": "STREET_ADDRESS", "City": "LOCATION", "State": "LOCATION",
    "StateFull": "LOCATION", "ZipCode": "ZIP_CODE", "EmailAddress": "EMAIL_ADDRESS",
    "Username": "USERNAME", "Password": "PASSWORD", "TelephoneNumber": "PHONE_NUMBER",
    "MothersMaiden": "PERSON", "Birthday": "DATE_OF_BIRTH", "Age": "AGE",
    "CCNumber": "CREDIT_CARD", "CVV2": "CARD_SECURITY_CODE", "NationalID": "NATIONAL_ID",
    "BloodType": "HEALTH_DATA", "Latitude": "GEO_COORDINATE", "Longitude": "GEO_COORDINATE",
}
# Columns that are not personal data on their own.
NOT_PERSONAL = ["Number", "NameSet", "Title", "Country", "CountryFull", "BrowserUserAgent",
                "TelephoneCountryCode", "TropicalZodiac", "CCType", "CCExpires", "UPS",
                "WesternUnionMTCN", "MoneyGramMTCN", "Color", "Occupation", "Company",
                "Vehicle", "Domain", "Pounds", "Kilograms", "FeetInches", "Centimeters", "GUID"]


@pytest.fixture(scope="module")
def fake_names() -> pd.DataFrame:
    return pd.read_csv(DATA, dtype=str, encoding="utf-8-sig")


def test_fake_name_generator_every_personal_column_gets_the_right_type(fake_names):
    inv = scan(fake_names)
    wrong = {c: inv[c].entity for c, e in EXPECTED.items() if inv[c].entity != e}
    assert not wrong, wrong
    flagged = [c for c in NOT_PERSONAL if inv[c].personal]
    assert not flagged, flagged
    assert set(inv.personal_columns) == set(EXPECTED)
    assert inv.special_category_columns == ("BloodType",)


def test_fake_name_generator_without_name_hints_keeps_validated_types(fake_names):
    renamed = fake_names.rename(columns={c: f"c{i}" for i, c in enumerate(fake_names.columns)})
    inv = scan(renamed, hints=False)
    by_old = dict(zip(fake_names.columns, inv.columns, strict=True))
    assert by_old["EmailAddress"].entity == "EMAIL_ADDRESS"
    assert by_old["CCNumber"].entity == "CREDIT_CARD"
    # Weak shapes (names, ZIP codes, bare 10-digit numbers) are not claimed without a hint.
    assert by_old["GivenName"].entity is None
    assert by_old["WesternUnionMTCN"].entity is None


def test_structured_types_and_shares():
    n = 200
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "contact": [f"user{i}@example.org" for i in range(n)],
        "card": ["4111111111111111", "5500000000000004"] * (n // 2),
        "client": [f"10.0.{i % 256}.{i % 7}" for i in range(n)],
        "hw": ["00:1a:2b:3c:4d:5e"] * n,
        "iban": ["GB82WEST12345698765432"] * n,
        "web": ["https://example.org/a"] * n,
        "social_security_number": ["123-45-6780"] * n,
        "amount": rng.normal(size=n),
        "half_email": [f"u{i}@example.org" if i % 2 else "n/a" for i in range(n)],
        "half": [f"u{i}@example.org" if i % 2 else "n/a" for i in range(n)],
    })
    inv = scan(df)
    got = {c.column: c.entity for c in inv}
    assert got == {
        "contact": "EMAIL_ADDRESS", "card": "CREDIT_CARD", "client": "IP_ADDRESS",
        "hw": "MAC_ADDRESS", "iban": "IBAN_CODE", "web": "URL",
        "social_security_number": "US_SSN", "amount": None,
        # Half e-mails: a majority with the name's hint; without it, below WHOLE_CELL_SHARE,
        # so the column is judged by its spans (half its cells hold one: personal).
        "half_email": "EMAIL_ADDRESS", "half": None,
    }
    cand = {c.entity: c.share for c in inv["half"].candidates}
    assert cand["EMAIL_ADDRESS"] == pytest.approx(0.5)
    assert inv["half"].embedded and inv["half"].personal and inv["half"].spans
    assert inv["half"].text_shares == {"EMAIL_ADDRESS": 0.5}
    assert not inv["amount"].personal and inv["amount"].text_rows == 0  # numbers: no search


def test_free_text_column_reports_embedded_entities():
    df = pd.DataFrame({"notes": [
        "Customer asked us to call back on 212-555-0123 about the last invoice",
        "Refund to card 4111 1111 1111 1111 approved by the shift manager today",
        "Nothing personal in this note, just a long sentence about the weather",
    ] * 5})
    inv = scan(df)
    col = inv["notes"]
    assert col.free_text and col.entity is None and col.personal
    assert dict(col.text_entities) == {"PHONE_NUMBER": 5, "CREDIT_CARD": 5}


def test_inventory_holds_counts_never_values():
    secret = "zoë.secret-person@example.org"
    df = pd.DataFrame({"email": [secret] * 10, "notes": [f"write to {secret} now please ok"] * 10})
    inv = scan(df)
    assert secret not in inv.to_json()
    assert secret not in repr(inv)
    assert secret not in inv.to_frame().to_string()


def test_sampling_and_declared_overrides():
    df = pd.DataFrame({"x": [f"a{i}@example.org" for i in range(50_000)], "y": range(50_000)})
    inv = scan(df, sample_rows=1_000, declared={"y": "NATIONAL_ID"})
    assert inv.sampled and inv.n_scanned == 1_000 and inv.n_rows == 50_000
    assert inv["x"].entity == "EMAIL_ADDRESS"
    assert inv["y"].entity == "NATIONAL_ID" and inv["y"].confidence == 1.0


@pytest.mark.parametrize("name,expected", [
    ("customer_email", {"email"}), ("GivenName", {"person"}), ("NameSet", set()),
    ("date_of_birth", {"date_of_birth"}), ("ZipCode", {"zip_code"}), ("CVV2", {"card_security_code"}),
])
def test_column_hints(name, expected):
    assert column_hints(name) == expected


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="sample_rows"):
        scan(pd.DataFrame({"a": [1]}), sample_rows=0)
    with pytest.raises(ValueError, match="lacks"):
        scan(pd.DataFrame({"a": [1]}), columns=["b"])
    with pytest.raises(ValueError, match="pandas DataFrame"):
        scan([1, 2, 3])  # type: ignore[arg-type]


def test_unknown_inventory_column_is_a_privacy_error_and_still_a_key_error():
    inv = scan(pd.DataFrame({"email": ["a@example.org"], "n": [1]}))
    with pytest.raises(PrivacyInputError) as err:
        inv["emial"]
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    # A sentence (not the quoted repr a plain KeyError prints) that names the columns held.
    assert str(err.value).startswith("The inventory has no column 'emial'. Did you mean 'email'?")
    assert "['email', 'n']" in str(err.value)
    with pytest.raises(KeyError):
        inv["zzz"]


def _rec(name, *, needs_hint=False, priority=50, score=1.0):
    return Recogniser(name, name.upper(), always, value_pattern=r"^.+$", needs_hint=needs_hint,
                      priority=priority, score=score)


def test_judge_prefers_pattern_types_then_share_then_priority():
    pattern, hinted = _rec("pattern"), _rec("hinted", needs_hint=True, priority=90)
    # A pattern type at 0.7 beats a name-hint type at 0.9.
    candidates, best = _judge([(hinted, 0.9, True), (pattern, 0.7, False)], min_share=0.6)
    assert best.rec is pattern and best.share == 0.7
    assert [c.entity for c in candidates] == ["HINTED", "PATTERN"]  # largest share first
    assert candidates[0].confidence == 1.0 and candidates[0].hinted  # 0.9 + 0.1, capped
    # Below min_share a pattern type does not count; a name-hint type needs 0.5.
    _, best = _judge([(pattern, 0.55, False), (hinted, 0.5, True)], min_share=0.6)
    assert best.rec is hinted
    _, best = _judge([(hinted, 0.49, True)], min_share=0.1)
    assert best is None
    # Equal shares: the higher priority wins.
    low, high = _rec("low", priority=10), _rec("high", priority=20)
    assert _judge([(low, 0.8, False), (high, 0.8, False)], 0.6)[1].rec is high


def test_special_category_recognisers_are_named_by_their_column_alone():
    special = [r for r in iter_recognisers() if r.category == "special"]
    assert {r.entity for r in special} >= {"HEALTH_DATA", "RELIGION", "BIOMETRIC", "SEX_LIFE"}
    for r in special:
        assert r.needs_hint and r.validator is always and r.value_pattern == r"^.+$", r.name


# -- full names read whole by a text finder --------------------------------------------------

@pytest.mark.parametrize("cell,reads", [
    ("Sarah Johnson", True),
    ("Dr. Sarah Johnson", True),        # a title aside
    ("Sarah Johnson Jr.", True),        # a suffix aside
    ("Mrs Maria García", True),         # accents folded for the gazetteers
    ("Ana de la Cruz", True),           # particles inside
    ("María José Fernández López", True),
    ("Sarah Johnson and co", False),    # more than the name
    ("Ford Focus", False),
    ("Acme Corp", False),
    ("United States", False),           # a place, not a person
    ("Sarah", False),                   # one word is not a full name
])
def test_which_cells_read_as_one_full_name(cell, reads):
    assert (name_values(pa.array([cell]), 0.0) == 1.0) is reads


def test_a_finder_person_column_lists_its_share_and_stays_a_whole_cell_type():
    names = ["Sarah Johnson", "James Smith", "Maria Garcia", "David Miller", "Anna Wilson"]
    df = pd.DataFrame({"owner": names * 20 + ["n/a"] * 100})
    col = scan(df)["owner"]
    # Five of the six distinct values are names: half the cells, but the values decide.
    assert col.entity == "PERSON" and col.share == pytest.approx(5 / 6, abs=1e-4)
    assert [c.entity for c in col.candidates] == ["PERSON"] and not col.spans
    assert not col.embedded and col.category == "direct"


def test_without_a_text_finder_names_under_an_ordinary_header_are_not_read():
    from auditkit.privacy.masking import set_prose_detector

    df = pd.DataFrame({"owner": ["Sarah Johnson", "James Smith", "Maria Garcia"] * 5})
    set_prose_detector("off")
    try:
        assert scan(df)["owner"].entity is None
    finally:
        set_prose_detector("builtin")
    assert scan(df)["owner"].entity == "PERSON"


# -- cells Arrow cannot hold -----------------------------------------------------------------

@pytest.mark.parametrize("cells,row", [
    (["\ud800"], 0),
    (["ok", None, "x\udfffy", "fine"], 2),
    ([None, float("nan"), 7, "a\udc80b", "a\udc80b"], 3),  # mixed objects; the first of two
    ([1.5, "\udbff", 2.5], 1),
])
@pytest.mark.parametrize("column", ["notes", 3])
def test_scan_names_the_column_and_row_of_a_cell_that_is_not_unicode(cells, row, column):
    df = pd.DataFrame({column: pd.Series(cells, dtype=object)})
    with pytest.raises(PrivacyInputError, match=f"Column '{column}' .* first at row {row},") \
            as err:
        scan(df)
    assert err.value.__context__ is None and err.value.__cause__ is None
    str(err.value).encode("ascii")  # no character of the cell, the surrogate least of all
