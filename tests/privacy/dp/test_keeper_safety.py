"""Silent-error classes of the book-keeping engine, each refused (or made right) instead of
giving a clipped sum whose per-sample sensitivity is not ``C``:

- several forward passes whose records arrive in one backward (R-Drop, DPO, siamese losses);
- a layer whose record rows are not the samples (a head on selected tokens, token routing);
- a trainable parameter used outside its book-keeping layer (``F.linear(x, self.lin.weight)``);
- a module without a rule whose parameters all belong to a layer with one (BERT's MLM head bias);
- BatchNorm in training mode (batch statistics mix samples), frozen or not;
- PEFT LoRA on an embedding (a ParameterDict used by its parent: no mode can clip it).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from auditkit.privacy.dp._clipping import BookKeeper
from auditkit.privacy.dp._modes import check_layers, prepare_layers, select_mode
from auditkit.privacy.dp._optim import bookkeeping_optimizer_class
from auditkit.privacy.errors import PrivacyInputError

C = 0.05


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))


def _brute(model, n, loss_i, c):
    """Per-sample clipping by brute force: ``{name: sum_i clip(grad_i)}`` (float64)."""
    params = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    tot = {k: torch.zeros_like(p, dtype=torch.float64) for k, p in params}
    for i in range(n):
        grads = torch.autograd.grad(loss_i(model, i), [p for _, p in params], allow_unused=True)
        gs = {k: (g.double() if g is not None else torch.zeros_like(p, dtype=torch.float64))
              for (k, p), g in zip(params, grads, strict=True)}
        norm = math.sqrt(sum(float(g.pow(2).sum()) for g in gs.values()))
        for k in tot:
            tot[k] += min(1.0, c / (norm + 1e-6)) * gs[k]
    return tot


def _keeper_sum(model, run, c=C):
    keeper = BookKeeper(model, loss_reduction="sum", max_grad_norm=c)
    try:
        run(model)
        sums = keeper.clipped_sum(c)
    finally:
        keeper.detach()
    names = {id(p): k for k, p in model.named_parameters()}
    return {names[id(p)]: v.double() for p, v in sums.items()}


def _assert_close(ours, ref):
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------------------------
# 1. several forward passes, one backward
# --------------------------------------------------------------------------------------------


def test_two_forwards_one_backward_is_refused_at_the_step():
    """``(m(x1) - m(x2)).sum().backward()``: one sample's two passes were clipped as two samples
    (norm of one sample's contribution up to 2C); the keeper cannot tell, so it refuses."""
    model = _mlp()
    keeper = BookKeeper(model, loss_reduction="sum", max_grad_norm=C)
    x1 = torch.randn(1, 8)
    (model(x1) - model(-x1)).sum().backward()
    with pytest.raises(PrivacyInputError, match="one backward") as info:
        keeper.clipped_sum(C)
    assert "hooks" in str(info.value) and "forward" in str(info.value)
    # refused once, then the keeper works again: a plain step matches brute force
    x = torch.randn(5, 8)
    model(x).pow(2).sum().backward()
    sums = keeper.clipped_sum(C)
    ours = {k: sums[p].double() for k, p in model.named_parameters()}
    keeper.detach()
    _assert_close(ours, _brute(model, 5, lambda m, i: m(x[i:i + 1]).pow(2).sum(), C))


def test_two_forwards_one_backward_is_refused_by_the_optimizer_and_at_the_next_forward():
    model = _mlp()
    keeper = BookKeeper(model, loss_reduction="mean")
    opt = bookkeeping_optimizer_class(False)(
        torch.optim.SGD(model.parameters(), lr=0.1), book_keeper=keeper, noise_multiplier=0.0,
        max_grad_norm=C, expected_batch_size=4, loss_reduction="mean")
    x = torch.randn(4, 8)
    before = [p.detach().clone() for p in model.parameters()]
    (model(x[:2]).mean() + model(x[2:]).mean()).backward()
    with pytest.raises(PrivacyInputError, match="one backward"):
        opt.step()
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), b)  # nothing applied
    opt.zero_grad()
    (model(x[:2]).mean() + model(x[2:]).mean()).backward()
    with pytest.raises(PrivacyInputError, match="one backward"):
        model(x)  # the next forward absorbs the pending records
    keeper.detach()


