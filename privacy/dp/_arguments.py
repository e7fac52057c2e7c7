"""The arguments of :func:`~auditkit.privacy.dp.make_private`, checked before anything runs.

The first phase of ``make_private``: every argument a user can get wrong is refused here with
a message that names the parameter, says what was expected and how to fix it, before a ledger
is opened or a layer replaced.

- :func:`check_model_and_optimizer`, :func:`loader_sampling`: the model, the optimizer and the
  data loader are the torch objects DP-SGD needs; the loader gives the :class:`Sampling`.
- :func:`resume_state`: the checkpoint to resume, accounted with the same accountant.
- :class:`TrainingRequest`: the scalar settings (privacy target, epochs, clipping norm, cap),
  checked when it is built.
- :func:`noise_generators`: the generators of the batches and the noise (secure mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.privacy.dp._accounting import check_accountant
from auditkit.privacy.errors import PrivacyInputError

__all__ = [
    "Generators",
    "Sampling",
    "TrainingRequest",
    "check_model_and_optimizer",
    "loader_sampling",
    "noise_generators",
    "resume_state",
]

ON_CAP = ("refuse", "stop")
LOSS_REDUCTIONS = ("mean", "sum")


def _positive(name: str, value: Any, example: str, *, integer: bool = False) -> None:
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise PrivacyInputError(
            f"The {name!r} parameter of make_private must be {kind}; got {value!r}. {example}"
        )


@dataclass(frozen=True)
class Sampling:
    """The data loader's shape: records ``n``, batches per epoch, and the sampling rate ``q``."""

    dataset_size: int
    steps_per_epoch: int

    @property
    def sample_rate(self) -> float:
        """``q = 1 / len(data_loader)``: each record's chance of being in a batch."""
        return 1.0 / self.steps_per_epoch


@dataclass(frozen=True)
class Generators:
    """Where randomness comes from: ``sampling`` draws the batches (``None``: torch's default),
    ``noise`` the optimizer's noise."""

    sampling: Any = None
    noise: Any = None


@dataclass(frozen=True)
class TrainingRequest:
    """The scalar settings of a ``make_private`` call, checked when built (in the order the
    parameters are documented, so the first mistake is the one reported).

    ``resuming`` says a checkpoint is being resumed: its noise multiplier and target then hold,
    so neither ``target_epsilon`` nor ``noise_multiplier`` is required.
    ``watch_steps`` is how many first optimizer steps the step watch checks (0: none).
    """

    accountant: str
    target_epsilon: float | None
    noise_multiplier: float | None
    epochs: float | None
    max_grad_norm: float
    max_epsilon: float | None
    on_cap: str
    loss_reduction: str
    secure_mode: bool = False
    resuming: bool = False
    watch_steps: int = 3

    def __post_init__(self) -> None:
        check_accountant(self.accountant)
        self._check_target()
        if self.epochs is None:
            raise PrivacyInputError(
                "The 'epochs' parameter of make_private is required: the noise is calibrated "
                "for the number of passes you plan, e.g. epochs=10."
            )
        _positive("epochs", self.epochs, "Give the number of passes you plan, e.g. epochs=10 (or "
                  "epochs=1.25 for 10 steps of a loader of 8 batches).")
        _positive("max_grad_norm", self.max_grad_norm, "A typical clipping norm is 1.0.")
        if self.max_epsilon is not None:
            _positive(
                "max_epsilon",
                self.max_epsilon,
                "It caps the total ε spent on the dataset, e.g. max_epsilon=8.",
            )
        if self.on_cap not in ON_CAP:
            raise PrivacyInputError(
                f"The 'on_cap' parameter of make_private must be 'refuse' or 'stop'; got {self.on_cap!r}."
            )
        if self.loss_reduction not in LOSS_REDUCTIONS:
            raise PrivacyInputError(
                f"The 'loss_reduction' parameter must be 'mean' or 'sum'; got {self.loss_reduction!r}."
            )
        check_watch_steps(self.watch_steps)

    def _check_target(self) -> None:
        if not self.resuming and self.noise_multiplier is None:
            if self.target_epsilon is None:
                raise PrivacyInputError(
                    "make_private needs a privacy target: pass target_epsilon (e.g. "
                    "target_epsilon=3) or a noise_multiplier."
                )
            _positive(
                "target_epsilon",
                self.target_epsilon,
                "State the privacy budget to spend, e.g. target_epsilon=3.",
            )
        if self.noise_multiplier is not None:
            _positive("noise_multiplier", self.noise_multiplier, "A typical value is between 0.5 and 5.")
            if self.target_epsilon is not None and not self.resuming:
                raise PrivacyInputError(
                    "make_private takes either target_epsilon (the noise is solved for it) or "
                    "noise_multiplier, not both; the cap on the dataset's total is max_epsilon."
                )


def check_model_and_optimizer(model: Any, optimizer: Any) -> None:
    """Refuse a model that is not an ``nn.Module`` or an optimizer that is not a torch one."""
    import torch
    from torch import nn

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


def check_watch_steps(watch_steps: Any) -> int:
    """The number of first optimizer steps the step watch checks (0: none); refuses the rest."""
    if isinstance(watch_steps, bool) or not isinstance(watch_steps, int) or watch_steps < 0:
        raise PrivacyInputError(
            f"The 'watch_steps' parameter of make_private must be a non-negative integer; got "
            f"{watch_steps!r}. It is how many first optimizer steps are checked (trainable "
            "parameters changed, frozen ones did not); the default is 3, 0 turns the check off."
        )
    return watch_steps


def loader_sampling(data_loader: Any) -> Sampling:
    """The :class:`Sampling` of a map-style ``DataLoader``; refuses anything else, or empty."""
    import torch

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
        raise PrivacyInputError(
            "The 'data_loader' of make_private is empty; there is nothing to train on."
        )
    return Sampling(n, steps_per_epoch)


def resume_state(resume_from: str | Path | None, accountant: str) -> dict[str, Any] | None:
    """The checkpoint to resume (``None`` for a new run); refused if accounted otherwise."""
    if resume_from is None:
        return None
    from auditkit.privacy.dp._checkpoint import load_checkpoint

    state = load_checkpoint(resume_from)
    mechanism = state["accountant"]["mechanism"]
    if mechanism != accountant:
        raise PrivacyInputError(
            f"The checkpoint {resume_from} was accounted with {mechanism!r}; resume with "
            f"accountant={mechanism!r}."
        )
    return state


def noise_generators(secure_mode: bool, noise_generator: Any) -> Generators:
    """The batches' and the noise's generators: the operating system's secure generator in
    secure mode (needs ``torchcsprng``), else torch's default and ``noise_generator``."""
    if not secure_mode:
        return Generators(sampling=None, noise=noise_generator)
    if noise_generator is not None:
        raise PrivacyInputError(
            "secure_mode=True draws noise from the operating system's secure generator; "
            "do not pass a noise_generator with it."
        )
    try:
        import torchcsprng
    except ImportError:
        raise PrivacyInputError(
            "secure_mode=True needs the 'torchcsprng' package for cryptographically secure "
            "noise and sampling; install it, or pass secure_mode=False for experiments."
        ) from None
    secure = torchcsprng.create_random_device_generator("/dev/urandom")
    return Generators(sampling=secure, noise=secure)
