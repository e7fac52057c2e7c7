"""The privacy budget of one private training run, and the step guard that enforces a cap."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from auditkit.privacy.dp._accounting import epsilon, max_steps_within, merge_history
from auditkit.privacy.errors import BudgetExceededError

__all__ = ["PrivacyBudget"]


class PrivacyBudget:
    """What a run spends and may still spend.

    Attributes
    ----------
    noise_multiplier, sample_rate, delta, accountant, max_grad_norm:
        The mechanism's terms (σ, q, δ, accountant name, clipping norm C).
    target_epsilon:
        The ε this run was calibrated for (``None`` when the noise was given directly).
    max_epsilon:
        The cap on the dataset's total ε (ledger), or ``None``.
    planned_steps:
        Steps the noise was calibrated for (epochs × steps per epoch).
    """

    def __init__(
        self,
        *,
        accountant_obj: Any,
        accountant: str,
        noise_multiplier: float,
        sample_rate: float,
        delta: float,
        max_grad_norm: float,
        target_epsilon: float | None,
        planned_steps: int,
        reserved_steps: int | None,
        steps_per_epoch: int,
        max_epsilon: float | None = None,
        ledger: Any = None,
        run_id: str | None = None,
        secure_mode: bool = False,
        prior_history: list[tuple[float, float, int]] | None = None,
        is_writer: bool = True,
        broadcast: Callable[[Any], Any] = lambda x: x,
    ) -> None:
        self._acc = accountant_obj
        self.accountant = accountant
        self.noise_multiplier = float(noise_multiplier)
        self.sample_rate = float(sample_rate)
        self.delta = float(delta)
        self.max_grad_norm = float(max_grad_norm)
        self.target_epsilon = target_epsilon
        self.planned_steps = int(planned_steps)
        self.reserved_steps = reserved_steps
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.max_epsilon = max_epsilon
        self.ledger = ledger
        self.run_id = run_id
        self.secure_mode = secure_mode
        self._prior = list(prior_history or [])
        self._is_writer = is_writer
        self._broadcast = broadcast
        self._cache: tuple[tuple, float] | None = None
        self.on_cap: Callable[[], str | None] = lambda: None
        self.stopped_at_cap = False

    # -- reading --------------------------------------------------------------------------
    @property
    def history(self) -> list[tuple[float, float, int]]:
        """This run's ``(noise_multiplier, sample_rate, steps)`` history so far."""
        return merge_history(self._acc.history)

    @property
    def steps(self) -> int:
        return sum(n for _, _, n in self.history)

    def spent(self) -> float:
        """ε spent by this run so far, at this run's δ."""
        key = tuple(self.history)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, epsilon(list(key), self.delta, self.accountant))
        return self._cache[1]

    def total_spent(self) -> float:
        """ε of everything recorded for the dataset (other runs in the ledger) plus this run."""
        if not self._prior:
            return self.spent()
        return epsilon(self._prior + self.history, self.delta, self.accountant)

    def remaining(self) -> float | None:
        """What is left: ``max_epsilon`` minus :meth:`total_spent` when there is a cap, else
        ``target_epsilon`` minus :meth:`spent`; ``None`` when neither is set."""
        if self.max_epsilon is not None:
            return max(0.0, self.max_epsilon - self.total_spent())
        if self.target_epsilon is not None:
            return max(0.0, self.target_epsilon - self.spent())
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "epsilon": self.spent(),
            "delta": self.delta,
            "accountant": self.accountant,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "steps": self.steps,
            "planned_steps": self.planned_steps,
            "max_grad_norm": self.max_grad_norm,
            "target_epsilon": self.target_epsilon,
            "max_epsilon": self.max_epsilon,
            "secure_mode": self.secure_mode,
        }

    def __repr__(self) -> str:
        return (
            f"PrivacyBudget(epsilon={self.spent():.3f}, delta={self.delta:.3g}, "
            f"accountant={self.accountant!r}, noise_multiplier={self.noise_multiplier:.4g}, "
            f"sample_rate={self.sample_rate:.4g}, steps={self.steps})"
        )

    # -- the step hook --------------------------------------------------------------------
    def _allowed_more(self) -> int:
        """Extend the reservation when the run goes past it; returns steps now allowed."""
        taken = self.steps
        if self.ledger is not None:
            new = None
            if self._is_writer:
                new = self.ledger.extend(
                    self.run_id,
                    history=self.history,
                    noise_multiplier=self.noise_multiplier,
                    sample_rate=self.sample_rate,
                    more_steps=self.steps_per_epoch,
                )
            new = self._broadcast(new)
        elif self.max_epsilon is not None:
            fit = max_steps_within(
                self.max_epsilon, self.delta, self.noise_multiplier, self.sample_rate,
                self.accountant, prior=self._prior + self.history,
            )
            new = taken + min(fit, self.steps_per_epoch)
        else:
            new = taken + self.steps_per_epoch
        self.reserved_steps = new
        return new - taken

    def step_hook(self, optimizer: Any) -> None:
        """Attached to the DP optimizer: runs after noising, before the parameter update."""
        if self.stopped_at_cap:
            self._record_cap("stopped")
            raise BudgetExceededError(
                "This run already stopped at its privacy-budget cap; no further steps are "
                "allowed."
            )
        if self.reserved_steps is not None and self.steps + 1 > self.reserved_steps:
            if self._allowed_more() <= 0:
                self.stopped_at_cap = True
                spent = self.total_spent()
                self._record_cap("step", spent)
                where = self.on_cap()
                raise BudgetExceededError(
                    f"Privacy budget cap reached: the next step would take the total past "
                    f"ε={self.max_epsilon:g} (spent: ε={spent:.3f} after {self.steps} steps). "
                    "Training stopped before applying that step"
                    + (f"; the model, optimizer and accountant state are saved in {where}." if where else ".")
                )
        self._acc.step(
            noise_multiplier=optimizer.noise_multiplier,
            sample_rate=self.sample_rate * getattr(optimizer, "accumulated_iterations", 1),
        )
        if (
            self.ledger is not None
            and self._is_writer
            and self.steps % self.steps_per_epoch == 0
        ):
            self.ledger.update(self.run_id, history=self.history, planned_steps=self.reserved_steps)

    def _record_cap(self, reason: str, spent: float | None = None) -> None:
        """The cap's refusal of a step, in the audit trail (the writing process only)."""
        if not self._is_writer:
            return
        from auditkit.privacy.dp._trail import ledger_path, record_cap

        record_cap(ledger_path(self.ledger), reason=reason, max_epsilon=self.max_epsilon,
                   epsilon_total=spent, steps=self.steps, run_id=self.run_id)

    @staticmethod
    def finite(x: float) -> float | None:
        return x if math.isfinite(x) else None
