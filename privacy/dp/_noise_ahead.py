"""A step's DP noise for all parameters: drawn in segments, in the step or ahead of it."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from auditkit.privacy.dp._gaussian import BLOCK, fill_normal_, step_key
from auditkit.privacy.dp._noise_threads import single_threaded

__all__ = ["SEGMENT_BYTES", "segments"]

#: the most bytes one segment of a step's noise takes (whole parameters; a larger parameter is a
#: segment of its own). Each segment is reused on its own once nothing else holds it, so a
#: ``p.grad`` a caller kept costs a fresh allocation of its segment alone; and a step drawn late
#: (:meth:`_NoiseAhead.late`) that must allocate (the first step, or a kept ``p.grad``) allocates
#: each segment as the sums reach it, in memory the summed layers freed, where one buffer the
#: size of the model (above glibc's largest mmap threshold, 32 MiB) was mapped afresh.
SEGMENT_BYTES = 8 << 20


def segments(sizes: list[int], itemsize: int) -> list[list[int]]:
    """Consecutive parameters grouped into segments: the indices of ``sizes`` in each, in order,
    each segment at most :data:`SEGMENT_BYTES` unless it holds one larger parameter alone."""
    out: list[list[int]] = []
    room = 0
    for i, n in enumerate(sizes):
        if out and n * itemsize <= room:
            out[-1].append(i)
            room -= n * itemsize
        else:
            out.append([i])
            room = SEGMENT_BYTES - n * itemsize
    return out


class _NoiseAhead:
    """N(0, std²) noise for all parameters, drawn into a few segment buffers per step.

    The values come from :mod:`._gaussian` (AES-128-CTR bits, then Box-Muller), keyed once
    per step by a key drawn from ``generator`` (from a private generator seeded once from torch's
    global RNG when ``generator`` is None). The parameters are grouped into segments
    (:func:`segments`), each one tensor of even length; segment ``s`` holds positions
    ``starts[s]`` on of the step's stream (:attr:`starts`: multiples of :data:`BLOCK`, so no two
    segments share a byte of the key stream). A value depends on the key and its position alone,
    so the noise is the same however many threads draw it, in whatever order, ahead
    (:meth:`start`) or in the step (:meth:`take`). The drawing threads take the segments' blocks
    (:attr:`bounds`) in turn.

    :meth:`start` takes the next step's buffers and draws them on one background thread of the
    lowest scheduling priority (:func:`_lowest_priority`; used while a core is spare), kept off
    thread teams (:func:`single_threaded`), so it never takes CPU time from the training.
    :meth:`take` draws what is left on the calling thread, whose torch ops run on torch's own
    team, and hands the buffers out: the optimizer adds the clipped sums into them and they
    become ``p.grad``. (Helper threads drawing in the step beside torch's team were slower than
    the team: MLP step 1.92× plain against 1.78×, BERT-shaped 1.33× against 1.31×, measured side
    by side on the 2-core benchmark machine.) Buffers handed out are drawn into again only once
    nothing else holds them (:func:`_only_ours`), so a ``p.grad`` a caller kept is never
    overwritten.
    """

    #: the Box-Muller block (:data:`._gaussian.BLOCK`), a unit of work for the drawing threads
    BLOCK = BLOCK

    def __init__(self, params: list[Any], std: float, generator: Any, *, start: bool = True) -> None:
        import threading

        import torch

        self.std = std
        self.source = generator  # the optimizer's generator (None: torch's global RNG)
        self.sizes = [p.numel() for p in params]
        self.dtype = torch.promote_types(params[0].dtype, torch.float32)  # the sums' dtype
        if generator is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())  # from the global RNG: reproducible
            generator = torch.Generator().manual_seed(seed)
        self.generator = generator
        groups = segments(self.sizes, torch.empty(0, dtype=self.dtype).element_size())
        #: per segment: its parameters' sizes, its length (even: the last block pairs its two
        #: halves) and its first position in the step's stream
        self.parts = [[self.sizes[i] for i in g] for g in groups]
        self.lengths = [sum(p) + sum(p) % 2 for p in self.parts]
        self.starts = [0]
        for n in self.lengths[:-1]:
            self.starts.append(self.starts[-1] + -(-n // BLOCK) * BLOCK)
        #: units of work: (segment, lo, hi), lo a multiple of BLOCK within the segment
        self.bounds = [(s, lo, min(lo + BLOCK, n)) for s, n in enumerate(self.lengths)
                       for lo in range(0, n, BLOCK)]
        self.lock = threading.Lock()
        self.behind: Any = None  # the thread drawing ahead (lowest priority)
        self.todo: list[Any] | None = None  # the prepared step's units, popped from the end
        self.buf: list[Any] | None = None  # the prepared step's segment buffers
        self.key = b""  # the prepared step's key
        self.handed: list[Any] | None = None  # the buffers handed out last (reused once free)
        self.pending: list[Any] = []  # drawing tasks of the prepared step
        if start:
            self.start()

    @property
    def future(self) -> Any:
        """The background draw of the prepared step (a finished future when there is none)."""
        import concurrent.futures

        if self.pending:
            return self.pending[0]
        done: concurrent.futures.Future = concurrent.futures.Future()
        done.set_result(None)
        return done

    def _reusable(self) -> list[Any]:
        """Per segment, the buffer handed out last if nothing else holds it now (its ``p.grad``
        views were dropped: :func:`_only_ours`), to be drawn into again; else ``None``, to be
        allocated afresh (a buffer a caller kept is never written into)."""
        held, self.handed = self.handed, None
        if held is None:
            return [None] * len(self.lengths)
        return [b if b is not None and _only_ours(b) else None for b in held]

    def _prepare(self) -> None:
        """The next step's buffers, and its key (drawn from :attr:`generator`)."""
        import torch

        if self.todo is not None:
            return
        self.buf = [torch.empty(n, dtype=self.dtype) if b is None else b
                    for b, n in zip(self._reusable(), self.lengths, strict=True)]
        self.key = step_key(self.generator)
        self.todo = self.bounds[::-1]

    def _executor(self) -> Any:
        """The thread drawing ahead (created once)."""
        import concurrent.futures

        if self.behind is None:
            self.behind = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="dp-noise-ahead", initializer=_lowest_priority)
        return self.behind

    def start(self) -> None:
        """Prepare the next step and draw it on the background thread."""
        self._prepare()
        if not self.pending and self.todo:
            buf, todo, key = self.buf, self.todo, self.key
            self.pending.append(self._executor().submit(self._work, buf, todo, key))

    def _next(self, todo: list[Any]) -> Any:
        with self.lock:
            return todo.pop() if todo else None

    def _work(self, buf: list[Any], todo: list[Any], key: bytes, alone: bool = True) -> None:
        """Draw blocks of ``todo`` until none is left. ``alone``: keep this thread's torch ops
        on it (:func:`single_threaded`: the thread drawing ahead); else they use torch's team."""
        with single_threaded() if alone else contextlib.nullcontext():
            while (item := self._next(todo)) is not None:
                s, lo, hi = item
                fill_normal_(buf[s], lo, hi, self.std, key, start=self.starts[s])

    def take(self, keep: bool = True) -> list[Any]:
        """This step's noise, one flat chunk per parameter (what the thread drawing ahead has
        not reached is drawn now, on this thread); the buffers are the caller's from now on.
        ``keep``: remember them, to draw into them again once they are free (when the next step
        draws ahead); else a later step allocates its own and nothing the size of the model is
        held between steps."""
        self._prepare()
        assert self.todo is not None and self.buf is not None
        try:
            self._work(self.buf, self.todo, self.key, alone=False)
            self.wait()  # and wait for the block the thread drawing ahead is on
        except BaseException:
            self._abandon()  # interrupted: no half-drawn buffer is ever handed out
            raise
        buf, self.buf, self.todo = self.buf, None, None
        self.handed = buf if keep else None
        return [chunk for b, part in zip(buf, self.parts, strict=True)
                for chunk in b[:sum(part)].split(part)]

    def late(self) -> list[Any]:
        """This step's noise as one function per parameter, returning its flat chunk: each
        segment is drawn (on the calling thread, with torch's team) when the first of its
        parameters is asked for, as the optimizer sums each layer. The segments are kept and
        drawn into again in a later step once nothing else holds them (:meth:`_reusable`); one
        that must be allocated (the first step, or a ``p.grad`` a caller kept) is allocated when
        it is drawn, after the layers summed before it freed their records. When a step was
        prepared ahead (:meth:`start`), this is :meth:`take`'s noise.

        Kept, because memory allocated afresh each step is faulted in again, page by page, each
        step, wherever glibc's allocator gave it back to the system (see "The C allocator" in
        docs/dp_transformers.md): on the 2-core benchmark machine, a BERT-shaped step faulted
        in 9,700–11,700 pages while drawing its noise (41.9 ms against 25.8 ms kept, one process) and gave
        them back at ``zero_grad`` (4–5 ms). The price is one buffer the size of the trained
        parameters held between steps, as plain torch holds its gradients with
        ``zero_grad(set_to_none=False)``."""
        import torch

        if self.todo is not None or self.pending:
            return [(lambda c=c: c) for c in self.take(keep=True)]
        bufs = self._reusable()
        key = step_key(self.generator)
        self.handed = bufs  # kept for the next step; filled in below as the segments are drawn
        made: dict[int, list[Any]] = {}

        def chunk(s: int, j: int) -> Any:
            if s not in made:
                if bufs[s] is None:
                    bufs[s] = torch.empty(self.lengths[s], dtype=self.dtype)
                buf = bufs[s]
                # the whole segment in one call: one cipher context, not one per block
                fill_normal_(buf, 0, self.lengths[s], self.std, key, start=self.starts[s])
                made[s] = buf[:sum(self.parts[s])].split(self.parts[s])
            return made[s][j]

        return [functools.partial(chunk, s, j) for s, part in enumerate(self.parts)
                for j in range(len(part))]

    def wait(self) -> None:
        """Wait until the thread drawing ahead is done with the prepared step. If it failed, or
        the wait is interrupted, the step is abandoned (:meth:`_abandon`: no buffer with an
        undrawn block, or one a thread still writes into, is ever handed out) and the error is
        raised."""
        try:
            for f in self.pending:
                f.result()
        except BaseException:
            self._abandon()
            raise
        self.pending = []

    def _abandon(self) -> None:
        """Drop the prepared step after an error or interrupt: the blocks not yet started are
        taken from the thread drawing ahead, the block it is on is waited for (through further
        interrupts, which are raised afterwards), and the next step prepares afresh (a new key,
        new buffers nobody else writes into)."""
        import concurrent.futures

        with self.lock:
            if self.todo:
                self.todo.clear()
        interrupted: BaseException | None = None
        while True:
            try:
                concurrent.futures.wait(self.pending)
                break
            except BaseException as exc:  # noqa: BLE001 - wait on, raise it afterwards
                interrupted = interrupted or exc
        self.pending, self.buf, self.todo = [], None, None
        if interrupted is not None:
            raise interrupted

    def stop(self) -> None:
        """Stop the thread drawing ahead; the prepared step is dropped."""
        with self.lock:
            if self.todo:
                self.todo.clear()
        if self.behind is not None:
            self.behind.shutdown(wait=True, cancel_futures=True)
        self.behind = None
        self.pending, self.buf, self.todo = [], None, None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            with self.lock:
                if self.todo:
                    self.todo.clear()
            if self.behind is not None:
                self.behind.shutdown(wait=False, cancel_futures=True)
        except Exception:
            pass


