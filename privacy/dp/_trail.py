"""Recording private training and its budget in the audit trail (:mod:`auditkit.privacy.trail`).

- ``train.start``: :func:`~auditkit.privacy.dp.make_private` wrapped a run (resource: the budget
  ledger file, when there is one); a refused call records outcome ``error``.
- ``train.stop``: the run ended (:meth:`PrivateTraining.finish`, or stopped at the cap): steps
  taken, ε spent, how it ended.
- ``train.cap`` (outcome ``denied``): the budget cap refused a run, or a step, before
  :class:`~auditkit.privacy.errors.BudgetExceededError` propagates.
- ``ledger.record``: a run's ledger record was created (``stage`` ``reserve``) or closed
  (``close``); ``ledger.settle``: a run was settled. The resource is the ledger file, with the
  SHA-256 it has after the write.

Parameters are numbers and names of modes only: never data, never a key.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from auditkit.privacy import trail
from auditkit.privacy.errors import BudgetExceededError, TrailError

__all__ = ["record_cap", "record_ledger", "record_start", "record_stop", "records_errors", "requires"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _number(x: Any) -> float | None:
    """A finite float for the trail, or None (ε can be infinite)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def ledger_path(ledger: Any) -> str | None:
    """The ledger file of ``ledger`` (a :class:`BudgetLedger` or None) as a resource."""
    return os.fspath(ledger.path) if ledger is not None else None


def record_ledger(action: str, path: Path, **params: Any) -> None:
    """``ledger.record`` / ``ledger.settle`` on the ledger file (its SHA-256 after the write)."""
    sha = trail.file_sha256(path) if path.is_file() else None
    trail.record(action, resource=path, sha256=sha, params=_finite(params))


def record_cap(resource: str | os.PathLike[str] | None, **params: Any) -> None:
    """A refusal by the budget cap (``train.cap``, outcome ``denied``)."""
    trail.record("train.cap", resource=resource, outcome="denied", params=_finite(params))


def _finite(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every float finite or None (the trail refuses inf and NaN)."""
    return {k: _number(v) if isinstance(v, float) else v for k, v in params.items()}


def record_start(private: Any, planned_steps: int, request: Any) -> None:
    """``train.start`` for the run ``make_private`` returned (``request``: its arguments)."""
    budget = private.budget
    trail.record("train.start", resource=ledger_path(private.ledger), params={
        "epsilon_target": _number(budget.target_epsilon),
        "delta": _number(budget.delta),
        "sample_rate": _number(budget.sample_rate),
        "noise_multiplier": _number(budget.noise_multiplier),
        "max_grad_norm": _number(budget.max_grad_norm),
        "steps_planned": int(planned_steps),
        "steps_reserved": budget.reserved_steps,
        "max_epsilon": _number(budget.max_epsilon),
        "on_cap": request.on_cap,
        "accountant": request.accountant,
        "mode": private.mode.mode,
        "secure_mode": bool(budget.secure_mode),
        "run_id": budget.run_id,
        "resumed": bool(budget.steps),
    })


def record_stop(private: Any, how: str) -> None:
    """``train.stop``: the steps the run took, the ε it spent and how it ended."""
    budget = private.budget
    trail.record("train.stop", resource=ledger_path(private.ledger), params={
        "how": how,
        "steps": int(budget.steps),
        "steps_planned": int(budget.planned_steps),
        "epsilon": _number(budget.spent()),
        "delta": _number(budget.delta),
        "run_id": budget.run_id,
    })


def records_errors(action: str, resource: Callable[..., Any] = lambda *a, **k: None
                   ) -> Callable[[_F], _F]:
    """Decorate a budget operation: when it raises (other than a cap refusal, recorded as
    ``train.cap``, or a trail failure), record ``action`` with outcome ``error`` and the
    exception's class name, then re-raise. ``resource(*args, **kwargs)`` names the resource."""

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except (BudgetExceededError, TrailError):
                raise
            except Exception as exc:
                trail.record(action, resource=resource(*args, **kwargs), outcome="error",
                             params={"error": type(exc).__name__})
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


def requires(permission: str) -> Callable[[_F], _F]:
    """Decorate an entry point: an access policy in force must grant ``permission`` to who acts
    (:func:`auditkit.privacy.trail.enforce`; no-op without a policy) before anything runs."""

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            trail.enforce(permission)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
