"""Exceptions raised by :mod:`reports`.

- :class:`ReportError`: base class of every error this package raises on purpose.
- :class:`ReportInputError`: a caller handed something unusable (an unknown format, a signing key
  file readable by other users, a report directory without a manifest, a malformed catalogue
  entry). It is also a :class:`ValueError`. The message names the input, what was expected, what
  was received and what to do; the CLI prints it as one line and exits 2.
- :class:`UnknownProvisionError`: a provision id the regulation catalogue lacks
  (``catalogue[id]``). It is a :class:`ReportInputError` and also a :class:`KeyError`, so the
  catalogue keeps the mapping protocol; its message is the sentence, not a quoted key.

Integrity failures found by :func:`auditkit.reports.signing.verify` are *results*, not exceptions: the
:class:`auditkit.reports.signing.VerifyResult` names every file that was altered.
"""

from __future__ import annotations

__all__ = ["ReportError", "ReportInputError", "UnknownProvisionError"]


class ReportError(Exception):
    """Base class of the errors raised by :mod:`reports`."""


class ReportInputError(ReportError, ValueError):
    """A caller-supplied input is unusable; the message says which and how to fix it."""


class UnknownProvisionError(ReportInputError, KeyError):
    """A provision id the regulation catalogue lacks; the message suggests the closest id."""

    # KeyError would print the message quoted, as a key; print it as the sentence it is.
    __str__ = ReportInputError.__str__
