"""Tied weights in book-keeping clipping equal brute-force per-sample clipping (float32, 1e-5).

A Parameter owned by several layers gets one per-sample norm contribution (the norm of the sum of
its owners' per-sample gradients, cross terms included) and one clipped sum (the sum of its owners').
Brute force: each sample alone, forward + backward, clip to C, sum.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from auditkit.privacy.dp._clipping import BookKeeper
from auditkit.privacy.dp._tied import find_tied

B, T, V, D = 6, 5, 17, 8


class TiedLM(nn.Module):
    """Input embedding tied with the output head (Embedding x Linear), a LayerNorm in between."""

    def __init__(self, padding_idx=None):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=padding_idx)
        self.ln = nn.LayerNorm(D)
        self.mid = nn.Linear(D, D)
        self.head = nn.Linear(D, V, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, idx):
        return self.head(torch.tanh(self.mid(self.ln(self.emb(idx)))))


class TwinLinear(nn.Module):
    """Two Linear layers sharing a weight (their own biases), plus an Embedding used twice."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.a = nn.Linear(D, D)
        self.b = nn.Linear(D, D)
        self.b.weight = self.a.weight
        self.out = nn.Linear(D, V)

    def forward(self, idx):
        h = self.emb(idx)
        return self.out(torch.tanh(self.b(torch.tanh(self.a(h)))) + self.emb(idx.flip(1)))


class TwinEmbedding(nn.Module):
    """Two Embedding modules sharing one table (a pairing with no ghost identity: per-sample
    gradients), one of them also used twice."""

    def __init__(self):
        super().__init__()
        self.e1 = nn.Embedding(V, D)
        self.e2 = nn.Embedding(V, D)
        self.e2.weight = self.e1.weight
        self.out = nn.Linear(D, V)

    def forward(self, idx):
        return self.out(self.e1(idx) * 0.5 + self.e2((idx * 3) % V) + self.e2(idx.roll(1, 1)))


def token_loss(model, idx, reduction):
    """Per-sample loss: next-token cross-entropy averaged over the sample's own tokens."""
    logits = model(idx)
    per_tok = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), idx[:, 1:].reshape(-1),
                                          reduction="none").reshape(idx.shape[0], -1)
    per_sample = per_tok.mean(1)
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


def brute_force(model, idx, loss_fn, C):
    """Each sample alone: gradient, norm, clip to C, sum. Returns (sums by name, norms)."""
    params = dict(model.named_parameters())  # a tied Parameter appears once
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    norms = []
    for i in range(idx.shape[0]):
        grads = torch.autograd.grad(loss_fn(model, idx[i : i + 1], "sum"), list(params.values()),
                                    allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params.values(), strict=True)]
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
        norms.append(float(norm))
        c = C / (norm + 1e-6) if C is not None else 1.0
        c = min(1.0, float(c))
        for n, g in zip(params, grads, strict=True):
            total[n] += c * g
    return total, torch.tensor(norms, dtype=torch.float64)


def ours(model, idx, loss_fn, C, reduction):
    keeper = BookKeeper(model, loss_reduction=reduction)
    loss_fn(model, idx, reduction).backward()
    sums = keeper.clipped_sum(C)
    norms = keeper.last_norms
    tied = keeper.tied
    keeper.detach()
    return {n: sums[p] for n, p in model.named_parameters()}, norms, tied


def check(model, idx, loss_fn, reduction, rtol=1e-5):
    _, norms0 = brute_force(copy.deepcopy(model), idx, loss_fn, None)
    C = float(norms0.median())  # about half the samples are clipped
    ref, ref_norms = brute_force(copy.deepcopy(model), idx, loss_fn, C)
    got, got_norms, tied = ours(copy.deepcopy(model), idx, loss_fn, C, reduction)
    assert tied, "the model has a tied parameter"
    assert got_norms.dtype == torch.float32
    torch.testing.assert_close(got_norms.double(), ref_norms, rtol=rtol, atol=1e-7)
    for name, r in ref.items():
        torch.testing.assert_close(got[name], r, rtol=rtol, atol=rtol * float(r.abs().max()) + 1e-7,
                                   msg=lambda m, name=name: f"{name}: {m}")
    clipped = (ref_norms > C).sum()
    assert 0 < clipped < len(ref_norms)  # clipping is active and not total


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(
    "make", [TiedLM, lambda: TiedLM(padding_idx=0), TwinLinear, TwinEmbedding],
    ids=["embedding_head", "embedding_head_padding_idx", "linear_linear", "embedding_embedding"],
)
def test_tied_toy_models_match_brute_force(make, reduction):
    torch.manual_seed(0)
    model = make()
    idx = torch.randint(0, V, (B, T))
    idx[0, :2] = 0  # padding tokens (the padding_idx variant gives them no embedding gradient)
    check(model, idx, token_loss, reduction)


