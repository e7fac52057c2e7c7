"""``fit``: the plain supervised loop for a :class:`PrivateTraining`, with a progress bar."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
) -> FitResult:
    """Train ``private.model`` for ``epochs`` passes of Poisson-sampled batches.

    Each batch is ``(inputs, target)``; both go to ``private.device``. The progress bar shows
    the running loss and the ε spent (updated once per epoch: computing ε costs time). If the
    budget cap is reached, training stops cleanly at that step (state saved, ledger updated) and
    the result says so instead of raising.

    Returns
    -------
    FitResult
        Epochs completed, steps, ε and δ spent, mean loss per epoch.
    """
    from auditkit.privacy.errors import PrivacyInputError

    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs <= 0:
        raise PrivacyInputError(f"The 'epochs' parameter of fit must be a positive integer; got {epochs!r}.")
    model, opt, loader, crit = private.model, private.optimizer, private.data_loader, private.criterion
    device = private.device
    budget = private.budget
    losses: list[float] = []
    stopped, message, done = False, "", 0

    bar = None
    if progress:
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
        task = bar.add_task("train", total=epochs * len(loader), loss="-", eps=f"{budget.spent():.2f}")
    try:
        model.train()
        for _epoch in range(epochs):
            total, count = 0.0, 0
            for batch in loader:
                x, y = batch[0].to(device), batch[1].to(device)
                opt.zero_grad()
                loss = crit(model(x), y)
                loss.backward()
                try:
                    opt.step()
                except BudgetExceededError as exc:
                    stopped, message = True, str(exc)
                    break
                if len(x):
                    total += float(loss.detach()) * len(x)
                    count += len(x)
                if bar is not None:
                    bar.update(task, advance=1, loss=f"{total / max(count, 1):.4f}")
            losses.append(total / max(count, 1))
            if stopped:
                break
            done += 1
            if bar is not None:
                bar.update(task, eps=f"{budget.spent():.2f}")
    finally:
        if bar is not None:
            bar.stop()
    if finish and not stopped:
        private.finish()
    return FitResult(done, budget.steps, budget.spent(), budget.delta, losses, stopped, message)