def _only_ours(buf: Any) -> bool:
    """Whether nothing but ``buf`` itself holds its memory, so the next step may draw into it:
    no new allocation (and page faults) per step. Held elsewhere means any of:

    - a tensor on its storage (a ``p.grad`` view, in the optimizer or kept by the caller, or a
      NumPy or DLPack view of one): the storage's use count;
    - the storage object itself (``p.grad.untyped_storage()``, ``.storage()``), which torch
      keeps once per storage, so ``buf.untyped_storage()`` hands back that same object: its
      Python reference count, against a free storage's measured the same way;
    - shared memory (``share_memory_()``, or sent to another process through
      ``torch.multiprocessing``), which another process may map with no count here: never.

    A raw address taken with ``data_ptr()`` is not seen. Unknown (the private counter is
    missing): no."""
    import torch

    count = getattr(torch._C, "_storage_Use_Count", None)
    if buf is None or count is None:
        return False
    storage, refs = _storage_refs(buf)
    return (count(storage._cdata) <= 2  # ``buf`` and ``storage``
            and refs <= _free_storage_refs() and not storage.is_shared())


def _storage_refs(t: Any) -> tuple[Any, int]:
    """``t``'s storage object and its Python reference count, counted in one way for
    :func:`_only_ours` and for :func:`_free_storage_refs` (the count the interpreter reports for
    an object held by one local name varies between Python versions)."""
    import sys

    storage = t.untyped_storage()
    return storage, sys.getrefcount(storage)


@functools.cache
def _free_storage_refs() -> int:
    """The reference count :func:`_storage_refs` gives for a storage nothing else holds
    (measured once, on a fresh tensor)."""
    import torch

    return _storage_refs(torch.empty(2))[1]


def _lowest_priority() -> None:
    """Give the calling thread the lowest scheduling priority (Linux: nice 19 for the thread
    alone): it runs only when a core would otherwise idle."""
    import os
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # pragma: no cover - not Linux, or not permitted
        pass
