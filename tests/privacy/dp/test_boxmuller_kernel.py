"""The compiled Box-Muller kernel (``privacy/dp/_boxmuller.c``) of the DP noise.

Proves: it is built and used where setup.py builds it (x86-64 Linux with glibc, a CPU with
AVX2 and FMA); its values are the torch ops' to float32 rounding, for any key, size, range and
std (hypothesis); they do not depend on how the buffer is split into ranges; bad arguments are
refused with a clear error before anything is written; the interpreter lock is released while
it runs. The distribution itself (known answer, normality, tails, bound) is tested on both
transforms in test_gaussian.py.
"""

from __future__ import annotations

import platform
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.privacy.dp import _gaussian
from auditkit.privacy.dp._gaussian import BLOCK, fill_normal_

BUILT_HERE = (sys.platform.startswith("linux") and platform.machine() == "x86_64"
              and platform.libc_ver()[0] == "glibc")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


RUNS_HERE = BUILT_HERE and {"avx2", "fma"} <= _cpu_flags()

needs_kernel = pytest.mark.skipif(not RUNS_HERE, reason="the kernel is built for x86-64 glibc Linux with AVX2 and FMA")


def test_the_kernel_is_built_and_used_where_setup_builds_it():
    if not RUNS_HERE:
        assert _gaussian.kernel() is None or BUILT_HERE
        pytest.skip("not a platform the kernel is built for")
    assert _gaussian.kernel() is not None, (
        "auditkit.privacy.dp._boxmuller did not build: install a C compiler (gcc) and reinstall "
        "(pip install -e .); the noise falls back to the slower torch ops without it"
    )


def _both(n: int, lo: int, hi: int, std: float, key: bytes):
    compiled = torch.full((n,), float("nan"))
    fill_normal_(compiled, lo, hi, std, key)
    kernel = _gaussian.kernel
    try:
        _gaussian.kernel = lambda: None
        ops = torch.full((n,), float("nan"))
        fill_normal_(ops, lo, hi, std, key)
    finally:
        _gaussian.kernel = kernel
    return compiled, ops


@needs_kernel
@settings(max_examples=25, deadline=None)
@given(half=st.integers(1, (2 * BLOCK + 5000) // 2), key=st.binary(min_size=16, max_size=16),
       std=st.floats(1e-6, 1e6), first=st.integers(0, 2))
def test_the_kernel_gives_the_torch_ops_values(half, key, std, first):
    """Same bits, same formulas, same order of operations: the two differ only by how their
    log, cos and sin round (measured: at most 9.5e-7 on values up to 5.5σ), and they leave
    the values outside the range alone."""
    n = 2 * half
    lo = min(first * BLOCK, (n // BLOCK) * BLOCK)
    compiled, ops = _both(n, lo, n, std, key)
    assert torch.isnan(compiled[:lo]).all() and torch.isnan(ops[:lo]).all()
    torch.testing.assert_close(compiled[lo:], ops[lo:], rtol=2e-6, atol=2e-6 * std)


@needs_kernel
@settings(max_examples=20, deadline=None)
@given(half=st.integers(1, (3 * BLOCK + 9000) // 2), cuts=st.lists(st.integers(0, 3), max_size=3))
def test_the_values_do_not_depend_on_how_the_buffer_is_split(half, cuts):
    """Every block is walked from its start, so block-aligned ranges drawn in any order give
    the bits of one call over the whole buffer (with the torch ops: test_gaussian)."""
    n = 2 * half
    whole = torch.empty(n)
    fill_normal_(whole, 0, n, 1.3, b"k" * 16)
    edges = sorted({0, n, *(min(n, c * BLOCK) for c in cuts)})
    parts = torch.full((n,), float("nan"))
    for lo, hi in reversed(list(zip(edges[:-1], edges[1:], strict=False))):
        fill_normal_(parts, lo, hi, 1.3, b"k" * 16)
    assert torch.equal(parts, whole)


@needs_kernel
@pytest.mark.parametrize("n,args,message", [
    (16, (4, 1, 16, BLOCK, 1.0), "multiple of block"),
    (15, (4, 0, 15, BLOCK, 1.0), "even number"),
    (16, (4, 0, BLOCK + 2, BLOCK, 1.0), "lo <= hi <= len"),
    (16, (4, 8, 4, BLOCK, 1.0), "lo <= hi"),
    (16, (4, -BLOCK, 16, BLOCK, 1.0), "lo <= hi"),
    (16, (4, 0, 16, 1000, 1.0), "multiple of 4096"),
    (16, (8, 0, 8, BLOCK, 1.0), "only float32"),
], ids=["lo-not-block-aligned", "odd-range", "beyond-the-end", "backwards", "negative", "bad-block",
        "float64"])
def test_bad_arguments_are_refused_before_any_write(n, args, message):
    from auditkit.privacy.dp import _boxmuller

    buf = torch.full((n,), 7.0)
    with pytest.raises(ValueError, match=message):
        _boxmuller.transform(memoryview(buf.numpy()).cast("B"), *args)
    assert torch.equal(buf, torch.full((n,), 7.0))


@needs_kernel
def test_a_range_ending_inside_a_block_must_be_the_buffers_end():
    from auditkit.privacy.dp import _boxmuller

    buf = torch.zeros(BLOCK + 8)
    with pytest.raises(ValueError, match="end of the buffer"):
        _boxmuller.transform(memoryview(buf.numpy()).cast("B"), 4, 0, BLOCK + 4, BLOCK, 1.0)
    with pytest.raises(TypeError):  # read-only memory is never written
        _boxmuller.transform(bytes(64), 4, 0, 16, BLOCK, 1.0)


@needs_kernel
def test_the_interpreter_lock_is_released_while_it_runs():
    """A helper thread drawing ahead must not hold up the training thread's Python. A thread
    transforms 128 blocks of zero bits (tens of milliseconds); meanwhile this thread, running
    Python, sees the first block done and the last not yet: it could not, were the lock held
    through the call (it would run again only after the call)."""
    import threading

    from auditkit.privacy.dp import _boxmuller

    n = 128 * BLOCK
    buf = torch.zeros(n)
    first, last = buf[:1], buf[n - BLOCK:n - BLOCK + 1]  # each block's first value: r cos 0
    view = memoryview(buf.numpy()).cast("B")
    worker = threading.Thread(target=_boxmuller.transform, args=(view, 4, 0, n, BLOCK, 1.0))
    seen_midway = False
    worker.start()
    while worker.is_alive() and not seen_midway:
        seen_midway = first.item() != 0.0 and last.item() == 0.0
    worker.join()
    assert seen_midway
    assert first.item() == last.item() > 6.5  # the zero bits' value: the bound, 6.56
