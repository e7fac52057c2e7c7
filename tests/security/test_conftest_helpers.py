"""The shared helpers of tests/security/conftest.py: known answers."""

from __future__ import annotations

import pytest

from auditkit.errors import ExitCode
from tests.security.conftest import literal_assignments, run_main


def test_literal_assignments_reads_names_and_literals() -> None:
    code = 'LABEL = b"auditkit"\nSIZES = (16, 32)\nFLAGS = {"a": 1}\n'
    assert literal_assignments(code) == {"LABEL": b"auditkit", "SIZES": (16, 32),
                                         "FLAGS": {"a": 1}}


@pytest.mark.parametrize("code", ["X = f()\n", "A = B = 1\n", "x.y = 1\n", "print(1)\n"])
def test_literal_assignments_refuses_anything_else(code: str) -> None:
    with pytest.raises((AssertionError, ValueError)):
        literal_assignments(code)


def test_run_main_returns_the_exit_code_and_all_output() -> None:
    code, text = run_main("--help")
    assert code == ExitCode.OK and "gate" in text
    code, text = run_main("no-such-command")
    assert code != ExitCode.OK and "no-such-command" in text
