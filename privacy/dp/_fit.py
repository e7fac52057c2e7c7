"""``fit``: the plain supervised loop for a :class:`PrivateTraining`, with a progress bar."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from auditkit.privacy.dp._modes import train_mode
from auditkit.privacy.errors import BudgetExceededError

__all__ = ["FitResult", "fit"]


@dataclass
class FitResult:
    """What :func:`fit` did."""

    epochs: int
    steps: int
    epsilon: float
    delta: float
    losses: list[float] = field(default_factory=list)
    stopped_at_cap: bool = False
    message: str = ""


def fit(
    private: Any,
    epochs: int,
    *,
    progress: bool = True,
    finish: bool = True,
    tensorboard: str | os.PathLike[str] | None = None,
) -> FitResult:
    """Train ``private.model`` for ``epochs`` passes of Poisson-sampled batches.

    Each batch is ``(inputs, target)``; both go to ``private.device``. The progress bar shows
    the running loss and the ε spent (updated once per epoch: computing ε costs time). If the
    budget cap is reached, training stops cleanly at that step (state saved, ledger updated) and
    the result says so instead of raising.

    Parameters
    ----------
    private:
        What :func:`make_private` returned.
    epochs:
        Passes over the data.
    progress:
        Show a progress bar.
    finish:
        Close the run's ledger record at the end (unless stopped at the cap).
    tensorboard:
        A log directory: write TensorBoard scalars there (needs ``tensorboard``:
        ``pip install auditkit-rai[monitor]``) — per step the loss, σ, the fraction of samples
        clipped, per-sample gradient norm quantiles and ε (computed on a background thread;
        exact at each epoch's end and the last step; :mod:`auditkit.privacy.dp._tensorboard`).
        Not differentially private: the log is as sensitive as the data. Default: no log.

    Returns
    -------
    FitResult
        Epochs completed, steps, ε and δ spent, mean loss per epoch.
    """
    from auditkit.privacy.errors import PrivacyInputError

    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs <= 0:
        raise PrivacyInputError(f"The 'epochs' parameter of fit must be a positive integer; got {epochs!r}.")
    budget = private.budget
    losses: list[float] = []
    stopped, message, done = False, "", 0
    bar = task = log = None
    try:
        if tensorboard is not None:
            from auditkit.privacy.dp._tensorboard import open_fit_log

            log = open_fit_log(tensorboard, private)
        if progress:
            bar, task = _start_bar(epochs * len(private.data_loader), budget)
        train_mode(private.model)
        for _epoch in range(epochs):
            mean_loss, cap_message = _train_epoch(private, log, bar, task)
            losses.append(mean_loss)
            if cap_message is not None:
                stopped, message = True, cap_message
                break
            done += 1
            if bar is not None:
                bar.update(task, eps=f"{budget.spent():.2f}")
        if log is not None:
            log.end()
    finally:
        if bar is not None:
            bar.stop()
        if log is not None:
            log.close()
    if finish and not stopped:
        private.finish()
    return FitResult(done, budget.steps, budget.spent(), budget.delta, losses, stopped, message)


def _train_epoch(private: Any, log: Any, bar: Any, task: Any) -> tuple[float, str | None]:
    """One pass over the Poisson-sampled loader: the mean loss, and the message of the budget
    cap if it stopped the pass (``None`` otherwise)."""
    model, opt, crit, device = private.model, private.optimizer, private.criterion, private.device
    total, count = 0.0, 0
    for batch in private.data_loader:
        x, y = batch[0].to(device), batch[1].to(device)
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        try:
            opt.step()
        except BudgetExceededError as exc:
            return total / max(count, 1), str(exc)
        value = float(loss.detach()) if len(x) else None
        if value is not None:
            total += value * len(x)
            count += len(x)
        if log is not None:
            log.step(value, len(x))
        if bar is not None:
            bar.update(task, advance=1, loss=f"{total / max(count, 1):.4f}")
    return total / max(count, 1), None


def _start_bar(total: int, budget: Any) -> tuple[Any, Any]:
    """A started ``rich`` progress bar over ``total`` steps, and its task."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn("[bold]DP training"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  ε {task.fields[eps]}"), TimeElapsedColumn(),
        transient=False,
    )
    bar.start()
    task = bar.add_task("train", total=total, loss="-", eps=f"{budget.spent():.2f}")
    return bar, task
