"""Whether grouping labels are shaped like people's names or like ids.

The shape tests behind :func:`auditkit._personal.labels_to_pseudonymise` (which decides, with the
PII scan, whether a protected column's labels may be shown) and behind ``auditkit init``'s
refusal to quote a label value. They look at values and the column name only, never write them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["is_person_role", "looks_like_id", "looks_like_id_labels", "looks_like_person",
           "looks_like_person_labels"]

# Roles of people: a column so named holds people, so one capitalised word is a first name.
_PERSON_ROLES = frozenset("""officer reviewer agent employee manager owner user customer staff
    judge doctor teacher name surname forename firstname lastname fullname username person client
    patient student applicant worker clerk nurse physician lawyer assessor underwriter approver
    interviewer recruiter supervisor assignee caseworker examiner representative""".split())
_NAME_WORD = re.compile(r"[^\W\d_]{2,}(?:['’-][^\W\d_]+)*")
_INITIAL = re.compile(r"[^\W\d_]\.?")
_PARTICLES = frozenset("van von de da del der den di du la le bin ibn al ter ten y".split())
# Words of category labels ("Less than 25", "Not in family"), never of names.
_FUNCTION_WORDS = frozenset("""of in and or not than the to with for at by on a an per no non
    under over above below less more greater older younger only other""".split())


def is_person_role(column: str) -> bool:
    """Whether the column name names a person ("officer", "loan_officer", "reviewerName",
    "customers", "first_name"): its last word is a role of people or "name"."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(column)).lower()
    words = [w for w in re.split(r"[^a-z]+", snake) if w]
    if not words:
        return False
    last = words[-1]
    return last in _PERSON_ROLES or (last.endswith("s") and last[:-1] in _PERSON_ROLES)


def looks_like_person(value: object, *, role: bool = False) -> bool:
    """Whether one label is shaped like a person's name: two to four name words or initials in
    one case style ("Alice Johnson", "alice johnson", "ALICE JOHNSON", "Alice M. Johnson",
    "Johnson, Alice", "Anne van Dyke"); with ``role`` (the column names a person role) also
    one capitalised word ("Alice"). Sentence-case labels ("Never married") and labels with
    digits or function words ("Less than 25") are not names."""
    text = str(value).strip()
    if text.count(",") == 1:  # "Last, First"
        last, first = (p.strip() for p in text.split(","))
        if not (last and first):
            return False
        text = f"{first} {last}"
    words = text.split()
    if not words or len(words) > 4:
        return False
    names = [w for w in words if _NAME_WORD.fullmatch(w)]
    if any(w.casefold() in _FUNCTION_WORDS for w in words) or not names or any(
            not (_NAME_WORD.fullmatch(w) or _INITIAL.fullmatch(w)) for w in words):
        return False
    if len(words) == 1:
        return role and words[0][:1].isupper()
    styled = [w for w in names if w.casefold() not in _PARTICLES or w == names[0]]
    return (all(w[:1].isupper() for w in styled) or all(w.islower() for w in styled)
            or all(w.isupper() for w in styled))


def looks_like_id(value: object) -> bool:
    """Whether one label is shaped like an id: one token mixing letters and at least three
    digits ("E-48392", "APP100234"), or a number of five or more digits ("48392",
    "1969-01-10")."""
    text = str(value).strip()
    digits = sum(ch.isdigit() for ch in text)
    if re.fullmatch(r"[\d\s\-./]+", text):
        return digits >= 5
    return " " not in text and digits >= 3 and any(ch.isalpha() for ch in text)


def _distinct_labels(column: pd.Series) -> list[str]:
    return [str(v).strip() for v in column.dropna().unique()]


def looks_like_person_labels(column: pd.Series, name: str = "") -> bool:
    """Whether at least 80% of the distinct labels (any number of them, even one or two) look
    like people's names (:func:`looks_like_person`; one capitalised word counts when ``name``,
    the column name, is a person role: :func:`is_person_role`). The scan recognises names from
    column names only; a grouping column called anything whose labels are names must still not
    be shown. A column of two-word place names is relabelled too, which errs on the safe side."""
    values = _distinct_labels(column)
    role = is_person_role(name)
    return bool(values) and sum(looks_like_person(v, role=role) for v in values) >= 0.8 * len(values)


def looks_like_id_labels(column: pd.Series) -> bool:
    """Whether most (more than half) of the distinct labels look like ids
    (:func:`looks_like_id`)."""
    values = _distinct_labels(column)
    return bool(values) and sum(looks_like_id(v) for v in values) > 0.5 * len(values)
