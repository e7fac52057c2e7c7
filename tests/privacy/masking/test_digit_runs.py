"""Digit runs: phone numbers found (E.164, national, in eight languages), look-alikes left alone.

The decoy corpus (``decoy_corpus.py``, seeded) holds 52 kinds of digit-bearing identifiers that
are not personal data (ISBNs, order and parcel numbers, Unix times, versions, population counts,
patents, lottery draws, ...). Measured on 2026-12-01, before -> after this module's rules
(``find_spans``; any pattern entity, ``corpus.DIGIT_ENTITIES``, counts as a false positive;
the corpus names places after postcodes, which a location recogniser rightly finds):

- decoy false-positive rate, 1,200 sentences, seed 0: 0.440 -> 0.000; held-out seeds 1, 2, 3, 7
  (2,000 each): 0.427-0.435 -> 0.000 each.
- phone recall, 600 sentences, seed 0: 0.993 -> 1.000; held-out seeds (1,000 each): 0.996-0.998
  -> 1.000.

Since person and party words (``customer``, ``client``) label a number only with an identifier
noun (``customer number``), and cards and phones may be written with no-break spaces, en dashes
and (cards) dots, 2,000 sentences per seed: decoy FP 0.0010 (seed 0), 0.0005 (seed 11), 0.000
(seeds 1, 2, 3, 7), every false positive a bare ten-digit run after ``Customer``/``Cliente``
that reads as a North American number; phone recall 1.000 on every seed (1,000 sentences each).

The bounds asserted below leave room for corpus drift: FP <= 1 %, recall >= 0.98.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from auditkit.privacy.masking import find_spans, scan
from auditkit.privacy.masking import validators as v

_spec = importlib.util.spec_from_file_location(
    "decoy_corpus", Path(__file__).resolve().parent / "decoy_corpus.py"
)
assert _spec is not None and _spec.loader is not None
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

MAX_DECOY_FP = 0.01
MIN_PHONE_RECALL = 0.98


def _entities(text: str) -> list[tuple[str, str]]:
    return [(s.entity, text[s.start:s.end]) for s in find_spans(text, corpus.DIGIT_ENTITIES)]


def _phones(text: str) -> list[str]:
    return [t for e, t in _entities(text) if e == "PHONE_NUMBER"]


# -- the corpus and the tested figures ---------------------------------------------------------

def test_decoy_corpus_is_seeded_varied_and_large():
    a, b = corpus.decoy_items(1200, seed=0), corpus.decoy_items(1200, seed=0)
    assert a == b and len(a) == 1200
    assert corpus.decoy_sentences(50, seed=1) != corpus.decoy_sentences(50, seed=0)
    assert len({k for k, _ in a}) == len(corpus.KINDS) >= 40
    assert len(set(corpus.phone_sentences(100, seed=0))) == 100


@pytest.mark.parametrize("seed", [0, 11])  # 0: the corpus the rules were tuned on; 11: held out
def test_decoy_false_positive_rate_is_bounded(seed):
    sentences = corpus.decoy_sentences(1200, seed=seed)
    hit = [s for s in sentences if find_spans(s, corpus.DIGIT_ENTITIES)]
    rate = len(hit) / len(sentences)
    assert rate <= MAX_DECOY_FP, (rate, hit[:5])


@pytest.mark.parametrize("seed", [0, 11])
def test_phone_recall_on_positive_corpus(seed):
    pairs = corpus.phone_sentences(600, seed=seed)
    missed = []
    for sentence, number in pairs:
        i = sentence.index(number)
        if not any(s.entity == "PHONE_NUMBER" and s.start < i + len(number) and i < s.end
                   for s in find_spans(sentence, ["PHONE_NUMBER"])):
            missed.append(sentence)
    assert 1 - len(missed) / len(pairs) >= MIN_PHONE_RECALL, missed[:5]


# -- E.164 and national formats ----------------------------------------------------------------

@pytest.mark.parametrize("number", ["+14155550123", "+447911123456", "+4915112345678",
                                    "+33612345678", "+390212345678"])
def test_e164_without_separators_found_bare_and_in_prose(number):
    assert _phones(number) == [number]
    assert _phones(f"Anna wrote {number} on the form.") == [number]


@pytest.mark.parametrize("text,number", [
    ("Call 028 9018267 now", "028 9018267"),
    ("Anna: 028 9018267.", "028 9018267"),
    ("Büro Berlin, 030 12345678.", "030 12345678"),
    ("Chez Marie : 06 12 34 56 78", "06 12 34 56 78"),
    ("London desk +44 (0)20 7946 0958 or (0)20 7946 0958", "(0)20 7946 0958"),
    ("The office is at 212-555-0123 today", "212-555-0123"),
])
def test_national_formats_with_trunk_prefix_in_prose(text, number):
    assert number in _phones(text)


def test_e164_column_is_classified_without_a_name_hint():
    # Needs scan's bare-digit filter to leave '+'-prefixed values to the validator (see report).
    numbers = corpus.phone_numbers(200, seed=3, style="e164")
    inv = scan(pd.DataFrame({"value": numbers, "phone": numbers}))
    for col in ("value", "phone"):
        assert inv[col].entity == "PHONE_NUMBER" and inv[col].share >= 0.99, col


def test_bare_reference_numbers_column_stays_unclassified():
    refs = [str(1_000_000_000 + 7_919 * i) for i in range(200)]
    assert scan(pd.DataFrame({"value": refs}))["value"].entity is None


# -- context words: the same digits, phone or not ----------------------------------------------

PHONE_WORDS = ["Call", "Tel.", "phone:", "mobile", "Telefon", "Handy:", "téléphone :", "Tél.",
               "teléfono", "Llámame al", "cellulare", "chiamami al", "bel me op", "telefoon",
               "ring mig på", "mobil:", "ligue para", "telemóvel", "WhatsApp", "Fax"]
DECOY_WORDS = ["ISBN", "Order", "order no.", "Invoice #", "Ticket", "Tracking number", "Ref",
               "Bestellnummer", "Rechnung Nr.", "Kundennummer", "commande n°", "facture",
               "pedido", "factura", "ordine", "fattura n.", "bestelling", "factuur",
               "encomenda", "fatura", "beställning", "faktura", "No.", "#", "Nr.", "n°",
               "serial", "part no.", "model", "batch", "lot", "SKU", "PO", "booking",
               "case", "customer number", "client ID", "Kunden-Nr.", "numéro client",
               "member no.", "account", "version", "build"]


@pytest.mark.parametrize("word", PHONE_WORDS)
def test_phone_words_in_eight_languages_confirm_a_short_run(word):
    assert _phones(f"{word} 85030210") == ["85030210"]


@pytest.mark.parametrize("word", DECOY_WORDS)
@pytest.mark.parametrize("digits", ["85030210", "0612345678", "2125550123", "06 12 34 56 78"])
def test_identifier_words_reject_a_digit_run(word, digits):
    assert _entities(f"{word} {digits} is ready") == []


def test_the_nearest_word_decides():
    assert _phones("Order 1234 arrived; call 0612345678") == ["0612345678"]
    assert _phones("Call us about order 0612345678") == []
    assert _phones("Phone No. 212-555-0123") == ["212-555-0123"]
    assert _phones("0612345678 (office)") == ["0612345678"]


# -- people and parties say whose number it is, not what it is --------------------------------

CARD, PHONE, SSN = "CREDIT_CARD", "PHONE_NUMBER", "US_SSN"


@pytest.mark.parametrize("text,entity,value", [
    ("Please charge 4111 1111 1111 1111 today", CARD, "4111 1111 1111 1111"),
    ("Charged 4111-1111-1111-1111", CARD, "4111-1111-1111-1111"),
    ("Charge the customer's card 4111111111111111 now.", CARD, "4111111111111111"),
    ("Bill the client 5500 0000 0000 0004 monthly", CARD, "5500 0000 0000 0004"),
    ("Refund 4111 1111 1111 1111 by Friday", CARD, "4111 1111 1111 1111"),
    ("Pay with 4111 1111 1111 1111, please", CARD, "4111 1111 1111 1111"),
    ("Paid by 4111-1111-1111-1111 on 3 May", CARD, "4111-1111-1111-1111"),
    ("Account holder 4111 1111 1111 1111", CARD, "4111 1111 1111 1111"),
    ("Call the customer 212 555 0143", PHONE, "212 555 0143"),
    ("Call the customer: 212-555-0143", PHONE, "212-555-0143"),
    ("Client 212-555-0143", PHONE, "212-555-0143"),
    ("Customer 212-555-0143 called twice.", PHONE, "212-555-0143"),
    ("Ring the patient on 020 7946 0958", PHONE, "020 7946 0958"),
    ("Kunde erreichbar unter 030 12345678", PHONE, "030 12345678"),
    ("Le client : 06 12 34 56 78", PHONE, "06 12 34 56 78"),
    ("Member phone +44 20 7946 0958", PHONE, "+44 20 7946 0958"),
    ("Call account holder 212-555-0143", PHONE, "212-555-0143"),
    ("Customer SSN 536-22-1234", SSN, "536-22-1234"),
    ("Charge the patient, SSN 536-22-1234", SSN, "536-22-1234"),
    ("Refund the client (SSN 536-22-1234)", SSN, "536-22-1234"),
])
def test_person_words_and_payment_verbs_do_not_hide_a_number(text, entity, value):
    assert (entity, value) in _entities(text)


@pytest.mark.parametrize("text", [
    "customer number 212-555-0143", "Customer no. 212-555-0143", "Customer #212-555-0143",
    "Kundennummer 21255501 43", "Kundennummer 2125550143", "Kunden-Nr. 030 12345678",
    "client ID 212-555-0143", "Client n° 2125550143.", "numéro client 06 12 34 56 78",
    "número de cliente 612 345 678", "Mitgliedsnummer 0612345678", "user id 2125550143",
    "Call about customer number 212-555-0143", "Patient-ID 0612345678",
    "Chargen-Nr. 4111111111111111", "Charge Nr. 4111 1111 1111 1111",
])
def test_a_person_word_with_an_identifier_noun_is_still_a_label(text):
    assert _entities(text) == []


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(["customer", "Customer", "the client", "patient", "the user", "Kunde",
                        "member", "account holder", "le client", "el cliente"]),
       st.sampled_from(["Call {w} on {n}", "{w}: {n}", "Please ring {w}, {n}.",
                        "Charge {w} and call {n}", "{w} {n} (mobile)", "Refund {w} via {n}"]),
       st.sampled_from(["212-555-0143", "(415) 555-0199", "+44 20 7946 0958", "030 12345678",
                        "06 12 34 56 78"]))
def test_a_person_word_never_hides_a_phone_number(word, template, number):
    assert number in _phones(template.format(w=word, n=number))


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(["customer", "client", "Kunden", "patient", "user", "member"]),
       st.sampled_from([" number", " no.", " ID", "-Nr.", "nummer", " #", " n°", " code"]),
       st.sampled_from(["{w} {n}", "{w}: {n}", "Your {w} is {n}.", "Call about {w} {n}"]),
       st.sampled_from(["212-555-0143", "2125550143", "030 12345678", "0612345678"]))
def test_a_person_word_with_an_identifier_noun_rejects_a_phone(person, noun, template, number):
    assert _phones(template.format(w=person + noun, n=number)) == []


# -- separators: no-break spaces, en dashes, dots ---------------------------------------------

@pytest.mark.parametrize("sep", [" ", "-", ".", "\u00a0", "\u202f", "\u2013", " \u2013 ", " - "])
@pytest.mark.parametrize("card", ["4111111111111111", "5500000000000004"])
def test_card_groups_with_any_one_separator_are_one_card(sep, card):
    written = sep.join(card[i:i + 4] for i in range(0, 16, 4))
    assert _entities(f"card {written} on file") == [(CARD, written)]
    assert _entities(written) == [(CARD, written)]


@pytest.mark.parametrize("text,number", [
    ("call +44\u00a020\u00a07946\u00a00958", "+44\u00a020\u00a07946\u00a00958"),
    ("Tél. 01\u202f23\u202f45\u202f67\u202f89", "01\u202f23\u202f45\u202f67\u202f89"),
    ("call 212\u2013555\u20130143 today", "212\u2013555\u20130143"),
    ("Telefon 030\u00a012345678", "030\u00a012345678"),
    ("+1\u00a0212\u00a0555\u00a00143", "+1\u00a0212\u00a0555\u00a00143"),
])
def test_phone_numbers_with_no_break_spaces_and_en_dashes(text, number):
    assert _phones(text) == [number]


@pytest.mark.parametrize("text,want", [
    ("card 1234.5678.9012.3456", []),  # dotted, Luhn fails: no card, and no MAC of three groups
    ("mac 001a.2b3c.4d5e", [("MAC_ADDRESS", "001a.2b3c.4d5e")]),
    ("card 4111 1111.1111-1111", []),  # mixed separators: not one card
    ("Open 8.30\u201314.00.", []), ("Geöffnet 9:30 \u2013 18:00", []),
    ("from 1990\u20132005", []), ("La ville compte 2\u202f165\u202f423 habitants.", []),
])
def test_dotted_groups_and_ranges_with_en_dashes(text, want):
    assert _entities(text) == want


def test_a_bare_short_run_without_context_is_not_a_phone():
    assert _entities("Ticket 85030210") == []
    assert _entities("It arrived as 85030210 yesterday") == []


@pytest.mark.parametrize("text", [
    "ISBN 978-0-306-40615-7", "ISBN 0-306-40615-2", "see 978-0-306-40615-7",
    "ISSN 0317-8471", "EAN 4006381333931", "UPC 036000291452", "created 1700000000",
    "at 1700000000123 ms", "Version 10.0.19041 released", "v10.0.19041", "12.5 % growth",
    "from 1990-2005", "pp. 1123-1145", "75008 Paris", "3610-114 Lisboa", "CAS 7732-18-5",
    "La ville compte 2 165 423 habitants.", "€ 1 234 567,89", "9.984.647.741 bytes",
    "Winning numbers 4 8 15 16 23 42", "EP 1 234 567 A1", "Grid TQ 30578 80356",
    "48.858370 2.294481", "at 14:30:00", "2023-10-05T14:48:00Z",
    "doi:10.1038/nphys1170", "id 550e8400-e29b-41d4-a716-446655440000", "Track 1Z999AA10123456784",
])
def test_digit_bearing_identifiers_are_left_alone(text):
    assert _entities(text) == []


# -- cards and SSNs ----------------------------------------------------------------------------

def test_cards_and_ssns_announced_as_product_numbers_are_not_personal():
    assert _entities("Order 4111111111111111 shipped") == []
    assert _entities("Part no. 123-45-6780 in stock") == []
    assert _entities("card 4111 1111 1111 1111") == [("CREDIT_CARD", "4111 1111 1111 1111")]
    assert _entities("SSN 123-45-6780") == [("US_SSN", "123-45-6780")]


@pytest.mark.parametrize("number,ok", [
    ("4111111111111111", True), ("2221000000000009", True), ("213176828496175", True),
    ("0123456789012", False), ("7710864081159", False), ("1000000000009", False),
])
def test_card_issuer_prefix(number, ok):
    assert v.valid_credit_card(number) is (ok and v.luhn_ok(number))


# -- validators --------------------------------------------------------------------------------

@pytest.mark.parametrize("value,ok", [
    ("978-0-306-40615-7", True), ("9780306406157", True), ("0-306-40615-2", True),
    ("080442957X", True), ("978-0-306-40615-8", False), ("0-306-40615-3", False),
    ("1230306406157", False), ("12345", False),
])
def test_isbn(value, ok):
    assert v.valid_isbn(value) is ok


@pytest.mark.parametrize("value,ok", [
    ("4006381333931", True), ("036000291452", True), ("96385074", True),
    ("4006381333932", False), ("00000000", False), ("12345", False),
])
def test_gtin(value, ok):
    assert v.valid_gtin(value) is ok


@pytest.mark.parametrize("value,ok", [
    ("1000000000", True), ("2208988799", True), ("2208988800", False), ("999999999", False),
    ("1700000000123", True), ("0999999999", False), ("17000000001", False),
])
def test_epoch_range(value, ok):
    assert v.epoch_like(value) is ok


def test_plausible_phone_is_stricter_than_possible():
    assert v.valid_phone("+10000000000") and not v.plausible_phone("+10000000000")
    assert v.plausible_phone("+14155550123") and v.plausible_phone("030 12345678")


# -- properties --------------------------------------------------------------------------------

def _isbn13(body: str) -> str:
    s = "978" + body
    total = sum((3 if i % 2 else 1) * int(c) for i, c in enumerate(s))
    return s + str((10 - total % 10) % 10)


def _isbn10(body: str) -> str:
    c = (11 - sum((10 - i) * int(x) for i, x in enumerate(body)) % 11) % 11
    return body + ("X" if c == 10 else str(c))


@settings(max_examples=150, deadline=None)
@given(st.text("0123456789", min_size=9, max_size=9), st.booleans(), st.sampled_from([
    "ISBN {}", "ISBN: {}.", "Das Buch (ISBN {}) fehlt.", "Livre ISBN {} en stock.",
]))
def test_isbns_with_the_word_isbn_are_never_masked(body, hyphens, template):
    for isbn in (_isbn13(body), _isbn10(body)):
        assert v.valid_isbn(isbn)
        if hyphens:
            isbn = f"{isbn[:3]}-{isbn[3]}-{isbn[4:8]}-{isbn[8:-1]}-{isbn[-1]}"
        assert _entities(template.format(isbn)) == []


@settings(max_examples=200, deadline=None)
@given(st.integers(*v.EPOCH_SECONDS).filter(lambda x: x < v.EPOCH_SECONDS[1]), st.sampled_from([
    "{}", "Event at {}.", "ts={}", "The job started at {} and ended late.",
    "Zeitstempel {} gespeichert.", "{} (unix time)", "Last seen {} by the scanner.",
]), st.booleans())
def test_unix_times_in_range_are_never_phones_without_phone_words(seconds, template, ms):
    value = str(seconds * 1000 + seconds % 1000) if ms else str(seconds)
    assert _phones(template.format(value)) == []


_E164_REGIONS = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PT", "CH", "AU", "BR", "JP",
                 "IN", "PL", "MX"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_E164_REGIONS), st.booleans(), st.integers(0, 9999))
def test_valid_e164_numbers_are_found_bare_and_in_a_sentence(region, mobile, tail):
    kind = phonenumbers.PhoneNumberType.MOBILE if mobile else phonenumbers.PhoneNumberType.FIXED_LINE
    example = phonenumbers.example_number_for_type(region, kind)
    nsn = str(example.national_number)
    num = phonenumbers.parse(f"+{example.country_code}{nsn[:-4]}{tail:04d}")
    assume(phonenumbers.is_valid_number(num))
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    assert _phones(e164) == [e164]
    assert _phones(f"Anna wrote {e164} on the form.") == [e164]