def test_one_forward_several_backwards_and_checkpointing_are_not_refused():
    """No false alarm: one pass whose records arrive over two backwards (``retain_graph``), and
    activation checkpointing (the layers re-run inside the backward) match brute force."""
    from torch.utils.checkpoint import checkpoint

    class Ckpt(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 1)

        def forward(self, x):
            h = checkpoint(lambda t: torch.tanh(self.a(t)), x, use_reentrant=False)
            return self.b(h)

    x = torch.randn(6, 8)
    for model in (_mlp(), Ckpt()):
        ref = _brute(copy.deepcopy(model), 6, lambda m, i: 2 * m(x[i:i + 1]).pow(2).sum(), C)

        def run(m):
            out = m(x).pow(2).sum()
            out.backward(retain_graph=True)
            out.backward()

        _assert_close(_keeper_sum(model, run), ref)


# --------------------------------------------------------------------------------------------
# 2. record rows that are not the samples
# --------------------------------------------------------------------------------------------


class _SelectedHead(nn.Module):
    """The LM head applied to the labelled tokens only (``h[labels != -100]``)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.head = nn.Embedding(20, 8), nn.Linear(8, 20)

    def forward(self, ids, labels):
        keep = labels != -100
        per_tok = F.cross_entropy(self.head(self.emb(ids)[keep]), labels[keep], reduction="none")
        return torch.zeros(ids.shape[0]).index_add(0, keep.nonzero()[:, 0], per_tok)


def test_rows_that_are_tokens_not_samples_are_refused_naming_the_layer():
    model = _SelectedHead()
    ids = torch.randint(0, 20, (4, 5))
    labels = torch.full((4, 5), -100)
    labels[0, :3] = 3  # 3 selected tokens for 4 samples
    keeper = BookKeeper(model, loss_reduction="sum", max_grad_norm=C)
    model(ids, labels).sum().backward()
    with pytest.raises(PrivacyInputError, match=r"head \(Linear\).*3 row.*4 samples") as info:
        keeper.clipped_sum(C)
    assert "tensor(" not in str(info.value)
    keeper.detach()


def test_rows_unknown_batch_size_keeps_todays_behaviour():
    """No tensor input: the batch size is unknown, records are taken as they are."""

    class FromList(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, rows):
            return self.lin(torch.stack([torch.as_tensor(r, dtype=torch.float32) for r in rows]))

    model = FromList()
    rows = [[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]
    ref = _brute(copy.deepcopy(model), 2, lambda m, i: m(rows[i:i + 1]).sum(), C)
    _assert_close(_keeper_sum(model, lambda m: m(rows).sum().backward()), ref)


# --------------------------------------------------------------------------------------------
# 3. a parameter used outside its layer; 4. a module whose parameters belong to a ruled layer
# --------------------------------------------------------------------------------------------


class _Outside(nn.Module):
    """Uses ``lin.weight`` again outside the Linear (a custom forward)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return F.linear(torch.tanh(self.lin(x)), self.lin.weight).sum(1)


class _SharedBias(nn.Module):
    """BERT's ``BertLMPredictionHead`` shape: ``self.bias`` is ``decoder.bias``; ``uses`` says
    whether the module also adds ``self.bias`` itself."""

    def __init__(self, uses):
        super().__init__()
        torch.manual_seed(0)
        self.decoder = nn.Linear(8, 4)
        self.bias = self.decoder.bias
        self.uses = uses

    def forward(self, x):
        out = self.decoder(x)
        return (out + self.bias if self.uses else out).sum(1)


@pytest.mark.parametrize("make, name", [(_Outside, "lin.weight"), (lambda: _SharedBias(True), "bias")])
def test_a_parameter_used_outside_its_layer_is_refused_at_the_step(make, name):
    model = make()
    keeper = BookKeeper(model, loss_reduction="sum", max_grad_norm=C)
    model(torch.randn(3, 8)).sum().backward()
    with pytest.raises(PrivacyInputError, match=f"'{name}'.*outside"):
        keeper.clipped_sum(C)
    keeper.detach()
    assert all(not p._backward_hooks for p in model.parameters())  # detach removed the hooks


def test_a_module_whose_parameters_belong_to_a_ruled_layer_is_not_a_layer():
    model = _SharedBias(False)
    assert select_mode(model).mode == "bookkeeping"
    keeper = BookKeeper(model, loss_reduction="sum", max_grad_norm=C)
    assert keeper.layers == [("decoder", "Linear")]
    keeper.detach()
    x = torch.randn(5, 8)
    ref = _brute(copy.deepcopy(model), 5, lambda m, i: m(x[i:i + 1]).pow(2).sum(), C)
    _assert_close(_keeper_sum(model, lambda m: m(x).pow(2).sum().backward()), ref)


