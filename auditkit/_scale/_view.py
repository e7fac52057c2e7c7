"""What the checks read of data audited at scale: the merged figures of the streaming pass.

An audit on the Dask engine gives its checks a :class:`ScaleView` as ``ctx.scale``, and the
bounded uniform sample as ``ctx.data``. Count-based checks (dataset profile, completeness, label
balance, fairness, k-anonymity and l-diversity, the masking policy's effect) read the view, whose
figures are those of every row; sampled checks (performance by group, explanations, the PII
scan, the generalisation search) read the sample and say its size and seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ScaleView", "recode_true", "relabel_levels"]


@dataclass
class ScaleView:
    """The figures of one streaming pass over every partition."""

    source: str  # how the report names the data: "loans/ (12 Parquet partitions)"
    partitions: int
    engine_reason: str
    n_rows: int
    columns: list[str]
    dtypes: dict[str, str]
    missing: dict[str, int]
    distinct: dict[str, int | None]  # None: more than the exact cap
    distinct_cap: int
    labels: pd.Series | None  # rows per label value; None past LABEL_CAP values
    counts: Any  # auditkit.fairness.Counts of raw label/prediction values by raw group, or None
    counts_error: Exception | None
    label_first: pd.Series | None = None  # the order each label value first appears in
    values: dict[str, Any] = field(default_factory=dict)  # vocabularies: protected, "__prediction"
    mask_error: Exception | None = None
    risk: dict[str, Any] = field(default_factory=dict)  # "before"/"after": RiskReport
    risk_columns: tuple[tuple[str, ...], str | None] | None = None
    mask_summary: Any = None
    sample_rows: int = 0
    seed: int = 0
    seconds: float = 0.0
    workers: int = 1
    passes: int = 1

    @property
    def sampled(self) -> bool:
        """Whether the sample holds fewer rows than the data."""
        return self.sample_rows < self.n_rows

    def sample_note(self) -> str:
        """One sentence for a sampled figure: which rows it was computed on."""
        if not self.sampled:
            return f"computed on all {self.n_rows:,} rows"
        return (f"computed on a uniform sample of {self.sample_rows:,} of {self.n_rows:,} rows "
                f"(seed {self.seed})")

    def label_counts(self) -> pd.Series | None:
        """Rows per label value (missing included), most frequent first, ties in the order the
        values first appear in the data (as ``value_counts`` orders them in memory)."""
        if self.labels is None:
            return None
        first = self.label_first.reindex(self.labels.index).to_numpy()
        order = np.lexsort((first, -self.labels.to_numpy()))
        return self.labels.iloc[order]

    def vocabulary(self, column: str) -> Any:
        """The distinct values of a protected column (``"__prediction"``: of the predictions),
        or ``None`` when there are more than the tally keeps."""
        return self.values.get(column)

    def distinct_count(self, column: str) -> int | None:
        return self.distinct.get(column)

    def missing_series(self) -> pd.Series:
        return pd.Series({c: self.missing.get(c, 0) for c in self.columns}, dtype="int64")


def relabel_levels(counts: Any, attribute: str, mapping: Callable[[Any], Any]) -> Any:
    """``counts`` with the levels of ``attribute`` renamed by ``mapping`` (one to one; the
    missing level stays), re-sorted as the fairness engine sorts levels."""
    from auditkit.fairness import MISSING, level_key

    axis = counts.attributes.index(attribute)
    old = counts.levels[axis]
    renamed = [v if (isinstance(v, str) and v == MISSING) else mapping(v) for v in old]
    order = sorted(range(len(old)), key=lambda i: level_key(renamed[i]))
    levels = list(counts.levels)
    levels[axis] = tuple(renamed[i] for i in order)
    return _take_levels(counts, axis, np.array(order, dtype=np.intp), tuple(levels))


def _take_levels(counts: Any, axis: int, order: np.ndarray, levels: tuple) -> Any:
    out = replace(counts, levels=levels)
    out.n, out.w, out.w2 = (np.take(a, order, axis=axis) for a in (counts.n, counts.w, counts.w2))
    out.reg = {k: np.take(v, order, axis=axis) for k, v in counts.reg.items()}
    s = counts.scores
    if s is not None:
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        ex_cell = s.ex_cell
        if len(ex_cell):
            idx = list(np.unravel_index(ex_cell, counts.shape))
            idx[axis] = inverse[idx[axis]]
            ex_cell = np.ravel_multi_index(tuple(idx), counts.shape).astype(np.int64)
        out.scores = replace(s, hist_n=np.take(s.hist_n, order, axis=axis),
                             hist_w=np.take(s.hist_w, order, axis=axis),
                             hist_w2=np.take(s.hist_w2, order, axis=axis),
                             hist_ws=np.take(s.hist_ws, order, axis=axis), ex_cell=ex_cell)
    return out


def recode_true(counts: Any, recode: Callable[[Any], Any], keys: Iterable[Any]) -> Any:
    """``counts`` with the true class of every row recoded (the label put in the predictions'
    vocabulary, as :func:`auditkit._outcomes.resolve_outcomes` does for the in-memory audit);
    classes no row has afterwards are dropped. ``keys`` sorts the classes."""
    old = counts.classes
    mapped = [recode(c) for c in old]
    k = counts.n.ndim - 2  # leading level axes
    used_true = {mapped[i] for i in range(len(old)) if counts.n.sum(axis=tuple(range(k)) + (k + 1,))[i]}
    used_pred = {old[j] for j in range(len(old)) if counts.n.sum(axis=tuple(range(k + 1)))[j]}
    classes = tuple(sorted(used_true | used_pred, key=keys))
    ti = np.array([classes.index(m) if m in classes else -1 for m in mapped])
    pj = np.array([classes.index(c) if c in classes else -1 for c in old])
    c = len(classes)

    def move(a: np.ndarray) -> np.ndarray:
        out = np.zeros(a.shape[:k] + (c, c), dtype=a.dtype)
        for i in range(len(old)):
            for j in range(len(old)):
                if ti[i] >= 0 and pj[j] >= 0:
                    out[..., ti[i], pj[j]] += a[..., i, j]
        return out

    out = replace(counts, classes=classes)
    out.n, out.w, out.w2 = move(counts.n), move(counts.w), move(counts.w2)
    s = counts.scores
    if s is not None:
        def move_true(a: np.ndarray) -> np.ndarray:
            res = np.zeros(a.shape[:k] + (c,) + a.shape[k + 1:], dtype=a.dtype)
            for i in range(len(old)):
                if ti[i] >= 0:
                    res[..., ti[i], :] += a[..., i, :]
            return res

        out.scores = replace(s, hist_n=move_true(s.hist_n), hist_w=move_true(s.hist_w),
                             hist_w2=move_true(s.hist_w2), hist_ws=move_true(s.hist_ws),
                             ex_cls=ti[s.ex_cls].astype(np.int64) if len(s.ex_cls) else s.ex_cls)
    return out
