"""Simulated prediction logs for ``benchmarks/bench_monitor.py``, drawn at the level of the tables.

The monitor only ever sees the mergeable counts and features tables
(:mod:`auditkit.fairness._monitor_counts`), so a simulated stream is drawn directly as those
tables: per window and joint protected cell (one level of every attribute) the row count is fixed,
and the rows fall into the 80 outcome cells (``y_true`` x ``y_pred`` x 20 score bins) by one
multinomial draw, and into the bins of each feature by another. That is *exactly* the
distribution of the tables ``count_batch`` would give on rows drawn independently from the same
model (each row: ``y_true ~ Bernoulli(base)``, ``y_pred | y_true ~ Bernoulli(tpr or fpr)``, score
bin ``| y_true, y_pred`` from a fixed histogram, score = the bin's midpoint, feature bins from
fixed histograms), because the cell counts of n i.i.d. rows are multinomial. The tests check the
table built from cell counts against ``count_batch`` on the expanded rows, and the cell
probabilities against row-by-row draws.

Scores are the midpoints of the 20 score bins, so ``score_sum`` is ``n * midpoint`` exactly.
Features are independent of the outcome (their tables are per feature, so only each feature's
histogram per protected cell matters).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditkit.fairness._monitor import WindowSummary
from auditkit.fairness._monitor_counts import FEATURE_KEYS, FeatureBins, canonical
from auditkit.fairness._windows import Windowing, window_label

__all__ = ["CONFIGS", "EVIDENTLY_SCRIPT", "FEATURES", "MID", "drift_rows", "log_frame", "week_start", "OUTCOME", "SHIFT", "SimConfig", "WEEK", "cell_probs", "cells_to_counts",
           "draw_cells", "draw_features", "feature_bins", "features_table", "first_window", "rows_from_cells",
           "rows_sequential", "summaries"]

WEEK = Windowing("week")
N_SCORE_BINS = 20
MID = (np.arange(N_SCORE_BINS) + 0.5) / N_SCORE_BINS
#: base rate, true positive rate, false positive rate per level of the first attribute
#: (selection rate 0.40 for g0 and 0.475 for g1); the second attribute has no effect.
OUTCOME = {"g0": (0.40, 0.70, 0.20), "g1": (0.45, 0.75, 0.25)}
#: The planted change: g0's true and false positive rates both fall by 0.10, so its selection
#: rate (= base * tpr + (1 - base) * fpr) falls by exactly 0.10 (0.40 -> 0.30).
SHIFT = 0.10
#: Stable feature histograms: two numeric features (10 bins, the quantile bins of the first
#: batch) and one categorical with 4 categories.
FEATURES = {"x1": np.full(10, 0.1),
            "x2": np.array([0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.14, 0.12, 0.11, 0.09]),
            "c1": np.array([0.4, 0.3, 0.2, 0.1])}
CATEGORIES = ("a", "b", "c", "d")


def _score_hist() -> np.ndarray:
    """P(score bin | y_true, y_pred), shape (2, 2, 20): positive predictions score >= 0.5,
    true positives lean towards high scores, true negatives towards low ones."""
    out = np.zeros((2, 2, N_SCORE_BINS))
    up = np.arange(1, 11, dtype=float)
    for yt in (0, 1):
        for yp in (0, 1):
            w = up if yt else up[::-1]
            out[yt, yp, 10 * yp:10 * yp + 10] = w / w.sum()
    return out


SCORE_HIST = _score_hist()


@dataclass(frozen=True)
class SimConfig:
    """A simulated log: protected attributes, their levels, rows per joint cell per window."""

    name: str
    attributes: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    sizes: tuple[int, ...]  # rows per joint cell, flattened in C order over the levels

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(lv) for lv in self.levels)

    def joint_levels(self) -> list[tuple[str, ...]]:
        """The levels of each joint cell, in the order of ``sizes``."""
        return [tuple(lv[i] for lv, i in zip(self.levels, idx, strict=True)) for idx in np.ndindex(self.shape)]

    def group_rows(self) -> dict[str, dict[str, int]]:
        """Rows per window of every group of every attribute."""
        grid = np.asarray(self.sizes).reshape(self.shape)
        out = {}
        for a, (name, lv) in enumerate(zip(self.attributes, self.levels, strict=True)):
            other = tuple(i for i in range(len(self.shape)) if i != a)
            out[name] = dict(zip(lv, (int(v) for v in grid.sum(axis=other)), strict=True))
        return out


_B = np.rint(np.outer([0.25, 0.75], [0.25, 0.35, 0.40]) * 2000).astype(int).ravel()
CONFIGS = {
    "A": SimConfig("A", ("attr1",), (("g0", "g1"),), (500, 1500)),
    "B": SimConfig("B", ("attr1", "attr2"), (("g0", "g1"), ("h0", "h1", "h2")), tuple(int(v) for v in _B)),
}


def cell_probs(base: float, tpr: float, fpr: float) -> np.ndarray:
    """Probabilities of the 80 outcome cells, index ``(y_true * 2 + y_pred) * 20 + score_bin``."""
    p_yt = np.array([1 - base, base])
    p_yp = np.array([[1 - fpr, fpr], [1 - tpr, tpr]])  # [y_true, y_pred]
    return (p_yt[:, None, None] * p_yp[:, :, None] * SCORE_HIST).ravel()


def _pvals(config: SimConfig, n_windows: int, shift_at: int | None, delta: float) -> np.ndarray:
    joint = config.joint_levels()
    p = np.stack([cell_probs(*OUTCOME[j[0]]) for j in joint])  # (J, 80)
    out = np.broadcast_to(p, (n_windows, *p.shape)).copy()
    if shift_at is not None:
        base, tpr, fpr = OUTCOME["g0"]
        shifted = cell_probs(base, tpr - delta, fpr - delta)
        hit = [i for i, j in enumerate(joint) if j[0] == "g0"]
        out[shift_at:, hit] = shifted
    return out


def draw_cells(rng: np.random.Generator, config: SimConfig, n_windows: int, *, shift_at: int | None = None,
               delta: float = SHIFT) -> np.ndarray:
    """Outcome cell counts, shape (windows, joint cells, 80): one multinomial per window and
    joint cell. ``shift_at``: the first window (0-based) of g0's lower selection rate."""
    sizes = np.broadcast_to(np.asarray(config.sizes), (n_windows, len(config.sizes)))
    return rng.multinomial(sizes, _pvals(config, n_windows, shift_at, delta))


