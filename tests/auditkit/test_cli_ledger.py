"""``auditkit ledger list`` and ``auditkit ledger settle``."""

from __future__ import annotations

import base64
import json

import pytest

from auditkit.cli import main
from auditkit.errors import ExitCode
from auditkit.privacy.crypto import KeyRing
from auditkit.privacy.dp import BudgetLedger, epsilon

DELTA = 1e-5
ENV = "TEST_LEDGER_CLI_PASSPHRASE"
PASS = "ledger cli test passphrase"


def _ledger(directory, keyring=None):
    led = BudgetLedger(directory, "loans", keyring=keyring)
    terms = {"delta": DELTA, "accountant": "rdp", "max_epsilon": 10.0, "on_cap": "stop",
             "info": {}}
    done, _ = led.reserve(noise_multiplier=1.1, sample_rate=0.01, planned_steps=500, **terms)
    led.update(done, history=[(1.1, 0.01, 300)], status="completed")
    abandoned, _ = led.reserve(noise_multiplier=0.9, sample_rate=0.02, planned_steps=2000,
                               **terms)
    return led, done, abandoned


@pytest.fixture
def ring_file(tmp_path, monkeypatch):
    ring = KeyRing.generate()
    path = tmp_path / "ring.json"
    ring.save(path, passphrase=PASS)
    monkeypatch.setenv(ENV, PASS)
    return ring, path


def test_list_shows_every_run_with_status_epsilon_and_steps(tmp_path, capsys):
    led, done, abandoned = _ledger(tmp_path)
    assert main(["ledger", "list", str(led.path)]) == ExitCode.OK
    out = capsys.readouterr().out
    row_done = next(line for line in out.splitlines() if line.startswith(done))
    row_open = next(line for line in out.splitlines() if line.startswith(abandoned))
    assert "finished (completed)" in row_done and " 300 " in row_done
    assert "running" in row_open and " 2000 " in row_open
    assert "unauthenticated" in out
    total = epsilon([(1.1, 0.01, 300), (0.9, 0.02, 2000)], DELTA, "rdp")
    assert f"Total ε = {total:.4g}" in out


def test_settle_a_never_trained_run_then_list(tmp_path, capsys):
    led, _, abandoned = _ledger(tmp_path)
    original = json.loads(led.path.read_text())["runs"]
    code = main(["ledger", "settle", str(led.path), abandoned, "--reason",
                 "make_private was called, training never started"])
    assert code == ExitCode.OK
    spent = epsilon([(1.1, 0.01, 300)], DELTA, "rdp")
    assert led.total_epsilon() == pytest.approx(spent)
    assert json.loads(led.path.read_text())["runs"] == original
    capsys.readouterr()
    main(["ledger", "list", str(led.path)])
    out = capsys.readouterr().out
    assert next(r for r in out.splitlines() if r.startswith(abandoned)).split()[1] == "settled"
    assert f"Total ε = {spent:.4g}" in out
    assert "training never started" in out


@pytest.mark.parametrize("case,fragment", [
    ("unknown_run", "is not in the budget ledger"),
    ("finished_run", "Only a run still 'running'"),
    ("twice", "a run is settled once"),
    ("no_such_file", "No budget ledger at"),
    ("directory", "is a directory holding loans.json"),
    ("below_recorded", "whole number"),
])
def test_bad_input_exits_2_with_one_clear_line(tmp_path, capsys, case, fragment):
    led, done, abandoned = _ledger(tmp_path)
    target, run_id, extra = str(led.path), abandoned, []
    if case == "unknown_run":
        run_id = "feedfacefeedface"
    elif case == "finished_run":
        run_id = done
    elif case == "twice":
        main(["ledger", "settle", target, abandoned, "--reason", "first"])
    elif case == "no_such_file":
        target = str(tmp_path / "missing.json")
    elif case == "directory":
        target = str(tmp_path)
    elif case == "below_recorded":
        led.update(abandoned, history=[(0.9, 0.02, 40)])
        extra = ["--steps", "10"]
    capsys.readouterr()
    before = led.path.read_bytes()
    code = main(["ledger", "settle", target, run_id, "--reason", "why", *extra])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert fragment in " ".join(err.split()) and "Traceback" not in err
    assert led.path.read_bytes() == before


def test_an_authenticated_ledger_needs_its_ring_and_a_tampered_one_is_refused(
    tmp_path, ring_file, capsys
):
    ring, ring_path = ring_file
    led, _, abandoned = _ledger(tmp_path / "budgets", keyring=ring)
    ring_args = ["--keyring", str(ring_path), "--passphrase-env", ENV]
    assert main(["ledger", "settle", str(led.path), abandoned, "--reason", "x"]) == 2
    assert "--keyring" in capsys.readouterr().err
    assert main(["ledger", "settle", str(led.path), abandoned, "--reason", "never trained",
                 *ring_args]) == ExitCode.OK
    assert BudgetLedger(led.directory, "loans", keyring=ring).runs()[1].status == "settled"
    doc = json.loads(led.path.read_text())
    doc["settlements"][0]["steps"] = 0
    doc["settlements"][0]["planned_steps"] = 1
    led.path.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["ledger", "list", str(led.path), *ring_args]) == ExitCode.USAGE
    assert "was altered" in capsys.readouterr().err


def test_list_output_has_no_key_material(tmp_path, ring_file, capsys):
    ring, ring_path = ring_file
    led, _, abandoned = _ledger(tmp_path / "budgets", keyring=ring)
    led.settle(abandoned, reason="never trained")
    capsys.readouterr()
    assert main(["ledger", "list", str(led.path), "--keyring", str(ring_path),
                 "--passphrase-env", ENV]) == ExitCode.OK
    out = capsys.readouterr()
    text = out.out + out.err
    assert "MAC verified" in text
    mac = json.loads(led.path.read_text())["mac"]["value"]
    secrets = [mac, PASS]
    for key_id in ring.key_ids:
        key = ring.ledger_key(key_id)
        secrets += [key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()]
    for secret in secrets:
        assert secret not in text and secret[:16] not in text
