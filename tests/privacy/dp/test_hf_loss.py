"""sequence_loss: one loss per sample over its own tokens; padding and -100 count for nothing.

Known answers: a loop over samples and positions (hypothesis), each sample alone through a tiny
GPT-2 built from a config (nothing downloaded), gradients by plain autograd.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.privacy.dp._hf_loss import sequence_loss
from auditkit.privacy.errors import PrivacyInputError

V, T = 97, 8


@pytest.fixture(scope="module")
def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=V, n_positions=32,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config).eval()


def padded_batch(lengths: list[int], *, seed: int = 0, pad: int = 5, ignore_pads: bool = True):
    """Right-padded ids, mask and labels (the pad token is a real id: only the mask or -100
    says it is padding)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (len(lengths), T), generator=g)
    mask = (torch.arange(T).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).long()
    ids = torch.where(mask.bool(), ids, torch.full_like(ids, pad))
    labels = ids.clone()
    if ignore_pads:
        labels[mask == 0] = -100
    return ids, mask, labels


def grads(model, loss):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])


@pytest.mark.parametrize("ignore_pads", [True, False], ids=["labels-100", "mask-only"])
@pytest.mark.parametrize("tokens", ["mean", "sum"])
def test_padded_sample_has_the_gradient_of_the_unpadded_one(gpt2, ignore_pads: bool, tokens: str) -> None:
    lengths = [5, 8, 3, 1]
    ids, mask, labels = padded_batch(lengths, ignore_pads=ignore_pads)
    batch_losses = sequence_loss(gpt2(input_ids=ids, attention_mask=mask).logits, labels,
                                 attention_mask=mask, tokens=tokens)
    for i, n in enumerate(lengths):
        padded = sequence_loss(gpt2(input_ids=ids[i:i + 1], attention_mask=mask[i:i + 1]).logits,
                               labels[i:i + 1], attention_mask=mask[i:i + 1], tokens=tokens)[0]
        alone = sequence_loss(gpt2(input_ids=ids[i:i + 1, :n]).logits, ids[i:i + 1, :n], tokens=tokens)[0]
        torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(batch_losses[i], alone, rtol=1e-5, atol=1e-6)
        if n == 1:  # one token predicts nothing after the shift
            assert float(alone.detach()) == 0.0
            continue
        g_padded, g_alone = grads(gpt2, padded), grads(gpt2, alone)
        torch.testing.assert_close(g_padded, g_alone, rtol=1e-5, atol=1e-5 * float(g_alone.abs().max()))


def test_the_batch_loss_is_a_sum_of_independent_per_sample_terms(gpt2) -> None:
    """The gradient of the summed per-sample losses is the sum of each sample's gradient alone
    (the model's own token-mean loss is not: a sample's weight depends on the others' lengths)."""
    lengths = [6, 2, 8]
    ids, mask, labels = padded_batch(lengths, seed=1)
    total = grads(gpt2, sequence_loss(gpt2(input_ids=ids, attention_mask=mask).logits, labels,
                                      attention_mask=mask).sum())
    alone = sum(grads(gpt2, sequence_loss(gpt2(input_ids=ids[i:i + 1, :n]).logits, ids[i:i + 1, :n])[0])
                for i, n in enumerate(lengths))
    torch.testing.assert_close(total, alone, rtol=1e-5, atol=1e-5 * float(alone.abs().max()))
    hf = grads(gpt2, gpt2(input_ids=ids, attention_mask=mask, labels=labels).loss * len(lengths))
    assert not torch.allclose(hf, alone, rtol=1e-3, atol=1e-3 * float(alone.abs().max()))


def test_mean_and_sum_over_tokens() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, T, V)
    _, mask, labels = padded_batch([4, 8, 2], seed=2)
    counts = (labels[:, 1:] != -100).sum(1)
    mean = sequence_loss(logits, labels, attention_mask=mask, tokens="mean")
    total = sequence_loss(logits, labels, attention_mask=mask, tokens="sum")
    torch.testing.assert_close(total, mean * counts, rtol=1e-6, atol=1e-6)
    # shift=False: position t's logits predict position t's label (token classification, MLM)
    flat = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), reduction="none").view(3, T)
    expect = (flat * (labels != -100)).sum(1) / (labels != -100).sum(1)
    torch.testing.assert_close(sequence_loss(logits, labels, shift=False), expect, rtol=1e-6, atol=1e-6)


