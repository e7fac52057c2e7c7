"""Tied weights for book-keeping clipping: one Parameter owned by several layers.

A Parameter ``W`` owned by layers ``m_1 .. m_k`` (GPT-2's ``transformer.wte.weight`` is
``lm_head.weight``; PEFT or user-tied layers) has per-sample gradient
``G_i = sum_m G_{m,i}``, so its part of sample ``i``'s squared norm is

    ||G_i||^2 = sum_m ||G_{m,i}||^2 + 2 sum_{m < m'} <G_{m,i}, G_{m',i}>.

The book-keeper already counts each owner's own term ``||G_{m,i}||^2`` (every layer's rule measures
its own parameters); this module adds the cross terms. They are computed without a per-sample
gradient where an identity exists:

- ``Embedding`` x ``Linear`` (an input embedding tied with the output head, weight ``[V, d]``):
  ``<G_emb_i, G_head_i> = sum_{t,s} gH[i, s, idx[i, t]] * (a[i, s] . gE[i, t])``, with ``idx`` the
  token ids, ``gE`` the embedding's output gradient, ``a`` the head's input and ``gH`` its output
  gradient: a ``[B, S, T]`` tensor instead of a ``[B, V, d]`` one;
- ``Linear`` x ``Linear``: ``<g1^T a1, g2^T a2> = sum_{t,s} (a1_t . a2_s)(g1_t . g2_s)``;
- any other pair: the rules' per-sample gradients, multiplied and summed.

Everything here is computed in float32 (records of half/bf16 layers are upcast). The clipped sum of
a tied Parameter is the sum of its owners' clipped sums (the book-keeper adds them).

Also here, the other questions of who owns and who uses a parameter, and the book-keeper's refusals
of records it cannot clip per sample (:func:`aliases`, :func:`several_passes`,
:func:`rows_not_samples`, :func:`used_outside`, :func:`refuse_batchnorm_in_training`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from auditkit.privacy.dp._rules import _EmbeddingRule, _LinearRule
from auditkit.privacy.errors import PrivacyInputError

__all__ = [
    "TiedGroup",
    "aliases",
    "batchnorms",
    "cross_norm2",
    "find_tied",
    "ghost_tied",
    "refuse_batchnorm_in_training",
    "rows_not_samples",
    "several_passes",
    "used_outside",
]

#: ``{layer name: (module, rule, [(activation, output grad, scale), ...])}`` of one micro-batch
Records = dict[str, tuple[nn.Module, Any, list[tuple[Any, torch.Tensor, float]]]]


@dataclass(frozen=True)
class TiedGroup:
    """A trainable Parameter and the ``(layer name, attribute name)`` of each of its owners."""

    param: nn.Parameter
    owners: tuple[tuple[str, str], ...]


def find_tied(layers: dict[str, tuple[nn.Module, Any]]) -> list[TiedGroup]:
    """The trainable Parameters owned by more than one of ``layers`` (``{name: (module, rule)}``)."""
    owners: dict[int, list[tuple[str, str]]] = {}
    params: dict[int, nn.Parameter] = {}
    for name, (module, _) in layers.items():
        for attr, p in module.named_parameters(recurse=False):
            if p.requires_grad:
                owners.setdefault(id(p), []).append((name, attr))
                params[id(p)] = p
    return [TiedGroup(params[k], tuple(v)) for k, v in owners.items() if len(v) > 1]


def cross_norm2(group: TiedGroup, records: Records) -> torch.Tensor | None:
    """``2 sum_{m<m'} <G_{m,i}, G_{m',i}>`` per sample (float32, ``(B,)``), or ``None`` when fewer
    than two owners took part in the micro-batch. Owners that ran several times contribute every
    record (their per-sample gradient is the sum of the records')."""
    total = None
    for (n1, k1), (n2, k2) in itertools.combinations(group.owners, 2):
        m1, r1, recs1 = records[n1]
        m2, r2, recs2 = records[n2]
        for (a1, g1, s1), (a2, g2, s2) in itertools.product(recs1, recs2):
            x = _cross(m1, r1, k1, a1, g1, m2, r2, k2, a2, g2) * (2.0 * s1 * s2)
            total = x if total is None else total + x.to(total.device)
    return total


def _cross(m1, r1, k1, a1, g1, m2, r2, k2, a2, g2) -> torch.Tensor:  # noqa: ANN001
    """``<G_1,i, G_2,i>`` of one record of each of two owners of one Parameter (float32)."""
    if type(r1) is _LinearRule and isinstance(r2, _EmbeddingRule):
        m1, r1, k1, a1, g1, m2, r2, k2, a2, g2 = m2, r2, k2, a2, g2, m1, r1, k1, a1, g1
    if isinstance(r1, _EmbeddingRule) and type(r2) is _LinearRule and k2 == "weight":
        return _embedding_head(m1, a1, g1, a2, g2)
    if type(r1) is _LinearRule and type(r2) is _LinearRule and k1 == k2 == "weight":
        return _linear_linear(a1, g1, a2, g2)
    ps1 = _f32(r1.per_sample(m1, a1, g1)[k1])
    ps2 = _f32(r2.per_sample(m2, a2, g2)[k2]).to(ps1.device)
    B = ps1.shape[0]
    return (ps1.reshape(B, -1) * ps2.reshape(B, -1)).sum(1)


def _f32(t: torch.Tensor) -> torch.Tensor:
    """Half and bf16 records upcast to float32 (float32 and float64 kept)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _seq(t: torch.Tensor, B: int) -> torch.Tensor:
    """``[B, ..., d] -> [B, T, d]``, at least float32."""
    return _f32(t.reshape(B, -1, t.shape[-1]))


def _embedding_head(emb: nn.Module, idx: torch.Tensor, gE: torch.Tensor, a: torch.Tensor,
                    gH: torch.Tensor) -> torch.Tensor:
    """Embedding (token ids ``idx``, output grad ``gE``) x Linear head (input ``a``, output grad
    ``gH`` over the vocabulary) by the ghost identity in the module docstring."""
    B = gE.shape[0]
    ids = idx.reshape(B, -1)
    e = _seq(gE, B)
    if emb.padding_idx is not None:  # the padding row gets no gradient from the embedding
        e = e * (ids != emb.padding_idx).unsqueeze(-1).to(e.dtype)
    x, h = _seq(a, B).to(e.device), _seq(gH, B).to(e.device)
    S, T = x.shape[1], ids.shape[1]
    dots = torch.bmm(x, e.transpose(1, 2))  # [B, S, T]: a_s . gE_t
    picked = h.gather(2, ids.to(h.device).unsqueeze(1).expand(B, S, T))  # gH[i, s, idx[i, t]]
    return (dots * picked).sum((1, 2))


def _linear_linear(a1: torch.Tensor, g1: torch.Tensor, a2: torch.Tensor, g2: torch.Tensor) -> torch.Tensor:
    """Two Linear layers sharing one weight: ``sum_{t,s} (a1_t . a2_s)(g1_t . g2_s)``."""
    B = g1.shape[0]
    x1, y1 = _seq(a1, B), _seq(g1, B)
    x2, y2 = _seq(a2, B).to(x1.device), _seq(g2, B).to(x1.device)
    return (torch.bmm(x1, x2.transpose(1, 2)) * torch.bmm(y1, y2.transpose(1, 2))).sum((1, 2))


# --------------------------------------------------------------------------------------------
# Ownership, and the records the book-keeper refuses
# --------------------------------------------------------------------------------------------


def aliases(model: nn.Module, has_rule: Callable[[nn.Module], bool]) -> set[str]:
    """Names of the modules without a rule whose trainable parameters all belong (directly) to a
    module with one: not layers of their own (BERT's ``BertLMPredictionHead.bias`` is its
    ``decoder.bias``). A module that also uses such a parameter itself is caught at the first step:
    the parameter then gets a gradient outside its layer (:func:`used_outside`)."""
    ruled: set[int] = set()
    unruled: list[tuple[str, list[nn.Parameter]]] = []
    for name, m in model.named_modules():
        own = [p for p in m.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        if has_rule(m):
            ruled.update(id(p) for p in own)
        else:
            unruled.append((name, own))
    return {name for name, own in unruled if all(id(p) in ruled for p in own)}


def ghost_tied(layers: list[tuple[str, nn.Module]]) -> tuple[str, ...]:
    """The tied parameters (:func:`find_tied` over ``layers``: every module owning one, whether
    or not it uses it in its forward) with an owner Opacus ghost clipping computes norms for, as
    ``"a.weight = b.weight"``. With another such owner Opacus raises ``NotImplementedError:
    Parameter tying is not supported with Ghost Clipping`` in the first training pass; with one
    it has no norm sampler for (run through functorch) it raises nothing and clips with a norm
    that misses the cross term, so a sample's clipped gradient can exceed the clipping norm. A
    layer called twice in one forward pass (ALBERT's shared layers) is one owner here: Opacus
    raises on it in the first pass."""
    from opacus.grad_sample.grad_sample_module_fast_gradient_clipping import (
        GradSampleModuleFastGradientClipping as Ghost,
    )

    modules = dict(layers)
    return tuple(
        " = ".join(f"{name}.{attr}" for name, attr in group.owners)
        for group in find_tied({name: (m, None) for name, m in layers})
        if any(type(modules[name]) in Ghost.NORM_SAMPLERS for name, _ in group.owners)
    )


def several_passes(count: int) -> str:
    """The refusal of one backward pass over the records of ``count`` forward passes."""
    return (
        f"One backward pass went through {count} forward passes of the model (for example "
        "loss = f(model(x1)) + f(model(x2)): R-Drop, DPO chosen/rejected, contrastive or siamese "
        "losses, or every micro-batch's forward before one backward). Book-keeping clipping cannot "
        "tell whether those passes hold the same samples or different ones: clipping each pass as "
        "its own samples lets one sample's gradient reach k times the clipping norm, which breaks "
        "the per-sample bound DP-SGD's guarantee rests on. Run one forward pass per micro-batch and "
        "call backward before the next forward; for a loss that needs several model calls per "
        "sample, use mode='hooks' or mode='functorch' (Opacus), or make one forward call per group "
        "of samples."
    )


def rows_not_samples(rec_pass: Any, layers: dict[str, tuple[nn.Module, Any]]) -> str | None:
    """Why a pass's records are not one row per sample (``None`` when they are, or when the pass's
    batch size is unknown): names the first such layer."""
    n = rec_pass.batch_size
    if n is None:
        return None
    for name, slot in rec_pass.slots.items():
        for _, g in slot.records:
            if g.shape[0] != n:
                return (
                    f"Layer {name or '<root>'} ({type(layers[name][0]).__name__}) recorded {g.shape[0]} "
                    f"row(s) for a forward pass of {n} samples: its rows are not the samples, so its "
                    "gradient cannot be clipped per sample. This happens when a layer runs on tokens "
                    "selected or routed across the batch (head(hidden[labels != -100]), "
                    "mixture-of-experts routing over flattened tokens), on sequence-first [T, B, ...] "
                    "inputs, or once for the whole batch and broadcast (position ids [1, T]). Give the "
                    "layer one input row per sample (apply it to the whole [B, T, ...] tensor and "
                    "select afterwards, batch_first=True, position_ids of shape [B, T]) or freeze it."
                )
    return None


def used_outside(names: list[str]) -> str:
    """The refusal of trainable parameters that got a gradient outside their layer."""
    listed = ", ".join(repr(n) for n in names)
    return (
        f"The trainable parameter(s) {listed} got a gradient from outside their book-keeping layer "
        "(for example F.linear(x, self.lin.weight) in a custom forward, or a parameter shared with a "
        "module that has no book-keeping rule): that gradient carries no per-sample record and "
        "would not be clipped. Use the parameter only through its layer, freeze it, or use "
        "mode='hooks' (Opacus)."
    )


def batchnorms(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every BatchNorm layer (any ``_BatchNorm``, SyncBatchNorm included)."""
    bn = nn.modules.batchnorm._BatchNorm
    return [(n or "<root>", m) for n, m in model.named_modules() if isinstance(m, bn)]


def refuse_batchnorm_in_training(layers: list[tuple[str, nn.Module]]) -> None:
    """Refuse a forward pass with gradients through a BatchNorm that uses batch statistics."""
    mixing = [f"{n} ({type(m).__name__})" for n, m in layers if m.training or m.running_mean is None]
    if mixing:
        raise PrivacyInputError(
            f"BatchNorm layer(s) {', '.join(mixing)} are in training mode (or keep no running "
            "statistics): they normalise with the batch's statistics, so each sample's output "
            "depends on the other samples and per-sample clipping does not bound its influence. "
            "Call .eval() on them after model.train() (they then use their running statistics), or "
            "replace them (make_private(..., fix=True) swaps BatchNorm for GroupNorm)."
        )
