"""Entity spans inside free text.

:func:`find_spans` runs every registered recogniser that has a ``pattern`` over a string,
confirms each candidate with the recogniser's validator (and context words, where declared),
and resolves overlaps: recognisers run from the highest priority down, and a candidate that
overlaps a span already accepted is dropped (among equal priorities, the recogniser registered
under the smaller name runs first). Every occurrence is returned, not only the first.

Text finders (:func:`register_text_finder`) let a detector that is not a regular expression (a
prose detector of names and places) contribute spans under the same overlap rule; a finder
runs at its declared priority, its own spans considered longest first.

:func:`find_spans_batch <auditkit.privacy.masking._span_engine.find_spans_batch>` returns the
same spans for a whole column, with one vectorised pre-filter pass.
"""

from __future__ import annotations

import re

try:  # Python 3.11+
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._recognisers import Recogniser, iter_recognisers
from auditkit.registry import Registry

__all__ = [
    "Span",
    "TextFinder",
    "find_spans",
    "register_text_finder",
    "text_finders",
    "text_recognisers",
    "unregister_text_finder",
]

_CONTEXT_WINDOW = 48
_DIGIT = re.compile(r"\d")
_HEX_TRIGGER = re.compile(
    r"\d\.\d|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]|[0-9A-Fa-f]:[0-9A-Fa-f]|::|[0-9A-Fa-f]-[0-9A-Fa-f]{2}-"
)
#: The cheap pre-filter of each recogniser ``trigger``: the text must contain a match. An
#: unknown trigger (or ``""``) always runs. Each expression is exact on ASCII text once
#: translated to RE2 (no assertion, no back-reference), which the batch engine relies on.
TRIGGERS: dict[str, re.Pattern[str]] = {
    "digit": _DIGIT, "@": re.compile("@"), "url": re.compile(r"://|www\.|WWW\."),
    "hex": _HEX_TRIGGER,
}


@dataclass(frozen=True, order=True)
class Span:
    """One entity occurrence: ``text[start:end]`` is of type ``entity``."""

    start: int
    end: int
    entity: str
    score: float = 1.0
    recogniser: str = ""


def entity_names(entities: Iterable[str] | str | None) -> tuple[str, ...] | None:
    """``entities`` as a tuple of names: a single string is one name, not its characters."""
    if entities is None:
        return None
    return (entities,) if isinstance(entities, str) else tuple(entities)


def text_recognisers(entities: Iterable[str] | str | None = None) -> tuple[Recogniser, ...]:
    """Registered recognisers that can search free text, optionally limited to ``entities``."""
    names = entity_names(entities)
    wanted = None if names is None else set(names)
    return tuple(
        r for r in iter_recognisers()
        if r.compiled is not None and (wanted is None or r.entity in wanted)
    )


# --------------------------------------------------------------------------------------------
# Text finders: detectors that are not regular expressions.

@dataclass(frozen=True)
class TextFinder:
    """A detector of ``entities`` in free text: ``finder(text) -> list[Span]``.

    ``finder.batch(texts) -> list[list[Span]]``, when the callable has it, is used for a batch.
    """

    name: str
    entities: tuple[str, ...]
    finder: Callable[[str], list[Span]]
    priority: int


_FINDERS: Registry[TextFinder] = Registry("text finder", PrivacyInputError)


def register_text_finder(
    name: str, entities: Iterable[str], finder: Callable[[str], list[Span]], *, priority: int,
    force: bool = False,
) -> TextFinder:
    """Let ``finder`` contribute spans of ``entities`` to :func:`find_spans` and the batch path.

    It runs when one of its entities is asked for (all, by default), at ``priority`` among the
    recognisers (built-in pattern recognisers use 55-90; a finder loses a tie). Its spans are
    considered longest first, and one overlapping an accepted span is dropped. A span of an
    entity the finder did not declare is ignored. Refuses to replace a name unless ``force``.
    """
    ents = (entities,) if isinstance(entities, str) else tuple(entities)
    if not callable(finder) or not ents or not all(isinstance(e, str) and e for e in ents):
        raise PrivacyInputError(
            f"register_text_finder({name!r}) needs a callable finder and at least one entity "
            "name; check the 'finder' and 'entities' parameters."
        )
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise PrivacyInputError(
            f"The 'priority' parameter of register_text_finder must be an integer; got "
            f"{type(priority).__name__}."
        )
    return _FINDERS.add(name, TextFinder(name, ents, finder, priority), force=force)


