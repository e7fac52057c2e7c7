"""Per-group sufficient statistics, computed in one pass and mergeable across chunks.

A :class:`Counts` holds, for every cell of the intersectional grouping (one level of each
sensitive attribute, the missing value being a level of its own):

- classification: the confusion tensor ``n[cell, y_true_class, y_pred_class]`` of row counts,
  with the weighted sums ``w`` and sums of squared weights ``w2`` when sample weights are given;
- scores: a histogram ``[cell, y_true_class, bin]`` (row counts, weights, squared weights and
  weighted score sums) on fixed bins, and the exact table of (cell, class, score, weight) used
  for ROC AUC;
- regression: sums of weights and of weighted predictions, absolute and squared errors, with the
  weighted second moments the bootstrap needs.

Chunks counted separately (pandas chunks, Dask partitions) merge with :meth:`Counts.merge`;
levels and classes seen in one chunk but not another are aligned by union, so the merge of the
counts of any partition of the rows equals the counts of all rows. Every metric is derived from
these arrays (:mod:`auditkit.fairness._metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._inputs import MISSING, level_key
from auditkit.fairness.errors import FairnessInputError

__all__ = ["Counts", "ScoreStats", "count_rows", "probability_edges", "range_edges"]

N_ECE_BINS = 10
FINE_PER_ECE_BIN = 20
REG_QUANTITIES = ("pred", "abs", "sq")


def probability_edges(n_ece_bins: int = N_ECE_BINS, per_bin: int = FINE_PER_ECE_BIN) -> np.ndarray:
    """Fine histogram edges on [0, 1] that contain the ECE bin edges exactly.

    Edge k is the one division k / (n_ece_bins · per_bin), so it is the float nearest to that
    fraction: a score written 0.3 or 0.35 is the same float as its edge and falls in the bin
    that starts there, as the definition of the bins [k/10, (k+1)/10) says (``linspace`` gave
    0.30000000000000004 and put 0.3 in the bin below).

    >>> e = probability_edges()
    >>> bool(e[60] == 0.3), bool(e[140] == 0.7), len(e)
    (True, True, 201)
    """
    total = n_ece_bins * per_bin
    return np.arange(total + 1, dtype=float) / total


def range_edges(lo: float, hi: float, n_bins: int = N_ECE_BINS * FINE_PER_ECE_BIN) -> np.ndarray:
    """Uniform edges over [lo, hi] for scores that are not probabilities."""
    if not hi > lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, n_bins + 1)


def _bin_index(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(edges, scores, side="right") - 1
    return np.clip(idx, 0, len(edges) - 2)


@dataclass
class ScoreStats:
    """Score statistics of the positive-class scores, per cell and true class."""

    edges: np.ndarray
    probabilistic: bool
    hist_n: np.ndarray  # (*levels, C, B) row counts
    hist_w: np.ndarray  # weights
    hist_w2: np.ndarray  # squared weights
    hist_ws: np.ndarray  # weighted score sums
    # exact table for ROC AUC: one entry per row (cell, true class, score, weight)
    ex_cell: np.ndarray
    ex_cls: np.ndarray
    ex_score: np.ndarray
    ex_w: np.ndarray
    exact: bool = True
    """Whether the exact table is kept. Without it (:meth:`without_exact`, for counts of more
    rows than memory holds) ROC AUC comes from the fine histogram: ties within a bin count
    half, so it can differ from the exact value by up to the mass of the bins two classes
    share."""

    def without_exact(self) -> ScoreStats:
        """These statistics with the per-row exact table dropped."""
        empty = np.zeros(0)
        return replace(self, ex_cell=empty.astype(np.int64), ex_cls=empty.astype(np.int64),
                       ex_score=empty, ex_w=empty, exact=False)


@dataclass
class Counts:
    """Mergeable sufficient statistics of one dataset (or chunk of one)."""

    attributes: tuple[str, ...]
    levels: tuple[tuple[Any, ...], ...]
    task: str  # "classification" or "regression"
    weighted: bool
    classes: tuple[Any, ...] = ()
    n: np.ndarray | None = None  # (*levels, C, C) or (*levels,) for regression
    w: np.ndarray | None = None
    w2: np.ndarray | None = None
    reg: dict[str, np.ndarray] = field(default_factory=dict)
    scores: ScoreStats | None = None

    # -- shape helpers -----------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(lv) for lv in self.levels)

    @property
    def n_rows(self) -> int:
        return int(self.n.sum())

    def cell_counts(self) -> np.ndarray:
        """Unweighted row count per cell, shape ``levels``."""
        return self._per_cell(self.n)

    def cell_weights(self) -> np.ndarray:
        """Sum of weights per cell, shape ``levels``."""
        return self._per_cell(self.w)

    def _per_cell(self, arr: np.ndarray) -> np.ndarray:
        return arr.reshape(self.shape + (-1,)).sum(axis=-1) if arr.ndim > len(self.levels) else arr

    # -- merging -----------------------------------------------------------------------
    def merge(self, other: Counts) -> Counts:
        """The counts of the union of both chunks' rows."""
        if self.attributes != other.attributes or self.task != other.task:
            raise FairnessInputError(
                "Cannot merge counts of different sensitive attributes or tasks: "
                f"{self.attributes}/{self.task} vs {other.attributes}/{other.task}. Count every "
                "chunk with the same sensitive columns and the same task."
            )
        if self.scores is not None and other.scores is not None:
            if not np.array_equal(self.scores.edges, other.scores.edges):
                raise FairnessInputError(
                    "Cannot merge score histograms with different bin edges. Count the chunks with "
                    "one set of edges (count_rows(score_edges=...)), as count() does."
                )
        levels = tuple(
            tuple(sorted(set(a) | set(b), key=level_key)) for a, b in zip(self.levels, other.levels, strict=True)
        )
        classes = tuple(sorted(set(self.classes) | set(other.classes), key=level_key))
        a, b = self._aligned(levels, classes), other._aligned(levels, classes)
        out = replace(a, weighted=a.weighted or b.weighted)
        out.n = a.n + b.n
        out.w = a.w + b.w
        out.w2 = a.w2 + b.w2
        out.reg = {k: a.reg[k] + b.reg[k] for k in a.reg}
        if a.scores is not None and b.scores is not None:
            s, t = a.scores, b.scores
            out.scores = ScoreStats(
                edges=s.edges,
                exact=s.exact and t.exact,
                probabilistic=s.probabilistic and t.probabilistic,
                hist_n=s.hist_n + t.hist_n,
                hist_w=s.hist_w + t.hist_w,
                hist_w2=s.hist_w2 + t.hist_w2,
                hist_ws=s.hist_ws + t.hist_ws,
                ex_cell=np.concatenate([s.ex_cell, t.ex_cell]),
                ex_cls=np.concatenate([s.ex_cls, t.ex_cls]),
                ex_score=np.concatenate([s.ex_score, t.ex_score]),
                ex_w=np.concatenate([s.ex_w, t.ex_w]),
            )
            if not out.scores.exact:
                out.scores = out.scores.without_exact()
        elif (a.scores is None) != (b.scores is None):
            raise FairnessInputError(
                "Cannot merge counts with scores and counts without. Pass y_score for every "
                "chunk or for none."
            )
        return out

    def _aligned(self, levels: tuple[tuple[Any, ...], ...], classes: tuple[Any, ...]) -> Counts:
        """A copy embedded in the (larger) level and class sets."""
        if levels == self.levels and classes == self.classes:
            return self
        maps = [np.array([new.index(v) for v in old], dtype=np.intp)
                for old, new in zip(self.levels, levels, strict=True)]
        cmap = np.array([classes.index(c) for c in self.classes], dtype=np.intp)
        new_shape = tuple(len(lv) for lv in levels)

        def embed(arr: np.ndarray, n_class_axes: int) -> np.ndarray:
            tail = arr.shape[len(self.levels):]
            tail_new = tuple(len(classes) if i < n_class_axes else d for i, d in enumerate(tail))
            out = np.zeros(new_shape + tail_new, dtype=arr.dtype)
            axes = list(maps) + [cmap] * n_class_axes + [np.arange(d) for d in tail[n_class_axes:]]
            out[np.ix_(*axes)] = arr
            return out

        n_cls_axes = 2 if self.task == "classification" else 0
        out = replace(self, levels=levels, classes=classes)
        out.n, out.w, out.w2 = (embed(x, n_cls_axes) for x in (self.n, self.w, self.w2))
        out.reg = {k: embed(v, 0) for k, v in self.reg.items()}
        if self.scores is not None:
            s = self.scores
            flat_old = np.unravel_index(s.ex_cell, self.shape)
            flat_new = np.ravel_multi_index(tuple(m[i] for m, i in zip(maps, flat_old, strict=True)), new_shape)
            out.scores = replace(
                s,
                hist_n=embed(s.hist_n, 1), hist_w=embed(s.hist_w, 1),
                hist_w2=embed(s.hist_w2, 1), hist_ws=embed(s.hist_ws, 1),
                ex_cell=flat_new.astype(np.int64), ex_cls=cmap[s.ex_cls],
            )
        return out


