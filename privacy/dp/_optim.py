"""DP optimizers for the book-keeping path (Opacus's step protocol, leaner noise)."""

from __future__ import annotations

from typing import Any

__all__ = ["BookKeepingSteps", "bookkeeping_optimizer_class"]


def bookkeeping_optimizer_class(distributed: bool) -> type:
    """An Opacus fast-gradient-clipping optimizer whose clipped sum comes from a
    :class:`~auditkit.privacy.dp._clipping.BookKeeper` instead of a second backward pass.

    It follows Opacus's step protocol (accumulate, skip-step signalling, noise
    ``N(0, σ²C²)`` per coordinate, division by the expected batch size, the accountant's step
    hook, then the wrapped optimizer's step) but adds the noise in place into the fresh clipped
    sum instead of allocating zeros, a noise tensor and a sum per parameter. In secure mode the
    noise comes from Opacus's own ``_generate_noise``. The steps are :class:`BookKeepingSteps`,
    put in front of Opacus's (distributed) optimizer.
    """
    from opacus.optimizers import (
        DistributedDPOptimizerFastGradientClipping,
        DPOptimizerFastGradientClipping,
    )

    base = DistributedDPOptimizerFastGradientClipping if distributed else DPOptimizerFastGradientClipping

    class BookKeepingDPOptimizer(BookKeepingSteps, base):  # type: ignore[misc, valid-type]
        pass

    return BookKeepingDPOptimizer


