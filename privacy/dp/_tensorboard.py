"""TensorBoard scalars of :func:`~auditkit.privacy.dp.fit`: ``fit(private, epochs, tensorboard="runs/x")``.

:func:`open_fit_log` opens a :class:`FitLog` on the toolkit's one TensorBoard writer
(:class:`auditkit.tensorboard_log.ScalarLog`); ``fit`` calls :meth:`FitLog.step` once per
optimizer step, :meth:`FitLog.end` when training ends, and :meth:`FitLog.close` always.

What is logged, at the accountant's step count (``private.budget.steps``: 1 after the first
step, continuing a resumed run's count):

- ``dp/loss``: the batch's loss as the criterion returned it (an empty Poisson batch has none);
- ``dp/noise_multiplier``: σ, every step;
- ``dp/clipped_fraction``: the share of the batch's samples whose gradient was clipped (clip
  factor ``min(1, C / (‖g_i‖ + 1e-6)) < 1``, the engine's own expression);
- ``dp/grad_norm/p10``, ``p50``, ``p90``, ``max``: quantiles of the per-sample gradient norms
  before clipping (linear interpolation, as ``numpy.quantile``);
- ``dp/epsilon``: ε spent so far at the run's δ, by the run's accountant, **at every step**.
  An accountant call takes under a millisecond (RDP, cached) to hundreds of milliseconds (PRV,
  PLD), more than a small model's step, so it runs on a background thread
  (:class:`~auditkit.privacy.dp._tb_epsilon.EpsilonWorker`) and training never waits for it.
  When steps come faster than the calls, the worker takes the newest step each time it is free,
  and the steps in between have no ε point (TensorBoard draws the line through them). Exact in
  any case, computed in the training thread: the value **at the end of every epoch** (the
  progress bar asks for it then, and the budget caches it) **and at the last step of fit**
  (also when training stops at the budget cap). Values are written in step order.

The norms come from the clipping path that already has them: book-keeping mode (the norms its
clipped sum is built from, over every micro-batch of the logical step when gradients are
accumulated), Opacus ghost clipping (the norms of its first backward pass), and
Opacus ``hooks``/``functorch`` (computed from the per-sample gradients as Opacus does, one extra
pass over them). A mode registered later that is none of these logs no norms.

Privacy: the loss and the norms are statistics of the raw batch, **not** differentially
private; the log is as sensitive as the training data (the directory is created ``0o700``, the
file ``0o600``). In multi-process training only rank 0 writes.
"""

from __future__ import annotations

import os
from typing import Any

from auditkit.privacy.errors import PrivacyInputError

__all__ = ["QUANTILES", "FitLog", "norm_scalars", "open_fit_log"]

#: The per-sample gradient norm quantiles logged each step, as (tag suffix, level).
QUANTILES = (("p10", 0.10), ("p50", 0.50), ("p90", 0.90), ("max", 1.0))


def open_fit_log(logdir: Any, private: Any) -> FitLog | None:
    """A :class:`FitLog` for ``private`` writing to ``logdir``; ``None`` on ranks other than 0."""
    if not isinstance(logdir, (str, os.PathLike)) or not os.fspath(logdir):
        got = "an empty string" if isinstance(logdir, str) else type(logdir).__name__
        raise PrivacyInputError(
            f"The 'tensorboard' parameter of fit must be a log directory path; got {got}. "
            "E.g. tensorboard='runs/dp', or leave it out."
        )
    from auditkit.privacy.dp._distributed import rank

    if rank() != 0:
        return None
    from auditkit.tensorboard_log import ScalarLog

    return FitLog(ScalarLog(logdir), private)


def norm_scalars(norms: Any, max_grad_norm: float) -> dict[str, float]:
    """``dp/clipped_fraction`` and the ``dp/grad_norm/*`` quantiles of a batch's per-sample
    gradient ``norms`` (a 1-d tensor; empty: nothing)."""
    import torch

    n = norms.detach().reshape(-1)
    if n.numel() == 0:
        return {}
    factor = (max_grad_norm / (n + 1e-6)).clamp(max=1.0)  # as the engine and Opacus clip
    levels = torch.tensor([q for _, q in QUANTILES], dtype=torch.float64, device=n.device)
    quantiles = torch.quantile(n.to(torch.float64), levels).tolist()
    out = {"dp/clipped_fraction": float((factor < 1.0).to(torch.float64).mean())}
    out.update({f"dp/grad_norm/{name}": v for (name, _), v in zip(QUANTILES, quantiles, strict=True)})
    return out