def unregister_text_finder(name: str) -> None:
    """Remove a text finder (e.g. one a test added); an unknown name is ignored."""
    _FINDERS.pop(name, None)


def text_finders(entities: Iterable[str] | str | None = None) -> tuple[TextFinder, ...]:
    """Registered text finders with an entity among ``entities`` (all by default), highest
    priority first."""
    names = entity_names(entities)
    wanted = None if names is None else set(names)
    return tuple(sorted(
        (f for f in _FINDERS.values() if wanted is None or wanted.intersection(f.entities)),
        key=lambda f: (-f.priority, f.name),
    ))


# --------------------------------------------------------------------------------------------
# One recogniser on one candidate.

def _triggered(rec: Recogniser, text: str) -> bool:
    rx = TRIGGERS.get(rec.trigger)
    return rx is None or rx.search(text) is not None


def _context_ok(rec: Recogniser, text: str, start: int) -> bool:
    if not rec.context:
        return True
    window = text[max(0, start - _CONTEXT_WINDOW):start].lower()
    return any(word in window for word in rec.context)


def _confirmed_length(rec: Recogniser, candidate: str) -> int | None:
    """The length of the confirmed span that starts ``candidate`` (maybe shrunk), or ``None``."""
    return len(candidate) if rec.validator(candidate) else _shrunk_length(rec, candidate)


def _shrunk_length(rec: Recogniser, candidate: str) -> int | None:
    """For a rejected candidate: the length of a shorter confirmed prefix (``shrink``)."""
    if rec.shrink:
        for _ in range(3):
            cut = candidate.rfind(" ")
            if cut <= 0:
                break
            candidate = candidate[:cut].rstrip(" -.(/")
            if candidate and rec.validator(candidate):
                return len(candidate)
    return None


# --------------------------------------------------------------------------------------------
# The search: steps in priority order over a list of texts.

Step = Recogniser | TextFinder
#: Spans found per text position: ``(start, end, source)``, ``source`` indexing the sources.
Found = dict[int, list[tuple[int, int, int]]]


def plan(recs: Sequence[Recogniser], finders: Sequence[TextFinder]) -> list[Step]:
    """Recognisers (already highest priority first) with the finders placed by priority; a
    finder runs after the recognisers of its own priority."""
    steps: list[Step] = []
    pending = list(finders)
    for rec in recs:
        while pending and pending[0].priority > rec.priority:
            steps.append(pending.pop(0))
        steps.append(rec)
    return steps + pending


class Sources:
    """``(entity, score, recogniser name)`` of found spans, numbered once each."""

    def __init__(self) -> None:
        self.items: list[tuple[str, float, str]] = []
        self._codes: dict[tuple[str, float, str], int] = {}

    def code(self, entity: str, score: float, name: str) -> int:
        key = (entity, score, name)
        c = self._codes.get(key)
        if c is None:
            c = self._codes[key] = len(self.items)
            self.items.append(key)
        return c