class BookKeepingSteps:
    """The steps the book-keeping optimizer replaces in Opacus's DP optimizer (a mixin: it is
    placed before an Opacus ``DPOptimizerFastGradientClipping`` class).

    Gradient accumulation: the book-keeper absorbs each micro-batch (clip, sum in float32) when
    the next forward pass starts; :meth:`accumulate` takes the logical step's running sum, so
    noise is added and the accountant's step hook runs once per ``step()``. Opacus's skip
    signalling (``signal_skip_step``, as its ``BatchMemoryManager`` uses) keeps working: a skipped
    step adds its sum to ``p.summed_grad`` and the logical step goes on.

    ``torch.amp.GradScaler`` is refused (see :meth:`step`): use bf16 autocast, or fp16 autocast
    without a scaler (norms and clipped sums are computed in float32 from the half records).
    """

    #: GradScaler calls our step() directly (no unscale_ of p.grad, which does not exist here),
    #: so that step() can refuse it with a clear message instead of a bare assertion.
    _step_supports_amp_scaling = True

    def __init__(self, optimizer: Any, *, book_keeper: Any, **kwargs: Any) -> None:
        super().__init__(optimizer, **kwargs)
        self.book_keeper = book_keeper
        if getattr(book_keeper, "max_grad_norm", None) is None:
            book_keeper.max_grad_norm = self.max_grad_norm
        book_keeper.sum_scale = self._sum_scale()  # micro-batches absorbed early are scaled alike
        self._ahead: _NoiseAhead | None = None
        #: draw the next step's noise on a worker thread (off when loader workers fork; used
        #: only while torch's threads leave a core free, :func:`_spare_core`)
        self.noise_ahead = True

    def step(self, closure: Any = None, **kwargs: Any) -> Any:
        if getattr(self, "grad_scale", None) is not None or "grad_scaler" in kwargs:
            from auditkit.privacy.errors import PrivacyInputError

            raise PrivacyInputError(
                "torch.amp.GradScaler is not supported with book-keeping clipping: the loss scale "
                "would enter the per-sample norms. Train with bf16 autocast "
                "(torch.autocast(device_type, dtype=torch.bfloat16)), or with fp16 autocast and "
                "no GradScaler (norms and clipped sums are computed in float32), or use "
                "mode='hooks'."
            )
        return super().step(closure)

    def accumulate(self) -> None:
        # a step Opacus will skip keeps the logical step open (its norms stay for last_norms)
        skipping = bool(self._step_skip_queue) and bool(self._step_skip_queue[0])
        self.book_keeper.sum_scale = self._sum_scale()
        sums = self.book_keeper.clipped_sum(self.max_grad_norm, end_step=not skipping)
        for p in self.params:
            g = sums.get(p)
            if g is None:
                g = p.new_zeros(p.shape, dtype=torch_promote(p.dtype))
            if p.summed_grad is not None:  # the previous step was skipped
                p.summed_grad.add_(g)
            else:
                p.summed_grad = g  # a fresh tensor we own: no copy needed

    def _sum_scale(self) -> float:
        """Opacus's ``scale_grad`` division (by the expected batch size for a mean loss), folded
        into the clip factors and the noise: one pass over the parameters fewer."""
        return 1.0 / self.expected_batch_size if self.loss_reduction == "mean" else 1.0

    def scale_grad(self) -> None:
        """Nothing to do: the clipped sums and the noise are already scaled (:meth:`_sum_scale`)."""

    def add_noise(self) -> None:
        scale = self._sum_scale()
        std = getattr(self, "_adjusted_noise_multiplier", self.noise_multiplier) * self.max_grad_norm * scale
        noisy = getattr(self, "rank", 0) == 0  # distributed: rank 0 alone adds noise
        params = self.params
        if noisy and std > 0 and not self.secure_mode and _chunkable([p.summed_grad for p in params]):
            self._add_noise_chunked(params, std)
        else:
            self._add_noise_inline(params, std if noisy else 0.0)

    def _add_noise_chunked(self, params: list[Any], std: float) -> None:
        """Add noise drawn in chunks (:class:`_NoiseAhead`): one step ahead on a worker thread
        while torch's threads leave a core free (:func:`_spare_core`), else in the step, on as
        many threads as torch uses (its threads idle meanwhile); one thread when threads are
        off (:attr:`noise_ahead` false: loader workers fork)."""
        import torch
        from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

        ahead = self._ahead
        if ahead is None or ahead.std != std or ahead.source is not self.generator:
            if ahead is not None:
                ahead.stop()
            ahead = self._ahead = _NoiseAhead(params, std, self.generator, start=False)
        threads = self.noise_ahead
        spare = threads and _spare_core()
        sums = [p.summed_grad for p in params]
        for g in sums:
            _check_processed_flag(g)
        if spare or ahead.pending:  # drawn ahead into the flat buffer: add it
            chunks = ahead.take(workers=1)
            torch._foreach_add_(sums, [z.view_as(g) for z, g in zip(chunks, sums, strict=True)])
            ahead.release()  # the buffer is free again: the next step draws into it
        else:  # drawn now, chunk by chunk straight into the sums: no buffer the size of the model
            ahead.add_into(sums, workers=torch.get_num_threads() if threads else 1)
        if spare:
            ahead.start()
        for p, g in zip(params, sums, strict=True):
            p.grad = _as_grad(g, p)
            _mark_as_processed(g)

    def _add_noise_inline(self, params: list[Any], std: float) -> None:
        """Draw and add the noise now, parameter by parameter (``std`` 0: no noise, as on ranks
        other than 0): secure mode (Opacus's generator path), non-CPU or mixed-dtype sums."""
        from opacus.optimizers.optimizer import (
            _check_processed_flag,
            _generate_noise,
            _mark_as_processed,
        )

        for p in params:
            _check_processed_flag(p.summed_grad)
            g = p.summed_grad
            if std > 0:
                if self.secure_mode:
                    g = g + _generate_noise(std=std, reference=g, generator=self.generator,
                                            secure_mode=True)
                else:
                    g.add_(torch_empty_like(g).normal_(0.0, std, generator=self.generator))
            p.grad = _as_grad(g, p)
            _mark_as_processed(p.summed_grad)

    def synchronize(self) -> None:
        """Wait for noise being drawn in the background (benchmarks, clean shutdown)."""
        if self._ahead is not None:
            self._ahead.wait()

    def close(self) -> None:
        """Stop the noise threads."""
        if self._ahead is not None:
            self._ahead.stop()
            self._ahead = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        # p.grad is rebuilt from the book at every step, so zero-filling it is wasted work.
        # After a skipped step the logical step goes on (its sums are in p.summed_grad, its norms
        # stay in the book); otherwise zero_grad drops what was accumulated, as torch does.
        if self._is_last_step_skipped:
            self.book_keeper.clear()
        else:
            self.book_keeper.reset()
        super().zero_grad(True)


