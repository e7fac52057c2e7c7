"""DP optimizers for the book-keeping path (Opacus's step protocol, leaner noise)."""

from __future__ import annotations

import contextlib
from typing import Any

from auditkit.privacy.dp._gaussian import BLOCK, fill_normal_, prepare_noise, step_key
from auditkit.privacy.dp._noise_threads import helpers_possible, single_threaded

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
        self._noised = False  # this step's sums already hold the noise
        #: draw the next step's noise ahead on a background thread while a core is spare (off
        #: when loader workers fork: then it is drawn in the step; :func:`_draw_ahead`)
        self.noise_ahead = True
        if not self.secure_mode and all(p.device.type == "cpu" for p in self.params):
            prepare_noise()  # set-up work (loading the cipher, probing threads), not a step's

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
        # the noise first (drawn ahead, or now): the clipped sums are added into it, so p.grad
        # is the noise buffer and no second tensor the size of the model is needed
        into = None if skipping else self._noise_buffers()
        self._noised = into is not None
        sums = self.book_keeper.clipped_sum(self.max_grad_norm, end_step=not skipping, into=into)
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

    def _noise_std(self) -> float:
        return getattr(self, "_adjusted_noise_multiplier", self.noise_multiplier) * self.max_grad_norm * self._sum_scale()

    def _noise_buffers(self) -> dict[Any, Any] | None:
        """This step's noise ``{param: N(0, std²) tensor shaped like it}``, views of one flat
        buffer (:class:`_NoiseAhead`: drawn during the forward and backward pass while a core is
        spare, else now, with torch's threads); ``None`` when
        the noise is added the plain way (:meth:`_add_noise_inline`): secure mode, a rank other
        than 0, σ = 0, parameters not all on the CPU in one dtype."""
        params = self.params
        std = self._noise_std()
        if (getattr(self, "rank", 0) != 0 or not std > 0 or self.secure_mode or not params
                or any(p.device.type != "cpu" for p in params)
                or len({torch_promote(p.dtype) for p in params}) != 1):
            return None
        ahead = self._ahead
        if ahead is None or ahead.std != std or ahead.source is not self.generator:
            if ahead is not None:
                ahead.stop()
            ahead = self._ahead = _NoiseAhead(params, std, self.generator, start=False)
        chunks = ahead.take(keep=self.noise_ahead and _draw_ahead())
        return {p: z.view(p.shape) for p, z in zip(params, chunks, strict=True)}

    def add_noise(self) -> None:
        std = self._noise_std()
        noisy = getattr(self, "rank", 0) == 0  # distributed: rank 0 alone adds noise
        if self._noised:
            self._noised = False
            self._hand_over(self.params)
        else:
            self._add_noise_inline(self.params, std if noisy else 0.0)

    def _hand_over(self, params: list[Any]) -> None:
        """``p.grad`` from sums that already hold the noise (:meth:`_noise_buffers`)."""
        from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

        for p in params:
            _check_processed_flag(p.summed_grad)
            p.grad = _as_grad(p.summed_grad, p)
            _mark_as_processed(p.summed_grad)

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
        # p.grad (last step's noise buffer) is released: while a core is spare, draw the next
        # step's noise into it during the forward and backward pass (:func:`_draw_ahead`)
        if self._ahead is not None and self.noise_ahead and _draw_ahead():
            self._ahead.start()