def test_bert_mlm_runs_on_bookkeeping_and_passes_check_clipping():
    transformers = pytest.importorskip("transformers")
    from auditkit.privacy.dp._guard import check_clipping
    from auditkit.privacy.dp._hf_loss import sequence_loss

    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=16)
    bert = transformers.BertForMaskedLM(cfg)
    assert select_mode(bert).mode == "bookkeeping"
    ids = torch.randint(1, 50, (4, 6))
    pos = torch.arange(6).expand(4, 6)

    def loss_fn(m, b):
        return sequence_loss(m(input_ids=b[0], position_ids=b[1], token_type_ids=torch.zeros_like(b[0])).logits,
                             b[0], shift=False)

    check = check_clipping(bert, (ids, pos), loss_fn, max_grad_norm=0.5)
    assert check.passed and check.mode == "bookkeeping", str(check)


# --------------------------------------------------------------------------------------------
# 5. BatchNorm in training mode
# --------------------------------------------------------------------------------------------


def _bn_net(frozen=True, track=True):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16, track_running_stats=track), nn.Tanh(),
                          nn.Linear(16, 1))
    for p in model[1].parameters():
        p.requires_grad_(not frozen)
    return model


def test_a_frozen_batchnorm_in_training_mode_is_refused():
    model = _bn_net()
    problems = check_layers(model)
    assert [(u.name, u.type) for u in problems] == [("1", "BatchNorm1d")]
    assert ".eval()" in problems[0].fix and "fix=True" in problems[0].fix
    model[1].eval()
    assert check_layers(model) == []
    model = _bn_net(track=False)  # no running statistics: batch statistics even in eval mode
    model[1].eval()
    assert [u.name for u in check_layers(model)] == ["1"]


def test_make_private_checks_batchnorm_after_putting_the_model_in_training_mode():
    model = _bn_net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    model[1].eval()  # the user's choice: running statistics
    prepared = prepare_layers(model, opt, fix=False)
    assert not prepared.layers[1].training and prepared.layers[0].training
    model.eval()  # the whole model in eval: make_private trains it, but a frozen BN stays in eval
    prepared = prepare_layers(model, opt, fix=False)
    assert not prepared.layers[1].training and prepared.layers[0].training
    model[1].train()  # a frozen BN the user left in training mode is refused
    with pytest.raises(PrivacyInputError, match=r"1 \(BatchNorm1d\)"):
        prepare_layers(model, opt, fix=False)


def test_make_private_refuses_frozen_batchnorm_in_training_mode():
    from auditkit.privacy.dp import make_private

    model = _bn_net()
    x, y = torch.randn(8, 8), torch.randn(8)
    with pytest.raises(PrivacyInputError, match="BatchNorm1d"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), DataLoader(TensorDataset(x, y), batch_size=4),
                     noise_multiplier=1.0, epochs=1, max_grad_norm=C, device="cpu")


def test_the_keeper_refuses_a_forward_with_batchnorm_back_in_training_mode():
    """A training loop that calls ``model.train()`` after make_private puts BN back in training
    mode: the book-keeper refuses the forward instead of mixing samples."""
    model = _bn_net()
    model[1].eval()
    keeper = BookKeeper(model, loss_reduction="sum", max_grad_norm=C)
    model(torch.randn(4, 8))  # fine in eval
    model.train()
    with pytest.raises(PrivacyInputError, match=r"1 \(BatchNorm1d\).*training mode"):
        model(torch.randn(4, 8))
    with torch.no_grad():
        model(torch.randn(4, 8))  # no gradients, nothing recorded: allowed
    keeper.detach()


# --------------------------------------------------------------------------------------------
# 6. LoRA on an embedding
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "bookkeeping", "ghost", "hooks", "functorch"])
def test_lora_on_an_embedding_is_refused_up_front(mode):
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    cfg = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=32)
    lm = peft.get_peft_model(transformers.GPT2LMHeadModel(cfg),
                             peft.LoraConfig(r=4, target_modules=["c_attn", "wte"], fan_in_fan_out=True))
    with pytest.raises(PrivacyInputError, match=r"transformer\.wte.*target_modules"):
        select_mode(lm, mode)
