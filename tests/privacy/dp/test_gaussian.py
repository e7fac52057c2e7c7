"""The DP noise source (:mod:`auditkit.privacy.dp._gaussian`): AES-128-CTR bits, Box-Muller in
the compiled kernel or in torch (every test runs on both).

Proves: the values are the documented function of the key stream (known answer, computed here
from AES blocks in float64 with NumPy), they are N(0, std²) (KS test, moments, the 3σ tails;
float32 and float64; whole and shorter last blocks) and stop at the documented bound, the two
values of a pair are uncorrelated, a value depends on the key and its position alone (any split
into blocks, in any order), different keys give different noise, and a helper thread drawing
starts no OpenMP or MKL team."""

from __future__ import annotations

import math
import os
import threading

import numpy as np
import pytest
import torch
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from auditkit.privacy.dp import _gaussian, _noise_threads
from auditkit.privacy.dp._gaussian import BLOCK, fill_normal_, step_key
from auditkit.privacy.dp._noise_threads import helpers_possible, single_threaded

KEY = bytes(range(16))


@pytest.fixture(autouse=True, params=["compiled", "torch"])
def transform(request, monkeypatch):
    """Every test here runs on both Box-Muller transforms: the compiled kernel (float32, where
    it is built) and the torch ops (float64 always, float32 without the kernel)."""
    if request.param == "torch":
        monkeypatch.setattr(_gaussian, "kernel", lambda: None)
    elif _gaussian.kernel() is None:
        pytest.skip("the compiled Box-Muller kernel is not built here (see test_boxmuller_kernel)")
    return request.param