class FitLog:
    """Per-step TensorBoard scalars of one :func:`fit` call (see the module docstring)."""

    def __init__(self, log: Any, private: Any) -> None:
        from auditkit.privacy.dp._tb_epsilon import EpsilonWorker

        self.log = log
        self.budget = private.budget
        self._epsilon_step: int | None = None
        self._tap = _attach_tap(private)
        self._worker: EpsilonWorker | None = EpsilonWorker(self.budget.delta, self.budget.accountant)

    def step(self, loss: float | None, batch_size: int) -> None:
        """Log the step just taken: ``loss`` of its batch of ``batch_size`` samples."""
        budget = self.budget
        step = budget.steps
        values: dict[str, float] = {"dp/noise_multiplier": budget.noise_multiplier}
        if batch_size and loss is not None:
            values["dp/loss"] = loss
        norms = self._tap.take() if self._tap is not None else None
        if norms is not None:
            values.update(norm_scalars(norms, budget.max_grad_norm))
        self._background(wait=False)  # values of earlier steps first: ε stays in step order
        if step % budget.steps_per_epoch == 0:
            values["dp/epsilon"] = budget.spent()
            self._epsilon_step = step
        elif self._worker is not None:
            self._worker.submit(step, budget.history)
        self.log.scalars(values, step)

    def end(self) -> None:
        """Log what the worker finished, ε at the last step (unless already logged), and flush."""
        self._background(wait=True)
        step = self.budget.steps
        if self._epsilon_step != step:
            self.log.scalar("dp/epsilon", self.budget.spent(), step)
            self._epsilon_step = step
        self.log.flush()

    def close(self) -> None:
        """Stop the worker, detach from the clipping path and close the event file (idempotent)."""
        if self._worker is not None:
            self._worker.stop(wait=False)
            self._worker = None
        if self._tap is not None:
            self._tap.detach()
            self._tap = None
        self.log.close()

    def _background(self, wait: bool) -> None:
        """Write the worker's finished ε values (all of them and the worker stopped, if
        ``wait``), each at its own step and wall time, skipping any at or before a step ε was
        already logged at (TensorBoard drops a tag's points from a step that goes back)."""
        worker = self._worker
        if worker is None:
            return
        done = worker.stop(wait=True) if wait else worker.results()
        if wait:
            self._worker = None
        for step, eps, when in done:
            if self._epsilon_step is None or step > self._epsilon_step:
                self.log.scalar("dp/epsilon", eps, step, wall_time=when)
                self._epsilon_step = step


# -- where the per-sample norms come from ------------------------------------------------------
class _Tap:
    """Keeps the last per-sample norms a clipping path computed (an instance attribute wraps
    one of its methods; :meth:`detach` removes it)."""

    def __init__(self, owner: Any, method: str) -> None:
        self.owner, self.method = owner, method
        self.last: Any = None
        original = getattr(owner, method)

        def tapped(*args: Any, **kwargs: Any) -> Any:
            self.before()
            out = original(*args, **kwargs)
            self.after(out)
            return out

        setattr(owner, method, tapped)

    def before(self) -> None:
        pass

    def after(self, out: Any) -> None:
        pass

    def take(self) -> Any:
        norms, self.last = self.last, None
        return norms

    def detach(self) -> None:
        self.owner.__dict__.pop(self.method, None)


class _ReturnedNorms(_Tap):
    """The norms a method returns: Opacus ghost clipping's ``get_norm_sample`` (what its clipping
    coefficients are built from)."""

    def after(self, out: Any) -> None:
        self.last = out


class _StepNorms(_Tap):
    """Book-keeping: ``BookKeeper.last_norms`` when its ``end_step`` closes a logical step (the
    norms its clipped sums were built from, concatenated over the step's micro-batches)."""

    def after(self, out: Any) -> None:
        self.last = self.owner.last_norms


class _PerSampleTap(_Tap):
    """Opacus hooks/functorch: norms of the per-sample gradients, computed as Opacus does just
    before it clips them."""

    def before(self) -> None:
        import torch

        samples = self.owner.grad_samples
        if not samples or len(samples[0]) == 0:
            self.last = None
            return
        per_param = [g.reshape(len(g), -1).norm(2, dim=-1) for g in samples]
        device = per_param[0].device
        self.last = torch.stack([n.to(device) for n in per_param], dim=1).norm(2, dim=1)


def _attach_tap(private: Any) -> _Tap | None:
    """The tap for ``private``'s clipping path, or ``None`` when it keeps no norms we know."""
    if private._keeper is not None:
        return _StepNorms(private._keeper, "end_step")
    from opacus.grad_sample import GradSampleModuleFastGradientClipping
    from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping

    if isinstance(private.model, GradSampleModuleFastGradientClipping):
        return _ReturnedNorms(private.model, "get_norm_sample")
    opt = private.optimizer
    if isinstance(opt, DPOptimizer) and not isinstance(opt, DPOptimizerFastGradientClipping):
        return _PerSampleTap(opt, "clip_and_accumulate")
    return None
