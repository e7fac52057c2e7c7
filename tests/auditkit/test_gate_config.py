"""``auditkit gate --config audit.toml`` reads the thresholds ``auditkit run`` applies (issue 13)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from auditkit.checks.fairness import FairnessOptions
from auditkit.commands.gate import gate_config_from
from auditkit.config import parse_config
from auditkit.fairness import Threshold, parse_threshold

RUN_DEFAULTS = tuple(parse_threshold(t) for t in FairnessOptions.model_fields["thresholds"].default)


def _data(gap: float, seed: int = 0, n: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    race = rng.choice(["A", "B"], n)
    y = rng.integers(0, 2, n)
    p = np.where(sex == "F", 0.5 - gap / 2, 0.5 + gap / 2)
    return pd.DataFrame({"sex": sex, "race": race, "y": y, "yhat": (rng.random(n) < p).astype(int)})


def _project(tmp_path: Path, gap: float, fairness: dict | None) -> Path:
    _data(gap).to_csv(tmp_path / "preds.csv", index=False)
    cfg: dict = {"audit": {"random_state": 3},
                 "data": {"path": "preds.csv", "label": "y", "prediction": "yhat",
                          "protected": ["sex", "race"]},
                 "report": {"out": "out", "formats": ["json"]}}
    if fairness is not None:
        cfg["checks"] = {"fairness": fairness}
    (tmp_path / "audit.toml").write_text(tomli_w.dumps(cfg))
    return tmp_path / "audit.toml"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditkit", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**__import__("os").environ, "NO_COLOR": "1"})


@pytest.mark.parametrize("table", [None, {}, {"mode": "point"}, {"n_boot": 50}])
def test_no_thresholds_gives_runs_defaults(table: dict | None) -> None:
    raw = {"data": {"path": "x.csv", "positive_label": 1, "favourable_label": 0},
           "audit": {"random_state": 7}}
    if table is not None:
        raw["checks"] = {"fairness": table}
    gate_cfg, defaults = gate_config_from(parse_config(raw))
    assert gate_cfg.thresholds == RUN_DEFAULTS and defaults[0] == "thresholds"
    assert gate_cfg.random_state == 7  # [audit] random_state, as the run uses it
    assert gate_cfg.pos_label == 1 and getattr(gate_cfg, "favourable_label", 0) == 0
    options = FairnessOptions.model_validate(table or {})
    for key in ("mode", "ci", "n_boot", "min_group_size", "intersectional",
                "fail_on_insufficient_evidence", "min_denominator"):
        if key in FairnessOptions.model_fields:
            assert getattr(gate_cfg, key) == getattr(options, key), key
    if "reference_group" in FairnessOptions.model_fields:  # empty: the largest group
        assert gate_cfg.reference_group == (dict(options.reference_group) or None)


def test_thresholds_set_in_the_file_are_used() -> None:
    raw = {"data": {"path": "x.csv"},
           "checks": {"fairness": {"thresholds": ["true_positive_rate_difference <= 0.2"],
                                   "random_state": 11, "groupings": ["sex"]}}}
    gate_cfg, defaults = gate_config_from(parse_config(raw))
    assert gate_cfg.thresholds == (Threshold("true_positive_rate_difference", "<=", 0.2),)
    assert "thresholds" not in defaults and gate_cfg.random_state == 11
    assert gate_cfg.groupings == ("sex",)


@pytest.mark.parametrize("table", [None, {}, {"mode": "point", "random_state": 5},
                                   {"thresholds": ["demographic_parity_difference <= 0.1"],
                                    "min_denominator": 12, "reference_group": {"sex": "F"}},
                                   {"groupings": ["race"], "intersectional": False, "ci": 0.9}])
def test_gate_config_equals_the_fairness_checks(table: dict | None) -> None:
    """The gate and the run's fairness check build the very same GateConfig from a config."""
    from types import SimpleNamespace

    from auditkit.checks import fairness as check

    raw = {"data": {"path": "x.csv", "positive_label": 1, "favourable_label": 0},
           "audit": {"random_state": 9}}
    if table is not None:
        raw["checks"] = {"fairness": table}
    cfg = parse_config(raw)
    options = cfg.check_options("fairness")
    ctx = SimpleNamespace(config=cfg, positive_label=1, favourable_label=0)
    assert gate_config_from(cfg)[0] == check._gate_config(ctx, options)


CASES = [
    (0.0, None),
    (0.4, None),
    (0.4, {"mode": "point"}),
    (0.15, {"thresholds": ["demographic_parity_difference <= 0.1"], "n_boot": 200}),
    (0.0, {"thresholds": ["demographic_parity_ratio >= 0.9"], "mode": "point",
           "intersectional": False}),
]


@pytest.mark.parametrize(("gap", "table"), CASES)
def test_gate_and_run_agree(tmp_path: Path, gap: float, table: dict | None) -> None:
    config = _project(tmp_path, gap, table)
    gate = _cli("gate", "preds.csv", "--config", "audit.toml", "--json", "gate.json", cwd=tmp_path)
    assert gate.returncode in (0, 1), gate.stdout + gate.stderr
    assert ("applying auditkit run's defaults" in gate.stderr) == (not (table or {}).get("thresholds"))
    run = _cli("run", str(config), "--only", "fairness", "-q", cwd=tmp_path)
    assert run.returncode in (0, 1), run.stdout + run.stderr
    assert gate.returncode == run.returncode
    verdicts = {t["threshold"] if "threshold" in t else t["name"]: t["status"]
                for t in json.loads((tmp_path / "gate.json").read_text())["thresholds"]}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    section = next(s for s in report["sections"] if s["id"] == "fairness")
    findings = {f["check_id"].removeprefix("fairness."): f["status"] for f in section["findings"]}
    for name, status in verdicts.items():
        assert findings[str(parse_threshold(name)).split()[0]] == status, (name, findings)


def test_gate_with_audit_toml_stays_light(tmp_path: Path) -> None:
    _project(tmp_path, 0.3, None)
    code = ("import sys\nfrom auditkit.cli import main\n"
            "try:\n    main(['gate', 'preds.csv', '--config', 'audit.toml'])\n"
            "except SystemExit:\n    pass\n"
            "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'opacus', "
            "'shap', 'lime', 'weasyprint', 'fairlearn', 'sklearn'}))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_gate_without_label_flag_or_config_says_what_to_do(tmp_path: Path) -> None:
    _data(0.0).to_csv(tmp_path / "preds.csv", index=False)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.auditkit.fairness]\nthresholds = ["demographic_parity_ratio >= 0.8"]\n')
    proc = _cli("gate", "preds.csv", "--pred", "yhat", "--sensitive", "sex", cwd=tmp_path)
    assert proc.returncode == 2 and "--label is missing" in proc.stderr
    assert "Traceback" not in proc.stderr
