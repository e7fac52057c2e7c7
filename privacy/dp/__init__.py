"""Differentially private training around any PyTorch loop: fast, budgeted, audited.

Opacus is the engine; this package adds a goal-level entry point, a fast clipping path chosen
for the model, a privacy budget tracked across runs and enforced, and evidence for audits.

>>> from privacy.dp import make_private, fit                       # doctest: +SKIP
>>> private = make_private(model, optimizer, loader, target_epsilon=3, epochs=5,
...                        ledger="budgets/", max_epsilon=8)       # doctest: +SKIP
>>> fit(private, epochs=5)                                         # doctest: +SKIP

Public names
------------
- :func:`make_private`, :class:`PrivateTraining`, :class:`PrivacyBudget`, :func:`fit`,
  :class:`FitResult`: wrap and train.
- :class:`BudgetLedger`: the per-dataset budget file.
- :func:`epsilon`, :func:`noise_for_epsilon`, :data:`ACCOUNTANTS`,
  :func:`register_accountant`: accounting.
- :func:`select_mode`, :func:`check_layers`, :class:`ModeDecision`,
  :class:`UnsupportedLayer`: clipping-mode choice and layer checks.
- :func:`membership_inference`, :class:`AttackResult`: empirical privacy check.
- :func:`save_checkpoint`, :func:`load_checkpoint`: checkpoints with accountant state.
- :class:`DeltaWarning`, :func:`default_delta`, :func:`dataset_fingerprint`.

Nothing here imports torch or opacus until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ACCOUNTANTS",
    "AttackResult",
    "BudgetLedger",
    "DeltaWarning",
    "FitResult",
    "ModeDecision",
    "PrivacyBudget",
    "PrivateTraining",
    "UnsupportedLayer",
    "check_layers",
    "dataset_fingerprint",
    "default_delta",
    "epsilon",
    "fit",
    "load_attack_results",
    "load_checkpoint",
    "make_private",
    "membership_inference",
    "noise_for_epsilon",
    "register_accountant",
    "save_attack_results",
    "save_checkpoint",
    "select_mode",
]

_WHERE = {
    "ACCOUNTANTS": "_accounting",
    "epsilon": "_accounting",
    "noise_for_epsilon": "_accounting",
    "register_accountant": "_accounting",
    "AttackResult": "_attack",
    "membership_inference": "_attack",
    "save_attack_results": "_attack",
    "load_attack_results": "_attack",
    "BudgetLedger": "_ledger",
    "DeltaWarning": "_engine",
    "PrivateTraining": "_engine",
    "dataset_fingerprint": "_engine",
    "default_delta": "_engine",
    "make_private": "_engine",
    "FitResult": "_fit",
    "fit": "_fit",
    "ModeDecision": "_modes",
    "UnsupportedLayer": "_modes",
    "check_layers": "_modes",
    "select_mode": "_modes",
    "PrivacyBudget": "_budget",
    "save_checkpoint": "_checkpoint",
    "load_checkpoint": "_checkpoint",
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'privacy.dp' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"privacy.dp.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
