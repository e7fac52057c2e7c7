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
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from privacy.errors import PrivacyInputError

__all__ = ["BookKeeper", "rule_problem", "register_rule", "supported_types"]


# --------------------------------------------------------------------------------------------
# Records and autograd functions
# --------------------------------------------------------------------------------------------


@dataclass
class _Slot:
    """What one module recorded during the last backward pass: (activation, output grad)."""

    records: list[tuple[Any, torch.Tensor]] = field(default_factory=list)

    def add(self, activation: Any, grad_output: torch.Tensor) -> None:
        self.records.append((activation, grad_output))


class _LinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, slot):  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.slot = slot
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        gx = g.matmul(weight) if ctx.needs_input_grad[0] else None
        ctx.slot.add(x, g)
        return gx, None, None, None


class _ConvFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, slot, spec):  # type: ignore[override]
        stride, padding, dilation, groups = spec
        ctx.save_for_backward(x, weight)
        ctx.slot, ctx.spec = slot, spec
        conv = F.conv1d if x.dim() == 3 else F.conv2d
        return conv(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.spec
        gx = None
        if ctx.needs_input_grad[0]:
            gx = torch.ops.aten.convolution_backward(
                g, x, weight, None, stride, padding, dilation, False,
                [0] * len(stride), groups, [True, False, False],
            )[0]
        ctx.slot.add(x, g)
        return gx, None, None, None, None


class _EmbeddingFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, idx, weight, padding_idx, slot):  # type: ignore[override]
        ctx.save_for_backward(idx)
        ctx.slot = slot
        return F.embedding(idx, weight, padding_idx)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (idx,) = ctx.saved_tensors
        ctx.slot.add(idx, g)
        return None, None, None, None


class _AffineFn(torch.autograd.Function):
    """``xhat * weight + bias`` for normalisation layers; ``view`` shapes the parameters."""

    @staticmethod
    def forward(ctx, xhat, weight, bias, slot, view):  # type: ignore[override]
        ctx.save_for_backward(xhat, weight)
        ctx.slot, ctx.view = slot, view
        out = xhat * weight.view(view) if weight is not None else xhat.clone()
        if bias is not None:
            out = out + bias.view(view)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        xhat, weight = ctx.saved_tensors
        gx = None
        if ctx.needs_input_grad[0]:
            gx = g * weight.view(ctx.view) if weight is not None else g
        ctx.slot.add(xhat, g)
        return gx, None, None, None, None


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


