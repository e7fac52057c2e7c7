"""Book-keeping rules per layer type: the autograd functions that record (input, output grad)
and, from those records, per-sample gradient norms and clipped sums.

A rule is registered per exact module type with :func:`register_rule`; see
:mod:`auditkit.privacy.dp._clipping` for how they are used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from auditkit.privacy.errors import PrivacyInputError

__all__ = ["register_rule", "rule_problem", "supported_types"]


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
                raise PrivacyInputError(
                    f"A book-keeping rule for {t.__name__} is already registered, and a "
                    "layer type has one rule: register the new rule for another layer type."
                )
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
