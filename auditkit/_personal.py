"""Which columns of the audit dataset hold personal data.

The answer drives the toolkit's own privacy: no report, log or error may carry a raw value from
these columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "MAX_CATEGORY_LABELS",
    "classify_personal_columns",
    "labels_to_pseudonymise",
    "pseudonymise_labels",
]

#: A grouping column with at most this many distinct values holds category labels.
MAX_CATEGORY_LABELS = 50

# Rows the PII scan reads: enough for stable shares, fast on wide frames.
_SCAN_ROWS = 2_000
# Quasi-identifier types whose values single people out on their own; sex, age and coarse
# locations are left out so that fairness and explanation reports can still name groups.
_IDENTIFYING_QUASI = frozenset({"ZIP_CODE", "DATE_OF_BIRTH", "GEO_COORDINATE"})


def classify_personal_columns(df: pd.DataFrame, declared: Iterable[str] = ()) -> frozenset[str]:
    """Columns declared personal in the config, plus those the PII scan classifies as personal.

    The scan (``auditkit.privacy.masking.scan``) reads a sample of rows and confirms values with each
    entity's validator and the column name: direct identifiers, credentials, financial data,
    free text with embedded entities, and identifying quasi-identifiers (ZIP code, date of
    birth, precise coordinates).
    """
    from auditkit.privacy.masking import scan

    found = {str(c) for c in declared}
    if len(df.columns) == 0 or len(df) == 0:
        return frozenset(found)
    inv = scan(df, sample_rows=_SCAN_ROWS)
    found.update(inv.identifier_columns)
    found.update(c.column for c in inv if c.entity in _IDENTIFYING_QUASI)
    return frozenset(found)


def labels_to_pseudonymise(frame: pd.DataFrame) -> frozenset[str]:
    """Grouping columns (protected attributes) whose labels must not be shown as they are.

    Category labels ("Female", "Caucasian", "25-34") are not identifiers and are shown. A
    column with more than :data:`MAX_CATEGORY_LABELS` distinct values, or one the PII scan
    classes as an identifier (names, ids, contacts), is shown as stable pseudonymous labels
    instead (:func:`pseudonymise_labels`).
    """
    small = [c for c in frame.columns if frame[c].nunique(dropna=True) <= MAX_CATEGORY_LABELS]
    identifiers: set[str] = set()
    if small and len(frame):
        from auditkit.privacy.masking import scan

        identifiers = set(scan(frame[small].astype("string"), sample_rows=_SCAN_ROWS)
                          .identifier_columns)
    return frozenset(str(c) for c in frame.columns
                     if c not in small or str(c) in identifiers or _looks_like_names(frame[c]))


# "Alice Johnson", "O'Brien Mary-Kate": two to four capitalised words of letters.
_PERSON_NAME = re.compile(r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*"
                          r"(?:\s+[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*){1,3}")


def _looks_like_names(column: pd.Series) -> bool:
    """Whether most distinct labels are shaped like people's names (two to four capitalised
    words). The scan recognises names from column names only; a grouping column called
    anything ("owner", "agent") whose labels are names must still not be shown. Category
    labels are mostly one word ("Female", "Caucasian") or not all capitalised ("Greater than
    45"); a column of two-word place names is relabelled too, which errs on the safe side."""
    values = [str(v).strip() for v in column.dropna().unique()]
    if len(values) < 3:
        return False
    shaped = sum(bool(_PERSON_NAME.fullmatch(v)) and all(w[:1].isupper() for w in v.split())
                 for v in values)
    return shaped >= 0.8 * len(values)


def pseudonymise_labels(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy of ``frame`` whose ``columns`` hold ``group 1`` .. ``group k`` instead of their
    values (numbered in sorted order of the values, so stable for the same data; missing
    values stay missing). The mapping is never written anywhere."""
    out = frame.copy()
    for c in columns:
        values = sorted(out[c].dropna().unique(), key=str)
        out[c] = out[c].map({v: f"group {i + 1}" for i, v in enumerate(values)})
    return out
