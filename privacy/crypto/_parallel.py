"""Multi-threaded segment encryption and decryption for regular files.

Every STREAM segment sits at a fixed offset (segment ``i`` of plaintext at ``i * S``, of
ciphertext at ``header + i * (S + 16)``) and its nonce depends only on ``i`` and whether it is
the last, so segments can be processed in any order. Each worker owns a contiguous stripe of
segments and two buffers, reading with ``preadv`` and writing with ``pwrite``; AES-GCM and the
file system calls release the GIL, so the threads run in parallel. Memory stays at two buffers
per worker, whatever the file size.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditkit.privacy.errors import DecryptionError, PrivacyInputError

__all__ = ["decrypt_segments", "default_workers", "encrypt_segments"]

TAG = 16
_MAX_WORKERS = 8


def default_workers() -> int:
    """Threads to use: the CPUs this process may run on, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(_MAX_WORKERS, n))


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    got = 0
    while got < len(view):
        if hasattr(os, "preadv"):
            k = os.preadv(fd, [view[got:]], offset + got)
        else:  # pragma: no cover - platforms without preadv
            data = os.pread(fd, len(view) - got, offset + got)
            k = len(data)
            view[got : got + k] = data
        if k == 0:
            break
        got += k
    return got


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


def _run_striped(
    n_segments: int, workers: int, work: Callable[[int, int, threading.Event], None]
) -> None:
    workers = max(1, min(workers, n_segments))
    stop = threading.Event()
    bounds = [n_segments * w // workers for w in range(workers + 1)]

    def guarded(lo: int, hi: int) -> None:
        try:
            work(lo, hi, stop)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="auditkit-crypto") as pool:
        futures = [pool.submit(guarded, bounds[w], bounds[w + 1]) for w in range(workers)]
        errors = [f.exception() for f in futures]
    for exc in errors:
        if exc is not None:
            raise exc


def encrypt_segments(
    in_fd: int,
    out_fd: int,
    aead: AESGCM,
    nonce: Callable[[int, bool], bytes],
    seg: int,
    size: int,
    out_base: int,
    workers: int,
) -> None:
    """Encrypt ``size`` plaintext bytes of ``in_fd`` into ``out_fd`` from ``out_base`` on."""
    n = max(1, -(-size // seg))

    def work(lo: int, hi: int, stop: threading.Event) -> None:
        pt = bytearray(seg)
        ct = bytearray(seg + TAG)
        for i in range(lo, hi):
            if stop.is_set():
                return
            length = min(seg, size - i * seg)
            view = memoryview(pt)[:length]
            if _pread_into(in_fd, view, i * seg) != length:
                raise PrivacyInputError(
                    "The input file shrank while it was being encrypted; nothing was written. "
                    "Encrypt a file that no other process is writing."
                )
            out = memoryview(ct)[: length + TAG]
            aead.encrypt_into(nonce(i, i == n - 1), view, None, out)
            _pwrite_all(out_fd, out, out_base + i * (seg + TAG))

    _run_striped(n, workers, work)
    if os.pread(in_fd, 1, size):
        raise PrivacyInputError(
            "The input file grew while it was being encrypted; nothing was written. "
            "Encrypt a file that no other process is writing."
        )


def decrypt_segments(
    in_fd: int,
    out_fd: int,
    aead: AESGCM,
    nonce: Callable[[int, bool], bytes],
    seg: int,
    n: int,
    last_ct: int,
    in_base: int,
    workers: int,
) -> None:
    """Decrypt and authenticate ``n`` segments of ``in_fd`` (from ``in_base``) into ``out_fd``."""

    def work(lo: int, hi: int, stop: threading.Event) -> None:
        ct = bytearray(seg + TAG)
        pt = bytearray(seg)
        for i in range(lo, hi):
            if stop.is_set():
                return
            last = i == n - 1
            length = last_ct if last else seg + TAG
            view = memoryview(ct)[:length]
            if _pread_into(in_fd, view, in_base + i * (seg + TAG)) != length:
                raise DecryptionError()
            out = memoryview(pt)[: length - TAG]
            try:
                aead.decrypt_into(nonce(i, last), view, None, out)
            except InvalidTag:
                raise DecryptionError() from None
            _pwrite_all(out_fd, out, i * seg)

    _run_striped(n, workers, work)
