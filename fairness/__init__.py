"""Fairness metrics on mergeable counts, bootstrap intervals, CI gates and mitigation.

>>> from fairness import audit
>>> result = audit(y_true, y_pred, sensitive_features=df[["sex", "race"]], n_boot=1000)
>>> result.disparity("demographic_parity_ratio")

Public API
----------
- :func:`audit` — metrics by group, disparities and bootstrap intervals (:class:`FairnessResult`).
- :func:`count`, :func:`audit_counts`, :class:`Counts` — the one-pass sufficient statistics,
  mergeable across chunks and Dask partitions, and the result derived from them.
- :class:`Threshold`, :func:`parse_threshold`, :func:`load_thresholds`, :func:`evaluate_gate`,
  :class:`GateReport` — fairness gates for CI (``auditkit gate``).
- :func:`assert_fair` — a test assertion (also the ``assert_fair`` fixture of the pytest plugin).
- :func:`mitigate` — fairlearn's ThresholdOptimizer / ExponentiatedGradient with before/after.
- :data:`METRICS`, :data:`DISPARITY_ALIASES`, :data:`MISSING`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> private module. Imported on first use, so that ``import fairness`` (and the
# pytest plugin, loaded in every test session) stays light: no pandas until a name is used.
_EXPORTS = {
    "audit": "fairness._audit",
    "audit_counts": "fairness._audit",
    "count": "fairness._audit",
    "Counts": "fairness._counts",
    "GateOutcome": "fairness._gate",
    "GateReport": "fairness._gate",
    "GateConfig": "fairness._gate",
    "Threshold": "fairness._gate",
    "assert_fair": "fairness._gate",
    "evaluate_gate": "fairness._gate",
    "load_thresholds": "fairness._gate",
    "parse_threshold": "fairness._gate",
    "MISSING": "fairness._inputs",
    "DISPARITY_ALIASES": "fairness._metrics",
    "METRICS": "fairness._metrics",
    "MitigationResult": "fairness._mitigate",
    "mitigate": "fairness._mitigate",
    "FairnessResult": "fairness._result",
    "FairnessError": "fairness.errors",
    "FairnessInputError": "fairness.errors",
    "UnfairError": "fairness.errors",
}

if TYPE_CHECKING:  # pragma: no cover
    from fairness._audit import audit, audit_counts, count
    from fairness._counts import Counts
    from fairness._gate import (
        GateConfig,
        GateOutcome,
        GateReport,
        Threshold,
        assert_fair,
        evaluate_gate,
        load_thresholds,
        parse_threshold,
    )
    from fairness._inputs import MISSING
    from fairness._metrics import DISPARITY_ALIASES, METRICS
    from fairness._mitigate import MitigationResult, mitigate
    from fairness._result import FairnessResult
    from fairness.errors import FairnessError, FairnessInputError, UnfairError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fairness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DISPARITY_ALIASES",
    "METRICS",
    "MISSING",
    "Counts",
    "FairnessError",
    "FairnessInputError",
    "FairnessResult",
    "GateConfig",
    "GateOutcome",
    "GateReport",
    "MitigationResult",
    "Threshold",
    "UnfairError",
    "assert_fair",
    "audit",
    "audit_counts",
    "count",
    "evaluate_gate",
    "load_thresholds",
    "mitigate",
    "parse_threshold",
]
