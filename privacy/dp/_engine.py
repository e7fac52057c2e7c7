"""``make_private``: wrap a PyTorch model, optimizer and loader for DP-SGD with a budget.

``make_private`` reads as its phases, each a named function of its own:

1. arguments: :mod:`auditkit.privacy.dp._arguments` (types, privacy target, settings, the
   checkpoint to resume, the noise generators);
2. ledger and δ: :func:`~auditkit.privacy.dp._planning.open_ledger`,
   :func:`~auditkit.privacy.dp._planning.choose_delta`;
3. layers and mode: :func:`~auditkit.privacy.dp._modes.prepare_layers`,
   :func:`~auditkit.privacy.dp._modes.decide_mode`;
4. noise: :func:`~auditkit.privacy.dp._planning.plan_noise`;
5. reservation: :func:`~auditkit.privacy.dp._planning.reserve_run`;
6. wiring: the chosen mode's entry of :data:`~auditkit.privacy.dp._modes.MODES` wires the
   model, optimizer and loss (:mod:`auditkit.privacy.dp._wiring`); :func:`_track_budget` and
   :func:`_stop_at_cap` attach the budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditkit.privacy.dp import _distributed as dist
from auditkit.privacy.dp._accounting import check_accountant, make_opacus_accountant
from auditkit.privacy.dp._arguments import (
    Sampling,
    TrainingRequest,
    check_model_and_optimizer,
    loader_sampling,
    noise_generators,
    resume_state,
)
from auditkit.privacy.dp._budget import PrivacyBudget
from auditkit.privacy.dp._data import (
    DeltaWarning,
    _model_id,
    _resolve_device,
    dataset_fingerprint,
    default_delta,
)
from auditkit.privacy.dp._modes import (
    MODES,
    ModeDecision,
    PreparedModel,
    decide_mode,
    prepare_layers,
)
from auditkit.privacy.dp._planning import (
    Reservation,
    RunPlan,
    check_cap_storage,
    choose_delta,
    open_ledger,
    plan_noise,
    reserve_run,
)
from auditkit.privacy.dp._result import PrivateTraining
from auditkit.privacy.dp._trail import record_start, record_stop, records_errors, requires
from auditkit.privacy.dp._watch import attach_step_watch
from auditkit.privacy.dp._wiring import ModeWiring, NoiseSettings, WiredTraining

__all__ = ["DeltaWarning", "PrivateTraining", "dataset_fingerprint", "default_delta", "make_private"]


@requires("train")
@records_errors("train.start")
def make_private(
    model: Any,
    optimizer: Any,
    data_loader: Any,
    *,
    target_epsilon: float | None = None,
    target_delta: float | None = None,
    epochs: float | None = None,
    max_grad_norm: float = 1.0,
    accountant: str = "prv",
    mode: str = "auto",
    ledger: Any = None,
    dataset_id: str | None = None,
    max_epsilon: float | None = None,
    on_cap: str = "refuse",
    keyring: Any = None,
    noise_multiplier: float | None = None,
    criterion: Any = None,
    loss_reduction: str = "mean",
    fix: bool = False,
    device: Any = "auto",
    secure_mode: bool = False,
    model_id: str | None = None,
    checkpoint_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    noise_generator: Any = None,
    watch_steps: int = 3,
) -> PrivateTraining:
    """Make a training loop differentially private, to a target ε, with a tracked budget.

    Parameters
    ----------
    model, optimizer, data_loader:
        Your ``nn.Module``, its optimizer, and a ``DataLoader`` over a map-style dataset
        (it must have a length). The loader's batch size sets the sampling rate
        ``q = 1 / len(data_loader)``; batches are then drawn by Poisson sampling.
    target_epsilon:
        ε this run may spend (with ``target_delta``) after ``epochs``; the noise multiplier is
        solved for it. Alternatively give ``noise_multiplier`` directly.
    target_delta:
        δ. Default: the ledger's δ if it has one, else 1/(10 n) rounded down (below 1/n).
        δ ≥ 1/n warns (:class:`DeltaWarning`).
    epochs:
        Planned passes over the data; the noise is calibrated for ``ceil(epochs * len(loader))``
        steps. A fraction plans its share of the steps (``epochs=1.25`` with 8 batches: 10).
    max_grad_norm:
        Clipping norm C of each sample's gradient.
    accountant:
        ``"prv"`` (default), ``"rdp"``, ``"pld"`` or ``"gdp"``.
    mode:
        ``"auto"`` (fastest correct clipping for this model, reason recorded), or one of
        ``"bookkeeping"``, ``"ghost"``, ``"hooks"``, ``"functorch"``.
    ledger, dataset_id, max_epsilon, on_cap:
        Budget ledger directory (or :class:`BudgetLedger`), the dataset's id (default: a
        content hash), a cap on the dataset's total ε, and what to do when a run would pass
        it: ``"refuse"`` to start (default) or ``"stop"`` at the cap step with state saved.
        The id is normalised (case, surrounding spaces and punctuation), so one data set has
        one budget.
    keyring:
        A :class:`auditkit.privacy.crypto.KeyRing` that authenticates the ledger: every
        write carries a MAC under a key derived from it and every read checks it, so a run
        refuses a ledger edited by someone without the ring. Without one the ledger is
        unauthenticated (``private.ledger.authenticated`` is ``False``).
    criterion:
        Your loss (default ``CrossEntropyLoss``); returned wrapped when the mode needs it.
    fix:
        Replace layers DP cannot train (BatchNorm, LSTM, ...) via Opacus's
        ``ModuleValidator.fix``; the replacements are listed in ``replaced_layers``.
    device:
        ``"auto"`` uses CUDA when present, else CPU.
    secure_mode:
        Cryptographically secure noise (needs ``torchcsprng``), recorded in the ledger.
    resume_from:
        A checkpoint from :meth:`PrivateTraining.save_checkpoint`: the accounting and the
        ledger record continue where it stopped.
    watch_steps:
        Check after each of the first ``watch_steps`` optimizer steps (0: off) that trainable
        parameters changed and frozen ones did not (:class:`~auditkit.privacy.dp._watch.StepWatch`).

    Returns
    -------
    PrivateTraining

    Audit trail: ``train.start`` (refused: ``train.cap``, or ``error``), ``train.stop`` at the end.

    Examples
    --------
    >>> private = make_private(model, optimizer, loader, target_epsilon=3, epochs=5)  # doctest: +SKIP
    >>> for x, y in private.data_loader:  # doctest: +SKIP
    ...     private.optimizer.zero_grad()
    ...     private.criterion(private.model(x), y).backward()
    ...     private.optimizer.step()
    >>> private.budget.spent()  # doctest: +SKIP
    """
    # -- arguments ----------------------------------------------------------------------
    dist.check_launch()
    check_model_and_optimizer(model, optimizer)
    check_accountant(accountant)
    state = resume_state(resume_from, accountant)
    request = TrainingRequest(
        accountant=accountant, target_epsilon=target_epsilon, noise_multiplier=noise_multiplier,
        epochs=epochs, max_grad_norm=max_grad_norm, max_epsilon=max_epsilon, on_cap=on_cap,
        loss_reduction=loss_reduction, secure_mode=secure_mode, resuming=state is not None,
        watch_steps=watch_steps,
    )
    sampling = loader_sampling(data_loader)
    generators = noise_generators(secure_mode, noise_generator)

    # -- ledger and δ ---------------------------------------------------------------------
    budget_ledger = open_ledger(ledger, keyring, dataset_id, state, data_loader.dataset)
    delta = choose_delta(target_delta, state, budget_ledger, sampling.dataset_size, accountant)
    check_cap_storage(max_epsilon, budget_ledger, checkpoint_dir)

    # -- layers and mode, noise, reservation ----------------------------------------------
    prepared = prepare_layers(model, optimizer, fix=fix)
    resolved_device = _resolve_device(device)
    prepared.model.to(resolved_device)
    decision = decide_mode(prepared, mode)
    plan = plan_noise(request, state, sampling, delta.value, resume_from)
    chosen_model_id = model_id or _model_id(prepared.layers)
    record = _run_record(chosen_model_id, decision, request, plan, sampling)
    reservation = reserve_run(budget_ledger, request, plan, sampling, delta.value, record)

    # -- wiring -----------------------------------------------------------------------------
    settings = _noise_settings(request, plan, sampling, generators.noise)
    dp_loader, wired = _wire(prepared, decision.mode, data_loader, criterion, settings, generators.sampling)
    budget = _track_budget(request, plan, reservation, sampling, delta.value, budget_ledger)
    wired.optimizer.attach_step_hook(budget.step_hook)
    attach_step_watch(prepared.layers, wired.optimizer, request.watch_steps)
    _restore(prepared, state)
    result = PrivateTraining(
        model=wired.model,
        optimizer=wired.optimizer,
        data_loader=dp_loader,
        criterion=wired.criterion,
        budget=budget,
        mode=decision,
        device=resolved_device,
        delta_note=delta.note,
        dataset_id=budget_ledger.dataset_id if budget_ledger is not None else dataset_id,
        ledger=budget_ledger,
        model_id=chosen_model_id,
        replaced_layers=prepared.replaced,
        checkpoint_dir=_checkpoint_dir(checkpoint_dir, budget_ledger),
        _keeper=wired.keeper,
    )
    budget.on_cap = _stop_at_cap(result, reservation)
    if reservation.writer:
        record_start(result, plan.planned_steps, request)
    return result


def _wire(
    prepared: PreparedModel,
    mode: str,
    data_loader: Any,
    criterion: Any,
    settings: NoiseSettings,
    sampling_generator: Any,
) -> tuple[Any, WiredTraining]:
    """The Poisson-sampling loader, and the model, optimizer and loss as ``mode`` wires them
    (the user's loss, or ``CrossEntropyLoss`` with the requested reduction)."""
    from opacus.data_loader import DPDataLoader
    from torch.utils.data import default_collate

    from auditkit.privacy.dp._micro import EmptyDrawCollate

    distributed = dist.is_distributed()
    dp_loader = DPDataLoader.from_data_loader(
        data_loader, distributed=distributed, generator=sampling_generator
    )
    # a draw with no sample: zero rows of the loader's own structure (Opacus's first empty batch
    # is built from dataset[0] by position, and fails on a dataset of dicts)
    dp_loader.collate_fn = EmptyDrawCollate(data_loader.collate_fn or default_collate, data_loader.dataset)
    if criterion is None:
        from torch import nn

        criterion = nn.CrossEntropyLoss(reduction=settings.loss_reduction)
    wiring = ModeWiring(
        model=dist.wrap_model(prepared.model) if distributed else prepared.model,
        layers=prepared.layers,
        optimizer=prepared.optimizer,
        criterion=criterion,
        noise=settings,
        distributed=distributed,
        loader_workers=getattr(data_loader, "num_workers", 0),
    )
    return dp_loader, MODES[mode].wire(wiring)


def _restore(prepared: PreparedModel, state: dict[str, Any] | None) -> None:
    """Load a resumed checkpoint's model and optimizer state (nothing for a new run)."""
    if state is None:
        return
    prepared.layers.load_state_dict(state["model"])
    prepared.optimizer.load_state_dict(state["optimizer"])


def _checkpoint_dir(checkpoint_dir: str | Path | None, budget_ledger: Any) -> Path | None:
    """Where a run stopped at the cap saves its state: as given, else beside the ledger."""
    if checkpoint_dir is not None:
        return Path(checkpoint_dir)
    return budget_ledger.directory / "checkpoints" if budget_ledger is not None else None


def _run_record(
    model_id: str,
    decision: ModeDecision,
    request: TrainingRequest,
    plan: RunPlan,
    sampling: Sampling,
) -> dict[str, Any]:
    """The descriptive fields of the run's ledger record."""
    return {
        "model_id": model_id,
        "max_grad_norm": float(request.max_grad_norm),
        "mode": decision.mode,
        "mode_reason": decision.reason,
        "mode_fallbacks": [list(x) for x in decision.fallbacks],
        "secure_mode": bool(request.secure_mode),
        "target_epsilon": plan.target_epsilon,
        "dataset_size": sampling.dataset_size,
        "world_size": dist.world_size(),
    }


def _noise_settings(
    request: TrainingRequest, plan: RunPlan, sampling: Sampling, noise_generator: Any
) -> NoiseSettings:
    """The DP optimizer's settings; each process's expected batch is its share of ``q·n``."""
    expected_batch_size = int(sampling.dataset_size * sampling.sample_rate)
    if dist.is_distributed():
        expected_batch_size = expected_batch_size / dist.world_size()
    return NoiseSettings(
        noise_multiplier=plan.noise_multiplier,
        max_grad_norm=float(request.max_grad_norm),
        expected_batch_size=expected_batch_size,
        loss_reduction=request.loss_reduction,
        generator=noise_generator,
        secure_mode=request.secure_mode,
    )


def _track_budget(
    request: TrainingRequest,
    plan: RunPlan,
    reservation: Reservation,
    sampling: Sampling,
    delta: float,
    budget_ledger: Any,
) -> PrivacyBudget:
    """The :class:`PrivacyBudget` that accounts every step (continuing a resumed history)."""
    accountant = make_opacus_accountant(request.accountant)
    accountant.history = list(plan.history)
    return PrivacyBudget(
        accountant_obj=accountant,
        accountant=request.accountant,
        noise_multiplier=plan.noise_multiplier,
        sample_rate=sampling.sample_rate,
        delta=delta,
        max_grad_norm=float(request.max_grad_norm),
        target_epsilon=plan.target_epsilon,
        planned_steps=plan.planned_steps,
        reserved_steps=reservation.reserved_steps,
        steps_per_epoch=sampling.steps_per_epoch,
        max_epsilon=reservation.max_epsilon,
        ledger=budget_ledger,
        run_id=reservation.run_id,
        secure_mode=request.secure_mode,
        prior_history=reservation.prior,
        is_writer=reservation.writer,
        broadcast=dist.broadcast_object,
    )


def _stop_at_cap(result: PrivateTraining, reservation: Reservation) -> Any:
    """What the budget calls at the cap step: save a checkpoint, close the ledger record
    (the writing process only), and finish the run; returns where the checkpoint went."""
    run_id, writer = reservation.run_id, reservation.writer

    def on_cap_reached() -> str | None:
        where = None
        if writer and result.checkpoint_dir is not None:
            path = result.checkpoint_dir / f"{run_id or 'run'}-at-cap.pt"
            where = str(result.save_checkpoint(path))
        if writer and result.ledger is not None:
            result.ledger.update(
                run_id,
                history=result.budget.history,
                status="stopped_at_cap",
                extra={"checkpoint": where},
            )
        result._finished = True
        if writer:
            record_stop(result, "stopped_at_cap")
        return where

    return on_cap_reached
