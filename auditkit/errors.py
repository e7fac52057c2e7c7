"""Exceptions of the ``auditkit`` runner and CLI.

Every mistake a user can make raises an :class:`AuditkitError` subclass whose message names the
input, says what was expected and what to do. The CLI prints that message on one line and exits
with status 2; ``--debug`` adds the traceback.

- :class:`AuditkitError` — base class; also a ``ValueError``.
- :class:`ConfigError` — ``audit.toml`` is unreadable, not TOML, or fails validation.
- :class:`UnknownCheckError` — no check is registered under an id (also a ``KeyError``).
- :class:`DataError` — the dataset is missing, unreadable, empty, or lacks a named column.
- :class:`UnknownColumnError` — a lookup by column name found nothing (also a ``KeyError``).
- :class:`ModelError` — the model file is missing, of the wrong kind, or untrusted pickle.
- :class:`OutputError` — the output directory cannot be written.
- :class:`PersonalDataLeakError` — the findings model (what every format is rendered from) held
  a personal-data value (a defect, not a user error; nothing is written, exit status 3).

:class:`ExitCode` is the one table of exit statuses every command uses (README, "Exit status").

The domain packages keep their own vocabularies (``auditkit.privacy.errors``, ``auditkit.fairness.errors``,
``auditkit.explain.errors``, ``auditkit.reports.errors``); :func:`is_user_error` knows them all.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "AuditkitError",
    "ExitCode",
    "ConfigError",
    "UnknownCheckError",
    "DataError",
    "UnknownColumnError",
    "ModelError",
    "OutputError",
    "PersonalDataLeakError",
    "is_user_error",
]


class ExitCode(IntEnum):
    """Exit statuses of every ``auditkit`` command; CI must treat anything but 0 as a failure.

    - ``OK`` (0): the command did its job; for ``run``, ``gate`` and ``monitor`` every finding
      passed or warned.
    - ``FAILED`` (1): a finding failed (``run``, ``gate``, ``monitor``), or ``verify`` found a
      file altered, missing or added.
    - ``USAGE`` (2): refused before anything ran: a bad argument or input, named in one line.
    - ``INCOMPLETE`` (3): the command did not complete: a check errored (the report is still
      written, with the errored findings marked), the personal-data guard refused to write, or
      an internal error.
    - ``UNTRUSTED`` (4): ``verify`` found the files intact but signed by a key that is neither
      pinned nor in the trust store.
    """

    OK = 0
    FAILED = 1
    USAGE = 2
    INCOMPLETE = 3
    UNTRUSTED = 4


class AuditkitError(ValueError):
    """Base class for user-facing errors of the runner and CLI."""


class ConfigError(AuditkitError):
    """The audit configuration is unreadable or invalid."""


class UnknownCheckError(ConfigError, KeyError):
    """No check is registered under this id. Also a ``KeyError`` (a lookup by name); its
    message reads as a sentence, not the quoted repr a plain ``KeyError`` prints."""

    __str__ = BaseException.__str__


class DataError(AuditkitError):
    """The dataset cannot be used as configured."""


class UnknownColumnError(DataError, KeyError):
    """A lookup by column name found nothing. Also a ``KeyError`` (mapping-style lookups); its
    message reads as a sentence, not the quoted repr a plain ``KeyError`` prints."""

    __str__ = BaseException.__str__


class ModelError(AuditkitError):
    """The model cannot be loaded as configured."""


class OutputError(AuditkitError):
    """Outputs cannot be written where asked."""


class PersonalDataLeakError(RuntimeError):
    """The findings model held a raw personal-data value; nothing was written.

    Not a user error: it means a check emitted a value it must not. The message names the
    columns and the places (section, finding, table, row, column), never the values.
    """


# (module, class) pairs of the domain packages' user-error types.
_DOMAIN_USER_ERRORS = (
    ("auditkit.privacy.errors", "PrivacyInputError"),
    ("auditkit.privacy.errors", "BudgetExceededError"),
    ("auditkit.privacy.errors", "DecryptionError"),
    ("auditkit.privacy.errors", "AccessDenied"),
    ("auditkit.privacy.errors", "TrailIntegrityError"),
    ("auditkit.fairness.errors", "FairnessInputError"),
    ("auditkit.explain.errors", "ExplainInputError"),
    ("auditkit.reports.errors", "ReportInputError"),
    ("auditkit.tensorboard_log", "TensorBoardUnavailable"),
    ("auditkit.tensorboard_log", "TensorBoardLogError"),
)


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a user mistake (exit 2, no traceback) rather than a bug."""
    if isinstance(exc, (AuditkitError, FileNotFoundError, PermissionError, IsADirectoryError,
                        NotADirectoryError)):
        return True
    # Compare by (module, name) along the MRO: no domain package is imported to decide.
    return any((cls.__module__, cls.__name__) in _DOMAIN_USER_ERRORS for cls in type(exc).__mro__)
