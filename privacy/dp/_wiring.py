"""How each clipping mode wires the model, the optimizer and the loss for DP-SGD.

A clipping mode (an entry of :data:`auditkit.privacy.dp._modes.MODES`) is wired by one function
that takes a :class:`ModeWiring` (what ``make_private`` prepared: the model, the optimizer,
the loss and the noise settings) and returns a :class:`WiredTraining` (what the training loop
uses). Opacus is imported only when a mode is wired.

- :func:`wire_bookkeeping`: our book-keeping clipping; the model and the loss stay as they are,
  the optimizer takes the clipped sum from a :class:`~auditkit.privacy.dp._clipping.BookKeeper`.
- :func:`wire_ghost`: Opacus ghost clipping; the loss is wrapped for its two backward passes.
- :func:`wire_per_sample`: Opacus with per-sample gradients (``"hooks"`` or ``"functorch"``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "ModeWiring",
    "NoiseSettings",
    "WiredTraining",
    "wire_bookkeeping",
    "wire_ghost",
    "wire_per_sample",
]


@dataclass(frozen=True)
class NoiseSettings:
    """What every DP optimizer is built with: Opacus's optimizer keyword arguments."""

    noise_multiplier: float
    max_grad_norm: float
    expected_batch_size: float
    loss_reduction: str
    generator: Any
    secure_mode: bool

    def optimizer_kwargs(self) -> dict[str, Any]:
        """The settings as keyword arguments of an Opacus ``DPOptimizer``."""
        # Every field is one keyword argument, by the same name (the generator is passed as it
        # is: dataclasses.asdict would deep-copy it).
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ModeWiring:
    """What a clipping mode is given to wire.

    ``model`` is the model to train (wrapped for distributed training when it runs on several
    processes), ``layers`` the unwrapped module whose layers are clipped, ``loader_workers``
    the data loader's worker processes.
    """

    model: Any
    layers: Any
    optimizer: Any
    criterion: Any
    noise: NoiseSettings
    distributed: bool
    loader_workers: int = 0


@dataclass(frozen=True)
class WiredTraining:
    """What a clipping mode returns: the objects the training loop uses.

    ``keeper`` is the book-keeping path's :class:`~auditkit.privacy.dp._clipping.BookKeeper`
    (``None`` for the Opacus modes).
    """

    model: Any
    optimizer: Any
    criterion: Any
    keeper: Any = None


def wire_bookkeeping(wiring: ModeWiring) -> WiredTraining:
    """Book-keeping clipping: one backward pass, clipped sum from recorded activations."""
    from auditkit.privacy.dp._clipping import BookKeeper
    from auditkit.privacy.dp._optim import bookkeeping_optimizer_class

    keeper = BookKeeper(wiring.layers, loss_reduction=wiring.noise.loss_reduction)
    optimizer_class = bookkeeping_optimizer_class(wiring.distributed)
    optimizer = optimizer_class(
        wiring.optimizer, book_keeper=keeper, **wiring.noise.optimizer_kwargs()
    )
    # a live thread and fork()ed loader workers do not mix: draw noise inline then
    optimizer.noise_ahead = wiring.loader_workers == 0
    return WiredTraining(wiring.model, optimizer, wiring.criterion, keeper)


def wire_ghost(wiring: ModeWiring) -> WiredTraining:
    """Opacus ghost clipping: norms without per-sample gradients, the loss wrapped."""
    from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping

    module = _grad_sample_module(wiring, "ghost", max_grad_norm=wiring.noise.max_grad_norm)
    optimizer = _opacus_optimizer(wiring, "ghost")
    criterion = DPLossFastGradientClipping(
        module, optimizer, wiring.criterion, wiring.noise.loss_reduction
    )
    return WiredTraining(module, optimizer, criterion)


def wire_per_sample(wiring: ModeWiring, *, grad_sample_mode: str) -> WiredTraining:
    """Opacus with per-sample gradients materialised (``"hooks"`` or ``"functorch"``)."""
    module = _grad_sample_module(wiring, grad_sample_mode)
    module.forbid_grad_accumulation()
    return WiredTraining(module, _opacus_optimizer(wiring, grad_sample_mode), wiring.criterion)


def _grad_sample_module(wiring: ModeWiring, grad_sample_mode: str, **extra: Any) -> Any:
    from opacus.grad_sample import prepare_module

    return prepare_module(
        wiring.model,
        grad_sample_mode=grad_sample_mode,
        batch_first=True,
        loss_reduction=wiring.noise.loss_reduction,
        **extra,
    )


def _opacus_optimizer(wiring: ModeWiring, grad_sample_mode: str) -> Any:
    from opacus.optimizers import get_optimizer_class

    optimizer_class = get_optimizer_class(
        "flat", wiring.distributed, grad_sample_mode=grad_sample_mode
    )
    return optimizer_class(wiring.optimizer, **wiring.noise.optimizer_kwargs())
