"""What one streaming pass counts: mergeable tallies of every partition of the data.

:func:`tally_frames` turns the frames of one partition into a :class:`Tally`; tallies of any
partitions merge with :meth:`Tally.merge` into the tally of their union, with the same figures
whatever the partitioning, batching or order (counts are sums, distinct values are sets, the
sample is the rows of smallest key: :mod:`auditkit._scale._sample`). What is counted is set by a
:class:`TallyPlan`, which travels to the Dask workers (it holds no open file or key material
other than what it is given: the model, a prepared masker).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from auditkit._scale._classes import ClassHashes, class_hashes, value_hashes
from auditkit._scale._sample import BottomK
from auditkit.fairness.errors import FairnessInputError

__all__ = ["Tally", "TallyPlan", "tally_frames"]

#: Classes a classification audit accepts (as :func:`auditkit.fairness.count` refuses more).
MAX_CLASSES = 50
#: Label values counted (label balance); past it the label is not tabulated.
LABEL_CAP = 10_000
#: Distinct values kept of predictions and protected columns (their vocabularies).
VALUES_CAP = 64
#: Distinct values counted exactly per column; past it a column reports "more than" the cap.
DISTINCT_CAP = 200_000
#: Rows whose exact (group, class, score) table the fairness counts keep for an exact ROC AUC;
#: past it ROC AUC by group comes from the 200-bin score histogram.
EXACT_SCORE_ROWS = 2_000_000


@dataclass
class TallyPlan:
    """What to count (the audit's column roles) and how much to sample."""

    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    protected: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    model: Any = None
    quasi_identifiers: tuple[str, ...] = ()
    sensitive: str | None = None
    masker: Any = None  # a prepared auditkit.privacy.masking.Masker, or None
    sample_rows: int = 100_000
    seed: int = 0
    masking_only: bool = False  # the second pass: masking tallies alone
    count_before: bool = False  # in the second pass, the classes before masking too
    value_counts_of: tuple[str, ...] = ()  # columns whose masking operator needs value counts
    after: tuple[tuple[str, ...], str | None] | None = None  # classes after masking: qi, sensitive

    @property
    def fairness(self) -> bool:
        return bool(self.label and self.protected and (self.prediction or self.model is not None))


@dataclass
class Tally:
    """Mergeable figures of some rows of the data."""

    n_rows: int = 0
    dtypes: dict[str, str] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, np.ndarray | None] = field(default_factory=dict)  # None: over the cap
    labels: pd.Series | None = None
    counts: Any = None  # auditkit.fairness.Counts of label, prediction, score by protected group
    mask_summary: Any = None
    classes_before: list[ClassHashes] = field(default_factory=list)
    classes_after: list[ClassHashes] = field(default_factory=list)
    sample: BottomK | None = None
    partitions: int = 0
    errors: dict[str, Exception] = field(default_factory=dict)  # what could not be counted
    value_counts: dict[str, pd.Series] = field(default_factory=dict)
    head: pd.DataFrame | None = None  # the first row, typed as the concatenation of every chunk
    label_first: pd.Series | None = None  # each label value's first position (partition, row)
    values: dict[str, np.ndarray | None] = field(default_factory=dict)  # vocabularies (capped)

    def clear(self) -> None:
        """Drop every figure (once merged elsewhere: what the merge kept stays there)."""
        self.__init__()  # type: ignore[misc]

    def merge(self, other: Tally) -> Tally:
        """The tally of both sets of rows."""
        out = Tally(self.n_rows + other.n_rows, partitions=self.partitions + other.partitions)
        out.head = _heads(self.head, other.head)
        out.dtypes = {} if out.head is None else {str(c): str(t) for c, t in out.head.dtypes.items()}
        out.label_first = _first(self.label_first, other.label_first)
        out.values = {c: _capped(self.values.get(c, _NONE), other.values.get(c, _NONE), VALUES_CAP)
                      for c in dict.fromkeys([*self.values, *other.values])}
        out.missing = {c: self.missing.get(c, 0) + other.missing.get(c, 0)
                       for c in dict.fromkeys([*self.missing, *other.missing])}
        out.distinct = {c: _union(self.distinct.get(c, _EMPTY), other.distinct.get(c, _EMPTY))
                        for c in dict.fromkeys([*self.distinct, *other.distinct])}
        out.errors = {**other.errors, **self.errors}
        out.labels = (None if "labels" in self.errors or "labels" in other.errors
                      else _add_counts(self.labels, other.labels))
        if out.labels is not None and len(out.labels) > LABEL_CAP:
            out.labels = None
            out.errors["labels"] = OverflowError("label values past the cap")
        out.value_counts = {c: _add_counts(self.value_counts.get(c), other.value_counts.get(c))
                            for c in dict.fromkeys([*self.value_counts, *other.value_counts])}
        try:
            out.counts = _merge_counts(self.counts, other.counts)
        except FairnessInputError as exc:  # different tasks or too many classes across chunks
            out.errors.setdefault("fairness", exc)
            out.counts = None
        out.mask_summary = _merge_summary(self.mask_summary, other.mask_summary)
        out.classes_before = self.classes_before + other.classes_before
        out.classes_after = self.classes_after + other.classes_after
        if "fairness" in out.errors:
            out.counts = None
        out.sample = (other.sample if self.sample is None else
                      self.sample if other.sample is None else self.sample.merge(other.sample))
        return out


