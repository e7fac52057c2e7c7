"""The batch span engine finds exactly what the plain one-recogniser-at-a-time search finds.

The oracle below is the algorithm :func:`find_spans` used before the engine (one recogniser
after another, highest priority first; a candidate overlapping an accepted span is dropped),
kept here verbatim so that a change to the engine cannot change its yardstick too.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._arrow_text import re2_superset
from auditkit.privacy.masking._recognisers import Recogniser
from auditkit.privacy.masking._span_engine import find_spans_batch
from auditkit.privacy.masking._spans import (
    _FINDERS,
    TRIGGERS,
    Span,
    find_spans,
    register_text_finder,
    text_recognisers,
    unregister_text_finder,
)
from auditkit.privacy.masking.validators import always

# -- the oracle ------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d")
_HEX = re.compile(
    r"\d\.\d|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]|[0-9A-Fa-f]:[0-9A-Fa-f]|::|[0-9A-Fa-f]-[0-9A-Fa-f]{2}-"
)


def _oracle_triggered(t: str, text: str) -> bool:
    if t == "digit":
        return _DIGIT.search(text) is not None
    if t == "@":
        return "@" in text
    if t == "url":
        return "://" in text or "www." in text or "WWW." in text
    if t == "hex":
        return _HEX.search(text) is not None
    return True


def _oracle_confirm(rec, text, start, end):
    candidate = text[start:end]
    if rec.validator(candidate):
        return end
    if rec.shrink:
        for _ in range(3):
            cut = candidate.rfind(" ")
            if cut <= 0:
                break
            candidate = candidate[:cut].rstrip(" -.(/")
            if candidate and rec.validator(candidate):
                return start + len(candidate)
    return None


def oracle(text, recs):
    if not text:
        return []
    found = []
    for rec in recs:
        if rec.compiled is None or not _oracle_triggered(rec.trigger, text):
            continue
        for m in rec.compiled.finditer(text):
            start, end = m.span()
            if any(start < s.end and s.start < end for s in found):
                continue
            if rec.context:
                window = text[max(0, start - 48):start].lower()
                if not any(word in window for word in rec.context):
                    continue
            confirmed = _oracle_confirm(rec, text, start, end)
            if confirmed is not None and (
                rec.span_filter is None or rec.span_filter(text, start, confirmed)
            ):
                found.append(Span(start, confirmed, rec.entity, rec.score, rec.name))
    return sorted(found)


# -- random text built from entities, decoys and other scripts --------------------------------

ENTITY_BITS = (
    "zoë.brontë@example.org", "a.b+c@mail.co.uk", "x@y", "4111 1111 1111 1111",
    "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004", "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432", "de89370400440532013000", "123-45-6780", "123 45 6780",
    "123456780", "192.168.10.20", "10.0.0.1", "999.1.1.1", "2001:db8::7", "::1", "fe80::1:2",
    "00:1a:2b:3c:4d:5e", "0011.2233.4455", "https://example.org/x?q=1", "www.example.com",
    "WWW.EXAMPLE.COM.", "+1 212-555-0123", "(415) 555-0199", "+14155550123", "028 9018267",
    "0044 20 7946 0958", "212.555.0123 ext 12", "1985-04-16", "16/04/1985", "3 Mar 1990",
    "001a.2b3c.4d5e", "4111.1111.1111.1111", "4111\u00a01111\u00a01111\u00a01111",
    "4111 \u2013 1111 \u2013 1111 \u2013 1111", "+44\u00a020\u00a07946\u00a00958",
    "01\u202f23\u202f45\u202f67\u202f89", "212\u2013555\u20130123",
)
DECOY_BITS = (
    "ISBN 978-0-306-40615-7", "order 85030210", "v1.2.3", "1700000000", "12 3456 Main St",
    "2000-04-16 11:34:35", "pp. 123-145", "no. 4006381333931", "3.14159", "ab:cd", "::",
    "aa-bb-", "1.2", "0", "00", "+", "(", ")", "-", ".", "/", "@", ":", "#12", "x", "ext",
)
WORD_BITS = (
    "born", "ssn", "DOB:", "Birth", "call", "tel", "mail", "card", "IBAN", "the", "and",
    "Zoë", "München", "東京", "İstanbul", "ſs", "K", "straße", "٣٤٥٦٧٨٩٠١", "１２３４５６７８９",
    "Ærø", "x" * 3, "\u00a0", "\t", "\n", "  ", ", ", "; ", " ",
)
fragment = st.sampled_from(ENTITY_BITS + DECOY_BITS + WORD_BITS)
texts = st.lists(fragment, max_size=8).map("".join) | st.text(max_size=25)
columns = st.lists(st.one_of(texts, st.none(), st.just("")), max_size=12).map(
    lambda xs: xs + xs[: len(xs) // 2]  # repeated cells: searched once, reported for each
)

# -- recognisers of every shape: lookarounds, back-references, flags, empty matches ------------


def _odd_digits(s):
    return sum(ch.isdigit() for ch in s) % 2 == 1


CUSTOM = (
    Recogniser("t_ref", "T_REF", _odd_digits, pattern=r"(?<!\w)(\d)(\d)\2\1(?!\w)", priority=95,
               trigger="digit"),
    Recogniser("t_case", "T_CASE", always, pattern=r"(?i)\bK[a-z]+s\b", priority=62, trigger=""),
    Recogniser("t_empty", "T_EMPTY", always, pattern=r"\d*", priority=58, trigger="digit"),
    Recogniser("t_ctx", "T_CTX", always, pattern=r"\d{3}", context=("ref", "born"), priority=57),
    Recogniser("t_hex", "T_HEX", always, pattern=r"[0-9a-f]{2}(?::[0-9a-f]{2})+", trigger="hex",
               priority=74),
    Recogniser("t_shrink", "T_SHRINK", lambda s: len(s) <= 6, pattern=r"[A-Z]{2}(?: \w+){1,4}",
               priority=57, trigger="", shrink=True),
    Recogniser("t_odd", "T_ODD", always, pattern=r"(a)(?i:\1)|[^\W\d]{2}\d", trigger="@",
               priority=40),
    Recogniser("t_filter", "T_FILTER", always, pattern=r"\w+", trigger="url", priority=30,
               span_filter=lambda text, s, e: s % 2 == 0),
)


@contextmanager
def no_finders():
    """The registry's text finders (a prose detector) set aside: the oracle knows none."""
    saved = dict(_FINDERS)
    for name in saved:
        unregister_text_finder(name)
    try:
        yield
    finally:
        for name, f in saved.items():
            register_text_finder(name, f.entities, f.finder, priority=f.priority, force=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(columns)
def test_batch_and_single_text_search_match_the_oracle(column):
    recs = text_recognisers()
    want = [oracle(t, recs) if t else [] for t in column]
    with no_finders():
        assert find_spans_batch(column).to_lists() == want
        assert [find_spans(t) if t else [] for t in column] == want


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(columns)
def test_batch_and_single_text_agree_with_the_registered_finders(column):
    assert find_spans_batch(column).to_lists() == [find_spans(t) if t else [] for t in column]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(columns, st.sets(st.sampled_from(range(len(CUSTOM)))))
def test_user_recognisers_of_every_shape_match_the_oracle(column, chosen):
    recs = [*text_recognisers(), *(CUSTOM[i] for i in sorted(chosen))]
    ordered = sorted(recs, key=lambda r: -r.priority)
    want = [oracle(t, ordered) for t in column]
    assert find_spans_batch(column, recognisers=recs).to_lists() == want
    assert [find_spans(t, recognisers=recs) if t else [] for t in column] == want


@settings(max_examples=60, deadline=None)
@given(columns, st.sets(st.sampled_from(["EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN",
                                         "CREDIT_CARD", "IP_ADDRESS", "DATE_OF_BIRTH"])))
def test_entity_selection_matches_the_oracle(column, entities):
    recs = text_recognisers(entities)
    got = find_spans_batch(column, entities).to_lists()
    assert got == [oracle(t, recs) for t in column]


@settings(max_examples=200, deadline=None)
@given(texts)
def test_the_re2_prefilter_never_misses_a_match(text):
    arr = pa.array([text], type=pa.string())
    for rec in (*text_recognisers(), *CUSTOM):
        sup = re2_superset(rec.compiled.pattern, rec.compiled.flags)
        if sup is not None and rec.compiled.search(text):
            assert pa.compute.match_substring_regex(arr, sup)[0].as_py(), rec.name


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=30))
def test_trigger_filters_are_exact_on_ascii(text):
    arr = pa.array([text], type=pa.string())
    for rx in TRIGGERS.values():
        sup = re2_superset(rx.pattern, rx.flags)
        assert pa.compute.match_substring_regex(arr, sup)[0].as_py() == bool(rx.search(text))


