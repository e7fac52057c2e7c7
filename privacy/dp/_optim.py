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
    placed before an Opacus ``DPOptimizerFastGradientClipping`` class)."""

    def __init__(self, optimizer: Any, *, book_keeper: Any, **kwargs: Any) -> None:
        super().__init__(optimizer, **kwargs)
        self.book_keeper = book_keeper
        self._ahead: _NoiseAhead | None = None
        #: draw the next step's noise on a worker thread (off when loader workers fork)
        self.noise_ahead = True

    def accumulate(self) -> None:
        sums = self.book_keeper.clipped_sum(self.max_grad_norm)
        for p in self.params:
            g = sums.get(p)
            if g is None:
                g = p.new_zeros(p.shape)
            if p.summed_grad is not None:  # the previous step was skipped
                p.summed_grad.add_(g)
            else:
                p.summed_grad = g  # a fresh tensor we own: no copy needed

    def add_noise(self) -> None:
        std = getattr(self, "_adjusted_noise_multiplier", self.noise_multiplier) * self.max_grad_norm
        noisy = getattr(self, "rank", 0) == 0  # distributed: rank 0 alone adds noise
        params = self.params
        if (
            self.noise_ahead and noisy and std > 0 and not self.secure_mode
            and all(p.device.type == "cpu" for p in params)
        ):
            self._add_noise_ahead(params, std)
        else:
            self._add_noise_inline(params, std if noisy else 0.0)

    def _add_noise_ahead(self, params: list[Any], std: float) -> None:
        """Add noise drawn one step ahead on the worker thread."""
        from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

        if self._ahead is None or self._ahead.std != std:
            self._ahead = _NoiseAhead(params, std, self.generator)
        chunks = self._ahead.take()
        for p, z in zip(params, chunks, strict=True):
            _check_processed_flag(p.summed_grad)
            g = p.summed_grad
            g.add_(z.view_as(g))
            p.grad = g if g.shape == p.shape else g.reshape(p.shape).clone()
            _mark_as_processed(p.summed_grad)

    def _add_noise_inline(self, params: list[Any], std: float) -> None:
        """Draw and add the noise now (``std`` 0: no noise, as on ranks other than 0)."""
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
            p.grad = g if g.shape == p.shape else g.reshape(p.shape).clone()
            _mark_as_processed(p.summed_grad)

    def synchronize(self) -> None:
        """Wait for noise being drawn in the background (benchmarks, clean shutdown)."""
        if self._ahead is not None:
            self._ahead.future.result()

    def close(self) -> None:
        """Stop the background noise thread."""
        if self._ahead is not None:
            self._ahead.pool.shutdown(wait=True, cancel_futures=True)
            self._ahead = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        # p.grad is rebuilt from the book at every step, so zero-filling it is wasted work.
        self.book_keeper.clear()
        super().zero_grad(True)


class _NoiseAhead:
    """Draws N(0, std²) noise for all parameters one step ahead, in a worker thread."""

    def __init__(self, params: list[Any], std: float, generator: Any) -> None:
        import concurrent.futures

        import torch

        self.std = std
        self.sizes = [p.numel() for p in params]
        self.dtype = params[0].dtype
        if generator is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())  # from the global RNG: reproducible
            generator = torch.Generator().manual_seed(seed)
        self.generator = generator
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dp-noise")
        self.future = self.pool.submit(self._draw)

    def _draw(self) -> Any:
        import torch

        buf = torch.empty(sum(self.sizes), dtype=self.dtype)
        buf.normal_(0.0, self.std, generator=self.generator)
        return buf

    def take(self) -> list[Any]:
        buf = self.future.result()
        self.future = self.pool.submit(self._draw)
        return list(buf.split(self.sizes))

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.pool.shutdown(wait=False, cancel_futures=True)
        except Exception:
            pass


def torch_empty_like(t: Any) -> Any:
    import torch

    return torch.empty_like(t)
