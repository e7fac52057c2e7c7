"""Scoring a span detector on a labelled corpus: per-entity precision, recall and F1.

The corpus format is the one of Microsoft's presidio-research synthetic data set (a JSON list of
records with ``full_text``, ``spans`` of ``entity_type`` / ``start_position`` /
``end_position``, and a ``template_id``), which lets a team score :func:`find_spans` (or any
detector) on its own labelled text.

Matching rule (stated in ``docs/pii_detection.md``):

- A gold span is **found** when a predicted span of its (mapped) type overlaps it by at least
  one character. A gold span counts once however many predictions overlap it, so a multi-line
  address found as two pieces counts once.
- A predicted span is **correct** when it overlaps a gold span of its type. A predicted
  ``LOCATION`` inside a gold ``STREET_ADDRESS`` is neither correct nor wrong (a city line of an
  address is labelled inconsistently, sometimes part of the address and sometimes on its own).
- Recall = found / gold; precision = correct / (predicted − ignored); F1 their harmonic mean.

Only counts leave this module; no text or span value is returned or printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._spans import Span

__all__ = [
    "CORPUS_ENTITY_MAP",
    "EntityScore",
    "LabelledText",
    "load_labelled_corpus",
    "score_detector",
    "split_by_template",
]

#: The corpus's entity names mapped to the toolkit's (``GPE`` is a place: ``LOCATION``).
CORPUS_ENTITY_MAP: Mapping[str, str] = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "STREET_ADDRESS",
    "GPE": "LOCATION",
    "LOCATION": "LOCATION",
    "CREDIT_CARD": "CREDIT_CARD",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
}


@dataclass(frozen=True)
class LabelledText:
    """One labelled record: the text, its gold spans ``(start, end, entity)``, its template."""

    text: str
    spans: tuple[tuple[int, int, str], ...]
    template_id: int


@dataclass(frozen=True)
class EntityScore:
    """Counts and rates for one entity type."""

    entity: str
    gold: int
    found: int
    predicted: int
    correct: int

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else float("nan")

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def load_labelled_corpus(
    path: str | Path, entity_map: Mapping[str, str] = CORPUS_ENTITY_MAP
) -> list[LabelledText]:
    """Read a presidio-research style JSON corpus; entity types not in ``entity_map`` are
    dropped (they are not scored)."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PrivacyInputError(
            f"Cannot read the labelled corpus {p.name!r} ({type(exc).__name__}). Expected a "
            "JSON list of records with 'full_text', 'spans' and 'template_id'."
        ) from None
    if not isinstance(raw, list):
        raise PrivacyInputError(
            f"The labelled corpus {p.name!r} must be a JSON list of records; got "
            f"{type(raw).__name__}."
        )
    out = []
    for i, rec in enumerate(raw):
        try:
            spans = tuple(
                (int(s["start_position"]), int(s["end_position"]), entity_map[s["entity_type"]])
                for s in rec["spans"] if s["entity_type"] in entity_map
            )
            out.append(LabelledText(str(rec["full_text"]), spans, int(rec["template_id"])))
        except (KeyError, TypeError, ValueError):
            raise PrivacyInputError(
                f"Record {i} of the labelled corpus {p.name!r} lacks 'full_text', 'spans' "
                "(start_position, end_position, entity_type) or 'template_id'."
            ) from None
    return out


def split_by_template(
    records: Sequence[LabelledText], *, held_out_every: int = 3
) -> tuple[list[LabelledText], list[LabelledText]]:
    """``(development, held_out)``: a record is held out when its ``template_id`` is a
    multiple of ``held_out_every``, so no sentence shape is in both parts."""
    dev = [r for r in records if r.template_id % held_out_every]
    held = [r for r in records if not r.template_id % held_out_every]
    return dev, held


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def score_detector(
    records: Iterable[LabelledText],
    detect: Callable[[str], Iterable[Span]],
    entities: Iterable[str] | None = None,
) -> dict[str, EntityScore]:
    """Per-entity scores of ``detect`` on ``records`` under the module's matching rule."""
    wanted = None if entities is None else set(entities)
    counts: dict[str, list[int]] = {}
    for rec in records:
        predicted = [s for s in detect(rec.text) if wanted is None or s.entity in wanted]
        gold = [g for g in rec.spans if wanted is None or g[2] in wanted]
        for g0, g1, ent in gold:
            c = counts.setdefault(ent, [0, 0, 0, 0])
            c[0] += 1
            c[1] += any(s.entity == ent and _overlaps(s.start, s.end, g0, g1) for s in predicted)
        for s in predicted:
            if s.entity == "LOCATION" and any(
                e == "STREET_ADDRESS" and g0 <= s.start and s.end <= g1 for g0, g1, e in gold
            ) and not any(e == "LOCATION" and _overlaps(s.start, s.end, g0, g1)
                          for g0, g1, e in gold):
                continue
            c = counts.setdefault(s.entity, [0, 0, 0, 0])
            c[2] += 1
            c[3] += any(e == s.entity and _overlaps(s.start, s.end, g0, g1) for g0, g1, e in gold)
    return {e: EntityScore(e, *c) for e, c in sorted(counts.items())}
