"""Distribution drift of features per window and per group: PSI, Jensen-Shannon, critical values.

Histograms are counts over fixed bins (the features table of the monitor: one row per window,
feature, grouping, group and bin, with the missing bin -1). Two histograms are compared over
the bins that hold a row in either of them; a bin empty on both sides says nothing about a
change and is left out (so adding empty bins changes nothing).

- **PSI** (population stability index), natural log: ``Σ (q_i - p_i) ln(q_i / p_i)`` with
  ``p`` the reference and ``q`` the current proportions. A bin empty on one side would make it
  infinite, so both histograms are smoothed by adding 0.5 to every bin count (the
  Krichevsky-Trofimov / Jeffreys pseudo-count: ``p_i = (r_i + 0.5) / (R + 0.5 B)``). The
  smoothing pulls a histogram towards uniform by B/2 rows, negligible at the sample sizes where
  alarms are raised (>= 100 rows a side) and bounded where a bin appears from nothing.
  PSI is symmetric in the two histograms and zero exactly when the smoothed proportions agree.
- **Jensen-Shannon distance**, base 2 (in [0, 1]), on the unsmoothed proportions:
  ``sqrt(JS divergence)``, equal to ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
  Reported beside PSI; alarms are decided on PSI.
- **Critical value** (Yurdakul & Naranjo, "Statistical properties of the population stability
  index", *Journal of Risk Model Validation* 14(4), 2020): with no drift, reference and current
  histograms being multinomial samples of one distribution over B bins,
  ``PSI ≈ (1/n + 1/m) χ²(B - 1)`` (n, m the row counts), so the level-alpha critical value is
  ``(1/n + 1/m) · χ²_{1-alpha}(B - 1)``.

:func:`drift_table` alarms when PSI exceeds both a fixed threshold (0.2 by default: the usual
"significant shift" rule of thumb) and the critical value at ``alpha / m``, m the number of
(feature, grouping, group) tests of that window (Bonferroni): the fixed threshold keeps large
samples from alarming on shifts too small to matter, the critical value keeps small samples from
alarming on noise. The probability of any false drift alarm is thus at most alpha *per window*
(not over a horizon, unlike the fairness detector); with large samples the fixed threshold
dominates and the actual rate is far below alpha.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditkit.hints import did_you_mean

from .errors import FairnessInputError

__all__ = [
    "REFERENCE_KINDS",
    "ReferenceSpec",
    "drift_table",
    "js_distance",
    "psi",
    "psi_critical",
]

SMOOTHING = 0.5
"""Pseudo-count added to every bin of both histograms before PSI."""

REFERENCE_KINDS = ("first", "previous", "range")
FEATURE_COLUMNS = ("window", "feature", "grouping", "group", "bin", "n")
DRIFT_COLUMNS = (
    "window", "feature", "grouping", "group", "reference_start", "reference_end", "n_reference",
    "n_current", "n_bins", "psi", "js", "psi_critical", "alpha_per_test", "threshold", "alarm",
    "reason",
)


@dataclass(frozen=True)
class ReferenceSpec:
    """Which windows a window's histograms are compared with.

    Parameters
    ----------
    kind
        ``"first"``: the sum of the first ``n`` windows that have data (a fixed reference);
        ``"previous"``: the window with data just before (drift from one window to the next);
        ``"range"``: the sum of the windows ``start`` to ``end`` (window indices, inclusive).
        Only windows after a fixed reference are compared.
    n
        Number of windows of a ``"first"`` reference.
    start, end
        Window indices of a ``"range"`` reference.
    """

    kind: str = "first"
    n: int = 4
    start: int | None = None
    end: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in REFERENCE_KINDS:
            raise FairnessInputError(
                f"The drift reference kind must be one of {', '.join(REFERENCE_KINDS)}; got "
                f"{self.kind!r}.{did_you_mean(self.kind, REFERENCE_KINDS)}"
            )
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise FairnessInputError(
                f"The drift reference 'n' (windows in a 'first' reference) must be an integer "
                f">= 1; got {self.n!r}."
            )
        if self.kind == "range":
            ints = all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                for v in (self.start, self.end)
            )
            if not ints or self.start > self.end:  # type: ignore[operator]
                raise FairnessInputError(
                    "A 'range' drift reference needs integer window indices 'start' <= 'end'; "
                    f"got start={self.start!r}, end={self.end!r}."
                )


def _counts_pair(reference: object, current: object) -> tuple[np.ndarray, np.ndarray]:
    try:
        r = np.asarray(reference, dtype=float)
        c = np.asarray(current, dtype=float)
    except (TypeError, ValueError):
        raise FairnessInputError(
            "Drift measures expect two arrays of bin counts; they could not be read as numbers."
        ) from None
    if r.ndim != 1 or r.shape != c.shape:
        raise FairnessInputError(
            "Drift measures expect two one-dimensional arrays of bin counts over the same bins; "
            f"got shapes {r.shape} and {c.shape}. Count both histograms over the same bins."
        )
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(c))) or np.any(r < 0) or np.any(c < 0):
        raise FairnessInputError(
            "Drift measures expect bin counts that are finite and >= 0; some are negative or "
            "not finite. Pass row counts per bin."
        )
    return r[None, :], c[None, :]


def _psi_rows(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PSI per row of two (streams, bins) count arrays, and the number of bins compared."""
    mask = (ref > 0) | (cur > 0)
    bins = mask.sum(axis=1)
    r_tot = ref.sum(axis=1, keepdims=True) + SMOOTHING * bins[:, None]
    c_tot = cur.sum(axis=1, keepdims=True) + SMOOTHING * bins[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (ref + SMOOTHING) / r_tot
        q = (cur + SMOOTHING) / c_tot
        terms = np.where(mask, (q - p) * np.log(q / p), 0.0)
    out = terms.sum(axis=1)
    empty = (ref.sum(axis=1) == 0) | (cur.sum(axis=1) == 0)
    return np.where(empty, np.nan, np.maximum(out, 0.0)), bins


def _js_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    r_tot = ref.sum(axis=1, keepdims=True)
    c_tot = cur.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = ref / r_tot
        q = cur / c_tot
        m = 0.5 * (p + q)
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=1)
    div = np.clip(0.5 * (kl_p + kl_q), 0.0, 1.0)
    empty = (r_tot[:, 0] == 0) | (c_tot[:, 0] == 0)
    return np.where(empty, np.nan, np.sqrt(div))


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two histograms (counts over the same bins), smoothed.

    ``Σ (q_i - p_i) ln(q_i / p_i)`` over the bins non-empty in either histogram, after adding
    0.5 to every such bin count of both (see the module docstring). nan when either histogram
    has no rows.

    Examples
    --------
    >>> round(psi([10, 20, 30, 40], [20, 20, 20, 40]), 5)   # (10/102) ln(30.5/10.5)
    0.10454
    """
    r, c = _counts_pair(reference, current)
    return float(_psi_rows(r, c)[0][0])


def js_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two histograms; nan when either is empty.

    Equal to ``scipy.spatial.distance.jensenshannon(reference, current, base=2)``.
    """
    r, c = _counts_pair(reference, current)
    return float(_js_rows(r, c)[0])


