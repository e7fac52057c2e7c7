"""The rule contract of book-keeping clipping: records, the rule base class, the registry, and
the small helpers every rule shares (float32 upcasting, the ghost norm of a matmul layer).

Precision: records ``(a, g)`` keep the dtype the forward ran in (bf16/fp16 under autocast);
norms and clipped sums are computed from them upcast to float32 (float64 records stay float64),
so results are float32 whatever the autocast dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from auditkit.privacy.errors import PrivacyInputError

__all__ = ["register_rule"]


@dataclass
class _Slot:
    """What one module recorded during the last backward pass: (activation, output grad).

    ``batch_size``: the samples of the forward pass now running, when the keeper knows it (set
    before the forward); an embedding given one index row for the whole batch (GPT-2's and
    BERT's default position ids ``[1, T]``) then expands it to one row per sample, so that its
    gradient stays per sample instead of being summed by the broadcast.
    """

    records: list[tuple[Any, torch.Tensor]] = field(default_factory=list)
    batch_size: int | None = None

    def add(self, activation: Any, grad_output: torch.Tensor) -> None:
        self.records.append((activation, grad_output))


def _f32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when it is bf16/fp16 (float32/float64 and integer tensors unchanged)."""
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.float()
    return t


def _autocast_saved(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """The input as the kernel saw it: autocast cast it to the output's dtype (saves memory, as
    autocast itself keeps only the cast copy)."""
    if x.is_floating_point() and out.is_floating_point() and x.dtype != out.dtype:
        return x.to(out.dtype)
    return x


def _trainable(module: nn.Module, name: str) -> bool:
    p = getattr(module, name, None)
    return p is not None and p.requires_grad


def _trainable_names(module: nn.Module) -> list[str]:
    """The names of ``module``'s own trainable parameters, as ``named_parameters(recurse=False)``
    gives them (a Parameter registered under two names: the first), read from the module's
    parameter dict directly (this runs for every layer at every step)."""
    seen: set[int] = set()
    names = []
    for n, p in module._parameters.items():
        if p is not None and p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            names.append(n)
    return names


class _PerSampleGrads(dict):
    """A record that is already per-sample gradients ``{param_name: (B, *param.shape)}`` (float32,
    float64 for float64 records), made in the backward pass of layers whose per-sample gradient is
    smaller than their ``(activation, output grad)`` record (normalisation layers: ``B x d`` instead
    of two ``B x T x d``). Recorded as ``(_PerSampleGrads, one of its tensors)``: the second item
    gives the batch size and device, as an output grad would."""


def _record_affine(slot: Any, xhat: torch.Tensor, g: torch.Tensor, view: tuple, want: tuple[bool, bool]) -> None:
    """Record the per-sample gradients of ``weight`` / ``bias`` (``want``) of ``xhat * weight + bias``
    with the parameters shaped by ``view`` (broadcast from the right)."""
    if not any(want):
        slot.add(xhat, g)  # nothing trainable: the rule reports no parameter
        return
    x32, g32 = _f32(xhat), _f32(g)
    full = (1,) * (g.dim() - len(view)) + tuple(view)
    dims = [i for i in range(1, g.dim()) if full[i] == 1]
    B = g.shape[0]
    shape = [n for i, n in enumerate(full) if i > 0 and i not in dims]
    out = _PerSampleGrads()
    if want[0]:
        w = x32 * g32
        out["weight"] = (w.sum(dims) if dims else w).reshape(B, *shape)
    if want[1]:
        out["bias"] = (g32.sum(dims) if dims else g32).reshape(B, *shape)
    slot.add(out, next(iter(out.values())))


def _recorded(module: nn.Module, a: Any) -> dict[str, torch.Tensor] | None:
    """The trainable per-sample gradients of a :class:`_PerSampleGrads` record (else ``None``),
    shaped like the parameters."""
    if not isinstance(a, _PerSampleGrads):
        return None
    return {
        n: t.reshape(t.shape[0], *getattr(module, n).shape) for n, t in a.items() if _trainable(module, n)
    }


class _AffineFn(torch.autograd.Function):
    """``xhat * weight + bias`` for normalisation layers; ``view`` shapes the parameters. The
    backward records per-sample gradients of the parameters (:class:`_PerSampleGrads`)."""

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
            gx = g * weight.view(ctx.view).to(g.dtype) if weight is not None else g
            gx = gx.to(xhat.dtype)
        _record_affine(ctx.slot, xhat, g, ctx.view, (ctx.needs_input_grad[1], ctx.needs_input_grad[2]))
        return gx, None, None, None, None


class _ScaleFn(torch.autograd.Function):
    """``xhat * (offset + weight)`` over the last dimension (RMSNorm families).

    ``scale_dtype`` casts the weight first (``weight.float()`` in Gemma-style forwards); ``None``
    keeps it, so type promotion decides the output dtype as in ``weight * xhat``.
    """

    @staticmethod
    def forward(ctx, xhat, weight, slot, offset, scale_dtype):  # type: ignore[override]
        ctx.save_for_backward(xhat, weight)
        ctx.slot, ctx.offset, ctx.scale_dtype = slot, offset, scale_dtype
        w = weight if scale_dtype is None else weight.to(scale_dtype)
        if offset:
            w = offset + w
        return xhat * w

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        xhat, weight = ctx.saved_tensors
        gx = None
        if ctx.needs_input_grad[0]:
            w = weight if ctx.scale_dtype is None else weight.to(ctx.scale_dtype)
            if ctx.offset:
                w = ctx.offset + w
            gx = (g * w.to(g.dtype)).to(xhat.dtype)
        _record_affine(ctx.slot, xhat, g, (weight.shape[-1],), (ctx.needs_input_grad[1], False))
        return gx, None, None, None, None


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


class _Rule:
    """How to run, measure and sum one layer type."""

    def problem(self, module: nn.Module) -> str | None:
        """Why this instance cannot use the rule (``None`` if it can)."""
        return None

    def forward(self, module: nn.Module, slot: _Slot, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def per_sample(self, module: nn.Module, a: Any, g: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample gradients ``{param_name: (B, *param.shape)}`` of one record, for the
        trainable parameters only, in float32 (float64 for float64 records)."""
        raise NotImplementedError

    def norm2(self, module: nn.Module, a: Any, g: torch.Tensor) -> torch.Tensor:
        """Squared per-sample gradient norms ``(B,)`` of one record (trainable params only)."""
        total = torch.zeros(g.shape[0], dtype=_f32(g).dtype, device=g.device)
        for name, ps in self.per_sample(module, a, g).items():
            if _trainable(module, name):
                total = total + ps.reshape(ps.shape[0], -1).pow(2).sum(1)
        return total

    def clipped_sum(
        self, module: nn.Module, a: Any, g: torch.Tensor, c: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``sum_i c_i grad_i`` for each trainable parameter of one record."""
        _check_rows(module, g, c)
        return {
            name: torch.einsum("i,i...->...", c.to(ps.dtype), ps)
            for name, ps in self.per_sample(module, a, g).items()
            if _trainable(module, name)
        }

    def add_clipped_sum(
        self, module: nn.Module, a: Any, g: torch.Tensor, c: torch.Tensor, into: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Add :meth:`clipped_sum` into ``into`` (running sums by parameter name); return the
        sums of the parameters not in ``into``. Rules override it to write into the running
        sum directly (no tensor the size of the parameter made and added per record)."""
        out = {}
        for name, v in self.clipped_sum(module, a, g, c).items():
            if name in into:
                into[name].add_(v)
            else:
                out[name] = v
        return out


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


# --------------------------------------------------------------------------------------------
# Shared maths
# --------------------------------------------------------------------------------------------


def _flat3(a: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Records of a matmul layer as float32 ``(B, T, d)`` and ``(B, T, o)``."""
    B = g.shape[0]
    return _f32(a).reshape(B, -1, a.shape[-1]), _f32(g).reshape(B, -1, g.shape[-1])


def _weight_norm2(a3: torch.Tensor, g3: torch.Tensor) -> torch.Tensor:
    """Squared per-sample norms of ``g_i^T a_i`` for ``(B, T, d)``, ``(B, T, o)`` records: the ghost
    identity when it is cheaper than materialising the per-sample gradient (the layer-wise choice
    of Bu et al.)."""
    B, T, d = a3.shape
    o = g3.shape[2]
    if T == 0:
        return torch.zeros(B, dtype=g3.dtype, device=g3.device)
    if T == 1:
        return _row_norm2(a3[:, 0]) * _row_norm2(g3[:, 0])
    if T * (d + o) <= d * o:  # ghost norm is cheaper
        aa = torch.bmm(a3, a3.transpose(1, 2))
        return aa.mul_(torch.bmm(g3, g3.transpose(1, 2))).sum((1, 2))
    return torch.bmm(g3.transpose(1, 2), a3).pow(2).sum((1, 2))


def _matmul_norm2(a: torch.Tensor, g: torch.Tensor, weight: bool, bias: bool) -> torch.Tensor:
    """Squared per-sample norms of the weight (``g^T a`` or its transpose: the same norm) and
    bias (``sum_t g``) gradients of a matmul layer (:func:`_weight_norm2` picks ghost or
    materialised, whichever costs less)."""
    if not (weight or bias):
        return torch.zeros(g.shape[0], dtype=_f32(g).dtype, device=g.device)
    if a.dim() == 2 and g.dim() == 2:  # one row per sample, as given: no reshape or indexing
        rows = (a, g)
    else:
        a3, g3 = _flat3(a, g)
        rows = (a3[:, 0], g3[:, 0]) if a3.shape[1] == 1 else None
    if rows is not None:  # one row per sample: ||a_i||^2 ||g_i||^2 + ||g_i||^2
        gg = _row_norm2(_f32(rows[1]))
        if not weight:
            return gg
        aa = _row_norm2(_f32(rows[0]))
        return (aa.add_(1.0) if bias else aa).mul_(gg)
    total = torch.zeros(a3.shape[0], dtype=g3.dtype, device=g3.device)
    if weight:
        total = total + _weight_norm2(a3, g3)
    if bias:
        total = total + _row_norm2(g3.sum(1))
    return total


def _row_norm2(x: torch.Tensor) -> torch.Tensor:
    """Squared norms of the rows of a 2-d tensor (one reduction kernel, no squared copy)."""
    return torch.linalg.vector_norm(x, dim=1).square_()


def _row_weights(
    module: nn.Module, a: torch.Tensor, g: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The rows of a matmul layer's records for its clipped sum, as float32 ``(N, d)`` and
    ``(N, o)``, and each row's weight ``(N,)``: its sample's clip factor."""
    _check_rows(module, g, c)
    B = g.shape[0]
    a2 = a if a.dim() == 2 else a.reshape(-1, a.shape[-1])
    g2 = g if g.dim() == 2 else g.reshape(-1, g.shape[-1])
    dtype = torch.float32 if g.dtype in (torch.float16, torch.bfloat16) else g.dtype
    w = c.to(device=g.device, dtype=dtype)
    if g2.shape[0] != B:
        w = w.repeat_interleave(g2.shape[0] // B if B else 0)
    return _f32(a2), _f32(g2), w


def _check_rows(module: nn.Module, g: torch.Tensor, c: torch.Tensor) -> None:
    """Refuse a record whose output grad is not one row per sample: the layer's output was shared
    by the batch and broadcast, so its gradient is the batch's sum and no per-sample gradient can
    be recovered from it."""
    if g.shape[0] != c.shape[0]:
        raise PrivacyInputError(
            f"A layer of type {type(module).__name__} produced {g.shape[0]} output row(s) for a batch of "
            f"{c.shape[0]} samples: its output was shared by the batch and broadcast (for example "
            "position embeddings looked up with position_ids of shape [1, T]), so per-sample "
            "gradients cannot be recovered. Give it one input row per sample (position_ids of "
            "shape [B, T]) or freeze that layer."
        )


def _scaled(module: nn.Module, g: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``diag(c) g`` in float32: each sample's output grad times its clip factor."""
    _check_rows(module, g, c)
    g = _f32(g)
    return g * c.to(device=g.device, dtype=g.dtype).view(-1, *([1] * (g.dim() - 1)))


def _affine_per_sample(
    module: nn.Module, a: torch.Tensor, g: torch.Tensor, k: int, names: tuple[str, ...] = ("weight", "bias")
) -> dict[str, torch.Tensor]:
    """Per-sample grads of an elementwise affine over the last ``k`` dims: ``sum_pos g * a``
    (weight) and ``sum_pos g`` (bias), trainable ones only, float32."""
    done = _recorded(module, a)
    if done is not None:
        return {n: t for n, t in done.items() if n in names}
    a, g = _f32(a), _f32(g)
    B = g.shape[0]
    dims = tuple(range(1, g.dim() - k))
    out = {}
    if "weight" in names and _trainable(module, "weight"):
        out["weight"] = (g * a).sum(dims) if dims else g * a
    if "bias" in names and _trainable(module, "bias"):
        out["bias"] = g.sum(dims) if dims else g
    return {n: t.reshape(B, *getattr(module, n).shape) for n, t in out.items()}


class _LinearFn(torch.autograd.Function):
    """``x W^T + b`` recording ``(x, g)``; transformers' ``Conv1D`` (``x W + b``, weight
    ``[in, out]``) runs through it with ``W.t()``."""

    @staticmethod
    def forward(ctx, x, weight, bias, slot):  # type: ignore[override]
        out = F.linear(x, weight, bias)
        ctx.save_for_backward(_autocast_saved(x, out), weight)
        ctx.slot, ctx.x_dtype = slot, x.dtype
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        gx = g.matmul(weight.to(g.dtype)).to(ctx.x_dtype) if ctx.needs_input_grad[0] else None
        ctx.slot.add(x, g)
        return gx, None, None, None


class _MatmulRule(_Rule):
    """Per-sample gradients, norms and clipped sums of a layer ``x W^T + b`` (``nn.Linear``:
    weight ``[out, in]``) or ``x W + b`` (:attr:`in_out` true: transformers' ``Conv1D``, weight
    ``[in, out]``); the forward is the subclass's."""

    in_out = False

    def per_sample(self, module, a, g):
        a3, g3 = _flat3(a, g)
        out = {}
        if _trainable(module, "weight"):
            out["weight"] = torch.bmm(a3.transpose(1, 2), g3) if self.in_out else torch.bmm(g3.transpose(1, 2), a3)
        if _trainable(module, "bias"):
            out["bias"] = g3.sum(1)
        return out

    def norm2(self, module, a, g):
        return _matmul_norm2(a, g, _trainable(module, "weight"), _trainable(module, "bias"))

    def clipped_sum(self, module, a, g, c):
        return self.add_clipped_sum(module, a, g, c, {})

    def add_clipped_sum(self, module, a, g, c, into):
        """``sum_i c_i g_i^T a_i`` as one matmul, written straight into a running sum when there
        is one (``addmm_``), with the clip factors applied to the narrower of ``a`` and ``g``
        (``(diag(c) g)^T a = g^T (diag(c) a)``: a language model head's ``g`` is
        vocabulary-wide, its ``a`` model-wide); the bias ``sum_i c_i g_i`` as ``c^T g``."""
        a2, g2, w = _row_weights(module, a, g, c)
        out = {}
        if _trainable(module, "weight"):
            if a2.shape[1] <= g2.shape[1]:
                A, G = a2 * w.unsqueeze(1), g2
            else:
                A, G = a2, g2 * w.unsqueeze(1)
            # Conv1D (weight [in, out]): A^T G; nn.Linear (weight [out, in]): G^T A
            left, right = (A.t(), G) if self.in_out else (G.t(), A)
            if "weight" in into:
                into["weight"].addmm_(left, right)
            else:
                out["weight"] = left.matmul(right)
        if _trainable(module, "bias"):
            if "bias" in into:
                into["bias"].addmv_(g2.t(), w)
            else:
                out["bias"] = w.matmul(g2)
        return out
