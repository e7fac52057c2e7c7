"""The private_training audit check reads the ledger and the attack results; lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from auditkit.privacy.dp import fit, make_private, membership_inference, save_attack_results

# The DP tests' small data and model, and their per-test settings (one torch thread, Opacus's
# known warnings silenced), shared rather than copied.
from tests.privacy.dp.conftest import _one_thread, _quiet_opacus, mlp, toy_data  # noqa: F401


def _ctx(tmp_path):
    from types import SimpleNamespace

    import pandas as pd

    from auditkit._context import AuditContext
    from auditkit.config import AuditMeta

    # The check cites by topic (ctx.cite), which reads the audit's scope: the default EU + US.
    return AuditContext(config=SimpleNamespace(audit=AuditMeta()), base_dir=tmp_path,
                        out_dir=tmp_path / "out", data=pd.DataFrame({"a": [1]}))


def _evidence(tmp_path, claimed=3.0, lb_members=None):
    model = mlp()
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.5),
                     DataLoader(toy_data(), batch_size=40), target_epsilon=3.0, epochs=1,
                     accountant="rdp", ledger=tmp_path / "ledger", dataset_id="toy",
                     max_epsilon=8.0)
    fit(p, 1, progress=False)
    rng = np.random.default_rng(0)
    res = [
        membership_inference(member_losses=rng.random(200) * 0.1, nonmember_losses=rng.random(200),
                             label="baseline"),
        membership_inference(member_losses=lb_members if lb_members is not None else rng.random(200),
                             nonmember_losses=rng.random(200), label="dp", claimed_epsilon=claimed,
                             delta=p.delta),
    ]
    save_attack_results(tmp_path / "attack.json", res, note="test evidence")
    return p


def _run(tmp_path, **opts):
    from auditkit.checks.private_training import PrivateTrainingOptions, run

    return run(_ctx(tmp_path), PrivateTrainingOptions(**opts))


def test_findings_carry_the_budget_and_attack_evidence(tmp_path):
    p = _evidence(tmp_path)
    res = _run(tmp_path, ledger="ledger/toy.json", attack=["attack.json"])
    by_id = {f.check_id: f for f in res.findings}
    budget = by_id["private_training.budget"]
    assert budget.status.value == "pass"
    m = budget.metrics
    assert m["epsilon"] == pytest.approx(p.budget.spent(), abs=1e-4)
    assert m["delta"] == p.delta and m["accountant"] == "rdp"
    assert m["noise_multiplier"] == pytest.approx(p.budget.noise_multiplier, abs=1e-4)
    assert m["sample_rate"] == pytest.approx(0.1) and m["steps"] == 10
    assert m["max_grad_norm"] == 1.0 and m["secure_mode"] is False
    assert m["budget_cap"] == 8.0
    assert m["budget_remaining"] == pytest.approx(8.0 - p.budget.spent(), abs=1e-3)
    assert set(budget.regulations) == {"gdpr-art-25-1", "gdpr-art-32-1-a", "nist-ai-rmf-measure-2-10"}
    assert by_id["private_training.secure_noise"].status.value == "warn"
    mia = by_id["private_training.membership_inference"]
    assert mia.status.value == "pass"
    assert "auc[baseline]" in mia.metrics and "epsilon_lower_bound[dp]" in mia.metrics
    assert "euaiact-art-15-5" in mia.regulations and "test evidence" in mia.summary
    deid = by_id["private_training.deidentification"]
    assert deid.status.value == "warn" and "gdpr-recital-26" in deid.regulations


def test_attack_refuting_the_claim_fails(tmp_path):
    _evidence(tmp_path, claimed=0.5, lb_members=np.full(200, -1.0))
    res = _run(tmp_path, ledger="ledger", attack=["attack.json"])
    mia = next(f for f in res.findings if f.check_id == "private_training.membership_inference")
    assert mia.status.value == "fail" and "refutes" in mia.summary


def test_policy_cap_fails(tmp_path):
    _evidence(tmp_path)
    res = _run(tmp_path, ledger="ledger", max_epsilon=1.0)
    budget = next(f for f in res.findings if f.check_id == "private_training.budget")
    assert budget.status.value == "fail" and "max_epsilon=1" in budget.summary


def test_not_configured_is_not_applicable(tmp_path):
    res = _run(tmp_path)
    assert [f.status.value for f in res.findings] == ["not_applicable"]


def test_missing_or_corrupt_files_raise_user_errors(tmp_path):
    from auditkit.errors import ConfigError, is_user_error

    with pytest.raises(ConfigError, match=r"nope\.json.*\[checks\.private_training\]"):
        _run(tmp_path, ledger="nope.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"No budget ledger \(\*\.json\) in .*empty"):
        _run(tmp_path, ledger="empty")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(Exception) as exc:
        _run(tmp_path, ledger="bad.json")
    assert is_user_error(exc.value)


def test_spec_is_registered_with_catalogue_ids():
    from auditkit.checks._registry import get_check

    spec = get_check("private_training")
    assert spec.section == "private_training"
    for reg in ("gdpr-art-25-1", "gdpr-art-32-1-a", "gdpr-recital-26",
                "nist-ai-rmf-measure-2-10", "euaiact-art-15-5"):
        assert reg in spec.regulations


def test_importing_privacy_dp_and_the_check_is_light(tmp_path):
    code = (
        "import sys, auditkit.privacy.dp, auditkit.checks.private_training\n"
        "auditkit.privacy.dp.__all__; auditkit.privacy.dp.BudgetLedger\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'opacus')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.slow
def test_demo_setup_trains_attacks_and_returns_options(tmp_path):
    from auditkit.checks.private_training import PrivateTrainingOptions, run
    from auditkit.demo import CHECK_SETUP, DemoContext, generate_applications

    df = generate_applications(4000, 7)
    ctx = DemoContext.for_applications(tmp_path, df, data_path=tmp_path / "a.csv",
                                       model_path=tmp_path / "m", random_state=7)
    opts = CHECK_SETUP["private_training"](ctx)
    doc = json.loads((tmp_path / "dp" / "attack.json").read_text())
    base, dp = doc["results"]
    assert base["claimed_epsilon"] is None and dp["claimed_epsilon"] <= 3.0
    assert base["auc"] > dp["auc"] and base["epsilon_lower_bound"] > dp["epsilon_lower_bound"]
    assert dp["epsilon_lower_bound"] <= dp["claimed_epsilon"]
    assert "subsampled" in doc["note"]
    res = run(_ctx(tmp_path), PrivateTrainingOptions(**opts))
    assert {f.check_id for f in res.findings} >= {"private_training.budget",
                                                  "private_training.membership_inference"}