def draw_features(rng: np.random.Generator, config: SimConfig, n_windows: int) -> dict[str, np.ndarray]:
    """Feature bin counts per feature, shape (windows, joint cells, bins)."""
    sizes = np.broadcast_to(np.asarray(config.sizes), (n_windows, len(config.sizes)))
    return {f: rng.multinomial(sizes, np.broadcast_to(p, (*sizes.shape, len(p)))) for f, p in FEATURES.items()}


def first_window() -> int:
    """The window index of 2025-W02 (Monday 2025-01-06), where the simulated year starts."""
    return ((dt.date(2025, 1, 6) - dt.date(1970, 1, 1)).days + 3) // 7


def cells_to_counts(config: SimConfig, windows: np.ndarray, cells: np.ndarray) -> pd.DataFrame:
    """The counts table of cell counts (windows x joint cells x 80), as ``count_batch`` lays it out."""
    w, j, c = np.nonzero(cells)
    n = cells[w, j, c]
    joint = np.array(config.joint_levels(), dtype=object).reshape(len(config.sizes), len(config.attributes))
    table = {"window": np.asarray(windows)[w]}
    for a, name in enumerate(config.attributes):
        table[name] = joint[j, a]
    yt, yp, sb = c // 40, (c // 20) % 2, c % 20
    table.update(y_pred=np.array(["0", "1"], dtype=object)[yp], y_true=np.array(["0", "1"], dtype=object)[yt],
                 score_bin=sb, n=n, score_sum=n * MID[sb])
    keys = ["window", *config.attributes, "y_pred", "y_true", "score_bin"]
    out = canonical(pd.DataFrame(table), keys)
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def features_table(config: SimConfig, windows: np.ndarray, fcells: dict[str, np.ndarray]) -> pd.DataFrame:
    """The features table (all rows, and each attribute's groups) of feature bin counts."""
    parts = []
    for f, counts in fcells.items():
        grid = counts.reshape(counts.shape[0], *config.shape, counts.shape[-1])
        attr_axes = tuple(range(1, 1 + len(config.shape)))
        groupings = [("", [""], grid.sum(axis=attr_axes)[:, None, :])]
        for a, (name, lv) in enumerate(zip(config.attributes, config.levels, strict=True)):
            groupings.append((name, list(lv), grid.sum(axis=tuple(x for x in attr_axes if x != a + 1))))
        for grouping, labels, h in groupings:  # h: (windows, groups, bins)
            w, g, b = np.nonzero(h)
            parts.append(pd.DataFrame({"window": np.asarray(windows)[w], "feature": f, "grouping": grouping,
                                       "group": np.array(labels, dtype=object)[g], "bin": b, "n": h[w, g, b]}))
    out = canonical(pd.concat(parts, ignore_index=True), FEATURE_KEYS)
    return out.sort_values(FEATURE_KEYS, kind="stable").reset_index(drop=True)


