"""Entity spans inside free text.

:func:`find_spans` runs every registered recogniser that has a ``pattern`` over a string,
confirms each candidate with the recogniser's validator (and context words, where declared),
and resolves overlaps: the higher priority wins, then the longer span. Every occurrence is
returned, not only the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditkit.privacy.masking._recognisers import Recogniser, iter_recognisers

__all__ = ["Span", "find_spans", "text_recognisers"]

_CONTEXT_WINDOW = 48
_DIGIT = re.compile(r"\d")
_HEX_TRIGGER = re.compile(r"\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]|::|[0-9A-Fa-f]-[0-9A-Fa-f]{2}-")


@dataclass(frozen=True, order=True)
class Span:
    """One entity occurrence: ``text[start:end]`` is of type ``entity``."""

    start: int
    end: int
    entity: str
    score: float = 1.0
    recogniser: str = ""


def text_recognisers(entities: Iterable[str] | None = None) -> tuple[Recogniser, ...]:
    """Registered recognisers that can search free text, optionally limited to ``entities``."""
    wanted = None if entities is None else set(entities)
    return tuple(
        r for r in iter_recognisers()
        if r.compiled is not None and (wanted is None or r.entity in wanted)
    )


def _triggered(rec: Recogniser, text: str, has_digit: bool) -> bool:
    t = rec.trigger
    if t == "digit":
        return has_digit
    if t == "@":
        return "@" in text
    if t == "url":
        return "://" in text or "www." in text or "WWW." in text
    if t == "hex":
        return _HEX_TRIGGER.search(text) is not None
    return True


def _context_ok(rec: Recogniser, text: str, start: int) -> bool:
    if not rec.context:
        return True
    window = text[max(0, start - _CONTEXT_WINDOW):start].lower()
    return any(word in window for word in rec.context)


def _confirm(rec: Recogniser, text: str, start: int, end: int) -> int | None:
    """The end of the confirmed span starting at ``start`` (maybe shrunk), or ``None``."""
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


def find_spans(
    text: str,
    entities: Iterable[str] | None = None,
    *,
    recognisers: Sequence[Recogniser] | None = None,
) -> list[Span]:
    """Every confirmed, non-overlapping entity span in ``text``, in order of position.

    Parameters
    ----------
    text:
        The string to search.
    entities:
        Only report these entity types (default: all with a text pattern).
    recognisers:
        Use these recognisers instead of the registry's.

    Examples
    --------
    >>> [(s.entity, s.start, s.end) for s in find_spans("mail a@b.org or 4111 1111 1111 1111")]
    [('EMAIL_ADDRESS', 5, 12), ('CREDIT_CARD', 16, 35)]
    """
    if not text:
        return []
    if recognisers is None:
        recs: Sequence[Recogniser] = text_recognisers(entities)
    else:
        recs = sorted(recognisers, key=lambda r: -r.priority)
    return _find(text, recs)


def _find(text: str, recs: Sequence[Recogniser]) -> list[Span]:
    """:func:`find_spans` with recognisers already sorted by priority (highest first)."""
    triggers = {"digit": _DIGIT.search(text) is not None, "@": "@" in text,
                "url": "://" in text or "www." in text or "WWW." in text, "": True}
    found: list[Span] = []
    # Highest priority first: a candidate inside an accepted span is skipped before its
    # (possibly slow) validator runs, which also resolves overlaps.
    for rec in recs:
        rx = rec.compiled
        t = rec.trigger
        ok = triggers.get(t)
        if ok is None:
            ok = triggers[t] = _triggered(rec, text, triggers["digit"])
        if not ok or rx is None:
            continue
        for m in rx.finditer(text):
            start, end = m.span()
            if found and any(start < s.end and s.start < end for s in found):
                continue
            if rec.context and not _context_ok(rec, text, start):
                continue
            confirmed = _confirm(rec, text, start, end)
            if confirmed is not None and (
                rec.span_filter is None or rec.span_filter(text, start, confirmed)
            ):
                found.append(Span(start, confirmed, rec.entity, rec.score, rec.name))
    if len(found) > 1:
        found.sort()
    return found

