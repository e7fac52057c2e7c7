"""The paired bootstrap of :func:`~auditkit.fairness.compare`, in bounded memory.

One draw of a group is one multinomial draw of its 8-cell joint table (``_compare``'s module
docstring); draw ``b`` of every group comes from one generator in draw-major order (draw 0 of
every group, then draw 1, ...). The draws are never all held at once: they are generated
``draw_batch`` draws at a time (the random stream is the same as one call for all of them), the
metrics of both models are derived for a chunk of groups at a time, and only what the outputs
need is kept per group and metric:

- for the percentile interval, the ``k`` smallest and the ``k`` largest finite differences and
  their count, with ``k`` = ⌊a·(n_boot − 1)⌋ + 4 and a = (1 − ci) / 2: the linear-interpolation
  quantiles at a and 1 − a only read order statistics inside those tails, so the interval is
  exactly ``np.nanquantile`` of all the draws (:func:`tail_quantile`);
- for the standard error, the count, mean and sum of squared deviations of the harm-oriented
  differences, merged batch by batch (Chan, Golub and LeVeque's update). With one batch this is
  ``np.nanstd(ddof=1)`` to the bit; over several it agrees to rounding (measured: 2e-14
  relative for 5,000 groups, so p-values to ~1e-13 and the verdicts are the same);
- for each disparity, per draw and per model, the largest and smallest value of its base metric
  over the grouping's eligible groups and how many are defined (exact in any order).

Memory bound
------------
:func:`plan` estimates the bytes each layout needs and sizes the batches so that the bootstrap's
arrays stay under :data:`BOOTSTRAP_MEMORY_BYTES` (512 MiB): all the draws in one batch when they
fit (then every output equals holding every draw, to the bit: a few hundred groups at 2,000
draws); else the draw batch (64 bytes per group and draw) and the metric work of one chunk, capped
at 64 MiB, beside the tails of the groups being kept. When even the tails of every group do not
fit (above ~50,000 groups with the default metrics), the groups are processed in batches, each
replaying the same random stream from a saved generator state: the same results, more time. The
bound holds while the outputs (24 bytes per group and metric) and one draw of every group fit in
it, up to about a million groups; tests/fairness/test_compare_boot.py checks the bytes numpy
really allocates against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from auditkit.fairness import _metrics as M
from auditkit.fairness.errors import FairnessError

__all__ = ["BOOTSTRAP_MEMORY_BYTES", "MIN_FINITE_DRAWS", "Bootstrap", "Plan", "Spec", "bootstrap", "plan",
           "tail_quantile", "tail_size"]

#: The bound on the bootstrap's working arrays, in bytes (see the module docstring).
BOOTSTRAP_MEMORY_BYTES = 512 * 2**20
MIN_FINITE_DRAWS = 0.5  # share of draws with a defined difference needed for a standard error
_COUNT_BYTES = 8 * 8  # one draw of one group's joint table (8 int64 cells)
_MIN_DRAW_BATCH = 32
_WORK_BYTES = 64 * 2**20  # draws and metric work of one batch: more is no faster (cache)


def _confusions(tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(..., 8)`` joint tables -> the baseline's and the candidate's ``(..., 2, 2)`` confusion
    tensors (rows: truth, columns: prediction; index 1 = positive)."""
    t = tables.reshape(tables.shape[:-1] + (2, 2, 2))  # (y, baseline, candidate)
    return t[..., 0] + t[..., 1], t[..., 0, :] + t[..., 1, :]  # faster than sums over axes of two


