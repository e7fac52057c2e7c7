"""Entity spans in free text: every occurrence, overlaps resolved, quality on labelled data."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking import (
    Recogniser,
    find_spans,
    register_recogniser,
    unregister_recogniser,
)
from auditkit.privacy.masking.validators import always

TEXT = (
    "Mail zoë.brontë@example.org or zoe@example.org; call +1 212-555-0123 or (415) 555-0199. "
    "Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6780, "
    "from 192.168.10.20 / 2001:db8::7 (mac 00:1a:2b:3c:4d:5e), see https://example.org/x."
)


def _found(text, **kw):
    return [(s.entity, text[s.start:s.end]) for s in find_spans(text, **kw)]


def test_every_entity_and_every_occurrence_in_one_cell():
    got = _found(TEXT)
    assert got == [
        ("EMAIL_ADDRESS", "zoë.brontë@example.org"),
        ("EMAIL_ADDRESS", "zoe@example.org"),
        ("PHONE_NUMBER", "+1 212-555-0123"),
        ("PHONE_NUMBER", "(415) 555-0199"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
        ("US_SSN", "123-45-6780"),
        ("IP_ADDRESS", "192.168.10.20"),
        ("IP_ADDRESS", "2001:db8::7"),
        ("MAC_ADDRESS", "00:1a:2b:3c:4d:5e"),
        ("URL", "https://example.org/x"),
    ]


def test_invalid_candidates_are_rejected_by_validators():
    text = "card 4111 1111 1111 1112, ssn 666-12-3456, iban GB82WEST12345698765433, ip 999.1.1.1"
    assert _found(text) == []


def test_entity_filter():
    assert {e for e, _ in _found(TEXT, entities=["US_SSN"])} == {"US_SSN"}


def test_overlaps_keep_higher_priority():
    # A card number is also a digit run a phone pattern could take: the card wins.
    assert _found("pay with 4111111111111111 today") == [("CREDIT_CARD", "4111111111111111")]


def test_bare_ssn_needs_context():
    assert _found("order 123456780 shipped") == []
    assert _found("my ssn is 123456780") == [("US_SSN", "123456780")]


def test_dates_and_street_numbers_are_not_phones():
    assert _found("When: 2000-04-16 11:34:35") == []
    assert _found("The office is at 370 3911 Fourth Avenue", entities=["PHONE_NUMBER"]) == []
    assert _found("The office is at 370 3911 Fourth Avenue") == [
        ("STREET_ADDRESS", "370 3911 Fourth Avenue")]
    assert _found("call 212-555-0123 today") == [("PHONE_NUMBER", "212-555-0123")]


def test_user_recogniser_is_used_and_duplicates_refused():
    rec = Recogniser("employee_id", "EMPLOYEE_ID", always, pattern=r"\bEMP-\d{6}\b",
                     value_pattern=r"^EMP-\d{6}$", trigger="digit")
    register_recogniser(rec)
    try:
        assert _found("badge EMP-004217 issued") == [("EMPLOYEE_ID", "EMP-004217")]
        with pytest.raises(ValueError, match="already registered"):
            register_recogniser(Recogniser("employee_id", "X", always, pattern="x"))
    finally:
        unregister_recogniser("employee_id")


def test_recogniser_needs_a_callable_validator():
    with pytest.raises(ValueError, match="validator"):
        Recogniser("bad", "BAD", None, pattern="x")  # type: ignore[arg-type]


# -- quality on the labelled synthetic dataset (Presidio research) ---------------------------

ENTITIES = ("EMAIL_ADDRESS", "CREDIT_CARD", "PHONE_NUMBER", "IBAN_CODE", "US_SSN", "IP_ADDRESS")


def _overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


def test_quality_on_synth_dataset(shared_datasets, capsys):
    path = shared_datasets / "pii" / "synth_dataset_v2.json"
    if not path.exists():
        pytest.skip(f"{path} not found")
    records = json.loads(path.read_text(encoding="utf-8"))
    gold_n, gold_hit, pred_n, pred_ok = Counter(), Counter(), Counter(), Counter()
    for rec in records:
        text = rec["full_text"]
        gold = [(s["start_position"], s["end_position"], s["entity_type"]) for s in rec["spans"]]
        pred = [(s.start, s.end, s.entity) for s in find_spans(text, ENTITIES)]
        for g in gold:
            if g[2] in ENTITIES:
                gold_n[g[2]] += 1
                gold_hit[g[2]] += any(p[2] == g[2] and _overlap(p, g) for p in pred)
        for p in pred:
            pred_n[p[2]] += 1
            pred_ok[p[2]] += any(g[2] == p[2] and _overlap(p, g) for g in gold)
    rows = []
    for e in ENTITIES:
        recall = gold_hit[e] / gold_n[e]
        precision = pred_ok[e] / pred_n[e] if pred_n[e] else 0.0
        rows.append((e, gold_n[e], recall, precision))
    with capsys.disabled():
        print("\nentity            gold  recall  precision  (span overlap, synth_dataset_v2.json)")
        for e, n, r, p in rows:
            print(f"{e:16s} {n:5d}  {r:6.3f}  {p:9.3f}")
    for e, n, r, p in rows:
        assert n > 0, e
        assert r >= 0.95, f"{e} recall {r:.3f}"
        assert p >= 0.90, f"{e} precision {p:.3f}"


# -- the call's arguments ---------------------------------------------------------------------

def test_one_entity_name_may_be_a_plain_string():
    text = "mail a@b.org, card 4111 1111 1111 1111"
    one = find_spans(text, "EMAIL_ADDRESS")
    assert one == find_spans(text, ["EMAIL_ADDRESS"]) and [s.entity for s in one] == [
        "EMAIL_ADDRESS"]


@pytest.mark.parametrize("value", [float("nan"), 5, 4111111111111111, b"a@b.org 4111",
                                   bytearray(b"4111"), ["a@b.org"]])
def test_a_text_that_is_not_a_str_is_refused_by_type_without_its_value(value):
    with pytest.raises(PrivacyInputError, match=type(value).__name__) as info:
        find_spans(value)
    assert "4111" not in str(info.value) and "a@b" not in str(info.value)


@pytest.mark.parametrize("value", [None, ""])
def test_no_text_has_no_spans(value):
    assert find_spans(value) == []