def _critical(n_ref: np.ndarray, n_cur: np.ndarray, bins: np.ndarray, alpha: np.ndarray):
    from scipy.special import chdtri  # inverse chi-square survival function; lighter than stats

    df = np.asarray(bins, dtype=float) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 1.0 / np.asarray(n_ref, dtype=float) + 1.0 / np.asarray(n_cur, dtype=float)
        q = np.where(df > 0, chdtri(np.maximum(df, 1), alpha), 0.0)
    return scale * q


def psi_critical(n_reference: int, n_current: int, n_bins: int, alpha: float) -> float:
    """Critical value of PSI at level ``alpha`` with no drift (Yurdakul & Naranjo 2020).

    ``(1/n_reference + 1/n_current) · χ²_{1-alpha}(n_bins - 1)``: under no drift PSI is
    approximately that multiple of a chi-square with ``n_bins - 1`` degrees of freedom. With one
    bin PSI is always 0 and so is the critical value.

    Examples
    --------
    >>> round(psi_critical(2000, 500, 10, 0.05), 4)   # 0.0025 * 16.919
    0.0423
    """
    for name, v in (("n_reference", n_reference), ("n_current", n_current), ("n_bins", n_bins)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise FairnessInputError(
                f"psi_critical() expects '{name}' to be an integer >= 1 (a count); got {v!r}."
            )
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise FairnessInputError(
            f"psi_critical() expects 'alpha' strictly between 0 and 1; got {alpha!r}. Use e.g. 0.05."
        )
    return float(_critical(np.array(n_reference), np.array(n_current), np.array(n_bins), alpha))


def _features_frame(features: object) -> pd.DataFrame:
    if not isinstance(features, pd.DataFrame):
        raise FairnessInputError(
            f"drift_table() expects the features table as a pandas DataFrame; got "
            f"{type(features).__name__}."
        )
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        raise FairnessInputError(
            f"drift_table() expects the features table to have the columns "
            f"{', '.join(FEATURE_COLUMNS)}; missing: {', '.join(missing)}."
        )
    frame = features.loc[:, list(FEATURE_COLUMNS)]
    for col in ("window", "bin", "n"):
        if not pd.api.types.is_integer_dtype(frame[col]) or frame[col].isna().any():
            raise FairnessInputError(
                f"drift_table() expects the features column '{col}' to hold integers without "
                f"missing values; got dtype {frame[col].dtype}."
            )
    if (frame["n"] < 0).any() or (frame["bin"] < -1).any():
        raise FairnessInputError(
            "drift_table() expects counts 'n' >= 0 and bins >= -1 (-1 is the missing bin) in the "
            "features table; some rows break this. Rebuild the table from the monitor's state."
        )
    return frame[frame["n"] > 0]


def _window_indices(windows: object) -> np.ndarray:
    arr = np.asarray(windows)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise FairnessInputError(
            "drift_table() expects 'windows' to be a one-dimensional array of integer window "
            f"indices; got dtype {arr.dtype} with {arr.ndim} dimension(s)."
        )
    return np.unique(arr.astype(np.int64))


def _check_options(reference: object, alpha: object, psi_threshold: object, min_rows: object) -> None:
    if not isinstance(reference, ReferenceSpec):
        raise FairnessInputError(
            f"drift_table() expects 'reference' to be a ReferenceSpec; got {type(reference).__name__}. "
            "Build one with ReferenceSpec(kind='first', n=4)."
        )
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise FairnessInputError(
            f"drift_table() expects 'alpha' strictly between 0 and 1; got {alpha!r}. Use e.g. 0.05."
        )
    ok = isinstance(psi_threshold, (int, float)) and not isinstance(psi_threshold, bool)
    if not ok or not np.isfinite(psi_threshold) or psi_threshold < 0:  # type: ignore[arg-type]
        raise FairnessInputError(
            f"drift_table() expects 'psi_threshold' to be a finite number >= 0; got {psi_threshold!r}. "
            "The usual value is 0.2."
        )
    if isinstance(min_rows, bool) or not isinstance(min_rows, (int, np.integer)) or min_rows < 1:
        raise FairnessInputError(
            f"drift_table() expects 'min_rows' to be an integer >= 1; got {min_rows!r}."
        )


def _reference_plan(data_windows: np.ndarray, evaluate: np.ndarray, ref: ReferenceSpec):
    """(window, reference windows) pairs: the windows compared and what they are compared with."""
    if ref.kind == "previous":
        plan = []
        for w in evaluate:
            before = data_windows[data_windows < w]
            if before.size:
                plan.append((int(w), (int(before[-1]),)))
        return plan
    if ref.kind == "first":
        fixed = data_windows[: ref.n]
        last = fixed[-1] if fixed.size else None
    else:
        fixed = data_windows[(data_windows >= ref.start) & (data_windows <= ref.end)]
        last = ref.end
    if last is None:
        return []
    return [(int(w), tuple(int(x) for x in fixed)) for w in evaluate if w > last]


def _reason(n_ref: np.ndarray, n_cur: np.ndarray, min_rows: int) -> list[str]:
    out = []
    for r, c in zip(n_ref.tolist(), n_cur.tolist(), strict=True):
        if r < min_rows:
            out.append(f"reference has {int(r)} rows (fewer than {min_rows})")
        elif c < min_rows:
            out.append(f"window has {int(c)} rows (fewer than {min_rows})")
        else:
            out.append("")
    return out


def _compare(cur, ref, alpha, psi_threshold, min_rows):
    """Columns of one window's comparison (streams with rows on either side)."""
    n_ref, n_cur = ref.sum(axis=1), cur.sum(axis=1)
    value, bins = _psi_rows(ref, cur)
    tested = (n_ref >= min_rows) & (n_cur >= min_rows)
    m = int(tested.sum())
    per_test = alpha / m if m else float("nan")
    crit = np.full(n_ref.shape, np.nan)
    if m:
        crit[tested] = _critical(n_ref[tested], n_cur[tested], bins[tested], per_test)
    threshold = np.where(tested, np.maximum(psi_threshold, crit), np.nan)
    return {
        "n_reference": n_ref.astype(np.int64), "n_current": n_cur.astype(np.int64),
        "n_bins": bins.astype(np.int64), "psi": value, "js": _js_rows(ref, cur),
        "psi_critical": crit, "alpha_per_test": np.where(tested, per_test, np.nan),
        "threshold": threshold, "alarm": tested & (value > threshold),
        "reason": _reason(n_ref, n_cur, min_rows),
    }


def drift_table(
    features: pd.DataFrame,
    windows: np.ndarray | None = None,
    reference: ReferenceSpec | None = None,
    *,
    alpha: float = 0.05,
    psi_threshold: float = 0.2,
    min_rows: int = 100,
) -> pd.DataFrame:
    """PSI and Jensen-Shannon drift of every feature, per group, of every window after the reference.

    Parameters
    ----------
    features
        The monitor's features table: ``window``, ``feature``, ``grouping`` ("" = all rows, else a
        protected attribute), ``group``, ``bin`` (-1 = missing), ``n``.
    windows
        Window indices to report (default: every window with data); only those after the
        reference (or, for ``"previous"``, with a window with data before them) get rows.
    reference
        Which windows each is compared with (:class:`ReferenceSpec`; default the first 4).
    alpha
        Probability of any false alarm per window, split over that window's tests (Bonferroni).
    psi_threshold
        PSI that a shift must also exceed to alarm.
    min_rows
        Rows needed on each side; a comparison with fewer is reported, skipped and never alarms.

    Returns
    -------
    pandas.DataFrame
        One row per window and (feature, grouping, group) with rows on either side, columns
        ``window, feature, grouping, group, reference_start, reference_end, n_reference,
        n_current, n_bins, psi, js, psi_critical, alpha_per_test, threshold, alarm, reason``
        (``reason`` says why a comparison was skipped, "" when it was made).
    """
    reference = ReferenceSpec() if reference is None else reference
    _check_options(reference, alpha, psi_threshold, min_rows)
    frame = _features_frame(features)
    keys = ["feature", "grouping", "group"]
    codes, streams = pd.factorize(pd.MultiIndex.from_frame(frame[keys].astype(str)), sort=True)
    width = int(frame["bin"].max()) + 2 if len(frame) else 1
    cell = codes * width + (frame["bin"].to_numpy() + 1)
    win = frame["window"].to_numpy()
    data_windows = np.unique(win)
    evaluate = data_windows if windows is None else _window_indices(windows)
    size = len(streams) * width

    def hist(ws: tuple[int, ...]) -> np.ndarray:
        sel = np.isin(win, ws)
        counts = np.bincount(cell[sel], weights=frame["n"].to_numpy()[sel], minlength=size)
        return counts.reshape(len(streams), width)

    parts, cache = [], {}
    for w, ref_windows in _reference_plan(data_windows, evaluate, reference):
        if ref_windows not in cache:
            cache = {ref_windows: hist(ref_windows)}  # fixed references are built once
        ref, cur = cache[ref_windows], hist((w,))
        keep = (ref.sum(axis=1) > 0) | (cur.sum(axis=1) > 0)
        if not keep.any():
            continue
        cols = _compare(cur[keep], ref[keep], alpha, psi_threshold, min_rows)
        part = pd.DataFrame(list(streams[keep]), columns=keys)
        part.insert(0, "window", np.int64(w))
        part["reference_start"] = np.int64(min(ref_windows)) if ref_windows else pd.NA
        part["reference_end"] = np.int64(max(ref_windows)) if ref_windows else pd.NA
        for name, values in cols.items():
            part[name] = values
        parts.append(part)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DRIFT_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out[["reference_start", "reference_end"]] = out[["reference_start", "reference_end"]].astype("Int64")
    return out.loc[:, list(DRIFT_COLUMNS)]
