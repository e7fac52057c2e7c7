"""Settling a run left 'running': ε drops to what was spent, the record stays, once only."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.privacy.crypto import KeyRing
from auditkit.privacy.dp import BudgetLedger, epsilon
from auditkit.privacy.errors import PrivacyInputError

DELTA = 1e-5
HYP = settings(max_examples=25, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])


def reserve(led: BudgetLedger, noise: float = 1.1, q: float = 0.01, planned: int = 2000) -> str:
    rid, _ = led.reserve(noise_multiplier=noise, sample_rate=q, planned_steps=planned,
                         delta=DELTA, accountant="rdp", max_epsilon=None, on_cap="stop",
                         info={"model_id": "m"})
    return rid


def ledger_with_abandoned_run(directory, keyring=None, taken: int = 0):
    """One completed run (300 steps at σ=1.1) and one reserved at 2000 steps that took ``taken``."""
    led = BudgetLedger(directory, "ds", keyring=keyring)
    done = reserve(led, planned=500)
    led.update(done, history=[(1.1, 0.01, 300)], status="completed")
    abandoned = reserve(led, noise=0.9, q=0.02, planned=2000)
    if taken:
        led.update(abandoned, history=[(0.9, 0.02, taken)])
    return led, done, abandoned


def test_settling_a_never_trained_run_drops_the_total_to_what_was_spent(tmp_path):
    led, done, abandoned = ledger_with_abandoned_run(tmp_path)
    spent = epsilon([(1.1, 0.01, 300)], DELTA, "rdp")
    counted = epsilon([(1.1, 0.01, 300), (0.9, 0.02, 2000)], DELTA, "rdp")
    assert led.total_epsilon() == pytest.approx(counted)
    original = copy.deepcopy(json.loads(led.path.read_text())["runs"])

    run = led.settle(abandoned, reason="the script called make_private and never trained")

    assert run.status == "settled" and run.counted_steps == 0 and run.epsilon == 0.0
    assert led.total_epsilon() == pytest.approx(spent)
    assert led.total_epsilon() < counted
    doc = json.loads(led.path.read_text())
    assert doc["runs"] == original  # the record is kept, byte for byte in content
    assert doc["runs"][1]["status"] == "running"
    (entry,) = doc["settlements"]
    assert entry["run_id"] == abandoned and entry["steps"] == 0
    assert entry["planned_steps"] == 2000 and entry["reason"].startswith("the script")
    assert [r.status for r in led.runs()] == ["completed", "settled"]
    assert led.summary()["epsilon_total"] == pytest.approx(spent)


@HYP
@given(taken=st.integers(0, 400), extra=st.integers(0, 400))
def test_a_settled_run_counts_exactly_its_settled_steps(tmp_path_factory, taken, extra):
    led, _, abandoned = ledger_with_abandoned_run(tmp_path_factory.mktemp("l"), taken=taken)
    run = led.settle(abandoned, reason="died", steps=taken + extra)
    expected = epsilon([(1.1, 0.01, 300), (0.9, 0.02, taken + extra)], DELTA, "rdp")
    assert led.total_epsilon() == pytest.approx(expected, rel=1e-9)
    alone = epsilon([(0.9, 0.02, taken + extra)], DELTA, "rdp")
    assert run.epsilon == pytest.approx(alone, rel=1e-9)


def test_the_default_is_the_steps_the_run_recorded(tmp_path):
    led, _, abandoned = ledger_with_abandoned_run(tmp_path, taken=120)
    assert led.settle(abandoned, reason="crashed after 120 steps").counted_steps == 120
    expected = epsilon([(1.1, 0.01, 300), (0.9, 0.02, 120)], DELTA, "rdp")
    assert led.total_epsilon() == pytest.approx(expected)


@pytest.mark.parametrize("case,fragment", [
    ("twice", "a run is settled once"),
    ("unknown", "is not in the budget ledger"),
    ("finished", "Only a run still 'running' can be settled"),
    ("below_recorded", "cannot be settled below what it recorded"),
    ("empty_reason", "must say why"),
    ("negative", "whole number"),
])
def test_bad_settlements_are_refused_and_change_nothing(tmp_path, case, fragment):
    led, done, abandoned = ledger_with_abandoned_run(tmp_path, taken=50)
    if case == "twice":
        led.settle(abandoned, reason="first")
    before = led.path.read_bytes()
    kwargs = {"unknown": {"run_id": "0" * 16}, "finished": {"run_id": done},
              "below_recorded": {"steps": 49}, "empty_reason": {"reason": "  "},
              "negative": {"steps": -1}}.get(case, {})
    args = {"run_id": abandoned, "reason": "why", **kwargs}
    with pytest.raises(PrivacyInputError, match=fragment):
        led.settle(args.pop("run_id"), **args)
    assert led.path.read_bytes() == before


def test_a_settled_run_records_no_further_step(tmp_path):
    led, _, abandoned = ledger_with_abandoned_run(tmp_path)
    led.settle(abandoned, reason="never trained")
    with pytest.raises(PrivacyInputError, match="cannot record further steps"):
        led.update(abandoned, history=[(0.9, 0.02, 10)])
    with pytest.raises(PrivacyInputError, match="cannot record further steps"):
        led.extend(abandoned, history=[], noise_multiplier=0.9, sample_rate=0.02, more_steps=5)


def test_an_authenticated_settlement_is_maced_and_cannot_be_edited(tmp_path):
    ring = KeyRing.generate()
    led, _, abandoned = ledger_with_abandoned_run(tmp_path, keyring=ring)
    led.settle(abandoned, reason="never trained")
    assert BudgetLedger(tmp_path, "ds", keyring=ring).total_epsilon() > 0  # verifies
    doc = json.loads(led.path.read_text())
    doc["settlements"][0]["steps"] = 0
    doc["settlements"][0]["reason"] = "edited"
    led.path.write_text(json.dumps(doc))
    with pytest.raises(PrivacyInputError, match="was altered"):
        BudgetLedger(tmp_path, "ds", keyring=ring).total_epsilon()


@pytest.mark.parametrize("edit,fragment", [
    (lambda d: d["settlements"][0].update(steps=-3), "field 'steps'"),
    (lambda d: d["settlements"][0].update(run_id="nope"), "names no run"),
    (lambda d: d["settlements"].append(dict(d["settlements"][0])), "settled twice"),
    (lambda d: d["settlements"][0].pop("reason"), "exactly the fields"),
    (lambda d: d.update(settlements={}), "must be a list"),
    (lambda d: d["runs"][1].update(status="completed", epsilon=0.0), "not 'running'"),
])
def test_a_malformed_settlement_is_refused_on_read(tmp_path, edit, fragment):
    led, _, abandoned = ledger_with_abandoned_run(tmp_path)
    led.settle(abandoned, reason="never trained")
    doc = json.loads(led.path.read_text())
    edit(doc)
    led.path.write_text(json.dumps(doc))
    with pytest.raises(PrivacyInputError, match=fragment):
        BudgetLedger(tmp_path, "ds").total_epsilon()
