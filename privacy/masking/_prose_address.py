"""Street addresses in free text: a street with a number, its unit line, and the lines after.

Yields token ranges ``(entity, i, j)``: the street and unit as ``STREET_ADDRESS``; in the
lines that follow (city, region, country, post code, separated by line breaks or commas) the
words as ``LOCATION`` and the post codes (``80335``, ``NW1 6XE``) as part of the address.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditkit.privacy.masking import _gazetteers as g
from auditkit.privacy.masking._prose_tokens import Tok

__all__ = ["addresses"]

_MAX_STREET_WORDS = 5
_MAX_TAIL_LINES = 4
_MAX_TAIL_TOKENS = 7
_STREET_PREPOSITIONS = frozenset({"Am", "Im", "Unter", "Auf", "Zum", "Zur", "Hinter", "Vor",
                                  "Beim", "Vom"})
_MILITARY_POST = frozenset({"fpo", "apo", "dpo"})
_STREET_CUES = frozenset({"on", "at", "in", "address", "address:", "street"})


def _word(t: Tok) -> str:
    return t.fold.rstrip(".")


def _is_street_word(t: Tok) -> bool:
    f = _word(t)
    if t.upper and len(f) <= 4:
        return False  # ``AVE 6854`` is a train; an address in capitals has its long words
    return f in g.STREET_AFTER or (t.cap and _is_compound_street(f))


def _is_compound_street(f: str) -> bool:
    """A one-word street name: a name joined to a street word (``Koskikatu``, ``Hauptstraße``)."""
    return any(f.endswith(e) and len(f) >= len(e) + 3 for e in g.STREET_ENDINGS)


def _skip_dot(toks: list[Tok], k: int) -> int:
    return k + 1 if k < len(toks) and toks[k].text == "." else k


def _number_at(toks: list[Tok], k: int) -> int | None:
    """The index after a house or unit number at ``k`` (``#12``, ``No. 12``, ``12``)."""
    if k < len(toks) and toks[k].text in {"#", "№"}:
        k += 1
    if k + 1 < len(toks) and toks[k].fold in {"no", "nr", "n"} and toks[k + 1].text == ".":
        k += 2
    if k < len(toks) and toks[k].kind == "n" and len(toks[k].text) <= 8:
        return k + 1
    return None


def _street_words(toks: list[Tok], k: int, lowercase_ok: bool) -> int | None:
    """The index after a street name starting at word ``k``, or ``None``."""
    n = len(toks)
    first = toks[k] if k < n else None
    if first is None or first.kind != "w" or not (first.cap or lowercase_ok):
        return None
    before = _word(first) in g.STREET_BEFORE
    j = k
    words = 0
    while j < n and words < _MAX_STREET_WORDS:
        t = toks[j]
        if t.kind != "w" or not (t.cap or lowercase_ok or before or t.fold in g.PARTICLES
                                 or (words and _is_street_word(t))):
            break
        words += 1
        j = _skip_dot(toks, j + 1)
        if _is_street_word(t) and not before:
            return j if words >= 2 or _is_compound_street(_word(t)) else None
    return j if before and words >= 2 else None


def _street(toks: list[Tok], i: int) -> int | None:
    """The index after a street address starting at token ``i``, or ``None``."""
    k = i
    numbered = False
    for _ in range(2):  # ``17151 2450 Crown St``: a number, maybe a second one
        nxt = _number_at(toks, k)
        if nxt is None:
            break
        k, numbered = nxt, True
    j = _street_words(toks, k, lowercase_ok=numbered)
    if j is None:
        return _numbered_name(toks, k) if numbered else None
    after = _number_at(toks, j)
    if after is not None:
        return _skip_dot(toks, after)
    if numbered:
        return j
    prev = toks[i - 1].fold if i > 0 else ""
    words = sum(t.kind == "w" for t in toks[k:j])
    return j if prev in _STREET_CUES and words >= 2 else None


def _preposition_street(toks: list[Tok], i: int) -> int | None:
    """A German street named with a preposition: ``Am Markt 3``, ``Unter den Linden 77``."""
    if toks[i].text not in _STREET_PREPOSITIONS:
        return None
    j = i + 1
    if j < len(toks) and toks[j].fold in {"den", "der", "dem"}:
        j += 1
    words = 0
    while j < len(toks) and words < 2 and toks[j].cap and len(toks[j].text) >= 3 \
            and toks[j].fold not in g.NOT_NAMES:
        j += 1
        words += 1
    if not words or j >= len(toks) or toks[j].kind != "n" or len(toks[j].text) > 4:
        return None
    return j + 1


def _cued_street(toks: list[Tok], i: int) -> int | None:
    """``on Pod Floriánem 1677``: after ``on`` or ``at``, capitalised words and a number."""
    if i == 0 or toks[i - 1].fold not in {"on", "at"} or not toks[i].cap:
        return None
    return _numbered_name(toks, i)


def _numbered_name(toks: list[Tok], k: int) -> int | None:
    """A house number, one to four words and a number (``5638 Aasa 43``, ``864 Piazzetta
    Scalette Rubiani 104``): a street in the numbering of many countries."""
    j = k
    while j < len(toks) and j - k < 4 and toks[j].kind == "w" and len(toks[j].text) > 1 \
            and toks[j].fold not in g.NOT_NAMES and not (toks[j].upper and len(toks[j].text) <= 3):
        j += 1
    if j == k or not toks[j - 1].kind == "w":
        return None
    after = _number_at(toks, j)
    return _skip_dot(toks, after) if after is not None else None


def _military(toks: list[Tok], i: int) -> int | None:
    """A ship or unit address: ``USNS Name`` then ``FPO AA 12345`` (or APO / DPO)."""
    if toks[i].fold not in {"usns", "usnv", "uss", "uscgc", "psc", "cmr", "unit"}:
        return None
    k = i + 1
    while k < len(toks) and k - i <= 4 and toks[k].kind in {"w", "n", "nl"} \
            and toks[k].fold not in _MILITARY_POST:
        k += 1
    if k + 2 < len(toks) and toks[k].fold in _MILITARY_POST and len(toks[k + 1].text) == 2 \
            and toks[k + 2].kind == "n":
        return k + 3
    return None


def _corner(toks: list[Tok], i: int) -> int | None:
    """``the corner of A Street and B Road``: everything up to the end of the clause."""
    if i < 2 or toks[i - 1].fold != "of" or toks[i - 2].fold != "corner":
        return None
    j = i
    while j < len(toks) and j - i < 14 and toks[j].kind in {"w", "n"} or (
            j < len(toks) and toks[j].text == "." and j > i and toks[j - 1].kind == "w"
            and len(toks[j - 1].text) <= 3):
        j += 1
    return j if j - i >= 3 and any(t.fold == "and" for t in toks[i:j]) else None


def _box(toks: list[Tok], i: int) -> int | None:
    """``P.O. Box 12``, ``PO Box 12``, ``PSC 5217, Box 4854``, ``Unit 8, Box 9``."""
    n = len(toks)
    k = i
    folds = [t.fold for t in toks[i:i + 4]]
    if folds[:4] == ["p", ".", "o", "."] or folds[:3] == ["p", ".", "o"]:
        k = _skip_dot(toks, i + 3)
    elif folds[:1] == ["po"]:
        k = i + 1
    elif folds[:1] in (["psc"], ["cmr"], ["unit"]) and i + 1 < n and toks[i + 1].kind == "n":
        k = i + 2
        if k < n and toks[k].text == ",":
            k += 1
    else:
        return None
    if k < n and toks[k].fold == "box":
        return _number_at(toks, k + 1)
    return None


def _unit(toks: list[Tok], k: int, *, alone: bool = False) -> int | None:
    """The index after a unit (``Apt. 864``, ``Suite 510``) starting at ``k``, or ``None``.
    ``alone``: no street before it, so only the unit words that make an address alone."""
    words = g.STANDALONE_UNITS if alone else g.UNIT_WORDS
    if k < len(toks) and toks[k].kind == "w" and toks[k].fold in words \
            and toks[k].fold not in {"box", "po", "building", "floor"}:
        return _number_at(toks, _skip_dot(toks, k + 1))
    return None


def _separator(toks: list[Tok], k: int) -> int:
    """Skip line breaks, commas and decoration (``>``, ``?``, ``-``) between address lines."""
    while k < len(toks) and (toks[k].kind == "nl" or toks[k].text in {",", ">", "?", "-", "|"}):
        k += 1
    return k


def _tail(toks: list[Tok], k: int) -> Iterator[tuple[str, int, int]]:
    """Places and post codes in the lines after a street: each line is a few capitalised words
    and numbers; the first line with anything else ends the address."""
    n = len(toks)
    for _ in range(_MAX_TAIL_LINES):
        start = _separator(toks, k)
        j = start
        while j < n and toks[j].kind in {"w", "n", "c"} and j - start < _MAX_TAIL_TOKENS:
            t = toks[j]
            if t.kind == "w" and not (t.cap or t.fold in g.PARTICLES):
                return
            if t.kind == "c" and len(t.text) > 4:
                return  # a post code's halves are short (``SW1A 2AA``); a longer code is not
            j += 1
        if j == start or (j < n and toks[j].kind not in {"nl", "p"}):
            return
        if j < n and toks[j].kind == "p" and toks[j].text not in {",", ".", ">", "?"}:
            return
        yield from _tail_line(toks, start, j)
        k = j
        if k >= n or toks[k].text == ".":
            return


def _tail_line(toks: list[Tok], i: int, j: int) -> Iterator[tuple[str, int, int]]:
    run = None
    for k in range(i, j + 1):
        word = k < j and toks[k].kind == "w"
        if word and run is None:
            run = k
        elif not word and run is not None:
            yield "LOCATION", run, k
            run = None
        if k < j and (toks[k].kind == "c" or (toks[k].kind == "n" and 3 <= len(toks[k].text) <= 10)):
            yield "STREET_ADDRESS", k, k + 1  # a post code, part of the postal address


def addresses(toks: list[Tok]) -> Iterator[tuple[str, int, int]]:
    """Token ranges of street addresses and the places and post codes after them."""
    n = len(toks)
    i = 0
    while i < n:
        t = toks[i]
        if t.kind not in {"n", "w"} and t.text not in {"#", "№"}:
            i += 1
            continue
        j = _corner(toks, i) or _military(toks, i) or _box(toks, i) or _street(toks, i) \
            or _unit(toks, i, alone=True) or _cued_street(toks, i) \
            or _preposition_street(toks, i)
        if j is None:
            i += 1
            continue
        while True:  # a unit after the street, or a street after a unit
            k = _separator(toks, j)
            more = _unit(toks, k) or _street(toks, k) or _box(toks, k)
            if more is None:
                break
            j = more
        yield "STREET_ADDRESS", i, j
        for piece in _tail(toks, j):
            yield piece
            j = max(j, piece[2])
        i = j