def test_a_sample_with_no_token_counts_zero_without_nan() -> None:
    logits = torch.randn(2, T, V, requires_grad=True)
    labels = torch.full((2, T), -100)
    labels[0, 3] = 7
    # NaN logits where nothing counts must not leak into the loss or the gradient
    poisoned = logits.clone()
    poisoned.data[1] = float("nan")
    poisoned.data[0, 5:] = float("nan")
    for tokens in ("mean", "sum"):
        out = sequence_loss(poisoned, labels, tokens=tokens)
        assert out[1].item() == 0.0 and torch.isfinite(out).all()
        (grad,) = torch.autograd.grad(out.sum(), logits)
        assert torch.isfinite(grad).all() and grad[1].abs().sum() == 0
        expect = F.cross_entropy(logits[0, 2:3].detach(), torch.tensor([7]))
        torch.testing.assert_close(out[0], expect)
    empty = sequence_loss(torch.zeros(0, T, V), torch.zeros(0, T, dtype=torch.long))
    assert empty.shape == (0,)


def test_classifier_logits_give_each_samples_cross_entropy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 2, -100, 1, 1])
    out = sequence_loss(logits, labels, attention_mask=torch.ones(5, 7))  # a classifier's mask is not read
    expect = F.cross_entropy(logits, labels.clamp(min=0), reduction="none")
    expect[2] = 0.0
    torch.testing.assert_close(out, expect)


def test_bf16_logits_give_float32_losses_close_to_the_float32_path() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, T, V)
    _, mask, labels = padded_batch([7, 3, 8], seed=3)
    exact = sequence_loss(logits, labels, attention_mask=mask)
    half = sequence_loss(logits.bfloat16(), labels, attention_mask=mask)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, exact, rtol=1e-2, atol=0.0)


def loop_reference(logits, labels, mask, shift, tokens, ignore_index=-100):
    """Per sample, position by position, in float64."""
    out = []
    lp = torch.log_softmax(logits.double(), dim=-1)
    for i in range(logits.shape[0]):
        terms = []
        for t in range(logits.shape[1] - (1 if shift else 0)):
            target_pos = t + 1 if shift else t
            label = int(labels[i, target_pos])
            if label == ignore_index or (mask is not None and int(mask[i, target_pos]) == 0):
                continue
            terms.append(-float(lp[i, t, label]))
        if not terms:
            out.append(0.0)
        else:
            out.append(sum(terms) / (len(terms) if tokens == "mean" else 1))
    return out


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 4), length=st.integers(1, 6), vocab=st.integers(2, 7),
    shift=st.booleans(), tokens=st.sampled_from(["mean", "sum"]), use_mask=st.booleans(),
    seed=st.integers(0, 2**16), ignore_rate=st.floats(0.0, 1.0),
)
def test_matches_a_loop_over_samples_and_positions(batch, length, vocab, shift, tokens, use_mask, seed,
                                                   ignore_rate) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, length, vocab, generator=g) * 3
    labels = torch.randint(0, vocab, (batch, length), generator=g)
    labels[torch.rand(batch, length, generator=g) < ignore_rate] = -100
    mask = (torch.rand(batch, length, generator=g) < 0.7).long() if use_mask else None
    got = sequence_loss(logits, labels, attention_mask=mask, shift=shift, tokens=tokens)
    expect = loop_reference(logits, labels, mask, shift, tokens)
    assert got.shape == (batch,)
    for a, b in zip(got.tolist(), expect, strict=True):
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5)


@pytest.mark.parametrize(
    "logits,labels,kw,match",
    [
        (torch.zeros(2, 4, 5), torch.zeros(2, 3, dtype=torch.long), {}, "labels \\[B, T\\]"),
        (torch.zeros(2, 4, 5), torch.zeros(2, 4), {}, "integer class labels"),
        (torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), {}, "one class per sample"),
        (torch.zeros(2, 4, 5), torch.zeros(2, 4, dtype=torch.long), {"attention_mask": torch.ones(2, 5)},
         "attention_mask"),
        (torch.zeros(2, 4, 5), torch.zeros(2, 4, dtype=torch.long), {"tokens": "avg"}, "'tokens'"),
        (torch.zeros(2, 4, 5).numpy(), torch.zeros(2, 4, dtype=torch.long), {}, "torch tensors"),
    ],
)
def test_bad_input_is_named(logits, labels, kw, match) -> None:
    with pytest.raises(PrivacyInputError, match=match):
        sequence_loss(logits, labels, **kw)


@pytest.mark.parametrize("shape", [(2, 4, 5), (2, 5)])
def test_a_label_outside_the_vocabulary_is_refused_without_showing_it(shape) -> None:
    labels = torch.zeros(shape[:-1], dtype=torch.long)
    labels.view(-1)[-1] = 4093
    with pytest.raises(PrivacyInputError, match=r"outside \[0, 5\)") as info:
        sequence_loss(torch.zeros(shape), labels, shift=False)
    assert "4093" not in str(info.value)
