"""Book-keeping per-sample clipping: one backward pass, no per-sample gradients kept.

This is the fast path of ``mode="auto"`` (Bu, Wang, Zha and Karypis, "Differentially Private
Optimization on Large Model at Small Cost", ICML 2023). For every supported layer the forward
goes through a small :class:`torch.autograd.Function` whose backward

1. returns the gradient with respect to the layer *input* (so back-propagation continues), and
2. records the layer input ``a`` and the output gradient ``g`` instead of computing the weight
   gradient.

After ``loss.backward()`` the optimizer calls :meth:`BookKeeper.clipped_sum`, which

- computes each sample's gradient norm from ``(a, g)`` layer by layer: the ghost-norm identity
  ``||a_i^T g_i||_F^2 = sum_{t,s} (a_it . a_is)(g_it . g_is)`` when that is cheaper, the
  per-sample gradient otherwise (the layer-wise choice of Bu et al.);
- turns the norms into clipping factors ``c_i = min(1, C / (||grad_i|| + 1e-6))``, exactly as
  Opacus does; and
- forms the clipped sum ``sum_i c_i grad_i`` as one weighted matmul per layer: the ordinary
  weight-gradient kernel applied to ``diag(c) g``.

So the cost is one forward, one backward without weight gradients, and one weight-gradient
kernel per layer, about the cost of non-private training.

Rules are registered per layer type with :func:`register_rule`; a model is eligible when every
module that owns trainable parameters has a rule that accepts its configuration
(:func:`rule_problem`).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from auditkit.privacy.dp._rules import (
    _RULES,
    _Rule,
    _Slot,
    _trainable_names,
    register_rule,
    rule_problem,
    supported_types,
)
from auditkit.privacy.errors import PrivacyInputError

__all__ = ["BookKeeper", "register_rule", "rule_problem", "supported_types"]


# --------------------------------------------------------------------------------------------
# The book-keeper
# --------------------------------------------------------------------------------------------


def _make_forward(rule: _Rule, slot: _Slot) -> Callable[..., torch.Tensor]:
    def forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return rule.forward(self, slot, x)

    return forward


class BookKeeper:
    """Attach book-keeping clipping to every trainable layer of ``model``.

    Parameters
    ----------
    model:
        The model; every module owning trainable parameters must have a rule
        (:func:`rule_problem` returns ``None``), else :class:`PrivacyInputError`.
    loss_reduction:
        ``"mean"`` (the loss is a mean over the batch; output gradients are rescaled by the
        batch size to recover per-sample gradients, as Opacus does) or ``"sum"``.
    """

    def __init__(self, model: nn.Module, *, loss_reduction: str = "mean") -> None:
        if loss_reduction not in ("mean", "sum"):
            raise PrivacyInputError(
                f"The 'loss_reduction' parameter must be 'mean' or 'sum'; got {loss_reduction!r}."
            )
        self.loss_reduction = loss_reduction
        self.model = model
        self._slots: dict[str, tuple[nn.Module, _Rule, _Slot]] = {}
        problems = []
        for name, module in model.named_modules():
            if not _trainable_names(module):
                continue
            problem = rule_problem(module)
            if problem is not None:
                problems.append(f"{name or '<root>'} ({type(module).__name__}): {problem}")
                continue
            rule = _RULES[type(module)]
            slot = _Slot()
            self._slots[name] = (module, rule, slot)
        if problems:
            raise PrivacyInputError(
                "Book-keeping clipping cannot handle these layers: " + "; ".join(problems)
                + ". Use mode='auto' to fall back to Opacus, or replace the layers."
            )
        for module, rule, slot in self._slots.values():
            module.forward = types.MethodType(_make_forward(rule, slot), module)
        self._pre_hook = model.register_forward_pre_hook(self._check_consumed)

    # -- life cycle -------------------------------------------------------------------------
    def _check_consumed(self, module: nn.Module, args: Any) -> None:
        if torch.is_grad_enabled() and self.pending():
            raise PrivacyInputError(
                "loss.backward() was called and a new forward pass started before "
                "optimizer.step(): book-keeping clipping needs one optimizer.step() (or "
                "optimizer.zero_grad()) per backward pass. Accumulating gradients over several "
                "backward passes is not supported in mode 'bookkeeping'; use mode='hooks' with "
                "Opacus's BatchMemoryManager for that."
            )

    def pending(self) -> bool:
        """Whether a backward pass recorded something not yet consumed."""
        return any(slot.records for _, _, slot in self._slots.values())

    def clear(self) -> None:
        for _, _, slot in self._slots.values():
            slot.records.clear()

    def detach(self) -> None:
        """Restore the original forwards and remove hooks."""
        for module, _, _ in self._slots.values():
            if "forward" in module.__dict__:
                del module.forward
        self._pre_hook.remove()
        self.clear()

    @property
    def layers(self) -> list[tuple[str, str]]:
        """``(name, type)`` of every layer handled."""
        return [(n, type(m).__name__) for n, (m, _, _) in self._slots.items()]

    # -- the clipping -----------------------------------------------------------------------
    def _records(self) -> Iterable[tuple[nn.Module, _Rule, list[tuple[Any, torch.Tensor, float]]]]:
        """Per layer: ``(activation, output grad, scale)``; ``scale`` turns the output grad of a
        mean-reduced loss into that of each sample's own loss (the batch size, as Opacus does)
        and is folded into the norms and clip factors instead of copying ``g``."""
        for module, rule, slot in self._slots.values():
            recs = [
                (a, g, float(g.shape[0]) if self.loss_reduction == "mean" else 1.0)
                for a, g in slot.records
                if g.shape[0] > 0  # an empty Poisson batch contributes nothing
            ]
            yield module, rule, recs

    def per_sample_norms(self) -> torch.Tensor | None:
        """Per-sample gradient norms of the recorded batch (``None`` if nothing recorded)."""
        total = None
        for module, rule, recs in self._records():
            if not recs:
                continue
            if len(recs) == 1:
                a, g, scale = recs[0]
                n2 = rule.norm2(module, a, g) * (scale * scale)
            else:  # the layer ran more than once: norms of the summed per-sample gradient
                acc: dict[str, torch.Tensor] = {}
                for a, g, scale in recs:
                    for k, v in rule.per_sample(module, a, g).items():
                        if getattr(module, k).requires_grad:
                            v = v * scale
                            acc[k] = acc[k] + v if k in acc else v
                n2 = sum(v.reshape(v.shape[0], -1).pow(2).sum(1) for v in acc.values())
            total = n2 if total is None else total + n2.to(total.device)
        return None if total is None else total.sqrt()

    def clipped_sum(self, max_grad_norm: float) -> dict[nn.Parameter, torch.Tensor]:
        """Clip each sample's gradient to ``max_grad_norm`` and sum; consumes the records.

        Returns ``{param: clipped summed gradient}`` for every trainable parameter (zeros for
        an empty batch or a layer that took no part in the forward pass).
        """
        norms = self.per_sample_norms()
        c = None
        if norms is not None:
            c = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        out: dict[nn.Parameter, torch.Tensor] = {}
        for module, rule, recs in self._records():
            sums: dict[str, torch.Tensor] = {}
            for a, g, scale in recs:
                cs = c.to(g.device) * scale if scale != 1.0 else c.to(g.device)
                for k, v in rule.clipped_sum(module, a, g, cs).items():
                    sums[k] = sums[k] + v if k in sums else v
            for name in _trainable_names(module):
                p = getattr(module, name)
                out[p] = sums[name].to(p.dtype) if name in sums else torch.zeros_like(p)
        self.clear()
        return out
