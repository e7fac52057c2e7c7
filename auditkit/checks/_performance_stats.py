"""Statistics of the performance-by-group check (:mod:`auditkit.checks.performance`).

- :func:`auc_delong`: ROC AUC (Mann–Whitney, ties count one half) with DeLong's variance and an
  interval on the logit scale, so that it stays inside [0, 1].
- :func:`ece` and :func:`ece_draws`: expected calibration error over equal-width bins of a
  probability, and its row-bootstrap draws.
- :func:`wilson` and :func:`newcombe`: the Wilson score interval of a rate and Newcombe's hybrid
  score interval of the difference of two independent rates (built from the two Wilson
  intervals); neither collapses to a point at 0/n or n/n.
- :func:`range_interval` and :func:`rate_range_interval`: the gap between the best and the worst
  group with a simultaneous (Bonferroni) interval over every pair of groups.
- :func:`score_levels`: the levels an ordinal or unbounded score is judged at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "AucEstimate",
    "auc_delong",
    "ece",
    "ece_draws",
    "newcombe",
    "range_interval",
    "rate_range_interval",
    "score_levels",
    "wilson",
    "z_value",
]

#: Largest number of distinct integer scores treated as levels of their own; more are binned.
MAX_LEVELS = 20
#: Bins of an unbounded score (quantiles of the pooled scores).
N_QUANTILE_LEVELS = 10
#: Resampled rows held in memory at once by :func:`ece_draws`.
_CHUNK = 4_000_000


def z_value(ci: float) -> float:
    """The two-sided standard-normal quantile of a ``ci`` interval (1.96 for 0.95)."""
    return NormalDist().inv_cdf(0.5 + ci / 2)


@dataclass(frozen=True)
class AucEstimate:
    """ROC AUC of one group: value, interval, DeLong standard error, class counts."""

    value: float
    ci_low: float
    ci_high: float
    se: float
    n_pos: int
    n_neg: int


def auc_delong(positive: np.ndarray, score: np.ndarray, ci: float = 0.95) -> AucEstimate:
    """ROC AUC of ``score`` for the boolean ``positive`` with DeLong's interval.

    The AUC is the probability that a random positive scores above a random negative (ties
    count one half). DeLong's placement values give its variance; the interval is taken on the
    logit scale and mapped back. With no positive or no negative the AUC is NaN; at exactly 0
    or 1 the variance is 0 and the interval is the point (the check's evidence bar, a minimum
    count of positives and negatives, keeps such groups out of verdicts when they are small).

    Examples
    --------
    >>> import numpy as np
    >>> round(auc_delong(np.array([1, 1, 0, 0], bool), np.array([0.9, 0.4, 0.5, 0.1])).value, 2)
    0.75
    """
    from scipy.stats import rankdata

    pos = np.asarray(positive, dtype=bool)
    s = np.asarray(score, dtype=float)
    m, n = int(pos.sum()), int((~pos).sum())
    if m == 0 or n == 0:
        return AucEstimate(math.nan, math.nan, math.nan, math.nan, m, n)
    r_all = rankdata(s)
    v10 = (r_all[pos] - rankdata(s[pos])) / n  # share of negatives each positive outranks
    v01 = 1.0 - (r_all[~pos] - rankdata(s[~pos])) / m  # share of positives above each negative
    auc = float(v10.mean())
    var = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    if not 0.0 < auc < 1.0 or var <= 0.0:
        return AucEstimate(auc, auc, auc, 0.0, m, n)
    se_logit = math.sqrt(var) / (auc * (1.0 - auc))
    centre = math.log(auc / (1.0 - auc))
    z = z_value(ci)
    return AucEstimate(auc, _expit(centre - z * se_logit), _expit(centre + z * se_logit),
                       math.sqrt(var), m, n)


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _bins(score: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((np.clip(score, 0.0, 1.0) * n_bins).astype(int), n_bins - 1)


def ece(outcome: np.ndarray, score: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: over ``n_bins`` equal-width bins of [0, 1], the share of rows
    in the bin times the gap between the bin's observed rate and its mean score.

    Equivalently ``sum over bins |sum(outcome - score)| / rows``.

    Examples
    --------
    >>> import numpy as np
    >>> round(ece(np.array([1, 0, 1, 1]), np.array([0.95, 0.95, 0.05, 0.05])), 3)
    0.7

    (the top bin holds 0.95, 0.95 with outcomes 1, 0: |1 − 1.9| = 0.9; the bottom bin 0.05,
    0.05 with outcomes 1, 1: |2 − 0.1| = 1.9; (0.9 + 1.9) / 4 = 0.7)
    """
    y = np.asarray(outcome, dtype=float)
    s = np.asarray(score, dtype=float)
    if len(y) == 0:
        return math.nan
    sums = np.bincount(_bins(s, n_bins), weights=y - s, minlength=n_bins)
    return float(np.abs(sums).sum() / len(y))


