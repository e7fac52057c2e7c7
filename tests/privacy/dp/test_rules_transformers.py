"""Book-keeping rules (torch layers and those of Hugging Face transformers) against brute force.

Every rule's records give per-sample gradients, squared norms and clipped sums equal to those of
a loop over samples (each its own forward and backward through the module's own forward), in
float32 to 1e-5 and under CPU bf16 autocast within 1e-2 relative of the float32 loop; the rule's
forward and input gradient equal the module's own. Classes recognised by name are proven on a
probe and fall back when their forward differs.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from auditkit.privacy.dp._rules import rule_for, rule_problem, supported_types
from auditkit.privacy.dp._rules_base import _Slot

B = 5


def _hf(path: str, name: str, *args):
    def make():
        module = pytest.importorskip(path)
        return getattr(module, name)(*args)

    return make


def _feat(d: int, T: int | None):
    return lambda gen: torch.randn(B, d, generator=gen) if T is None else torch.randn(B, T, d, generator=gen)


FEATURE_LAYERS = {
    "linear": lambda: nn.Linear(6, 5),
    "linear_nobias": lambda: nn.Linear(6, 5, bias=False),
    "layernorm": lambda: nn.LayerNorm(6),
    "rmsnorm_eps_none": lambda: nn.RMSNorm(6),
    "rmsnorm_eps": lambda: nn.RMSNorm(6, eps=1e-5),
    "hf_conv1d": _hf("transformers.pytorch_utils", "Conv1D", 5, 6),
    "llama_rmsnorm": _hf("transformers.models.llama.modeling_llama", "LlamaRMSNorm", 6),
    "gemma_rmsnorm": _hf("transformers.models.gemma.modeling_gemma", "GemmaRMSNorm", 6),
    "olmo2_rmsnorm": _hf("transformers.models.olmo2.modeling_olmo2", "Olmo2RMSNorm", 6),
}


def _cases():
    out = []
    for name, make in FEATURE_LAYERS.items():
        # T=2 takes the ghost norm of Linear/Conv1D (6 -> 5), T=7 the per-sample gradient
        for T in (None, 2, 7):
            out.append(pytest.param(make, _feat(6, T), id=f"{name}-{'2d' if T is None else f'seq{T}'}"))
    out += [
        pytest.param(lambda: nn.Conv1d(3, 4, 3, dilation=2), lambda g: torch.randn(B, 3, 9, generator=g),
                     id="conv1d"),
        pytest.param(lambda: nn.Conv2d(3, 4, 3, padding=1, stride=2), lambda g: torch.randn(B, 3, 6, 6, generator=g),
                     id="conv2d"),
        pytest.param(lambda: nn.GroupNorm(2, 4), lambda g: torch.randn(B, 4, 5, generator=g), id="groupnorm-3d"),
        pytest.param(lambda: nn.GroupNorm(2, 4), lambda g: torch.randn(B, 4, 3, 3, generator=g), id="groupnorm-4d"),
        pytest.param(lambda: nn.Embedding(10, 6, padding_idx=0), lambda g: torch.randint(0, 10, (B,), generator=g),
                     id="embedding-1d"),
        pytest.param(lambda: nn.Embedding(10, 6, padding_idx=0),
                     lambda g: torch.randint(0, 10, (B, 7), generator=g), id="embedding-seq7"),
        pytest.param(_hf("transformers.models.gemma.modeling_gemma", "GemmaTextScaledWordEmbedding", 10, 6, 0, 2.5),
                     lambda g: torch.randint(0, 10, (B, 7), generator=g), id="gemma_scaled_embedding"),
        pytest.param(_hf("transformers.models.bart.modeling_bart", "BartScaledWordEmbedding", 10, 6, 0, 3.0),
                     lambda g: torch.randint(0, 10, (B, 7), generator=g), id="bart_scaled_embedding"),
    ]
    return out


def _randomise(module: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return module


def _loss(out: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """A per-sample loss summed over the batch (non-linear, so that g depends on the sample)."""
    o = out.float()
    return (o * R).sum() + 0.25 * o.pow(2).sum()


def _brute_force(layer: nn.Module, x: torch.Tensor, R: torch.Tensor, names: list[str]):
    """Per-sample gradients of the trainable parameters by a loop (float32, no autocast)."""
    params = [getattr(layer, n) for n in names]
    per = {n: [] for n in names}
    for i in range(x.shape[0]):
        grads = torch.autograd.grad(_loss(layer(x[i:i + 1]), R[i:i + 1]), params)
        for n, gr in zip(names, grads, strict=True):
            per[n].append(gr)
    return {n: torch.stack(v) for n, v in per.items()}


def _rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = x.detach(), ref.detach()
    return float((x.double() - ref.double()).norm() / ref.double().norm().clamp_min(1e-30))


def _close(x: torch.Tensor, ref: torch.Tensor, rtol: float) -> None:
    assert x.shape == ref.shape
    if rtol <= 1e-4:
        torch.testing.assert_close(x.double(), ref.double(), rtol=rtol, atol=rtol * float(ref.abs().max()))
    else:
        assert _rel(x, ref) <= rtol


def _check(layer: nn.Module, x: torch.Tensor, *, autocast: bool = False) -> None:
    rule = rule_for(layer)
    assert rule is not None and rule.problem(layer) is None
    names = [n for n, p in layer.named_parameters() if p.requires_grad]
    low = autocast or x.dtype in (torch.bfloat16, torch.float16)
    rtol = 1e-2 if low else 1e-5
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    floating = x.is_floating_point()
    x_rule, x_ref = x.clone().requires_grad_(floating), x.clone().requires_grad_(floating)
    slot = _Slot()
    with ctx:
        out = rule.forward(layer, slot, x_rule)
        ref_out = layer(x_ref)
    assert out.dtype == ref_out.dtype and out.shape == ref_out.shape
    _close(out.detach(), ref_out.detach(), 1e-2 if low else 1e-6)
    R = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    _loss(out, R).backward()
    _loss(ref_out, R).backward()
    if floating:  # the input gradient: the module's own, in the input's dtype
        assert x_rule.grad.dtype == x.dtype
        _close(x_rule.grad, x_ref.grad, 2e-2 if low else 1e-5)
    assert len(slot.records) == 1
    a, g = slot.records[0]
    ref = _brute_force(layer, x.float() if floating else x, R, names)
    c = torch.rand(B, generator=torch.Generator().manual_seed(3))
    ps = rule.per_sample(layer, a, g)
    assert sorted(ps) == sorted(names)  # frozen parameters are not computed
    for n in names:
        assert ps[n].dtype == torch.float32
        _close(ps[n], ref[n], rtol)
    n2 = rule.norm2(layer, a, g)
    ref_n2 = sum(v.reshape(B, -1).pow(2).sum(1) for v in ref.values())
    assert n2.dtype == torch.float32
    _close(n2, ref_n2, rtol)
    sums = rule.clipped_sum(layer, a, g, c)
    assert sorted(sums) == sorted(names)
    for n in names:
        assert sums[n].dtype == torch.float32 and sums[n].shape == getattr(layer, n).shape
        _close(sums[n], torch.einsum("i,i...->...", c, ref[n]), rtol)


@pytest.mark.parametrize(("make", "make_input"), _cases())
def test_rule_matches_brute_force_float32(make, make_input) -> None:
    torch.manual_seed(0)
    _check(_randomise(make()), make_input(torch.Generator().manual_seed(0)))


@pytest.mark.parametrize(("make", "make_input"), _cases())
def test_rule_under_cpu_bf16_autocast(make, make_input) -> None:
    torch.manual_seed(0)
    _check(_randomise(make()), make_input(torch.Generator().manual_seed(0)), autocast=True)


NORMS = ["layernorm", "rmsnorm_eps_none", "llama_rmsnorm", "gemma_rmsnorm", "olmo2_rmsnorm"]


@pytest.mark.parametrize("name", NORMS)
@pytest.mark.parametrize("autocast", [False, True])
def test_norm_layers_on_a_bf16_stream(name, autocast) -> None:
    """A bf16 input (a bf16 residual stream) into float32 norm parameters: output dtype and
    input-gradient dtype as the module's own, numbers within bf16 accuracy."""
    x = torch.randn(B, 4, 6, generator=torch.Generator().manual_seed(0)).bfloat16()
    _check(_randomise(FEATURE_LAYERS[name]()), x, autocast=autocast)


