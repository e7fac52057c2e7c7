"""End to end on real Hugging Face architectures: the clipping the book-keeping path produces
equals brute-force per-sample clipping, for every model family the issue names.

Each model is built from a config with random weights (nothing is downloaded). The check is
:func:`check_clipping`: our engine with the noise off against each sample run alone, in float32
(1e-5) and under bf16 autocast (1e-2). Every case must run on the book-keeping path with no
layer falling back, with padding and masks in the batch, for both token reductions.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from auditkit.privacy.dp._guard import check_clipping  # noqa: E402
from auditkit.privacy.dp._hf_loss import sequence_loss  # noqa: E402

VOCAB, T, B = 61, 12, 6


def _gpt2():
    cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=VOCAB, n_positions=32,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                  bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(cfg)
    assert model.lm_head.weight is model.transformer.wte.weight  # tied
    return model


def _llama():
    cfg = transformers.LlamaConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB,
                                   max_position_embeddings=32, bos_token_id=0, eos_token_id=0,
                                   pad_token_id=0)
    return transformers.LlamaForCausalLM(cfg)


def _llama_tied():
    cfg = transformers.LlamaConfig(num_hidden_layers=1, hidden_size=32, intermediate_size=64,
                                   num_attention_heads=4, num_key_value_heads=4, vocab_size=VOCAB,
                                   max_position_embeddings=32, tie_word_embeddings=True,
                                   bos_token_id=0, eos_token_id=0, pad_token_id=0)
    model = transformers.LlamaForCausalLM(cfg)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    return model


def _bert():
    cfg = transformers.BertConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64,
                                  num_attention_heads=4, vocab_size=VOCAB, max_position_embeddings=32,
                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                  num_labels=3)
    return transformers.BertForSequenceClassification(cfg)


def _lora(model, targets, fan_in_fan_out=False):
    cfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets,
                          fan_in_fan_out=fan_in_fan_out)
    model = peft.get_peft_model(model, cfg)
    # PEFT initialises B to zero, which makes A's gradient zero: move B off zero so both count.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    return model


MODELS = {
    "gpt2": _gpt2,
    "llama": _llama,
    "llama-tied": _llama_tied,
    "gpt2-lora": lambda: _lora(_gpt2(), ["c_attn"], fan_in_fan_out=True),
    "llama-lora": lambda: _lora(_llama(), ["q_proj", "v_proj"]),
}


def _lm_batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (B, T), generator=g)
    lengths = torch.tensor([T, T - 3, 5, T, 2, T - 1])
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).long()
    ids = ids * mask  # padded positions hold token 0
    labels = ids.masked_fill(mask == 0, -100)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _lm_loss(tokens: str):
    def loss(model, batch):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return sequence_loss(out.logits, batch["labels"], attention_mask=batch["attention_mask"],
                             tokens=tokens)

    return loss


@pytest.mark.parametrize("tokens", ["mean", "sum"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_language_models_clip_exactly_on_the_bookkeeping_path(name, tokens) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    check = check_clipping(model, _lm_batch(1), _lm_loss(tokens), max_grad_norm=0.5 if tokens == "mean" else 5.0)
    assert check.mode == "bookkeeping", check
    assert check.fallbacks == (), check
    assert check.passed, check
    assert check.max_rel_error <= 1e-5


@pytest.mark.parametrize("name", ["gpt2", "llama", "gpt2-lora"])
def test_bf16_autocast_is_within_its_tolerance(name) -> None:
    torch.manual_seed(0)
    check = check_clipping(MODELS[name](), _lm_batch(2), _lm_loss("mean"), max_grad_norm=0.5, autocast="bf16")
    assert check.mode == "bookkeeping" and check.fallbacks == ()
    assert check.passed, check
    assert check.tolerance == pytest.approx(1e-2)


def test_bert_classifier_with_padding() -> None:
    torch.manual_seed(0)
    model = _bert()
    batch = _lm_batch(3)
    batch["labels"] = torch.tensor([0, 1, 2, 0, 1, 2])

    def loss(m, b):
        out = m(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        return sequence_loss(out.logits, b["labels"])

    check = check_clipping(model, batch, loss, max_grad_norm=0.3)
    assert check.mode == "bookkeeping" and check.fallbacks == ()
    assert check.passed, check


def test_the_check_catches_a_wrong_tied_norm(monkeypatch) -> None:
    """The cross term of tied weights matters: dropping it makes the check fail on GPT-2."""
    from auditkit.privacy.dp import _clipping

    monkeypatch.setattr(_clipping, "cross_norm2", lambda group, records: None)
    torch.manual_seed(0)
    check = check_clipping(_gpt2(), _lm_batch(4), _lm_loss("sum"), max_grad_norm=0.5)
    assert not check.passed, check


def test_lora_only_adapters_are_trained() -> None:
    torch.manual_seed(0)
    model = MODELS["gpt2-lora"]()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    check = check_clipping(model, _lm_batch(5), _lm_loss("mean"), max_grad_norm=0.5)
    assert check.passed, check
