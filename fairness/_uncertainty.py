"""Interval phase of an audit: Wilson, Jeffreys draws, or the count-tensor bootstrap, per quantity.

- Group rates that are single proportions (binary task): Wilson score intervals, closed form
  (computed whatever ``n_boot``).
- Disparities whose base metrics are all proportions, and the group impact ratios: quantiles of
  ``n_boot`` Monte Carlo draws of every group's rate from its Jeffreys posterior
  (:mod:`auditkit.fairness._intervals`).
- Everything else (ROC AUC, calibration, F1, balanced accuracy, regression and multiclass
  metrics, and their disparities): the percentile bootstrap of the count tensor
  (:mod:`auditkit.fairness._bootstrap`).

``result.interval_methods`` records which applies to each metric and disparity: ``"wilson"``,
``"jeffreys"``, ``"bootstrap"``, or ``"none"`` (``n_boot=0`` for a quantity that needs draws).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditkit.fairness._bootstrap import resample
from auditkit.fairness._counts import Counts
from auditkit.fairness._evaluate import Plan, Spec, disparities, evaluate, impact_ratio
from auditkit.fairness._intervals import jeffreys_draws, quantile_interval, wilson

__all__ = ["Intervals", "compute_intervals"]

BATCH = 250


@dataclass
class Intervals:
    """Lower and upper bounds of every group metric and disparity, and the method of each."""

    lo: dict[str, np.ndarray]
    hi: dict[str, np.ndarray]
    dlo: dict[tuple[str, str], float]
    dhi: dict[tuple[str, str], float]
    methods: dict[str, str] = field(default_factory=dict)


def _rng(random_state: int | np.random.Generator | None) -> tuple[np.random.Generator, np.random.Generator]:
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    boot, draws = rng.spawn(2)
    return boot, draws


def compute_intervals(counts: Counts, plan: Plan, classes: tuple[Any, ...], point: dict[str, np.ndarray],
                      disp_keys: Sequence[tuple[str, str]], specs: Sequence[Spec],
                      eligible: dict[str, np.ndarray], props: dict[str, tuple[np.ndarray, ...]],
                      auc_shift: np.ndarray | None, n_boot: int, ci: float,
                      random_state: int | np.random.Generator | None) -> Intervals:
    """Every interval of an audit; ``props`` holds (rows, x_eff, n_eff) of the proportion metrics."""
    g_total = len(next(iter(point.values())))
    out = Intervals({m: np.full(g_total, np.nan) for m in point},
                    {m: np.full(g_total, np.nan) for m in point},
                    {k: np.nan for k in disp_keys}, {k: np.nan for k in disp_keys})
    drawn = {m for m in point if m in props} | ({"impact_ratio"} if "impact_ratio" in point else set())
    jeff_specs = [s for s in specs if all(b in props for b in s[1])]
    boot_specs = [s for s in specs if s not in jeff_specs]
    boot_metrics = [m for m in point if m not in drawn]
    for m in point:
        if m in props:
            _, x, n = props[m]
            out.lo[m], out.hi[m] = wilson(x, n, ci)
    method = "none" if n_boot == 0 else None
    out.methods.update({m: "wilson" if m in props else (method or ("jeffreys" if m in drawn else "bootstrap"))
                        for m in point})
    out.methods.update({s[0]: method or ("jeffreys" if s in jeff_specs else "bootstrap") for s in specs})
    if n_boot == 0:
        return out
    boot_rng, draw_rng = _rng(random_state)
    if jeff_specs or "impact_ratio" in point:
        _jeffreys(out, plan, point, props, eligible, jeff_specs, n_boot, ci, draw_rng)
    if boot_metrics or boot_specs:
        _bootstrap(out, counts, plan, classes, boot_metrics, eligible, boot_specs, auc_shift, n_boot, ci,
                   boot_rng)
    _consistent(out, point, disparities(point, eligible, plan, specs))
    return out


def _jeffreys(out: Intervals, plan: Plan, point: dict[str, np.ndarray], props: dict[str, tuple[np.ndarray, ...]],
              eligible: dict[str, np.ndarray], specs: list[Spec], n_boot: int, ci: float,
              rng: np.random.Generator) -> None:
    """Quantiles of Jeffreys draws: disparities on proportions and the group impact ratios.

    Ratios and worst cases are computed on draws where a rate observed at 0 (or at its
    denominator) in every group the disparity compares is held there (:func:`_pin_uniform`),
    as the point estimate holds it at parity; a single difference uses the plain draws.
    """
    needed = sorted({b for s in specs for b in s[1]} | ({"favourable_rate"} if "impact_ratio" in point else set()))
    held = [s for s in specs if len(s[1]) > 1 or s[2] == "ratio"]
    plain = [s for s in specs if s not in held]
    reps: dict[Any, list[np.ndarray]] = {}
    done = 0
    while done < n_boot:
        b = min(BATCH, n_boot - done)
        done += b
        draws = {m: jeffreys_draws(props[m][1], props[m][2], b, rng) for m in needed}
        if "impact_ratio" in point:
            reps.setdefault("impact_ratio", []).append(
                impact_ratio(draws["favourable_rate"], eligible["favourable_rate"], plan))
        for key, v in disparities(draws, eligible, plan, plain).items():
            reps.setdefault(key, []).append(v)
        for key, v in disparities(_pin_uniform(draws, props, eligible, plan), eligible, plan,
                                  held).items():
            reps.setdefault(key, []).append(v)
    for key, parts in reps.items():
        lo, hi = quantile_interval(np.concatenate(parts), ci)
        if key == "impact_ratio":
            out.lo[key], out.hi[key] = lo, hi
        else:
            out.dlo[key], out.dhi[key] = float(lo), float(hi)


def _pin_uniform(draws: dict[str, np.ndarray], props: dict[str, tuple[np.ndarray, ...]],
                 eligible: dict[str, np.ndarray], plan: Plan) -> dict[str, np.ndarray]:
    """The draws, with a rate observed at 0 in every eligible group of a grouping held at 0 in
    every draw of those groups, and one observed at 1 (x = n) in all of them held at 1.

    The point estimate reads such a part as parity (ratio 1, difference 0: ``all_zero_is_parity``);
    Jeffreys draws are never exactly 0 or 1, and the ratio of two draws near 0 is anywhere in
    (0, 1), so without this the interval of a worst-case ratio collapses towards 0 while its
    point is near 1.
    """
    out = {}
    for m, d in draws.items():
        _, x, n = props[m]
        d = d.copy()
        for _, sl in plan.slices():
            elig = eligible[m][sl] & (n[sl] > 0)
            if elig.sum() < 2:
                continue
            cols = np.flatnonzero(elig) + sl.start
            if np.all(x[cols] <= 0):
                d[:, cols] = 0.0
            elif np.all(x[cols] >= n[cols]):
                d[:, cols] = 1.0
        out[m] = d
    return out


def _consistent(out: Intervals, point: dict[str, np.ndarray], disp_point: dict[tuple[str, str], np.ndarray]) -> None:
    """A NaN point gets a NaN interval; a disparity's interval is widened to reach its point.

    Percentile intervals of max − min (or min / max) over near-equal groups sit away from
    parity: the spread of noisy draws exceeds the spread of the estimates (docs/fairness.md,
    "Intervals of max − min"). The reported interval is the percentile interval joined with
    the point, so it always contains the estimate it qualifies.
    """
    for m, v in point.items():
        gone = np.isnan(v)
        out.lo[m] = np.where(gone, np.nan, out.lo[m])
        out.hi[m] = np.where(gone, np.nan, out.hi[m])
    for key, v in disp_point.items():
        p = float(v)
        if np.isnan(p):
            out.dlo[key] = out.dhi[key] = np.nan
        elif np.isfinite(out.dlo[key]) and np.isfinite(out.dhi[key]):
            out.dlo[key], out.dhi[key] = min(out.dlo[key], p), max(out.dhi[key], p)


def _bootstrap(out: Intervals, counts: Counts, plan: Plan, classes: tuple[Any, ...], metrics: list[str],
               eligible: dict[str, np.ndarray], specs: list[Spec], auc_shift: np.ndarray | None,
               n_boot: int, ci: float, rng: np.random.Generator) -> None:
    """Percentile intervals from count-tensor resamples, for what is not a single proportion."""
    reps: dict[Any, list[np.ndarray]] = {}
    for batch in resample(counts, n_boot, rng):
        vals = evaluate(batch, 1, plan, classes)
        if auc_shift is not None:
            vals["roc_auc"] = vals["roc_auc"] + auc_shift
        for m in metrics:
            reps.setdefault(m, []).append(vals[m])
        for key, v in disparities(vals, eligible, plan, specs).items():
            reps.setdefault(key, []).append(v)
    for key, parts in reps.items():
        lo, hi = quantile_interval(np.concatenate(parts), ci)
        if isinstance(key, tuple):
            out.dlo[key], out.dhi[key] = float(lo), float(hi)
        else:
            out.lo[key], out.hi[key] = lo, hi
