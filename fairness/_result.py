"""The fixed-type result of :func:`auditkit.fairness.audit`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._counts import Counts
from auditkit.fairness._metrics import GroupLabel
from auditkit.fairness.errors import FairnessInputError
from auditkit.hints import did_you_mean

__all__ = ["EXCLUDED_COLUMNS", "FairnessResult"]

#: Columns of :attr:`FairnessResult.excluded`.
EXCLUDED_COLUMNS = ("grouping", "disparity", "group", "metric", "denominator", "bar", "reason")


def _empty(columns: tuple[str, ...] = ()) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


@dataclass(frozen=True)
class FairnessResult:
    """Metrics by group, disparities, their intervals and the evidence behind each.

    The type and the layout of every attribute are the same whatever the input shape (one or
    several sensitive attributes, numpy, pandas or Dask input).

    Attributes
    ----------
    overall:
        DataFrame indexed by metric with columns ``value``, ``ci_low``, ``ci_high``.
    by_group:
        DataFrame indexed by (``grouping``, ``group``) with columns ``n`` (rows), ``weight``
        (sum of sample weights), ``small`` (``n < min_group_size``), then one column per metric
        (and ``impact_ratio``: the group's favourable rate over the highest favourable rate
        among the evidenced groups of its grouping). A grouping is one attribute (``"sex"``) or
        an intersection (``"sex × race"``); a group of one attribute is labelled by its level
        (``"F"``), a group of an intersection by a tuple with one level per attribute
        (``("F", "Black")``), so ``by_group.loc[("sex × race", ("F", "Black")), :]``.
    by_group_ci_low, by_group_ci_high:
        The interval bounds, same index, one column per metric (:attr:`interval_methods`).
    disparities:
        DataFrame indexed by (``grouping``, ``disparity``) with columns ``metric``, ``kind``
        (``difference`` = max − min, ``ratio`` = min / max), ``value``, ``ci_low``, ``ci_high``,
        ``max_group``, ``min_group``, ``disadvantaged_group`` (the group at the harmful
        extreme; see docs/fairness.md), ``n_groups`` (groups compared), ``n_small`` (groups
        under ``min_group_size`` rows), ``n_excluded`` (groups left out of at least one base
        metric: small, or below the evidence bar), ``interval`` (its method) and ``reason``
        (why ``value`` is NaN, else empty).
    undefined:
        DataFrame of every NaN group metric with the reason (``grouping``, ``group``,
        ``metric``, ``reason``).
    counts:
        The :class:`~auditkit.fairness._counts.Counts` the numbers derive from (mergeable).
    min_denominator:
        The evidence bar: a group is compared on a rate only when the rate's denominator
        (actual positives for TPR/FNR, actual negatives for FPR/TNR, predicted positives for
        PPV/FDR, predicted negatives for NPV/FOR, rows for selection/base/favourable rate and
        accuracy; rows for metrics that are not single proportions) has at least this many rows.
    denominators:
        Same index as :attr:`by_group`, one column per metric: the unweighted rows in the
        metric's denominator (NaN for metrics that are not single proportions).
    evidenced:
        Same layout, booleans: the denominator (rows, for non-proportions) clears
        :attr:`min_denominator`.
    excluded:
        One row per group and base metric left out of a disparity: ``grouping``,
        ``disparity``, ``group``, ``metric``, ``denominator``, ``bar`` and ``reason``.
    interval_methods:
        Metric or disparity name -> ``"wilson"``, ``"jeffreys"``, ``"bootstrap"`` or ``"none"``.
    favourable_label, adverse_is_positive:
        The label treated as the favourable outcome, and whether the positive prediction is
        the adverse one (None for regression and multiclass audits).
    reference:
        Grouping -> its reference group (given, or the largest evidenced group; a tuple for an
        intersection); see :meth:`ratio_to_reference`.
    """

    overall: pd.DataFrame
    by_group: pd.DataFrame
    by_group_ci_low: pd.DataFrame
    by_group_ci_high: pd.DataFrame
    disparities: pd.DataFrame
    undefined: pd.DataFrame
    metrics: tuple[str, ...]
    task: str
    pos_label: Any
    sensitive: tuple[str, ...]
    n_boot: int
    ci: float
    min_group_size: int
    counts: Counts = field(repr=False)
    min_denominator: int = 30
    denominators: pd.DataFrame = field(default_factory=_empty, repr=False)
    evidenced: pd.DataFrame = field(default_factory=_empty, repr=False)
    excluded: pd.DataFrame = field(default_factory=lambda: _empty(EXCLUDED_COLUMNS), repr=False)
    interval_methods: dict[str, str] = field(default_factory=dict, repr=False)
    favourable_label: Any = None
    adverse_is_positive: bool | None = None
    reference: dict[str, GroupLabel] = field(default_factory=dict)

    # -- access ------------------------------------------------------------------------
    @property
    def group_sizes(self) -> pd.Series:
        """Rows per group, indexed like :attr:`by_group`."""
        return self.by_group["n"]

    @property
    def groupings(self) -> list[str]:
        return list(dict.fromkeys(self.by_group.index.get_level_values("grouping")))

    @property
    def disparity_names(self) -> list[str]:
        return list(dict.fromkeys(self.disparities.index.get_level_values("disparity")))

    def disparity(self, name: str, grouping: str | None = None) -> pd.DataFrame:
        """Rows of :attr:`disparities` for ``name`` (one grouping, or all of them)."""
        if name not in self.disparity_names:
            raise FairnessInputError(
                f"No disparity named {name!r} was computed.{did_you_mean(name, self.disparity_names)} "
                f"Computed: {', '.join(self.disparity_names)}."
            )
        rows = self.disparities.xs(name, level="disparity", drop_level=False)
        if grouping is not None:
            if grouping not in self.groupings:
                raise FairnessInputError(
                    f"No grouping named {grouping!r}.{did_you_mean(grouping, self.groupings)} "
                    f"Groupings: {', '.join(self.groupings)}."
                )
            rows = rows.xs(grouping, level="grouping", drop_level=False)
        return rows

    def metric_table(self, metric: str, *, suppress_small: bool = False) -> pd.DataFrame:
        """One metric by group with its interval: ``n``, ``value``, ``ci_low``, ``ci_high``.

        With ``suppress_small`` the value and interval of groups below ``min_group_size`` are
        blanked (NaN) and ``n`` is shown as ``None``: small cells can re-identify people.
        """
        if metric not in self.by_group_ci_low.columns:
            raise FairnessInputError(
                f"No metric named {metric!r} was computed.{did_you_mean(metric, self.by_group_ci_low.columns)}"
            )
        out = pd.DataFrame({
            "n": self.by_group["n"].astype(object),
            "value": self.by_group[metric],
            "ci_low": self.by_group_ci_low[metric],
            "ci_high": self.by_group_ci_high[metric],
        })
        if suppress_small:
            small = self.by_group["small"].to_numpy()
            out.loc[small, ["value", "ci_low", "ci_high"]] = np.nan
            out.loc[small, "n"] = None
        return out

    def ratio_to_reference(self, metric: str) -> pd.Series:
        """Each group's ``metric`` over its grouping's reference group's (as Aequitas reports).

        Indexed like :attr:`by_group`; NaN where either value is undefined or the reference's is 0.
        """
        if metric not in self.by_group_ci_low.columns:
            raise FairnessInputError(
                f"No metric named {metric!r} was computed.{did_you_mean(metric, self.by_group_ci_low.columns)}"
            )
        values = self.by_group[metric].astype(float)
        ref = pd.Series(
            [values.get((g, self.reference[g]), np.nan) if g in self.reference else np.nan
             for g in values.index.get_level_values("grouping")], index=values.index)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = values / ref.where(ref != 0)
        return out.rename(f"{metric}_ratio_to_reference")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (NaN becomes None; an intersection's group label, a list of levels)."""

        def clean(v: Any) -> Any:
            if isinstance(v, tuple):
                return list(v)
            if isinstance(v, (np.floating, float)):
                return float(v) if math.isfinite(v) else None
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v

        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: clean(v) for k, v in r.items()} for r in df.reset_index().to_dict("records")]

        return {
            "task": self.task,
            "pos_label": clean(self.pos_label) if not isinstance(self.pos_label, str) else self.pos_label,
            "sensitive": list(self.sensitive),
            "n_boot": self.n_boot,
            "ci": self.ci,
            "min_group_size": self.min_group_size,
            "min_denominator": self.min_denominator,
            "favourable_label": (clean(self.favourable_label) if not isinstance(self.favourable_label, str)
                                 else self.favourable_label),
            "adverse_is_positive": self.adverse_is_positive,
            "reference": {k: clean(v) for k, v in self.reference.items()},
            "interval_methods": dict(self.interval_methods),
            "metrics": list(self.metrics),
            "overall": records(self.overall.rename_axis("metric")),
            "by_group": records(self.by_group),
            "disparities": records(self.disparities),
            "undefined": records(self.undefined),
            "denominators": records(self.denominators),
            "evidenced": records(self.evidenced),
            "excluded": records(self.excluded),
        }
