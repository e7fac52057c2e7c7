"""Two CPU processes (gloo, Opacus DPDDP): the accounting matches single-process accounting."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from auditkit.privacy.dp import BudgetLedger, epsilon, fit, make_private

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_workers(tmp_path, *case):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).with_name("_ddp_worker.py")
    procs = [
        subprocess.Popen([sys.executable, str(worker), str(r), "2", str(port), str(tmp_path), *case],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in range(2)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outs)


def test_two_process_gloo_matches_single_process(tmp_path):
    _run_workers(tmp_path)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))

    # single-process run on the same data and batch size
    g = torch.Generator().manual_seed(0)
    X = torch.randn(400, 10, generator=g)
    y = (X[:, 0] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.5),
                     DataLoader(TensorDataset(X, y), batch_size=40), target_epsilon=2.0,
                     epochs=2, accountant="rdp")
    fit(p, 2, progress=False)

    for r in (r0, r1):
        assert r["mode"] == "bookkeeping"
        assert r["q"] == pytest.approx(p.budget.sample_rate)
        assert r["sigma"] == pytest.approx(p.budget.noise_multiplier)
        assert r["steps"] == p.budget.steps == 20
        assert [tuple(h) for h in r["history"]] == [tuple(h) for h in p.budget.history]
        assert r["epsilon"] == pytest.approx(p.budget.spent(), rel=1e-12)
    # replicas stay identical (broadcast at wrap, all-reduced noised gradients)
    assert r0["weights"] == pytest.approx(r1["weights"], abs=1e-6)
    # one ledger record, written by rank 0
    runs = BudgetLedger(tmp_path / "ledger", "toy").runs()
    assert len(runs) == 1 and runs[0].steps == 20 and runs[0].record["world_size"] == 2
    assert runs[0].epsilon == pytest.approx(epsilon(p.budget.history, p.delta, "rdp"))


def test_two_process_accumulation_equals_single_process_update(tmp_path):
    """Each rank accumulates micro-batches of its half of a logical batch; the step all-reduces
    once. Noise off: the weights equal a single process's on the whole logical batches."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from _ddp_worker import accumulation_data, accumulation_model
    finally:
        sys.path.pop(0)
    from auditkit.privacy.dp._micro import micro_batches

    _run_workers(tmp_path, "accumulate")
    r0, r1 = (json.loads((tmp_path / f"accum{r}.json").read_text()) for r in range(2))

    X, y = accumulation_data()
    torch.manual_seed(100)
    model = accumulation_model()
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.5),
                     DataLoader(TensorDataset(X, y), batch_size=40), noise_multiplier=1.0,
                     epochs=1, accountant="rdp", max_grad_norm=0.5)
    p.optimizer.noise_multiplier = 0.0
    for step in range(2):
        p.optimizer.zero_grad()
        for xb, yb in micro_batches((X[step * 40 : step * 40 + 40], y[step * 40 : step * 40 + 40]), 11):
            p.criterion(p.model(xb), yb).backward()
        p.optimizer.step()
    assert p._keeper.last_clip_factors.lt(1).any()  # clipping is active
    want = [t.detach().flatten() for t in model.parameters()]
    for r in (r0, r1):
        assert r["steps"] == p.budget.steps == 2
        for got, ref in zip(r["weights"], want, strict=True):
            torch.testing.assert_close(torch.tensor(got), ref, rtol=1e-5, atol=1e-6)
