"""Person names and places in free text: each candidate word is weighed by a small model.

A candidate is a capitalised word, or a lower-case word the gazetteers know as a name, that no
address claimed. Its features (:func:`features`) are the word's shape and endings, what the
gazetteers say of it, the words around it and the cues of the rules (a title before it, a
phrase that announces a name or a place, a verb after it, a list of given names). A
multinomial logistic model (``data/prose_model.json.gz``, trained by
``tools/train_prose_model.py`` on part of a labelled corpus) turns them into ``PERSON``,
``LOCATION`` or nothing; neighbouring words with the same label form one span.

Neither the word itself nor the words around it are features: what the model knows of names
and places comes from the gazetteers, the shape of words and the cues of the rules, not from
the names or the sentences it saw in training (with the words around as features it learnt the
training sentences and did worse on new ones: person F1 0.75 against 0.82 in cross-validation
grouped by template).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources

from auditkit.privacy.masking import _gazetteers as g
from auditkit.privacy.masking._prose_tokens import Tok

__all__ = ["LABELS", "candidates", "features", "names_and_places"]

LABELS = ("O", "PERSON", "LOCATION")
_CUE_WINDOW = 28
_MAX_PLACE_WORDS = 4
_POSSESSIVE = re.compile(r"['’]s$")
_CONTRACTION = re.compile(r"(?:n['’]t|['’](?:re|ll|ve|d|m))$")
_STRONG_PLACE_CUES = (
    "live in", "lives in", "living in", "lived in", "based in", "born in", "moved to",
    "move to", "moving to", "flew to", "fly to", "flying to", "travel to", "travelling to",
    "traveling to", "trip to", "visit", "visiting", "visited", "returned to", "return to",
    "arrived in", "arrive in", "arrived at", "headed to", "heading to", "i'm in", "i am in",
    "we are in", "stay in", "staying in", "stayed in", "located in", "near", "office in",
    "relocated to", "back to", "way to", "from",
)
_LOWERCASE_CUES = ("my name is", "name is", "called", "named", "name:", "signed", "regards,",
                   "call me",
                   "heiße", "je m'appelle", "me llamo", "mi chiamo", "mijn naam is",
                   "jag heter", "meu nome é")
_LIST_REACH = 6  # list items looked at on each side of a word
_LIST_JOINS = frozenset({",", "and", "&", "or", "und", "et", "y", "e", "en", "och", "og"})
_SENTENCE_END = frozenset({".", "!", "?", ":", '"', "“", "”", "(", "-", ">", ";"})


def _core(t: Tok) -> str:
    """The case-folded word without a possessive ``'s``."""
    return _POSSESSIVE.sub("", t.fold)


@cache
def _cue_pattern(cues: tuple[str, ...]) -> re.Pattern[str]:
    """One expression that matches when a text ends with any of ``cues`` as whole words."""
    alternatives = "|".join(re.escape(c) for c in sorted(cues, key=len, reverse=True))
    return re.compile(rf"(?:^|[^\w])(?:{alternatives})$")


def _ends_with(before: str, cues: tuple[str, ...]) -> bool:
    return _cue_pattern(cues).search(before) is not None


def _not_english(toks: list[Tok], english: frozenset[str]) -> bool:
    """Is the text (probably) not English? A function word of another language, or fewer than
    half of its lower-case words English ones. A text with no lower-case word (a bare code,
    a label) is not taken for English either: nothing says the model's training applies."""
    lower = [t.fold for t in toks if t.kind == "w" and not t.cap and len(t.text) > 1]
    if any(w in g.FOREIGN_FUNCTION_WORDS for w in lower):
        return True
    return not lower or sum(w in english for w in lower) * 2 < len(lower)


def _shape(text: str) -> str:
    if text.isupper():
        return "XX" if len(text) > 1 else "X"
    if text[0].isupper():
        return "Xx-" if "-" in text else ("XxX" if any(c.isupper() for c in text[1:]) else "Xx")
    return "x"