@pytest.mark.parametrize(("pattern", "hit", "miss"), [
    (r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])", "ssn 123-45-6789", "ssn 12-45-6789"),
    (r"(?i)\bwww\.", "see WwW.x", "see ww.x"),
    (r"[^\W\d_]{2}", "ab", "1_2"),
    (r"x{2000}", "x" * 2000, "x" * 50),
])
def test_re2_superset_known_answers(pattern, hit, miss):
    sup = re2_superset(pattern)
    assert sup is not None
    got = pa.compute.match_substring_regex(pa.array([hit, miss]), sup).to_pylist()
    assert got == [True, False]


def test_a_backreference_under_other_flags_is_not_translated():
    assert re2_superset(r"(a)(?i:\1)") is None
    assert re2_superset(r"(unclosed") is None


# -- the batch result ----------------------------------------------------------------------------

def test_span_batch_columns_agree_with_the_lists():
    column = ["mail a@b.org or c@d.org", None, "", "card 4111 1111 1111 1111",
              "mail a@b.org or c@d.org"]
    b = find_spans_batch(column)
    assert len(b) == 5 and b.n_texts == 5
    assert b.rows.tolist() == [0, 0, 3, 4, 4]
    assert b.offsets.tolist() == [0, 2, 2, 2, 3, 5]
    assert b.entities.tolist() == ["EMAIL_ADDRESS"] * 2 + ["CREDIT_CARD"] + ["EMAIL_ADDRESS"] * 2
    assert b.scores.tolist() == [1.0] * 5
    assert b.spans(0) == b.spans(4) == find_spans(column[0])


