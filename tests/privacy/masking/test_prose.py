"""Names, street addresses and places in free text: the offline detector and its backends.

Scored on the labelled synthetic corpus of presidio-research (../shared/datasets/pii), on the
templates held out from training (template_id a multiple of 3), with the matching rule of
``auditkit.privacy.masking._evaluate``.
"""

from __future__ import annotations

import gzip
import re
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking import _gazetteers as g
from auditkit.privacy.masking import (
    find_prose_spans,
    find_spans,
    load_labelled_corpus,
    local_ner_model,
    score_detector,
    set_prose_detector,
    split_by_template,
)

PATTERN_ENTITIES = ("CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER",
                    "US_SSN")


@pytest.fixture(scope="module")
def corpus(shared_datasets):
    return load_labelled_corpus(shared_datasets / "pii" / "synth_dataset_v2.json")


@pytest.fixture(scope="module")
def held_out_scores(corpus):
    _, held = split_by_template(corpus)
    return score_detector(held, find_spans)


# Measured on the held-out templates when the model was trained (docs/pii_detection.md): person
# F1 0.834 (precision 0.815, recall 0.853), street-address recall 0.963, place recall 0.899.
# The goals are 0.85 / 0.80 / 0.80: the person floors below are the measured figures
# less a margin, not the goal, which is not met yet.
@pytest.mark.parametrize(("entity", "measure", "floor"), [
    ("PERSON", "f1", 0.81),
    ("PERSON", "recall", 0.83),
    ("STREET_ADDRESS", "recall", 0.80),
    ("LOCATION", "recall", 0.80),
])
def test_held_out_templates_meet_their_floor(held_out_scores, entity, measure, floor):
    assert getattr(held_out_scores[entity], measure) >= floor


def test_split_keeps_every_template_on_one_side(corpus):
    dev, held = split_by_template(corpus)
    assert {r.template_id for r in dev}.isdisjoint({r.template_id for r in held})
    assert len(dev) + len(held) == len(corpus) and held


def test_pattern_entities_lose_nothing_to_the_prose_detector(corpus):
    with_prose = score_detector(corpus, find_spans, PATTERN_ENTITIES)
    set_prose_detector("off")
    try:
        without = score_detector(corpus, find_spans, PATTERN_ENTITIES)
    finally:
        set_prose_detector("builtin")
    for entity in PATTERN_ENTITIES:
        assert with_prose[entity].found == without[entity].found, entity
        assert with_prose[entity].correct == without[entity].correct, entity


_TEXT = st.lists(
    st.sampled_from(list("abcXYZ ÅéØ.,:;'-\n0123456789") + ["Mr. ", "Street ", "in ", "Ana ",
                                                              "Suite 5", "Paris"]),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_spans_are_ordered_disjoint_and_inside_the_text(text):
    spans = find_prose_spans(text)
    assert spans == sorted(spans)
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.end <= b.start
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert s.entity in {"PERSON", "STREET_ADDRESS", "LOCATION"}


_SURNAMES = sorted(w for w in g.surnames() if w.isalpha() and len(w) > 3
                   and w not in g.english_words() and w not in g.places())[:4000:40]


@pytest.mark.parametrize("surname", _SURNAMES)
@pytest.mark.parametrize("title", ["Mr.", "Mrs.", "Dr."])
def test_a_titled_surname_is_a_person(title, surname):
    text = f"Yesterday {title} {surname.title()} called about the invoice."
    found = [(s.entity, text[s.start:s.end]) for s in find_prose_spans(text)]
    assert ("PERSON", surname.title()) in found


_COUNTRIES = ["France", "Germany", "Brazil", "Japan", "Kenya", "Norway", "Peru", "Canada",
              "India", "Poland", "Egypt", "Chile"]


@pytest.mark.parametrize("country", _COUNTRIES)
def test_a_country_after_a_place_cue_is_a_place(country):
    text = f"Last year we moved to {country} for work."
    assert ("LOCATION", country) in [(s.entity, text[s.start:s.end])
                                     for s in find_prose_spans(text)]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 99999), st.sampled_from(["Crown", "Maple", "Kirkgate", "Oak Hill"]),
       st.sampled_from(["Street", "St", "Road", "Avenue", "Lane", "Drive"]))
