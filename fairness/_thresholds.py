"""Fairness thresholds: ``"<disparity> <op> <number>"`` read into a :class:`Threshold`.

``op`` is one of ``>=``, ``>``, ``<=``, ``<``; the disparity is a name of
:data:`~auditkit.fairness.DISPARITY_ALIASES` or ``<metric>_difference`` / ``<metric>_ratio`` for a
metric of :data:`~auditkit.fairness.METRICS` (:func:`known_disparities`). The gate
(:mod:`auditkit.fairness._gate`) decides each threshold on an audit's disparities.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditkit.fairness.errors import FairnessInputError
from auditkit.hints import did_you_mean

__all__ = ["Threshold", "known_disparities", "parse_threshold", "parse_thresholds"]

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_\[\]\-. ]*?)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Threshold:
    """``disparity op value``, e.g. ``Threshold("demographic_parity_ratio", ">=", 0.8)``."""

    disparity: str
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise FairnessInputError(
                f"Threshold operator {self.op!r} is not one of {list(_OPS)}."
            )

    def __str__(self) -> str:
        return f"{self.disparity} {self.op} {self.value:g}"

    @property
    def lower_bound(self) -> bool:
        """Whether the threshold is a lower bound (``>=``/``>``)."""
        return self.op.startswith(">")

    def holds(self, x: float) -> bool:
        return bool(_OPS[self.op](x, self.value))


def parse_threshold(spec: str | Threshold | tuple[str, str]) -> Threshold:
    """Parse ``"demographic_parity_ratio >= 0.8"`` (or ``("name", ">= 0.8")``)."""
    if isinstance(spec, Threshold):
        return spec
    text = f"{spec[0]} {spec[1]}" if isinstance(spec, tuple) else str(spec)
    m = _PATTERN.match(text)
    if not m:
        raise FairnessInputError(
            f"Cannot read the threshold {text!r}: expected '<disparity> <op> <number>' with op one "
            "of >=, >, <=, <, e.g. 'demographic_parity_ratio >= 0.8'."
        )
    try:
        value = float(m.group(3))
    except ValueError:
        raise FairnessInputError(f"The threshold {text!r} does not end in a number.") from None
    if not math.isfinite(value):
        raise FairnessInputError(f"The threshold {text!r} must end in a finite number.")
    name = m.group(1).strip()
    known = known_disparities()
    if name not in known:
        raise FairnessInputError(
            f"The threshold {text!r} names no known disparity.{did_you_mean(name, known)} Known: "
            "the names of DISPARITY_ALIASES, and <metric>_difference / <metric>_ratio for every "
            "metric in METRICS (docs/fairness.md)."
        )
    return Threshold(name, m.group(2), value)


def known_disparities() -> tuple[str, ...]:
    """Every disparity name a threshold may use (whether an audit computes it depends on its
    metrics: a score-based one needs ``y_score``)."""
    from auditkit.fairness._metrics import DISPARITY_ALIASES, METRICS

    per_metric = [f"{m}_{kind}" for m in METRICS if m != "impact_ratio"
                  for kind in ("difference", "ratio")]
    return (*DISPARITY_ALIASES, *per_metric)


def parse_thresholds(raw: Any) -> list[Threshold]:
    """Thresholds from one spec, a list of specs, or a ``{disparity: ">= 0.8"}`` table."""
    if raw is None:
        return []
    if isinstance(raw, (str, Threshold)):
        raw = [raw]
    if isinstance(raw, Mapping):
        return [parse_threshold((k, v if isinstance(v, str) else f">= {v}")) for k, v in raw.items()]
    return [parse_threshold(t) for t in raw]
