"""Gradient accumulation on the book-keeping path: k micro-batches and one step equal one big
batch and one step (noise off, 1e-5); noise once and one accountant step per logical step."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from auditkit.privacy.dp._clipping import BookKeeper
from auditkit.privacy.dp._micro import micro_batches
from auditkit.privacy.dp._optim import bookkeeping_optimizer_class
from auditkit.privacy.errors import PrivacyInputError

B = 20


class SeqNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.ln = nn.LayerNorm(6)
        self.lin = nn.Linear(6, 3)

    def forward(self, idx):
        return self.lin(torch.tanh(self.ln(self.emb(idx)))).mean(1)


def mlp():
    return nn.Sequential(nn.Linear(7, 16), nn.ReLU(), nn.Linear(16, 3))


def data(kind):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(B, 7, generator=g) * 3 if kind == "mlp" else torch.randint(0, 11, (B, 5), generator=g)
    return x, torch.randint(0, 3, (B,), generator=g)


def make(kind, reduction, sigma=0.0):
    C = {"mlp": 4.5, "seq": 1.08}[kind]  # about the median per-sample norm: half are clipped
    torch.manual_seed(0)
    model = mlp() if kind == "mlp" else SeqNet()
    keeper = BookKeeper(model, loss_reduction=reduction)
    opt = bookkeeping_optimizer_class(False)(
        torch.optim.SGD(model.parameters(), lr=0.1), book_keeper=keeper, noise_multiplier=sigma,
        max_grad_norm=C, expected_batch_size=B, loss_reduction=reduction)
    return model, opt, keeper


def loss(model, x, y, reduction):
    return nn.functional.cross_entropy(model(x), y, reduction=reduction)


def grads(model):
    return [p.grad.detach().clone() for p in model.parameters()]


def big_batch(kind, reduction):
    model, opt, keeper = make(kind, reduction)
    x, y = data(kind)
    opt.zero_grad()
    loss(model, x, y, reduction).backward()
    opt.step()
    return grads(model), [p.detach().clone() for p in model.parameters()], keeper.last_norms


def backward_k_then_step(model, opt, x, y, reduction, size):
    opt.zero_grad()
    for xb, yb in micro_batches((x, y), size):
        loss(model, xb, yb, reduction).backward()
    opt.step()


def forward_all_then_backward(model, opt, x, y, reduction, size):
    """Every micro-batch's forward first, one backward of the summed losses."""
    opt.zero_grad()
    total = sum(loss(model, xb, yb, reduction) for xb, yb in micro_batches((x, y), size))
    total.backward()
    opt.step()


def step_per_micro_batch_with_skip(model, opt, x, y, reduction, size):
    """Opacus's BatchMemoryManager pattern: step() after each micro-batch, all but the last
    signalled as skipped."""
    chunks = list(micro_batches((x, y), size))
    for j, (xb, yb) in enumerate(chunks):
        opt.zero_grad()
        loss(model, xb, yb, reduction).backward()
        opt.signal_skip_step(do_skip=j < len(chunks) - 1)
        opt.step()


@pytest.mark.parametrize("pattern", [backward_k_then_step, step_per_micro_batch_with_skip])
@pytest.mark.parametrize("size", [1, 6, 7])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("kind", ["mlp", "seq"])
def test_micro_batches_equal_one_big_batch(kind, reduction, size, pattern):
    ref_grads, ref_params, ref_norms = big_batch(kind, reduction)
    model, opt, keeper = make(kind, reduction)
    x, y = data(kind)
    pattern(model, opt, x, y, reduction, size)
    for g, r in zip(grads(model), ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)
    for p, r in zip(model.parameters(), ref_params, strict=True):
        torch.testing.assert_close(p.detach(), r, rtol=1e-5, atol=1e-6)
    # the norms of the logical step, over all micro-batches, in sample order
    torch.testing.assert_close(keeper.last_norms, ref_norms, rtol=1e-5, atol=1e-6)
    assert keeper.last_clip_factors.shape == (B,)
    assert 0 < int((keeper.last_clip_factors < 1).sum()) < B  # clipping active, not total