@pytest.mark.parametrize("make", [
    lambda xs: xs,
    lambda xs: pd.Series(xs, dtype=object),
    lambda xs: pd.Series(xs, dtype=pd.StringDtype("pyarrow")),
    lambda xs: pa.chunked_array([xs[:1], xs[1:]], type=pa.string()),
    lambda xs: pa.array(xs, type=pa.large_string()),
])
def test_every_column_form_gives_the_same_spans(make):
    xs = ["ssn 123-45-6780", None, "ip 10.0.0.1 and 10.0.0.2"]
    assert find_spans_batch(make(xs)).to_lists() == [find_spans(x or "") for x in xs]


def test_text_that_arrow_cannot_hold_is_searched_one_at_a_time():
    xs = ["mail a@b.org \ud800", None, "ok"]
    assert find_spans_batch(xs).to_lists() == [find_spans(xs[0]), [], []]


def test_a_cell_that_is_not_text_is_refused_without_its_value():
    with pytest.raises(PrivacyInputError, match="text 1 is a int") as info:
        find_spans_batch(["a", 4111111111111111, "\ud800"])
    assert "4111" not in str(info.value)


@pytest.mark.parametrize("texts", ["mail a@b.org", b"mail a@b.org"])
def test_one_bare_text_is_refused_as_a_batch(texts):
    with pytest.raises(PrivacyInputError, match="list of texts") as info:
        find_spans_batch(texts)
    assert "a@b" not in str(info.value)


