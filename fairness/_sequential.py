"""Sequential change detection: a two-sided self-starting CUSUM with a finite-horizon threshold.

The monitor looks at every window of a stream (a group's gap in a metric, say) and must not
raise more false alarms for looking often. Each stream is a series of per-window estimates
``d_t`` with standard errors ``s_t``; a window without enough evidence is *unusable* and is
skipped (it is neither part of a baseline nor a residual).

**Residuals** (self-starting, Hawkins 1987). Since the last (re)start, the baseline is the
inverse-variance weighted mean of the usable estimates seen so far,

.. math:: \\bar d = \\frac{\\sum_i d_i / s_i^2}{\\sum_i 1 / s_i^2}, \\qquad
          \\operatorname{var}(\\bar d) = \\frac{1}{\\sum_i 1 / s_i^2},

and each new usable estimate is standardised against the baseline of the windows before it,
``z_t = (d_t - d̄) / sqrt(s_t² + var(d̄))``, then joins the baseline. The first usable window
after a (re)start only starts the baseline. If the estimates are independent, Gaussian, with a
common mean and the given standard errors, the residuals are i.i.d. N(0, 1): z_t depends on
the past only through the weighted mean d̄, and the earlier residuals are contrasts among the
earlier estimates, which for Gaussian data are independent of their weighted mean (the
standardised recursive residuals of Hawkins, "Self-starting cusum charts for location and
scale", *The Statistician* 36, 1987, with known per-window variances). No in-control mean has
to be known or estimated from a separate calibration period.

**CUSUM** (Page, "Continuous inspection schemes", *Biometrika* 41, 1954), two-sided:
``S_t = max(0, S_{t-1} + z_t - k)`` and ``L_t = max(0, L_{t-1} - z_t - k)``; the stream alarms at
a window where either exceeds ``h``, once at least ``warmup`` residuals have been seen since
the (re)start (the sums accumulate during the warm-up; only alarms are held back). After an
alarm the detector restarts: the sums return to 0 and the alarm window's estimate alone starts
the new baseline, so the level after a change becomes the new reference.

**Threshold.** :func:`cusum_threshold` simulates the same recursion (with the warm-up) on i.i.d.
N(0, 1) residuals over ``horizon`` steps and takes ``h`` as an upper confidence bound of the
(1 - alpha) quantile of the largest statistic, so that P(any alarm within ``horizon`` windows)
<= alpha under the null. Over several streams, alpha is split evenly (Bonferroni,
``alpha_per_stream = alpha / n_streams``): the family-wise probability of any false alarm over
the horizon is then at most ``alpha`` whatever the dependence between the streams.

**Reference value.** ``k`` (in standard-error units) is the shift the CUSUM is tuned to, halved
in Page's likelihood-ratio derivation. The default, 1.25, was chosen by simulation for the
target of issue 17: a 0.10 shift in a selection-rate gap with groups of >= 500 rows per window
(gap standard error ~0.029, so a ~3.4 sigma shift), to be alarmed at the shift window or one of
the two after it, with a family-wise false-alarm probability <= 5% over 52 windows. Over 2 to 40
streams, k = 1.25 detects within 2 windows in 0.96 (2 streams), 0.92 (10) and 0.86 (40) of
the simulated streams (4,000 each, shift at a random window 10-45; binomial counts, plug-in
standard errors; the year's false-alarm rate with 2 streams was 0.024); k = 0.75 or 1.0 lose
power as the number of streams grows and k >= 1.5 loses it at every count (a larger k behaves
like a Shewhart chart and misses changes that need two windows to show). A Shewhart component
(Lucas 1982, combined Shewhart-CUSUM) calibrated jointly with the sums did not raise the
detection rate at any count, so there is none: with k = 1.25 a single window already alarms
when its residual exceeds h + k (about 3.9 sigma for 2 streams).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .errors import FairnessInputError

__all__ = ["DEFAULT_K", "DetectorSpec", "DetectorTrace", "cusum_threshold", "detect"]

DEFAULT_K = 1.25
"""Reference value of the CUSUM in standard-error units (see the module docstring)."""

DEFAULT_N_SIM = 400_000
"""Simulated null streams behind a threshold (raised automatically for small alphas)."""

MIN_EXCEEDANCES = 100
"""At least this many simulated streams are expected above the threshold (n_sim >= 100 / alpha)."""

MAX_N_SIM = 4_000_000
CONFIDENCE = 0.95
_BATCH_ELEMENTS = 4_000_000  # residuals drawn at once (float32): bounds memory to ~16 MB a batch


#: Default family-wise false-alarm level per kind of stream and horizon (see :class:`DetectorSpec`).
DEFAULT_ALPHA = 0.04


@dataclass(frozen=True)
class DetectorSpec:
    """Settings of the change detector of one kind of stream.

    Parameters
    ----------
    horizon
        Number of windows over which the false-alarm probability is controlled (52 weekly windows:
        a year). A stream longer than the horizon keeps the same threshold; its false-alarm
        probability grows with its length (about proportionally).
    alpha
        Family-wise false-alarm probability over all streams of one kind within ``horizon``
        windows, split over the streams by Bonferroni in :func:`detect`. The default, 0.04, is
        5% divided by 1.25, the largest inflation the normal approximation was measured to cause
        on binomial counts (groups with 10-20 expected rows of an outcome): so the year's
        probability of any false alarm stays within 5% where the approximation is worst.
    k
        Reference value of the CUSUM, in standard-error units (see the module docstring).
    warmup
        Residuals (usable windows after the first) needed since a (re)start before an alarm may
        be raised; with the default 2 the earliest alarm is at the third usable window.
    """

    horizon: int = 52
    alpha: float = DEFAULT_ALPHA
    k: float = DEFAULT_K
    warmup: int = 2

    def __post_init__(self) -> None:
        _check_int("horizon", self.horizon, 1, "the number of windows the false-alarm rate covers")
        _check_alpha("alpha", self.alpha)
        _check_k(self.k)
        _check_int("warmup", self.warmup, 1, "residuals needed before an alarm")


@dataclass(frozen=True)
class DetectorTrace:
    """What :func:`detect` computed for one stream, one entry per window.

    Attributes
    ----------
    z
        Standardised recursive residual (nan where the window was skipped or started a baseline).
    upper, lower
        The CUSUM sums after the window (an alarm window shows the values that alarmed; the
        restart applies from the next window). Skipped windows carry the previous values.
    baseline
        The baseline the window's estimate was compared with (nan where none).
    alarm
        True where the stream alarms.
    used
        True where the window was usable (finite estimate, positive finite standard error).
    threshold
        The threshold ``h`` the sums were compared with.
    """

    z: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    baseline: np.ndarray
    alarm: np.ndarray
    used: np.ndarray
    threshold: float
    alpha_per_stream: float = field(default=float("nan"))


def _check_int(name: str, value: object, low: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise FairnessInputError(
            f"The '{name}' of the change detector ({what}) must be an integer >= {low}; "
            f"got {value!r}. Set it to a whole number of at least {low}."
        )


def _check_alpha(name: str, value: object) -> None:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not (0.0 < float(value) < 1.0):  # type: ignore[arg-type]
        raise FairnessInputError(
            f"The '{name}' of the change detector (a false-alarm probability) must be strictly "
            f"between 0 and 1; got {value!r}. Use e.g. 0.05."
        )


def _check_k(value: object) -> None:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) < 0:  # type: ignore[arg-type]
        raise FairnessInputError(
            f"The reference value 'k' of the change detector must be a finite number >= 0 "
            f"(in standard errors); got {value!r}. The default is {DEFAULT_K}."
        )


def _null_maxima(horizon: int, k: float, warmup: int, n: int, seed: int) -> np.ndarray:
    """Largest two-sided CUSUM statistic (from residual ``warmup`` on) of ``n`` null streams."""
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.float32)
    batch = max(1, min(n, _BATCH_ELEMENTS // horizon))
    kk = np.float32(k)
    for start in range(0, n, batch):
        m = min(batch, n - start)
        z = rng.standard_normal((horizon, m), dtype=np.float32)
        up = np.zeros(m, dtype=np.float32)
        lo = np.zeros(m, dtype=np.float32)
        top = np.zeros(m, dtype=np.float32)  # the sums are >= 0, so 0 is a neutral start
        for t in range(horizon):
            up += z[t]
            up -= kk
            np.maximum(up, 0, out=up)
            lo -= z[t]
            lo -= kk
            np.maximum(lo, 0, out=lo)
            if t + 1 >= warmup:
                np.maximum(top, up, out=top)
                np.maximum(top, lo, out=top)
        out[start:start + m] = top
    return out


def _exceedances_allowed(n: int, alpha: float) -> int:
    """Largest j with P(Binomial(n, alpha) <= j) < 1 - CONFIDENCE (0 when there is none)."""
    from scipy.special import bdtr  # lighter than scipy.stats

    low, high = 0, math.ceil(n * alpha)  # bdtr(ceil(n alpha)) > 0.05 for n alpha >= 100
    if bdtr(0, n, alpha) >= 1.0 - CONFIDENCE:
        return 0
    while high - low > 1:  # invariant: bdtr(low) < 1 - CONFIDENCE <= bdtr(high)
        mid = (low + high) // 2
        if bdtr(mid, n, alpha) < 1.0 - CONFIDENCE:
            low = mid
        else:
            high = mid
    return low


@lru_cache(maxsize=256)
def _threshold(horizon: int, alpha: float, k: float, warmup: int, n_sim: int, seed: int) -> float:
    n = max(n_sim, math.ceil(MIN_EXCEEDANCES / alpha))
    if n > MAX_N_SIM:
        raise FairnessInputError(
            f"A false-alarm probability per stream of {alpha:.3g} is too small to calibrate by "
            f"simulation (it needs {n:,} simulated streams, the limit is {MAX_N_SIM:,}). "
            "Raise alpha or monitor fewer streams (fewer groups or metrics)."
        )
    maxima = _null_maxima(horizon, k, warmup, n, seed)
    # Distribution-free upper confidence bound of the (1 - alpha) quantile q: the (j + 1)-th
    # largest of n draws is >= q unless at most j draws exceed q, which has probability
    # P(Binomial(n, alpha) <= j) < 1 - CONFIDENCE by the choice of j.
    j = _exceedances_allowed(n, alpha)
    h = float(np.partition(maxima, n - 1 - j)[n - 1 - j])
    return float(np.nextafter(np.float32(h), np.float32(np.inf)))  # strictly above the draw


def cusum_threshold(
    horizon: int,
    alpha: float,
    k: float = DEFAULT_K,
    *,
    warmup: int = 2,
    n_sim: int = DEFAULT_N_SIM,
    seed: int = 0,
) -> float:
    """Threshold ``h`` of the two-sided CUSUM with P(any alarm within ``horizon``) <= ``alpha``.

    The recursion of :func:`detect` (both sums, the warm-up) runs on ``n`` streams of
    ``horizon`` i.i.d. N(0, 1) residuals, ``n = max(n_sim, 100 / alpha)``. Simulating ``horizon``
    residuals is slightly conservative: a stream of ``horizon`` windows has at most
    ``horizon - 1`` residuals (its first window starts the baseline).

    ``h`` is the distribution-free 95% upper confidence bound of the (1 - alpha) quantile of the
    largest statistic: the order statistic that lies above the true quantile unless fewer draws
    than a Binomial(n, alpha) 5% quantile exceed it. It is rounded up, never to nearest.
    Monte Carlo error: the exceedance count has relative standard deviation
    ``sqrt((1 - alpha) / (n alpha))`` — 1.4% at alpha = 0.0125 and n = 400,000; 10% at
    alpha = 1e-4 (n = 1,000,000) — and the bound gives up about 1.65 of those deviations, so
    the actual false-alarm probability sits between about 0.83 alpha (small alphas) and alpha.
    The seed is fixed, so a threshold is reproducible; results are cached per argument set.

    Parameters
    ----------
    horizon
        Number of windows (>= 1).
    alpha
        False-alarm probability per stream over the horizon, in (0, 1).
    k
        Reference value (>= 0), standard-error units.
    warmup
        Residuals before an alarm may be raised (>= 1).
    n_sim
        Minimum number of simulated streams.
    seed
        Seed of the simulation.

    Returns
    -------
    float
        The threshold ``h``.

    Examples
    --------
    >>> h = cusum_threshold(52, 0.025)   # two streams at a family-wise 5% over a year
    """
    _check_int("horizon", horizon, 1, "the number of windows the false-alarm rate covers")
    _check_alpha("alpha", alpha)
    _check_k(k)
    _check_int("warmup", warmup, 1, "residuals needed before an alarm")
    _check_int("n_sim", n_sim, 1000, "simulated streams")
    _check_int("seed", seed, 0, "seed of the simulation")
    return _threshold(int(horizon), float(alpha), float(k), int(warmup), int(n_sim), int(seed))


def _as_series(name: str, values: object, n: int | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise FairnessInputError(
            f"detect() expects '{name}' to be a one-dimensional array of numbers; it could not be "
            "read as numbers. Pass one float per window (nan where there is no estimate)."
        ) from None
    if arr.ndim != 1:
        raise FairnessInputError(
            f"detect() expects '{name}' to be one-dimensional (one value per window); got "
            f"{arr.ndim} dimensions. Pass one stream at a time."
        )
    if n is not None and arr.shape[0] != n:
        raise FairnessInputError(
            f"detect() expects '{name}' to have one value per window like 'estimates' ({n}); "
            f"got {arr.shape[0]}. Align the series on the same windows."
        )
    return arr


def _usable_mask(estimates: object, std_errors: object, usable: object) -> tuple[np.ndarray, ...]:
    d = _as_series("estimates", estimates, None)
    s = _as_series("std_errors", std_errors, d.shape[0])
    if np.any(s < 0):
        raise FairnessInputError(
            f"detect() expects 'std_errors' to be >= 0 (nan where unknown); {int(np.sum(s < 0))} "
            "window(s) have a negative standard error. Pass standard errors, not signed values."
        )
    if usable is None:
        ok = np.ones(d.shape[0], dtype=bool)
    else:
        ok = np.asarray(usable)
        if ok.dtype != bool:
            raise FairnessInputError(
                "detect() expects 'usable' to be an array of booleans (one per window); got "
                f"dtype {ok.dtype}. Pass True where the window has enough evidence."
            )
        if ok.ndim != 1 or ok.shape[0] != d.shape[0]:
            raise FairnessInputError(
                f"detect() expects 'usable' to have one value per window like 'estimates' "
                f"({d.shape[0]}); got shape {ok.shape}. Align the series on the same windows."
            )
    # A zero standard error cannot scale a residual: such a window is skipped like a nan one.
    used = ok & np.isfinite(d) & np.isfinite(s) & (s > 0)
    return d, s, used


def detect(
    estimates: np.ndarray,
    std_errors: np.ndarray,
    usable: np.ndarray | None = None,
    spec: DetectorSpec | None = None,
    *,
    n_streams: int = 1,
) -> DetectorTrace:
    """Run the self-starting two-sided CUSUM on one stream of per-window estimates.

    Parameters
    ----------
    estimates
        One estimate per window (nan where there is none).
    std_errors
        Their standard errors (>= 0; nan where unknown). Windows with a non-finite estimate or a
        standard error that is nan or 0 are skipped like windows marked not usable.
    usable
        Optional booleans: False marks a window without enough evidence (skipped).
    spec
        The detector's settings (:class:`DetectorSpec`; defaults when None).
    n_streams
        Number of streams of this kind monitored together: the threshold is calibrated at
        ``spec.alpha / n_streams`` per stream (Bonferroni).

    Returns
    -------
    DetectorTrace
        Residuals, sums, baselines and alarms per window, and the threshold.

    Examples
    --------
    >>> trace = detect(gaps, gap_ses, n >= 100, DetectorSpec(), n_streams=12)
    >>> trace.alarm.nonzero()[0]          # windows that alarmed
    """
    spec = DetectorSpec() if spec is None else spec
    if not isinstance(spec, DetectorSpec):
        raise FairnessInputError(
            f"detect() expects 'spec' to be a DetectorSpec; got {type(spec).__name__}. "
            "Build one with DetectorSpec(horizon=..., alpha=...)."
        )
    _check_int("n_streams", n_streams, 1, "streams monitored together")
    d, s, used = _usable_mask(estimates, std_errors, usable)
    alpha_stream = spec.alpha / n_streams
    h = cusum_threshold(spec.horizon, alpha_stream, spec.k, warmup=spec.warmup)
    n = d.shape[0]
    z = np.full(n, np.nan)
    upper = np.zeros(n)
    lower = np.zeros(n)
    base = np.full(n, np.nan)
    alarm = np.zeros(n, dtype=bool)
    w_sum = wd_sum = 0.0  # sum of 1/s² and of d/s² since the (re)start
    up = lo = 0.0
    residuals = 0
    for t in range(n):
        if used[t]:
            w = 1.0 / (s[t] * s[t])
            if w_sum > 0:
                base[t] = wd_sum / w_sum
                z[t] = (d[t] - base[t]) / math.sqrt(s[t] * s[t] + 1.0 / w_sum)
                up = max(0.0, up + z[t] - spec.k)
                lo = max(0.0, lo - z[t] - spec.k)
                residuals += 1
                alarm[t] = residuals >= spec.warmup and max(up, lo) > h
            upper[t], lower[t] = up, lo
            if alarm[t]:
                w_sum, wd_sum, up, lo, residuals = w, w * d[t], 0.0, 0.0, 0
            else:
                w_sum += w
                wd_sum += w * d[t]
        else:
            upper[t], lower[t] = up, lo
    return DetectorTrace(z, upper, lower, base, alarm, used, h, alpha_stream)