@pytest.mark.parametrize("name", ["linear", "layernorm", "hf_conv1d", "groupnorm", "conv2d"])
@pytest.mark.parametrize("frozen", ["weight", "bias"])
def test_frozen_weight_or_bias_is_skipped(name, frozen) -> None:
    cases = {
        "groupnorm": (lambda: nn.GroupNorm(2, 4), lambda g: torch.randn(B, 4, 3, 3, generator=g)),
        "conv2d": (lambda: nn.Conv2d(3, 4, 3), lambda g: torch.randn(B, 3, 5, 5, generator=g)),
    }
    make, make_input = cases.get(name, (FEATURE_LAYERS.get(name), _feat(6, 3)))
    layer = _randomise(make())
    getattr(layer, frozen).requires_grad_(False)
    _check(layer, make_input(torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_torch_rmsnorm_eps_semantics(dtype, eps) -> None:
    """eps=None is the machine epsilon of the computation type (float32 for float32/bf16,
    float64 for float64): inputs so small that eps dominates show any difference."""
    layer = _randomise(nn.RMSNorm(6, eps=eps, dtype=dtype))
    x = torch.randn(B, 3, 6, dtype=dtype, generator=torch.Generator().manual_seed(0)) * 1e-5
    out = rule_for(layer).forward(layer, _Slot(), x)
    torch.testing.assert_close(out, layer(x), rtol=1e-6, atol=0.0)


# --------------------------------------------------------------------------------------------
# Recognition by name: proven on a probe, never trusted by name alone
# --------------------------------------------------------------------------------------------

FAKE_MODULE = "transformers.models.foo.modeling_foo"


def _fake(name: str, forward, eps_attr: str = "variance_epsilon"):
    def __init__(self, d=6, eps=1e-6):
        nn.Module.__init__(self)
        self.weight = nn.Parameter(torch.ones(d))
        setattr(self, eps_attr, eps)

    # calls: a counter shared by the instances of this class and their probe copies
    cls = type(name, (nn.Module,), {"__init__": __init__, "forward": forward, "__module__": FAKE_MODULE,
                                    "calls": [0]})
    return cls


def _llama_forward(self, hidden_states):
    if hasattr(self, "calls"):
        self.calls[0] += 1
    input_dtype = hidden_states.dtype
    hidden_states = hidden_states.to(torch.float32)
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
    return self.weight * hidden_states.to(input_dtype)


def _plus_one(self, x):
    return _llama_forward(self, x) + 1


def _fixed_eps(self, x):  # eps 1e-5 instead of its own 1e-6: only a probe of size eps shows it
    x32 = x.float()
    return self.weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype)


def _ignores_weight(self, x):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)).to(x.dtype)


