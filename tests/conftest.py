"""Shared fixtures for the whole test suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# ``make test-wheel`` runs a copy of this suite outside the checkout and points here.
SHARED_DATASETS = Path(
    os.environ.get("AUDITKIT_SHARED_DATASETS") or REPO.parent / "shared" / "datasets"
)


_STATE_DIR: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Keep the suite's audit trail and machine state out of the user's home.

    Every command and API call appends to the audit trail; without this the suite would write to
    ``~/.local/state/auditkit``. Subprocesses inherit the variables. Tests of the location rules
    override them with ``monkeypatch``.
    """
    global _STATE_DIR
    _STATE_DIR = tempfile.mkdtemp(prefix="auditkit-test-state-")
    os.environ["AUDITKIT_TRAIL"] = os.path.join(_STATE_DIR, "trail")
    os.environ["XDG_STATE_HOME"] = os.path.join(_STATE_DIR, "xdg-state")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _STATE_DIR:
        shutil.rmtree(_STATE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``../shared/datasets`` beside the checkout (Adult, COMPAS, labelled PII)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m auditkit ARGS`` in a subprocess and capture its output."""
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "auditkit", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def cli():
    """``cli(*args)`` runs ``python -m auditkit ARGS`` and returns the CompletedProcess."""
    return run_cli


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full demo, run once per test session through the CLI (reused by several tests)."""
    out = tmp_path_factory.mktemp("demo")
    # its own audit trail, as on a fresh machine: the suite's other tests leave none in its report
    own_trail = str(tmp_path_factory.mktemp("demo-trail") / "trail")
    proc = run_cli("demo", "--out", str(out), "--rows", "4000", "--format", "html,md,json",
                   env={"AUDITKIT_TRAIL": own_trail})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out
