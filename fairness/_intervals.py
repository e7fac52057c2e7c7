"""Intervals of proportions: Wilson score intervals of group rates, Jeffreys draws of disparities.

Most group metrics of a binary audit are single proportions x / n, each with its own
denominator (:data:`PROPORTIONS`): a true positive rate counts the actual positives of the
group, a precision its predicted positives, a selection rate its rows. For those:

- **group rates** get the Wilson score interval, the set of p for which the score test
  |x/n − p| ≤ z·√(p(1 − p)/n) does not reject; in closed form

  .. math:: \\frac{x + z^2/2}{n + z^2} \\pm \\frac{z\\sqrt{n}}{n + z^2}\\sqrt{\\hat p(1-\\hat p) + z^2/(4n)}

  It never collapses to a point at 0/n or n/n (for n > 0 its width is positive) and its
  coverage stays near nominal for small n and extreme p, where the percentile bootstrap's
  interval of 0/n is [0, 0];
- **disparities** between group rates get Monte Carlo intervals: each group's rate is drawn
  from its Jeffreys posterior Beta(x + ½, n − x + ½), the difference, ratio or worst case is
  computed per draw, and the interval is the quantiles of the draws. Groups are disjoint, so
  their draws are independent.

Weighted data: the point estimate is the weighted proportion p̂ = Σw·[event] / Σw over the
denominator's rows. Its interval uses Kish's effective sample size n_eff = (Σw)² / Σw² of those
rows and x_eff = p̂·n_eff in place of (x, n); with equal weights this is (x, n) again. The
evidence bar (:mod:`auditkit.fairness._evidence`) always counts rows, unweighted.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "PROPORTIONS",
    "Proportion",
    "jeffreys_draws",
    "proportion_counts",
    "proportion_table",
    "quantile_interval",
    "wilson",
    "z_value",
]

Conf = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # tp, fp, tn, fn


@dataclass(frozen=True)
class Proportion:
    """A group metric that is one proportion: its numerator and denominator in confusion cells."""

    numerator: Callable[[Conf], np.ndarray]
    denominator: Callable[[Conf], np.ndarray]
    denominator_name: str  # in words: "actual positives", "rows", ...


def _p(num: Callable[[Conf], np.ndarray], den: Callable[[Conf], np.ndarray], name: str) -> Proportion:
    return Proportion(num, den, name)


def _rows(c: Conf) -> np.ndarray:
    return c[0] + c[1] + c[2] + c[3]


def _actual_pos(c: Conf) -> np.ndarray:
    return c[0] + c[3]


def _actual_neg(c: Conf) -> np.ndarray:
    return c[1] + c[2]


def _pred_pos(c: Conf) -> np.ndarray:
    return c[0] + c[1]


def _pred_neg(c: Conf) -> np.ndarray:
    return c[2] + c[3]


#: The binary metrics that are single proportions. ``favourable_rate`` is added per audit (its
#: numerator depends on which label is favourable): see :func:`proportion_table`.
PROPORTIONS: dict[str, Proportion] = {
    "selection_rate": _p(_pred_pos, _rows, "rows"),
    "base_rate": _p(_actual_pos, _rows, "rows"),
    "accuracy": _p(lambda c: c[0] + c[2], _rows, "rows"),
    "true_positive_rate": _p(lambda c: c[0], _actual_pos, "actual positives"),
    "false_negative_rate": _p(lambda c: c[3], _actual_pos, "actual positives"),
    "false_positive_rate": _p(lambda c: c[1], _actual_neg, "actual negatives"),
    "true_negative_rate": _p(lambda c: c[2], _actual_neg, "actual negatives"),
    "positive_predictive_value": _p(lambda c: c[0], _pred_pos, "predicted positives"),
    "false_discovery_rate": _p(lambda c: c[1], _pred_pos, "predicted positives"),
    "negative_predictive_value": _p(lambda c: c[2], _pred_neg, "predicted negatives"),
    "false_omission_rate": _p(lambda c: c[3], _pred_neg, "predicted negatives"),
}


def proportion_table(favourable_is_positive: bool) -> dict[str, Proportion]:
    """:data:`PROPORTIONS` plus ``favourable_rate`` = P(ŷ = favourable label)."""
    fav = _pred_pos if favourable_is_positive else _pred_neg
    return {**PROPORTIONS, "favourable_rate": _p(fav, _rows, "rows")}


def proportion_counts(table: dict[str, Proportion], unweighted: Conf, weighted: Conf,
                      squared: Conf, names: list[str]) -> dict[str, tuple[np.ndarray, ...]]:
    """Per metric: (rows in the denominator, effective x, effective n), each ``(G,)``.

    ``unweighted``, ``weighted`` and ``squared`` are the confusion cells of row counts, of
    weights and of squared weights. Effective counts are Kish's (module docstring).
    """
    out = {}
    for m in names:
        p = table[m]
        den_rows = p.denominator(unweighted).astype(float)
        den_w = p.denominator(weighted).astype(float)
        den_w2 = p.denominator(squared).astype(float)
        num_w = p.numerator(weighted).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            n_eff = np.where(den_w2 > 0, den_w * den_w / np.where(den_w2 > 0, den_w2, 1.0), 0.0)
            phat = np.where(den_w > 0, num_w / np.where(den_w > 0, den_w, 1.0), 0.0)
        out[m] = (den_rows, np.clip(phat, 0.0, 1.0) * n_eff, n_eff)
    return out


def z_value(ci: float) -> float:
    """The two-sided standard normal quantile of level ``ci`` (1.959964 for 0.95)."""
    return NormalDist().inv_cdf(0.5 + ci / 2.0)


def wilson(x: np.ndarray, n: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of x successes in n trials at level ``ci`` (NaN where n = 0).

    >>> lo, hi = wilson(np.array([0.0, 5.0]), np.array([10.0, 10.0]), 0.95)
    >>> np.round(lo, 4).tolist(), np.round(hi, 4).tolist()
    ([0.0, 0.2366], [0.2775, 0.7634])
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_value(ci)
    z2 = z * z
    ok = n > 0
    safe_n = np.where(ok, n, 1.0)
    phat = np.clip(x / safe_n, 0.0, 1.0)
    centre = (phat + z2 / (2 * safe_n)) / (1 + z2 / safe_n)
    half = z / (1 + z2 / safe_n) * np.sqrt(phat * (1 - phat) / safe_n + z2 / (4 * safe_n * safe_n))
    lo = np.where(ok, np.clip(centre - half, 0.0, 1.0), np.nan)
    hi = np.where(ok, np.clip(centre + half, 0.0, 1.0), np.nan)
    # at x = 0 (x = n) the lower (upper) bound is exactly 0 (1); say so without rounding error
    lo = np.where(ok & (phat == 0), 0.0, lo)
    hi = np.where(ok & (phat == 1), 1.0, hi)
    return lo, hi


def jeffreys_draws(x: np.ndarray, n: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of each rate from Beta(x + ½, n − x + ½): shape ``(size, G)``; NaN where n = 0."""
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = n > 0
    a = np.where(ok, np.clip(x, 0.0, None), 0.0) + 0.5
    b = np.where(ok, np.clip(n - x, 0.0, None), 0.0) + 0.5
    draws = rng.beta(a, b, size=(size, len(a)))
    return np.where(ok, draws, np.nan)


def quantile_interval(reps: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed quantiles of ``reps`` along axis 0 (NaN draws ignored)."""
    a = (1.0 - ci) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(reps, [a, 1.0 - a], axis=0)
    return lo, hi
