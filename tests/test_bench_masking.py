"""benchmarks/bench_masking.py: the scoring helpers behind its decoy and quality figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_masking.py"
if not _PATH.is_file():  # the wheel run copies tests/ without the benchmarks
    pytest.skip("reads the checkout's benchmarks/", allow_module_level=True)
_spec = importlib.util.spec_from_file_location("bench_masking", _PATH)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

from auditkit.privacy.masking import EntityScore, Span  # noqa: E402


def _fixed(spans_by_text: dict[str, list[Span]]):
    return lambda text: spans_by_text.get(text, [])


@pytest.mark.parametrize(
    ("span", "found"),
    [
        (Span(7, 19, "PHONE_NUMBER"), True),  # exactly the number
        (Span(18, 25, "PHONE_NUMBER"), True),  # overlaps its last character
        (Span(19, 25, "PHONE_NUMBER"), False),  # touches it, no overlap
        (Span(7, 19, "US_SSN"), False),  # right place, wrong type
    ],
)
def test_phone_recall_needs_an_overlapping_phone_span(span: Span, found: bool) -> None:
    text = "Phone: 212 555 0199 today"
    assert bench._phone_recall([(text, "212 555 0199")], _fixed({text: [span]})) == float(found)


def test_decoy_stats_separate_digit_spans_scores_and_entities() -> None:
    texts = ["Order 123456 shipped", "See Paris", "Build 42 done", "Nothing here"]
    spans = {
        texts[0]: [Span(6, 12, "US_DRIVER_LICENSE", 0.1)],  # digit, low score, not shared
        texts[1]: [Span(4, 9, "LOCATION", 0.9)],  # a span, no digit
        texts[2]: [Span(6, 8, "PHONE_NUMBER", 0.7)],  # digit, high score, shared entity
    }
    shares, kinds = bench._decoy_stats(texts, _fixed(spans))
    assert list(shares) == [0.5, 0.25, 0.25, 0.75]
    assert kinds == {"US_DRIVER_LICENSE": 1, "LOCATION": 1, "PHONE_NUMBER": 1}


@pytest.mark.parametrize(
    ("score", "shown"),
    [
        (EntityScore("PERSON", 10, 0, 0, 0), " n.a. 0.000  n.a."),
        (None, " n.a. 0.000  n.a."),
        (EntityScore("US_SSN", 4, 2, 4, 2), "0.500 0.500 0.500"),
    ],
)
def test_prf_shows_na_without_predictions(score: EntityScore | None, shown: str) -> None:
    assert bench._prf(score) == shown
