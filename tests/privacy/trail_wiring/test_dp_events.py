"""Private training and its budget in the trail: train.start / train.stop / train.cap,
ledger.record and ledger.settle."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from auditkit.privacy import trail
from auditkit.privacy.dp import BudgetLedger, fit, make_private
from auditkit.privacy.errors import BudgetExceededError, PrivacyInputError
from tests.privacy.dp.conftest import _one_thread, _quiet_opacus, mlp, toy_data  # noqa: F401

from .conftest import TrailReader

START_KEYS = {"epsilon_target", "delta", "sample_rate", "noise_multiplier", "max_grad_norm",
              "steps_planned", "steps_reserved", "max_epsilon", "on_cap", "accountant", "mode",
              "secure_mode", "run_id", "resumed"}
STOP_KEYS = {"how", "steps", "steps_planned", "epsilon", "delta", "run_id"}


def _private(**kw):
    from torch.utils.data import DataLoader

    model = mlp()
    loader = DataLoader(toy_data(200), batch_size=50)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return make_private(model, opt, loader, accountant="rdp", epochs=1, **kw)


def test_a_run_records_start_ledger_and_stop(trail_dir: TrailReader, tmp_path: Path) -> None:
    private = _private(target_epsilon=2.0, ledger=tmp_path / "ledgers", dataset_id="toy")
    result = fit(private, 1, progress=False)
    path = str(private.ledger.path)
    events = trail_dir.events()
    assert [(e.action, e.params.get("stage")) for e in events] == [
        ("ledger.record", "reserve"), ("train.start", None), ("ledger.record", "close"),
        ("train.stop", None)]
    assert all(e.resource == path and e.outcome == "ok" for e in events)
    start, stop = trail_dir.one("train.start"), trail_dir.one("train.stop")
    assert set(start.params) == START_KEYS and set(stop.params) == STOP_KEYS
    assert start.params["epsilon_target"] == 2.0 and start.params["steps_planned"] == 4
    assert start.params["sample_rate"] == pytest.approx(0.25)
    assert start.params["run_id"] == stop.params["run_id"] == private.budget.run_id
    assert stop.params["how"] == "completed" and stop.params["steps"] == result.steps
    assert stop.params["epsilon"] == pytest.approx(result.epsilon)
    # The last ledger event carries the file's SHA-256 as the run left it.
    assert events[2].sha256 == trail.file_sha256(private.ledger.path)
    trail_dir.assert_verifies()


def test_cap_refusal_in_the_ledger_is_denied(trail_dir: TrailReader, tmp_path: Path) -> None:
    ledgers = tmp_path / "ledgers"
    with pytest.raises(BudgetExceededError):
        _private(target_epsilon=2.0, ledger=ledgers, dataset_id="toy", max_epsilon=0.5)
    (ev,) = trail_dir.events()
    assert (ev.action, ev.outcome) == ("train.cap", "denied")
    assert ev.resource == str(BudgetLedger(ledgers, "toy").path)
    assert ev.params["reason"] == "planned_run" and ev.params["max_epsilon"] == 0.5
    assert [s.outcome for s in trail_dir.seals()] == ["denied"]
    trail_dir.assert_verifies()


def test_cap_refusal_without_a_ledger_is_denied(trail_dir: TrailReader, tmp_path: Path) -> None:
    with pytest.raises(BudgetExceededError):
        _private(target_epsilon=2.0, max_epsilon=0.5, checkpoint_dir=tmp_path)
    (ev,) = trail_dir.events()
    assert (ev.action, ev.outcome, ev.resource) == ("train.cap", "denied", None)
    assert ev.params["steps_planned"] == 4 and ev.params["steps_fit"] < 4


def test_stopping_at_the_cap_records_cap_and_stop(trail_dir: TrailReader, tmp_path: Path) -> None:
    private = _private(target_epsilon=2.0, ledger=tmp_path / "ledgers", dataset_id="toy",
                       max_epsilon=1.8, on_cap="stop")
    result = fit(private, 1, progress=False)
    assert result.stopped_at_cap
    cap, stop = trail_dir.one("train.cap"), trail_dir.one("train.stop")
    assert cap.outcome == "denied" and cap.params["reason"] == "step"
    assert cap.params["steps"] == result.steps and cap.seq < stop.seq
    assert stop.params["how"] == "stopped_at_cap" and stop.params["steps"] == result.steps
    trail_dir.assert_verifies()


def test_settle_and_its_refusal(trail_dir: TrailReader, tmp_path: Path) -> None:
    private = _private(target_epsilon=2.0, ledger=tmp_path / "ledgers", dataset_id="toy")
    ledger = private.ledger
    ledger.settle(private.budget.run_id, reason="zq-reason-marker")
    with pytest.raises(PrivacyInputError):
        ledger.settle(private.budget.run_id, reason="again")
    ok, refused = trail_dir.events("ledger.settle")
    assert ok.outcome == "ok" and ok.resource == str(ledger.path)
    assert ok.params == {"run_id": private.budget.run_id, "steps": 0, "steps_planned": 4,
                         "epsilon": 0.0}
    assert ok.sha256 is not None and len(ok.sha256) == 64
    assert (refused.outcome, refused.params) == ("error", {"error": "PrivacyInputError"})
    assert b"-marker" not in trail_dir.raw()  # the reason is free text: not recorded
    trail_dir.assert_verifies()


def test_refused_make_private_records_start_error(trail_dir: TrailReader) -> None:
    with pytest.raises(PrivacyInputError):
        _private(target_epsilon=2.0, target_delta=2.0)
    ev = trail_dir.one("train.start")
    assert (ev.outcome, ev.params) == ("error", {"error": "PrivacyInputError"})