def _sorted_codes(values: Any) -> tuple[np.ndarray, list[Any]]:
    """Factorize, then renumber so that codes follow :func:`level_key` order (missing: -1)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniq = list(uniques.tolist() if hasattr(uniques, "tolist") else uniques)
    order = sorted(range(len(uniq)), key=lambda i: level_key(uniq[i]))
    remap = np.empty(len(uniq) + 1, dtype=np.int64)
    remap[np.asarray(order, dtype=np.int64)] = np.arange(len(uniq))
    remap[-1] = -1  # code -1 (missing) indexes the last slot and stays -1
    return remap[codes], [uniq[i] for i in order]


def _factorize(col: pd.Series) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Codes and sorted levels of one attribute; missing values become the MISSING level."""
    codes, levels = _sorted_codes(col)
    if (codes < 0).any():
        codes[codes < 0] = len(levels)
        levels.append(MISSING)
    return codes, tuple(levels)


def _class_codes(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...]]:
    """Codes of truth and prediction over the union of their (validated, non-missing) classes."""
    parts = [np.asarray(a, dtype=object) if a.dtype.kind == "O" else a for a in (y_true, y_pred)]
    codes, classes = _sorted_codes(np.concatenate(parts))
    return codes[: len(y_true)], codes[len(y_true):], tuple(classes)


