"""Gate decisions (point / interval / insufficient evidence), configuration and CI outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from auditkit.fairness import (
    FairnessInputError,
    GateConfig,
    Threshold,
    audit,
    evaluate_gate,
    load_thresholds,
    parse_threshold,
)


def _data(n=4000, gap=0.2, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    yhat = (rng.random(n) < np.where(sex == "F", 0.5 - gap, 0.5)).astype(int)
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"sex": sex, "y": y, "yhat": yhat, "s": rng.random(n)})


def test_parse_threshold_forms() -> None:
    assert parse_threshold("demographic_parity_ratio >= 0.8") == Threshold("demographic_parity_ratio", ">=", 0.8)
    assert parse_threshold(("equalized_odds_difference", "<= 0.1")).op == "<="
    assert str(parse_threshold("selection_rate_difference<1e-2")) == "selection_rate_difference < 0.01"
    with pytest.raises(FairnessInputError, match="expected '<disparity> <op> <number>'"):
        parse_threshold("demographic_parity_ratio => 0.8")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("demographic_parity_ration >= 0.8", "Did you mean 'demographic_parity_ratio'"),
        ("x < 0.01", "names no known disparity"),
        ("demographic_parity_ratio >= nan", "expected '<disparity> <op> <number>'"),
        ("demographic_parity_ratio >= inf", "expected '<disparity> <op> <number>'"),
        ("demographic_parity_ratio >= 1e999", "finite number"),
    ],
)
def test_a_threshold_that_can_never_be_evaluated_is_refused_up_front(spec, message) -> None:
    with pytest.raises(FairnessInputError, match=message):
        parse_threshold(spec)


def test_no_disparity_an_audit_computes_is_refused() -> None:
    from auditkit.fairness._thresholds import known_disparities

    df = _data(gap=0.1)
    binary = audit(df["y"], df["yhat"], df[["sex"]], y_score=df["yhat"] * 0.8 + 0.1, n_boot=0)
    regression = audit(df["y"] * 2.5, df["yhat"] * 2.0, df[["sex"]], task="regression", n_boot=0)
    for res in (binary, regression):
        assert set(res.disparity_names) <= set(known_disparities())


def test_point_and_interval_modes() -> None:
    df = _data(gap=0.2)  # ratio ~0.6
    res = audit(df["y"], df["yhat"], df[["sex"]], n_boot=300, random_state=0)
    fail = evaluate_gate(res, GateConfig(thresholds=(parse_threshold("demographic_parity_ratio >= 0.8"),)))
    assert fail.status == "fail" and fail.exit_code == 1
    ok = evaluate_gate(res, ["demographic_parity_ratio >= 0.4"])
    assert ok.status == "pass" and ok.exit_code == 0
    # a threshold inside the interval: ci mode warns (exit 0), point mode decides on the value
    d = res.disparities.loc[("sex", "demographic_parity_ratio")]
    mid = round((d["value"] + d["ci_high"]) / 2, 4)
    warn = evaluate_gate(res, GateConfig(thresholds=(Threshold("demographic_parity_ratio", ">=", mid),)))
    assert warn.status == "warn" and warn.exit_code == 0
    point = evaluate_gate(res, GateConfig(thresholds=(Threshold("demographic_parity_ratio", ">=", mid),), mode="point"))
    assert point.status == "fail"


def test_insufficient_evidence_and_its_switch() -> None:
    df = _data(n=400, gap=0.0)
    df.loc[:9, "sex"] = "X"  # a group of 10 rows
    res = audit(df["y"], df["yhat"], df[["sex"]], n_boot=200, random_state=0, min_group_size=30)
    # the verdict is taken over the evidenced groups (F, M); the small one is counted, not judged
    rep = evaluate_gate(res, ["demographic_parity_ratio >= 0.5"])
    assert rep.status == "pass" and rep.passed and rep.outcomes[0].n_excluded == 1
    assert "1 group(s) excluded below the evidence bar of 30" in rep.outcomes[0].message
    assert "| 1 | pass |" in rep.to_markdown()
    assert "excluded=1" in rep.to_junit()
    # only one group large enough: no verdict anywhere -> insufficient evidence
    tiny = audit(df["y"], df["yhat"], df[["sex"]], n_boot=0, min_group_size=300)
    rep2 = evaluate_gate(tiny, ["demographic_parity_ratio >= 0.5"])
    assert rep2.outcomes[0].status == "insufficient_evidence" and rep2.passed
    assert "insufficient evidence in every grouping" in rep2.outcomes[0].message
    assert "group(s) excluded in all" in rep2.outcomes[0].message
    strict = evaluate_gate(tiny, GateConfig(thresholds=(parse_threshold("demographic_parity_ratio >= 0.5"),),
                                            fail_on_insufficient_evidence=True))
    assert not strict.passed and strict.exit_code == 1


@pytest.mark.parametrize("n_pos_small", [5, 29])
def test_equalized_odds_verdict_rests_on_the_per_rate_bar(n_pos_small) -> None:
    """A group with many rows but few actual positives is left out of the TPR part only."""
    rng = np.random.default_rng(1)
    big = 600
    g = np.array(["A"] * big + ["B"] * big + ["C"] * big)
    y = rng.integers(0, 2, 3 * big)
    y[2 * big:] = 0
    y[2 * big:2 * big + n_pos_small] = 1  # C: few actual positives, many negatives
    yhat = (rng.random(3 * big) < 0.5).astype(int)
    yhat[2 * big:2 * big + n_pos_small] = 0  # C's TPR is 0: it would decide the TPR part
    res = audit(y, yhat, {"g": g}, n_boot=100, random_state=0, min_denominator=30)
    row = res.disparities.loc[("g", "equalized_odds_difference")]
    excl = res.excluded.query("disparity == 'equalized_odds_difference'")
    assert list(excl[["group", "metric", "denominator", "bar"]].itertuples(index=False, name=None)) == [
        ("C", "true_positive_rate", n_pos_small, 30)]
    assert row["n_excluded"] == 1 and row["value"] < 0.2  # C's TPR of 0 does not set it
    assert not res.evidenced.loc[("g", "C"), "true_positive_rate"]
    assert res.evidenced.loc[("g", "C"), "false_positive_rate"]
    assert res.denominators.loc[("g", "C"), "true_positive_rate"] == n_pos_small
    cfg = GateConfig.from_mapping({"thresholds": ["equalized_odds_difference <= 0.5"], "min_denominator": 30,
                                   "favourable_label": 1, "reference_group": {"g": "A"}})
    assert cfg.min_denominator == 30 and cfg.audit_kwargs()["reference_group"] == {"g": "A"}
    assert evaluate_gate(res, cfg).outcomes[0].n_excluded == 1


def test_gate_config_refuses_bad_new_keys() -> None:
    with pytest.raises(FairnessInputError, match="'min_denominator' must be a non-negative integer"):
        GateConfig.from_mapping({"thresholds": ["demographic_parity_ratio >= 0.8"], "min_denominator": -1})
    with pytest.raises(FairnessInputError, match="'reference_group' must be a table"):
        GateConfig.from_mapping({"thresholds": ["demographic_parity_ratio >= 0.8"], "reference_group": "A"})
    with pytest.raises(FairnessInputError, match="Did you mean 'min_denominator'"):
        GateConfig.from_mapping({"min_denominators": 3})


def test_thresholds_on_unknown_or_uncomputed_metrics() -> None:
    df = _data(n=500)
    res = audit(df["y"], df["yhat"], df[["sex"]], n_boot=0)
    with pytest.raises(FairnessInputError, match="Did you mean 'demographic_parity_ratio'"):
        evaluate_gate(res, ["demographic_parity_ration >= 0.8"])
    with pytest.raises(FairnessInputError, match="not computed"):
        evaluate_gate(res, ["roc_auc_difference <= 0.1"])
    with pytest.raises(FairnessInputError, match="no thresholds"):
        evaluate_gate(res, [])


def test_load_thresholds_from_pyproject_and_audit_toml(tmp_path: Path) -> None:
    py = tmp_path / "pyproject.toml"
    py.write_text('[tool.auditkit.fairness]\nmode = "point"\nthresholds = ["demographic_parity_ratio >= 0.8"]\n')
    cfg = load_thresholds(py)
    assert cfg.mode == "point" and cfg.thresholds == (Threshold("demographic_parity_ratio", ">=", 0.8),)
    at = tmp_path / "audit.toml"
    at.write_text('[checks.fairness]\nsuppress_small = true\nthresholds = ["equalized_odds_difference <= 0.1"]\n')
    assert load_thresholds(at).thresholds[0].disparity == "equalized_odds_difference"
    bad = tmp_path / "bad.toml"
    bad.write_text('[tool.auditkit.fairness]\nthreshold = ["x >= 1"]\n')
    with pytest.raises(FairnessInputError, match="Did you mean 'thresholds'"):
        load_thresholds(bad)
    with pytest.raises(FairnessInputError, match="does not exist"):
        load_thresholds(tmp_path / "nope.toml")


def test_ci_outputs() -> None:
    df = _data(gap=0.2)
    res = audit(df["y"], df["yhat"], df[["sex"]], n_boot=200, random_state=0)
    rep = evaluate_gate(res, ["demographic_parity_ratio >= 0.8", "equalized_odds_difference <= 0.9"])
    root = ET.fromstring(rep.to_junit())
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["demographic_parity_ratio >= 0.8", "equalized_odds_difference <= 0.9"]
    assert cases[0].find("failure") is not None and cases[1].find("failure") is None
    assert "F" in cases[0].find("failure").text  # the offending group with its interval
    ann = rep.github_annotations()
    assert len(ann) == 1 and ann[0].startswith("::error title=Fairness gate fail: demographic_parity_ratio::")
    md = rep.to_markdown()
    assert "| ❌ | `demographic_parity_ratio >= 0.8`" in md and "| ✅ |" in md
    assert json.loads(rep.to_json()) == json.loads(json.dumps(rep.to_dict()))


# -- the CLI ----------------------------------------------------------------------------------
@pytest.fixture
def project(tmp_path: Path) -> Path:
    _data(gap=0.2).to_csv(tmp_path / "unfair.csv", index=False)
    _data(gap=0.0, seed=1).to_csv(tmp_path / "fair.csv", index=False)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.auditkit.fairness]\nn_boot = 300\nthresholds = ["demographic_parity_ratio >= 0.8"]\n'
    )
    return tmp_path


@pytest.mark.slow
def test_cli_exit_codes_and_files(cli, project: Path) -> None:
    args = ["--label", "y", "--pred", "yhat", "--sensitive", "sex"]
    ok = cli("gate", "fair.csv", *args, cwd=project)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASSED" in ok.stdout
    summary = project / "summary.md"
    summary.write_text("earlier step\n")
    bad = cli("gate", "unfair.csv", *args, "--junit", "j.xml", "--json", "g.json", cwd=project,
              env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "::error title=Fairness gate fail: demographic_parity_ratio::" in bad.stdout
    assert summary.read_text().startswith("earlier step\n### Fairness gate failed")
    assert ET.parse(project / "j.xml").getroot().find(".//failure") is not None
    assert json.loads((project / "g.json").read_text())["thresholds"][0]["status"] == "fail"
    usage = cli("gate", "fair.csv", "--label", "y", "--pred", "yhat", "--sensitive", "sexx", cwd=project)
    assert usage.returncode == 2 and "Did you mean 'sex'" in usage.stderr and "Traceback" not in usage.stderr
    mode = cli("gate", "fair.csv", *args, "--mode", "bayes", cwd=project)
    assert mode.returncode == 2
    (project / "pyproject.toml").unlink()
    none = cli("gate", "fair.csv", *args, cwd=project)
    assert none.returncode == 2 and "No fairness thresholds found" in none.stderr


def test_gate_path_imports_nothing_heavy(project: Path) -> None:
    code = (
        "import sys\nfrom auditkit.cli import main\n"
        "rc = main(['gate', 'unfair.csv', '--label', 'y', '--pred', 'yhat', '--sensitive', 'sex'])\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'opacus', 'shap', 'lime', 'weasyprint', 'fairlearn', 'sklearn'})\n"
        "print('RESULT', rc, bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=300)
    assert "RESULT 1 []" in proc.stdout, proc.stdout + proc.stderr