def _gated(self, x, gate=None):
    return _llama_forward(self, x)


@pytest.mark.parametrize("forward", [_plus_one, _fixed_eps, _ignores_weight, _gated])
def test_unknown_rmsnorm_variant_falls_back(forward) -> None:
    layer = _fake("FooRMSNorm", forward)()
    assert rule_for(layer) is not None  # recognised by name ...
    reason = rule_problem(layer)  # ... but not proven equal: it falls back
    assert reason is not None and "FooRMSNorm" not in reason


def test_known_variant_is_accepted_once_per_instance() -> None:
    cls = _fake("FooRMSNorm", _llama_forward)
    layer = cls()
    assert rule_problem(layer) is None
    calls = cls.calls[0]
    assert calls > 0
    assert rule_problem(layer) is None and cls.calls[0] == calls  # proven once, then cached
    other = cls()
    assert rule_problem(other) is None and cls.calls[0] == 2 * calls  # each instance is proven
    _check(_randomise(layer), torch.randn(B, 3, 6))


def test_the_class_forward_is_proven_not_an_instance_override() -> None:
    layer = _fake("FooRMSNorm", _plus_one)()
    layer.forward = lambda x: _llama_forward(layer, x)  # the instance looks right; the class is not
    assert rule_problem(layer) is not None
    real = _fake("BarRMSNorm", _llama_forward)()
    real.forward = lambda x: x  # e.g. an override installed by the book-keeper itself
    assert rule_problem(real) is None


def test_a_name_outside_transformers_is_not_recognised() -> None:
    cls = _fake("FooRMSNorm", _llama_forward)
    cls.__module__ = "mylib.layers"
    assert rule_for(cls()) is None
    assert rule_problem(cls()) == "no book-keeping rule for FooRMSNorm"


