"""The book-keeping rule of ``nn.Embedding`` (also the base of the scaled word embeddings of
``transformers``, :mod:`._rules_hf`): records (token ids, output grad); per-sample norms by the
ghost identity over equal ids, clipped sums by one ``index_add_``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from auditkit.privacy.dp._rules_base import _f32, _Rule, _scaled, _trainable, register_rule

__all__: list[str] = []


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
        n = getattr(slot, "batch_size", None)
        if n is not None and n > 1 and x.dim() >= 2 and x.shape[0] == 1 and torch.is_grad_enabled():
            x = x.expand(n, *x.shape[1:])  # one row per sample: see _Slot.batch_size
        return _EmbeddingFn.apply(x, module.weight, module.padding_idx, slot)

    @staticmethod
    def _flat(module, idx, g):
        B = g.shape[0]
        idx2 = idx.reshape(B, -1)
        g3 = _f32(g).reshape(B, -1, g.shape[-1])
        if module.padding_idx is not None:
            g3 = g3 * (idx2 != module.padding_idx).unsqueeze(-1).to(g3.dtype)
        return idx2, g3

    def per_sample(self, module, a, g):
        if not _trainable(module, "weight"):
            return {}
        idx2, g3 = self._flat(module, a, g)
        B, T, p = g3.shape
        V = module.weight.shape[0]
        flat = (idx2 + torch.arange(B, device=idx2.device).unsqueeze(1) * V).reshape(-1)
        ps = torch.zeros(B * V, p, dtype=g3.dtype, device=g3.device)
        ps.index_add_(0, flat, g3.reshape(-1, p))
        return {"weight": ps.reshape(B, V, p)}

    def norm2(self, module, a, g):
        idx2, g3 = self._flat(module, a, g)
        if not _trainable(module, "weight"):
            return torch.zeros(g3.shape[0], dtype=g3.dtype, device=g3.device)
        if idx2.shape[1] == 1:
            return g3[:, 0].pow(2).sum(1)
        same = (idx2.unsqueeze(2) == idx2.unsqueeze(1)).to(g3.dtype)
        return (same * torch.bmm(g3, g3.transpose(1, 2))).sum((1, 2))

    def clipped_sum(self, module, a, g, c):
        return self.add_clipped_sum(module, a, g, c, {})

    def add_clipped_sum(self, module, a, g, c, into):
        """The clipped rows added at their indices, straight into the running sum when there is
        one (no vocabulary-sized zeros made and added per record)."""
        if not _trainable(module, "weight"):
            return {}
        idx2, g3 = self._flat(module, a, g)
        gc = _scaled(module, g3, c)
        out = into.get("weight")
        if out is None:
            out = torch.zeros(module.weight.shape, dtype=gc.dtype, device=gc.device)
        out.index_add_(0, idx2.reshape(-1), gc.reshape(-1, gc.shape[-1]).to(out.dtype))
        return {} if "weight" in into else {"weight": out}
