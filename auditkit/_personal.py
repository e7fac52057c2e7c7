"""Which columns of the audit dataset hold personal data.

The answer drives the toolkit's own privacy: no report, log or error may carry a raw value from
these columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["classify_personal_columns"]

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