def test_a_fake_conv1d_with_another_layout_falls_back() -> None:
    def __init__(self):
        nn.Module.__init__(self)
        self.weight = nn.Parameter(torch.randn(6, 5))
        self.bias = nn.Parameter(torch.zeros(6))

    def forward(self, x):  # weight stored [out, in]: nn.Linear's layout
        return x @ self.weight + self.bias[:5]

    cls = type("Conv1D", (nn.Module,), {"__init__": __init__, "forward": forward,
                                        "__module__": "transformers.pytorch_utils"})
    layer = cls()
    assert rule_for(layer) is not None and rule_problem(layer) is not None


@pytest.mark.parametrize(("path", "name", "variant"), [
    ("transformers.models.llama.modeling_llama", "LlamaRMSNorm", "cast_then_scale"),
    ("transformers.models.mistral.modeling_mistral", "MistralRMSNorm", "cast_then_scale"),
    ("transformers.models.qwen2.modeling_qwen2", "Qwen2RMSNorm", "cast_then_scale"),
    ("transformers.models.gemma.modeling_gemma", "GemmaRMSNorm", "offset_scale_then_cast"),
    ("transformers.models.gemma2.modeling_gemma2", "Gemma2RMSNorm", "offset_scale_then_cast"),
    ("transformers.models.olmo2.modeling_olmo2", "Olmo2RMSNorm", "scale_then_cast"),
    ("transformers.models.gemma3n.modeling_gemma3n", "Gemma3nRMSNorm", "scale_then_cast"),
])
def test_real_transformers_rmsnorms_are_accepted(path, name, variant) -> None:
    layer = _hf(path, name, 8)()
    rule = rule_for(layer)
    assert rule.problem(layer) is None
    assert rule._proof(layer)[0] == variant


@pytest.mark.parametrize("family", ["gpt2", "llama", "gemma"])
def test_every_trainable_layer_of_tiny_transformers_has_a_rule(family) -> None:
    transformers = pytest.importorskip("transformers")
    small = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=2, vocab_size=50, head_dim=8)
    config = {
        "gpt2": lambda: transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=16),
        "llama": lambda: transformers.LlamaConfig(**small),
        "gemma": lambda: transformers.GemmaConfig(**small),
    }[family]()
    model = transformers.AutoModelForCausalLM.from_config(config)
    problems = {n: rule_problem(m) for n, m in model.named_modules()
                if any(p.requires_grad for p in m.parameters(recurse=False))}
    assert problems and all(v is None for v in problems.values()), problems


def test_supported_types_lists_the_transformers_layers() -> None:
    names = supported_types()
    assert {"Linear", "Conv1D", "RMSNorm", "*RMSNorm (transformers)", "*ScaledWordEmbedding (transformers)"} <= set(
        names)


def _scaled_embedding(power: int, **kwargs) -> nn.Embedding:
    def forward(self, ids):
        return nn.Embedding.forward(self, ids) * self.embed_scale ** power

    cls = type("FooScaledWordEmbedding", (nn.Embedding,), {"forward": forward, "__module__": FAKE_MODULE})
    layer = cls(10, 4, **kwargs)
    layer.embed_scale = 3.0
    return layer


def test_scaled_embeddings_are_proven_and_keep_the_embedding_refusals() -> None:
    assert rule_problem(_scaled_embedding(1)) is None
    assert rule_problem(_scaled_embedding(2)) is not None  # the scale squared: another formula
    assert "max_norm" in rule_problem(_scaled_embedding(1, max_norm=1.0))


def test_a_plain_torch_model_never_imports_transformers() -> None:
    code = (
        "import sys, json, torch\n"
        "from auditkit.privacy.dp._rules import rule_for, rule_problem\n"
        "from auditkit.privacy.dp._clipping import BookKeeper\n"
        "m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.RMSNorm(8),\n"
        "                        torch.nn.ReLU(), torch.nn.Linear(8, 2))\n"
        "rules = [rule_for(x) is not None for x in m if list(x.parameters())]\n"
        "problems = [rule_problem(x) for x in m]\n"
        "print(json.dumps({'rules': rules, 'hf': sorted(k for k in sys.modules\n"
        "                  if k.split('.')[0] in ('transformers', 'peft'))}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rules"] == [True, True, True, True] and result["hf"] == []


