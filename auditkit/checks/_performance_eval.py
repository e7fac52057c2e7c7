"""Measurements of the performance-by-group check: per-group AUC and calibration, and the gaps
between groups that clear the evidence bar (:mod:`auditkit.checks.performance`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditkit.checks import _performance_stats as st
from auditkit.errors import ConfigError, DataError
from auditkit.fairness import GroupLabel

__all__ = [
    "Gap",
    "GroupPerf",
    "LevelCell",
    "PerfData",
    "auc_gaps",
    "ece_gaps",
    "group_performance",
    "level_cells",
    "level_gaps",
    "prepare",
]

MISSING_LABEL = "<missing>"
_RANK = {"pass": 0, "insufficient_evidence": 1, "warn": 2, "fail": 3}


@dataclass(frozen=True)
class RowGroups:
    """The groups of one grouping: each row's group as a code into ``labels``. A label is a
    string for one attribute and a tuple of per-attribute labels for an intersection (the
    fairness result's :data:`auditkit.fairness.GroupLabel`), never text joined with a separator
    that a label could itself contain."""

    codes: np.ndarray
    labels: tuple[GroupLabel, ...]

    @classmethod
    def of(cls, *columns: np.ndarray) -> RowGroups:
        """The groups of the rows by one column of labels, or by several (an intersection)."""
        if len(columns) == 1:
            codes, uniques = pd.factorize(columns[0], sort=True)
            return cls(codes, tuple(uniques.tolist()))
        index = pd.MultiIndex.from_arrays(list(columns))
        codes, uniques = pd.factorize(index, sort=True)
        return cls(codes, tuple(tuple(u) for u in uniques))

    def each(self) -> Iterator[tuple[GroupLabel, np.ndarray]]:
        """``(label, row mask)`` of every group, in label order."""
        for code, label in enumerate(self.labels):
            yield label, self.codes == code


@dataclass(frozen=True)
class PerfData:
    """The rows the check judges: outcome, score and group labels (already pseudonymised)."""

    positive: np.ndarray
    score: np.ndarray
    groupings: dict[str, RowGroups]
    singles: tuple[str, ...]
    kind: str
    dropped: int
    levels: np.ndarray | None = None
    level_labels: tuple[str, ...] = ()


def _label(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return MISSING_LABEL
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _positive(y: np.ndarray, pos_label: Any) -> np.ndarray:
    classes = pd.unique(pd.Series(y).dropna())
    if len(classes) > 2:
        raise DataError(
            f"The label column has {len(classes)} distinct values; performance by group needs a "
            "binary label. Audit a one-vs-rest label, or disable [checks.performance]."
        )
    if pos_label is None:
        if set(classes.tolist()) <= {0, 1} or set(classes.tolist()) <= {-1, 1}:
            pos_label = 1
        else:
            raise ConfigError(
                "The label column is not 0/1, and [data] positive_label is not set; set it to "
                "the class the score measures (the score is the probability or risk of it)."
            )
    return np.asarray(pd.Series(y).eq(pos_label).to_numpy(), dtype=bool)


def score_kind(score: np.ndarray, requested: str, column: str) -> str:
    """``"probability"`` for non-integer scores inside [0, 1], else ``"ordinal"`` (or as asked;
    asking for a probability of a score outside [0, 1] is refused)."""
    inside = bool(score.size) and score.min() >= 0.0 and score.max() <= 1.0
    integer = bool(np.all(score == np.round(score)))
    if requested == "probability" and not inside:
        raise ConfigError(
            f"[checks.performance] score_kind = 'probability', but the score column {column!r} "
            "has values outside [0, 1]; a score outside [0, 1] is not a probability. Set "
            "score_kind = 'ordinal' (or 'auto')."
        )
    if requested != "auto":
        return requested
    return "probability" if inside and not integer else "ordinal"


def prepare(y: np.ndarray, score: np.ndarray, frame: pd.DataFrame, *, pos_label: Any,
            requested_kind: str, intersectional: bool, score_column: str) -> PerfData:
    """Drop rows without a finite score, label the groups, and read the kind of score."""
    s = np.asarray(score, dtype=float)
    keep = np.isfinite(s)
    if not keep.any():
        raise DataError(f"The score column {score_column!r} has no finite value to judge; check "
                        "that it holds numbers, or name another in [data] score.")
    positive = _positive(np.asarray(y)[keep], pos_label)
    s = s[keep]
    sub = frame.loc[keep]
    singles = tuple(str(c) for c in sub.columns)
    labels = {str(c): np.array([_label(v) for v in sub[c].to_numpy()], dtype=object) for c in sub.columns}
    groupings = {name: RowGroups.of(column) for name, column in labels.items()}
    if intersectional:
        for r in range(2, len(singles) + 1):
            for combo in itertools.combinations(singles, r):
                groupings[" × ".join(combo)] = RowGroups.of(*(labels[c] for c in combo))
    kind = score_kind(s, requested_kind, score_column)
    levels, level_labels = (None, ())
    if kind == "ordinal":
        levels, names = st.score_levels(s)
        level_labels = tuple(names)
    return PerfData(positive, s, groupings, singles, kind, int((~keep).sum()), levels, level_labels)


@dataclass(frozen=True)
class GroupPerf:
    """AUC and (for probabilities) ECE of one group, and whether each clears the bar.

    ``ece`` is bias-corrected by the row bootstrap (``2 * raw - mean of replicates``: the plain
    ECE of a small group is inflated by noise alone), ``ece_low``/``ece_high`` the basic
    bootstrap interval around it and ``ece_se`` the replicates' standard deviation; with no
    resampling ``ece`` is the plain ECE with no interval."""

    grouping: str
    group: GroupLabel
    rows: int
    auc: st.AucEstimate
    ece: float = math.nan
    ece_low: float = math.nan
    ece_high: float = math.nan
    ece_se: float = math.nan
    ece_raw: float = math.nan
    auc_evidenced: bool = False
    ece_evidenced: bool = False


def _ece_summary(y: np.ndarray, s: np.ndarray, n_boot: int, ci: float,
                 rng: np.random.Generator) -> dict[str, float]:
    raw = st.ece(y, s)
    if not n_boot or len(y) == 0:
        return {"ece": raw, "ece_low": raw, "ece_high": raw, "ece_se": 0.0, "ece_raw": raw}
    draws = st.ece_draws(y, s, n_boot, rng)
    q_lo, q_hi = np.quantile(draws, [(1 - ci) / 2, (1 + ci) / 2])
    corrected = max(0.0, 2 * raw - float(draws.mean()))
    return {"ece": corrected, "ece_low": max(0.0, 2 * raw - float(q_hi)),
            "ece_high": max(0.0, 2 * raw - float(q_lo)), "ece_se": float(draws.std(ddof=1)),
            "ece_raw": raw}


def group_performance(data: PerfData, *, bar: int, ci: float, n_boot: int,
                      rng: np.random.Generator) -> list[GroupPerf]:
    """Every group of every grouping (groupings in order, groups sorted by label)."""
    out = []
    for name, groups in data.groupings.items():
        for group, mask in groups.each():
            y, s = data.positive[mask], data.score[mask]
            auc = st.auc_delong(y, s, ci)
            extra: dict[str, Any] = {}
            if data.kind == "probability":
                extra = {**_ece_summary(y, s, n_boot, ci, rng),
                         "ece_evidenced": int(mask.sum()) >= bar}
            out.append(GroupPerf(name, group, int(mask.sum()), auc,
                                 auc_evidenced=min(auc.n_pos, auc.n_neg) >= bar, **extra))
    return out


@dataclass(frozen=True)
class Gap:
    """The gap between the best and the worst evidenced group of one grouping (or one score
    level of one grouping), with its interval and the verdict against the budget."""

    grouping: str
    value: float
    ci_low: float
    ci_high: float
    high_group: GroupLabel
    low_group: GroupLabel
    n_groups: int
    status: str
    excluded: tuple[tuple[str, str], ...] = ()
    level: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rank(self) -> tuple[int, float]:
        return _RANK[self.status], (self.value if self.value == self.value else -1.0)


def decide(value: float, low: float, high: float, budget: float, n_groups: int) -> str:
    """The gate's interval rule: ``fail`` when the whole interval exceeds the budget, ``warn``
    when it straddles it, ``pass`` when it is within; ``insufficient_evidence`` with fewer than
    two evidenced groups."""
    if n_groups < 2 or not math.isfinite(value):
        return "insufficient_evidence"
    if low > budget:
        return "fail"
    if value > budget or high > budget:
        return "warn"
    return "pass"


def worst(gaps: list[Gap]) -> Gap | None:
    """The gap that decides a finding: worst status, then largest value."""
    return max(gaps, key=lambda g: g.rank) if gaps else None


def auc_gaps(perf: list[GroupPerf], *, budget: float, ci: float, reason: Any) -> list[Gap]:
    """Per grouping: highest minus lowest AUC over groups with enough positives and negatives,
    with a simultaneous interval over every pair of them (DeLong standard errors)."""
    gaps = []
    for name in dict.fromkeys(p.grouping for p in perf):
        rows = [p for p in perf if p.grouping == name]
        ok = [p for p in rows if p.auc_evidenced and math.isfinite(p.auc.value)]
        excluded = tuple((p.group, reason(p, "auc")) for p in rows if p not in ok)
        if len(ok) < 2:
            gaps.append(Gap(name, math.nan, math.nan, math.nan, "", "", len(ok),
                            "insufficient_evidence", excluded))
            continue
        value, lo, hi = st.range_interval(np.array([p.auc.value for p in ok]),
                                          np.array([p.auc.se for p in ok]), ci)
        high = max(ok, key=lambda p: p.auc.value).group
        low = min(ok, key=lambda p: p.auc.value).group
        gaps.append(Gap(name, value, lo, hi, high, low, len(ok),
                        decide(value, lo, hi, budget, len(ok)), excluded))
    return gaps


def ece_gaps(perf: list[GroupPerf], *, budget: float, ci: float, reason: Any) -> list[Gap]:
    """Per grouping: largest minus smallest (bias-corrected) ECE over groups with enough rows,
    with a simultaneous interval over every pair of them (bootstrap standard errors)."""
    gaps = []
    for name in dict.fromkeys(p.grouping for p in perf):
        rows = [p for p in perf if p.grouping == name]
        ok = [p for p in rows if p.ece_evidenced and math.isfinite(p.ece)]
        excluded = tuple((p.group, reason(p, "ece")) for p in rows if p not in ok)
        if len(ok) < 2:
            gaps.append(Gap(name, math.nan, math.nan, math.nan, "", "", len(ok),
                            "insufficient_evidence", excluded))
            continue
        value, lo, hi = st.range_interval(np.array([p.ece for p in ok]),
                                          np.array([p.ece_se for p in ok]), ci)
        worst_group = max(ok, key=lambda p: p.ece).group  # the worst calibrated
        best_group = min(ok, key=lambda p: p.ece).group
        gaps.append(Gap(name, value, lo, hi, worst_group, best_group, len(ok),
                        decide(value, lo, hi, budget, len(ok)), excluded))
    return gaps


@dataclass(frozen=True)
class LevelCell:
    """One group at one score level: rows, positive outcomes, the rate and its Wilson interval."""

    grouping: str
    group: GroupLabel
    level: int
    n: int
    positives: int
    rate: float
    low: float
    high: float


def level_cells(data: PerfData, ci: float) -> list[LevelCell]:
    """Observed outcome rate per score level, by group of each single attribute."""
    assert data.levels is not None
    out = []
    for name in data.singles:
        for group, mask in data.groupings[name].each():
            n = np.bincount(data.levels[mask], minlength=len(data.level_labels))
            x = np.bincount(data.levels[mask], weights=data.positive[mask].astype(float),
                            minlength=len(data.level_labels))
            for lv in range(len(data.level_labels)):
                rate, lo, hi = st.wilson(int(x[lv]), int(n[lv]), ci)
                out.append(LevelCell(name, group, lv, int(n[lv]), int(x[lv]), rate, lo, hi))
    return out


def level_gaps(cells: list[LevelCell], data: PerfData, *, bar: int, budget: float, ci: float,
               reason: Any) -> list[Gap]:
    """Per attribute and score level: the largest difference in outcome rate between groups
    with at least ``bar`` rows at that level, with a simultaneous interval over every pair of
    them (Newcombe's interval per pair, Bonferroni-adjusted)."""
    gaps = []
    for name in data.singles:
        for lv, level in enumerate(data.level_labels):
            here = [c for c in cells if c.grouping == name and c.level == lv]
            ok = [c for c in here if c.n >= bar]
            excluded = tuple((c.group, reason(c, "level")) for c in here if c.n < bar and c.n > 0)
            if len(ok) < 2:
                gaps.append(Gap(name, math.nan, math.nan, math.nan, "", "", len(ok),
                                "insufficient_evidence", excluded, level=level))
                continue
            hi_c = max(ok, key=lambda c: c.rate)
            lo_c = min(ok, key=lambda c: c.rate)
            d, low, high = st.rate_range_interval([c.positives for c in ok], [c.n for c in ok], ci)
            gaps.append(Gap(name, d, low, high, hi_c.group, lo_c.group, len(ok),
                            decide(d, low, high, budget, len(ok)), excluded, level=level,
                            details={"high_rate": hi_c.rate, "low_rate": lo_c.rate,
                                     "high_n": hi_c.n, "low_n": lo_c.n}))
    return gaps
