"""The budget ledger: composition across runs, caps, crash safety, bad files, concurrency."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader

from auditkit.privacy.dp import BudgetLedger, epsilon, fit, make_private
from auditkit.privacy.errors import BudgetExceededError, PrivacyInputError

from .conftest import mlp, toy_data


def run(tmp_path, *, epochs=1, target=1.0, train=True, **kw):
    model = mlp()
    kw.setdefault("accountant", "rdp")
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.5),
                     DataLoader(toy_data(), batch_size=40), target_epsilon=target, epochs=epochs,
                     ledger=tmp_path, dataset_id="toy", **kw)
    if train:
        fit(p, epochs, progress=False)
    return p


def test_records_every_run_and_composes_the_combined_history(tmp_path):
    run(tmp_path, target=1.0)
    run(tmp_path, target=2.0, epochs=2)
    led = BudgetLedger(tmp_path, "toy")
    runs = led.runs()
    assert [r.status for r in runs] == ["completed", "completed"]
    assert [r.steps for r in runs] == [10, 20]
    rec = runs[0].record
    for key in ("noise_multiplier", "sample_rate", "steps", "delta", "accountant", "epsilon",
                "started_at", "finished_at", "model_id", "mode", "max_grad_norm", "secure_mode"):
        assert rec[key] is not None or key == "finished_at"
    combined = [tuple(h) for r in runs for h in r.history]
    total = led.total_epsilon()
    assert total == pytest.approx(epsilon(combined, rec["delta"], "rdp"))
    # composition is tighter than adding the runs' ε, and more than either alone
    assert max(r.epsilon for r in runs) < total < sum(r.epsilon for r in runs)
    s = led.summary()
    assert s["runs"] == 2 and s["steps"] == 30 and s["epsilon_remaining"] is None


def test_cap_refuses_a_run_that_would_exceed_and_writes_nothing(tmp_path):
    run(tmp_path, target=2.0, max_epsilon=2.5)
    before = (tmp_path / "toy.json").read_bytes()
    with pytest.raises(BudgetExceededError, match=r"remains.*a cost of .*At most \d+ steps fit"):
        run(tmp_path, target=2.0)
    assert (tmp_path / "toy.json").read_bytes() == before


def test_cap_already_spent(tmp_path):
    run(tmp_path, target=2.0, max_epsilon=2.0, epochs=1)
    led = BudgetLedger(tmp_path, "toy")
    data = led.load()
    data["max_epsilon"] = 1.0  # tighten below what is spent
    (tmp_path / "toy.json").write_text(json.dumps(data))
    with pytest.raises(BudgetExceededError, match="budget of dataset 'toy' is spent"):
        run(tmp_path, target=0.5)


def test_run_stops_cleanly_at_the_cap_with_state_saved(tmp_path):
    p = run(tmp_path, target=1.0, epochs=1, max_epsilon=1.6, train=False)
    r = fit(p, 10, progress=False)  # the loop asks for far more than the cap allows
    assert r.stopped_at_cap and "cap reached" in r.message
    led = BudgetLedger(tmp_path, "toy")
    rec = led.runs()[-1]
    assert rec.status == "stopped_at_cap"
    assert led.total_epsilon() <= 1.6
    nxt = epsilon([(p.budget.noise_multiplier, p.budget.sample_rate, rec.steps + 1)], p.delta, "rdp")
    assert nxt > 1.6  # it stopped at the last step that fits
    ckpt = rec.record["checkpoint"]
    assert ckpt and (tmp_path / "checkpoints").exists()
    from auditkit.privacy.dp import load_checkpoint

    state = load_checkpoint(ckpt)
    assert sum(h[2] for h in state["accountant"]["history"]) == rec.steps
    # the saved weights are the model's weights at the cap (the refused step was not applied)
    for k, v in state["model"].items():
        torch.testing.assert_close(v, p.model.state_dict()[k])


def test_on_cap_stop_starts_a_run_that_would_exceed(tmp_path):
    run(tmp_path, target=1.0, max_epsilon=1.5)
    p = run(tmp_path, target=2.0, epochs=1, on_cap="stop", train=False)
    r = fit(p, 1, progress=False)
    assert r.stopped_at_cap
    assert BudgetLedger(tmp_path, "toy").total_epsilon() <= 1.5


def test_a_crashed_run_stays_counted_at_its_planned_steps(tmp_path):
    p = run(tmp_path, target=1.0, epochs=2, train=False)
    x, y = next(iter(p.data_loader))
    p.optimizer.zero_grad()
    p.criterion(p.model(x), y).backward()
    p.optimizer.step()  # one step, then the "process dies": finish() never runs
    led = BudgetLedger(tmp_path, "toy")
    r = led.runs()[0]
    assert r.status == "running" and r.planned_steps == 20
    planned = epsilon([(p.budget.noise_multiplier, 0.1, 20)], p.delta, "rdp")
    assert led.total_epsilon() == pytest.approx(planned)  # over-counts, never under-counts


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda t: t[: len(t) // 2], "not readable JSON"),
        (lambda t: t.replace('"poisson_subsampled_gaussian"', '"laplace"'), "mechanism 'laplace'"),
        (lambda t: t.replace('"format": "auditkit.dp.ledger"', '"format": "x"'), "not a valid ledger"),
        (lambda t: t.replace('"runs": [', '"runs": [7, '), "run 0 is malformed"),
    ],
    ids=["truncated", "other_mechanism", "wrong_format", "bad_run"],
)
def test_corrupt_or_foreign_ledger_is_a_clear_error_and_left_alone(tmp_path, mutate, match):
    run(tmp_path, target=1.0)
    path = tmp_path / "toy.json"
    path.write_text(mutate(path.read_text()))
    before = path.read_bytes()
    with pytest.raises(PrivacyInputError, match=match):
        run(tmp_path, target=1.0)
    assert path.read_bytes() == before


def test_ledger_terms_must_match(tmp_path):
    run(tmp_path, target=1.0)
    with pytest.raises(PrivacyInputError, match="composes with accountant 'rdp'"):
        run(tmp_path, target=1.0, accountant="prv")
    with pytest.raises(PrivacyInputError, match="accounts at δ="):
        run(tmp_path, target=1.0, target_delta=1e-4)


@pytest.mark.parametrize("bad", ["..", "../", " ", "", "/", "-._-", 7, None])
def test_bad_dataset_id(tmp_path, bad):
    with pytest.raises(PrivacyInputError, match="'dataset_id'"):
        BudgetLedger(tmp_path, bad)


def test_dataset_id_cannot_leave_the_directory(tmp_path):
    led = BudgetLedger(tmp_path / "d", "../escape")
    assert led.path == tmp_path / "d" / "escape.json"


def test_dataset_id_defaults_to_a_content_hash(tmp_path):
    model = mlp()
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     DataLoader(toy_data(), batch_size=40), target_epsilon=1, epochs=1,
                     accountant="rdp", ledger=tmp_path)
    assert p.dataset_id.startswith("ds-") and (tmp_path / f"{p.dataset_id}.json").exists()
    from auditkit.privacy.dp import dataset_fingerprint

    assert dataset_fingerprint(toy_data()) == p.dataset_id != dataset_fingerprint(toy_data(seed=1))


WRITER = """
import sys
from auditkit.privacy.dp._ledger import BudgetLedger
led = BudgetLedger(sys.argv[1], "shared")
for _ in range(int(sys.argv[2])):
    run_id, _ = led.reserve(noise_multiplier=1.0, sample_rate=0.1, planned_steps=10, delta=1e-5,
                            accountant="rdp", max_epsilon=None, on_cap="refuse", info={})
    led.update(run_id, history=[(1.0, 0.1, 10)], status="running")
"""


def test_concurrent_writers_lose_nothing(tmp_path):
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "8"],
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for pr in procs:
        _, err = pr.communicate(timeout=120)
        assert pr.returncode == 0, err
    runs = BudgetLedger(tmp_path, "shared").runs()
    assert len(runs) == 24 and all(r.steps == 10 for r in runs)
    assert len({r.run_id for r in runs}) == 24
    from auditkit.atomic import TEMP_SUFFIX

    assert not list(tmp_path.glob(f".shared.json.*{TEMP_SUFFIX}"))
