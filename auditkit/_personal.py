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

__all__ = ["classify_personal_columns"]

_NAME_HINTS = re.compile(
    r"(^|_)(name|first_?name|last_?name|surname|full_?name|email|e_?mail|phone|mobile|tel|ssn|"
    r"social_security|card|credit_?card|iban|account|address|street|city|zip|zipcode|postcode|"
    r"postal|dob|birth|birthdate|date_of_birth|ip|ip_address|passport|licen[cs]e)($|_)",
    re.IGNORECASE,
)


def classify_personal_columns(df: pd.DataFrame, declared: Iterable[str] = ()) -> frozenset[str]:
    """Columns declared personal in the config, plus those whose names say so."""
    found = {str(c) for c in declared}
    for col in df.columns:
        name = re.sub(r"[^0-9a-zA-Z]+", "_", str(col)).strip("_")
        if _NAME_HINTS.search(name):
            found.add(str(col))
    return frozenset(found)