class _NoiseAhead:
    """N(0, std²) noise for all parameters, drawn in chunks into one flat buffer.

    The buffer is split in chunks of :attr:`CHUNK` values; chunk ``k`` of a step is drawn by its
    own generator, seeded by the ``k``-th of that step's seeds (drawn from ``generator``; from a
    private generator seeded once from torch's global RNG when ``generator`` is None). So the
    noise depends on the seed alone, not on which thread draws which chunk, how many threads
    draw, or whether it is drawn ahead (:meth:`start`) or in the step (:meth:`take`).

    :meth:`start` draws the next step's noise on a worker thread; :meth:`take` draws what is
    left, on the calling thread and ``workers - 1`` pool threads (torch's ``normal_`` releases
    the GIL), and hands the buffer out; :meth:`release` gives it back for the next step, so a
    training loop reuses one buffer (a buffer not given back is left to the caller).
    """

    CHUNK = 1 << 16

    def __init__(self, params: list[Any], std: float, generator: Any, *, start: bool = True) -> None:
        import threading

        import torch

        self.std = std
        self.source = generator  # the optimizer's generator (None: torch's global RNG)
        self.sizes = [p.numel() for p in params]
        self.dtype = torch_promote(params[0].dtype)  # the sums are float32 (or float64)
        if generator is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())  # from the global RNG: reproducible
            generator = torch.Generator().manual_seed(seed)
        self.generator = generator
        total = sum(self.sizes)
        edges = [*range(0, total, self.CHUNK), total]
        self.bounds = list(zip(edges[:-1], edges[1:], strict=True))
        self.lock = threading.Lock()
        self.pool: Any = None
        self.todo: list[Any] | None = None  # the prepared step's chunks, popped from the end
        self.buf: Any = None  # the prepared step's buffer
        self.spare: Any = None  # a released buffer
        self.taken: Any = None  # the buffer handed out last
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

    def _prepare(self) -> None:
        """The next step's seeds (one per chunk) and a buffer to draw them into."""
        import torch

        if self.todo is not None:
            return
        self.buf = self.spare if self.spare is not None else torch.empty(sum(self.sizes), dtype=self.dtype)
        self.spare = None
        self._plan()

    def _plan(self) -> None:
        """The next step's chunks, each with its seed (drawn from :attr:`generator`)."""
        import torch

        seeds = torch.randint(0, 2**62, (len(self.bounds),), generator=self.generator).tolist()
        self.todo = list(zip(self.bounds, seeds, strict=True))[::-1]

    def _submit(self, tasks: int, work: Any = None) -> None:
        """Run ``tasks`` drawing tasks on the pool (default: draw into the flat buffer)."""
        import concurrent.futures
        import os

        if self.pool is None:
            workers = max(1, (os.cpu_count() or 1) - 1)
            self.pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="dp-noise")
        if work is None:
            buf, todo = self.buf, self.todo
            work = lambda: self._work(buf, todo)  # noqa: E731
        self.pending += [self.pool.submit(work) for _ in range(tasks)]

    def start(self) -> None:
        """Prepare the next step and draw it on a worker thread."""
        self._prepare()
        if not self.pending and self.todo:
            self._submit(1)

    def _next(self, todo: list[Any]) -> Any:
        with self.lock:
            return todo.pop() if todo else None

    def _work(self, buf: Any, todo: list[Any]) -> None:
        import torch

        gen = torch.Generator()
        while (item := self._next(todo)) is not None:
            (lo, hi), seed = item
            buf[lo:hi].normal_(0.0, self.std, generator=gen.manual_seed(seed))

    def take(self, workers: int = 1) -> list[Any]:
        """This step's noise, one flat chunk per parameter, drawn on ``workers`` threads."""
        self._prepare()
        assert self.todo is not None
        helpers = min(workers - 1 - len(self.pending), len(self.todo) - 1)
        if helpers > 0:
            self._submit(helpers)
        self._work(self.buf, self.todo)  # draw what the workers have not reached
        self.wait()  # and wait for the chunks they are drawing
        buf, self.taken, self.buf, self.todo = self.buf, self.buf, None, None
        return list(buf.split(self.sizes))

    def add_into(self, sums: list[Any], workers: int = 1) -> None:
        """Draw this step's noise and add it into ``sums`` (contiguous, in parameter order),
        chunk by chunk through a scratch chunk per thread: the same chunks and seeds as
        :meth:`take`, so the same noise, without a buffer the size of all parameters."""
        import bisect

        import torch

        if self.todo is None:
            self._plan()
        flats = [g.view(-1) for g in sums]
        starts = [0]
        for n in self.sizes:
            starts.append(starts[-1] + n)
        todo = self.todo

        def work() -> None:
            gen, scratch = torch.Generator(), torch.empty(self.CHUNK, dtype=self.dtype)
            while (item := self._next(todo)) is not None:
                (lo, hi), seed = item
                z = scratch[: hi - lo].normal_(0.0, self.std, generator=gen.manual_seed(seed))
                i = bisect.bisect_right(starts, lo) - 1
                while lo < hi:  # the chunk's pieces, parameter by parameter
                    end = min(hi, starts[i + 1])
                    flats[i][lo - starts[i]: end - starts[i]].add_(z[: end - lo])
                    z, lo, i = z[end - lo:], end, i + 1

        helpers = min(workers - 1, len(todo) - 1)
        if helpers > 0:
            self._submit(helpers, work)
        work()
        self.wait()
        self.todo, self.buf = None, None

    def release(self) -> None:
        """The buffer handed out by :meth:`take` is free: the next step draws into it."""
        self.spare, self.taken = self.taken, None

    def wait(self) -> None:
        """Wait until the drawing tasks are done."""
        pending, self.pending = self.pending, []
        for f in pending:
            f.result()

    def stop(self) -> None:
        with self.lock:
            if self.todo:
                self.todo.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self.pending = []

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            with self.lock:
                if self.todo:
                    self.todo.clear()
            if self.pool is not None:
                self.pool.shutdown(wait=False, cancel_futures=True)
        except Exception:
            pass