def feature_bins() -> FeatureBins:
    """The fixed bins of the simulated features: numeric value ``b + 0.5`` falls in bin ``b``."""
    edges = tuple(float(e) for e in range(1, 10))
    return FeatureBins(numeric={"x1": edges, "x2": edges}, categorical={"c1": CATEGORIES})


def rows_from_cells(rng: np.random.Generator, config: SimConfig, window: int, cells: np.ndarray,
                    fcells: dict[str, np.ndarray]) -> pd.DataFrame:
    """The rows behind one window's cell counts (``cells``: joint cells x 80; ``fcells``: per
    feature, joint cells x bins), in random order, with timestamps inside the window's week."""
    parts = []
    for j, levels in enumerate(config.joint_levels()):
        c = np.repeat(np.arange(cells.shape[1]), cells[j])
        part = {name: np.full(len(c), lv, dtype=object) for name, lv in zip(config.attributes, levels, strict=True)}
        part.update(y_true=c // 40, y_pred=(c // 20) % 2, score=MID[c % 20])
        for f, h in fcells.items():
            b = rng.permutation(np.repeat(np.arange(h.shape[1]), h[j]))
            part[f] = np.array(CATEGORIES, dtype=object)[b] if f == "c1" else b + 0.5
        parts.append(pd.DataFrame(part))
    rows = pd.concat(parts, ignore_index=True)
    rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
    start = pd.Timestamp(dt.date(1970, 1, 1), tz="UTC") + pd.Timedelta(days=7 * window - 3)
    rows.insert(0, "timestamp", start + pd.to_timedelta(rng.integers(0, 7 * 86_400, len(rows)), unit="s"))
    return rows


def rows_sequential(rng: np.random.Generator, n: int, base: float, tpr: float, fpr: float) -> np.ndarray:
    """The outcome cell of ``n`` rows drawn one by one (y_true, then y_pred, then the score bin)."""
    yt = rng.random(n) < base
    yp = rng.random(n) < np.where(yt, tpr, fpr)
    u = rng.random(n)
    cdf = np.cumsum(SCORE_HIST, axis=-1)[yt.astype(int), yp.astype(int)]
    sb = np.minimum((u[:, None] >= cdf).sum(axis=1), N_SCORE_BINS - 1)
    return (yt.astype(int) * 2 + yp.astype(int)) * 20 + sb


def summaries(config: SimConfig, windows: np.ndarray) -> list[WindowSummary]:
    """Every window closed, labels complete."""
    rows = int(sum(config.sizes))
    return [WindowSummary(int(w), window_label(int(w), WEEK), rows, 1.0, True, True) for w in windows]


def week_start(window: int) -> pd.Timestamp:
    """Monday 00:00 UTC of an ISO-week window."""
    return pd.Timestamp("1970-01-01", tz="UTC") + pd.Timedelta(days=7 * int(window) - 3)


def log_frame(rng: np.random.Generator, n: int, start: pd.Timestamp, span: pd.Timedelta, *,
              features: tuple[str, ...] = ()) -> pd.DataFrame:
    """``n`` rows of a prediction log with timestamps in ``[start, start + span)``: two
    categorical protected attributes (attr1: g0 25%, g1 75%; attr2: h0/h1/h2 25/35/40%), a 0/1
    prediction, a score in [0, 1], and the named features among x1 (uniform 0-10), x2 (normal),
    c1 (categorical a-d)."""
    ns = rng.integers(0, span.value, n, dtype=np.int64) + start.value
    frame = {
        "timestamp": pd.to_datetime(ns, unit="ns", utc=True),
        "attr1": pd.Categorical.from_codes(rng.choice(2, n, p=[0.25, 0.75]).astype(np.int8), ["g0", "g1"]),
        "attr2": pd.Categorical.from_codes(rng.choice(3, n, p=[0.25, 0.35, 0.40]).astype(np.int8),
                                           ["h0", "h1", "h2"]),
        "score": rng.random(n),
    }
    frame["prediction"] = (frame["score"] >= 0.55).astype(np.int8)
    makers = {"x1": lambda: rng.random(n) * 10.0, "x2": lambda: rng.standard_normal(n),
              "c1": lambda: pd.Categorical.from_codes(rng.choice(4, n, p=FEATURES["c1"]).astype(np.int8),
                                                      list(CATEGORIES))}
    for f in features:
        frame[f] = makers[f]()
    return pd.DataFrame(frame)


def drift_rows(rows: int, features: tuple[str, ...]) -> pd.DataFrame:
    """8 weeks of ``rows`` rows each (column ``week``, 1-8), x1 + 1.0 in group g0 from week 7."""
    w0 = first_window()
    data = log_frame(np.random.default_rng(5), rows * 8, week_start(w0), pd.Timedelta(weeks=8), features=features)
    week = ((data["timestamp"] - week_start(w0)) // pd.Timedelta(weeks=1)).to_numpy() + 1
    data["week"] = week
    data.loc[(data["attr1"] == "g0").to_numpy() & (week >= 7), "x1"] += 1.0
    return data


#: Run by the interpreter that has Evidently (its own virtual environment, pandas < 3): one
#: DataDriftPreset report per current week (5-8) against weeks 1-4, on all rows and on each
#: group of attr1; prints JSON (version; per report: week, group, seconds, per column
#: [method, score, threshold], dataset [drifted columns, share, drift share]).
EVIDENTLY_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import evidently
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
data = pd.read_parquet(sys.argv[1])
feats = ["x1", "x2", "c1"]
ref = data[data["week"] <= 4]
out = []
for week in sorted(data.loc[data["week"] > 4, "week"].unique()):
    cur = data[data["week"] == week]
    for group in ["", "g0", "g1"]:
        r, c = (ref, cur) if not group else (ref[ref["attr1"] == group], cur[cur["attr1"] == group])
        t = time.perf_counter()
        snap = Report([DataDriftPreset()]).run(current_data=c[feats], reference_data=r[feats])
        sec = time.perf_counter() - t
        cols, share = {}, None
        for m in snap.dict()["metrics"]:
            cfg = m["config"]
            if cfg.get("column"):
                cols[cfg["column"]] = [cfg["method"], float(m["value"]), float(cfg["threshold"])]
            elif "drift_share" in cfg:
                share = [m["value"]["count"], m["value"]["share"], cfg["drift_share"]]
        out.append({"week": int(week), "group": group, "seconds": sec, "columns": cols, "dataset": share})
print(json.dumps({"version": evidently.__version__, "reports": out}))
"""
