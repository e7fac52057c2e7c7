"""Exceptions raised by the ``privacy`` package.

Every error a user can cause is a :class:`PrivacyInputError` (also a ``ValueError``) whose
message names the input, says what was expected and what was received, and what to do. The CLI
turns these into exit status 2 without a traceback. Messages never contain a raw value from a
column classified as personal data, nor key material.

- :class:`PrivacyError` — base class.
- :class:`PrivacyInputError` — bad argument, file or configuration.
- :class:`UnknownNameError` — a lookup by name found nothing (e.g. a column of a scan's
  inventory); also a ``KeyError``, so mapping-style code keeps working.
- :class:`BudgetExceededError` — a differentially private run would exceed its ε cap.
- :class:`DecryptionError` — decryption failed (wrong key, tampering, truncation). Deliberately
  opaque: it never says which.
- :class:`TrailError` — the audit trail cannot be written or read (names its directory and the fix).
- :class:`TrailIntegrityError` — an operation needed a verified trail and the trail does not verify.
- :class:`AccessDenied` — a principal lacks the permission an operation needs (recorded in the trail).
- :class:`PolicyError` — an access policy is unsigned, badly signed, malformed, signed by an untrusted
  key, or older than one already seen.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "BudgetExceededError",
    "DecryptionError",
    "PolicyError",
    "PrivacyError",
    "PrivacyInputError",
    "TrailError",
    "TrailIntegrityError",
    "UnknownNameError",
]


class PrivacyError(Exception):
    """Base class of every exception raised by ``privacy``."""


class PrivacyInputError(PrivacyError, ValueError):
    """A user-supplied input is invalid; the message says which and how to fix it."""


class BudgetExceededError(PrivacyError):
    """A run would spend more privacy budget (ε) than remains under the cap."""


class DecryptionError(PrivacyError):
    """Decryption failed. Wrong key, tampering and truncation are deliberately indistinguishable."""

    def __init__(self, message: str = "Decryption failed: wrong key, or the data was altered or truncated.") -> None:
        super().__init__(message)


class UnknownNameError(PrivacyInputError, KeyError):
    """A lookup by name (e.g. a column of a scan's inventory) found nothing.

    Also a ``KeyError``, so ``except KeyError`` around a mapping-style lookup still works; its
    message reads as a sentence (not the quoted repr a plain ``KeyError`` prints).
    """

    __str__ = BaseException.__str__


class TrailError(PrivacyInputError):
    """The audit trail cannot be written or read; the message names its directory and the fix."""


class TrailIntegrityError(PrivacyError):
    """An operation needed a verified audit trail, and the trail does not verify."""


class AccessDenied(PrivacyError):
    """A principal lacks the permission an operation needs; the refusal is recorded in the trail."""


class PolicyError(PrivacyInputError):
    """An access policy is unsigned, badly signed, malformed, untrusted, or older than one seen."""