def test_a_numbered_street_is_an_address(number, name, kind):
    text = f"Please send it to {number} {name} {kind} before Friday."
    spans = [s for s in find_prose_spans(text) if s.entity == "STREET_ADDRESS"]
    assert spans and text[spans[0].start:spans[0].end].startswith(str(number))


@pytest.mark.parametrize("text", [
    "Straße Nr. 12 of the plan", "ISBN 978-0-306-40615-7", "the price is 12 EUR", "",
    "order 12345 shipped on 2024-05-01", "all lower case words only here",
])
def test_texts_without_names_or_addresses_yield_nothing(text):
    assert [s.entity for s in find_prose_spans(text)
            if s.entity in {"PERSON", "STREET_ADDRESS"}] == []


_FIRST = ["James", "Mary", "Zoë", "Ángel", "Søren", "Chloé", "Jürgen", "Siobhán", "Nuño",
          "Aiko", "Olusegun", "Dagny"]
_LAST = ["Smith", "Brown", "Rodriguez", "Brontë", "Ångström", "Nguyen", "Kowalski", "Øster",
         "Müller", "O'Brien", "Okafor", "Lindqvist"]


@pytest.mark.parametrize("first", _FIRST)
@pytest.mark.parametrize("template", ["{}", "Please ask {} to call back.", "Dear {},"])
def test_a_name_is_masked_whole(first, template):
    for last in _LAST:
        name = f"{first} {last}"
        text = template.format(name)
        start = text.index(name)
        covered = set()
        for s in find_spans(text):
            if s.entity == "PERSON":
                covered.update(range(s.start, s.end))
        assert set(range(start, start + len(name))) <= covered, name


def test_decoy_identifiers_are_left_alone():
    import importlib.util

    path = Path(__file__).with_name("decoy_corpus.py")
    spec = importlib.util.spec_from_file_location("decoy_corpus_for_prose", path)
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    sentences = corpus.decoy_sentences(1500, seed=11)
    altered = any_span = 0
    for text in sentences:
        spans = find_spans(text)
        any_span += bool(spans)
        altered += any(any(c.isdigit() for c in text[s.start:s.end]) for s in spans)
    # Measured: one identifier altered in 2,000 sentences; 6.3% of the sentences get a span,
    # nearly all a capitalised word of another language taken for a name, or a city after a
    # post code.
    assert altered / len(sentences) <= 0.005
    assert any_span / len(sentences) <= 0.10


def test_lists_of_given_names_are_names():
    text = "They had four children: James, Jennifer, Emily and Michael."
    names = [text[s.start:s.end] for s in find_prose_spans(text) if s.entity == "PERSON"]
    assert names == ["James", "Jennifer", "Emily", "Michael"]


def test_switching_the_detector_off_and_on():
    text = "Dear Ana Silva, welcome."
    set_prose_detector("off")
    try:
        assert [s for s in find_spans(text) if s.entity == "PERSON"] == []
    finally:
        set_prose_detector("builtin")
    assert [s.entity for s in find_spans(text)] == ["PERSON"]


def test_a_custom_callable_replaces_the_detector():
    from auditkit.privacy.masking import Span

    set_prose_detector(lambda text: [Span(0, 3, "PERSON", 0.5, "test")])
    try:
        assert [(s.start, s.end, s.recogniser) for s in find_spans("Bob is here")] == \
            [(0, 3, "test")]
    finally:
        set_prose_detector("builtin")


@pytest.mark.parametrize("bad", [3, None, "spacy"])
def test_set_prose_detector_refuses_other_values(bad):
    with pytest.raises(PrivacyInputError):
        set_prose_detector(bad)


def test_local_model_needs_an_existing_folder_and_trust(tmp_path):
    with pytest.raises(PrivacyInputError, match="does not exist"):
        local_ner_model("spacy", tmp_path / "missing", trusted=True)
    with pytest.raises(PrivacyInputError, match="trusted=True"):
        local_ner_model("spacy", tmp_path)
    with pytest.raises(PrivacyInputError, match="'spacy' or 'gliner'"):
        local_ner_model("flair", tmp_path, trusted=True)


def test_spacy_backend_from_a_local_folder(tmp_path):
    import spacy
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Ana Silva"},
                        {"label": "GPE", "pattern": "Lisbon"},
                        {"label": "ORG", "pattern": "Acme"}])
    nlp.to_disk(tmp_path / "model")
    finder = local_ner_model("spacy", tmp_path / "model", trusted=True)
    text = "Ana Silva of Acme lives in Lisbon."
    assert [(s.entity, text[s.start:s.end]) for s in finder(text)] == \
        [("PERSON", "Ana Silva"), ("LOCATION", "Lisbon")]


