"""ε at every step for the TensorBoard log, computed off the training thread.

An accountant call costs 0.2 ms (RDP) to hundreds of milliseconds (PRV, PLD): more than a small
model's step. :class:`EpsilonWorker` runs the calls on one daemon thread so that training never
waits for them:

- the training thread :meth:`~EpsilonWorker.submit`\\ s each step's history (a copy of the
  budget's run-length history, immutable tuples) and never blocks;
- the worker computes ε of the newest submitted step. When a step comes before the previous
  call has finished, the older waiting step is replaced (steps are coalesced, never queued:
  the worker can never fall behind by more than one call). With a call shorter than a step,
  every step gets its ε;
- the training thread collects finished values with :meth:`~EpsilonWorker.results` and writes
  them itself (:class:`~auditkit.tensorboard_log.ScalarLog` is one writer per thread).

Every value is the run's own accountant at the run's δ, through
:func:`~auditkit.privacy.dp._accounting.epsilon_used` (its memory guard included, without its
warning). The worker never calls ``warnings.catch_warnings`` (it swaps the filter list of every
thread, so it would drop the training thread's warnings or leave them all ignored); the
accountant libraries' own parameter warnings are ignored by narrow process filters instead
(:func:`~auditkit.privacy.dp._accountants.ignore_library_warnings`). Accountant calls are serialised by
:data:`~auditkit.privacy.dp._accounting.ACCOUNTANT_LOCK`, so the training thread's own calls
(the budget at each epoch's end) never overlap the worker's. A call that fails stops the worker
quietly: the training thread's next call of the same accountant reports the error itself.
"""

from __future__ import annotations

import threading
import time

__all__ = ["EpsilonWorker"]


class EpsilonWorker:
    """A daemon thread computing ε of the newest submitted step (see the module docstring)."""

    def __init__(self, delta: float, accountant: str) -> None:
        self.delta, self.accountant = delta, accountant
        self._cond = threading.Condition()
        self._pending: tuple[int, list[tuple[float, float, int]], float] | None = None
        self._done: list[tuple[int, float, float]] = []
        self._busy = False
        self._stop = False
        self.failed = False
        from auditkit.privacy.dp._accountants import ignore_library_warnings

        ignore_library_warnings()  # the worker never touches the filters itself
        self._thread = threading.Thread(target=self._run, name="auditkit-dp-epsilon", daemon=True)
        self._thread.start()

    def submit(self, step: int, history: list[tuple[float, float, int]]) -> None:
        """Ask for ε after ``step`` (``history`` is the run's history then); replaces a step
        still waiting."""
        with self._cond:
            if self._stop:
                return
            self._pending = (step, history, time.time())
            self._cond.notify()

    def results(self) -> list[tuple[int, float, float]]:
        """``(step, ε, wall time of the step)`` computed since the last call, in step order."""
        with self._cond:
            out, self._done = self._done, []
        return out

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is waiting or being computed; ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: (self._pending is None and not self._busy) or self._stop, timeout)

    def stop(self, wait: bool) -> list[tuple[int, float, float]]:
        """Drop the waiting step and end the thread (after the call in progress, if ``wait``);
        the results not yet collected."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify_all()
        if wait:
            self._thread.join()
        return self.results()

    def _run(self) -> None:
        from auditkit.privacy.dp._accountants import quiet_thread
        from auditkit.privacy.dp._accounting import epsilon_used

        quiet_thread()  # no warnings.catch_warnings here: it would change every thread's filters
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._stop or self._pending is None:
                    return
                step, history, when = self._pending
                self._pending, self._busy = None, True
            try:
                eps = epsilon_used(history, self.delta, self.accountant)[0]
            except Exception:  # noqa: BLE001 - the training thread's own call reports it
                with self._cond:
                    self.failed, self._busy, self._stop = True, False, True
                    self._cond.notify_all()
                return
            with self._cond:
                self._done.append((step, eps, when))
                self._busy = False
                self._cond.notify_all()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
