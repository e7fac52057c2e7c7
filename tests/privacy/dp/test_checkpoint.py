"""Checkpoint and resume carry the accountant's state and the ledger record."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from auditkit.privacy.dp import BudgetLedger, epsilon, fit, make_private
from auditkit.privacy.errors import PrivacyInputError

from .conftest import mlp, toy_data


def build(tmp_path, **kw):
    model = mlp(seed=5)
    return make_private(model, torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9),
                        DataLoader(toy_data(), batch_size=40), target_epsilon=2.0, epochs=3,
                        accountant="rdp", ledger=tmp_path / "led", dataset_id="toy", **kw)


def test_resume_continues_the_accounting_and_the_ledger_record(tmp_path):
    p = build(tmp_path)
    fit(p, 1, progress=False, finish=False)
    ck = p.save_checkpoint(tmp_path / "ck.pt")
    sigma = p.budget.noise_multiplier
    eps_mid = p.budget.spent()

    q = build(tmp_path, resume_from=ck)  # fresh model and optimizer, as after a restart
    assert q.budget.noise_multiplier == sigma and q.budget.steps == 10
    assert q.budget.spent() == pytest.approx(eps_mid)
    torch.testing.assert_close(q.model[0].weight, p.model[0].weight)
    assert q.optimizer.original_optimizer.state_dict()["state"]  # momentum buffers restored
    fit(q, 2, progress=False)
    uninterrupted = epsilon([(sigma, 0.1, 30)], q.delta, "rdp")
    assert q.budget.spent() == pytest.approx(uninterrupted)
    runs = BudgetLedger(tmp_path / "led", "toy").runs()
    assert len(runs) == 1 and runs[0].steps == 30 and runs[0].status == "completed"


def test_resume_refuses_a_different_sample_rate(tmp_path):
    p = build(tmp_path)
    ck = p.save_checkpoint(tmp_path / "ck.pt")
    model = mlp()
    with pytest.raises(PrivacyInputError, match="sample rate"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     DataLoader(toy_data(), batch_size=20), target_epsilon=2.0, epochs=3,
                     accountant="rdp", resume_from=ck)


def test_bad_checkpoint_files(tmp_path):
    model = mlp()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    for path, match in ((tmp_path / "missing.pt", "does not exist"), (bad, "cannot be read")):
        with pytest.raises(PrivacyInputError, match=match):
            make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                         DataLoader(toy_data(), batch_size=40), target_epsilon=2.0, epochs=3,
                         resume_from=path)
