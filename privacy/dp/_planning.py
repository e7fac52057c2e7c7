"""Planning a private run: its budget ledger, δ, noise and reservation.

The middle phases of :func:`~auditkit.privacy.dp.make_private`, in the order it calls them:

- :func:`open_ledger`: the dataset's :class:`~auditkit.privacy.dp._ledger.BudgetLedger`, if any.
- :func:`choose_delta`: δ and the sentence saying where it came from (:class:`Delta`).
- :func:`check_cap_storage`: a cap needs somewhere to save the state when it is reached.
- :func:`plan_noise`: the noise multiplier, solved for ε or resumed (:class:`RunPlan`).
- :func:`reserve_run`: the run's steps reserved in the ledger, or checked against the cap in
  memory (:class:`Reservation`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.privacy.dp import _distributed as dist
from auditkit.privacy.dp._accounting import epsilon, max_steps_within, noise_for_epsilon
from auditkit.privacy.dp._arguments import Sampling, TrainingRequest
from auditkit.privacy.dp._data import DeltaWarning, dataset_fingerprint, default_delta
from auditkit.privacy.dp._ledger_cap import PlannedRun
from auditkit.privacy.dp._trail import record_cap
from auditkit.privacy.errors import BudgetExceededError, PrivacyInputError

__all__ = [
    "Delta",
    "Reservation",
    "RunPlan",
    "check_cap_storage",
    "choose_delta",
    "open_ledger",
    "plan_noise",
    "reserve_run",
]

History = list[tuple[float, float, int]]


@dataclass(frozen=True)
class Delta:
    """δ of the run and how it was chosen (stated in the result, per the guarantee's terms)."""

    value: float
    note: str


@dataclass(frozen=True)
class RunPlan:
    """What the run is planned as: its noise, its steps, the history it resumes (empty for a
    new run), its ε target, and the ledger run it continues (``None`` for a new run)."""

    noise_multiplier: float
    planned_steps: int
    history: History = field(default_factory=list)
    target_epsilon: float | None = None
    resumed_run_id: str | None = None


@dataclass(frozen=True)
class Reservation:
    """The run's place in the budget: its ledger run id, the steps it may take (``None``: no
    limit), the other runs' history, the cap in force, and whether this process writes."""

    run_id: str | None
    reserved_steps: int | None
    prior: History
    max_epsilon: float | None
    writer: bool


def open_ledger(
    ledger: Any, keyring: Any, dataset_id: str | None, state: dict[str, Any] | None, dataset: Any
) -> Any:
    """The budget ledger ``make_private`` records to (``None`` without one).

    ``ledger`` is a directory or a :class:`BudgetLedger`; ``dataset_id`` defaults to the resumed
    checkpoint's (``state``), else to a content hash of ``dataset``. A ``keyring``
    authenticates it, and needs a ledger.
    """
    from auditkit.privacy.dp._ledger import BudgetLedger

    if keyring is not None and ledger is None:
        raise PrivacyInputError(
            "The 'keyring' parameter of make_private authenticates the budget ledger; pass "
            "ledger=<directory> with it."
        )
    if ledger is None:
        return None
    if not isinstance(ledger, BudgetLedger):
        resumed = state["run"]["dataset_id"] if state else None
        chosen = dataset_id or resumed or dataset_fingerprint(dataset)
        return BudgetLedger(ledger, chosen, keyring=keyring)
    if keyring is not None and ledger.keyring is None:
        return BudgetLedger(ledger.directory, ledger.dataset_id, keyring=keyring)
    if keyring is not None and ledger.keyring != keyring:
        raise PrivacyInputError(
            "make_private got one key ring in 'keyring' and another in the BudgetLedger "
            "passed as 'ledger'; pass the ring once."
        )
    return ledger


def choose_delta(
    target_delta: Any, state: dict[str, Any] | None, ledger: Any, n: int, accountant: str
) -> Delta:
    """δ: as given (warned when not below 1/n), else the checkpoint's, the ledger's, or the
    default 1/(10n) rounded down. An existing ledger must compose at this δ with
    ``accountant`` (budgets on one ledger compose on one set of terms)."""
    existing = ledger.load() if ledger is not None else None
    delta = _delta(target_delta, state, existing, n)
    if existing is not None:
        ledger.check_terms(existing, delta=delta.value, accountant=accountant)
    return delta


def _delta(
    target_delta: Any, state: dict[str, Any] | None, existing: dict[str, Any] | None, n: int
) -> Delta:
    if target_delta is None:
        if state is not None:
            return Delta(float(state["run"]["delta"]), "δ from the checkpoint being resumed.")
        if existing is not None:
            delta = float(existing["delta"])
            return Delta(
                delta, f"δ={delta:.3g} from the dataset's budget ledger (n={n}, 1/n={1 / n:.3g})."
            )
        delta = default_delta(n)
        return Delta(
            delta,
            f"δ={delta:.3g}: the default 1/(10n) rounded down, below 1/n={1 / n:.3g} (n={n}).",
        )
    if not isinstance(target_delta, (int, float)) or not 0 < target_delta < 1:
        raise PrivacyInputError(
            f"The 'target_delta' parameter of make_private must be in (0, 1); got "
            f"{target_delta!r}. Leave it unset for the default 1/(10n) = {default_delta(n):.3g}."
        )
    delta = float(target_delta)
    note = f"δ={delta:.3g} as given (n={n}, 1/n={1 / n:.3g})."
    if delta >= 1.0 / n:
        warnings.warn(
            f"target_delta={delta:.3g} is not below 1/n = {1 / n:.3g} (n={n}). A mechanism "
            f"that publishes one random record in full satisfies (0, 1/n)-DP, so with δ ≥ 1/n "
            f"the guarantee permits leaking whole records. Use δ < 1/n, e.g. "
            f"{default_delta(n):.3g} (the default).",
            DeltaWarning,
            stacklevel=6,  # make_private's caller (past the access guard and the error recorder)
        )
        note += " WARNING: δ is not below 1/n."
    return Delta(delta, note)


def check_cap_storage(max_epsilon: float | None, ledger: Any, checkpoint_dir: Any) -> None:
    """A cap stops training at the cap step: refuse one with nowhere to save the state."""
    if max_epsilon is not None and ledger is None and checkpoint_dir is None:
        raise PrivacyInputError(
            "max_epsilon needs somewhere to save the training state when the cap is reached: "
            "pass ledger=<directory> or checkpoint_dir=<directory>."
        )


def planned_steps(epochs: float, steps_per_epoch: int) -> int:
    """The steps ``epochs`` passes take, ``ceil(epochs × steps_per_epoch)`` (a fractional pass
    plans its share of the steps; a product a rounding error above an integer counts as it)."""
    return max(1, math.ceil(epochs * steps_per_epoch - 1e-9))


def plan_noise(
    request: TrainingRequest,
    state: dict[str, Any] | None,
    sampling: Sampling,
    delta: float,
    resume_from: str | Path | None,
) -> RunPlan:
    """The noise multiplier and the planned steps: resumed from ``state``, as given, or the
    smallest noise that keeps ``epochs`` passes within ``target_epsilon``."""
    planned = planned_steps(float(request.epochs), sampling.steps_per_epoch)
    if state is None:
        if request.noise_multiplier is not None:
            sigma = float(request.noise_multiplier)
        else:
            sigma = noise_for_epsilon(
                float(request.target_epsilon), delta, sampling.sample_rate, planned, request.accountant
            )
        return RunPlan(sigma, planned, [], request.target_epsilon)
    run = state["run"]
    if not math.isclose(run["sample_rate"], sampling.sample_rate, rel_tol=1e-9):
        raise PrivacyInputError(
            f"The checkpoint {resume_from} was trained at sample rate {run['sample_rate']:.4g} "
            f"but this data loader gives {sampling.sample_rate:.4g} (1/len(loader)); resume "
            "with the same dataset size and batch size."
        )
    history = [tuple(h) for h in state["accountant"]["history"]]
    return RunPlan(
        noise_multiplier=float(run["noise_multiplier"]),
        planned_steps=max(int(run["planned_steps"]), sum(int(h[2]) for h in history)),
        history=history,
        target_epsilon=run.get("target_epsilon"),
        resumed_run_id=run["run_id"],
    )


def reserve_run(
    ledger: Any,
    request: TrainingRequest,
    plan: RunPlan,
    sampling: Sampling,
    delta: float,
    record: dict[str, Any],
) -> Reservation:
    """Reserve the run's steps: in the ledger (``record`` holds the run's descriptive fields:
    model id, mode, ...), or, without one, against ``max_epsilon`` in memory."""
    if ledger is not None:
        run = PlannedRun(
            plan.noise_multiplier, sampling.sample_rate, plan.planned_steps, delta, request.accountant
        )
        return _reserve_in_ledger(ledger, run, plan, request, record)
    writer = dist.rank() == 0
    if request.max_epsilon is None:
        return Reservation(plan.resumed_run_id, None, [], None, writer)
    steps = _steps_within(request, plan, sampling.sample_rate, delta)
    return Reservation(plan.resumed_run_id, steps, [], request.max_epsilon, writer)


def _reserve_in_ledger(
    ledger: Any, run: PlannedRun, plan: RunPlan, request: TrainingRequest, record: dict[str, Any]
) -> Reservation:
    """The writing process records (or re-attaches to) the run; every process learns the run
    id, its reserved steps, the other runs' history and the ledger's cap."""
    writer = dist.rank() == 0
    run_id, reserved, prior = plan.resumed_run_id, None, []
    if writer:
        if run_id is not None:
            ledger.update(run_id, history=plan.history, status="running", planned_steps=run.planned_steps)
            reserved = run.planned_steps
        else:
            run_id, cap_steps = ledger.reserve(
                noise_multiplier=run.noise_multiplier,
                sample_rate=run.sample_rate,
                planned_steps=run.planned_steps,
                delta=run.delta,
                accountant=run.accountant,
                max_epsilon=request.max_epsilon,
                on_cap=request.on_cap,
                info=record,
            )
            reserved = run.planned_steps if cap_steps is None else min(run.planned_steps, cap_steps)
        prior = ledger.combined_history(exclude=run_id)
    run_id, reserved, prior = dist.broadcast_object((run_id, reserved, prior))
    ledger_cap = (ledger.load() or {}).get("max_epsilon") if writer else None
    max_epsilon = dist.broadcast_object(ledger_cap if writer else None)
    return Reservation(run_id, reserved, prior, max_epsilon, writer)


def _steps_within(request: TrainingRequest, plan: RunPlan, sample_rate: float, delta: float) -> int:
    """The steps this run may take under ``max_epsilon`` without a ledger (refused, or cut
    short with ``on_cap="stop"``, when the plan exceeds it)."""
    sigma, planned = plan.noise_multiplier, plan.planned_steps
    cost = epsilon(plan.history + [(sigma, sample_rate, planned)], delta, request.accountant)
    if cost <= request.max_epsilon:
        return planned
    fit_steps = max_steps_within(
        request.max_epsilon, delta, sigma, sample_rate, request.accountant, prior=plan.history
    )
    if request.on_cap == "refuse" or fit_steps == 0:
        if dist.rank() == 0:
            record_cap(None, reason="planned_run", max_epsilon=float(request.max_epsilon),
                       steps_planned=planned, steps_fit=fit_steps, on_cap=request.on_cap)
        raise BudgetExceededError(
            f"This run would exceed max_epsilon={request.max_epsilon:g}: {planned} steps cost "
            f"ε={cost:.3f}; at most {fit_steps} steps fit. Lower target_epsilon, train "
            "fewer epochs, or pass on_cap='stop'."
        )
    return fit_steps