def count_rows(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    sensitive: pd.DataFrame,
    *,
    task: str,
    y_score: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
    score_edges: np.ndarray | None = None,
) -> Counts:
    """Count one chunk of validated rows.

    ``task`` is ``"classification"`` or ``"regression"``; ``y_score`` (scores of the positive
    class, whichever it is: the class is chosen later, from the merged counts) only for
    classification.
    """
    codes, levels = zip(*(_factorize(sensitive[c]) for c in sensitive.columns), strict=True)
    shape = tuple(len(lv) for lv in levels)
    cell = np.ravel_multi_index(codes, shape) if codes else np.zeros(len(y_true), np.int64)
    n_cells = int(np.prod(shape))
    weighted = sample_weight is not None
    wt = np.asarray(sample_weight, dtype=float) if weighted else None
    out = Counts(attributes=tuple(sensitive.columns), levels=tuple(levels), task=task, weighted=weighted)

    def sums(index: np.ndarray, size: int, full_shape: tuple[int, ...]):
        n = np.bincount(index, minlength=size).reshape(full_shape)
        if weighted:
            w = np.bincount(index, weights=wt, minlength=size).reshape(full_shape)
            w2 = np.bincount(index, weights=wt * wt, minlength=size).reshape(full_shape)
        else:
            w = n.astype(float)
            w2 = w
        return n, w, w2

    if task == "regression":
        yt = np.asarray(y_true, dtype=float)
        yp = np.asarray(y_pred, dtype=float)
        out.n, out.w, out.w2 = sums(cell, n_cells, shape)
        err = yp - yt
        wv = wt if weighted else np.ones(len(yt))
        for name, q in (("pred", yp), ("abs", np.abs(err)), ("sq", err * err)):
            out.reg[f"w_{name}"] = np.bincount(cell, weights=wv * q, minlength=n_cells).reshape(shape)
            out.reg[f"w2_{name}"] = np.bincount(cell, weights=wv * wv * q, minlength=n_cells).reshape(shape)
            out.reg[f"w2_{name}2"] = np.bincount(cell, weights=wv * wv * q * q, minlength=n_cells).reshape(shape)
        return out

    ct, cp, classes = _class_codes(np.asarray(y_true), np.asarray(y_pred))
    c = len(classes)
    out.classes = classes
    out.n, out.w, out.w2 = sums((cell * c + ct) * c + cp, n_cells * c * c, shape + (c, c))
    if y_score is not None:
        s = np.asarray(y_score, dtype=float)
        probabilistic = bool(len(s) == 0 or (s.min() >= 0.0 and s.max() <= 1.0))
        edges = score_edges
        if edges is None:
            edges = probability_edges() if probabilistic else range_edges(float(s.min()), float(s.max()))
        nb = len(edges) - 1
        hidx = (cell * c + ct) * nb + _bin_index(s, edges)
        hn, hw, hw2 = sums(hidx, n_cells * c * nb, shape + (c, nb))
        wv = wt if weighted else None
        hws = np.bincount(hidx, weights=s * wv if weighted else s, minlength=n_cells * c * nb)
        out.scores = ScoreStats(
            edges=np.asarray(edges, dtype=float),
            probabilistic=probabilistic,
            hist_n=hn, hist_w=hw, hist_w2=hw2, hist_ws=hws.reshape(shape + (c, nb)),
            ex_cell=np.asarray(cell, dtype=np.int64), ex_cls=ct.astype(np.int64), ex_score=s,
            ex_w=wv if weighted else np.ones(len(s)),
        )
    return out
