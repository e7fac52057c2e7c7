"""The step watch: the first optimizer steps of a DP run move what they should, and only that.

``make_private(..., watch_steps=3)`` attaches a :class:`StepWatch` to the optimizer: after each
of the first steps it checks that every trainable parameter the step should move did move and
that no frozen parameter moved, and raises :class:`~auditkit.privacy.errors.PrivacyInputError`
naming the parameters (names only, never values) otherwise. It is the run-time half of the
correctness guard (:func:`~auditkit.privacy.dp._guard.check_clipping` is the other).
"""

from __future__ import annotations

from typing import Any

from auditkit.privacy.errors import PrivacyInputError

__all__ = ["StepWatch", "attach_step_watch"]

_SHOWN = 10  # parameter names shown in a message before "and N more"


class StepWatch:
    """Checks the first ``steps`` optimizer steps: trainable parameters moved, frozen did not.

    Hooked on the wrapped (user's) torch optimizer with ``register_step_pre_hook`` and
    ``register_step_post_hook``, so it sees the parameters right before and right after the
    update, after the DP optimizer has clipped, noised and scaled the gradient (Opacus's own
    single step hook, the accountant's, is left alone). A step the DP optimizer skips is not
    counted. Fingerprints are a float64 sum and a float64 norm per parameter (no copies).

    Which parameters a step must move: a parameter with ``requires_grad=True`` that is in the
    optimizer, whose group's ``lr`` is not 0, and whose gradient at the step is not all zero;
    a trainable parameter missing from the optimizer is reported too (nothing updates it).
    With noise (σ > 0) every trainable gradient is non-zero, so every trainable parameter must
    move; with σ = 0 a parameter whose clipped gradient is exactly zero (an empty Poisson
    batch, a layer unused by this batch) is not expected to move and is not checked at that
    step. A parameter with ``requires_grad=False`` must never move. An update below the
    parameter's floating-point resolution (e.g. a tiny learning rate on bf16 weights) is
    reported as no change: raise the learning rate or pass ``watch_steps=0``.
    """

    def __init__(self, model: Any, optimizer: Any, steps: int) -> None:
        self.model = model
        self.optimizer = optimizer
        self.steps = steps
        self.checked = 0
        self._before: tuple[list[str], list[str], list[str], dict[str, Any]] | None = None
        self._handles = [
            optimizer.register_step_pre_hook(self._pre),
            optimizer.register_step_post_hook(self._post),
        ]

    def remove(self) -> None:
        """Stop watching."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def _lrs(self) -> dict[int, Any]:
        return {id(p): g.get("lr", 1.0) for g in self.optimizer.param_groups for p in g["params"]}

    def _pre(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        lrs = self._lrs()
        moving, missing, frozen = [], [], []
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                frozen.append(name)
            elif id(p) not in lrs:
                missing.append(name)
            elif _nonzero(lrs[id(p)]) and p.grad is not None and bool(p.grad.detach().ne(0).any()):
                moving.append(name)
        self._before = (moving, missing, frozen, self._fingerprints(moving + missing + frozen))

    def _post(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._before is None:
            return
        moving, missing, frozen, before = self._before
        self._before = None
        self.checked += 1
        if self.checked >= self.steps:
            self.remove()
        after = self._fingerprints(moving + missing + frozen)
        stuck = [n for n in moving if after[n] == before[n]]
        unowned = [n for n in missing if after[n] == before[n]]
        moved = [n for n in frozen if after[n] != before[n]]
        if stuck or unowned or moved:
            raise PrivacyInputError(_watch_message(self.checked, stuck, unowned, moved))

    def _fingerprints(self, names: list[str]) -> dict[str, tuple[float, float]]:
        import torch

        wanted = set(names)
        sums = [
            (n, torch.stack([p.detach().sum(dtype=torch.float64),
                             torch.linalg.vector_norm(p.detach(), dtype=torch.float64)]).cpu())
            for n, p in self.model.named_parameters()
            if n in wanted
        ]
        return {n: (float(v[0]), float(v[1])) for n, v in sums}


def _nonzero(lr: Any) -> bool:
    try:
        return float(lr) != 0.0
    except (TypeError, ValueError):
        return True


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _watch_message(step: int, stuck: list[str], unowned: list[str], moved: list[str]) -> str:
    parts = []
    if stuck:
        parts.append(
            f"these trainable parameters did not change although their gradient was non-zero "
            f"and their learning rate is not 0: {_names(stuck)} (does the optimizer step them? "
            "is the update below the parameter's precision?)"
        )
    if unowned:
        parts.append(
            f"these trainable parameters (requires_grad=True) are not in the optimizer, so "
            f"nothing updates them: {_names(unowned)} (build the optimizer over them, or freeze them)"
        )
    if moved:
        parts.append(
            f"these frozen parameters (requires_grad=False) changed: {_names(moved)} (does the "
            "optimizer apply weight decay or another update to parameters without a gradient? "
            "freezing them must keep them fixed)"
        )
    return (
        f"make_private's step watch: after optimizer step {step}, "
        + "; ".join(parts)
        + ". Fix the optimizer or the parameters; pass watch_steps=0 to make_private to turn "
        "this check off."
    )


def attach_step_watch(model: Any, optimizer: Any, steps: int) -> StepWatch | None:
    """Attach a :class:`StepWatch` for the first ``steps`` steps of ``optimizer`` (the DP
    optimizer or the torch optimizer it wraps) over ``model``'s parameters; ``None`` for 0."""
    if steps == 0:
        return None
    inner = getattr(optimizer, "original_optimizer", optimizer)
    return StepWatch(model, inner, steps)