def test_one_entity_name_may_be_a_plain_string():
    column = ["mail a@b.org, card 4111 1111 1111 1111", None]
    got = find_spans_batch(column, "EMAIL_ADDRESS").to_lists()
    assert got == find_spans_batch(column, ["EMAIL_ADDRESS"]).to_lists()
    assert got == [find_spans(column[0], "EMAIL_ADDRESS"), []] and got[0]


@pytest.mark.parametrize(("make", "position", "kind"), [
    (lambda: ["ok", b"4111 1111 1111 1111"], 1, "bytes"),
    (lambda: [b"4111 1111 1111 1111"], 0, "bytes"),
    (lambda: ["\ud800", None, b"4111 1111 1111 1111"], 2, "bytes"),  # searched one at a time
    (lambda: pd.Series(["ok", None, b"4111 1111 1111 1111"], dtype=object), 2, "bytes"),
    (lambda: pd.Series([4111111111111111.0, float("nan")]), 0, "float"),
    (lambda: iter(["ok", 4111111111111111]), 1, "int"),
])
def test_a_cell_that_is_not_text_is_refused_by_position_and_type(make, position, kind):
    with pytest.raises(PrivacyInputError, match=f"text {position} is a {kind}") as info:
        find_spans_batch(make())
    assert "4111" not in str(info.value)


@pytest.mark.parametrize("arr", [pa.array([b"4111 1111 1111 1111"]), pa.array([4111111111111111])])
def test_an_arrow_array_that_is_not_text_is_refused_by_type(arr):
    with pytest.raises(PrivacyInputError, match=str(arr.type)) as info:
        find_spans_batch(arr)
    assert "4111" not in str(info.value)


MISSING = ["mail a@b.org", None, float("nan"), pd.NA, "tel +44 20 7946 0958"]
MISSING_ARROW = [x if isinstance(x, str) else None for x in MISSING]


@pytest.mark.parametrize("make", [
    lambda: MISSING, lambda: iter(MISSING), lambda: pd.Series(MISSING, dtype=object),
    lambda: pd.Series(MISSING, dtype="category"),
    lambda: pa.array(MISSING_ARROW).dictionary_encode(),
])
def test_missing_cells_are_skipped_in_every_column_form(make):
    got = find_spans_batch(make()).to_lists()
    assert got == [find_spans(x) for x in MISSING_ARROW] and got[0] and got[4]
    assert find_spans_batch(pd.Series([float("nan")] * 3)).to_lists() == [[], [], []]


def test_an_empty_batch():
    b = find_spans_batch([])
    assert len(b) == 0 and b.to_lists() == [] and b.offsets.tolist() == [0]


# -- validators and span filters with a batch form ------------------------------------------------

def test_batch_forms_of_validator_and_span_filter_are_used_once_per_distinct_candidate():
    calls = {"one": 0, "batch": []}

    def odd(s):
        calls["one"] += 1
        return int(s[-1]) % 2 == 1

    odd.batch = lambda cands: calls["batch"].append(list(cands)) or [int(c[-1]) % 2 for c in cands]

    def not_first(text, s, e):
        return s > 0

    not_first.batch = lambda ts, ss, es: [s > 0 for s in ss]
    rec = Recogniser("t_odd_num", "T_NUM", odd, pattern=r"\d+", span_filter=not_first)
    column = ["1 22 33", "1 22 33", "5 7 8", "none"]
    got = find_spans_batch(column, recognisers=[rec]).to_lists()
    assert calls["one"] == 0
    assert calls["batch"] == [["1", "22", "33", "5", "7", "8"]]  # the 2nd cell is the 1st's twin
    assert got == [oracle(t, [rec]) for t in column]


# -- text finders ----------------------------------------------------------------------------------

class Names:
    """A test finder: capitalised words from a small list are PERSON, 'Paris' is LOCATION."""

    NAMES = ("Alice", "Bob", "Alice Smith")

    def __init__(self):
        self.single = 0
        self.batches = 0

    def __call__(self, text):
        self.single += 1
        out = []
        for name in self.NAMES:
            for m in re.finditer(rf"\b{name}\b", text):
                out.append(Span(m.start(), m.end(), "PERSON", 0.7))
        for m in re.finditer(r"\bParis\b", text):
            out.append(Span(m.start(), m.end(), "LOCATION", 0.6, "towns"))
        out.append(Span(0, 0, "NOT_DECLARED"))
        return out