def test_cross_term_matters_and_tied_groups_are_found():
    """The cross term 2<G_emb, G_head> is a sizeable part of the norm here, so a keeper that
    dropped it (or kept one owner's sum) would fail the brute-force comparison above."""
    torch.manual_seed(1)
    model = TiedLM()
    untied = copy.deepcopy(model)
    untied.head.weight = nn.Parameter(untied.emb.weight.detach().clone())
    idx = torch.randint(0, V, (B, T))
    rel = []
    for i in range(B):
        ge, gh = torch.autograd.grad(token_loss(untied, idx[i : i + 1], "sum"),
                                     [untied.emb.weight, untied.head.weight])
        cross = 2 * (ge * gh).sum()
        rel.append(float(cross.abs() / ((ge + gh) ** 2).sum()))
    assert max(rel) > 1e-2
    groups = find_tied({n: (m, None) for n, m in model.named_modules() if n})
    assert [g.owners for g in groups] == [(("emb", "weight"), ("head", "weight"))]


def test_frozen_tied_weight_costs_nothing_and_stays_out():
    torch.manual_seed(2)
    model = TiedLM()
    model.emb.weight.requires_grad_(False)
    keeper = BookKeeper(model)
    assert keeper.tied == []
    token_loss(model, torch.randint(0, V, (B, T)), "mean").backward()
    sums = keeper.clipped_sum(1.0)
    assert model.emb.weight not in sums and model.mid.weight in sums
    keeper.detach()


def gpt2_loss(model, idx, reduction, explicit_positions=False):
    """Per-sample next-token loss of a tiny GPT-2, padded tail positions masked out.
    ``explicit_positions``: position ids ``(B, T)``; else GPT-2 makes ``(1, T)`` and broadcasts."""
    mask = (idx != 0).long()  # token 0 is padding (only at the tail of the shorter sample)
    extra = {}
    if explicit_positions:
        extra["position_ids"] = torch.arange(idx.shape[1]).expand(idx.shape[0], -1)
    logits = model(input_ids=idx, attention_mask=mask, **extra).logits
    labels = idx.masked_fill(mask == 0, -100)
    per_tok = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                          labels[:, 1:].reshape(-1), reduction="none",
                                          ignore_index=-100).reshape(idx.shape[0], -1)
    counts = (labels[:, 1:] != -100).sum(1).clamp(min=1)
    per_sample = per_tok.sum(1) / counts
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


@pytest.mark.parametrize("positions", ["explicit", "broadcast"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_tiny_gpt2_tied_lm_head_matches_brute_force(reduction, positions):
    """GPT-2 ties transformer.wte.weight to lm_head.weight (needs the Conv1D rule); its position
    embedding is looked up once for the batch and broadcast unless position ids are given."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(3)
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=97, n_positions=32,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel(config).eval()
    assert model.lm_head.weight is model.transformer.wte.weight
    idx = torch.randint(1, 97, (4, 9))
    idx[-1, -3:] = 0  # the last sample is shorter: its tail is padding

    def loss_fn(m, x, r):
        return gpt2_loss(m, x, r, explicit_positions=positions == "explicit")

    check(model, idx, loss_fn, reduction)


def _tiny_gpt2():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(3)
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=97, n_positions=32,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(config).eval()


@pytest.mark.parametrize("micro_batches", [1, 3])
@pytest.mark.parametrize("make", [TiedLM, TwinLinear, TwinEmbedding, _tiny_gpt2],
                         ids=["tied_lm", "twin_linear", "twin_embedding", "gpt2"])
def test_sums_added_into_given_buffers_equal_the_plain_sums(make, micro_batches):
    """What the optimizer does with the step's noise: clipped_sum(into=buffers) adds every rule's
    sums (addmm_ for matmuls, index_add_ for embeddings, the default for the rest) into the
    buffers, including micro-batches absorbed before the step; the result is the plain sums
    plus what the buffers held, for every parameter, and the buffers are what is returned."""
    torch.manual_seed(0)
    model = make()
    vocab = 97 if make is _tiny_gpt2 else V
    idx = torch.randint(1, vocab, (micro_batches * 4, T + 2))

    def loss_fn(m, x, r):
        return gpt2_loss(m, x, r) if make is _tiny_gpt2 else token_loss(m, x, r)

    def run(with_into):
        m = copy.deepcopy(model)
        keeper = BookKeeper(m, max_grad_norm=0.7, loss_reduction="sum")
        for part in idx.chunk(micro_batches):  # a new forward absorbs the previous micro-batch
            loss_fn(m, part, "sum").backward()
        into = None
        if with_into:
            g = torch.Generator().manual_seed(1)
            into = {p: torch.randn(p.shape, generator=g) for p in m.parameters()}
            start = {p: t.clone() for p, t in into.items()}
        sums = keeper.clipped_sum(0.7, into=into)
        keeper.detach()
        names = {p: n for n, p in m.named_parameters()}
        if with_into:
            for p, t in into.items():
                assert sums[p] is t  # the buffer itself: no second tensor
            return {names[p]: sums[p] - start[p] for p in start}
        return {names[p]: s for p, s in sums.items()}

    plain, added = run(False), run(True)
    assert set(added) == set(dict(model.named_parameters()))
    for name, value in added.items():
        expected = plain.get(name, torch.zeros_like(value))
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
