"""``auditkit compare``: exit codes, one file or two joined by id, audit.toml roles, CI outputs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pytest
import tomli_w

from auditkit.errors import ExitCode

NAMES = ["Alice Johnson", "Bob Martinez", "Carla Nguyen", "Dmitri Okafor"]


def run_main(*args: str) -> tuple[int, str]:
    """``auditkit ARGS`` in this process: the exit code, and stdout and stderr together."""
    from auditkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


def _frame(seed: int = 0, n: int = 3000, harm: float = 0.3) -> pd.DataFrame:
    """Group B (10% of rows) loses ``harm`` of its right answers in the candidate; A gets noise."""
    rng = np.random.default_rng(seed)
    grp = rng.choice(["A", "B"], n, p=[0.9, 0.1])
    sex = rng.choice(["F", "M"], n)
    y = rng.integers(0, 2, n)
    old = np.where(rng.random(n) < 0.85, y, 1 - y)
    noise = np.where(rng.random(n) < 0.85, y, 1 - y)
    new = np.where((grp == "A") & (rng.random(n) < 0.1), noise, old)
    new = np.where((grp == "B") & (old == y) & (rng.random(n) < harm), 1 - old, new)
    return pd.DataFrame({"id": np.arange(n) + 1000, "grp": grp, "sex": sex, "y": y, "old": old,
                         "new": new})


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    _frame().to_csv(tmp_path / "preds.csv", index=False)
    _frame(harm=0.0).to_csv(tmp_path / "same.csv", index=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


ARGS = ["--label", "y", "--baseline", "old", "--candidate", "new", "--sensitive", "grp", "--n-boot", "400"]


def test_worse_group_exits_1_and_writes_every_output(project: Path, monkeypatch) -> None:
    summary = project / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, text = run_main("compare", "preds.csv", *ARGS, "--json", "c.json", "--junit", "c.xml")
    assert code == ExitCode.FAILED, text
    assert "FAILED" in text and "Groups for which new is worse than old" in text
    assert "::notice title=Model comparison failed" in text
    assert "::error title=Model comparison%3A accuracy worse for grp::accuracy for grp = B" in text
    doc = json.loads((project / "c.json").read_text())
    assert {(w["grouping"], w["group"]) for w in doc["worse"]} == {("grp", "B")}
    assert doc["settings"]["correction"] == "holm" and doc["settings"]["seed"] == 0
    assert doc["settings"]["n_boot"] == 400
    assert ET.parse(project / "c.xml").getroot().find(".//failure") is not None
    assert summary.read_text().startswith("earlier step\n### Model comparison failed: `new` vs `old`")
    assert not list(project.glob("*.auditkit-tmp"))


def test_no_group_worse_exits_0(project: Path) -> None:
    code, text = run_main("compare", "same.csv", *ARGS, "--correction", "bh", "--json", "c.json")
    assert code == ExitCode.OK, text
    assert "PASSED" in text and "No group is worse for new" in text
    assert json.loads((project / "c.json").read_text())["settings"]["correction"] == "bh"


def test_tolerance_and_metrics_flags(project: Path) -> None:
    code, text = run_main("compare", "preds.csv", *ARGS, "--metrics", "accuracy", "--tolerance", "0.5",
                          "--json", "c.json")
    assert code == ExitCode.OK, text
    doc = json.loads((project / "c.json").read_text())
    assert {g["metric"] for g in doc["groups"]} == {"accuracy"} and doc["settings"]["tolerance"] == 0.5


def test_candidate_file_joined_by_id_equals_one_file(project: Path) -> None:
    df = pd.read_csv(project / "preds.csv")
    df[["id", "new"]].iloc[::-1].rename(columns={"new": "pred"}).to_csv(project / "cand.csv", index=False)
    code, _ = run_main("compare", "preds.csv", *ARGS, "--json", "one.json")
    args = [a if a != "new" else "pred" for a in ARGS]
    code2, text = run_main("compare", "preds.csv", *args, "--candidate-file", "cand.csv", "--id", "id",
                           "--json", "two.json")
    assert code == code2 == ExitCode.FAILED, text
    one, two = (json.loads((project / f).read_text()) for f in ("one.json", "two.json"))
    assert one["groups"] == two["groups"] and one["disparities"] == two["disparities"]
    assert two["models"] == {"baseline": "old", "candidate": "pred"}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c.iloc[1:], "1 id(s) of the predictions file are not in the candidate file"),
        (lambda c: pd.concat([c, c.iloc[:2]]), "4 row(s) of the candidate file share an id"),
        (lambda c: c.assign(id=c["id"] + 1), "1 id(s) of the candidate file are not in the predictions file"),
    ],
    ids=["missing", "duplicated", "shifted"],
)
def test_id_mismatch_is_refused_with_counts_never_ids(project: Path, edit, expected) -> None:
    df = pd.read_csv(project / "preds.csv")
    edit(df[["id", "new"]]).to_csv(project / "cand.csv", index=False)
    code, text = run_main("compare", "preds.csv", *ARGS, "--candidate-file", "cand.csv", "--id", "id",
                          "--json", "c.json")
    assert code == ExitCode.USAGE, text
    assert expected in text and "Traceback" not in text
    assert "1000" not in text and "4000" not in text  # no id is quoted
    assert not (project / "c.json").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--label", "y", "--baseline", "old", "--sensitive", "grp"], "--candidate is missing"),
        (["--label", "y", "--baseline", "old", "--candidate", "neww", "--sensitive", "grp"],
         "Did you mean 'new'"),
        ([*ARGS, "--correction", "bonf"], "'correction'"),
        ([*ARGS, "--alpha", "2"], "'alpha'"),
        ([*ARGS, "--candidate-file", "cand.csv"], "--candidate-file needs --id"),
        ([*ARGS, "--id", "id"], "--id joins a second file"),
        (["--label", "y", "--baseline", "old", "--candidate", "new"], "--sensitive names no column"),
    ],
    ids=["no-candidate", "typo", "correction", "alpha", "file-no-id", "id-no-file", "no-sensitive"],
)
def test_usage_errors_exit_2_in_one_line(project: Path, args, expected) -> None:
    code, text = run_main("compare", "preds.csv", *args)
    assert code == ExitCode.USAGE, text
    assert expected in text and "Traceback" not in text


def test_audit_toml_gives_roles_labels_and_the_evidence_bar(project: Path) -> None:
    df = pd.read_csv(project / "preds.csv")
    df["y"] = np.where(df["y"] == 1, ">50K", "<=50K")  # the label in its source's words
    df.to_csv(project / "words.csv", index=False)
    cfg = {"data": {"path": "words.csv", "label": "y", "prediction": "old", "protected": ["grp", "sex"],
                    "positive_label": ">50K"},
           "checks": {"fairness": {"min_group_size": 400, "random_state": 5}}}
    (project / "audit.toml").write_text(tomli_w.dumps(cfg))
    code, text = run_main("compare", "words.csv", "--candidate", "new", "--config", "audit.toml",
                          "--n-boot", "300", "--json", "c.json")
    assert code in (ExitCode.OK, ExitCode.FAILED), text
    doc = json.loads((project / "c.json").read_text())
    assert doc["settings"]["min_group_size"] == 400 and doc["settings"]["seed"] == 5
    assert {g["grouping"] for g in doc["groups"]} == {"grp", "sex", "grp × sex"}
    small = [g for g in doc["groups"] if g["n"] < 400]
    assert small and all("min_group_size" in g["reason"] for g in small)
    # the label was recoded into the predictions' 0/1: the same numbers as the 0/1 file
    code2, _ = run_main("compare", "preds.csv", "--label", "y", "--baseline", "old", "--candidate", "new",
                        "--sensitive", "grp,sex", "--n-boot", "300", "--seed", "5", "--json", "d.json")
    ref = {(g["grouping"], str(g["group"]), g["metric"]): g["difference"]
           for g in json.loads((project / "d.json").read_text())["groups"]}
    assert all(ref[(g["grouping"], str(g["group"]), g["metric"])] == g["difference"] for g in doc["groups"])


def test_personal_group_labels_are_never_printed(project: Path, monkeypatch) -> None:
    rng = np.random.default_rng(1)
    df = _frame()
    df["person"] = rng.choice(NAMES, len(df))
    df.to_csv(project / "names.csv", index=False)
    summary = project / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, text = run_main("compare", "names.csv", *[a if a != "grp" else "person" for a in ARGS],
                          "--json", "c.json", "--junit", "c.xml")
    assert code in (ExitCode.OK, ExitCode.FAILED), text
    written = text + "".join((project / n).read_text() for n in ("c.json", "c.xml", "summary.md"))
    assert not any(name in written for name in NAMES)
    assert "group 1" in (project / "c.json").read_text()


def test_compare_path_imports_nothing_heavy(project: Path) -> None:
    code = (
        "import sys\nfrom auditkit.cli import main\n"
        f"rc = main(['compare', 'preds.csv', *{ARGS!r}])\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'opacus', 'shap', 'lime', 'weasyprint', 'matplotlib', 'fairlearn', 'sklearn'})\n"
        "print('RESULT', rc, bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True,
                          timeout=300)
    assert "RESULT 1 []" in proc.stdout, proc.stdout + proc.stderr


def test_help(cli) -> None:
    proc = cli("compare", "--help")
    assert proc.returncode == 0 and "--candidate-file" in proc.stdout
