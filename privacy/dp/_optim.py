"""DP optimizers for the book-keeping path (Opacus's step protocol, leaner noise)."""

from __future__ import annotations

import functools
from typing import Any

from auditkit.privacy.dp._gaussian import prepare_noise
from auditkit.privacy.dp._noise_ahead import _NoiseAhead
from auditkit.privacy.dp._noise_threads import helpers_possible

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
        """This step's noise ``{param: N(0, std²) tensor shaped like it}`` from
        :class:`_NoiseAhead`: drawn during the forward and backward pass while a core is spare;
        else a function per parameter, drawing its segment with torch's threads when the
        book-keeper first sums into it (:meth:`_NoiseAhead.late`). ``None`` when the noise is
        added the plain way (:meth:`_add_noise_inline`): secure mode, a rank other
        than 0, σ = 0, parameters not all on the CPU in one dtype."""
        params = self.params
        std = self._noise_std()
        if (getattr(self, "rank", 0) != 0 or not std > 0 or self.secure_mode or not params
                or any(p.device.type != "cpu" for p in params)
                or len({torch_promote(p.dtype) for p in params}) != 1):
            return None
        ahead = self._ahead
        if (ahead is None or ahead.std != std or ahead.source is not self.generator
                or ahead.sizes != [p.numel() for p in params]  # e.g. add_param_group
                or ahead.dtype != torch_promote(params[0].dtype)):
            if ahead is not None:
                ahead.stop()
            ahead = self._ahead = _NoiseAhead(params, std, self.generator, start=False)
        if self.noise_ahead and _draw_ahead():
            chunks = ahead.take(keep=True)
            return {p: z.view(p.shape) for p, z in zip(params, chunks, strict=True)}
        # drawn in the step: each segment as the clipped sums reach it (the book-keeper calls)
        return {p: functools.partial(_shaped, draw, p.shape)
                for p, draw in zip(params, ahead.late(), strict=True)}

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
        if self._is_last_step_skipped and not self.book_keeper.failed:
            self.book_keeper.clear()
        else:
            self.book_keeper.reset()
        super().zero_grad(True)
        # p.grad (last step's noise buffer) is released: while a core is spare, draw the next
        # step's noise into it during the forward and backward pass (:func:`_draw_ahead`)
        if self._ahead is not None and self.noise_ahead and _draw_ahead():
            self._ahead.start()


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


def _shaped(draw: Any, shape: Any) -> Any:
    return draw().view(shape)


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