class _Context:
    """What is around each token of one text."""

    def __init__(self, text: str, toks: list[Tok], taken: list[bool] | None = None) -> None:
        self.text, self.toks = text, toks
        self.taken = taken if taken is not None else [False] * len(toks)
        self.given, self.surnames, self.places = g.given_names(), g.surnames(), g.places()
        self.english = g.english_words()
        self.foreign = _not_english(toks, self.english)
        self.lowercase = text.lower() == text

    def before(self, i: int) -> str:
        start = self.toks[i].start
        return " ".join(self.text[max(0, start - _CUE_WINDOW):start].casefold().split())

    def word(self, k: int) -> Tok | None:
        return self.toks[k] if 0 <= k < len(self.toks) else None

    def titled(self, i: int) -> bool:
        k = i - 1
        if k >= 0 and self.toks[k].text == ".":
            k -= 1
        return k >= 0 and self.toks[k].kind == "w" and _core(self.toks[k]) in g.TITLES

    def sentence_start(self, i: int) -> bool:
        k = i - 1
        return k < 0 or self.toks[k].kind == "nl" or self.toks[k].text in _SENTENCE_END

    def place_tiers(self) -> dict[int, int]:
        """Token index -> tier of the longest known place (up to four words) covering it."""
        out: dict[int, int] = {}
        toks, n = self.toks, len(self.toks)
        i = 0
        while i < n:
            if toks[i].kind != "w" or not toks[i].cap:
                i += 1
                continue
            best = None
            for b in range(min(n, i + _MAX_PLACE_WORDS * 2 - 1), i, -1):
                words = toks[i:b]
                if words[-1].kind != "w" or any(t.kind not in {"w"} and t.text != "-" for t in words):
                    continue
                tier = self.places.get(" ".join(_core(t) for t in words if t.kind == "w"))
                if tier is not None:
                    best = (b, tier)
                    break
            if best is None:
                i += 1
                continue
            for k in range(i, best[0]):
                out[k] = best[1]
            i = best[0]
        return out


def candidates(ctx: _Context, taken: list[bool]) -> list[int]:
    """Indices of the tokens the model judges."""
    out = []
    for k, t in enumerate(ctx.toks):
        if t.kind != "w" or taken[k]:
            continue
        core = _core(t)
        if len(core) < 2:
            continue  # an initial joins a name through _bridge, never starts one
        if (core in g.STREET_AFTER or core in g.STREET_BEFORE or core in g.UNIT_WORDS) \
                and core not in ctx.given and core not in ctx.surnames:
            continue  # a street or unit word outside an address names nobody
        if t.cap or _ends_with(ctx.before(k), _LOWERCASE_CUES) or (
                ctx.lowercase and (core in ctx.given or core in ctx.surnames)
                and core not in g.NOT_NAMES):
            out.append(k)  # a lower-case word only in a text written all in lower case
    return out


def _near(ctx: _Context, k: int, step: int, words: frozenset[str]) -> bool:
    w = ctx.word(k + step)
    return w is not None and w.kind == "w" and _core(w) in words


def _list_of_given(ctx: _Context, k: int) -> bool:
    """Is word ``k`` an item of a list (commas, ``and``) with two or more known given names?"""
    toks = ctx.toks
    items = [k]
    for step in (-1, 1):
        j = k
        for _ in range(_LIST_REACH):  # a bounded walk: a long list costs no more per word
            a, b = j + step, j + 2 * step
            w = ctx.word(b)
            if ctx.word(a) is None or w is None or w.kind != "w" or ctx.word(a).fold not in _LIST_JOINS:
                break
            items.append(b)
            j = b
    known = sum(_core(toks[i]) in ctx.given or _core(toks[i]) in ctx.surnames for i in items)
    return len(items) >= 3 and known >= 2 or len(items) == 2 and known == 2


def _near_address(ctx: _Context, k: int) -> bool:
    """Is a token claimed by an address among the three before or two after word ``k``?"""
    taken = ctx.taken
    return any(taken[i] for i in range(max(0, k - 3), min(len(taken), k + 3)) if i != k)


def _vocative(ctx: _Context, k: int) -> bool:
    """``Remember me, Randy?``, ``Aloisia, can I``: a word set off by a comma as an address."""
    before, after = ctx.word(k - 1), ctx.word(k + 1)
    after_text = after.text if after is not None else ""
    if before is not None and before.text == "," and after_text in {"?", "!", ".", ""}:
        return True
    return ctx.sentence_start(k) and after_text == "," and ctx.word(k + 2) is not None \
        and not ctx.word(k + 2).cap