@pytest.mark.parametrize("size", [1, 7])
@pytest.mark.parametrize("kind", ["mlp", "seq"])
def test_forward_all_then_one_backward_is_refused(kind, size):
    """Several forward passes, one backward: the book-keeper cannot tell whether the passes hold
    the same samples (R-Drop, DPO) or different ones, so it refuses instead of clipping each pass
    as its own samples (a sample's gradient could reach k times the clipping norm)."""
    model, opt, _ = make(kind, "sum")
    x, y = data(kind)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(PrivacyInputError, match="One backward pass went through"):
        forward_all_then_backward(model, opt, x, y, "sum", size)
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), b)


def test_noise_is_added_once_per_logical_step():
    """With σ > 0, k micro-batches draw one noise tensor (the same draw as one big batch)."""
    out = []
    for size in (B, 4):
        model, opt, _ = make("mlp", "sum", sigma=1.0)
        opt.noise_ahead = False
        opt.generator = torch.Generator().manual_seed(9)
        x, y = data("mlp")
        backward_k_then_step(model, opt, x, y, "sum", size)
        out.append(grads(model))
    for a, b in zip(*out, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_zero_grad_drops_absorbed_micro_batches():
    model, opt, keeper = make("mlp", "sum")
    x, y = data("mlp")
    loss(model, x[:5], y[:5], "sum").backward()
    model(x[:1])  # absorbs the first micro-batch
    assert not keeper.pending() and keeper._running
    opt.zero_grad()
    assert not keeper._running
    ref = make("mlp", "sum")
    for m, o in (ref[:2], (model, opt)):
        o.zero_grad()
        loss(m, x[5:], y[5:], "sum").backward()
        o.step()
    for a, b in zip(grads(model), grads(ref[0]), strict=True):
        torch.testing.assert_close(a, b)


def test_keeper_without_clipping_norm_refuses_a_second_forward():
    model = mlp()
    keeper = BookKeeper(model)
    x, y = data("mlp")
    loss(model, x, y, "mean").backward()
    with pytest.raises(PrivacyInputError, match="max_grad_norm"):
        model(x)
    with torch.no_grad():  # evaluation never absorbs
        model(x)
    assert keeper.pending()
    keeper.detach()


def test_float32_sums_for_bf16_autocast():
    model, opt, keeper = make("seq", "mean")
    x, y = data("seq")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for xb, yb in micro_batches((x, y), 8):
            loss(model, xb, yb, "mean").backward()
    sums = keeper.clipped_sum(1.0)
    assert all(v.dtype == torch.float32 for v in sums.values())
    assert keeper.last_norms.dtype == torch.float32 and keeper.last_norms.shape == (B,)


def test_grad_scaler_is_refused_with_a_clear_message():
    model, opt, _ = make("mlp", "mean")
    scaler = torch.amp.GradScaler("cpu")
    x, y = data("mlp")
    opt.zero_grad()
    scaler.scale(loss(model, x, y, "mean")).backward()
    with pytest.raises(PrivacyInputError, match="GradScaler is not supported.*bf16"):
        scaler.step(opt)


# -- with make_private: Poisson logical batches, the accountant counts logical steps -----------
def private(noise_multiplier=1.0, n=120, batch_size=30):
    from auditkit.privacy.dp._engine import make_private

    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(n, 7, generator=g), torch.randint(0, 3, (n,), generator=g)
    torch.manual_seed(0)
    model = mlp()
    return make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                        DataLoader(TensorDataset(X, y), batch_size=batch_size),
                        noise_multiplier=noise_multiplier, epochs=1, accountant="rdp")


def test_accountant_counts_logical_steps_and_norms_cover_the_logical_batch():
    p = private()
    keeper = p._keeper
    steps = 0
    for xb, yb in p.data_loader:
        p.optimizer.zero_grad()
        for mx, my in micro_batches((xb, yb), 7):
            p.criterion(p.model(mx), my).backward()
        p.optimizer.step()
        steps += 1
        assert keeper.last_norms.shape == (len(xb),)
    assert p.budget.steps == steps == len(p.data_loader)
    assert [tuple(h)[2] for h in p.budget.history] == [steps]
    p.close()


