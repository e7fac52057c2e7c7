"""Book-keeping rules per layer type: the autograd functions that record (input, output grad)
and, from those records, per-sample gradient norms and clipped sums.

A rule is registered per exact module type with :func:`register_rule`; layers of Hugging Face
``transformers`` (GPT-2's ``Conv1D``, the ``*RMSNorm`` families) are recognised by class name
without importing ``transformers`` and proven equal on a probe (:mod:`._rules_hf`).
:func:`rule_for` finds the rule of a module; see :mod:`auditkit.privacy.dp._clipping` for how
rules are used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from auditkit.privacy.dp._rules_base import _RULES as _RULES  # re-exported for the keeper
from auditkit.privacy.dp._rules_base import (
    _affine_per_sample,
    _AffineFn,
    _autocast_saved,
    _f32,
    _LinearFn,
    _MatmulRule,
    _recorded,
    _scaled,
    _trainable,
    register_rule,
)
from auditkit.privacy.dp._rules_base import _Rule as _Rule
from auditkit.privacy.dp._rules_base import _Slot as _Slot
from auditkit.privacy.dp._rules_base import _trainable_names as _trainable_names
from auditkit.privacy.dp._rules_embedding import _EmbeddingRule as _EmbeddingRule  # re-exported
from auditkit.privacy.dp._rules_hf import hf_rule_for, hf_supported_types

__all__ = ["register_rule", "rule_for", "rule_problem", "supported_types"]


# --------------------------------------------------------------------------------------------
# Autograd functions
# --------------------------------------------------------------------------------------------


class _ConvFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, slot, spec):  # type: ignore[override]
        stride, padding, dilation, groups = spec
        conv = F.conv1d if x.dim() == 3 else F.conv2d
        out = conv(x, weight, bias, stride, padding, dilation, groups)
        ctx.save_for_backward(_autocast_saved(x, out), weight)
        ctx.slot, ctx.spec, ctx.x_dtype = slot, spec, x.dtype
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.spec
        gx = None
        if ctx.needs_input_grad[0]:
            gx = torch.ops.aten.convolution_backward(
                g, x.to(g.dtype), weight.to(g.dtype), None, stride, padding, dilation, False,
                [0] * len(stride), groups, [True, False, False],
            )[0].to(ctx.x_dtype)
        ctx.slot.add(x, g)
        return gx, None, None, None, None


# --------------------------------------------------------------------------------------------
# Lookup
# --------------------------------------------------------------------------------------------


def rule_for(module: nn.Module) -> _Rule | None:
    """The book-keeping rule of ``module``, or ``None`` when its type has none.

    Exact-type registry first, then the layers of Hugging Face ``transformers`` recognised by
    class name and module (``Conv1D``, ``*RMSNorm``; ``transformers`` itself is never imported).
    A recognised rule may still refuse the instance: see :func:`rule_problem`.

    Parameters
    ----------
    module:
        Any ``torch.nn.Module``.

    Returns
    -------
    _Rule | None
        The rule, or ``None``.
    """
    rule = _RULES.get(type(module))
    return rule if rule is not None else hf_rule_for(module)


def supported_types() -> list[str]:
    """Names of the layer types the book-keeping path supports."""
    return sorted({t.__name__ for t in _RULES} | set(hf_supported_types()))


def rule_problem(module: nn.Module) -> str | None:
    """``None`` if ``module`` can use book-keeping clipping, else the reason it cannot."""
    rule = rule_for(module)
    if rule is None:
        return f"no book-keeping rule for {type(module).__name__}"
    return rule.problem(module)


def _out_dtype(out: torch.Tensor, want: torch.dtype) -> torch.Tensor:
    """Normalisation layers return the dtype the plain kernel returns (that of ``xhat``), also
    when the affine parameters have another dtype."""
    return out if out.dtype == want else out.to(want)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@register_rule(nn.Linear)
class _LinearRule(_MatmulRule):
    def forward(self, module, slot, x):
        return _LinearFn.apply(x, module.weight, module.bias, slot)


def _conv_spec(module: nn.Module) -> tuple:
    padding = module.padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * len(module.kernel_size)
        else:  # "same" with symmetric padding (checked in problem())
            padding = tuple(d * (k - 1) // 2 for d, k in zip(module.dilation, module.kernel_size, strict=False))
    if module.padding_mode != "zeros":  # padded explicitly in forward
        padding = (0,) * len(padding)
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
        if module.padding_mode != "zeros":
            x = F.pad(x, module._reversed_padding_repeated_twice, mode=module.padding_mode)
        return _ConvFn.apply(x, module.weight, module.bias, slot, _conv_spec(module))

    @staticmethod
    def _per_sample_weight(module, a, g):
        """Per-sample weight gradients ``(B, *weight.shape)`` from one grouped conv backward:
        the batch folded into the channel groups (faster than unfold + bmm on CPU)."""
        stride, padding, dilation, groups = _conv_spec(module)
        a, g = _f32(a), _f32(g)
        B = a.shape[0]
        w = module.weight
        xx = a.reshape(1, B * a.shape[1], *a.shape[2:])
        gg = g.reshape(1, B * g.shape[1], *g.shape[2:])
        ww = w.detach().to(g.dtype).repeat(B, *([1] * (w.dim() - 1)))
        gw = torch.ops.aten.convolution_backward(
            gg, xx, ww, None, stride, padding, dilation, False, [0] * len(stride),
            B * groups, [False, True, False],
        )[1]
        return gw.reshape(B, *w.shape)

    def per_sample(self, module, a, g):
        out = {}
        if _trainable(module, "weight"):
            out["weight"] = self._per_sample_weight(module, a, g)
        if _trainable(module, "bias"):
            out["bias"] = _f32(g).reshape(g.shape[0], g.shape[1], -1).sum(2)
        return out

    def norm2(self, module, a, g):
        B = g.shape[0]
        total = torch.zeros(B, dtype=_f32(g).dtype, device=g.device)
        if B == 0:
            return total
        if _trainable(module, "weight"):
            ps = self._per_sample_weight(module, a, g).reshape(B, -1)
            total = total + torch.linalg.vector_norm(ps, dim=1).square()
        if _trainable(module, "bias"):
            total = total + _f32(g).reshape(B, g.shape[1], -1).sum(2).square().sum(1)
        return total

    def clipped_sum(self, module, a, g, c):
        stride, padding, dilation, groups = _conv_spec(module)
        gc = _scaled(module, g, c)
        want_w, want_b = _trainable(module, "weight"), _trainable(module, "bias")
        w = module.weight.detach().to(gc.dtype)
        _, gw, gb = torch.ops.aten.convolution_backward(
            gc, _f32(a), w, [w.shape[0]] if want_b else None,
            stride, padding, dilation, False, [0] * len(stride), groups,
            [False, want_w, want_b],
        )
        out = {}
        if want_w:
            out["weight"] = gw
        if want_b:
            out["bias"] = gb
        return out


@register_rule(nn.LayerNorm)
class _LayerNormRule(_Rule):
    def forward(self, module, slot, x):
        shape = module.normalized_shape
        xhat = F.layer_norm(x, shape, None, None, module.eps)
        out = _AffineFn.apply(xhat, module.weight, module.bias, slot, tuple(shape))
        return _out_dtype(out, xhat.dtype)

    def per_sample(self, module, a, g):
        return _affine_per_sample(module, a, g, len(module.normalized_shape))


@register_rule(nn.GroupNorm)
class _GroupNormRule(_Rule):
    def forward(self, module, slot, x):
        xhat = F.group_norm(x, module.num_groups, None, None, module.eps)
        view = (1, module.num_channels) + (1,) * (x.dim() - 2)
        return _out_dtype(_AffineFn.apply(xhat, module.weight, module.bias, slot, view), xhat.dtype)

    def per_sample(self, module, a, g):
        done = _recorded(module, a)
        if done is not None:
            return done
        a, g = _f32(a), _f32(g)
        B, C = g.shape[0], g.shape[1]
        out = {}
        if _trainable(module, "weight"):
            out["weight"] = (g * a).reshape(B, C, -1).sum(2)
        if _trainable(module, "bias"):
            out["bias"] = g.reshape(B, C, -1).sum(2)
        return out


if hasattr(nn, "RMSNorm"):

    @register_rule(nn.RMSNorm)
    class _RMSNormRule(_Rule):
        """``torch.nn.RMSNorm``: ``F.rms_norm`` without the weight (same ``eps``, including
        ``None``: the machine epsilon of the computation type), then the recorded scale."""

        def forward(self, module, slot, x):
            shape = module.normalized_shape
            xhat = F.rms_norm(x, shape, None, module.eps)
            if module.weight is None:
                return xhat
            out = _AffineFn.apply(xhat, module.weight, None, slot, tuple(shape))
            return _out_dtype(out, xhat.dtype)

        def per_sample(self, module, a, g):
            return _affine_per_sample(module, a, g, len(module.normalized_shape), ("weight",))