def run_recogniser(rec: Recogniser, code: int, texts: Sequence[str], where: Iterable[int],
                   found: Found, recheck: Container[int] = ()) -> None:
    """Add ``rec``'s confirmed spans in ``texts[p]`` (``p`` in ``where``) to ``found``,
    skipping candidates that overlap spans already there. The trigger is tested on the texts
    in ``recheck`` (the caller has tested the others).

    Candidates are gathered first, then each distinct one is validated once (through
    ``validator.batch(candidates) -> bools`` when the validator has it), then the span
    filter runs (``span_filter.batch(texts, starts, ends) -> bools`` when it has it). A
    recogniser's own matches never overlap one another, so this order finds what one match
    at a time would."""
    cands = _candidates(rec, texts, where, found, recheck)
    if not cands:
        return
    pieces = [texts[p][s:e] for p, s, e in cands]
    verdict = _verdicts(rec, pieces)
    kept = [(p, s, s + n) for (p, s, _), n in zip(cands, map(verdict.__getitem__, pieces),
                                                    strict=True) if n is not None]
    if rec.span_filter is not None and kept:
        kept = _filtered(rec.span_filter, texts, kept)
    for p, s, e in kept:
        acc = found.get(p)
        if acc is None:
            found[p] = [(s, e, code)]
        else:
            acc.append((s, e, code))


def _candidates(rec: Recogniser, texts: Sequence[str], where: Iterable[int], found: Found,
                recheck: Container[int]) -> list[tuple[int, int, int]]:
    """``(text position, start, end)`` of every match that overlaps no span found so far and
    has its context words."""
    finditer = rec.compiled.finditer  # type: ignore[union-attr]
    trigger = TRIGGERS.get(rec.trigger) if recheck else None
    context = rec.context
    least = min_width(rec)
    out = []
    for p in where:
        text = texts[p]
        if trigger is not None and p in recheck and trigger.search(text) is None:
            continue
        acc = found.get(p)
        if acc is not None and least and _no_room(acc, len(text), least):
            continue  # every match would overlap a span already found
        for m in finditer(text):
            start, end = m.span()
            if acc and _overlaps(acc, start, end):
                continue
            if context and not _context_ok(rec, text, start):
                continue
            out.append((p, start, end))
    return out


def _verdicts(rec: Recogniser, pieces: list[str]) -> dict[str, int | None]:
    """The confirmed length of each distinct candidate (``None``: rejected)."""
    distinct = list(dict.fromkeys(pieces))
    batch = getattr(rec.validator, "batch", None)
    if not callable(batch):
        return {c: _confirmed_length(rec, c) for c in distinct}
    return {c: len(c) if ok else _shrunk_length(rec, c)
            for c, ok in zip(distinct, batch(distinct), strict=True)}


