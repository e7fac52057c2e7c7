"""Gaussian noise for the DP steps: AES-128 in counter mode for the bits, then Box-Muller.

torch's CPU ``normal_`` costs about 3.5–6 ns per value on one thread (a Mersenne Twister
under a lock for the uniforms, then the uniform-to-normal transform); for a model with 13M trained
parameters that is 50 ms a step, a quarter of a BERT-shaped step on two cores. Here the random
bits come from AES-128-CTR (the ``cryptography`` package: OpenSSL, with AES-NI where the CPU has
it) at about 0.6–0.8 ns per value. The Box-Muller transform of float32 noise runs in one compiled
pass (:func:`kernel`: ``privacy/dp/_boxmuller.c``, glibc's vector maths, about 0.9 ns per value
on the calling thread: a second thread only competed with torch's OpenMP threads, which keep
spinning for a while after each torch op); without the kernel (another platform, or
float64) it runs as a dozen vectorised torch ops over contiguous blocks that stay in the core's
cache, with torch's own threads (the whole draw, cipher included, 3.4–4.1 ns per value against
1.5–1.8 with the kernel, measured alone), or on the thread drawing ahead, kept
off thread teams by :mod:`._noise_threads`. The two transforms compute the same formulas in the
same order and differ only in how their ``log``, ``cos`` and ``sin`` round (at most about 1e-6
measured, on values up to 5.5σ), so a seeded run repeats exactly on the same kind of machine, and within
float32 rounding on another.

The layout is fixed, so a value depends only on the step's key and its position in the step's
stream, never on how the work is split among threads: the value at position ``i`` takes the
``itemsize`` bytes of the key stream at byte ``itemsize·i``, read as a signed integer. A step's
noise lies in one or more buffers, each holding the positions from a multiple of :data:`BLOCK`
on; within each block of :data:`BLOCK` values aligned to its buffer's start (a buffer's last
block may be shorter; its length must be even), value ``j`` of the first half and value ``j``
of the second half form one Box-Muller pair:
``r = std·√(−2 ln u)`` with ``u = ((x mod 2ᵏ) + 1)·2⁻ᵏ`` from the first (k = 31 for float32,
63 for float64) and ``θ = 2π·y·2⁻⁽ᵏ⁺¹⁾`` from the second; the first value becomes ``r cos θ``,
the second ``r sin θ``. The smallest ``u`` is 2⁻ᵏ, so float32 noise reaches ``6.56·std`` and
float64 ``9.35·std`` (torch's own ``normal_`` on a contiguous tensor of 16 values or more, with
24- and 53-bit uniforms, stops at ``5.77·std`` and ``8.57·std``; smaller or strided tensors
reach 8.57 in float32 too): a Gaussian cut off at a bound is what any finite generator gives, and the
further out the cut, the smaller the part of δ it costs.

The key of each step comes from the optimizer's generator (:func:`step_key`), so a seeded run
is reproduced exactly; the stream itself is a cipher's, so knowing some noise values does not
reveal the others (unlike a Mersenne Twister's, whose state follows from 624 outputs).
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

__all__ = ["BLOCK", "fill_normal_", "kernel", "prepare_noise", "step_key"]

#: values per Box-Muller block (1 MB of float32: it stays in a core's cache through the dozen
#: ops); blocks are aligned to the start of the buffer
BLOCK = 1 << 18


def prepare_noise() -> None:
    """Do the one-time work of drawing noise now (when the optimizer is built), not in the
    first step: load the cipher and the compiled kernel, check the cipher's output convention,
    probe the helper threads."""
    from auditkit.privacy.dp._noise_threads import helpers_possible

    _exact_output()
    kernel()
    helpers_possible()


def step_key(generator: Any) -> bytes:
    """A step's AES-128 key: 16 bytes from ``generator`` (a ``torch.Generator``)."""
    import torch

    words = torch.randint(0, 2**62, (2,), generator=generator).tolist()
    return b"".join(int(w).to_bytes(8, "little") for w in words)