@pytest.fixture
def names():
    finder = Names()
    with no_finders():
        register_text_finder("t_names", ("PERSON", "LOCATION"), finder, priority=20)
        yield finder
        unregister_text_finder("t_names")


@pytest.fixture
def only_test_finders():
    with no_finders():
        yield


def test_a_finder_adds_its_spans_longest_first(names):
    text = "Alice Smith met Bob in Paris"
    got = [(s.entity, text[s.start:s.end], s.recogniser) for s in find_spans(text)]
    assert got == [("PERSON", "Alice Smith", "t_names"), ("PERSON", "Bob", "t_names"),
                   ("LOCATION", "Paris", "towns")]
    assert find_spans_batch([text, None, text]).to_lists() == [find_spans(text), [],
                                                             find_spans(text)]


def test_a_finder_runs_only_for_its_entities(names):
    text = "Alice at a@b.org"
    assert [s.entity for s in find_spans(text, ["EMAIL_ADDRESS"])] == ["EMAIL_ADDRESS"]
    assert [s.entity for s in find_spans(text, ["LOCATION"])] == []
    before = names.single
    find_spans_batch([text], ["EMAIL_ADDRESS"])
    assert names.single == before
    assert [s.entity for s in find_spans(text, ["PERSON"])] == ["PERSON"]
    assert find_spans(text, recognisers=text_recognisers()) == find_spans(text, ["EMAIL_ADDRESS"])


@pytest.mark.parametrize(("priority", "winner"), [(20, "EMAIL_ADDRESS"), (99, "PERSON")])
@pytest.mark.usefixtures("only_test_finders")
def test_overlaps_between_finders_and_patterns_go_to_the_higher_priority(priority, winner):
    register_text_finder("t_mail_names", ["PERSON"],
                         lambda t: [Span(0, 5, "PERSON")] if t.startswith("alice") else [],
                         priority=priority)
    try:
        text = "alice@example.org"
        assert [s.entity for s in find_spans(text)] == [winner]
        assert [s.entity for s in find_spans_batch([text]).spans(0)] == [winner]
    finally:
        unregister_text_finder("t_mail_names")


def test_the_batch_form_of_a_finder_is_used_when_present(names):
    def batch(ts):
        names.batches += 1
        return [names(t) for t in ts]

    names.batch = batch
    column = ["Bob", "Bob", "Paris", None, ""]
    got = find_spans_batch(column).to_lists()
    assert names.batches == 1 and names.single == 2  # distinct non-empty texts only
    assert got == [find_spans(t or "") for t in column]


@pytest.mark.usefixtures("only_test_finders")
def test_a_finder_span_outside_its_text_is_refused_without_the_text():
    register_text_finder("t_bad", ["PERSON"], lambda t: [Span(0, len(t) + 1, "PERSON")],
                         priority=10)
    try:
        with pytest.raises(PrivacyInputError, match="t_bad.*outside its text") as info:
            find_spans("secret 4111")
        assert "secret" not in str(info.value)
        with pytest.raises(PrivacyInputError, match="t_bad"):
            find_spans_batch(["secret"])
    finally:
        unregister_text_finder("t_bad")


def test_finder_registration_is_checked(names):
    with pytest.raises(PrivacyInputError, match="already registered"):
        register_text_finder("t_names", ["PERSON"], names, priority=1)
    with pytest.raises(PrivacyInputError, match="callable"):
        register_text_finder("t_x", ["PERSON"], None, priority=1)  # type: ignore[arg-type]
    with pytest.raises(PrivacyInputError, match="priority"):
        register_text_finder("t_x", ["PERSON"], names, priority="high")  # type: ignore[arg-type]
    unregister_text_finder("never_registered")
