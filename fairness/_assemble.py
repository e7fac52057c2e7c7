"""Assembly phase of an audit: the arrays of every phase turned into :class:`FairnessResult` frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness import _metrics as M
from auditkit.fairness._counts import Counts
from auditkit.fairness._evaluate import Plan, Spec, deciding_base
from auditkit.fairness._evidence import Evidence, disadvantaged
from auditkit.fairness._result import EXCLUDED_COLUMNS, FairnessResult
from auditkit.fairness._uncertainty import Intervals

__all__ = ["Derived", "build_result"]


@dataclass(frozen=True)
class Derived:
    """Everything the phases of an audit computed, ready to be laid out as frames."""

    counts: Counts
    plan: Plan
    point: dict[str, np.ndarray]
    disp_point: dict[tuple[str, str], np.ndarray]
    specs: Sequence[Spec]
    intervals: Intervals
    evidence: Evidence
    eligible: dict[str, np.ndarray]
    w_group: np.ndarray
    pos_label: Any
    favourable_label: Any
    adverse_is_positive: bool | None
    reference: dict[str, M.GroupLabel]
    n_boot: int
    ci: float


def _index(plan: Plan) -> list[tuple[str, M.GroupLabel]]:
    return [(g.name, label) for g in plan.groupings for label in g.labels]


def _group_frames(d: Derived, present: np.ndarray, mindex: pd.MultiIndex) -> dict[str, pd.DataFrame]:
    ev = d.evidence
    cols = list(d.point)
    n = ev.n_group
    by_group = pd.DataFrame({"n": n[present], "weight": d.w_group[present],
                             "small": n[present] < ev.min_group_size}, index=mindex)
    for m in cols:
        by_group[m] = d.point[m][present]
    nan = np.full(len(present), np.nan)
    dens = {m: (ev.denominator(m)[present].astype(float)
                if m != "impact_ratio" and ev.denominator(m) is not None else nan) for m in cols}
    return {
        "by_group": by_group,
        "by_group_ci_low": pd.DataFrame({m: d.intervals.lo[m][present] for m in cols}, index=mindex),
        "by_group_ci_high": pd.DataFrame({m: d.intervals.hi[m][present] for m in cols}, index=mindex),
        "denominators": pd.DataFrame(dens, index=mindex),
        "evidenced": pd.DataFrame({m: ev.evidenced(m)[present] for m in cols}, index=mindex),
    }


def _undefined(d: Derived) -> pd.DataFrame:
    index = _index(d.plan)
    n = d.evidence.n_group
    rows = []
    for m, values in d.point.items():
        why = ("no eligible group has a positive favourable rate" if m == "impact_ratio" else
               M.METRICS.get(m, M.METRICS.get(m.split("[")[0] + "[*]")).undefined)
        for i, ((gname, glabel), v) in enumerate(zip(index, values, strict=True)):
            if np.isnan(v) and n[i] > 0 and (i > 0 or m != "impact_ratio"):
                rows.append((gname, glabel, m, why))
    return pd.DataFrame(rows, columns=["grouping", "group", "metric", "reason"])


def _reason(d: Derived, bases: tuple[str, ...], kind: str, sl: slice) -> str:
    """Why a disparity is NaN: a part with under two evidenced groups, or a ratio without a maximum."""
    n = d.evidence.n_group[sl]
    for b in bases:
        elig = d.eligible[b][sl]
        if int((elig & ~np.isnan(d.point[b][sl])).sum()) < 2:
            return d.evidence.too_few_reason(b, int(((n > 0) & ~elig).sum()))
    return "a ratio needs non-negative values and a positive maximum" if kind == "ratio" else ""


def _disparity_frames(d: Derived) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, excluded = [], []
    n = d.evidence.n_group
    for grp, sl in d.plan.slices():
        start = sl.start
        for name, bases, kind in d.specs:
            if (grp.name, name) not in d.disp_point:
                continue
            v = float(d.disp_point[(grp.name, name)])
            # the groups holding the extremes of the base metric that sets the value (for a
            # worst case such as equalized odds, the part with the largest difference or the
            # smallest ratio), among the groups evidenced for that metric
            base = deciding_base(d.point, bases, kind, d.eligible, sl)
            vals = np.where(d.eligible[base][sl], d.point[base][sl], np.nan)
            defined = ~np.isnan(vals)
            max_g = min_g = None
            if defined.any():
                max_g = grp.labels[int(np.nanargmax(vals))]
                min_g = grp.labels[int(np.nanargmin(vals))]
            left_out = set()
            for b in bases:
                for j in np.flatnonzero((n[sl] > 0) & ~d.eligible[b][sl]):
                    left_out.add(int(j))
                    den, bar, why = d.evidence.exclusion(b, start + int(j))
                    excluded.append((grp.name, name, grp.labels[j], b, den, bar, why))
            rows.append({
                "grouping": grp.name, "disparity": name, "metric": "+".join(bases), "kind": kind,
                "value": v, "ci_low": float(d.intervals.dlo[(grp.name, name)]),
                "ci_high": float(d.intervals.dhi[(grp.name, name)]), "max_group": max_g,
                "min_group": min_g,
                "disadvantaged_group": disadvantaged(d.point[base][sl], d.eligible[base][sl], grp.labels,
                                                     base, d.adverse_is_positive) if defined.any() else None,
                "n_groups": int(defined.sum()),
                "n_small": int(((n[sl] > 0) & ~d.evidence.rows_ok()[sl]).sum()),
                "n_excluded": len(left_out),
                "interval": d.intervals.methods.get(name, "none"),
                "reason": _reason(d, bases, kind, sl) if np.isnan(v) else "",
            })
    disparities = pd.DataFrame(rows).set_index(["grouping", "disparity"])
    return disparities, pd.DataFrame(excluded, columns=list(EXCLUDED_COLUMNS))


def build_result(d: Derived) -> FairnessResult:
    """The :class:`FairnessResult` of one audit."""
    index = _index(d.plan)
    n = d.evidence.n_group
    # empty intersections (level combinations no row has) are not groups
    present = np.flatnonzero(n[1:] > 0) + 1
    mindex = pd.MultiIndex.from_tuples([index[i] for i in present], names=["grouping", "group"])
    ocols = [m for m in d.point if m != "impact_ratio"]  # a between-group quantity
    overall = pd.DataFrame(
        {"value": [d.point[m][0] for m in ocols], "ci_low": [d.intervals.lo[m][0] for m in ocols],
         "ci_high": [d.intervals.hi[m][0] for m in ocols]}, index=pd.Index(ocols, name="metric"))
    frames = _group_frames(d, present, mindex)
    disparities, excluded = _disparity_frames(d)
    return FairnessResult(
        overall=overall, by_group=frames["by_group"], by_group_ci_low=frames["by_group_ci_low"],
        by_group_ci_high=frames["by_group_ci_high"], disparities=disparities, undefined=_undefined(d),
        metrics=tuple(d.point), task=d.plan.family, pos_label=d.pos_label,
        sensitive=d.counts.attributes, n_boot=d.n_boot, ci=float(d.ci),
        min_group_size=int(d.evidence.min_group_size), counts=d.counts,
        min_denominator=int(d.evidence.min_denominator), denominators=frames["denominators"],
        evidenced=frames["evidenced"], excluded=excluded, interval_methods=dict(d.intervals.methods),
        favourable_label=d.favourable_label, adverse_is_positive=d.adverse_is_positive,
        reference={k: v for k, v in d.reference.items() if k != "overall"},
    )
