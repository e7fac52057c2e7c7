"""Shared fixtures for the whole test suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# ``make test-wheel`` runs a copy of this suite outside the checkout and points here.
SHARED_DATASETS = Path(
    os.environ.get("AUDITKIT_SHARED_DATASETS") or REPO.parent / "shared" / "datasets"
)


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
    proc = run_cli("demo", "--out", str(out), "--rows", "4000", "--format", "html,md,json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out
