"""Exceptions raised by the ``fairness`` package.

Every error a user can cause is a :class:`FairnessInputError` (also a ``ValueError``) whose
message names the input, says what was expected and what was received, and what to do. The CLI
turns these into exit status 2 without a traceback. Messages never quote values of the data:
they name columns, counts and positions.

- :class:`FairnessError` — base class.
- :class:`FairnessInputError` — bad argument, data, threshold or configuration: length
  mismatches, non-binary labels where binary metrics are asked, a single class present, all-NaN
  columns, unknown metric names (with the closest valid name suggested), thresholds on metrics
  that were not computed.
- :class:`UnfairError` — raised by :func:`auditkit.fairness.assert_fair` (an ``AssertionError``) when a
  threshold fails; its message is the table of offending groups with their intervals.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["FairnessError", "FairnessInputError", "UnfairError", "closest"]


class FairnessError(Exception):
    """Base class of every exception raised by ``fairness``."""


class FairnessInputError(FairnessError, ValueError):
    """A user-supplied input is invalid; the message says which and how to fix it."""


class UnfairError(FairnessError, AssertionError):
    """A fairness threshold failed in :func:`auditkit.fairness.assert_fair`."""


def closest(name: str, options: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest option, or an empty string."""
    found = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.5)
    return f" Did you mean {found[0]!r}?" if found else ""