def test_gliner_backend_missing_package_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gliner", None)  # as if not installed
    with pytest.raises(PrivacyInputError, match="needs the 'gliner' package"):
        local_ner_model("gliner", tmp_path, trusted=True)


def test_a_local_model_loads_with_the_hub_offline(tmp_path, monkeypatch):
    import os
    import sys
    import types

    seen = {}

    class FakeGLiNER:
        @classmethod
        def from_pretrained(cls, path, local_files_only):
            seen.update(path=path, local=local_files_only,
                        env={k: os.environ.get(k) for k in ("HF_HUB_OFFLINE",
                                                            "TRANSFORMERS_OFFLINE")})
            return cls()

        def predict_entities(self, text, labels, threshold):
            return [{"start": 0, "end": 3, "label": "person", "score": 0.9},
                    {"start": 4, "end": 7, "label": "organisation", "score": 0.9}]

    monkeypatch.setitem(sys.modules, "gliner", types.SimpleNamespace(GLiNER=FakeGLiNER))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    finder = local_ner_model("gliner", tmp_path, trusted=True)
    assert seen == {"path": str(tmp_path), "local": True,
                    "env": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}}
    assert "HF_HUB_OFFLINE" not in os.environ  # restored after the load
    assert [(s.entity, s.start, s.end) for s in finder("Ana Acme")] == [("PERSON", 0, 3)]


@pytest.mark.parametrize("text", [
    "Hi " + "_" * 40000, "Hi " + "a_" * 20000, "Smith, " * 10000, "Smith and " * 3000,
    "A. " * 20000, "New York " * 5000, "x1" * 30000, "a" * 100000, "http://" + "a" * 99000,
])
def test_long_hostile_texts_take_linear_time(text):
    import time

    start = time.process_time()
    find_spans(text)
    # A generous bound (about 100x the measured time), only to catch quadratic blow-ups.
    assert time.process_time() - start < 30


@pytest.mark.parametrize(("text", "entity", "part"), [
    ("He lives at 221B Baker Street, London NW1 6XE", "STREET_ADDRESS", "6XE"),
    ("Address: 10 Downing St, London SW1A 2AA", "STREET_ADDRESS", "2AA"),
    ("Wohnt in der Bahnhofstr. 12a, 80335 München", "STREET_ADDRESS", "Bahnhofstr. 12a"),
    ("Unter den Linden 77, 10117 Berlin", "STREET_ADDRESS", "Unter den Linden 77"),
    ("Am Markt 3, 28195 Bremen", "STREET_ADDRESS", "28195"),
    ("i spoke with sarah johnson yesterday", "PERSON", "sarah johnson"),
])
def test_reviewed_misses_are_found(text, entity, part):
    assert (entity, part) in [(s.entity, text[s.start:s.end]) for s in find_spans(text)]


def test_every_shipped_data_file_is_in_the_notice():
    data = resources.files("auditkit.privacy.masking").joinpath("data")
    notice = data.joinpath("NOTICE.md").read_text(encoding="utf-8")
    shipped = sorted(p.name for p in data.iterdir() if p.name.endswith(".gz"))
    assert shipped == ["english_words.txt.gz", "given_names.txt.gz", "places.txt.gz",
                       "prose_model.json.gz", "surnames.txt.gz"]
    for name in shipped:
        assert f"`{name}`" in notice
        assert gzip.decompress(data.joinpath(name).read_bytes())


def test_the_model_uses_no_word_identity_features():
    import json

    raw = resources.files("auditkit.privacy.masking").joinpath("data", "prose_model.json.gz")
    model = json.loads(gzip.decompress(raw.read_bytes()))
    prefixes = {re.split(r"[=0-9]", name)[0] for name in model["weights"]}
    assert prefixes.isdisjoint({"w", "word", "p1", "p2", "n1", "n2"})
    assert model["trained_on"] == "template_id % 3 != 0"


def test_scores_carry_counts_only(corpus):
    scores = score_detector(corpus[:50], find_spans)
    for s in scores.values():
        assert all(isinstance(getattr(s, f), int) for f in ("gold", "found", "predicted",
                                                             "correct"))