def features(ctx: _Context, k: int, tiers: dict[int, int]) -> list[str]:
    """The feature names of candidate word ``k``."""
    t = ctx.toks[k]
    core = _core(t)
    before = ctx.before(k)
    f = ["bias", "shape=" + _shape(t.text), "suf2=" + core[-2:], "suf3=" + core[-3:],
         "suf4=" + core[-4:], "len=" + str(min(len(core), 10) // 3)]
    flags = (
        ("given", core in ctx.given), ("surname", core in ctx.surnames),
        ("common", core in g.NOT_NAMES), ("nonascii", not core.isascii()),
        ("titled", ctx.titled(k)), ("sent_start", ctx.sentence_start(k)),
        ("name_cue", _ends_with(before, g.STRONG_NAME_CUES)),
        ("lower_name_cue", _ends_with(before, _LOWERCASE_CUES)),
        ("place_cue", _ends_with(before, _STRONG_PLACE_CUES)),
        ("name_after", (w := ctx.word(k + 1)) is not None and w.fold in g.NAME_AFTER),
        ("possessive", core != t.fold), ("list_given", _list_of_given(ctx, k)),
        ("prev_given", (w := ctx.word(k - 1)) is not None and w.cap and not w.upper
         and _core(w) in ctx.given),
        ("next_surname", (w := ctx.word(k + 1)) is not None and w.cap and not w.upper
         and _core(w) in ctx.surnames),
        ("colon_after", (w := ctx.word(k + 1)) is not None and w.text == ":"),
        ("english", core in ctx.english), ("near_address", _near_address(ctx, k)),
        ("after_article", (w := ctx.word(k - 1)) is not None and w.fold in g.ARTICLES),
        ("vocative", _vocative(ctx, k)),
        ("contraction", _CONTRACTION.search(t.fold) is not None),
        ("place_prep", (w := ctx.word(k - 1)) is not None and w.fold in g.PLACE_CUES),
        ("english_given", core in ctx.english and core in ctx.given),
        ("english_surname", core in ctx.english and core in ctx.surnames),
        ("label_word", core in g.LABEL_WORDS), ("nationality", core in g.NATIONALITIES),
        ("org_word", core in g.ORG_WORDS),
        ("org_next", _near(ctx, k, 1, g.ORG_WORDS) or _near(ctx, k, 2, g.ORG_WORDS)),
        ("org_prev", _near(ctx, k, -1, g.ORG_WORDS)),
        ("unknown_midcap", t.cap and not ctx.sentence_start(k) and core not in ctx.given
         and core not in ctx.surnames and core not in g.NOT_NAMES and k not in tiers
         and core not in ctx.english),
        ("given_cap_next", core in ctx.given and (w := ctx.word(k + 1)) is not None and w.cap),
    )
    f.extend(name for name, on in flags if on)
    tier = tiers.get(k)
    if tier is not None:
        f.append(f"place{tier}")
        if tiers.get(k - 1) == tier or tiers.get(k + 1) == tier:
            f.append("place_phrase")
    return f


@cache
def _model() -> tuple[dict[str, tuple[float, ...]], tuple[float, ...]]:
    raw = resources.files("auditkit.privacy.masking").joinpath("data", "prose_model.json.gz")
    data = json.loads(gzip.decompress(raw.read_bytes()))
    weights = {name: tuple(w) for name, w in data["weights"].items()}
    return weights, tuple(data["intercept"])


def predict(feats: list[str]) -> int:
    """The index in :data:`LABELS` of the highest-scoring label for these features."""
    weights, intercept = _model()
    total = list(intercept)
    for name in feats:
        w = weights.get(name)
        if w is not None:
            for c in range(len(total)):
                total[c] += w[c]
    return max(range(len(total)), key=total.__getitem__)


def names_and_places(text: str, toks: list[Tok], taken: list[bool]) -> Iterator[tuple[str, int, int]]:
    """Token ranges of person names and places not already claimed."""
    ctx = _Context(text, toks, taken)
    cands = candidates(ctx, taken)
    if not cands:
        return
    tiers = ctx.place_tiers()
    labels = {}
    for k in cands:
        feats = features(ctx, k, tiers)
        label = predict(feats)
        if label == 1 and ctx.foreign and ("sent_start" in feats or "after_article" in feats) \
                and _OPENING_SUPPORT.isdisjoint(feats) and not _name_beside(ctx, k, cands):
            label = 0  # outside English (or with no sentence around it), a lone word opening
            #            a sentence or after an article needs a cue
        elif label == 2 and tiers.get(k) != 1 and ("place_cue" not in feats
                                                   and "place_prep" not in feats) \
                and ("sent_start" in feats or ctx.toks[k].upper):
            label = 0  # a small town's name opening a sentence, or an acronym, needs a cue
        labels[k] = _second_look(ctx, k, cands, feats, tiers, label)
    _whole_names(ctx, cands, labels)
    yield from _merge(toks, labels)


def _whole_names(ctx: _Context, cands: list[int], labels: dict[int, int]) -> None:
    """A name is masked whole: the capitalised word right after a name is its surname when
    it is a known surname or no common word (``Zoë Smith``, ``Mary O'Brien``), and a known
    given name right before a name is its first name."""
    for k in cands:  # in order, so a name grows to the right over several words
        nxt = _next_word(ctx, k, 1)
        if labels.get(k) != 1 or nxt is None or labels.get(nxt, 1) == 1:
            continue
        t, core = ctx.toks[nxt], _core(ctx.toks[nxt])
        if (t.cap or ctx.lowercase) and not t.upper and (core in ctx.surnames or (
                core not in ctx.english and core not in g.NOT_NAMES
                and core not in g.ORG_WORDS and core not in g.LABEL_WORDS)):
            labels[nxt] = 1
    for k in reversed(cands):
        prev = _next_word(ctx, k, -1)
        if labels.get(k) == 1 and prev is not None and labels.get(prev, 1) != 1 \
                and (ctx.toks[prev].cap or ctx.lowercase) and _given_name(ctx, ctx.toks[prev]):
            labels[prev] = 1


def _given_name(ctx: _Context, t: Tok) -> bool:
    """A known given name, or a hyphenated one made of them (``Jean-Luc``, ``Anna-Lena``)."""
    core = _core(t)
    return core in ctx.given or ("-" in core and all(p in ctx.given for p in core.split("-")))


def _next_word(ctx: _Context, k: int, step: int) -> int | None:
    """The index of the word next to ``k`` (across an initial), or ``None``."""
    j = k + step
    while ctx.word(j) is not None and _initial_part(ctx.toks[j]) and abs(j - k) <= 4:
        j += step
    w = ctx.word(j)
    return j if w is not None and w.kind == "w" and abs(j - k) <= 3 else None


def _initial_part(t: Tok) -> bool:
    """An initial (``N``) or its full stop."""
    return t.text == "." or (t.kind == "w" and len(t.text) == 1 and t.cap)


def _second_look(ctx: _Context, k: int, cands: list[int], feats: list[str],
                 tiers: dict[int, int], label: int) -> int:
    """Rules over the model: an acronym is neither a name nor a small place; a large place
    is a place unless a cue says a person."""
    t = ctx.toks[k]
    acronym = t.upper and len(t.text) <= 4
    if label == 1 and acronym and _NAME_CUES.isdisjoint(feats):
        return 0
    if label == 2 and acronym and tiers.get(k) != 1:
        return 0
    if label == 1 and tiers.get(k) == 1 and _NAME_CUES.isdisjoint(feats) \
            and not _name_beside(ctx, k, cands):
        return 2
    return label


#: Evidence a lone word opening a sentence needs to be a name: a known given name or a cue.
#: (A known surname alone is not enough there: the surname list holds many words of other
#: languages that open sentences, ``Wert``, ``Patente``.)
_OPENING_SUPPORT = frozenset({"given", "titled", "name_cue", "lower_name_cue", "name_after",
                              "possessive", "list_given", "vocative", "prev_given",
                              "next_surname"})
#: Cues that a word is a name, gazetteers aside.
_NAME_CUES = _OPENING_SUPPORT - {"given", "list_given", "prev_given", "next_surname"}


def _name_beside(ctx: _Context, k: int, cands: list[int]) -> bool:
    """Is another capitalised candidate word next to word ``k`` (across an initial)?"""
    near = set(cands)
    for step in (-1, 1):
        j = k + step
        while ctx.word(j) is not None and _initial_part(ctx.toks[j]) and abs(j - k) <= 4:
            j += step
        if j in near and ctx.toks[j].cap and not ctx.toks[j].upper:
            return True  # a capitalised word, not an acronym (``Zug BA 2528``)
    return False


def _merge(toks: list[Tok], labels: dict[int, int]) -> Iterator[tuple[str, int, int]]:
    """Runs of words with the same label; an initial (``N.``) or particle may sit inside."""
    run: tuple[int, int, int] | None = None  # (label, start, end)
    for k in sorted(labels):
        label = labels[k]
        if run is not None and label == run[0] and label and _bridge(toks, run[2], k):
            run = (label, run[1], k + 1)
            continue
        if run is not None and run[0]:
            yield LABELS[run[0]], run[1], run[2]
        run = (label, k, k + 1)
    if run is not None and run[0]:
        yield LABELS[run[0]], run[1], run[2]


def _bridge(toks: list[Tok], end: int, k: int) -> bool:
    """May the tokens between a run's end and word ``k`` sit inside one name or place?"""
    between = toks[end:k]
    return len(between) <= 3 and all(
        t.text in {".", "-"} or (t.kind == "w" and (t.fold in g.PARTICLES or len(t.text) == 1))
        for t in between
    )