class _Rule:
    """How to run, measure and sum one layer type."""

    #: ``problem(module) -> str | None``: why this instance cannot use the rule.
    def problem(self, module: nn.Module) -> str | None:
        return None

    def forward(self, module: nn.Module, slot: _Slot, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def per_sample(self, module: nn.Module, a: Any, g: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample gradients ``{param_name: (B, *param.shape)}`` of one record."""
        raise NotImplementedError

    def norm2(self, module: nn.Module, a: Any, g: torch.Tensor) -> torch.Tensor:
        """Squared per-sample gradient norms ``(B,)`` of one record (trainable params only)."""
        return sum(
            ps.reshape(ps.shape[0], -1).pow(2).sum(1)
            for name, ps in self.per_sample(module, a, g).items()
            if getattr(module, name).requires_grad
        )

    def clipped_sum(
        self, module: nn.Module, a: Any, g: torch.Tensor, c: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``sum_i c_i grad_i`` for each trainable parameter of one record."""
        return {
            name: torch.einsum("i,i...->...", c.to(ps.dtype), ps)
            for name, ps in self.per_sample(module, a, g).items()
            if getattr(module, name).requires_grad
        }


_RULES: dict[type[nn.Module], _Rule] = {}


def register_rule(*types_: type[nn.Module]) -> Callable[[type[_Rule]], type[_Rule]]:
    """Class decorator: register a rule for the given module types (exact type match)."""

    def deco(cls: type[_Rule]) -> type[_Rule]:
        for t in types_:
            if t in _RULES:
                raise ValueError(f"A book-keeping rule for {t.__name__} is already registered.")
            _RULES[t] = cls()
        return cls

    return deco


def supported_types() -> list[str]:
    """Names of the layer types the book-keeping path supports."""
    return sorted(t.__name__ for t in _RULES)


def rule_problem(module: nn.Module) -> str | None:
    """``None`` if ``module`` can use book-keeping clipping, else the reason it cannot."""
    rule = _RULES.get(type(module))
    if rule is None:
        return f"no book-keeping rule for {type(module).__name__}"
    return rule.problem(module)


def _trainable_names(module: nn.Module) -> list[str]:
    return [n for n, p in module.named_parameters(recurse=False) if p.requires_grad]


@register_rule(nn.Linear)
class _LinearRule(_Rule):
    def forward(self, module, slot, x):
        return _LinearFn.apply(x, module.weight, module.bias, slot)

    def per_sample(self, module, a, g):
        B = g.shape[0]
        a3, g3 = a.reshape(B, -1, a.shape[-1]), g.reshape(B, -1, g.shape[-1])
        out = {"weight": torch.einsum("bto,btd->bod", g3, a3)}
        if module.bias is not None:
            out["bias"] = g3.sum(1)
        return out

    def norm2(self, module, a, g):
        B = g.shape[0]
        a3, g3 = a.reshape(B, -1, a.shape[-1]), g.reshape(B, -1, g.shape[-1])
        T, d, o = a3.shape[1], a3.shape[2], g3.shape[2]
        total = torch.zeros(B, dtype=g.dtype, device=g.device)
        if module.weight.requires_grad:
            if T == 1:
                total = total + a3[:, 0].pow(2).sum(1) * g3[:, 0].pow(2).sum(1)
            elif T * T * (d + o) <= T * d * o:  # ghost norm is cheaper
                aa = torch.bmm(a3, a3.transpose(1, 2))
                gg = torch.bmm(g3, g3.transpose(1, 2))
                total = total + (aa * gg).sum((1, 2))
            else:
                total = total + torch.einsum("bto,btd->bod", g3, a3).pow(2).sum((1, 2))
        if module.bias is not None and module.bias.requires_grad:
            total = total + g3.sum(1).pow(2).sum(1)
        return total

    def clipped_sum(self, module, a, g, c):
        gc = g * c.to(g.dtype).view(-1, *([1] * (g.dim() - 1)))
        g2, a2 = gc.reshape(-1, gc.shape[-1]), a.reshape(-1, a.shape[-1])
        out = {}
        if module.weight.requires_grad:
            out["weight"] = g2.t().matmul(a2)
        if module.bias is not None and module.bias.requires_grad:
            out["bias"] = g2.sum(0)
        return out


def _conv_spec(module: nn.Module) -> tuple:
    padding = module.padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * len(module.kernel_size)
        else:  # "same" with symmetric padding (checked in problem())
            padding = tuple(d * (k - 1) // 2 for d, k in zip(module.dilation, module.kernel_size, strict=False))
    return (tuple(module.stride), tuple(padding), tuple(module.dilation), module.groups)


@register_rule(nn.Conv1d, nn.Conv2d)
class _ConvRule(_Rule):
    def problem(self, module):
        if module.padding == "same" and any(
            (d * (k - 1)) % 2 for d, k in zip(module.dilation, module.kernel_size, strict=False)
        ):
            return "padding='same' with an even kernel extent (asymmetric padding)"
        return None

    def forward(self, module, slot, x):
        spec = _conv_spec(module)
        if module.padding_mode != "zeros":
            pad = module._reversed_padding_repeated_twice
            x = F.pad(x, pad, mode=module.padding_mode)
            spec = (spec[0], (0,) * len(spec[1]), spec[2], spec[3])
        return _ConvFn.apply(x, module.weight, module.bias, slot, spec)

    @staticmethod
    def _per_sample_weight(module, a, g):
        """Per-sample weight gradients ``(B, *weight.shape)`` from one grouped conv backward:
        the batch folded into the channel groups (faster than unfold + bmm on CPU)."""
        stride, padding, dilation, groups = _conv_spec(module)
        if module.padding_mode != "zeros":
            padding = (0,) * len(padding)
        B = a.shape[0]
        w = module.weight
        xx = a.reshape(1, B * a.shape[1], *a.shape[2:])
        gg = g.reshape(1, B * g.shape[1], *g.shape[2:])
        ww = w.detach().repeat(B, *([1] * (w.dim() - 1)))
        gw = torch.ops.aten.convolution_backward(
            gg, xx, ww, None, stride, padding, dilation, False, [0] * len(stride),
            B * groups, [False, True, False],
        )[1]
        return gw.reshape(B, *w.shape)

    def per_sample(self, module, a, g):
        out = {"weight": self._per_sample_weight(module, a, g)}
        if module.bias is not None:
            out["bias"] = g.reshape(g.shape[0], g.shape[1], -1).sum(2)
        return out

    def norm2(self, module, a, g):
        B = g.shape[0]
        total = torch.zeros(B, dtype=g.dtype, device=g.device)
        if B == 0:
            return total
        if module.weight.requires_grad:
            ps = self._per_sample_weight(module, a, g).reshape(B, -1)
            total = total + torch.linalg.vector_norm(ps, dim=1).square()
        if module.bias is not None and module.bias.requires_grad:
            total = total + g.reshape(B, g.shape[1], -1).sum(2).square().sum(1)
        return total

    def clipped_sum(self, module, a, g, c):
        stride, padding, dilation, groups = _conv_spec(module)
        if module.padding_mode != "zeros":
            padding = (0,) * len(padding)
        gc = g * c.to(g.dtype).view(-1, *([1] * (g.dim() - 1)))
        want_b = module.bias is not None and module.bias.requires_grad
        _, gw, gb = torch.ops.aten.convolution_backward(
            gc, a, module.weight, [module.weight.shape[0]] if want_b else None,
            stride, padding, dilation, False, [0] * len(stride), groups,
            [False, module.weight.requires_grad, want_b],
        )
        out = {}
        if module.weight.requires_grad:
            out["weight"] = gw
        if want_b:
            out["bias"] = gb
        return out


@register_rule(nn.Embedding)
class _EmbeddingRule(_Rule):
    def problem(self, module):
        if module.max_norm is not None:
            return "max_norm renormalises rows in the forward pass"
        if module.sparse:
            return "sparse gradients"
        if module.scale_grad_by_freq:
            return "scale_grad_by_freq depends on the whole batch"
        return None

    def forward(self, module, slot, x):
        return _EmbeddingFn.apply(x, module.weight, module.padding_idx, slot)

    @staticmethod
    def _flat(module, idx, g):
        B = g.shape[0]
        idx2 = idx.reshape(B, -1)
        g3 = g.reshape(B, -1, g.shape[-1])
        if module.padding_idx is not None:
            g3 = g3 * (idx2 != module.padding_idx).unsqueeze(-1).to(g3.dtype)
        return idx2, g3

    def per_sample(self, module, a, g):
        idx2, g3 = self._flat(module, a, g)
        B, T, p = g3.shape
        V = module.weight.shape[0]
        flat = (idx2 + torch.arange(B, device=idx2.device).unsqueeze(1) * V).reshape(-1)
        ps = torch.zeros(B * V, p, dtype=g3.dtype, device=g3.device)
        ps.index_add_(0, flat, g3.reshape(-1, p))
        return {"weight": ps.reshape(B, V, p)}

    def norm2(self, module, a, g):
        idx2, g3 = self._flat(module, a, g)
        if idx2.shape[1] == 1:
            return g3[:, 0].pow(2).sum(1)
        same = (idx2.unsqueeze(2) == idx2.unsqueeze(1)).to(g3.dtype)
        return (same * torch.bmm(g3, g3.transpose(1, 2))).sum((1, 2))

    def clipped_sum(self, module, a, g, c):
        idx2, g3 = self._flat(module, a, g)
        gc = g3 * c.to(g3.dtype).view(-1, 1, 1)
        out = torch.zeros_like(module.weight)
        out.index_add_(0, idx2.reshape(-1), gc.reshape(-1, gc.shape[-1]).to(out.dtype))
        return {"weight": out}


@register_rule(nn.LayerNorm)
class _LayerNormRule(_Rule):
    def problem(self, module):
        return None

    def forward(self, module, slot, x):
        shape = module.normalized_shape
        xhat = F.layer_norm(x, shape, None, None, module.eps)
        view = tuple(shape)
        return _AffineFn.apply(xhat, module.weight, module.bias, slot, view)

    def per_sample(self, module, a, g):
        B, k = g.shape[0], len(module.normalized_shape)
        dims = tuple(range(1, g.dim() - k))
        out = {}
        if module.weight is not None:
            out["weight"] = (g * a).sum(dims) if dims else g * a
        if module.bias is not None:
            out["bias"] = g.sum(dims) if dims else g
        return {n: t.reshape(B, *getattr(module, n).shape) for n, t in out.items()}


@register_rule(nn.GroupNorm)
class _GroupNormRule(_Rule):
    def problem(self, module):
        return None

    def forward(self, module, slot, x):
        xhat = F.group_norm(x, module.num_groups, None, None, module.eps)
        view = (1, module.num_channels) + (1,) * (x.dim() - 2)
        return _AffineFn.apply(xhat, module.weight, module.bias, slot, view)

    def per_sample(self, module, a, g):
        B, C = g.shape[0], g.shape[1]
        out = {}
        if module.weight is not None:
            out["weight"] = (g * a).reshape(B, C, -1).sum(2)
        if module.bias is not None:
            out["bias"] = g.reshape(B, C, -1).sum(2)
        return out


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
