"""Exceptions raised by the ``fairness`` package.

Every error a user can cause is a :class:`FairnessInputError` (also a ``ValueError``) whose
message names the input, says what was expected and what was received, and what to do. The CLI
turns these into exit status 2 without a traceback. Messages never quote values of the data:
they name columns, counts and positions.

- :class:`FairnessError` — base class.
- :class:`FairnessInputError` — bad argument, data, threshold or configuration: length
  mismatches, non-binary labels where binary metrics are asked, a single class present, all-NaN
  columns, unknown metric names (with the closest valid name suggested by
  :func:`auditkit.hints.did_you_mean`), thresholds on metrics that were not computed.
- :class:`UnfairError` — raised by :func:`auditkit.fairness.assert_fair` (an ``AssertionError``) when a
  threshold fails; its message is the table of offending groups with their intervals.
"""

from __future__ import annotations

__all__ = ["FairnessError", "FairnessInputError", "UnfairError"]


class FairnessError(Exception):
    """Base class of every exception raised by ``fairness``."""


class FairnessInputError(FairnessError, ValueError):
    """A user-supplied input is invalid; the message says which and how to fix it."""


class UnfairError(FairnessError, AssertionError):
    """A fairness threshold failed in :func:`auditkit.fairness.assert_fair`."""

