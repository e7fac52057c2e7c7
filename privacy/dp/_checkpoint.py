"""Checkpoints that carry the privacy accounting with the weights.

A checkpoint holds the model's and optimizer's state, the accountant's history and the run's
terms (σ, q, δ, C, accountant, ledger run id). Resuming from it (``make_private(...,
resume_from=path)``) continues the same accounting and the same ledger record, so ε after the
resumed run equals ε of one uninterrupted run with the same steps.

Written atomically (temporary file, fsync, rename); read with ``torch.load(weights_only=True)``
so a checkpoint cannot execute code.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from auditkit.atomic import atomic_write_bytes
from auditkit.privacy.errors import PrivacyInputError

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "auditkit.dp.checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike[str], private: Any, extra: dict[str, Any] | None = None) -> Path:
    """Save ``private`` (a :class:`~auditkit.privacy.dp.PrivateTraining`) to ``path``; returns the path."""
    import torch

    from auditkit.privacy.dp._distributed import unwrap

    b = private.budget
    state = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": unwrap(private.model).state_dict(),
        "optimizer": private.optimizer.original_optimizer.state_dict(),
        "accountant": {"mechanism": b.accountant, "history": [list(h) for h in b.history]},
        "run": {
            "run_id": b.run_id,
            "dataset_id": private.dataset_id,
            "ledger": str(private.ledger.path) if private.ledger is not None else None,
            "noise_multiplier": b.noise_multiplier,
            "sample_rate": b.sample_rate,
            "delta": b.delta,
            "max_grad_norm": b.max_grad_norm,
            "planned_steps": b.planned_steps,
            "target_epsilon": b.target_epsilon,
            "mode": private.mode.mode,
            "steps": b.steps,
        },
        "extra": dict(extra or {}),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(p, buf.getvalue())
    return p


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a checkpoint written by :func:`save_checkpoint`."""
    import pickle

    import torch

    p = Path(path)
    if not p.is_file():
        raise PrivacyInputError(
            f"The 'resume_from' checkpoint {p} does not exist; pass the path that "
            "save_checkpoint wrote."
        )
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as exc:
        raise PrivacyInputError(
            f"The checkpoint {p} cannot be read ({type(exc).__name__}); it is corrupt or not a "
            "auditkit.privacy.dp checkpoint."
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise PrivacyInputError(
            f"The file {p} is not a auditkit.privacy.dp checkpoint (expected format {CHECKPOINT_FORMAT!r})."
        )
    if state.get("version") != CHECKPOINT_VERSION:
        raise PrivacyInputError(
            f"The checkpoint {p} has version {state.get('version')!r}; this toolkit reads "
            f"version {CHECKPOINT_VERSION}."
        )
    accountant = state.get("accountant") or {}
    if not isinstance(accountant.get("history"), list) or not isinstance(accountant.get("mechanism"), str):
        raise PrivacyInputError(f"The checkpoint {p} has no valid accountant state.")
    return state