def _draw(tables: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` multinomial draws of every group's table: ``(n_boot, G, 8)``."""
    n = tables.sum(axis=1)
    return rng.multinomial(n, tables / n[:, None], size=(n_boot, len(n)))


# -- the plan -------------------------------------------------------------------------------
def tail_size(n_boot: int, ci: float) -> int:
    """How many of the smallest (and of the largest) draws the percentile interval reads, with a
    margin of two for the rounding of the interpolation index."""
    return min(int(n_boot), math.floor((1.0 - ci) / 2.0 * (n_boot - 1)) + 4)


@dataclass(frozen=True)
class Plan:
    """How the bootstrap is cut: groups kept per pass, groups per metric chunk, draws per batch."""

    n_groups: int
    n_boot: int
    group_batch: int
    chunk: int
    draw_batch: int
    estimate: int  # bytes of the largest working set

    @property
    def passes(self) -> int:
        """How many times the random stream is generated (1 unless the group tails do not fit)."""
        return -(-self.n_groups // self.group_batch)


def _cell_bytes(n_needed: int) -> int:
    """Working bytes per draw and group of one metric chunk: two confusion tensors, the cells and
    temporaries of both models' metrics, the differences and their masks."""
    return 8 * (8 + 2 * 10 + 2 * n_needed + 8)


def plan(n_groups: int, n_boot: int, n_metrics: int, n_needed: int, ci: float, n_spreads: int,
         budget: int | None = None) -> Plan:
    """Batch sizes that keep the bootstrap's arrays under ``budget`` (:data:`BOOTSTRAP_MEMORY_BYTES`).

    All the draws are taken in one batch when they fit (the standard errors are then those of
    holding every draw, to the bit). Otherwise the tails of every group are kept at once when
    they fit (one pass over the random stream: a pass more costs a second generation of every
    draw), else those of as many groups as half the room holds; the draws and the metric work
    take the rest, at most :data:`_WORK_BYTES` (larger batches are no faster), in one chunk of all
    the kept groups when that leaves a useful number of draws per batch.
    """
    budget = BOOTSTRAP_MEMORY_BYTES if budget is None else int(budget)
    k = tail_size(n_boot, ci)
    fixed = 3 * 8 * n_boot * n_spreads + 3 * 8 * n_metrics * n_groups  # disparity spreads, outputs
    per_group = 8 * (n_metrics * (2 * k + 3) + 3 * k)  # tails and moments, one tail update
    cell = _cell_bytes(n_needed)
    draw_row = n_groups * _COUNT_BYTES  # one draw of every group
    room = max(budget * 9 // 10 - fixed, 0)  # a tenth kept for numpy's small temporaries
    b_min = min(n_boot, max(_MIN_DRAW_BATCH, k))
    whole = n_groups * per_group + n_boot * (draw_row + n_groups * cell)
    if whole <= room:  # every draw at once: np.nanstd to the bit (module docstring)
        return Plan(n_groups, int(n_boot), n_groups, n_groups, int(n_boot), int(fixed + whole))
    least = b_min * (draw_row + min(n_groups, 256) * cell)  # the smallest useful working set
    if n_groups * per_group + least <= room:  # every group's tails: one pass
        group_batch = n_groups
    else:  # half the room for tails, the other half for the draws and the metric work
        group_batch = int(min(n_groups, max(1, (room // 2) // per_group)))
    work = min(max(room - group_batch * per_group, 0), max(_WORK_BYTES, least))
    draw_batch, chunk = work // (draw_row + group_batch * cell), group_batch
    if draw_batch < b_min:  # fewer groups per chunk, a useful number of draws per batch
        draw_batch = max(1, min(b_min, (work // 2) // draw_row))
        chunk = int(min(group_batch, max(1, (work - draw_batch * draw_row) // (draw_batch * cell))))
    draw_batch = int(min(n_boot, max(1, draw_batch)))
    estimate = fixed + group_batch * per_group + draw_batch * (draw_row + chunk * cell)
    return Plan(n_groups, int(n_boot), group_batch, chunk, draw_batch, int(estimate))


# -- what is kept ---------------------------------------------------------------------------
def _lowest(kept: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The ``len(kept)`` smallest of both, NaN last (NaN marks an empty place)."""
    both = np.concatenate([kept, new])
    k = len(kept)
    return both[:k] if len(both) == k else np.partition(both, k - 1, axis=0)[:k]


class _Tails:
    """Per column, the ``k`` smallest and ``k`` largest finite draws and how many are finite."""

    def __init__(self, k: int, width: int) -> None:
        self.low = np.full((k, width), np.nan)
        self.high = np.full((k, width), np.nan)  # negated: the largest draws as the smallest
        self.count = np.zeros(width, dtype=np.int64)

    def add(self, x: np.ndarray, cols: slice) -> None:
        self.count[cols] += (~np.isnan(x)).sum(axis=0)
        self.low[:, cols] = _lowest(self.low[:, cols], x)
        self.high[:, cols] = _lowest(self.high[:, cols], -x)

    def interval(self, ci: float) -> tuple[np.ndarray, np.ndarray]:
        low, high = np.sort(self.low, axis=0), np.sort(self.high, axis=0)
        a = (1.0 - ci) / 2.0
        return tail_quantile(low, high, self.count, a), tail_quantile(low, high, self.count, 1.0 - a)


def tail_quantile(low: np.ndarray, high: np.ndarray, count: np.ndarray, q: float) -> np.ndarray:
    """``np.nanquantile(draws, q, axis=0)`` (linear interpolation) from the sorted ``k`` smallest
    finite draws, the sorted negated ``k`` largest, and the finite count of each column.

    It follows numpy's steps: the virtual index ``(n − 1)·q``, its floor and the next index (both
    the last one at or past the end), and the two-sided interpolation of ``numpy``'s ``_lerp``.
    """
    k = len(low)
    n = count.astype(np.int64)
    with np.errstate(invalid="ignore"):
        virtual = (n - 1) * q
    prev = np.floor(virtual)
    above = virtual >= n - 1
    gamma = virtual - np.where(above, -1.0, prev)
    i = np.where(above, n - 1, prev).astype(np.int64)
    j = np.where(above, n - 1, prev + 1).astype(np.int64)

    def stat(idx: np.ndarray) -> np.ndarray:
        from_low = idx < k
        top = n - 1 - idx
        if np.any(~from_low & (n > 0) & (top >= k)):
            raise FairnessError("internal: a percentile fell outside the bootstrap tails kept")
        lo = np.take_along_axis(low, np.clip(idx, 0, k - 1)[None], axis=0)[0]
        hi = -np.take_along_axis(high, np.clip(top, 0, k - 1)[None], axis=0)[0]
        return np.where(from_low, lo, hi)

    a, b = stat(i), stat(j)
    diff = b - a
    out = a + diff * gamma
    out = np.where(gamma >= 0.5, b - diff * (1 - gamma), out)
    return np.where(n > 0, out, np.nan)


class _Moments:
    """Per column, the count, mean and sum of squared deviations of the finite draws."""

    def __init__(self, width: int) -> None:
        self.count = np.zeros(width, dtype=np.int64)
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)

    def add(self, h: np.ndarray, cols: slice) -> None:
        fin = np.isfinite(h)
        nb = fin.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mb = np.where(fin, h, 0.0).sum(axis=0) / nb
            dev = np.where(fin, h - mb, 0.0)
        m2b = np.multiply(dev, dev).sum(axis=0)
        na, mean, m2 = self.count[cols], self.mean[cols], self.m2[cols]
        n = na + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = mb - mean
            merged_mean = mean + delta * (nb / n)
            merged_m2 = m2 + m2b + delta * delta * (na * nb / n)
        first = na == 0  # the first batch with draws is taken as it is (np.nanstd to the bit)
        self.mean[cols] = np.where(nb == 0, mean, np.where(first, mb, merged_mean))
        self.m2[cols] = np.where(nb == 0, m2, np.where(first, m2b, merged_m2))
        self.count[cols] = n

    def se(self, n_boot: int) -> np.ndarray:
        ok = self.count / n_boot >= MIN_FINITE_DRAWS
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ok, np.sqrt(self.m2 / (self.count - 1)), np.nan)


@dataclass(frozen=True)
class Spec:
    """What the bootstrap must give: the compared metrics (with their harm signs), the metrics to
    derive, and the disparities ``(grouping, name, bases, slice of groups)`` with their eligible groups."""

    signs: dict[str, int]
    needed: tuple[str, ...]
    favourable_is_positive: bool
    ci: float
    disparities: tuple[tuple[str, str, tuple[str, ...], slice], ...]
    eligible: dict[str, np.ndarray]


class _Spreads:
    """Per draw, model, grouping and base metric: max, min and count of the eligible defined values
    (:func:`auditkit.fairness._metrics.disparity` of a difference, built a chunk at a time)."""

    def __init__(self, spec: Spec, n_boot: int) -> None:
        self.spec = spec
        keys = {(g, b, sl.start, sl.stop) for g, _, bases, sl in spec.disparities for b in bases}
        self.parts = {(key, model): (np.full(n_boot, -np.inf), np.full(n_boot, np.inf),
                                     np.zeros(n_boot, dtype=np.int64))
                      for key in keys for model in (0, 1)}

    def add(self, values: tuple[dict[str, np.ndarray], ...], rows: slice, c0: int, c1: int) -> None:
        for (key, model), (hi, lo, cnt) in self.parts.items():
            _, base, s0, s1 = key
            a, b = max(s0, c0), min(s1, c1)
            if a >= b:
                continue
            v = np.where(self.spec.eligible[base][a:b], values[model][base][:, a - c0:b - c0], np.nan)
            defined = ~np.isnan(v)
            hi[rows] = np.maximum(hi[rows], np.where(defined, v, -np.inf).max(axis=-1))
            lo[rows] = np.minimum(lo[rows], np.where(defined, v, np.inf).min(axis=-1))
            cnt[rows] += defined.sum(axis=-1)

    def changes(self) -> dict[tuple[str, str], np.ndarray]:
        """Per (grouping, disparity): the draws of candidate − baseline."""
        out = {}
        for grouping, name, bases, sl in self.spec.disparities:
            per_model = []
            for model in (0, 1):
                parts = []
                for base in bases:
                    hi, lo, cnt = self.parts[((grouping, base, sl.start, sl.stop), model)]
                    parts.append(np.where(cnt >= 2, hi - lo, np.nan))
                per_model.append(parts[0] if len(parts) == 1 else np.stack(parts).max(axis=0))
            out[(grouping, name)] = per_model[1] - per_model[0]
        return out


@dataclass(frozen=True)
class Bootstrap:
    """Per compared metric, the interval of the difference and the SE of the harm-oriented one
    (``(G,)`` each); per (grouping, disparity), the draws of the change; the plan that was run."""

    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    se: dict[str, np.ndarray]
    changes: dict[tuple[str, str], np.ndarray]
    plan: Plan


def _metric_draws(counts: np.ndarray, spec: Spec) -> tuple[dict[str, np.ndarray], ...]:
    return tuple(M.binary_metrics(conf, 1, spec.needed, favourable_is_positive=spec.favourable_is_positive)
                 for conf in _confusions(counts))


def bootstrap(tables: np.ndarray, n_boot: int, rng: np.random.Generator, spec: Spec,
              budget: int | None = None) -> Bootstrap:
    """The paired bootstrap of every group's ``(G, 8)`` joint table, batch by batch (module docstring)."""
    n_groups = len(tables)
    n_spreads = 2 * sum(len(bases) for _, _, bases, _ in spec.disparities)
    p = plan(n_groups, n_boot, len(spec.signs), len(spec.needed), spec.ci, n_spreads, budget)
    k = tail_size(n_boot, spec.ci)
    out: dict[str, dict[str, np.ndarray]] = {
        key: {m: np.full(n_groups, np.nan) for m in spec.signs} for key in ("low", "high", "se")}
    spreads = _Spreads(spec, n_boot)
    start = rng.bit_generator.state if p.passes > 1 else None
    for g0 in range(0, n_groups, p.group_batch):
        g1 = min(n_groups, g0 + p.group_batch)
        if g0:  # the same draws again, for the next batch of groups
            rng.bit_generator.state = start
        tails = {m: _Tails(k, g1 - g0) for m in spec.signs}
        moments = {m: _Moments(g1 - g0) for m in spec.signs}
        for r0 in range(0, n_boot, p.draw_batch):
            rows = slice(r0, min(n_boot, r0 + p.draw_batch))
            counts = _draw(tables, rows.stop - r0, rng)
            for c0 in range(g0, g1, p.chunk):
                c1 = min(g1, c0 + p.chunk)
                values = _metric_draws(counts[:, c0:c1], spec)
                cols = slice(c0 - g0, c1 - g0)
                for m, sign in spec.signs.items():
                    d = values[1][m] - values[0][m]
                    tails[m].add(d, cols)
                    moments[m].add(sign * d, cols)
                spreads.add(values, rows, c0, c1)
            del counts
        for m in spec.signs:
            out["low"][m][g0:g1], out["high"][m][g0:g1] = tails[m].interval(spec.ci)
            out["se"][m][g0:g1] = moments[m].se(n_boot)
    return Bootstrap(out["low"], out["high"], out["se"], spreads.changes(), p)