def reference(n: int, std: float, key: bytes, dtype=torch.float32) -> np.ndarray:
    """The documented layout, computed independently in float64 with NumPy: AES-ECB of the
    counter blocks is the key stream; per aligned block, value j of each half is one pair."""
    size, k = (8, 63) if dtype == torch.float64 else (4, 31)
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    counters = b"".join(i.to_bytes(16, "big") for i in range(-(-n * size // 16)))
    raw = np.frombuffer(ecb.update(counters), dtype=np.int64 if size == 8 else np.int32)[:n]
    out = np.empty(n)
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        half = (hi - lo) // 2
        x = raw[lo:lo + half].astype(np.float64) % 2.0**k  # the low k bits, exactly
        u = (x + 1) * 2.0**-k
        theta = raw[lo + half:hi].astype(np.float64) * 2 * math.pi * 2.0 ** -(k + 1)
        r = std * np.sqrt(-2 * np.log(u))
        out[lo:lo + half] = r * np.cos(theta)
        out[lo + half:hi] = r * np.sin(theta)
    return out


def draw(n: int, std: float = 1.0, key: bytes = KEY, dtype=torch.float32) -> torch.Tensor:
    buf = torch.full((n,), float("nan"), dtype=dtype)
    fill_normal_(buf, 0, n, std, key)
    return buf


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("n", [2, 8, BLOCK - 2, BLOCK, BLOCK + 2, 2 * BLOCK + 1002])
def test_values_are_the_documented_function_of_the_key_stream(n, dtype, tol):
    """To ``tol`` (float32: its rounding), except where u is within float32's spacing of 1: there
    r = √(−2 ln u) is near 0 and u's rounding moves it by up to √(2·2⁻²⁴) ≈ 3.5e-4, in
    torch's ``normal_`` as here (at most a few in ten thousand values)."""
    ours = draw(n, 1.5, dtype=dtype).double().numpy()
    expected = reference(n, 1.5, KEY, dtype)
    close = np.isclose(ours, expected, rtol=tol, atol=tol)
    assert close.mean() >= 0.999 and (dtype == torch.float32 or close.all())
    np.testing.assert_allclose(ours[~close], expected[~close], rtol=0, atol=1.5 * 4e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [400_000, 600_002])
def test_noise_is_normal_with_the_right_std(n, dtype):
    std = 0.37
    x = draw(n, std, dtype=dtype).double()
    assert x.dtype == torch.float64 and not torch.isnan(x).any()
    assert stats.kstest(x.numpy() / std, "norm").pvalue > 1e-3
    assert abs(float(x.mean())) < 5 * std / n**0.5
    assert abs(float(x.std()) / std - 1) < 5 / (2 * n) ** 0.5
    # the tails: the share beyond 3 σ is the normal's (0.27%)
    beyond = float((x.abs() > 3 * std).double().mean())
    p = 2 * stats.norm.sf(3)
    assert abs(beyond - p) < 5 * (p * (1 - p) / n) ** 0.5


@pytest.mark.parametrize("dtype,k", [(torch.float32, 31), (torch.float64, 63)])
def test_the_smallest_uniform_gives_the_documented_bound(dtype, k, monkeypatch):
    """Key-stream words of 0 give the smallest u = 2^-k and θ = 0: the first value of each pair
    is then the bound, √(2k ln 2)·std (6.56 for float32, 9.35 for float64, beyond torch's 5.77
    and 8.57), the second 0; drawn noise never exceeds it."""
    bound = math.sqrt(2 * k * math.log(2))
    assert round(bound, 2) == (6.56 if k == 31 else 9.35)
    x = draw(4 * BLOCK, dtype=dtype)
    assert float(x.abs().max()) <= bound * (1 + 1e-6)

    def zero_stream(key, offset):
        def fill(out):
            out[:] = bytes(len(out))
        return fill

    monkeypatch.setattr(_gaussian, "_key_stream", zero_stream)
    edge = draw(8, 2.0, dtype=dtype)
    torch.testing.assert_close(edge[:4], torch.full((4,), 2.0 * bound, dtype=dtype),
                               rtol=1e-6, atol=0)
    assert torch.equal(edge[4:], torch.zeros(4, dtype=dtype))


def test_the_two_values_of_a_pair_are_uncorrelated_and_blocks_differ():
    x = draw(4 * BLOCK).view(4, 2, BLOCK // 2)
    first, second = x[:, 0].reshape(-1).double(), x[:, 1].reshape(-1).double()
    assert abs(float(torch.corrcoef(torch.stack([first, second]))[0, 1])) < 5 / first.numel() ** 0.5
    # a pair's squared length is the Box-Muller radius²: χ²(2), exponential with mean 2
    assert stats.kstest((first**2 + second**2).numpy(), "expon", args=(0, 2)).pvalue > 1e-3
    rows = x.reshape(4, -1)
    assert len({tuple(r[:4].tolist()) for r in rows}) == 4


@settings(max_examples=30, deadline=None)
@given(half=st.integers(1, (3 * BLOCK + 77) // 2), cuts=st.lists(st.integers(0, 4), max_size=3))
def test_a_value_depends_on_its_key_and_position_alone(half, cuts):
    """Any split into block-aligned ranges, drawn in any order, gives the values of one call
    over the whole buffer."""
    n = 2 * half
    whole = draw(n)
    edges = sorted({0, n, *(min(n, c * BLOCK) for c in cuts)})
    parts = torch.full((n,), float("nan"))
    for lo, hi in reversed(list(zip(edges[:-1], edges[1:], strict=False))):
        fill_normal_(parts, lo, hi, 1.0, KEY)
    assert torch.equal(parts, whole)


def test_different_keys_give_different_noise_and_the_key_comes_from_the_generator():
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    k1, k2 = step_key(g1), step_key(g1)
    assert len(k1) == 16 and k1 != k2 and step_key(g2) == k1  # per step, reproducible
    a, b = draw(1000, key=k1), draw(1000, key=k2)
    assert not torch.isclose(a, b).any()


def test_the_output_path_for_older_cryptography_gives_the_same_values(monkeypatch):
    """Older ``cryptography`` versions want 15 spare output bytes; that path is the same stream."""
    expected = draw(BLOCK + 6)
    monkeypatch.setattr(_gaussian, "_exact_output", lambda: False)
    assert torch.equal(draw(BLOCK + 6), expected)


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or not helpers_possible(),
                    reason="Linux, with torch's OpenMP and MKL thread settings reachable")
@pytest.mark.parametrize("torch_threads", [1, 2])
def test_a_helper_thread_drawing_starts_no_thread_team(torch_threads):
    """A helper thread drawing big blocks (and running a plain op) under
    :func:`single_threaded` starts no OpenMP or MKL team (a second team spinning beside torch's
    slowed every torch op about 2×); its own settings are back afterwards."""
    before_threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        torch.ones(1 << 20).cos_()  # torch's own team exists before counting
        seen: list = []

        def helper() -> None:
            threads = torch.get_num_threads()
            with single_threaded():
                start = _threads()
                buf = torch.empty(4 * BLOCK)
                fill_normal_(buf, 0, buf.numel(), 1.0, KEY)
                buf.mul_(3).cos_()
                seen.append((start, _threads(), torch.get_num_threads()))
            seen.append((threads, torch.get_num_threads()))

        thread = threading.Thread(target=helper)
        thread.start()
        thread.join()
    finally:
        torch.set_num_threads(before_threads)
    (start, after, inside), (threads, restored) = seen
    assert after == start  # no thread was started while drawing
    assert inside == 1 and restored == threads == torch_threads


def test_without_the_runtimes_nothing_is_changed(monkeypatch):
    """Where the runtimes cannot be reached, single_threaded changes nothing and no helper is
    used (the noise is then drawn on the training thread; see test_noise_draw)."""
    monkeypatch.setattr(_noise_threads, "_controls", lambda: (None, None, False))
    assert not helpers_possible()
    before = torch.get_num_threads()
    with single_threaded():
        assert torch.get_num_threads() == before


def test_preparing_the_noise_leaves_the_random_stream_alone(monkeypatch):
    """The one-time probe draws nothing from torch's global RNG: a seeded run that builds the
    optimizer draws the same dropout masks and shuffles as before."""
    monkeypatch.setattr(_noise_threads, "_FOUND", [])
    torch.manual_seed(3)
    _gaussian.prepare_noise()
    after = torch.rand(4)
    torch.manual_seed(3)
    assert torch.equal(torch.rand(4), after)


@pytest.mark.parametrize("std", [1e-30, 1e-3, 1e3, 1e30])
def test_extreme_stds_stay_finite_and_scale(std):
    x = draw(BLOCK, std)
    assert torch.isfinite(x).all()
    assert abs(float(x.double().std()) / std - 1) < 0.02
