"""The values a report holds: scalars, and the cells of its tables.

A scalar is text, a number, yes/no or nothing. A table cell is a scalar or, since schema 1.2,
a tuple of texts: the label of a group of an intersection of attributes, one text per
attribute (``("F", "Black")``; a JSON array of strings). The tuple keeps each level whole,
whatever separator it contains; :func:`cell_text` joins the parts for people to read.

>>> clean_cell(("F", "Black")), cell_text(("F", "Black"))
(('F', 'Black'), 'F × Black')
>>> clean_cell(float("nan")) is None
True
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["PART_SEPARATOR", "Cell", "Scalar", "cell_text", "clean_cell", "clean_scalar"]

Scalar = str | int | float | bool | None
#: A table cell: a scalar, or the parts of an intersection's group label.
Cell = Scalar | tuple[str, ...]

#: How :func:`cell_text` joins the parts of a tuple cell.
PART_SEPARATOR = " × "


def clean_scalar(value: Any) -> Scalar:
    """Convert numpy scalars and non-finite floats into JSON-safe values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def clean_cell(value: Any) -> Cell:
    """A table cell: a tuple stays a tuple of texts (one per part); anything else a scalar."""
    if isinstance(value, tuple):
        return tuple(str(part) for part in value)
    return clean_scalar(value)


def cell_text(value: Any) -> Any:
    """A tuple cell's parts joined by ``" × "``; any other value unchanged."""
    return PART_SEPARATOR.join(value) if isinstance(value, tuple) else value
