"""Known answers and properties of the validators every recogniser declares."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.privacy.masking import _batch_validators as bv
from auditkit.privacy.masking import validators as v
from auditkit.privacy.masking._recognisers import iter_recognisers


def _luhn_digit(body: str) -> str:
    for d in "0123456789":
        if v.luhn_ok(body + d):
            return d
    raise AssertionError("no check digit")


@pytest.mark.parametrize("number,ok", [
    ("4111111111111111", True), ("5500 0000 0000 0004", True), ("3400-000000-00009", True),
    ("6011000000000004", True), ("4111-1111-1111-1111", True), ("378282246310005", True),
    ("4111111111111112", False), ("1234567890", False), ("0000000000000000", False),
    ("4111 1111 1111 11111 1111", False),
])
def test_card_numbers(number, ok):
    assert v.valid_credit_card(number) is ok


@given(st.text(alphabet="0123456789", min_size=11, max_size=18))
def test_luhn_check_digit_always_validates_and_any_single_change_breaks_it(body):
    number = body + _luhn_digit(body)
    assert v.luhn_ok(number)
    # Changing any one digit breaks the checksum (Luhn detects every single-digit error).
    for i in range(len(number)):
        for d in "0123456789":
            if d != number[i]:
                assert not v.luhn_ok(number[:i] + d + number[i + 1:])
                break


@pytest.mark.parametrize("ssn,ok", [
    ("123-45-6780", True), ("001-01-0001", True), ("899-99-9999", True),
    ("000-12-3456", False), ("666-12-3456", False), ("900-12-3456", False),
    ("123-00-4567", False), ("123-45-0000", False), ("078-05-1120", False),
    ("111-11-1111", False), ("123-45 6789", False), ("123456780", True),
])
def test_ssn_area_group_serial_rules(ssn, ok):
    assert v.valid_us_ssn(ssn) is ok


@given(st.integers(1, 899), st.integers(1, 99), st.integers(1, 9999))
def test_ssn_rules_match_brute_force_definition(area, group, serial):
    s = f"{area:03d}-{group:02d}-{serial:04d}"
    expected = area != 666 and len(set(s.replace("-", ""))) > 1 and s.replace("-", "") not in {
        "078051120", "219099999", "123456789"}
    assert v.valid_us_ssn(s) is expected


@pytest.mark.parametrize("iban,ok", [
    ("GB82WEST12345698765432", True), ("GB82 WEST 1234 5698 7654 32", True),
    ("DE89370400440532013000", True), ("FR1420041010050500013M02606", True),
    ("gb82west12345698765432", True), ("GB82WEST12345698765433", False),
    ("GB82WEST1234569876543", False), ("XX00", False), ("DE89370400440532013001", False),
])
def test_ibans(iban, ok):
    assert v.valid_iban(iban) is ok


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=18, max_size=18))
def test_iban_mod97_check_digits_computed_validate(bban):
    # ISO 7064 mod 97-10: check digits = 98 - (BBAN + "GB00" as digits) mod 97.
    num = int("".join(str(int(c, 36)) for c in bban + "GB00"))
    iban = f"GB{98 - num % 97:02d}{bban}"
    assert v.valid_iban(iban)


@pytest.mark.parametrize("ip,ok", [
    ("192.168.0.1", True), ("255.255.255.255", True), ("256.1.1.1", False), ("1.2.3", False),
    ("2001:db8::1", True), ("::1", True), ("::", False), ("12:20:39", False),
    ("6e40:4041:c617:e898:c11:40d2:c669:2eb4", True),
])
def test_ip_addresses(ip, ok):
    assert v.valid_ip(ip) is ok


@pytest.mark.parametrize("mac,ok", [
    ("00:1A:2b:3C:4d:5E", True), ("00-1a-2b-3c-4d-5e", True), ("001a.2b3c.4d5e", True),
    ("00:1a-2b:3c:4d:5e", False), ("00:00:00:00:00:00", False), ("00:1a:2b:3c:4d", False),
])
def test_mac_addresses(mac, ok):
    assert v.valid_mac(mac) is ok


@pytest.mark.parametrize("phone,ok", [
    ("+1 212-555-0123", True), ("(415) 555-0199", True), ("020 7946 0958", True),
    ("+44 20 7946 0958", True), ("12", False), ("2000-04-16", False), ("77.377518", False),
    ("1111111111", False),
])
def test_phone_numbers_use_phonenumbers(phone, ok):
    assert v.valid_phone(phone) is ok


@pytest.mark.parametrize("email,ok", [
    ("a@example.org", True), ("first.last+tag@mail.example.co.uk", True),
    ("zoë@exämple.org", True), ("a@b", False), ("a..b@example.org", False), ("@x.org", False),
])
def test_emails(email, ok):
    assert v.valid_email(email) is ok


@pytest.mark.parametrize("url,ok", [
    ("https://example.org/path?q=1", True), ("www.example.com", True), ("ftp://files.x.org", True),
    ("example.com", False), ("https://localhost", False),
])
def test_urls(url, ok):
    assert v.valid_url(url) is ok


@pytest.mark.parametrize("dob,ok", [
    ("1980-03-04", True), ("3/29/1982", True), ("29.03.1982", True), ("1899-12-31", False),
    ("2999-01-01", False), ("not a date", False), ("12 Mar 1975", True),
])
def test_dates_of_birth(dob, ok):
    assert v.valid_date_of_birth(dob) is ok


@pytest.mark.parametrize("code,ok", [
    ("02139", True), ("02139-4307", True), ("SW1A 1AA", True), ("5000-047", True),
    ("ABCDE", False), ("1", False),
])
def test_zip_and_postal_codes(code, ok):
    assert v.valid_zip(code) is ok


# -- any text: a bool, never an exception -----------------------------------------------------

#: Characters that once broke a validator or that sit on the edge of ``str`` predicates:
#: Kelvin sign and dotted capital I (``(?i)[A-Z]`` matches them, ``int(ch, 36)`` refuses them),
#: superscript digits (``isdigit`` but not ``int``), fullwidth and Arabic-Indic digits, a lone
#: surrogate, no-break spaces and dashes.
TRICKY = ["\u212aZ86125KZT5004100100", "\u0130T60X0542811101000000123456", "¹²³⁴⁵⁶⁷⁸⁹⁰",
          "１７００００００００", "٤١١١١١١١١١١١١١١١", "4111\ud8001111", "GB82\u00a0WEST",
          "\u2013", "+\u00b2\u00b3", "٣٤٥-٦٧-٨٩٠١", "ß" * 20, "0x1p3", "nan", "1e400", "\x00"]
VALIDATORS = sorted(
    {*(getattr(v, name) for name in v.__all__), *(r.validator for r in iter_recognisers())},
    key=lambda f: f.__name__,
)
any_text = st.one_of(st.text(), st.sampled_from(TRICKY),
                     st.lists(st.sampled_from(TRICKY + ["0", "-", " ", "A"])).map("".join))


@pytest.mark.parametrize("f", VALIDATORS, ids=lambda f: f.__name__)
@settings(max_examples=150, deadline=None)
@given(any_text)
def test_every_validator_answers_a_bool_on_any_text(f, text):
    assert type(f(text)) is bool


@pytest.mark.parametrize("f", [f for f in VALIDATORS if callable(getattr(f, "batch", None))],
                         ids=lambda f: f.__name__)
@settings(max_examples=60, deadline=None)
@given(st.lists(any_text, max_size=40))
def test_every_batch_form_answers_bools_on_any_text(f, values):
    with pytest.MonkeyPatch.context() as mp:  # the vectorised path, however short the list
        mp.setattr(bv, "MIN_ITEMS", dict.fromkeys(bv.MIN_ITEMS, 1))
        got = f.batch(values)
    assert got == [f(x) for x in values] and all(type(x) is bool for x in got)


@settings(max_examples=150, deadline=None)
@given(any_text, st.integers(0, 60), st.integers(0, 60))
def test_span_filters_answer_a_bool_on_any_text_and_offsets(text, a, b):
    start, end = min(a, b, len(text)), min(max(a, b), len(text))
    for rec in iter_recognisers():
        if rec.span_filter is not None:
            assert type(rec.span_filter(text, start, end)) is bool, rec.name