def test_empty_poisson_batch_steps_and_counts():
    p = private()
    x = torch.zeros(0, 7)
    y = torch.zeros(0, dtype=torch.long)
    chunks = list(micro_batches((x, y), 4))
    assert len(chunks) == 1 and chunks[0][0].shape == (0, 7)
    before = [t.detach().clone() for t in p.model.parameters()]
    p.optimizer.zero_grad()
    for mx, my in chunks:
        nn.functional.cross_entropy(p.model(mx), my, reduction="sum").backward()
    p.optimizer.step()
    assert p.budget.steps == 1
    assert p._keeper.last_norms.numel() == 0
    # noise alone moved the weights
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, p.model.parameters(), strict=True))
    p.close()


# -- micro_batches -----------------------------------------------------------------------------
def test_micro_batches_structures():
    x, y = torch.arange(10).reshape(5, 2), torch.arange(5)
    assert [c[0].tolist() for c in micro_batches((x, y), 2)] == [[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[8, 9]]]
    assert [c.tolist() for c in micro_batches(y, 3)] == [[0, 1, 2], [3, 4]]
    chunks = list(micro_batches({"input_ids": x, "labels": y, "extra": None}, 4))
    assert [type(c) for c in chunks] == [dict, dict] and chunks[1]["labels"].tolist() == [4]
    assert chunks[0]["extra"] is None
    nested = list(micro_batches([x, {"m": y}], 5))
    assert len(nested) == 1 and isinstance(nested[0], list) and nested[0][1]["m"].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "batch,size,match",
    [((torch.zeros(3), torch.zeros(4)), 2, r"same number of samples.*batch\[0\]: 3, batch\[1\]: 4"),
     (torch.zeros(3), 0, "'max_size' parameter of micro_batches must be a positive integer"),
     (torch.zeros(3), 2.0, "got float"),
     ((torch.zeros(3), "labels"), 2, r"batch\[1\] is a str"),
     (torch.tensor(1.0), 2, "0-dimensional"),
     ((None,), 2, "holds none")],
)
def test_micro_batches_bad_input(batch, size, match):
    with pytest.raises(PrivacyInputError, match=match):
        list(micro_batches(batch, size))


def test_mlp_accumulation_deepcopy_independent():
    """Two keepers on two copies never share state (records are per keeper and per pass)."""
    m1 = mlp()
    m2 = copy.deepcopy(m1)
    k1, k2 = BookKeeper(m1, max_grad_norm=1.0), BookKeeper(m2, max_grad_norm=1.0)
    x, y = data("mlp")
    loss(m1, x, y, "sum").backward()
    assert k1.pending() and not k2.pending()
    k1.detach()
    k2.detach()


def test_noise_ahead_chunks_do_not_depend_on_which_thread_draws():
    from auditkit.privacy.dp._optim import _NoiseAhead

    params = [torch.zeros(70_000), torch.zeros(3, 50_000), torch.zeros(5)]
    bufs = []
    for wait in (True, False):
        ahead = _NoiseAhead(params, 0.5, torch.Generator().manual_seed(11))
        if wait:
            ahead.future.result()  # the worker drew every chunk
        first = ahead.take()  # else the main thread drew most of them
        ahead.start()
        if wait:
            ahead.future.result()
        second = ahead.take()
        ahead.stop()
        bufs.append(torch.cat([t.reshape(-1) for t in first + second]))
    assert torch.equal(bufs[0], bufs[1])
    n = bufs[0].numel() // 2
    assert not torch.equal(bufs[0][:n], bufs[0][n:])  # a fresh draw per step
    assert abs(float(bufs[0].std()) - 0.5) < 0.01 and abs(float(bufs[0].mean())) < 0.01
