"""Mergeable per-window tables of a prediction log: counts, feature histograms, pending rows.

:func:`count_batch` turns one batch (a DataFrame chunk) of the log into three tables:

- *counts*: ``window``, one column per protected attribute, ``y_pred``, ``y_true`` (missing = not
  yet labelled), ``score_bin`` (``-1`` = no score), ``n`` and ``score_sum``;
- *features*: ``window``, ``feature``, ``grouping`` (``""`` = all rows, else a protected attribute),
  ``group``, ``bin``, ``n`` — histograms on bins fixed once (:class:`FeatureBins`);
- *pending*: one row per prediction with an id and no label yet, so a late label can move it.

Tables of any split of the rows merge (:func:`merge_tables`) into the tables of all rows. The hot
path never loops over rows in Python nor formats a string per row: each key column is factorised
once (categorical columns give their codes for free), only the unique values become text
(:func:`~auditkit.fairness._windows.label_text`), the keys combine into one integer code, and
``np.bincount`` counts it. :func:`join_labels` applies late labels to pending rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._inputs import MISSING
from auditkit.fairness._monitor_bins import FeatureBins, column_codes
from auditkit.fairness._windows import Windowing, assign_windows, label_text, latest_utc, wall_times
from auditkit.fairness.errors import FairnessInputError

__all__ = ["BatchCounts", "FeatureBins", "LabelColumns", "LabelJoin", "LogColumns", "canonical",
           "column_codes", "count_batch", "count_keys", "empty_counts", "empty_features", "empty_orphans", "empty_pending",
           "join_labels", "merge_tables"]

SCORE_BINS = 20
RESERVED = frozenset({"window", "y_pred", "y_true", "score_bin", "n", "score_sum", "id", "score",
                      "feature", "grouping", "group", "bin"})
FEATURE_KEYS = ["window", "feature", "grouping", "group", "bin"]
_DENSE_LIMIT = 1 << 22  # largest key space counted densely with np.bincount (else np.unique)


@dataclass(frozen=True)
class LogColumns:
    """The columns of the prediction log (names in the user's files)."""

    timestamp: str | None
    prediction: str
    protected: tuple[str, ...]
    score: str | None = None
    features: tuple[str, ...] = ()
    id: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "protected", tuple(self.protected))
        object.__setattr__(self, "features", tuple(self.features))
        if not self.protected:
            raise FairnessInputError("The monitor needs at least one protected attribute column; got none.")
        if len(set(self.protected)) != len(self.protected):
            raise FairnessInputError("A protected attribute column is named twice; name each once.")
        clash = sorted(set(self.protected) & RESERVED)
        if clash:
            raise FairnessInputError(
                f"Protected attribute columns may not be named {', '.join(map(repr, clash))}: those names "
                "are columns of the monitor's tables. Rename the column in the log."
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (stored in ``meta.json``)."""
        return {"timestamp": self.timestamp, "prediction": self.prediction, "protected": list(self.protected),
                "score": self.score, "features": list(self.features), "id": self.id, "label": self.label}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogColumns:
        """Inverse of :meth:`to_dict`."""
        return cls(timestamp=data["timestamp"], prediction=data["prediction"],
                   protected=tuple(data["protected"]), score=data.get("score"),
                   features=tuple(data.get("features", ())), id=data.get("id"), label=data.get("label"))

    def required(self) -> list[str]:
        """Every column a prediction batch must have."""
        names = [self.timestamp, self.prediction, *self.protected, self.score, *self.features,
                 self.id, self.label]
        return list(dict.fromkeys(n for n in names if n is not None))


@dataclass(frozen=True)
class LabelColumns:
    """The columns of a labels file: the id joining it to the log, and the true label."""

    id: str
    label: str


def count_keys(cols: LogColumns) -> list[str]:
    """Key columns of the counts table."""
    return ["window", *cols.protected, "y_pred", "y_true", "score_bin"]


def _strings(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    for c in names:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None).astype("str")
    return frame


def empty_counts(cols: LogColumns) -> pd.DataFrame:
    """An empty counts table with the canonical column types."""
    return canonical(pd.DataFrame({k: [] for k in [*count_keys(cols), "n", "score_sum"]}), count_keys(cols))


def empty_features() -> pd.DataFrame:
    """An empty features table."""
    return canonical(pd.DataFrame({k: [] for k in [*FEATURE_KEYS, "n"]}), FEATURE_KEYS)


def empty_pending(cols: LogColumns) -> pd.DataFrame:
    """An empty pending table."""
    names = ["id", "window", *cols.protected, "y_pred", "score_bin", "score"]
    return canonical(pd.DataFrame({k: [] for k in names}), names)


def empty_orphans() -> pd.DataFrame:
    """An empty orphans table (labels waiting for their prediction)."""
    return canonical(pd.DataFrame({"id": [], "y_true": []}), ["id", "y_true"])


_INT_TYPES = {"window": np.int64, "n": np.int64, "score_bin": np.int16, "bin": np.int32}
_FLOAT = {"score_sum", "score"}


def canonical(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A monitor table with its fixed column types: integers as documented, floats, the rest text."""
    frame = frame.reset_index(drop=True)
    text = [c for c in frame.columns if c not in _INT_TYPES and c not in _FLOAT]
    for c in frame.columns:
        if c in _INT_TYPES:
            frame[c] = frame[c].astype(_INT_TYPES[c])
        elif c in _FLOAT:
            frame[c] = frame[c].astype(np.float64)
    return _strings(frame, [c for c in text if frame[c].dtype != "str" or not len(frame)])


def merge_tables(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sum two tables over their key columns; cells whose ``n`` sums to 0 are dropped.

    Parameters
    ----------
    a, b
        Tables with the same columns: the ``keys`` and summable value columns (``n``...).
    keys
        The key columns; missing values in a key are a key of their own.

    Returns
    -------
    pandas.DataFrame
        One row per key, sorted by the keys.
    """
    parts = [t for t in (a, b) if len(t)]
    if not parts:
        return canonical(a.iloc[0:0].copy(), keys)
    both = canonical(pd.concat(parts, ignore_index=True), keys) if len(parts) > 1 else parts[0]
    values = [c for c in both.columns if c not in keys]
    out = both.groupby(keys, dropna=False, sort=False, observed=True)[values].sum().reset_index()
    if "n" in out.columns:
        out = out[out["n"] != 0]
    out = out.sort_values(keys, kind="stable", na_position="last")
    return canonical(out[[*keys, *values]], keys)


# --------------------------------------------------------------------------- counting


def _flat_counts(codes: list[np.ndarray], sizes: list[int], offsets: list[int] | None = None,
                 weights: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
    """Counts of each combination of codes (``codes[i] + offsets[i]`` in ``[0, sizes[i])``).

    Returns the cells present (one array per key), their row counts and their sums of ``weights``.
    A key of size 1 is all zeros and is not read.
    """
    offsets = offsets or [0] * len(codes)
    if float(np.prod(np.array(sizes, dtype=np.float64))) >= 2.0**62:
        raise FairnessInputError("Too many distinct key values in one batch to count; use smaller windows.")
    combined: np.ndarray | None = None
    const = 0
    for c, size, off in zip(codes, sizes, offsets, strict=True):
        if combined is None:
            combined, const = c.astype(np.int64), off
        elif size > 1:
            combined *= size
            combined += c
            const = const * size + off
    assert combined is not None
    if const:
        combined += const
    total = int(np.prod(np.array(sizes, dtype=np.int64)))
    if total <= max(_DENSE_LIMIT, 2 * len(combined)):
        n = np.bincount(combined, minlength=total)
        cells = np.flatnonzero(n)
        n = n[cells]
        w = np.bincount(combined, weights=weights, minlength=total)[cells] if weights is not None else None
    else:
        cells, inverse = np.unique(combined, return_inverse=True)
        n = np.bincount(inverse)
        w = np.bincount(inverse, weights=weights) if weights is not None else None
    return list(np.unravel_index(cells, sizes)), n.astype(np.int64), w


def _require(frame: pd.DataFrame, cols: LogColumns) -> None:
    missing = [c for c in cols.required() if c not in frame.columns]
    if missing:
        raise FairnessInputError(
            f"The prediction log lacks the column(s) {', '.join(map(repr, missing))} named in the monitor "
            "configuration. Fix the column names in the configuration or the log."
        )


def _scores(frame: pd.DataFrame, cols: LogColumns) -> tuple[np.ndarray, np.ndarray]:
    """Score bins (int16, -1 = none) and scores (NaN = none)."""
    if cols.score is None:
        return np.full(len(frame), -1, dtype=np.int16), np.full(len(frame), np.nan)
    try:
        s = frame[cols.score].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise FairnessInputError(
            f"The score column {cols.score!r} must hold numbers (positive-class probabilities in [0, 1])."
        ) from None
    nan = np.isnan(s)
    bad = int(np.count_nonzero(~nan & ((s < 0) | (s > 1))))
    if bad:
        raise FairnessInputError(
            f"The score column {cols.score!r} has {bad} values outside [0, 1]; the monitor needs "
            "positive-class probabilities. Pass probabilities (e.g. predict_proba), or drop the score column."
        )
    b = np.minimum((np.where(nan, 0.0, s) * SCORE_BINS).astype(np.int16), SCORE_BINS - 1)
    b[nan] = -1
    return b, s


def _text_codes(series: pd.Series, missing_label: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Codes in ``[-1, k)`` (-1 = missing) and their labels, shifted by one: ``labels[0]`` is missing."""
    codes, labels = column_codes(series)
    return codes, np.concatenate([np.array([missing_label], dtype=object), labels])


@dataclass
class BatchCounts:
    """The tables of one batch of the log (see the module docstring)."""

    counts: pd.DataFrame
    features: pd.DataFrame
    pending: pd.DataFrame
    rows: int
    windows: np.ndarray
    latest: pd.Timestamp | None = None
    matched_orphans: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))