_EMPTY = np.zeros(0, dtype=np.uint64)
_NONE = np.zeros(0, dtype=object)


def _heads(a: pd.DataFrame | None, b: pd.DataFrame | None) -> pd.DataFrame | None:
    """One row typed as ``pd.concat`` types the chunks' columns together."""
    if a is None or b is None:
        return a if b is None else b
    return pd.concat([a, b], ignore_index=True).iloc[:1]


def _first(a: pd.Series | None, b: pd.Series | None) -> pd.Series | None:
    if a is None or b is None:
        return a if b is None else b
    both = pd.concat([a, b])
    return both.groupby(level=0, dropna=False, sort=False).min()


def _capped(a: np.ndarray | None, b: np.ndarray | None, cap: int) -> np.ndarray | None:
    """The distinct values of both (``None`` once more than ``cap``)."""
    if a is None or b is None:
        return None
    u = pd.unique(pd.Series([*a, *b], dtype=object).dropna())
    return None if len(u) > cap else np.asarray(u, dtype=object)


def _union(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return None
    u = pd.unique(np.concatenate([a, b]))
    return None if len(u) > DISTINCT_CAP else u


def _add_counts(a: pd.Series | None, b: pd.Series | None) -> pd.Series | None:
    if a is None or b is None:
        return a if b is None else b
    return a.add(b, fill_value=0).astype("int64")


def _merge_counts(a: Any, b: Any) -> Any:
    """The fairness counts of both sets of rows. Scores are kept only where every chunk's are
    probabilities (the histogram's edges must be shared): when one chunk's were not, none are."""
    if a is None or b is None:
        return a if b is None else b
    if (a.scores is None) != (b.scores is None):
        a, b = replace(a, scores=None), replace(b, scores=None)
    out = a.merge(b)
    if out.task == "classification" and len(out.classes) > MAX_CLASSES:
        raise FairnessInputError(
            f"The label and predictions have {len(out.classes):,} distinct values in all, but "
            f"classification metrics need at most {MAX_CLASSES} classes (binary: 2). Check that "
            "the label is the outcome column."
        )
    s = out.scores
    if s is not None and s.exact and len(s.ex_score) > EXACT_SCORE_ROWS:
        out.scores = s.without_exact()
    return out


def _merge_summary(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    return a.merge(b)


def _distinct_hashes(col: pd.Series) -> np.ndarray | None:
    """Hashes of the column's distinct non-missing values (``None`` past the cap), equal for
    equal values across chunks of different dtypes (:func:`value_hashes`)."""
    values = pd.Series(col.dropna().unique())
    if len(values) > DISTINCT_CAP:
        return None
    return pd.unique(value_hashes(values))


def _outcomes(plan: TallyPlan, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, Any]:
    """Label, raw predictions and positive-class scores of one frame."""
    y_true = frame[plan.label].to_numpy()
    score = frame[plan.score].to_numpy(dtype=float) if plan.score else None
    if plan.prediction:
        y_pred = frame[plan.prediction].to_numpy()
    else:
        X = frame[list(plan.features)]
        y_pred = plan.model.predict(X)
        if score is None and hasattr(plan.model, "predict_proba"):
            proba = plan.model.predict_proba(X)
            score = proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else None
    # Histogram edges must be shared by every chunk: probabilities only. A missing score is
    # kept, for the fairness count to refuse as it does in memory.
    if score is not None and len(score) and not np.isnan(score).any() and not (
            score.min() >= 0 and score.max() <= 1):
        score = None
    return y_true, y_pred, score


def _count_frame(plan: TallyPlan, t: Tally, frame: pd.DataFrame, partition: int, start: int) -> None:
    """Figures of the first pass for one frame (rows ``start ..`` of ``partition``), added to
    ``t``."""
    from auditkit.fairness import count

    t.head = _heads(t.head, frame.iloc[:1])
    t.dtypes = {str(c): str(d) for c, d in t.head.dtypes.items()}
    for c in frame.columns:
        name = str(c)
        col = frame[c]
        t.missing[name] = t.missing.get(name, 0) + int(col.isna().sum())
        seen = t.distinct.get(name, _EMPTY)
        if seen is not None:  # past the cap a column is no longer counted
            t.distinct[name] = _union(seen, _distinct_hashes(col))
    if plan.label is not None and "labels" not in t.errors:
        counts = frame[plan.label].value_counts(dropna=False, sort=False)  # first appearance order
        t.labels = _add_counts(t.labels, counts)
        pos = pd.Series(np.arange(len(counts), dtype=np.int64) + (partition << 40) + start,
                        index=counts.index)  # an upper bound of each value's first row, ordered
        t.label_first = _first(t.label_first, pos)
        if len(t.labels) > LABEL_CAP:
            t.labels = t.label_first = None
            t.errors["labels"] = OverflowError("label values past the cap")
    for c in plan.protected:
        t.values[c] = _capped(t.values.get(c, _NONE), frame[c].unique(), VALUES_CAP)
    for c in plan.value_counts_of:
        t.value_counts[c] = _add_counts(t.value_counts.get(c), frame[c].value_counts())
    if plan.fairness and "fairness" not in t.errors:
        try:
            y_true, y_pred, score = _outcomes(plan, frame)
            t.values["__prediction"] = _capped(t.values.get("__prediction", _NONE),
                                               pd.unique(y_pred), VALUES_CAP)
            part = count(y_true, y_pred, frame[list(plan.protected)].reset_index(drop=True),
                         y_score=score)
            t.counts = _merge_counts(t.counts, part)
        except Exception as exc:  # the fairness check raises it, as in memory; the rest goes on
            exc.__traceback__ = None
            t.errors["fairness"] = exc
            t.counts = None
    if plan.quasi_identifiers:
        t.classes_before.append(class_hashes(frame, list(plan.quasi_identifiers), plan.sensitive))


def _mask_frame(plan: TallyPlan, t: Tally, frame: pd.DataFrame, start: int) -> None:
    if plan.count_before and plan.quasi_identifiers:
        t.classes_before.append(class_hashes(frame, list(plan.quasi_identifiers), plan.sensitive))
    if plan.masker is None or "masking" in t.errors:
        return
    try:
        masked, summary = plan.masker.apply(frame, row_offset=start)
    except Exception as exc:  # the data-protection check raises it, as in memory; the rest goes on
        exc.__traceback__ = None
        t.errors["masking"] = exc
        return
    t.mask_summary = _merge_summary(t.mask_summary, summary)
    if plan.after is not None:  # the quasi-identifiers the policy keeps (none: one class)
        qi, sens = plan.after
        t.classes_after.append(class_hashes(masked, list(qi), sens))


def tally_frames(plan: TallyPlan, frames: Iterable[pd.DataFrame], partition: int,
                 sample_bound: int | None = None, name: str = "") -> Tally:
    """The tally of one partition, read as ``frames`` (in order); ``sample_bound`` is the
    largest key of a full sample of other partitions (:attr:`BottomK.bound`)."""
    t = Tally(partitions=1)
    if not plan.masking_only:
        t.sample = BottomK(plan.sample_rows, plan.seed, bound=sample_bound)
    start = 0
    for frame in frames:
        if plan.masking_only:
            _mask_frame(plan, t, frame, start)
        else:
            _count_frame(plan, t, frame, partition, start)
            t.sample.add(frame, partition, start)
        start += len(frame)
        t.n_rows += len(frame)
    failed = t.errors.get("masking")
    if failed is not None and failed.args and isinstance(failed.args[0], str):
        failed.args = (f"{failed.args[0]} (in partition {partition + 1}, {name}; its rows are "
                       "counted from the partition's first)", *failed.args[1:])
    return t
