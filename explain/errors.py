"""Exceptions raised by :mod:`explain`.

One vocabulary for the whole package:

``ExplainError``
    Base class of every error this package raises on purpose.
``ExplainInputError(ExplainError, ValueError)``
    The caller handed something unusable: a model without ``predict``/``predict_proba``, feature
    names that do not match the model, non-numeric columns without a Pipeline that encodes them,
    an unknown explainer method, individuals that are not in the data, an option out of range.
    The message names the input, what was expected, what was received and what to do.
``ExplainerUnavailableError(ExplainError, ImportError)``
    An optional engine (``shap``, ``lime``, ``torch``) is not installed.

No message ever contains a value taken from the data: columns are named, rows are referred to
by their index label or position, values are not repeated back.
"""

from __future__ import annotations

__all__ = ["ExplainError", "ExplainInputError", "ExplainerUnavailableError"]


class ExplainError(Exception):
    """Base class of the errors raised by :mod:`explain`."""


class ExplainInputError(ExplainError, ValueError):
    """A user-supplied input (model, data, option) cannot be used; the message says why."""


class ExplainerUnavailableError(ExplainError, ImportError):
    """An optional dependency of the chosen explainer is not installed."""


def require(module: str, extra: str = "explain"):  # noqa: ANN201 - returns a module
    """Import an optional engine or raise :class:`ExplainerUnavailableError` saying what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ExplainerUnavailableError(
            f"The explainer needs the optional package {module.split('.')[0]!r}, which is not "
            f"installed. Install it with: pip install 'auditkit-rai[{extra}]'."
        ) from exc
