"""The named result of :func:`auditkit.privacy.dp.make_private`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.privacy.dp._budget import PrivacyBudget
from auditkit.privacy.dp._modes import ModeDecision
from auditkit.privacy.dp._trail import record_stop

__all__ = ["PrivateTraining"]


@dataclass
class PrivateTraining:
    """What :func:`make_private` returns; use these objects in your training loop.

    Attributes
    ----------
    model:
        The model to train (the same object in book-keeping mode; an Opacus wrapper otherwise).
    optimizer:
        The DP optimizer: clips, adds noise, accounts, then steps your optimizer.
    data_loader:
        A Poisson-sampling loader over the same dataset (variable batch sizes).
    criterion:
        The loss to call as ``criterion(output, target)`` (Opacus ghost clipping needs its own
        wrapper; the other modes return your criterion unchanged).
    budget:
        The :class:`PrivacyBudget`: ``spent()``, ``remaining()``, ``noise_multiplier``,
        ``sample_rate``, ``delta``.
    mode:
        The :class:`ModeDecision`: which clipping path runs and why.
    delta_note:
        How δ was chosen (stated, per the guarantee's terms).
    """

    model: Any
    optimizer: Any
    data_loader: Any
    criterion: Any
    budget: PrivacyBudget
    mode: ModeDecision
    device: Any
    delta_note: str
    dataset_id: str | None = None
    ledger: Any = None
    model_id: str = ""
    replaced_layers: list[tuple[str, str, str]] = field(default_factory=list)
    checkpoint_dir: Path | None = None
    _keeper: Any = None
    _finished: bool = False

    @property
    def epsilon(self) -> float:
        return self.budget.spent()

    @property
    def delta(self) -> float:
        return self.budget.delta

    def save_checkpoint(self, path: str | Path) -> Path:
        """Save weights, optimizer and accountant state; resume with ``resume_from=path``."""
        from auditkit.privacy.dp._checkpoint import save_checkpoint

        return save_checkpoint(path, self)

    def finish(self, status: str = "completed") -> dict[str, Any] | None:
        """Close the run's ledger record with the steps actually taken (idempotent); the end
        is recorded in the audit trail (``train.stop``, with ``status`` as how it ended)."""
        if self._finished:
            return None
        self._finished = True
        if not self._is_writer():
            return None
        closed = None
        if self.ledger is not None:
            closed = self.ledger.update(self.budget.run_id, history=self.budget.history,
                                        status=status)
        record_stop(self, status)
        return closed

    def _is_writer(self) -> bool:
        from auditkit.privacy.dp._distributed import rank

        return rank() == 0

    def close(self) -> None:
        """Finish the run and restore the model's original forward passes."""
        self.finish()
        stop = getattr(self.optimizer, "close", None)
        if callable(stop):
            stop()
        if self._keeper is not None:
            self._keeper.detach()
            self._keeper = None

    def summary(self) -> dict[str, Any]:
        """Everything an audit needs about this run, as plain values."""
        out = self.budget.to_dict()
        out.update(
            {
                "mode": self.mode.mode,
                "mode_reason": self.mode.reason,
                "delta_note": self.delta_note,
                "dataset_id": self.dataset_id,
                "model_id": self.model_id,
                "device": str(self.device),
                "replaced_layers": [list(x) for x in self.replaced_layers],
                "ledger": str(self.ledger.path) if self.ledger is not None else None,
            }
        )
        return out
