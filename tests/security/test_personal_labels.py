"""Labels that are personal are never shown (issue 12, class 4).

A protected or grouping column whose labels are people's names or ids (classed so by the PII
scan), or that has more than 50 distinct values, is shown as stable pseudonymous labels
("group 7") in every output: the audit report in every format, and ``auditkit gate``'s table,
JSON, JUnit and GitHub annotations. Category labels ("Female", "25-34") are shown as they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from auditkit._personal import labels_to_pseudonymise, pseudonymise_labels
from auditkit.errors import ExitCode
from tests.security.conftest import run_main

NAMES = ["Alice Johnson", "Bob Martinez", "Carla Nguyen", "Dmitri Okafor", "Elena Rossi",
         "Farid Haddad", "Grace Whitfield", "Hiro Tanaka"]


def _frame(kind: str, n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if kind == "names":  # few distinct values, but they are names
        labels = rng.choice(NAMES, n)
    elif kind == "many":  # more than 50 distinct labels
        labels = np.array([f"branch-{i % 80:03d}" for i in range(n)])
    else:  # category labels
        labels = rng.choice(["Female", "Male"], n)
    y = rng.integers(0, 2, n)
    # not named for a person role ("owner"): there, one-word labels count as first names
    # (tests/security/test_identifying_labels.py)
    return pd.DataFrame({"grouping": labels, "y": y, "yhat": np.where(rng.random(n) < 0.8, y, 1 - y)})


@pytest.mark.parametrize(("kind", "pseudonymised"), [("names", True), ("many", True),
                                                      ("categories", False)])
def test_which_columns_are_relabelled(kind: str, pseudonymised: bool) -> None:
    frame = _frame(kind)[["grouping"]]
    assert ("grouping" in labels_to_pseudonymise(frame)) is pseudonymised


def test_pseudonyms_are_stable_and_keep_missing_values() -> None:
    frame = pd.DataFrame({"g": ["b", "a", None, "b", "c"]})
    out = pseudonymise_labels(frame, ["g"])
    assert out["g"].tolist()[:2] == ["group 2", "group 1"] and pd.isna(out["g"][2])
    assert pseudonymise_labels(frame.iloc[::-1], ["g"])["g"].iloc[::-1].tolist()[:2] == \
        ["group 2", "group 1"]
    assert frame["g"].tolist()[0] == "b"  # the caller's frame is untouched


@pytest.mark.parametrize("kind", ["names", "many"])
def test_gate_never_prints_personal_labels(tmp_path: Path, kind: str, monkeypatch) -> None:
    df = _frame(kind)
    df.to_csv(tmp_path / "preds.csv", index=False)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.auditkit.fairness]\nthresholds = ["demographic_parity_ratio >= 0.8"]\n')
    code, text = run_main("gate", "preds.csv", "--label", "y", "--pred", "yhat", "--sensitive", "grouping",
                          "--junit", "g.xml", "--json", "g.json", "--mode", "point")
    assert code in (ExitCode.OK, ExitCode.FAILED), text
    written = text + "".join((tmp_path / n).read_text() for n in ("g.xml", "g.json", "summary.md"))
    for label in set(df["grouping"]):
        assert label not in written
    if kind == "names":  # large enough groups are named by their pseudonyms
        assert re.search(r"group \d+", json.dumps(json.loads((tmp_path / "g.json").read_text())))


def test_audit_report_shows_pseudonyms_for_name_labels(tmp_path: Path) -> None:
    df = _frame("names")
    df.to_csv(tmp_path / "data.csv", index=False)
    cfg = {"audit": {"title": "t", "system": "s"},
           "data": {"path": "data.csv", "label": "y", "prediction": "yhat", "protected": ["grouping"]},
           "report": {"out": "out", "formats": ["json", "md", "html"]},
           "checks": {"fairness": {"n_boot": 20, "min_group_size": 5}}}
    (tmp_path / "audit.toml").write_text(tomli_w.dumps(cfg))
    code, text = run_main("run", str(tmp_path / "audit.toml"), "--quiet", "--only", "fairness")
    assert code in (ExitCode.OK, ExitCode.FAILED), text
    written = "".join(p.read_text() for p in (tmp_path / "out").glob("report.*"))
    for name in NAMES:
        assert name not in written
    assert "group 1" in written