def fill_normal_(buf: Any, lo: int, hi: int, std: float, key: bytes, start: int = 0) -> None:
    """Fill ``buf[lo:hi]`` with N(0, std²) noise from ``key`` (see the module docstring).

    ``buf``: a flat, contiguous float32 or float64 CPU tensor of even length, holding positions
    ``start`` on of the step's stream (``start``: a multiple of :data:`BLOCK`; the step's other
    buffers hold other positions). ``lo`` is a multiple of :data:`BLOCK`; so is ``hi``, unless
    it is the end of ``buf``. float32 goes through the compiled transform (:func:`kernel`) on
    this thread where it is built; otherwise the torch ops run with torch's threads."""
    import torch

    size = buf.element_size()
    bytes_view = memoryview(buf.numpy()).cast("B")
    stream = _key_stream(key, (start + lo) * size)
    compiled = kernel() if buf.dtype == torch.float32 else None
    if compiled is not None:
        # block by block, the bits, then one pass over them on this thread (the interpreter lock
        # released): the block is still in the core's cache, and the cipher's zero input stays
        # at one block
        for s in range(lo, hi, BLOCK):
            e = min(hi, s + BLOCK)
            stream(bytes_view[s * size:e * size])
            compiled.transform(bytes_view, size, s, e, BLOCK, float(std))
        return
    k = 63 if buf.dtype == torch.float64 else 31
    bits_dtype = torch.int64 if k == 63 else torch.int32
    cos = _scratch(buf.dtype)
    for s in range(lo, hi, BLOCK):
        e = min(hi, s + BLOCK)
        stream(bytes_view[s * size:e * size])
        half = (e - s) // 2
        bits, values = buf[s:e].view(bits_dtype), buf[s:e]
        radius, angle, c = values[:half], values[half:], cos[:half]
        # in place throughout, the integers read as floats where they lie: no temporaries
        bits[:half].bitwise_and_((1 << k) - 1)
        radius.copy_(bits[:half]).add_(1).mul_(2.0**-k)  # u in (0, 1]: ln u finite
        radius.log_().mul_(-2.0).sqrt_().mul_(std)  # std alone: std² could leave float32's range
        angle.copy_(bits[half:]).mul_(2 * math.pi * 2.0 ** -(k + 1))  # θ in [−π, π)
        torch.cos(angle, out=c)
        angle.sin_().mul_(radius)
        radius.mul_(c)


@functools.cache
def kernel() -> Any:
    """The compiled Box-Muller transform (``auditkit.privacy.dp._boxmuller``, built from
    ``privacy/dp/_boxmuller.c`` at install), or ``None`` where it was not built or this CPU
    cannot run it (then the torch ops below do the same transform). float32 only."""
    try:
        from auditkit.privacy.dp import _boxmuller
    except ImportError:
        return None
    return _boxmuller if _boxmuller.available() else None


_SCRATCH = threading.local()


def _scratch(dtype: Any) -> Any:
    """This thread's buffer of half a block (for cos θ), kept for its later calls."""
    import torch

    held = getattr(_SCRATCH, "buffers", None)
    if held is None:
        held = _SCRATCH.buffers = {}
    if dtype not in held:
        held[dtype] = torch.empty(BLOCK // 2, dtype=dtype)
    return held[dtype]


def _key_stream(key: bytes, offset: int) -> Any:
    """A function that fills a byte buffer with the next bytes of AES-128-CTR(key), starting at
    byte ``offset`` (a multiple of 16) of the stream."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(key), modes.CTR((offset // 16).to_bytes(16, "big"))).encryptor()

    def fill(out: memoryview) -> None:
        n = len(out)
        if _exact_output():
            encryptor.update_into(_zeros(n), out)
        else:  # pragma: no cover - older cryptography wants block_size - 1 spare bytes
            spare = bytearray(n + 15)
            written = encryptor.update_into(_zeros(n), spare)
            out[:written] = spare[:written]

    return fill


_ZEROS: list[memoryview] = []


def _zeros(n: int) -> memoryview:
    """``n`` zero bytes (the plain text the key stream is XORed onto), from one shared buffer."""
    if not _ZEROS or len(_ZEROS[0]) < n:
        _ZEROS[:] = [memoryview(bytes(max(n, 8 * BLOCK)))]
    return _ZEROS[0][:n]


@functools.cache
def _exact_output() -> bool:
    """Whether ``update_into`` accepts an output exactly as long as the input (it does for CTR
    in recent ``cryptography``; older versions asked for 15 spare bytes)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(bytes(16)), modes.CTR(bytes(16))).encryptor()
    try:
        return encryptor.update_into(bytes(16), bytearray(16)) == 16
    except ValueError:  # pragma: no cover - older cryptography
        return False
