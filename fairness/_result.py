"""The fixed-type result of :func:`auditkit.fairness.audit`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._counts import Counts
from auditkit.fairness.errors import FairnessInputError, closest

__all__ = ["FairnessResult"]


@dataclass(frozen=True)
class FairnessResult:
    """Metrics by group, disparities and their bootstrap intervals.

    The type and the layout of every attribute are the same whatever the input shape (one or
    several sensitive attributes, numpy, pandas or Dask input).

    Attributes
    ----------
    overall:
        DataFrame indexed by metric with columns ``value``, ``ci_low``, ``ci_high``.
    by_group:
        DataFrame indexed by (``grouping``, ``group``) with columns ``n`` (rows), ``weight``
        (sum of sample weights), ``small`` (``n < min_group_size``), then one column per metric
        (and ``impact_ratio``: the group's selection rate over the highest of its grouping).
        A grouping is one attribute (``"sex"``) or an intersection (``"sex × race"``).
    by_group_ci_low, by_group_ci_high:
        The interval bounds, same index, one column per metric.
    disparities:
        DataFrame indexed by (``grouping``, ``disparity``) with columns ``metric``, ``kind``
        (``difference`` = max − min, ``ratio`` = min / max), ``value``, ``ci_low``, ``ci_high``,
        ``max_group``, ``min_group``, ``n_groups`` (groups compared), ``n_small`` (groups left
        out because ``n < min_group_size``) and ``reason`` (why ``value`` is NaN, else empty).
    undefined:
        DataFrame of every NaN group metric with the reason (``grouping``, ``group``,
        ``metric``, ``reason``).
    counts:
        The :class:`~auditkit.fairness._counts.Counts` the numbers derive from (mergeable).
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
                f"No disparity named {name!r} was computed.{closest(name, self.disparity_names)} "
                f"Computed: {', '.join(self.disparity_names)}."
            )
        rows = self.disparities.xs(name, level="disparity", drop_level=False)
        if grouping is not None:
            if grouping not in self.groupings:
                raise FairnessInputError(
                    f"No grouping named {grouping!r}.{closest(grouping, self.groupings)} "
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
                f"No metric named {metric!r} was computed.{closest(metric, self.by_group_ci_low.columns)}"
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (NaN becomes None)."""

        def clean(v: Any) -> Any:
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
            "metrics": list(self.metrics),
            "overall": records(self.overall.rename_axis("metric")),
            "by_group": records(self.by_group),
            "disparities": records(self.disparities),
            "undefined": records(self.undefined),
        }
