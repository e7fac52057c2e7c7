"""Cell shapes, for telling a CSV file's header row from a row of data (``auditkit init``).

A cell's *shape* keeps its outline and drops its content: each upper-case letter becomes
``A``, each lower-case letter ``a``, each digit ``9``, runs of one class collapse to one
character, and punctuation and spaces stay as they are::

    "zelda.q@example.org" -> "a.a@a.a"
    "Zelda Quinterra"     -> "Aa Aa"
    "+1-555-9876"         -> "+9-9-9"

Column names are words (``age``, ``EmailAddress``, ``score_v2``, ``Income (USD)``); values
are often not (``a.a@a.a``, ``9/9/9``, ``A-9``). Nothing here returns or quotes a value.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

__all__ = [
    "cell_shape", "data_like_kind", "first_row_is_header", "header_like_shape", "shape_share",
]

_MISSING = frozenset({"", "?", "na", "n/a", "nan", "null", "none", "-"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_DATE = re.compile(
    r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
)
_PHONE = re.compile(r"^\+?[\d(][\d\s().\-/]*\d$")
_DIGIT_AFTER_NON_LETTER = re.compile(r"(^|[^Aa])9")


def cell_shape(cell: str) -> str:
    """The cell's shape: ``A``/``a`` for letters, ``9`` for digits, runs collapsed.

    Examples
    --------
    >>> cell_shape("zelda.q@example.org"), cell_shape("Zelda Quinterra"), cell_shape("+1-555-9876")
    ('a.a@a.a', 'Aa Aa', '+9-9-9')
    """
    out: list[str] = []
    for ch in cell:
        if ch.isdigit():
            c = "9"
        elif ch.isalpha():
            c = "A" if ch.isupper() else "a"
        else:
            c = ch
        if not out or out[-1] != c or c not in "Aa9":
            out.append(c)
    return "".join(out)


def header_like_shape(shape: str) -> bool:
    """Whether a shape is one a column name can have: no ``@`` and every digit after a letter
    (``a9`` as in ``q1`` or ``score_v2``); a digit that starts a part (``9/9/9``, ``A-9``,
    ``+9-9-9``) is a value's mark."""
    return "@" not in shape and not _DIGIT_AFTER_NON_LETTER.search(shape)


def data_like_kind(cell: str) -> str | None:
    """``"an e-mail address"``, ``"a date"`` or ``"a telephone number"`` when the cell looks
    like one, else ``None`` (a column name never does)."""
    text = cell.strip()
    if _EMAIL.match(text):
        return "an e-mail address"
    if _DATE.match(text):
        return "a date"
    if _PHONE.match(text):
        digits = sum(ch.isdigit() for ch in text)
        separated = text.startswith("+") or len(re.findall(r"[\s().\-/]+", text)) >= 2
        if digits >= 7 and separated:
            return "a telephone number"
    return None


def shape_share(cell: str, body: Sequence[str]) -> float:
    """The share of ``body`` cells with the same shape as ``cell`` (0 when ``body`` is empty)."""
    if not body:
        return 0.0
    counts = Counter(cell_shape(v) for v in body)
    return counts[cell_shape(cell)] / len(body)


# -- the decision ---------------------------------------------------------------------------

def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


_COMMON_SHAPE = 0.05  # a first cell whose shape at least this share of the body has is "common"


def first_row_is_header(rows: list[list[str]]) -> tuple[bool, tuple[str, ...]]:
    """Whether the first sniffed row names the columns, and why not (counts and column
    numbers only, never a value).

    In order: a first-row cell shaped like an e-mail address, a date or a telephone number
    over a column that is not numeric makes the row data; a name over a numeric column makes
    it a header; a number over a numeric column makes it data; so does, in at least half of
    the columns, a first cell whose shape (:func:`cell_shape`) is no
    column name's and is common in the body, or a first cell whose value recurs below it.
    """
    first = [c.strip() for c in rows[0]]
    body = [r for r in rows[1:] if len(r) == len(first)]
    if not body:
        return True, ()
    columns = [_column_evidence(j, cell, [r[j - 1].strip() for r in body])
               for j, cell in enumerate(first, 1)]
    valued = [(j, kind) for j, kind in ((c["j"], data_like_kind(first[c["j"] - 1]))
                                         for c in columns if not c["numeric"]) if kind]
    if valued:
        j, kind = valued[0]
        more = f" (and {len(valued) - 1} more column{'s' if len(valued) > 2 else ''})" \
            if len(valued) > 1 else ""
        return False, (f"the first row's value in column {j} looks like {kind}{more}, so the "
                       "row looks like data, not column names",)
    if any(c["name_over_numbers"] for c in columns):
        return True, ()
    return _data_row_reasons(columns, len(first))


def _column_evidence(j: int, cell: str, values: list[str]) -> dict[str, object]:
    """What one column says about its first cell (flags only; no value is kept)."""
    present = [v for v in values if v.lower() not in _MISSING]
    numeric = bool(present) and sum(map(_is_number, present)) >= 0.9 * len(present)
    filled = cell.lower() not in _MISSING
    return {
        "j": j,
        "numeric": numeric,
        "name_over_numbers": numeric and filled and not _is_number(cell),
        "number_over_numbers": numeric and filled and _is_number(cell),
        "recurs": filled and cell in set(values),
        "data_shaped": filled and not header_like_shape(cell_shape(cell))
        and shape_share(cell, present) >= _COMMON_SHAPE,
    }


def _data_row_reasons(columns: list[dict[str, object]],
                      width: int) -> tuple[bool, tuple[str, ...]]:
    """``(False, why)`` when the numbers, shapes or recurring values say the row is data."""
    numbers = [c["j"] for c in columns if c["number_over_numbers"]]
    if numbers:
        cols = ", ".join(map(str, numbers[:10]))
        return False, (f"the first row holds numbers where the rows below hold numbers "
                       f"(column{'s' if len(numbers) > 1 else ''} {cols}), "
                       "so it looks like data, not column names",)
    shaped = [c["j"] for c in columns if c["data_shaped"]]
    if 2 * len(shaped) >= width:
        return False, (f"in {len(shaped)} of {width} columns the first row's value is shaped "
                       "like the values below it and unlike a column name, so it looks like "
                       "data, not column names",)
    recurring = [c["j"] for c in columns if c["recurs"]]
    if 2 * len(recurring) >= width:
        return False, (f"in {len(recurring)} of {width} columns the first row's value "
                       "recurs in the rows below, so it looks like data, not column names",)
    return True, ()
