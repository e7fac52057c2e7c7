"""The code of docs/dp_transformers.md runs as written (tiny models, CPU, a few seconds each)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

DOC = Path(__file__).resolve().parents[3] / "docs" / "dp_transformers.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)

# Every block in its own namespace, in one process (one import of torch and transformers).
RUNNER = """
import contextlib, io, json, sys, traceback
blocks = json.loads(sys.stdin.read())
results = []
for code in blocks:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "<doc block>", "exec"), {"__name__": "__main__"})
        results.append({"ok": True, "out": out.getvalue()})
    except BaseException:
        results.append({"ok": False, "out": out.getvalue(), "error": traceback.format_exc()[-3000:]})
print(json.dumps(results))
"""


def test_every_example_runs_and_prints(tmp_path: Path) -> None:
    assert len(BLOCKS) >= 5
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER], input=json.dumps(BLOCKS), cwd=tmp_path,
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for i, result in enumerate(results):
        assert result["ok"], f"block {i} of {DOC.name} failed:\n{result['error']}"
        assert result["out"].strip(), f"block {i} prints nothing"
