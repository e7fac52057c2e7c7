"""The short paths of the book-keeping rules (taken at every step for every layer) give exactly
what the general paths give: the per-sample norms and clipped sums of a linear layer fed one
row per sample (``(N, d)`` records, no reshape), and the trainable parameter names read from a
module's parameter dict (as ``named_parameters(recurse=False)`` names them)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from auditkit.privacy.dp._rules_base import _matmul_norm2, _row_weights, _trainable_names

DTYPES = {"float32": (torch.float32, 1e-5), "bfloat16": (torch.bfloat16, 1e-5)}


def brute_norm2(a: torch.Tensor, g: torch.Tensor, weight: bool, bias: bool) -> torch.Tensor:
    """Squared norms of each row's own weight gradient ``g_i a_i^T`` and bias gradient ``g_i``,
    from the materialised per-sample gradients, in float64."""
    a, g = a.double(), g.double()
    total = torch.zeros(a.shape[0], dtype=torch.float64)
    if weight:
        total += torch.einsum("no,nd->nod", g, a).pow(2).sum((1, 2))
    if bias:
        total += g.pow(2).sum(1)
    return total


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 12), d=st.integers(1, 9), o=st.integers(1, 9),
       weight=st.booleans(), bias=st.booleans(), dtype=st.sampled_from(sorted(DTYPES)),
       seed=st.integers(0, 2**16))
def test_one_row_per_sample_norms_equal_brute_force_and_the_sequence_path(n, d, o, weight, bias,
                                                                          dtype, seed):
    """``(N, d)`` records (the short path) and the same records as ``(N, 1, d)`` (the sequence
    path) give the same norms, equal to brute force on the records' values."""
    torch_dtype, tol = DTYPES[dtype]
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=gen).to(torch_dtype)
    g = torch.randn(n, o, generator=gen).to(torch_dtype)
    flat = _matmul_norm2(a, g, weight, bias)
    seq = _matmul_norm2(a.unsqueeze(1), g.unsqueeze(1), weight, bias)
    assert flat.dtype == torch.float32 and flat.shape == (n,)
    torch.testing.assert_close(flat, seq, rtol=0, atol=0)
    torch.testing.assert_close(flat.double(), brute_norm2(a, g, weight, bias), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_one_row_per_sample_sum_rows_are_the_records_without_a_copy(dtype):
    """``_row_weights`` takes ``(N, d)`` records as they are (bf16 upcast), with the same values
    and weights as the ``(N, 1, d)`` path."""
    torch_dtype, _ = DTYPES[dtype]
    layer = nn.Linear(5, 3)
    a, g, c = torch.randn(6, 5).to(torch_dtype), torch.randn(6, 3).to(torch_dtype), torch.rand(6)
    a2, g2, w = _row_weights(layer, a, g, c)
    a3, g3, w3 = _row_weights(layer, a.unsqueeze(1), g.unsqueeze(1), c)
    if torch_dtype == torch.float32:
        assert a2 is a and g2 is g
    for x, y in ((a2, a3), (g2, g3), (w, w3)):
        assert x.dtype == torch.float32
        assert torch.equal(x, y)


class _Aliased(nn.Module):
    """A module whose own parameters are set by the test: some frozen, some ``None``, one
    Parameter possibly registered under two names."""


@settings(max_examples=80, deadline=None)
@given(spec=st.lists(st.tuples(st.sampled_from(["param", "none", "alias"]), st.booleans()),
                     min_size=0, max_size=6))
def test_trainable_names_are_those_named_parameters_gives(spec):
    module = _Aliased()
    made: list[nn.Parameter] = []
    for i, (kind, trainable) in enumerate(spec):
        name = f"p{i}"
        if kind == "none":
            module.register_parameter(name, None)
        elif kind == "alias" and made:
            module.register_parameter(name, made[0])  # the same Parameter, a second name
        else:
            p = nn.Parameter(torch.zeros(2), requires_grad=trainable)
            made.append(p)
            module.register_parameter(name, p)
    module.child = nn.Linear(2, 2)  # a submodule's parameters are not the module's own
    expected = [n for n, p in module.named_parameters(recurse=False) if p.requires_grad]
    assert _trainable_names(module) == expected
