"""``make_private``: wrap a PyTorch model, optimizer and loader for DP-SGD with a budget."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from auditkit.privacy.dp._accounting import (
    check_accountant,
    epsilon,
    make_opacus_accountant,
    noise_for_epsilon,
)
from auditkit.privacy.dp._budget import PrivacyBudget
from auditkit.privacy.dp._data import (
    DeltaWarning,
    _model_id,
    _resolve_device,
    dataset_fingerprint,
    default_delta,
)
from auditkit.privacy.dp._modes import ModeDecision, apply_fix, check_layers, select_mode
from auditkit.privacy.dp._result import PrivateTraining
from auditkit.privacy.errors import PrivacyInputError

__all__ = ["DeltaWarning", "PrivateTraining", "dataset_fingerprint", "default_delta", "make_private"]


def _positive(name: str, value: Any, example: str, *, integer: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise PrivacyInputError(
            f"The {name!r} parameter of make_private must be {kind}; got {value!r}. {example}"
        )


def make_private(
    model: Any,
    optimizer: Any,
    data_loader: Any,
    *,
    target_epsilon: float | None = None,
    target_delta: float | None = None,
    epochs: int | None = None,
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
        Planned passes over the data; the noise is calibrated for ``epochs * len(loader)`` steps.
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

    Returns
    -------
    PrivateTraining

    Examples
    --------
    >>> private = make_private(model, optimizer, loader, target_epsilon=3, epochs=5)  # doctest: +SKIP
    >>> for x, y in private.data_loader:  # doctest: +SKIP
    ...     private.optimizer.zero_grad()
    ...     private.criterion(private.model(x), y).backward()
    ...     private.optimizer.step()
    >>> private.budget.spent()  # doctest: +SKIP
    """
    import torch
    from torch import nn

    from auditkit.privacy.dp import _distributed as dist
    from auditkit.privacy.dp._ledger import BudgetLedger

    # -- arguments ----------------------------------------------------------------------
    if not isinstance(model, nn.Module):
        raise PrivacyInputError(
            f"The 'model' parameter of make_private must be a torch.nn.Module; got "
            f"{type(model).__name__}."
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise PrivacyInputError(
            f"The 'optimizer' parameter of make_private must be a torch.optim.Optimizer; got "
            f"{type(optimizer).__name__}."
        )
    check_accountant(accountant)
    state = None
    if resume_from is not None:
        from auditkit.privacy.dp._checkpoint import load_checkpoint

        state = load_checkpoint(resume_from)
        if state["accountant"]["mechanism"] != accountant:
            raise PrivacyInputError(
                f"The checkpoint {resume_from} was accounted with {state['accountant']['mechanism']!r}"
                f"; resume with accountant={state['accountant']['mechanism']!r}."
            )
    if state is None and noise_multiplier is None:
        if target_epsilon is None:
            raise PrivacyInputError(
                "make_private needs a privacy target: pass target_epsilon (e.g. target_epsilon=3) "
                "or a noise_multiplier."
            )
        _positive("target_epsilon", target_epsilon, "State the privacy budget to spend, e.g. target_epsilon=3.")
    if noise_multiplier is not None:
        _positive("noise_multiplier", noise_multiplier, "A typical value is between 0.5 and 5.")
        if target_epsilon is not None and state is None:
            raise PrivacyInputError(
                "make_private takes either target_epsilon (the noise is solved for it) or "
                "noise_multiplier, not both; the cap on the dataset's total is max_epsilon."
            )
    if epochs is None:
        raise PrivacyInputError(
            "The 'epochs' parameter of make_private is required: the noise is calibrated for the "
            "number of passes you plan, e.g. epochs=10."
        )
    _positive("epochs", epochs, "Give the number of passes you plan, e.g. epochs=10.", integer=True)
    _positive("max_grad_norm", max_grad_norm, "A typical clipping norm is 1.0.")
    if max_epsilon is not None:
        _positive("max_epsilon", max_epsilon, "It caps the total ε spent on the dataset, e.g. max_epsilon=8.")
    if on_cap not in ("refuse", "stop"):
        raise PrivacyInputError(f"The 'on_cap' parameter of make_private must be 'refuse' or 'stop'; got {on_cap!r}.")
    if loss_reduction not in ("mean", "sum"):
        raise PrivacyInputError(f"The 'loss_reduction' parameter must be 'mean' or 'sum'; got {loss_reduction!r}.")
    if not isinstance(data_loader, torch.utils.data.DataLoader):
        raise PrivacyInputError(
            f"The 'data_loader' parameter of make_private must be a torch DataLoader; got "
            f"{type(data_loader).__name__}."
        )
    try:
        n = len(data_loader.dataset)
        steps_per_epoch = len(data_loader)
    except TypeError:
        raise PrivacyInputError(
            "The 'data_loader' of make_private has no length (an IterableDataset?). DP-SGD "
            "samples each record with probability q = batch_size / n, so it needs a map-style "
            "dataset whose size is known; wrap the data in a TensorDataset or a Dataset with "
            "__len__ and __getitem__."
        ) from None
    if n == 0 or steps_per_epoch == 0:
        raise PrivacyInputError("The 'data_loader' of make_private is empty; there is nothing to train on.")
    sample_rate = 1.0 / steps_per_epoch
    secure_rng = None
    if secure_mode:
        if noise_generator is not None:
            raise PrivacyInputError(
                "secure_mode=True draws noise from the operating system's secure generator; "
                "do not pass a noise_generator with it."
            )
        try:
            import torchcsprng

            secure_rng = torchcsprng.create_random_device_generator("/dev/urandom")
        except ImportError:
            raise PrivacyInputError(
                "secure_mode=True needs the 'torchcsprng' package for cryptographically secure "
                "noise and sampling; install it, or pass secure_mode=False for experiments."
            ) from None

    # -- ledger and δ ---------------------------------------------------------------------
    led = None
    if keyring is not None and ledger is None:
        raise PrivacyInputError(
            "The 'keyring' parameter of make_private authenticates the budget ledger; pass "
            "ledger=<directory> with it."
        )
    if ledger is not None:
        if isinstance(ledger, BudgetLedger):
            led = ledger
            if keyring is not None and ledger.keyring is None:
                led = BudgetLedger(ledger.directory, ledger.dataset_id, keyring=keyring)
            elif keyring is not None and ledger.keyring != keyring:
                raise PrivacyInputError(
                    "make_private got one key ring in 'keyring' and another in the BudgetLedger "
                    "passed as 'ledger'; pass the ring once."
                )
        else:
            ds_id = dataset_id or (state["run"]["dataset_id"] if state else None) or dataset_fingerprint(data_loader.dataset)
            led = BudgetLedger(ledger, ds_id, keyring=keyring)
    ds_id = led.dataset_id if led is not None else dataset_id
    existing = led.load() if led is not None else None
    if target_delta is None:
        if state is not None:
            delta, delta_note = float(state["run"]["delta"]), "δ from the checkpoint being resumed."
        elif existing is not None:
            delta = float(existing["delta"])
            delta_note = f"δ={delta:.3g} from the dataset's budget ledger (n={n}, 1/n={1 / n:.3g})."
        else:
            delta = default_delta(n)
            delta_note = f"δ={delta:.3g}: the default 1/(10n) rounded down, below 1/n={1 / n:.3g} (n={n})."
    else:
        if not isinstance(target_delta, (int, float)) or not 0 < target_delta < 1:
            raise PrivacyInputError(
                f"The 'target_delta' parameter of make_private must be in (0, 1); got {target_delta!r}. "
                f"Leave it unset for the default 1/(10n) = {default_delta(n):.3g}."
            )
        delta = float(target_delta)
        delta_note = f"δ={delta:.3g} as given (n={n}, 1/n={1 / n:.3g})."
        if delta >= 1.0 / n:
            warnings.warn(
                f"target_delta={delta:.3g} is not below 1/n = {1 / n:.3g} (n={n}). A mechanism "
                f"that publishes one random record in full satisfies (0, 1/n)-DP, so with δ ≥ 1/n "
                f"the guarantee permits leaking whole records. Use δ < 1/n, e.g. "
                f"{default_delta(n):.3g} (the default).",
                DeltaWarning,
                stacklevel=2,
            )
            delta_note += " WARNING: δ is not below 1/n."
    if existing is not None:
        BudgetLedger.check_terms(existing, delta=delta, accountant=accountant)
    if max_epsilon is not None and led is None and checkpoint_dir is None:
        raise PrivacyInputError(
            "max_epsilon needs somewhere to save the training state when the cap is reached: "
            "pass ledger=<directory> or checkpoint_dir=<directory>."
        )

    # -- layers and mode ------------------------------------------------------------------
    inner = dist.unwrap(model)
    if not inner.training:
        inner.train()
    unsupported = check_layers(inner)
    replaced: list[tuple[str, str, str]] = []
    if unsupported:
        if not fix:
            raise PrivacyInputError(
                "The model has layers DP-SGD cannot train as they are: "
                + "; ".join(str(u) for u in unsupported)
            )
        if len(optimizer.param_groups) != 1:
            raise PrivacyInputError(
                "fix=True replaces layers and must rebuild the optimizer on the new parameters, "
                "which it can only do for an optimizer with one parameter group. Call "
                "opacus.validators.ModuleValidator.fix(model) yourself, then build the optimizer."
            )
        inner, replaced = apply_fix(inner)
        model = inner
        hyper = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        optimizer = type(optimizer)(inner.parameters(), **hyper)
        left = check_layers(inner)
        if left:
            raise PrivacyInputError(
                "After fix=True these layers are still unsupported: " + "; ".join(str(u) for u in left)
            )
    dev = _resolve_device(device)
    model.to(dev)
    decision = select_mode(inner, mode)
    if replaced:
        decision = ModeDecision(
            decision.mode, decision.reason, decision.layers, decision.functorch_layers, tuple(replaced)
        )

    # -- noise ------------------------------------------------------------------------------
    planned = int(epochs) * steps_per_epoch
    history0: list[tuple[float, float, int]] = []
    if state is not None:
        run = state["run"]
        if not math.isclose(run["sample_rate"], sample_rate, rel_tol=1e-9):
            raise PrivacyInputError(
                f"The checkpoint {resume_from} was trained at sample rate {run['sample_rate']:.4g} "
                f"but this data loader gives {sample_rate:.4g} (1/len(loader)); resume with the "
                "same dataset size and batch size."
            )
        sigma = float(run["noise_multiplier"])
        history0 = [tuple(h) for h in state["accountant"]["history"]]
        planned = max(int(run["planned_steps"]), sum(int(h[2]) for h in history0))
        target_epsilon = run.get("target_epsilon")
    elif noise_multiplier is not None:
        sigma = float(noise_multiplier)
    else:
        sigma = noise_for_epsilon(float(target_epsilon), delta, sample_rate, planned, accountant)

    # -- reserve the run in the ledger ----------------------------------------------------
    mid = model_id or _model_id(inner)
    writer = dist.rank() == 0
    run_id = state["run"]["run_id"] if state else None
    reserved: int | None = None
    prior: list[tuple[float, float, int]] = []
    if led is not None:
        if writer:
            if state is not None and run_id is not None:
                led.update(run_id, history=history0, status="running", planned_steps=planned)
                reserved = planned
            else:
                run_id, cap_steps = led.reserve(
                    noise_multiplier=sigma,
                    sample_rate=sample_rate,
                    planned_steps=planned,
                    delta=delta,
                    accountant=accountant,
                    max_epsilon=max_epsilon,
                    on_cap=on_cap,
                    info={
                        "model_id": mid,
                        "max_grad_norm": float(max_grad_norm),
                        "mode": decision.mode,
                        "mode_reason": decision.reason,
                        "secure_mode": bool(secure_mode),
                        "target_epsilon": target_epsilon,
                        "dataset_size": n,
                        "world_size": dist.world_size(),
                    },
                )
                reserved = planned if cap_steps is None else min(planned, cap_steps)
            prior = led.combined_history(exclude=run_id)
        run_id, reserved, prior = dist.broadcast_object((run_id, reserved, prior))
        ledger_cap = (led.load() or {}).get("max_epsilon") if writer else None
        max_epsilon = dist.broadcast_object(ledger_cap if writer else None)
    elif max_epsilon is not None:
        from auditkit.privacy.dp._accounting import max_steps_within
        from auditkit.privacy.errors import BudgetExceededError

        cost = epsilon(history0 + [(sigma, sample_rate, planned)], delta, accountant)
        reserved = planned
        if cost > max_epsilon:
            fit_steps = max_steps_within(max_epsilon, delta, sigma, sample_rate, accountant, prior=history0)
            if on_cap == "refuse" or fit_steps == 0:
                raise BudgetExceededError(
                    f"This run would exceed max_epsilon={max_epsilon:g}: {planned} steps cost "
                    f"ε={cost:.3f}; at most {fit_steps} steps fit. Lower target_epsilon, train "
                    "fewer epochs, or pass on_cap='stop'."
                )
            reserved = fit_steps

    # -- wire Opacus ----------------------------------------------------------------------
    from opacus.data_loader import DPDataLoader

    distributed = dist.is_distributed()
    if distributed:
        model = dist.wrap_model(model)
    if criterion is None:
        criterion = nn.CrossEntropyLoss(reduction=loss_reduction)
    dp_loader = DPDataLoader.from_data_loader(data_loader, distributed=distributed, generator=secure_rng)
    expected_batch_size = int(n * sample_rate)
    if distributed:
        expected_batch_size = expected_batch_size / dist.world_size()
    opt_kwargs = dict(
        noise_multiplier=sigma,
        max_grad_norm=float(max_grad_norm),
        expected_batch_size=expected_batch_size,
        loss_reduction=loss_reduction,
        generator=secure_rng if secure_rng is not None else noise_generator,
        secure_mode=secure_mode,
    )
    keeper = None
    if decision.mode == "bookkeeping":
        from auditkit.privacy.dp._clipping import BookKeeper
        from auditkit.privacy.dp._optim import bookkeeping_optimizer_class

        keeper = BookKeeper(inner, loss_reduction=loss_reduction)
        dp_opt = bookkeeping_optimizer_class(distributed)(optimizer, book_keeper=keeper, **opt_kwargs)
        # a live thread and fork()ed loader workers do not mix: draw noise inline then
        dp_opt.noise_ahead = getattr(data_loader, "num_workers", 0) == 0
        out_model, out_criterion = model, criterion
    else:
        from opacus.grad_sample import prepare_module
        from opacus.optimizers import get_optimizer_class

        gsm_kwargs: dict[str, Any] = {"batch_first": True, "loss_reduction": loss_reduction}
        if decision.mode == "ghost":
            gsm_kwargs["max_grad_norm"] = float(max_grad_norm)
        gsm = prepare_module(model, grad_sample_mode=decision.mode, **gsm_kwargs)
        gsm.forbid_grad_accumulation() if decision.mode != "ghost" else None
        cls = get_optimizer_class("flat", distributed, grad_sample_mode=decision.mode)
        dp_opt = cls(optimizer, **opt_kwargs)
        out_model, out_criterion = gsm, criterion
        if decision.mode == "ghost":
            from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping

            out_criterion = DPLossFastGradientClipping(gsm, dp_opt, criterion, loss_reduction)

    acc = make_opacus_accountant(accountant)
    acc.history = list(history0)
    budget = PrivacyBudget(
        accountant_obj=acc,
        accountant=accountant,
        noise_multiplier=sigma,
        sample_rate=sample_rate,
        delta=delta,
        max_grad_norm=float(max_grad_norm),
        target_epsilon=target_epsilon,
        planned_steps=planned,
        reserved_steps=reserved,
        steps_per_epoch=steps_per_epoch,
        max_epsilon=max_epsilon,
        ledger=led,
        run_id=run_id,
        secure_mode=secure_mode,
        prior_history=prior,
        is_writer=writer,
        broadcast=dist.broadcast_object,
    )
    dp_opt.attach_step_hook(budget.step_hook)
    if state is not None:
        inner.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])

    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else (led.directory / "checkpoints" if led else None)
    result = PrivateTraining(
        model=out_model,
        optimizer=dp_opt,
        data_loader=dp_loader,
        criterion=out_criterion,
        budget=budget,
        mode=decision,
        device=dev,
        delta_note=delta_note,
        dataset_id=ds_id,
        ledger=led,
        model_id=mid,
        replaced_layers=replaced,
        checkpoint_dir=ckpt_dir,
        _keeper=keeper,
    )

    def on_cap_reached() -> str | None:
        where = None
        if writer and ckpt_dir is not None:
            where = str(result.save_checkpoint(ckpt_dir / f"{run_id or 'run'}-at-cap.pt"))
        if writer and led is not None:
            led.update(run_id, history=budget.history, status="stopped_at_cap",
                       extra={"checkpoint": where})
        result._finished = True
        return where

    budget.on_cap = on_cap_reached
    return result
