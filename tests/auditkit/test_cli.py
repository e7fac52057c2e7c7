"""The CLI end to end, in subprocesses: exit codes, messages, no tracebacks without --debug."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


def test_version(cli) -> None:
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("auditkit ")


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["init", "--help"], ["demo", "--help"]])
def test_help(cli, args) -> None:
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout


def test_run_writes_reports_and_exit_0(cli, audit_dir: Path) -> None:
    proc = cli("run", str(audit_dir / "audit.toml"), "--only", "dataset", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((audit_dir / "out" / "report.json").read_text())
    assert doc["status"] == "pass"
    assert "Scope and data" in proc.stdout


def test_run_out_option(cli, audit_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    proc = cli("run", str(audit_dir / "audit.toml"), "--only", "dataset", "-f", "json", "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.json").exists()
    assert proc.stdout == ""


def test_run_exit_1_when_a_finding_fails(cli, audit_dir: Path, base_config, write_config) -> None:
    cfg = base_config()
    cfg["model"]["features"] = ["annual_income", "email"]  # an identifier as model input -> fail
    cfg["model"]["path"] = None
    del cfg["model"]["path"]
    write_config(audit_dir, cfg)
    proc = cli("run", str(audit_dir / "audit.toml"), "--only", "dataset", "-f", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Direct identifiers" in proc.stdout


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d, c: (d / "audit.toml").unlink(), "does not exist"),
        (lambda d, c: (d / "audit.toml").write_text("[data\npath='x'"), "not valid TOML"),
        (lambda d, c: (d / "data.csv").unlink(), "does not exist"),
        (lambda d, c: (d / "data.csv").write_text(""), "empty"),
        (lambda d, c: (d / "model.skops").write_text("garbage"), "not a skops file"),
    ],
    ids=["missing-config", "toml-syntax", "missing-data", "empty-data", "wrong-model"],
)
def test_bad_inputs_exit_2_with_one_message(cli, audit_dir: Path, mutate, expected) -> None:
    mutate(audit_dir, None)
    proc = cli("run", str(audit_dir / "audit.toml"), "-f", "json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr
    _no_traceback(proc)


@pytest.mark.parametrize(
    ("table", "key", "value", "expected"),
    [
        ("data", "lable", "approved", "Did you mean 'label'?"),
        ("report", "formats", "html", "[report] key 'formats'"),
    ],
    ids=["unknown-key-suggests", "wrong-type"],
)
def test_config_mistakes_exit_2_with_one_message(
    cli, audit_dir: Path, base_config, write_config, table, key, value, expected
) -> None:
    cfg = base_config()
    cfg[table][key] = value
    write_config(audit_dir, cfg)
    proc = cli("run", str(audit_dir / "audit.toml"))
    assert proc.returncode == 2 and expected in proc.stderr
    _no_traceback(proc)


def test_unknown_format_option_exit_2(cli, audit_dir: Path) -> None:
    proc = cli("run", str(audit_dir / "audit.toml"), "--format", "jsn")
    assert proc.returncode == 2 and "Did you mean 'json'" in proc.stderr
    _no_traceback(proc)


def test_output_not_writable_exit_2(cli, audit_dir: Path) -> None:
    (audit_dir / "blocker").write_text("x")
    proc = cli("run", str(audit_dir / "audit.toml"), "--out", str(audit_dir / "blocker" / "out"))
    assert proc.returncode == 2 and "not writable" in proc.stderr
    _no_traceback(proc)


def test_debug_shows_traceback(cli, audit_dir: Path) -> None:
    (audit_dir / "data.csv").unlink()
    proc = cli("run", str(audit_dir / "audit.toml"), "--debug")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr


def test_usage_error_exit_2(cli) -> None:
    proc = cli("run")
    assert proc.returncode == 2
    assert "Missing argument" in proc.stderr


def test_unknown_command_exit_2(cli) -> None:
    proc = cli("rnu")
    assert proc.returncode == 2


def test_init_writes_loadable_config_and_refuses_overwrite(cli, small_data, tmp_path: Path) -> None:
    import shutil

    src, _ = small_data
    shutil.copy(src / "data.csv", tmp_path / "data.csv")
    proc = cli("init", str(tmp_path / "data.csv"))
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "audit.toml").read_text()
    assert 'label = "approved"    # guess' in text
    assert "personal = [" in text and '"email"' in text
    from auditkit.config import load_config

    cfg = load_config(tmp_path / "audit.toml")
    assert cfg.data.prediction == "predicted" and "race" in cfg.data.protected
    assert "age" not in cfg.data.protected and "'age' looks protected" in text
    again = cli("init", str(tmp_path / "data.csv"))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (tmp_path / "audit.toml").read_text() == text
    run = cli("run", str(tmp_path / "audit.toml"), "--only", "dataset", "-f", "json")
    assert run.returncode == 0, run.stderr


def test_init_missing_data_exit_2(cli, tmp_path: Path) -> None:
    proc = cli("init", str(tmp_path / "nope.csv"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    _no_traceback(proc)


def test_demo_out_is_a_file_exit_2(cli, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    proc = cli("demo", "--out", str(tmp_path / "afile"), "-q")
    assert proc.returncode == 2 and "is a file" in proc.stderr
    _no_traceback(proc)


def test_scan_empty_file_exit_2(cli, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    proc = cli("scan", str(tmp_path / "empty.csv"))
    assert proc.returncode == 2 and "is empty" in proc.stderr
    _no_traceback(proc)
