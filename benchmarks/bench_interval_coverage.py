"""Benchmark: coverage of the 95% intervals, ours (Wilson / Jeffreys draws) vs the anchor.

The anchor is the interval the audit used before: the percentile bootstrap of the count tensor
(``auditkit.fairness._bootstrap.resample``, 1,000 resamples), which collapses to [0, 0] at 0/n.

1. One group's rate (x of n rows), true rate p, n in {10, 30, 100, 300}, p in
   {0.02, 0.1, 0.5, 0.9}. Coverage is computed exactly: the sum over x = 0..n of the binomial
   probability of x times whether the interval of x/n contains p (the anchor's interval of each
   x is its bootstrap interval, one per x, 1,000 resamples). Ours: the Wilson score interval.
2. Two groups of n rows each with rates (pA, pB): the difference |pA − pB| and the ratio
   min/max. Simulated, R samples per cell. Ours: quantiles of 1,000 Jeffreys draws per group,
   Beta(x + ½, n − x + ½); anchor: the count-tensor bootstrap of both groups.

Both sides come from the same run; the ratio column is ours / anchor coverage.

Usage::

    python benchmarks/bench_interval_coverage.py           # R = 1000, writes results/interval_coverage.txt
    python benchmarks/bench_interval_coverage.py --quick   # R = 200, nothing saved
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import emit, machine  # noqa: E402

from auditkit.fairness._bootstrap import resample  # noqa: E402
from auditkit.fairness._counts import Counts  # noqa: E402
from auditkit.fairness._intervals import jeffreys_draws, quantile_interval, wilson  # noqa: E402
from auditkit.fairness._metrics import disparity  # noqa: E402

NS = (10, 30, 100, 300)
PS = (0.02, 0.1, 0.5, 0.9)
PAIRS = ((0.02, 0.1), (0.1, 0.2), (0.5, 0.6), (0.9, 0.8))
CI = 0.95
N_BOOT = 1000


def _counts(xs: list[int], ns: list[int]) -> Counts:
    """Count tensor of groups whose predictions are x positives out of n rows (y = ŷ)."""
    n = np.zeros((len(xs), 2, 2), dtype=np.int64)
    for g, (x, m) in enumerate(zip(xs, ns, strict=True)):
        n[g, 1, 1], n[g, 0, 0] = x, m - x
    return Counts(attributes=("g",), levels=(tuple(f"g{i}" for i in range(len(xs))),),
                  task="classification", weighted=False, classes=(0, 1), n=n, w=n.astype(float),
                  w2=n.astype(float))


def _boot_rates(xs: list[int], ns: list[int], rng: np.random.Generator) -> np.ndarray:
    """(N_BOOT, G) bootstrap replicates of every group's rate of positive predictions."""
    reps = []
    for batch in resample(_counts(xs, ns), N_BOOT, rng):
        conf = batch["conf"]
        with np.errstate(divide="ignore", invalid="ignore"):
            reps.append(conf[..., :, 1].sum(axis=-1) / conf.sum(axis=(-2, -1)))
    return np.concatenate(reps)


def _pmf(n: int, p: float) -> np.ndarray:
    k = np.arange(n + 1)
    logc = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k])
    return np.exp(logc + k * math.log(p) + (n - k) * math.log1p(-p))


def single_rates(rng: np.random.Generator) -> list[str]:
    lines = ["1. one group's rate: exact coverage of the 95% interval (sum over x of P(x) * covered)",
             f"   {'n':>4} {'p':>5}   {'ours: Wilson':>12}   {'anchor: bootstrap':>17}   {'ratio':>6}"]
    for n in NS:
        x = np.arange(n + 1, dtype=float)
        lo, hi = wilson(x, np.full(n + 1, float(n)), CI)
        blo, bhi = np.empty(n + 1), np.empty(n + 1)
        for k in range(n + 1):
            b_lo, b_hi = quantile_interval(_boot_rates([k], [n], rng), CI)
            blo[k], bhi[k] = b_lo[0], b_hi[0]
        for p in PS:
            w = _pmf(n, p)
            ours = float((w * ((lo <= p) & (p <= hi))).sum())
            anchor = float((w * ((blo <= p) & (p <= bhi))).sum())
            lines.append(f"   {n:>4} {p:>5}   {ours:>12.3f}   {anchor:>17.3f}   {ours / anchor:>6.2f}")
    return lines


def two_groups(rng: np.random.Generator, reps: int) -> list[str]:
    lines = [f"2. two groups of n rows: simulated coverage of the 95% interval ({reps} samples per cell)",
             f"   {'n':>4} {'pA':>5} {'pB':>5}   {'difference: ours':>16} {'anchor':>7} {'ratio':>6}"
             f"   {'ratio: ours':>11} {'anchor':>7} {'ratio':>6}"]
    elig = np.array([True, True])
    for n in NS:
        for pa, pb in PAIRS:
            true_d, true_r = abs(pa - pb), min(pa, pb) / max(pa, pb)
            hits = np.zeros(4)
            for _ in range(reps):
                xs = [int(rng.binomial(n, pa)), int(rng.binomial(n, pb))]
                draws = jeffreys_draws(np.array(xs, float), np.array([n, n], float), N_BOOT, rng)
                boot = _boot_rates(xs, [n, n], rng)
                for j, (kind, truth) in enumerate((("difference", true_d), ("ratio", true_r))):
                    for k, reps_ in enumerate((draws, boot)):
                        lo, hi = quantile_interval(disparity(reps_, elig, kind), CI)
                        hits[2 * j + k] += bool(lo <= truth <= hi)
            c = hits / reps
            lines.append(f"   {n:>4} {pa:>5} {pb:>5}   {c[0]:>16.3f} {c[1]:>7.3f} {c[0] / c[1]:>6.2f}"
                         f"   {c[2]:>11.3f} {c[3]:>7.3f} {c[2] / max(c[3], 1e-9):>6.2f}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 samples per two-group cell; nothing saved.")
    args = ap.parse_args()
    reps = 200 if args.quick else 1000
    rng = np.random.default_rng(20261123)
    t0 = time.perf_counter()
    lines = [f"interval coverage benchmark, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
             + (" (--quick)" if args.quick else ""),
             f"machine: {machine()}",
             f"nominal level {CI:.0%}; ours: Wilson score (group rates), Jeffreys draws "
             f"(disparities, {N_BOOT} draws); anchor: count-tensor percentile bootstrap "
             f"({N_BOOT} resamples)", ""]
    lines += single_rates(rng) + [""] + two_groups(rng, reps)
    lines += ["", f"took {time.perf_counter() - t0:.1f} s"]
    emit("\n".join(lines) + "\n", ROOT / "benchmarks" / "results" / "interval_coverage.txt",
         save=not args.quick)


if __name__ == "__main__":
    main()
