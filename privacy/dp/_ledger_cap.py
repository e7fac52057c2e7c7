"""The dataset's ε cap: how many steps a run may reserve in the budget ledger.

A ledger may carry a cap on the total ε spent on its dataset (``max_epsilon``). A cap can only
tighten: a run asking for a looser one keeps the ledger's. Before a run is recorded its planned
steps are composed with every run already counted; a dataset whose budget is spent refuses
every run, and a run that would pass the cap is refused (``on_cap="refuse"``) or reserved at the
most steps that fit (``on_cap="stop"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.privacy.dp._accounting import epsilon, max_steps_within
from auditkit.privacy.errors import BudgetExceededError

__all__ = ["PlannedRun", "steps_within_cap", "tighten_cap"]


@dataclass(frozen=True)
class PlannedRun:
    """A run asking for a reservation: its noise, sample rate and planned steps, accounted at
    ``delta`` with ``accountant``."""

    noise_multiplier: float
    sample_rate: float
    planned_steps: int
    delta: float
    accountant: str

    def composed_with(self, prior: list[tuple[float, float, int]], steps: int) -> list[tuple[float, float, int]]:
        """``prior`` followed by ``steps`` steps of this run."""
        return prior + [(self.noise_multiplier, self.sample_rate, steps)]


def tighten_cap(data: dict[str, Any], max_epsilon: float | None) -> float | None:
    """Apply a run's ``max_epsilon`` to the ledger document (a cap can only tighten); the cap
    in force."""
    if max_epsilon is not None:
        if data.get("max_epsilon") is None or max_epsilon < data["max_epsilon"]:
            data["max_epsilon"] = max_epsilon
    return data.get("max_epsilon")


def steps_within_cap(
    cap: float | None,
    prior: list[tuple[float, float, int]],
    run: PlannedRun,
    on_cap: str,
    where: tuple[str, Path],
) -> int | None:
    """The most steps ``run`` may reserve under ``cap`` after ``prior``: ``None`` when there is
    no cap or the planned steps fit, fewer steps with ``on_cap="stop"``. Raises
    :class:`BudgetExceededError` when the budget is spent, or the run does not fit and
    ``on_cap="refuse"`` (or no step fits). ``where`` is ``(dataset_id, ledger path)``, for the
    message."""
    if cap is None:
        return None
    dataset_id, path = where
    spent = epsilon(prior, run.delta, run.accountant)
    if spent >= cap:
        raise BudgetExceededError(
            f"The privacy budget of dataset {dataset_id!r} is spent: ε={spent:.3f} "
            f"of the cap {cap:g} is used ({path}). No further training on this "
            "dataset is allowed under this cap."
        )
    after = epsilon(run.composed_with(prior, run.planned_steps), run.delta, run.accountant)
    if after <= cap:
        return None
    max_steps = max_steps_within(
        cap, run.delta, run.noise_multiplier, run.sample_rate, run.accountant, prior=prior
    )
    if on_cap == "refuse" or max_steps == 0:
        raise BudgetExceededError(
            f"This run would exceed the privacy budget of dataset "
            f"{dataset_id!r}: {cap - spent:.3f} of ε={cap:g} remains "
            f"(ε={spent:.3f} spent), and {run.planned_steps} steps at noise "
            f"{run.noise_multiplier:.4g} and sample rate {run.sample_rate:.4g} would bring "
            f"the total to ε={after:.3f} (a cost of {after - spent:.3f}). At most "
            f"{max_steps} steps fit. Lower target_epsilon, train fewer epochs, or "
            "pass on_cap='stop' to stop at the cap."
        )
    return max_steps
