"""The evidence bar: which groups a disparity may compare, and why the others are left out.

Each rate is judged on its own denominator: a true positive rate on the group's actual
positives, a false positive rate on its actual negatives, a precision on its predicted
positives, a selection rate on its rows (:data:`auditkit.fairness._intervals.PROPORTIONS`).
A group is *evidenced* for a metric when that denominator, counted in rows (unweighted, even
with sample weights), is at least ``min_denominator``; metrics that are not single proportions
(ROC AUC, calibration, F1, balanced accuracy, regression and multiclass metrics) use the group's
rows. A disparity compares, for each of its base metrics, only the groups that are evidenced
for that metric and have at least ``min_group_size`` rows (the "small" flag, which also drives
suppression in reports).

This module also holds the direction of harm of each metric (:func:`harm_sign`), the rule that
names a disparity's disadvantaged group, and the reference group of each grouping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditkit.fairness._metrics import Grouping, GroupLabel, group_label
from auditkit.fairness.errors import FairnessInputError
from auditkit.hints import did_you_mean

__all__ = ["Evidence", "disadvantaged", "harm_sign", "reference_groups"]


@dataclass(frozen=True)
class Evidence:
    """Row counts and per-metric denominators of every group, with the two bars."""

    n_group: np.ndarray  # (G,) rows per group
    denominators: dict[str, np.ndarray]  # proportion metric -> (G,) rows in its denominator
    denominator_names: dict[str, str]  # proportion metric -> "actual positives", ...
    min_group_size: int
    min_denominator: int

    @staticmethod
    def _base(metric: str) -> str:
        # the impact ratio of a group is its favourable rate over the highest one
        return "favourable_rate" if metric == "impact_ratio" else metric

    def denominator(self, metric: str) -> np.ndarray | None:
        """Rows in the metric's denominator, or None for a metric that is not a proportion."""
        return self.denominators.get(self._base(metric))

    def denominator_name(self, metric: str) -> str:
        return self.denominator_names.get(self._base(metric), "rows")

    def rows_ok(self) -> np.ndarray:
        """Groups that are not small (at least ``min_group_size`` rows, and at least one)."""
        return self.n_group >= max(self.min_group_size, 1)

    def evidenced(self, metric: str) -> np.ndarray:
        """Groups whose denominator for ``metric`` clears ``min_denominator``."""
        den = self.denominator(metric)
        return (self.n_group if den is None else den) >= self.min_denominator

    def eligible(self, metric: str) -> np.ndarray:
        """Groups a disparity on ``metric`` compares: evidenced and not small."""
        return self.rows_ok() & self.evidenced(metric)

    def exclusion(self, metric: str, i: int) -> tuple[int, int, str]:
        """(denominator, bar, reason) for group ``i`` left out of a disparity on ``metric``."""
        n = int(self.n_group[i])
        if n < max(self.min_group_size, 1):
            return n, self.min_group_size, f"fewer than {self.min_group_size} rows (min_group_size)"
        den = self.denominator(metric)
        d = n if den is None else int(den[i])
        return d, self.min_denominator, (f"fewer than {self.min_denominator} "
                                         f"{self.denominator_name(metric)} (min_denominator)")

    def too_few_reason(self, metric: str, n_left_out: int) -> str:
        """Why a disparity on ``metric`` is undefined when under two groups clear the bar."""
        name = self.denominator_name(metric)
        if name == "rows":
            bar = f"at least {max(self.min_denominator, self.min_group_size)} rows"
        else:
            bar = f"at least {self.min_denominator} {name} and {self.min_group_size} rows"
        return (f"fewer than two groups clear the evidence bar for {metric} ({bar}) with a defined "
                f"value; {n_left_out} group(s) left out")


# -- direction of harm ---------------------------------------------------------------------
# +1: a higher value is worse for the group; -1: a lower value is worse; 0: no direction.
# "pos" entries depend on whether the positive prediction is the adverse outcome: a rate of
# positive predictions within a stratum (selection rate, TPR, FPR) harms the group when high if
# the positive prediction is adverse, and when low if it is favourable.
_SIGN_IF_ADVERSE_POSITIVE = {
    "selection_rate": 1, "true_positive_rate": 1, "false_positive_rate": 1,
    "false_negative_rate": -1, "true_negative_rate": -1,
    # predictive values: among the adverse predictions a high share of wrong ones harms; among
    # the favourable predictions a high share of right ones means a stricter bar to get one
    "positive_predictive_value": -1, "false_discovery_rate": 1,
    "negative_predictive_value": 1, "false_omission_rate": -1,
}
_FIXED_SIGN = {
    "favourable_rate": -1, "impact_ratio": -1, "accuracy": -1, "balanced_accuracy": -1, "f1": -1,
    "roc_auc": -1, "expected_calibration_error": 1, "mean_absolute_error": 1,
    "root_mean_squared_error": 1,
}


