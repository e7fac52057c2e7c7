"""pytest plugin (entry point ``pytest11``): fairness assertions in any test suite.

Loaded by pytest in every session, so it imports nothing heavy at module level. It provides

- the ``assert_fair`` fixture: :func:`auditkit.fairness.assert_fair`, whose failure message is the table
  of offending groups with their intervals;
- the ``fairness_thresholds`` fixture: the ``[tool.auditkit.fairness]`` thresholds of the
  project's ``pyproject.toml`` (the same ones ``auditkit gate`` enforces), or a skip when the
  project has none.

Example::

    def test_model_is_fair(assert_fair, fairness_thresholds):
        assert_fair(y_test, model.predict(X_test), X_test[["sex", "race"]], fairness_thresholds)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def assert_fair() -> Any:
    """:func:`auditkit.fairness.assert_fair`."""
    from auditkit.fairness._gate import assert_fair as _assert_fair

    return _assert_fair


@pytest.fixture
def fairness_thresholds(pytestconfig: pytest.Config) -> Any:
    """The gate configuration of the project's ``pyproject.toml`` (skips when absent)."""
    from auditkit.fairness._gate import load_thresholds
    from auditkit.fairness.errors import FairnessInputError

    path = Path(str(pytestconfig.rootpath)) / "pyproject.toml"
    try:
        return load_thresholds(path)
    except FairnessInputError as exc:
        pytest.skip(f"no fairness thresholds configured: {exc}")
