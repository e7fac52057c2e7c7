"""Tokens of the prose detector: words, numbers, newlines and punctuation with offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Tok", "tokens"]

# A number (a house number may end in one letter: ``12A``), a code mixing letters and digits
# (``ae9964df``, ``S34``: never part of a name or an address), a word, a line break, a sign.
# A code's first digit must come within 40 characters: an unbounded ``\w*\d`` made the scan
# quadratic on a long run of letters and underscores with no digit.
_TOKEN = re.compile(
    r"(?P<n>\d+(?:[-/]\d+)*[A-Za-z]?)(?!\w)|(?P<c>[^\W\d]{0,40}\d\w*)"
    r"|(?P<w>[^\W\d_]+(?:['’\-][^\W\d_]+)*)"
    r"|(?P<nl>\n)|(?P<p>[^\w\s])"
)
@dataclass(frozen=True)
class Tok:
    start: int
    end: int
    text: str
    kind: str  # "w" word, "n" number, "c" code, "nl" newline, "p" punctuation
    fold: str

    @property
    def cap(self) -> bool:
        return self.kind == "w" and self.text[0].isupper()

    @property
    def upper(self) -> bool:
        return self.kind == "w" and len(self.text) > 1 and self.text.isupper()


def tokens(text: str) -> list[Tok]:
    return [Tok(m.start(), m.end(), m.group(), m.lastgroup or "p", m.group().casefold())
            for m in _TOKEN.finditer(text)]
