"""Fast start: the CLI's help and the gate must not import the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "opacus", "shap", "lime", "weasyprint", "transformers", "peft", "accelerate")

PROBE = """
import json, sys
from auditkit.cli import main
try:
    code = main({args!r})
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def _probe(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, heavy=set(HEAVY))],
        capture_output=True, text=True, timeout=120,
    )
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["run", "--help"], ["demo", "--help"], ["init", "--help"]],
)
def test_help_does_not_import_heavy_libraries(args) -> None:
    result = _probe(args)
    assert result["code"] == 0
    assert result["heavy"] == [], f"{args} imported {result['heavy']}"


def test_every_command_help_is_light() -> None:
    """Whatever commands exist now, their --help stays light."""
    from auditkit.cli import _load_commands, app

    _load_commands()
    names = sorted({c.name for c in app.registered_commands if c.name} |
                   {g.name for g in app.registered_groups if g.name})
    assert "run" in names
    for name in names:
        result = _probe([name, "--help"])
        assert result["code"] == 0, name
        assert result["heavy"] == [], f"{name} --help imported {result['heavy']}"


def test_domain_packages_import_light() -> None:
    code = (
        "import sys, importlib\n"
        "for m in ('auditkit', 'auditkit.checks._registry', 'auditkit.privacy',\n"
        "          'auditkit.fairness', 'auditkit.explain', 'auditkit.reports'):\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


LOAD_PROBE = """
import json, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from auditkit._models import load_model, skops_io
path = sys.argv[1]
skops_io().dump(LogisticRegression().fit(np.arange(8.0).reshape(-1, 1), [0, 1] * 4), path)
model = load_model(path)
after_load = sorted(m for m in sys.modules if m.split('.')[0] == 'torch')
finders = [type(f).__name__ for f in sys.meta_path]
try:
    import torch  # noqa: F401
    torch_after = True
except ImportError:
    torch_after = False
print(json.dumps({"predict": model.predict([[7.0]]).tolist(), "torch_on_load": after_load,
                  "finders": finders, "torch_after": torch_after}))
"""


def test_loading_a_skops_model_does_not_import_torch(tmp_path) -> None:
    """skops lists scikit-learn's estimators on import, which would import torch through
    scikit-learn's array-API adapter: a model load must not pay for it, and torch must stay
    importable afterwards (the private-training check imports it)."""
    pytest.importorskip("skops")
    proc = subprocess.run([sys.executable, "-c", LOAD_PROBE, str(tmp_path / "m.skops")],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["predict"] == [1]
    assert result["torch_on_load"] == []
    assert "_NotFound" not in result["finders"]
    try:
        import importlib.util

        installed = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        installed = False
    assert result["torch_after"] == installed