@pytest.mark.parametrize("make", [lambda: nn.Embedding(10, 6), lambda: nn.Linear(6, 6), lambda: nn.LayerNorm(6)])
def test_an_output_broadcast_over_the_batch_is_refused_not_summed(make) -> None:
    """A layer run once for the whole batch (GPT-2's position ids [1, T]) and broadcast: its output
    grad is the batch's sum, so the clipped sum is refused rather than silently wrong."""
    from auditkit.privacy.errors import PrivacyInputError

    layer = make()
    x = torch.arange(4).unsqueeze(0) if isinstance(layer, nn.Embedding) else torch.randn(1, 4, 6)
    slot = _Slot()
    out = rule_for(layer).forward(layer, slot, x)
    (out + torch.randn(B, 4, 6)).pow(2).sum().backward()
    a, g = slot.records[0]
    with pytest.raises(PrivacyInputError, match="one input row per sample"):
        rule_for(layer).clipped_sum(layer, a, g, torch.ones(B))


def test_a_one_row_index_is_expanded_when_the_batch_size_is_known() -> None:
    """With the batch size on the slot, a [1, T] index gives one output row per sample: the values
    after the broadcast are unchanged and each sample's gradient is its own."""
    layer = _randomise(nn.Embedding(10, 6))
    ids, other = torch.arange(4).unsqueeze(0), torch.randn(B, 4, 6)
    slot = _Slot(batch_size=B)
    out = rule_for(layer).forward(layer, slot, ids) + other
    torch.testing.assert_close(out, layer(ids) + other)
    R = torch.randn(B, 4, 6)
    _loss(out, R).backward()
    a, g = slot.records[0]
    ref = torch.stack([torch.autograd.grad(_loss(layer(ids) + other[i:i + 1], R[i:i + 1]), layer.weight)[0]
                       for i in range(B)])
    torch.testing.assert_close(rule_for(layer).per_sample(layer, a, g)["weight"], ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Padding: rows whose output grad is exactly zero (padded positions) add nothing
# --------------------------------------------------------------------------------------------


def _padded_records(layer: str, pad: str, gen: torch.Generator):
    """Records of a Linear / Conv1D layer for 4 samples whose output grads are zero outside a
    span (right or left padding), one sample entirely padded."""
    d, o, T = 24, 40, 16
    if layer == "linear":
        module = nn.Linear(d, o)
    else:
        module = pytest.importorskip("transformers.pytorch_utils").Conv1D(o, d)
    a, g = torch.randn(4, T, d, generator=gen), torch.randn(4, T, o, generator=gen)
    for i, n in enumerate((T, 9, 3, 0)):
        if pad == "right":
            g[i, n:] = 0
        else:
            g[i, : T - n] = 0
    return module, a, g


@pytest.mark.parametrize("layer", ["linear", "conv1d"])
@pytest.mark.parametrize("pad", ["right", "left"])
def test_padded_rows_add_nothing(layer, pad):
    gen = torch.Generator().manual_seed(3)
    module, a, g = _padded_records(layer, pad, gen)
    rule = rule_for(module)
    ps = rule.per_sample(module, a, g)  # materialised over every row: the reference
    want_n2 = sum(v.reshape(4, -1).pow(2).sum(1) for v in ps.values())
    c = torch.rand(4, generator=gen)
    want_sum = {k: torch.einsum("i,i...->...", c, v) for k, v in ps.items()}
    torch.testing.assert_close(rule.norm2(module, a, g), want_n2, rtol=1e-5, atol=1e-5)
    assert float(want_n2[3]) == 0.0  # the entirely padded sample
    got = rule.clipped_sum(module, a, g, c)
    for k in want_sum:
        torch.testing.assert_close(got[k], want_sum[k], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["layernorm", "groupnorm"])
def test_normalisation_records_are_per_sample_gradients(kind):
    """A LayerNorm / GroupNorm keeps B x (parameter) per-sample gradients, not (xhat, g) of the
    input's size, and they equal brute force."""
    torch.manual_seed(0)
    if kind == "layernorm":
        module, x = nn.LayerNorm(6), torch.randn(B, 7, 6)
    else:
        module, x = nn.GroupNorm(2, 4), torch.randn(B, 4, 3, 3)
    rule = rule_for(module)
    slot = _Slot()
    rule.forward(module, slot, x.clone().requires_grad_()).pow(2).sum().backward()
    (a, g), = slot.records
    assert all(t.shape == (B, *module.weight.shape) for t in a.values()) and g.shape[0] == B
    ps = rule.per_sample(module, a, g)
    for i in range(B):
        module.zero_grad()
        module(x[i : i + 1]).pow(2).sum().backward()
        torch.testing.assert_close(ps["weight"][i], module.weight.grad, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ps["bias"][i], module.bias.grad, rtol=1e-5, atol=1e-6)