def _filtered(span_filter: Callable[..., Any], texts: Sequence[str],
              kept: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    batch = getattr(span_filter, "batch", None)
    if not callable(batch):
        return [k for k in kept if span_filter(texts[k[0]], k[1], k[2])]
    oks = batch([texts[p] for p, _, _ in kept], [s for _, s, _ in kept], [e for _, _, e in kept])
    return [k for k, ok in zip(kept, oks, strict=True) if ok]


@lru_cache(maxsize=1024)
def _min_width(pattern: str, flags: int) -> int:
    try:
        return int(_sre_parse.parse(pattern, flags).getwidth()[0])
    except Exception:  # noqa: BLE001 - any doubt: assume it may match the empty string
        return 0


def min_width(rec: Recogniser) -> int:
    """The fewest characters a match of ``rec``'s pattern has (0: it may be empty)."""
    rx = rec.compiled
    return 0 if rx is None else _min_width(rx.pattern, rx.flags)


def _no_room(acc: list[tuple[int, int, int]], n: int, least: int) -> bool:
    """Whether no gap between the spans in ``acc`` (in a text of ``n`` characters) is
    ``least`` characters long: then a match of that length overlaps one of them."""
    if len(acc) == 1:
        s, e, _ = acc[0]
        return s < least and n - e < least
    pos = 0
    for s, e, _ in sorted(acc):
        if s - pos >= least:
            return False
        pos = max(pos, e)
    return n - pos < least


def _overlaps(acc: list[tuple[int, int, int]], start: int, end: int) -> bool:
    for s, e, _ in acc:
        if start < e and s < end:
            return True
    return False


def add_finder_spans(finder: TextFinder, wanted: set[str] | None, texts: Sequence[str],
                     where: Sequence[int], results: Sequence[Sequence[Span]], found: Found,
                     sources: Sources) -> None:
    """Accept ``results[k]`` (the finder's spans in ``texts[where[k]]``), longest first, where
    they overlap no span already found."""
    allowed = set(finder.entities) if wanted is None else wanted.intersection(finder.entities)
    if len(results) != len(where):
        raise PrivacyInputError(
            f"The text finder {finder.name!r} returned {len(results)} results for "
            f"{len(where)} texts; its batch form must return one list per text."
        )
    for p, spans in zip(where, results, strict=True):
        n = len(texts[p])
        acc = found.get(p)
        for sp in sorted(spans, key=lambda s: (s.start - s.end, s.start)):
            if sp.entity not in allowed:
                continue
            if not 0 <= sp.start <= sp.end <= n:
                raise PrivacyInputError(
                    f"The text finder {finder.name!r} returned a span outside its text "
                    f"(offsets {sp.start}-{sp.end} in a text of {n} characters)."
                )
            if acc and _overlaps(acc, sp.start, sp.end):
                continue
            if acc is None:
                acc = found[p] = []
            acc.append((sp.start, sp.end,
                        sources.code(sp.entity, sp.score, sp.recogniser or finder.name)))


def finder_results(finder: TextFinder, texts: Sequence[str]) -> list[list[Span]]:
    """The finder's spans for each text: its batch form when it has one."""
    batch = getattr(finder.finder, "batch", None)
    if callable(batch):
        return list(batch(list(texts)))
    return [finder.finder(t) for t in texts]


def spans_of(found: list[tuple[int, int, int]], sources: Sources) -> list[Span]:
    items = sources.items
    out = [Span(s, e, *items[c]) for s, e, c in found]
    out.sort()
    return out


# --------------------------------------------------------------------------------------------
# One text.

def find_spans(
    text: str,
    entities: Iterable[str] | str | None = None,
    *,
    recognisers: Sequence[Recogniser] | None = None,
) -> list[Span]:
    """Every confirmed, non-overlapping entity span in ``text``, in order of position.

    Parameters
    ----------
    text:
        The string to search (``None`` or ``""``: no spans; any other non-string is refused).
    entities:
        Only report these entity types (default: all with a text pattern or a text finder);
        one name may be passed as a plain string.
    recognisers:
        Use these recognisers instead of the registry's (then no text finder runs).

    Examples
    --------
    >>> [(s.entity, s.start, s.end) for s in find_spans("mail a@b.org or 4111 1111 1111 1111")]
    [('EMAIL_ADDRESS', 5, 12), ('CREDIT_CARD', 16, 35)]
    """
    if text is None:
        return []
    if not isinstance(text, str):
        raise PrivacyInputError(
            f"find_spans needs a str; got a {type(text).__name__}. Decode bytes and convert "
            "other values to text first (missing values: pass None)."
        )
    if not text:
        return []
    entities = entity_names(entities)
    if recognisers is None:
        return _find(text, text_recognisers(entities), text_finders(entities),
                     None if entities is None else set(entities))
    return _find(text, sorted(recognisers, key=lambda r: -r.priority))


def _find(text: str, recs: Sequence[Recogniser], finders: Sequence[TextFinder] = (),
          wanted: set[str] | None = None) -> list[Span]:
    """:func:`find_spans` with recognisers already sorted by priority (highest first)."""
    found: Found = {}
    sources = Sources()
    texts = (text,)
    for step in plan(recs, finders):
        if isinstance(step, TextFinder):
            add_finder_spans(step, wanted, texts, (0,), finder_results(step, texts), found,
                             sources)
        elif step.compiled is not None and _triggered(step, text):
            run_recogniser(step, sources.code(step.entity, step.score, step.name), texts, (0,),
                           found)
    return spans_of(found.get(0, []), sources)

