"""Helpers shared by the security tests: the CLI in this process, and docs' constant blocks.

:func:`literal_assignments` reads a docs block without auditkit (the "stranger" readers of
``test_format_spec`` and ``test_manifest_spec`` use it), so auditkit is imported only inside
:func:`run_main`.
"""

from __future__ import annotations

import ast
import io
from contextlib import redirect_stderr, redirect_stdout
from typing import Any


def run_main(*args: str) -> tuple[int, str]:
    """Run ``auditkit ARGS`` in this process: its exit code, and stdout and stderr together."""
    from auditkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


def literal_assignments(source: str) -> dict[str, Any]:
    """``NAME = literal`` lines of a docs code block as a dict; anything else fails the test."""
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1
        name = node.targets[0]
        assert isinstance(name, ast.Name)
        out[name.id] = ast.literal_eval(node.value)
    return out
