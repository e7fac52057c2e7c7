"""Inputs are sacred, outputs are all or nothing, and exit codes tell the truth (issue 12, 5-7).

- An output can never replace an input: ``[report] basename`` is a plain file name, and the
  output directory may neither be nor hold an input, nor hold files auditkit did not write.
- Reports and their signature appear together or not at all: a failure at any stage (a check
  crashes the renderer, the guard refuses, signing fails) leaves the previous report set
  byte-identical and nothing beside it.
- ``auditkit run`` exits 0 only when every finding passed or warned; 1 a finding failed; 2
  refused before any check ran; 3 a check errored (the report is still written, errors marked).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from auditkit.demo import LABEL, PERSONAL, PROTECTED, generate_applications
from auditkit.errors import ExitCode
from tests.security.conftest import run_main

ROWS = 300


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("data")
    df = generate_applications(ROWS, seed=5)
    rng = np.random.default_rng(0)
    df["predicted"] = (rng.random(ROWS) < 0.5).astype(int)
    df["score"] = rng.random(ROWS).round(4)
    df.to_csv(d / "data.csv", index=False)
    return d / "data.csv"


def _config(**overrides) -> dict:
    cfg = {
        "audit": {"title": "Exit codes", "system": "test"},
        "data": {"path": "data.csv", "label": LABEL, "prediction": "predicted", "score": "score",
                 "protected": list(PROTECTED), "personal": list(PERSONAL)},
        "report": {"out": "out", "formats": ["json", "md", "html"]},
        "checks": {"fairness": {"n_boot": 50}},
    }
    for key, value in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    return cfg


@pytest.fixture
def audit(tmp_path: Path, data_csv: Path):
    """``audit(cfg_overrides) -> (dir, config path)``."""

    def make(**overrides) -> tuple[Path, Path]:
        shutil.copy(data_csv, tmp_path / "data.csv")
        cfg_path = tmp_path / "audit.toml"
        cfg_path.write_text(tomli_w.dumps(_config(**overrides)))
        return tmp_path, cfg_path

    return make


def _tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` (hidden ones too) with its digest."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


# -- exit codes -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"checks": {"fairness": {"n_boot": -5}}}, ExitCode.USAGE),
        ({"checks": {"fairness": {"ci": 1.5}}}, ExitCode.USAGE),
        ({"checks": {"fairness": {"thresholds": ["no_such_metric >= 0.8"]}}}, ExitCode.USAGE),
        ({"checks": {"fairness": {"thresholds": ["demographic_parity_ration >= 0.8"]}}},
         ExitCode.USAGE),
        ({"report": {"basename": "../../escaped"}}, ExitCode.USAGE),
        ({"data": {"label": "no_such_column"}}, ExitCode.USAGE),
    ],
    ids=["n_boot<0", "ci>1", "unknown-metric", "misspelt-metric", "basename-traversal",
         "unknown-column"],
)
def test_bad_input_is_refused_before_any_check_runs(audit, overrides, expected) -> None:
    d, cfg = audit(**overrides)
    before = _tree(d)
    code, text = run_main("run", str(cfg), "--quiet")
    assert code == expected, text
    assert text.count("error:") == 1 and "Traceback" not in text
    assert _tree(d) == before  # nothing written, inputs untouched


def test_a_check_that_errors_makes_the_run_incomplete(audit, tmp_path: Path) -> None:
    """A label that is missing in every row errors the checks that need it: exit 3, and the
    report is still written with the errored findings marked."""
    d, cfg = audit()
    df = __import__("pandas").read_csv(d / "data.csv")
    df[LABEL] = np.nan
    df.to_csv(d / "data.csv", index=False)
    code, text = run_main("run", str(cfg), "--quiet", "--format", "json")
    assert code == ExitCode.INCOMPLETE, text
    doc = json.loads((d / "out" / "report.json").read_text())
    statuses = [f["status"] for s in doc["sections"] for f in s["findings"]]
    assert "error" in statuses


@pytest.mark.parametrize("statuses", [
    ("pass",), ("pass", "warn"), ("fail",), ("pass", "fail"), ("error",), ("fail", "error"),
    ("not_applicable",), ("insufficient_evidence", "pass"),
])
def test_exit_code_is_a_function_of_the_statuses(statuses) -> None:
    from auditkit.reports import Finding, Report, Section, Severity, Status
    from auditkit.runner import AuditRun

    findings = [Finding(check_id=f"x.{i}", title="t", status=Status(s), severity=Severity.INFO,
                        summary="s") for i, s in enumerate(statuses)]
    run = AuditRun(report=Report(metadata={}, sections=[Section(id="x", title="X",
                                                                findings=findings)]),
                   out_dir=Path("."))
    if "error" in statuses:
        assert run.exit_code == ExitCode.INCOMPLETE
    elif "fail" in statuses:
        assert run.exit_code == ExitCode.FAILED
    else:
        assert run.exit_code == ExitCode.OK


def test_an_internal_error_never_exits_0_or_1_and_quotes_nothing() -> None:
    from auditkit.commands._common import report_exception
    from auditkit.errors import PersonalDataLeakError

    err = io.StringIO()
    with redirect_stderr(err):
        assert report_exception(KeyError("alice@example.com")) == ExitCode.INCOMPLETE
        assert report_exception(PersonalDataLeakError("column 'email'")) == ExitCode.INCOMPLETE
    assert "alice@example.com" not in err.getvalue()


# -- inputs are sacred ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "basename",
    ["../../x", "/tmp/abs", "a/b", "..", ".", ".hidden", "x\x00y", "manifest", "a b", "x" * 101,
     "..\\x", "report/"],
)
def test_basename_must_be_a_plain_file_name(audit, basename) -> None:
    d, cfg = audit(report={"basename": basename})
    parent = _tree(d.parent) if d.parent != Path("/") else None
    code, text = run_main("run", str(cfg), "--quiet")
    assert code == ExitCode.USAGE, text
    assert "basename" in text
    if parent is not None:
        assert _tree(d.parent) == parent


@pytest.mark.parametrize("out", [".", "..", "sub/..", "data-dir"])
def test_an_output_directory_holding_an_input_is_refused(audit, out) -> None:
    d, cfg = audit(report={"out": out})
    if out == "data-dir":  # the data file lives in the output directory
        (d / "data-dir").mkdir()
        shutil.move(d / "data.csv", d / "data-dir" / "report.json")
        cfg.write_text(tomli_w.dumps(_config(report={"out": "data-dir"},
                                             data={"path": "data-dir/report.json",
                                                   "format": "csv"})))
    before = _tree(d)
    code, text = run_main("run", str(cfg), "--quiet")
    assert code == ExitCode.USAGE, text
    assert "input" in text
    assert _tree(d) == before


def test_the_input_named_like_a_report_is_never_replaced(audit) -> None:
    """The reproduced data loss: [data] path = "x.md", out = ".", basename = "x"."""
    d, cfg = audit()
    shutil.move(d / "data.csv", d / "x.md")
    cfg.write_text(tomli_w.dumps(_config(data={"path": "x.md", "format": "csv"},
                                         report={"out": ".", "basename": "x"})))
    before = _tree(d)
    code, _ = run_main("run", str(cfg), "--quiet")
    assert code == ExitCode.USAGE
    assert _tree(d) == before


def test_an_output_directory_with_foreign_files_is_refused(audit) -> None:
    d, cfg = audit()
    (d / "out").mkdir()
    (d / "out" / "notes.txt").write_text("mine")
    code, text = run_main("run", str(cfg), "--quiet")
    assert code == ExitCode.USAGE and "did not write" in text
    assert (d / "out" / "notes.txt").read_text() == "mine"


def test_a_file_added_to_a_previous_report_directory_is_protected(audit) -> None:
    d, cfg = audit()
    assert run_main("run", str(cfg), "--quiet", "--only", "dataset")[0] == ExitCode.OK
    (d / "out" / "ledger.json").write_text("{}")
    code, text = run_main("run", str(cfg), "--quiet", "--only", "dataset")
    assert code == ExitCode.USAGE and "did not write" in text
    assert (d / "out" / "ledger.json").read_text() == "{}"


# -- all or nothing ---------------------------------------------------------------------------
def test_a_rerun_replaces_the_whole_set(audit) -> None:
    d, cfg = audit()
    assert run_main("run", str(cfg), "--quiet", "--only", "dataset")[0] == ExitCode.OK
    first = set(_tree(d / "out"))
    assert {"report.json", "report.md", "report.html", ".auditkit-report"} <= first
    code, _ = run_main("run", str(cfg), "--quiet", "--only", "dataset", "--format", "json")
    assert code == ExitCode.OK
    assert set(_tree(d / "out")) == {"report.json", ".auditkit-report"}
    assert sorted(p.name for p in d.iterdir()) == ["audit.toml", "data.csv", "out"]


@pytest.mark.parametrize("failure", ["missing-key", "loose-key-mode", "missing-passphrase"])
def test_failed_signing_leaves_the_previous_report_untouched(audit, failure) -> None:
    from auditkit.reports.signing import generate_signing_key

    d, cfg = audit()
    assert run_main("run", str(cfg), "--quiet", "--only", "dataset")[0] == ExitCode.OK
    previous = _tree(d / "out")
    if failure == "missing-key":
        keys = {"signing_key": "absent.pem"}
    elif failure == "loose-key-mode":
        generate_signing_key(d / "signing.pem")
        os.chmod(d / "signing.pem", 0o644)
        keys = {"signing_key": "signing.pem"}
    else:
        keys = {"keyring": "ring.json", "sign": True, "passphrase_env": "AUDITKIT_TEST_ABSENT"}
        (d / "ring.json").write_text("{}")
        os.chmod(d / "ring.json", 0o600)
    cfg.write_text(tomli_w.dumps(_config(keys=keys)))
    os.environ.pop("AUDITKIT_TEST_ABSENT", None)
    beside = sorted(p.name for p in d.iterdir())
    code, text = run_main("run", str(cfg), "--quiet", "--only", "dataset")
    assert code == ExitCode.USAGE, text
    assert _tree(d / "out") == previous  # no unsigned or mixed set
    assert sorted(p.name for p in d.iterdir()) == beside  # no staging residue