class _NoiseAhead:
    """N(0, std²) noise for all parameters, drawn into one flat buffer per step.

    The values come from :mod:`._gaussian` (AES-128-CTR bits, Box-Muller in torch), keyed once
    per step by a key drawn from ``generator`` (from a private generator seeded once from torch's
    global RNG when ``generator`` is None). A value depends on the key and its position alone,
    so the noise is the same however many threads draw it, in whatever order, ahead
    (:meth:`start`) or in the step (:meth:`take`). The drawing threads take the buffer's blocks
    (:attr:`bounds`) in turn.

    :meth:`start` takes the next step's buffer and draws it on one background thread of the
    lowest scheduling priority (:func:`_lowest_priority`; used while a core is spare,
    :func:`_draw_ahead`), kept off thread teams (:func:`single_threaded`), so it never takes CPU
    time from the training. :meth:`take` draws what is left on the calling thread, whose torch
    ops run on torch's own team, and hands the buffer out: the optimizer adds the clipped sums
    into it and it becomes ``p.grad``. (Helper threads drawing in the step beside torch's team
    were slower than the team: MLP step 1.92× plain against 1.78×, BERT-shaped 1.33× against
    1.31×, measured side by side on the 2-core benchmark machine.) A buffer handed out is drawn
    into again only once nothing else holds it (:func:`_only_ours`), so a ``p.grad`` a caller
    kept is never overwritten.
    """

    #: the Box-Muller block (:data:`._gaussian.BLOCK`), a unit of work for the drawing threads
    BLOCK = BLOCK

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
        self.total = sum(self.sizes)
        self.length = self.total + self.total % 2  # even: the last block pairs its two halves
        edges = [*range(0, self.length, BLOCK), self.length]
        self.bounds = list(zip(edges[:-1], edges[1:], strict=True))
        self.lock = threading.Lock()
        self.behind: Any = None  # the thread drawing ahead (lowest priority)
        self.todo: list[Any] | None = None  # the prepared step's units, popped from the end
        self.buf: Any = None  # the prepared step's buffer
        self.key = b""  # the prepared step's key
        self.handed: Any = None  # the buffer handed out last (reused once nothing else holds it)
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
        """The next step's buffer, and its key (drawn from :attr:`generator`)."""
        import torch

        if self.todo is not None:
            return
        free = self.handed if _only_ours(self.handed) else None
        self.handed = None
        self.buf = free if free is not None else torch.empty(self.length, dtype=self.dtype)
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

    def _work(self, buf: Any, todo: list[Any], key: bytes, alone: bool = True) -> None:
        """Draw blocks of ``todo`` until none is left. ``alone``: keep this thread's torch ops
        on it (:func:`single_threaded`: the thread drawing ahead); else they use torch's team."""
        with single_threaded() if alone else contextlib.nullcontext():
            while (item := self._next(todo)) is not None:
                lo, hi = item
                fill_normal_(buf, lo, hi, self.std, key)

    def take(self, keep: bool = True) -> list[Any]:
        """This step's noise, one flat chunk per parameter (what the thread drawing ahead has
        not reached is drawn now, on this thread); the buffer is the caller's from now on.
        ``keep``: remember it, to draw into it again once it is free (when the next step draws
        ahead); else a later step allocates its own and nothing the size of the model is held
        between steps."""
        self._prepare()
        assert self.todo is not None
        try:
            self._work(self.buf, self.todo, self.key, alone=False)
            self.wait()  # and wait for the block the thread drawing ahead is on
        except BaseException:
            self._abandon()  # interrupted: no half-drawn buffer is ever handed out
            raise
        buf, self.buf, self.todo = self.buf, None, None
        self.handed = buf if keep else None
        return list(buf[:self.total].split(self.sizes))

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
        a new buffer nobody else writes into)."""
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
    """Whether nothing but ``buf`` itself holds its memory (no ``p.grad`` view of it is alive, in
    the optimizer or kept by the caller), so the next step may draw into it: no new allocation
    (and page faults) per step. Unknown (the private counter is missing): no."""
    import torch

    count = getattr(torch._C, "_storage_Use_Count", None)
    if buf is None or count is None:
        return False
    storage = buf.untyped_storage()
    return count(storage._cdata) <= 2  # ``buf`` and the ``storage`` object just made


def _lowest_priority() -> None:
    """Give the calling thread the lowest scheduling priority (Linux: nice 19 for the thread
    alone): it runs only when a core would otherwise idle."""
    import os
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # pragma: no cover - not Linux, or not permitted
        pass


def _draw_ahead() -> bool:
    """Whether to draw the next step's noise during the forward and backward pass: while
    torch's threads leave a core free (:func:`_spare_core`) and the drawing thread can be kept
    off thread teams (:func:`helpers_possible`). When torch takes every core, the noise is drawn
    in the step, with torch's threads: measured on the 2-core
    benchmark machine, drawing ahead then (even on a lowest-priority thread) was no faster
    (GPT-2-shaped full fine-tuning 1.18x against 1.16x non-private, BERT-shaped 1.37x against
    1.38x) and kept a buffer the size of the model through the backward pass (peak memory
    1.15x against 1.01x)."""
    return _spare_core() and helpers_possible()


def _spare_core() -> bool:
    """Whether torch's intra-op threads take fewer cores than this process may use."""
    import os

    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return torch.get_num_threads() < cores


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
