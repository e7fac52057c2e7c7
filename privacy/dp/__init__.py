"""Differentially private training around any PyTorch loop: fast, budgeted, audited.

Opacus is the engine; this package adds a goal-level entry point, a fast clipping path chosen
for the model, a privacy budget tracked across runs and enforced, and evidence for audits.

>>> from auditkit.privacy.dp import make_private, fit                       # doctest: +SKIP
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
- :class:`AccountantFallbackWarning`: an accountant too large for memory was replaced by RDP.
- :func:`micro_batches`: split a logical (Poisson) batch for gradient accumulation.
- :func:`sequence_loss`: per-sample losses of sequence models (causal LM, token and sequence
  classification); :class:`PrivateTrainer`: a Hugging Face ``Trainer`` that keeps Poisson
  sampling and counts logical steps (needs ``transformers``).
- :func:`check_clipping`, :class:`ClippingCheck`: run the engine against brute-force
  per-sample clipping on your own model; :class:`StepWatch`: the first steps' parameter check.
- :func:`rule_for`, :func:`supported_types`: the book-keeping rule of a layer.

Nothing here imports torch or opacus until a name that needs them is used.
"""

import lazy_loader as _lazy

# The names and the private modules they live in are listed once, in ``__init__.pyi``.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