def _spare_core() -> bool:
    """Whether a CPU core is left to the noise thread: torch's intra-op threads take fewer
    cores than this process may use. When they take all of them, the thread only competes with
    their parallel kernels (whose OpenMP workers spin between kernels, so no core is ever idle):
    measured on the 2-core benchmark machine, drawing the noise in the step is faster then."""
    import os

    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return torch.get_num_threads() < cores


def _chunkable(sums: list[Any]) -> bool:
    """Whether the sums take noise from one flat CPU buffer: CPU, one dtype, contiguous."""
    return bool(sums) and all(
        g is not None and g.device.type == "cpu" and g.dtype == sums[0].dtype and g.is_contiguous()
        for g in sums
    )


def _as_grad(g: Any, p: Any) -> Any:
    """``p.grad`` from the float32 sum ``g``: the same tensor when dtype and shape match."""
    if g.dtype != p.dtype:
        return g.to(p.dtype).reshape(p.shape)
    return g if g.shape == p.shape else g.reshape(p.shape).clone()


def torch_promote(dtype: Any) -> Any:
    """The dtype clipped sums are kept in: float32, or float64 for float64 parameters."""
    import torch

    return torch.promote_types(dtype, torch.float32)


def torch_empty_like(t: Any) -> Any:
    import torch

    return torch.empty_like(t)