def ece_draws(outcome: np.ndarray, score: np.ndarray, n_draws: int, rng: np.random.Generator,
              n_bins: int = 10) -> np.ndarray:
    """``n_draws`` row-bootstrap replicates of :func:`ece` (resampling the group's rows)."""
    y = np.asarray(outcome, dtype=float)
    s = np.asarray(score, dtype=float)
    n = len(y)
    if n == 0 or n_draws == 0:
        return np.full(n_draws, math.nan)
    b, d = _bins(s, n_bins), y - s
    out = np.empty(n_draws)
    step = max(1, _CHUNK // n)
    for start in range(0, n_draws, step):
        k = min(step, n_draws - start)
        idx = rng.integers(0, n, size=(k, n))
        flat = (b[idx] + n_bins * np.arange(k)[:, None]).ravel()
        sums = np.bincount(flat, weights=d[idx].ravel(), minlength=n_bins * k).reshape(k, n_bins)
        out[start:start + k] = np.abs(sums).sum(axis=1) / n
    return out


def range_interval(values: np.ndarray, ses: np.ndarray, ci: float = 0.95) -> tuple[float, float, float]:
    """The range (largest minus smallest) of ``values`` and a simultaneous interval for it.

    Every ordered pair's difference gets a normal interval with the standard errors ``ses``
    combined as independent, at level ``1 - (1 - ci) / pairs`` (Bonferroni over the pairs); as
    the true range is the largest true pairwise difference, it lies within [largest lower bound
    (at least 0), largest upper bound] whenever every pair's interval holds. Unlike the spread of
    bootstrap draws, this does not report a gap among groups that are in truth equal.

    Examples
    --------
    >>> import numpy as np
    >>> [round(v, 3) for v in range_interval(np.array([0.8, 0.7]), np.array([0.01, 0.01]))]
    [0.1, 0.072, 0.128]
    """
    v = np.asarray(values, dtype=float)
    se = np.nan_to_num(np.asarray(ses, dtype=float))
    k = len(v)
    if k < 2:
        return math.nan, math.nan, math.nan
    z = z_value(1 - (1 - ci) / (k * (k - 1) // 2))
    diff = v[:, None] - v[None, :]
    half = z * np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)
    off = ~np.eye(k, dtype=bool)
    value = float(v.max() - v.min())
    return value, max(0.0, float((diff - half)[off].max())), float((diff + half)[off].max())


def rate_range_interval(successes: list[int], totals: list[int],
                        ci: float = 0.95) -> tuple[float, float, float]:
    """Like :func:`range_interval` for rates ``successes / totals``, each pair's difference with
    Newcombe's interval at the Bonferroni-adjusted level."""
    k = len(totals)
    if k < 2:
        return math.nan, math.nan, math.nan
    level = 1 - (1 - ci) / (k * (k - 1) // 2)
    rates = [x / n for x, n in zip(successes, totals, strict=True)]
    lows, highs = [], []
    for i in range(k):
        for j in range(k):
            if i != j:
                _, lo, hi = newcombe(successes[i], totals[i], successes[j], totals[j], level)
                lows.append(lo)
                highs.append(hi)
    return max(rates) - min(rates), max(0.0, max(lows)), max(highs)


def wilson(successes: int, n: int, ci: float = 0.95) -> tuple[float, float, float]:
    """Rate, and the Wilson score interval of ``successes / n`` (NaN when ``n`` is 0).

    Examples
    --------
    >>> [round(v, 3) for v in wilson(0, 10)]
    [0.0, 0.0, 0.278]
    """
    if n <= 0:
        return math.nan, math.nan, math.nan
    p = successes / n
    z = z_value(ci)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def newcombe(x1: int, n1: int, x2: int, n2: int, ci: float = 0.95) -> tuple[float, float, float]:
    """Difference ``x1/n1 - x2/n2`` of two independent rates and Newcombe's hybrid score
    interval (his method 10), built from the two Wilson intervals.

    Examples
    --------
    >>> [round(v, 3) for v in newcombe(56, 70, 48, 80)]
    [0.2, 0.052, 0.334]

    (Newcombe 1998, Statistics in Medicine 17:873-890, worked example 56/70 vs 48/80:
    0.0524 to 0.3339 by method 10)
    """
    p1, l1, u1 = wilson(x1, n1, ci)
    p2, l2, u2 = wilson(x2, n2, ci)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, max(-1.0, low), min(1.0, high)


def score_levels(score: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The level of each row of an ordinal or unbounded score, and the levels' labels.

    Integer scores with at most :data:`MAX_LEVELS` distinct values are their own levels (a 1–10
    decile score gives ten levels); any other score is cut at the deciles of its pooled values
    (ties kept together), labelled by their ranges.
    """
    s = np.asarray(score, dtype=float)
    values = np.unique(s)
    if np.all(values == np.round(values)) and len(values) <= MAX_LEVELS:
        codes = np.searchsorted(values, s)
        return codes, [_num(v) for v in values]
    edges = np.unique(np.quantile(s, np.linspace(0, 1, N_QUANTILE_LEVELS + 1)))
    inner = edges[1:-1]
    codes = np.searchsorted(inner, s, side="right")
    bounds = [float(s.min()), *inner.tolist(), float(s.max())]
    labels = [f"{_num(bounds[i])}–{_num(bounds[i + 1])}" for i in range(len(bounds) - 1)]
    used = np.unique(codes)
    remap = np.full(len(labels), -1)
    remap[used] = np.arange(len(used))
    return remap[codes], [labels[i] for i in used]


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.3g}"