def _labels_and_orphans(frame: pd.DataFrame, cols: LogColumns, orphans: pd.DataFrame | None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """y_true codes and labels, ids of rows still unlabelled (pending), and the orphans used."""
    n = len(frame)
    if cols.label is not None:
        yt_codes, yt_labels = _text_codes(frame[cols.label], None)
    else:
        yt_codes, yt_labels = np.full(n, -1, dtype=np.int8), np.array([None], dtype=object)
    if cols.id is None:
        return yt_codes, yt_labels, np.zeros(n, bool), np.array([], dtype=object)
    unlabelled = (yt_codes < 0) & frame[cols.id].notna().to_numpy()
    rows = np.flatnonzero(unlabelled)
    ids = label_text(frame[cols.id].iloc[rows])
    used = np.array([], dtype=object)
    if orphans is not None and len(orphans) and len(rows):
        pos = pd.Index(orphans["id"].to_numpy(dtype=object)).get_indexer(ids)
        hit = pos >= 0
        if hit.any():
            extra_codes, extra_labels = column_codes(orphans["y_true"].iloc[pos[hit]])
            yt_codes = yt_codes.astype(np.int64)
            yt_codes[rows[hit]] = extra_codes + (len(yt_labels) - 1)
            yt_labels = np.concatenate([yt_labels, extra_labels])
            unlabelled[rows[hit]] = False
            used = ids[hit]
    return yt_codes, yt_labels, unlabelled, used


def _emit(table: np.ndarray, feature: str, grouping: str, labels: np.ndarray, w0: int) -> pd.DataFrame:
    """Rows of the features table from a dense (window, group, bin + 1) array of counts."""
    w_cells, g_cells, b_cells = np.nonzero(table)
    return pd.DataFrame({"window": w_cells + w0, "feature": feature, "grouping": grouping,
                         "group": labels[g_cells], "bin": b_cells - 1, "n": table[w_cells, g_cells, b_cells]})


def _feature_tables(frame: pd.DataFrame, cols: LogColumns, bins: FeatureBins, w_code: np.ndarray,
                    n_w: int, w0: int, protected: list[tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Histograms per (window, grouping, group, bin): one bincount per feature over the intersection
    of the protected attributes, whose margins give each grouping (and all rows)."""
    if not cols.features:
        return empty_features()
    assigned = {f: bins.assign(f, frame[f]) for f in cols.features}
    nb = max(bins.n_bins(f) for f in cols.features) + 1  # one stride for every feature's bins (+ missing)
    shape = (n_w, *(len(lab) for _, lab in protected), nb)
    if float(np.prod(np.array(shape, dtype=np.float64))) > max(_DENSE_LIMIT, 2 * len(frame)):
        return _feature_tables_by_grouping(cols, assigned, nb, w_code, n_w, w0, protected)
    base = w_code.astype(np.int64)
    for codes, labels in protected:  # group label index = code + 1 (0 = missing)
        base *= len(labels)
        base += codes
        base += 1
    base *= nb
    base += 1  # a feature's bin b (-1 = missing) then adds once per row
    buf = np.empty(len(frame), dtype=np.int64)
    parts = []
    axes = tuple(range(1, len(protected) + 1))
    for feature in cols.features:
        np.add(base, assigned[feature], out=buf)
        joint = np.bincount(buf, minlength=int(np.prod(shape))).reshape(shape)
        parts.append(_emit(joint.sum(axis=axes)[:, None, :], feature, "", np.array([""], dtype=object), w0))
        for i, (name, (_, labels)) in enumerate(zip(cols.protected, protected, strict=True)):
            margin = joint.sum(axis=tuple(a for a in axes if a != i + 1))
            parts.append(_emit(margin, feature, name, labels, w0))
    return canonical(pd.concat(parts, ignore_index=True).sort_values(FEATURE_KEYS, kind="stable"), FEATURE_KEYS)


def _feature_tables_by_grouping(cols: LogColumns, assigned: dict[str, np.ndarray], nb: int, w_code: np.ndarray,
                                n_w: int, w0: int, protected: list[tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """As :func:`_feature_tables`, one grouping at a time (when the intersection is too large)."""
    groupings = [("", None, np.array([""], dtype=object))]
    groupings += [(p, c, lab) for p, (c, lab) in zip(cols.protected, protected, strict=True)]
    parts = []
    for name, g_codes, g_labels in groupings:
        key = w_code if g_codes is None else w_code * len(g_labels) + (g_codes.astype(np.int64) + 1)
        for feature in cols.features:
            (k_cells, b_cells), n, _ = _flat_counts([key, assigned[feature]], [n_w * len(g_labels), nb], [0, 1])
            w_cells, g_cells = np.divmod(k_cells, len(g_labels))
            parts.append(pd.DataFrame({"window": w_cells + w0, "feature": feature, "grouping": name,
                                       "group": g_labels[g_cells], "bin": b_cells - 1, "n": n}))
    return canonical(pd.concat(parts, ignore_index=True).sort_values(FEATURE_KEYS, kind="stable"), FEATURE_KEYS)


def count_batch(frame: pd.DataFrame, cols: LogColumns, windowing: Windowing, bins: FeatureBins, *,
                row_offset: int = 0, orphans: pd.DataFrame | None = None) -> BatchCounts:
    """Count one batch of the prediction log.

    Parameters
    ----------
    frame
        The batch: the columns named by ``cols``.
    cols
        Which column is which.
    windowing
        The windows.
    bins
        Fixed feature bins (:meth:`FeatureBins.fit` on the first batch).
    row_offset
        Log rows ingested before this batch (row windows).
    orphans
        Labels waiting for their prediction (``id``, ``y_true``): rows whose id is there are counted
        as labelled; :attr:`BatchCounts.matched_orphans` lists the ids used.

    Returns
    -------
    BatchCounts
    """
    _require(frame, cols)
    n = len(frame)
    if n == 0:  # a header-only file or an empty chunk: nothing to count, and no bins are needed
        return BatchCounts(counts=empty_counts(cols), features=empty_features(), pending=empty_pending(cols),
                           rows=0, windows=np.array([], dtype=np.int64))
    wall = None
    if cols.timestamp is not None:
        wall = wall_times(frame[cols.timestamp], windowing.timezone, column=cols.timestamp)
    windows = assign_windows(wall if windowing.calendar else None, windowing, row_offset=row_offset,
                             n_rows=n, column=cols.timestamp or "timestamp")
    w0 = int(windows.min())
    w_code = windows - w0
    n_w = int(w_code.max()) + 1
    pred_codes, pred_labels = _text_codes(frame[cols.prediction], None)
    if int(np.count_nonzero(pred_codes < 0)):
        raise FairnessInputError(
            f"The prediction column {cols.prediction!r} has {int(np.count_nonzero(pred_codes < 0))} "
            "missing values; every logged row needs a prediction. Drop or fix those rows."
        )
    protected = [_text_codes(frame[p], MISSING) for p in cols.protected]
    yt_codes, yt_labels, pending_mask, used = _labels_and_orphans(frame, cols, orphans)
    sbin, score = _scores(frame, cols)
    codes = [w_code, *(c for c, _ in protected), pred_codes, yt_codes, sbin]
    offsets = [0, *(1 for _ in protected), 1, 1, 1]
    sizes = [n_w, *(len(lab) for _, lab in protected), len(pred_labels), len(yt_labels), SCORE_BINS + 1]
    cells, cnt, ssum = _flat_counts(codes, sizes, offsets, weights=np.where(np.isnan(score), 0.0, score))
    table = {"window": cells[0] + w0}
    for i, (p, (_, lab)) in enumerate(zip(cols.protected, protected, strict=True)):
        table[p] = lab[cells[1 + i]]
    k = len(protected)
    table.update(y_pred=pred_labels[cells[1 + k]], y_true=yt_labels[cells[2 + k]],
                 score_bin=cells[3 + k] - 1, n=cnt, score_sum=ssum)
    keys = count_keys(cols)
    counts = merge_tables(pd.DataFrame(table), pd.DataFrame(columns=[*keys, "n", "score_sum"]), keys)
    features = _feature_tables(frame, cols, bins, w_code, n_w, w0, protected)
    pending = _pending(frame, cols, pending_mask, windows, protected, pred_codes, pred_labels, sbin, score)
    latest = latest_utc(wall, windowing.timezone) if wall is not None else None
    return BatchCounts(counts=counts, features=features, pending=pending, rows=n,
                       windows=np.unique(windows), latest=latest, matched_orphans=used)


def _pending(frame: pd.DataFrame, cols: LogColumns, mask: np.ndarray, windows: np.ndarray,
             protected: list[tuple[np.ndarray, np.ndarray]], pred_codes: np.ndarray,
             pred_labels: np.ndarray, sbin: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    if cols.id is None or not mask.any():
        return empty_pending(cols)
    rows = np.flatnonzero(mask)
    data: dict[str, Any] = {"id": label_text(frame[cols.id].iloc[rows]), "window": windows[rows]}
    for p, (c, lab) in zip(cols.protected, protected, strict=True):
        data[p] = lab[c[rows] + 1]
    data.update(y_pred=pred_labels[pred_codes[rows] + 1], score_bin=sbin[rows], score=score[rows])
    return canonical(pd.DataFrame(data), list(data))


# --------------------------------------------------------------------------- late labels


@dataclass
class LabelJoin:
    """What a batch of late labels does: the counts delta, and the new pending and orphans tables."""

    delta: pd.DataFrame
    pending: pd.DataFrame
    orphans: pd.DataFrame
    labelled: int
    new_orphans: int
    windows: np.ndarray


def _refuse_duplicates(ids: np.ndarray, orphans: pd.DataFrame, source: str) -> None:
    index = pd.Index(ids)
    dup = int(index.duplicated().sum())
    if dup:
        raise FairnessInputError(
            f"The labels file {source} gives {dup} id(s) more than one label. Keep one label per id."
        )
    again = int(index.isin(orphans["id"].to_numpy(dtype=object)).sum()) if len(orphans) else 0
    if again:
        raise FairnessInputError(
            f"The labels file {source} labels {again} id(s) that an earlier labels file already labelled "
            "(their predictions have not arrived yet). A second label is refused: remove those rows."
        )


def join_labels(pending: pd.DataFrame, orphans: pd.DataFrame, frame: pd.DataFrame, label_cols: LabelColumns,
                cols: LogColumns, *, source: str = "labels") -> LabelJoin:
    """Apply late labels to the pending rows.

    Each label whose id matches a pending row moves that row from the unlabelled key
    (``y_true`` missing) to the labelled one: the delta holds ``-1`` / ``-score`` and
    ``+1`` / ``+score``. Labels matching nothing become orphans, matched when their prediction
    arrives. A second label for an id (in the file, or waiting among the orphans) is refused.

    Parameters
    ----------
    pending, orphans
        The state's tables.
    frame
        The labels: the columns ``label_cols.id`` and ``label_cols.label``.
    label_cols
        Which column is which.
    cols
        The log's columns (for the key columns of the delta).
    source
        The labels file's name, for messages.
    """
    for c in (label_cols.id, label_cols.label):
        if c not in frame.columns:
            raise FairnessInputError(f"The labels file {source} lacks the column {c!r} named in the configuration.")
    ids, labels = label_text(frame[label_cols.id]), label_text(frame[label_cols.label])
    for what, arr in (("id", ids), ("label", labels)):
        bad = int(sum(v is None for v in arr)) if arr.dtype == object else 0
        if bad:
            raise FairnessInputError(
                f"The labels file {source} has {bad} row(s) without an {what}. Drop those rows or fill them."
            )
    _refuse_duplicates(ids, orphans, source)
    pos = pd.Index(pending["id"].to_numpy(dtype=object)).get_indexer(ids)
    hit = pos >= 0
    keys = count_keys(cols)
    matched = pending.iloc[pos[hit]]
    score = matched["score"].fillna(0.0).to_numpy()
    base = {k: matched[k].to_numpy() for k in keys if k != "y_true"}
    minus = pd.DataFrame({**base, "y_true": None, "n": -1, "score_sum": -score})[[*keys, "n", "score_sum"]]
    plus = pd.DataFrame({**base, "y_true": labels[hit], "n": 1, "score_sum": score})[[*keys, "n", "score_sum"]]
    delta = merge_tables(canonical(minus, keys), canonical(plus, keys), keys)
    keep = np.ones(len(pending), bool)
    keep[pos[hit]] = False
    new = pd.DataFrame({"id": ids[~hit], "y_true": labels[~hit]})
    new_orphans = canonical(pd.concat([orphans, canonical(new, ["id", "y_true"])], ignore_index=True),
                             ["id", "y_true"])
    return LabelJoin(delta=delta, pending=canonical(pending[keep], list(pending.columns)), orphans=new_orphans,
                     labelled=int(hit.sum()), new_orphans=int((~hit).sum()),
                     windows=np.unique(matched["window"].to_numpy()))
