"""The background ε worker of the TensorBoard log: coalescing, exact values, serialised calls."""

from __future__ import annotations

import threading
import time

import pytest

from auditkit.privacy.dp import _accounting
from auditkit.privacy.dp._tb_epsilon import EpsilonWorker


@pytest.fixture
def gated_accountant():
    """An accountant that blocks until released; ε = the history's step count."""
    started, release = threading.Semaphore(0), threading.Event()
    calls: list[int] = []

    def fn(history, delta):
        steps = sum(n for _, _, n in history)
        calls.append(steps)
        started.release()
        assert release.wait(timeout=60)
        return float(steps)

    _accounting.register_accountant("test-gated", fn)
    try:
        yield started, release, calls
    finally:
        release.set()
        del _accounting.ACCOUNTANTS["test-gated"]


def history(steps: int) -> list[tuple[float, float, int]]:
    return [(1.0, 0.01, steps)]


def test_steps_that_arrive_during_a_call_are_coalesced_to_the_newest(gated_accountant) -> None:
    started, release, calls = gated_accountant
    worker = EpsilonWorker(1e-5, "test-gated")
    worker.submit(1, history(1))
    assert started.acquire(timeout=60)  # the worker is inside the call for step 1
    for step in (2, 3, 4):
        worker.submit(step, history(step))
    release.set()
    assert worker.wait_idle(timeout=60)
    assert calls == [1, 4]
    assert [(s, e) for s, e, _ in worker.results()] == [(1, 1.0), (4, 4.0)]
    assert worker.results() == []
    worker.stop(wait=True)
    assert not worker.alive


def test_stop_drops_the_waiting_step_and_keeps_finished_ones(gated_accountant) -> None:
    started, release, calls = gated_accountant
    worker = EpsilonWorker(1e-5, "test-gated")
    worker.submit(1, history(1))
    assert started.acquire(timeout=60)
    worker.submit(2, history(2))
    release.set()
    done = worker.stop(wait=True)
    assert calls == [1] and [s for s, _, _ in done] == [1]
    worker.submit(3, history(3))  # after stop: ignored, nothing starts
    assert not worker.alive and worker.results() == []


@pytest.mark.parametrize("accountant", ["rdp", "prv", "pld"])
def test_values_are_the_accountants_own(accountant: str) -> None:
    worker = EpsilonWorker(1e-5, accountant)
    for steps in (1, 7, 50):
        worker.submit(steps, [(1.1, 0.02, steps)])
        assert worker.wait_idle(timeout=120)
    got = [(s, e) for s, e, _ in worker.stop(wait=True)]
    assert got == [(k, _accounting.epsilon([(1.1, 0.02, k)], 1e-5, accountant)) for k in (1, 7, 50)]


def test_a_failing_accountant_stops_the_worker_quietly() -> None:
    def broken(history, delta):
        raise ValueError("accountant failed")

    _accounting.register_accountant("test-broken", broken)
    try:
        worker = EpsilonWorker(1e-5, "test-broken")
        worker.submit(1, history(1))
        worker._thread.join(timeout=60)
        assert worker.failed and not worker.alive and worker.results() == []
        assert worker.wait_idle(timeout=1)
    finally:
        del _accounting.ACCOUNTANTS["test-broken"]


def test_accountant_calls_never_overlap() -> None:
    """The worker's calls and the training thread's are serialised (catch_warnings inside the
    accountants is not thread-safe, and their memory is not counted twice)."""
    inside, most = [0], [0]
    guard = threading.Lock()

    def probe(history, delta):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.002)
        with guard:
            inside[0] -= 1
        return 1.0

    _accounting.register_accountant("test-probe", probe)
    try:
        worker = EpsilonWorker(1e-5, "test-probe")
        for step in range(1, 60):
            worker.submit(step, history(step))
            _accounting.epsilon(history(step), 1e-5, "test-probe")
        worker.stop(wait=True)
    finally:
        del _accounting.ACCOUNTANTS["test-probe"]
    assert most[0] == 1


def test_the_worker_never_touches_the_training_threads_warnings() -> None:
    """The worker runs accountant calls back to back; the training thread's warnings are all
    shown meanwhile, and no "ignore everything" filter is left behind, even when the training
    thread's own catch_warnings blocks interleave with the calls."""
    import warnings

    shown: list[str] = []
    history_ = [(1.0, 0.01, 500)]
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        worker = EpsilonWorker(1e-5, "prv")
        sent = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            sent += 1
            worker.submit(sent, history_)
            warnings.warn(f"training-thread warning {sent}", UserWarning, stacklevel=1)
            with warnings.catch_warnings():
                time.sleep(0.003)
        worker.stop(wait=True)
        assert not worker.failed
        ours = [m for m in shown if m.startswith("training-thread warning")]
        assert len(ours) == sent
        assert not any(f[0] == "ignore" and f[1] is None and f[2] is Warning for f in warnings.filters)
        shown.clear()
        warnings.warn("after the worker stopped", UserWarning, stacklevel=1)
        assert shown == ["after the worker stopped"]

