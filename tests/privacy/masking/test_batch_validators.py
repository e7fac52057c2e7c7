"""The batch forms of the validators and span filters return exactly what the scalar ones do.

``f.batch(values) == [f(x) for x in values]`` for every built-in validator with a batch form,
and ``phone_span_ok.batch(texts, starts, ends)`` equals the scalar span by span, on random
candidates built to sit on the edges of each rule (issuer prefixes, Luhn digits, SSN areas and
samples, octets with leading zeros or over 255, North American and international phones,
scripts other than Latin) and on the decoy corpus's realistic sentences.
"""

from __future__ import annotations

import importlib.util
import itertools
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.privacy.masking import _batch_validators as bv
from auditkit.privacy.masking import validators as v
from auditkit.privacy.masking._digit_context import (
    not_thing_id_batch,
    phone_span_ok,
    thing_id_before,
)
from auditkit.privacy.masking._recognisers import get_recogniser

_spec = importlib.util.spec_from_file_location(
    "decoy_corpus", Path(__file__).resolve().parent / "decoy_corpus.py"
)
assert _spec is not None and _spec.loader is not None
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

SMALL = 24


@pytest.fixture(autouse=True, scope="module")
def _vectorised_from_one_item():
    """Every list takes the vectorised path (the scalar one below a size threshold is tested
    on its own)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bv, "MIN_ITEMS", dict.fromkeys(bv.MIN_ITEMS, 1))
        yield


SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DIGITS = "0123456789"
OTHER_DIGITS = "٣۵१৩"  # Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali


def _batch_equals_scalar(f, values):
    values = list(values)
    assert f.batch(values) == [f(x) for x in values]


def _column(item):
    return st.lists(item, min_size=1, max_size=3 * SMALL)


def _luhn_completed(body: str) -> str:
    for d in DIGITS:
        if v.luhn_ok(body + d):
            return body + d
    raise AssertionError("no check digit")


def _grouped(digits: str, sep: str, size: int) -> str:
    return sep.join(digits[i:i + size] for i in range(0, len(digits), size)) if sep else digits


#: Separators people write between digit groups besides ASCII ones: no-break and narrow no-break
#: spaces, en dash (plain and spaced), thin space.
ODD_SEPARATORS = ["\u00a0", "\u202f", "\u2013", " \u2013 ", " - ", "\u2009"]
noise = st.text(alphabet=DIGITS + " -.+()x/:" + OTHER_DIGITS + "éß a\u00a0\u202f\u2013",
                max_size=24)


@st.composite
def card_candidates(draw):
    prefix = draw(st.sampled_from(["4", "5", "6", "9", "3", "34", "1", "1800", "2131", "0604",
                                   "0", "7", "8", "81", "82", "83", "2200", "2204", "2205",
                                   "2220", "2221", "2720", "2721", "27", "2", ""]))
    length = draw(st.integers(10, 21))
    body = (prefix + draw(st.text(DIGITS, min_size=length, max_size=length)))[:length]
    number = _luhn_completed(body[:-1]) if draw(st.booleans()) else body
    if draw(st.integers(0, 9)) == 0:
        number = number[0] * len(number)
    sep = draw(st.sampled_from(["", "", " ", "-", ".", "/", *ODD_SEPARATORS]))
    text = _grouped(number, sep, draw(st.sampled_from([4, 4, 6, 3])))
    if draw(st.integers(0, 12)) == 0:
        text = text.replace(draw(st.sampled_from(DIGITS)), draw(st.sampled_from(OTHER_DIGITS)))
    return text


@SETTINGS
@given(_column(st.one_of(card_candidates(), noise)))
def test_card_batch_equals_scalar(values):
    _batch_equals_scalar(v.valid_credit_card, values)


@st.composite
def ssn_candidates(draw):
    area = draw(st.one_of(st.integers(0, 999), st.sampled_from([0, 666, 899, 900, 999, 78, 219])))
    group, serial = draw(st.integers(0, 99)), draw(st.integers(0, 9999))
    if draw(st.integers(0, 6)) == 0:
        return draw(st.sampled_from(["078051120", "219099999", "123456789", "987654320",
                                     "987654321", "111111111", "078-05-1120", "987 65 4321"]))
    s1 = draw(st.sampled_from(["-", " ", ".", "", "/", *ODD_SEPARATORS]))
    s2 = s1 if draw(st.booleans()) else draw(st.sampled_from(["-", " ", ".", "", "\u00a0"]))
    text = f"{area:03d}{s1}{group:02d}{s2}{serial:04d}"
    pad = draw(st.sampled_from(["", "", "", " ", "\t", "\x1c", "\u00a0"]))
    text = pad + text + draw(st.sampled_from(["", "", pad]))
    if draw(st.integers(0, 12)) == 0:
        text = text.replace(draw(st.sampled_from(DIGITS)), draw(st.sampled_from(OTHER_DIGITS)))
    return text


@SETTINGS
@given(_column(st.one_of(ssn_candidates(), noise)))
def test_ssn_batch_equals_scalar(values):
    _batch_equals_scalar(v.valid_us_ssn, values)


octet = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "007", "0", "255",
                                                                  "256", "1000", "", "٣"]))


@st.composite
def ip_candidates(draw):
    kind = draw(st.integers(0, 5))
    if kind == 0:
        groups = draw(st.lists(st.text("0123456789abcdefABCDEF", min_size=0, max_size=5),
                               min_size=2, max_size=9))
        return ":".join(groups)
    if kind == 1:
        return draw(st.sampled_from(["0.0.0.0", "::", "::1", "[::1]", " 1.2.3.4", "1.2.3.4 ",
                                     "[1.2.3.4]", "1.2.3.4/24", "2001:db8::1", "::ffff:1.2.3.4",
                                     "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4.5"]))
    parts = draw(st.lists(octet, min_size=3, max_size=5))
    return ".".join(parts)


@SETTINGS
@given(_column(st.one_of(ip_candidates(), noise)))
def test_ip_batch_equals_scalar(values):
    _batch_equals_scalar(v.valid_ip, values)


local_chars = "abcXYZ019_.!#$%&'*+/=?^`{|}~-éøßЖλ" + "çÅ"
domain_chars = "abcXYZ019-_.éøЖλ中"


@st.composite
def email_candidates(draw):
    local = draw(st.text(local_chars, min_size=0, max_size=12))
    labels = draw(st.lists(st.text(domain_chars, min_size=0, max_size=8), min_size=1,
                           max_size=3))
    tld = draw(st.text("abcdefZ1éЖ_", min_size=0, max_size=5))
    pad = draw(st.sampled_from(["", "", "", " ", "\n"]))
    sep = draw(st.sampled_from(["@", "@", "@", "", "@@"]))
    return pad + local + sep + ".".join(labels + [tld]) + pad


@st.composite
def long_emails(draw):
    """Addresses around the 254-character limit, with labels within 63 characters."""
    total = draw(st.integers(240, 270))
    domain = ".".join(["d" * 60] * 4)[: total - 70].rstrip(".") + ".org"
    return "l" * (total - len(domain) - 1) + "@" + domain


@SETTINGS
@given(_column(st.one_of(email_candidates(), long_emails())))
def test_email_batch_equals_scalar(values):
    _batch_equals_scalar(v.valid_email, values)


@st.composite
def nanp_like(draw):
    """North American shapes and near misses: area and exchange codes starting 0-9,
    parentheses, separators, ``+1``/``1`` prefixes, extensions."""
    area = draw(st.sampled_from(DIGITS)) + draw(st.text(DIGITS, min_size=2, max_size=2))
    exchange = draw(st.sampled_from(DIGITS)) + draw(st.text(DIGITS, min_size=2, max_size=2))
    line = draw(st.text(DIGITS, min_size=4, max_size=4)) + draw(st.sampled_from(["", "", "", "5"]))
    sep = st.sampled_from(["", " ", " ", "-", "-", ".", "/", "  ", *ODD_SEPARATORS])
    head = f"({area})" if draw(st.booleans()) else area
    prefix = draw(st.sampled_from(["", "", "", "", "+1", "+1 ", "1 ", "1-", "1.", "+", "+2",
                                   "00", "001 "]))
    tail = draw(st.sampled_from(["", "", "", "", " x12", "x1", " ext. 123", "ext5"]))
    return prefix + head + draw(sep) + exchange + draw(sep) + line + tail


@st.composite
def bare_digits(draw):
    """Runs of digits around the lengths of GTINs, Unix times, national and North American
    numbers."""
    head = draw(st.sampled_from(["", "", "0", "00", "1", "10", "11", "12", "2", "9", "01"]))
    length = draw(st.integers(6, 15))
    return (head + draw(st.text(DIGITS, min_size=length, max_size=length)))[:length]


phone_values = st.one_of(
    nanp_like(), st.sampled_from(corpus.phone_numbers(120, seed=3)), bare_digits(), noise,
)


@SETTINGS
@given(_column(phone_values))
@pytest.mark.parametrize("f", [v.valid_phone, v.plausible_phone])
def test_phone_validator_batch_equals_scalar(f, values):
    _batch_equals_scalar(f, values)


_PHONE = get_recogniser("phone").compiled
_SENTENCES = corpus.decoy_sentences(400, seed=5) + [s for s, _ in corpus.phone_sentences(200,
                                                                                        seed=5)]
# The same numbers written with no-break spaces, narrow no-break spaces and en dashes.
_SENTENCES += [s.replace(n, n.replace(" ", sep).replace("-", dash))
               for (s, n), (sep, dash) in zip(corpus.phone_sentences(120, seed=6),
                                              itertools.cycle([("\u00a0", "\u2013"),
                                                               ("\u202f", "-")]), strict=False)]


def _spans_of(texts):
    out = [(t, m.start(), m.end()) for t in texts for m in _PHONE.finditer(t)]
    return [t for t, _, _ in out], [s for _, s, _ in out], [e for _, _, e in out]


def _filter_equals_scalar(f, texts, starts, ends):
    assert f.batch(texts, starts, ends) == [f(t, s, e) for t, s, e in zip(texts, starts, ends,
                                                                          strict=True)]


@SETTINGS
@given(_column(st.one_of(phone_values, st.sampled_from(_SENTENCES),
                         st.text(DIGITS + " -", min_size=6, max_size=14).map(str.strip))))
def test_phone_span_filter_batch_equals_scalar_on_cells_and_sentences(cells):
    # Whole cells (the span is its text: the vectorised path) and spans inside sentences.
    whole = [c for c in cells if c]
    _filter_equals_scalar(phone_span_ok, whole, [0] * len(whole), [len(c) for c in whole])
    _filter_equals_scalar(phone_span_ok, *_spans_of(cells))


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(_SENTENCES), st.integers(0, 200), st.integers(0, 200)),
                min_size=SMALL, max_size=2 * SMALL))
def test_span_filters_on_arbitrary_offsets(items):
    texts = [t for t, _, _ in items]
    starts = [min(a, b, len(t)) for t, a, b in items]
    ends = [min(max(a, b), len(t)) for t, a, b in items]
    _filter_equals_scalar(phone_span_ok, texts, starts, ends)
    assert not_thing_id_batch(texts, starts, ends) == [not thing_id_before(t, s)
                                                       for t, s in zip(texts, starts, strict=True)]


def test_the_whole_decoy_corpus_and_phone_cells_agree():
    texts, starts, ends = _spans_of(corpus.decoy_sentences(1200, seed=0))
    assert len(texts) > SMALL
    _filter_equals_scalar(phone_span_ok, texts, starts, ends)
    cells = corpus.phone_numbers(300, seed=1, style="mixed") + corpus.phone_numbers(
        100, seed=2, style="national_bare")
    _filter_equals_scalar(phone_span_ok, cells, [0] * len(cells), [len(c) for c in cells])
    _batch_equals_scalar(v.plausible_phone, cells)


@pytest.mark.parametrize("f, values", [
    (v.valid_credit_card, ["4111 1111 1111 1111", "4111111111111112", "zoë"]),
    (v.valid_us_ssn, ["123-45-6780", "666-12-3456"]),
    (v.valid_ip, ["1.2.3.4", "01.2.3.4", "::1"]),
    (v.valid_email, ["a@b.org", "a..b@c.org"]),
    (v.valid_phone, ["(212) 345-6789", "12"]),
])
def test_short_lists_empty_lists_and_lone_surrogates(f, values, monkeypatch):
    _batch_equals_scalar(f, values)
    _batch_equals_scalar(f, [])
    _batch_equals_scalar(f, values * SMALL + ["\ud800" + values[0]])
    # Below the size threshold: the scalar loop, never Arrow.
    monkeypatch.setattr(bv, "MIN_ITEMS", dict.fromkeys(bv.MIN_ITEMS, 10**9))
    monkeypatch.setattr(bv, "_arrow", None)
    _batch_equals_scalar(f, values * SMALL)


def test_the_built_in_recognisers_carry_the_batch_forms():
    for name in ("credit_card", "us_ssn", "us_ssn_bare", "ip_address", "email", "phone"):
        assert callable(get_recogniser(name).validator.batch), name
    assert callable(get_recogniser("phone").span_filter.batch)


def test_the_card_batch_reads_separators_and_lengths_like_the_scalar():
    numbers = [_luhn_completed(p + "0" * (n - len(p) - 1)) for p in ("4", "1", "2131", "0604")
               for n in range(11, 21)]
    cells = [_grouped(x, sep, 4) for x in numbers
             for sep in ("", " ", "-", "x", "  ", ".", *ODD_SEPARATORS)]
    assert any(v.valid_credit_card(c) for c in cells)
    assert not all(v.valid_credit_card(c) for c in cells)
    _batch_equals_scalar(v.valid_credit_card, cells + ["4" * 40, "4111 1111 1111 1111" + " " * 20])


def test_ssn_rules_with_separators_match_a_regex_reading():
    cells = [f"{a:03d}{s}{g:02d}{s}{n:04d}" for a in (0, 1, 665, 666, 667, 899, 900)
             for g in (0, 1, 99) for n in (0, 1, 9999) for s in ("", "-", " ", ".")]
    got = v.valid_us_ssn.batch(cells)
    shape = re.compile(r"(\d{3})[- .]?(\d{2})[- .]?(\d{4})")
    for cell, ok in zip(cells, got, strict=True):
        a, g, n = (int(x) for x in shape.fullmatch(cell).groups())
        assert ok is (a not in (0, 666) and a < 900 and g > 0 and n > 0)


# -- deterministic grids on every rule's edges --------------------------------------------------

def _gtin_completed(body: str) -> str:
    for d in DIGITS:
        if v.valid_gtin(body + d):
            return body + d
    return body + "0"


def _edge_phone_cells() -> list[str]:
    rng = random.Random(7)
    cells = []
    for head in ("", "0", "00", "1", "10", "11", "12", "19", "2", "9", "01", "+1", "+2", "+"):
        for n in range(6, 16):
            for _ in range(3):
                cells.append(head + "".join(rng.choice(DIGITS) for _ in range(n - len(head))))
    cells += [_gtin_completed(head + "".join(rng.choice(DIGITS) for _ in range(n - 1 - len(head))))
              for n in (8, 12, 13, 14) for head in ("", "00", "0", "1") for _ in range(10)]
    cells += [str(rng.randrange(10**9, 2_300_000_000)) + tail for tail in ("", "123")
              for _ in range(10)]
    for area, exchange in itertools.product(("012", "112", "212", "912"), ("045", "145", "245")):
        for s1, s2 in itertools.product(("", " ", "-", ".", "/", "\u00a0", "\u2013"), repeat=2):
            for head in (area, f"({area})"):
                for prefix in ("", "+1", "+1 ", "1 ", "+2", "1."):
                    cells.append(f"{prefix}{head}{s1}{exchange}{s2}6789")
    return cells + [c + tail for c in cells[-40:] for tail in (" x12", "x1", " ext. 5")]


def test_phone_grid_batch_equals_scalar():
    cells = _edge_phone_cells()
    _filter_equals_scalar(phone_span_ok, cells, [0] * len(cells), [len(c) for c in cells])
    _batch_equals_scalar(v.plausible_phone, cells)
    _batch_equals_scalar(v.valid_phone, cells)


def test_card_grid_batch_equals_scalar():
    prefixes = ["0604", "1800", "2131", "2199", "2200", "2204", "2205", "2220", "2221", "2720",
                "2721", "3", "4", "5", "6", "7", "80", "81", "82", "83", "9", "1", "0"]
    cells = [_luhn_completed((p + "7" * 20)[: n - 1]) for p in prefixes for n in range(11, 21)]
    cells += [c[:-1] + str((int(c[-1]) + 1) % 10) for c in cells]
    _batch_equals_scalar(v.valid_credit_card, cells + [_grouped(c, sep, 4) for c in cells
                                                       for sep in (" ", ".", *ODD_SEPARATORS)])


def test_ip_grid_batch_equals_scalar():
    octets = ["0", "00", "01", "1", "9", "10", "99", "100", "199", "200", "249", "250", "255",
              "256", "260", "300", "999", "1000", ""]
    cells = [f"{a}.{b}.1.{c}" for a in octets for b in ("0", "255", "256") for c in octets]
    _batch_equals_scalar(v.valid_ip, cells + ["0.0.0.0", "1.2.3", "1.2.3.4.5"])