def harm_sign(metric: str, adverse_is_positive: bool | None) -> int:
    """+1 if a higher value of ``metric`` is worse for a group, -1 if lower is worse, 0 if neither.

    With the positive prediction adverse (COMPAS "high risk"), a higher false positive rate is
    worse; with it favourable (a loan granted), a lower true positive rate is worse (more of
    the deserving are refused). ``base_rate``, ``mean_prediction`` and multiclass rates have no
    direction.
    """
    if metric in _FIXED_SIGN:
        return _FIXED_SIGN[metric]
    if metric in _SIGN_IF_ADVERSE_POSITIVE:
        sign = _SIGN_IF_ADVERSE_POSITIVE[metric]
        return sign if adverse_is_positive else -sign
    return 0


def disadvantaged(values: np.ndarray, eligible: np.ndarray, labels: tuple[GroupLabel, ...], metric: str,
                  adverse_is_positive: bool | None) -> GroupLabel | None:
    """The eligible group at the harmful extreme of ``metric`` (None if the metric has no direction)."""
    sign = harm_sign(metric, adverse_is_positive)
    v = np.where(eligible, values, np.nan)
    if sign == 0 or np.isnan(v).all():
        return None
    return labels[int(np.nanargmax(v) if sign > 0 else np.nanargmin(v))]


# -- reference groups ----------------------------------------------------------------------
def reference_groups(groupings: tuple[Grouping, ...], evidence: Evidence,
                     requested: Mapping[str, Any] | None) -> dict[str, GroupLabel]:
    """The reference group of every grouping: the requested one, else the largest evidenced one."""
    if requested is not None and not isinstance(requested, Mapping):
        raise FairnessInputError(
            "The 'reference_group' parameter of audit must be a mapping of grouping name to group "
            f"label, e.g. {{'race': 'White'}}; got a {type(requested).__name__}."
        )
    requested = dict(requested or {})
    names = [g.name for g in groupings]
    for key in requested:
        if key not in names:
            raise FairnessInputError(
                f"The 'reference_group' parameter names the grouping {key!r}, which the audit does "
                f"not produce.{did_you_mean(key, names)} Groupings: {', '.join(names)}."
            )
    n = evidence.n_group
    out: dict[str, GroupLabel] = {}
    start = 0
    ok = evidence.eligible("favourable_rate")  # rows (a proportion of rows, or rows themselves)
    for g in groupings:
        sl = slice(start, start + g.size)
        start += g.size
        if g.name in requested:
            out[g.name] = _requested_label(g, n[sl], requested[g.name])
            continue
        sizes = np.where(ok[sl], n[sl], -1)
        if sizes.max() < 0:  # no group clears the bar: the largest one
            sizes = n[sl]
        out[g.name] = g.labels[int(np.argmax(sizes))]
    return out


def _requested_label(g: Grouping, n: np.ndarray, value: Any) -> GroupLabel:
    """The group ``value`` names: a level for one attribute; a sequence with one level per
    attribute for an intersection (or, as reports before schema 1.2 wrote it, the levels joined
    by ", ", when that names one group only)."""
    present = [lab for lab, k in zip(g.labels, n, strict=True) if k > 0]
    if isinstance(value, (tuple, list)):
        label: Any = group_label(tuple(value))
    elif isinstance(value, str) and len(g.axes) > 1:
        joined = [lab for lab in present if ", ".join(lab) == value]
        label = joined[0] if len(joined) == 1 else value
    else:
        label = group_label((value,))
    if label not in present:
        # no label is echoed: group labels can be personal data
        raise FairnessInputError(
            f"The 'reference_group' for {g.name!r} names no group of that grouping present in the "
            f"data ({len(present)} groups are). Pass the label exactly as it appears in "
            "result.by_group (for an intersection, a list with one level per attribute), or omit "
            "it to use the largest evidenced group."
        )
    return label
