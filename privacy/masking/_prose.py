"""Names, street addresses and places in free text, offline: gazetteers plus rules.

:func:`find_prose_spans` reads a text as tokens and applies three passes, in this order (an
earlier pass's span wins an overlap):

1. **Street addresses** — a house number next to a street word (``12 Crown St``,
   ``Via Roma 131``, ``Koskikatu 25``, in several languages), a post-office or military box,
   or a unit line (``Suite 510``); the unit line after a street joins it. The lines after an
   address (city, region, country, post code) are read as places and post codes.
2. **Names** — a run of capitalised words (initials, particles such as ``van`` or ``de`` and
   suffixes such as ``Jr`` inside) is a ``PERSON`` when a title precedes it, a phrase announces
   it (``my name is``, ``called``, ``Dear``), a verb follows it (``said``, ``lives``), or the
   gazetteers say so (a known given name followed by a word that is not a common one, or a
   known surname after a given name). A single given name needs a cue or a list of names.
3. **Places** — the longest run of words that is a known place: a country, continent, US
   state or large city in any context, a smaller town only after a cue (``in``, ``from``,
   ``flew to``) or in an address. An unknown capitalised word after a strong place cue
   (``lives in``, ``flew to``) is a place too.

Nothing is downloaded and no model runs: the cost is a regex pass and set look-ups, so a text
without a capital letter or a cue word costs one check.
"""

from __future__ import annotations

import re
from functools import lru_cache

from auditkit.privacy.masking import _prose_address, _prose_names
from auditkit.privacy.masking._prose_tokens import Tok, tokens
from auditkit.privacy.masking._spans import Span

__all__ = ["PROSE_ENTITIES", "find_prose_spans"]

#: The entity types this module reports.
PROSE_ENTITIES = ("PERSON", "STREET_ADDRESS", "LOCATION")

_CUE_TEXT = re.compile(
    r"(?i)\b(?:name|called|named|i'?m|dear|signed|regards|heißt|appelle|llamo|chiamo|naam|"
    r"heter|nome)\b"
)

_LETTERS = re.compile(r"[^\W\d_]{2}")
_DIGIT_AND_LETTER = re.compile(r"\d\s+[^\W\d_]{2}|[^\W\d_]{2}\s+\d")
_SCORE = {"PERSON": 0.7, "STREET_ADDRESS": 0.75, "LOCATION": 0.65}
_RECOGNISER = "prose"


def find_prose_spans(text: str) -> list[Span]:
    """Every ``PERSON``, ``STREET_ADDRESS`` and ``LOCATION`` span found in ``text`` by the
    offline rules, in order of position, without overlaps (a post code in an address is part
    of the ``STREET_ADDRESS``).

    >>> [(s.entity, s.start, s.end) for s in find_prose_spans("Dear Ana Silva, welcome.")]
    [('PERSON', 5, 14)]
    """
    if not text or (text.lower() == text and _CUE_TEXT.search(text) is None
                    and _DIGIT_AND_LETTER.search(text) is None
                    and (len(text.split(None, 2)) < 3 or _LETTERS.search(text) is None)):
        return []  # no capital, no cue, no number by a word, not three words of letters
    return list(_find(text))


@lru_cache(maxsize=16_384)
def _find(text: str) -> tuple[Span, ...]:
    """:func:`find_prose_spans` for one text, remembered (columns repeat their values)."""
    toks = tokens(text)
    spans, taken = address_pass(toks)
    for entity, i, j in _prose_names.names_and_places(text, toks, taken):
        _claim(spans, taken, toks, entity, i, j)
    return tuple(sorted(spans))


def address_pass(toks: list[Tok]) -> tuple[list[Span], list[bool]]:
    """The address spans of ``toks`` and which tokens they claim."""
    taken = [False] * len(toks)
    spans: list[Span] = []
    for entity, i, j in _prose_address.addresses(toks):
        _claim(spans, taken, toks, entity, i, j)
    return spans, taken


def _claim(spans: list[Span], taken: list[bool], toks: list[Tok], entity: str, i: int,
           j: int) -> None:
    """Record tokens ``i..j-1`` as ``entity`` unless one of them is already part of a span."""
    if j <= i or any(taken[i:j]):
        return
    for k in range(i, j):
        taken[k] = True
    spans.append(Span(toks[i].start, toks[j - 1].end, entity, _SCORE[entity], _RECOGNISER))
