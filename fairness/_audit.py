"""``auditkit.fairness.audit``: count once, derive every metric, bootstrap the counts."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness import _metrics as M
from auditkit.fairness._bootstrap import resample
from auditkit.fairness._counts import Counts, count_rows, probability_edges, range_edges
from auditkit.fairness._inputs import (
    MISSING,
    TASKS,
    check_not_missing,
    is_dask,
    sensitive_frame,
    to_1d,
)
from auditkit.fairness._result import FairnessResult
from auditkit.fairness.errors import FairnessInputError, closest

__all__ = ["audit", "audit_counts", "count"]

CHUNK_ROWS = 1 << 20
# More classes than this is a mistaken label column, not a classification task.
MAX_CLASSES = 50


# -- argument checks ------------------------------------------------------------------------
def _check_args(n_boot: Any, ci: Any, min_group_size: Any, task: str) -> None:
    if not isinstance(n_boot, numbers.Integral) or isinstance(n_boot, bool) or n_boot < 0:
        raise FairnessInputError(
            f"The 'n_boot' parameter of audit must be a non-negative integer; got {n_boot!r}. "
            "Use n_boot=0 to skip the intervals."
        )
    if not isinstance(ci, numbers.Real) or not 0 < ci < 1:
        raise FairnessInputError(
            f"The 'ci' parameter of audit must be a confidence level in (0, 1); got {ci!r}, "
            "e.g. ci=0.95."
        )
    if not isinstance(min_group_size, numbers.Integral) or min_group_size < 0:
        raise FairnessInputError(
            f"The 'min_group_size' parameter of audit must be a non-negative integer; got "
            f"{min_group_size!r}."
        )
    if task not in TASKS:
        raise FairnessInputError(
            f"The 'task' parameter of audit must be one of {list(TASKS)}; got {task!r}."
            f"{closest(task, TASKS)}"
        )


def _is_regression(y_pred: np.ndarray) -> bool:
    if y_pred.dtype.kind != "f":
        return False
    return bool(np.any(y_pred != np.round(y_pred)))


def _resolve_pos(classes: tuple[Any, ...], pos_label: Any) -> Any:
    if pos_label is not None:
        return pos_label
    cl = set(classes)
    if cl <= {0, 1} or cl <= {-1, 1}:
        return 1
    raise FairnessInputError(
        f"The labels are not 0/1 (found {len(classes)} distinct values); pass pos_label= to say "
        "which value is the positive (favourable) outcome."
    )


# -- counting -------------------------------------------------------------------------------
def count(
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    *,
    y_score: Any = None,
    sample_weight: Any = None,
    task: str = "auto",
) -> Counts:
    """Count one dataset (numpy/pandas, or Dask partition by partition) into :class:`Counts`.

    Counts of disjoint chunks merge with :meth:`Counts.merge`; :func:`audit_counts` derives
    the result from merged counts.
    """
    if any(is_dask(x) for x in (y_true, y_pred, sensitive_features, y_score, sample_weight)):
        return _count_dask(y_true, y_pred, sensitive_features, y_score, sample_weight, task)
    yt = to_1d(y_true, "y_true")
    yp = to_1d(y_pred, "y_pred")
    if len(yp) != len(yt):
        raise FairnessInputError(
            f"'y_pred' has {len(yp)} rows but 'y_true' has {len(yt)}. Pass one prediction per row."
        )
    if len(yt) == 0:
        raise FairnessInputError("'y_true' is empty; the audit needs at least one row.")
    check_not_missing(yt, "y_true")
    check_not_missing(yp, "y_pred")
    # An attribute missing in every row of this chunk is fine here (another chunk or partition
    # may have it); audit_counts refuses one that is missing in every row of the whole.
    sf = sensitive_frame(sensitive_features, len(yt))
    sw = to_1d(sample_weight, "sample_weight", allow_none=True)
    if sw is not None:
        if len(sw) != len(yt):
            raise FairnessInputError(
                f"'sample_weight' has {len(sw)} rows but 'y_true' has {len(yt)}."
            )
        sw = sw.astype(float)
        if not np.all(np.isfinite(sw)) or (sw < 0).any():
            raise FairnessInputError(
                "'sample_weight' must be finite and non-negative; "
                f"{int((~np.isfinite(sw) | (sw < 0)).sum())} values are not."
            )
    ys = to_1d(y_score, "y_score", allow_none=True)
    if ys is not None:
        if len(ys) != len(yt):
            raise FairnessInputError(f"'y_score' has {len(ys)} rows but 'y_true' has {len(yt)}.")
        try:
            ys = ys.astype(float)
        except (TypeError, ValueError):
            raise FairnessInputError("'y_score' must be numeric scores of the positive class.") from None
        check_not_missing(ys, "y_score")
    kind = "regression" if task == "regression" or (task == "auto" and _is_regression(yp)) else "classification"
    if kind == "regression" and ys is not None:
        raise FairnessInputError("'y_score' applies to classification; omit it for regression.")
    if kind == "classification":
        n_classes = len(pd.unique(yt))
        if n_classes > MAX_CLASSES:
            raise FairnessInputError(
                f"'y_true' has {n_classes:,} distinct values but the predictions are class labels; "
                f"classification metrics need a label with at most {MAX_CLASSES} classes (binary: 2). "
                "Check that the label is the outcome column, or pass numeric predictions of the "
                "same quantity for a regression audit."
            )
    if kind == "regression":
        try:
            yt, yp = yt.astype(float), yp.astype(float)
        except (TypeError, ValueError):
            raise FairnessInputError("Regression needs numeric 'y_true' and 'y_pred'.") from None
    edges = None
    if ys is not None:  # one set of bin edges for every chunk
        lo, hi = float(ys.min()), float(ys.max())
        edges = probability_edges() if (lo >= 0 and hi <= 1) else range_edges(lo, hi)
    # Count in chunks and merge: the temporaries (int64 codes per row) stay bounded.
    out = None
    for start in range(0, len(yt), CHUNK_ROWS):
        sl = slice(start, start + CHUNK_ROWS)
        part = count_rows(yt[sl], yp[sl], sf.iloc[sl].reset_index(drop=True), task=kind,
                          y_score=None if ys is None else ys[sl],
                          sample_weight=None if sw is None else sw[sl], score_edges=edges)
        out = part if out is None else out.merge(part)
    return out


def _count_dask(y_true, y_pred, sensitive, y_score, sample_weight, task) -> Counts:
    import dask
    import dask.dataframe as dd

    if not isinstance(sensitive, (dd.DataFrame, dd.Series)):
        raise FairnessInputError(
            "With Dask input, 'sensitive_features' must be a Dask DataFrame or Series from the "
            "same frame as 'y_true' and 'y_pred'."
        )
    frame = sensitive.to_frame() if isinstance(sensitive, dd.Series) else sensitive
    attrs = [str(c) for c in frame.columns]
    extra = {"__y_true": y_true, "__y_pred": y_pred, "__y_score": y_score, "__weight": sample_weight}
    extra = {k: v for k, v in extra.items() if v is not None}
    for k, v in extra.items():
        if not isinstance(v, dd.Series):
            raise FairnessInputError(
                f"With Dask input, {k.strip('_')!r} must be a Dask Series of the same frame."
            )
    frame = frame.assign(**extra)
    kind = task
    if task == "auto":
        dtype = frame["__y_pred"].dtype
        kind = "classification"
        if getattr(dtype, "kind", "O") == "f":
            yp = frame["__y_pred"]
            if bool((yp != yp.round()).any().compute()):
                kind = "regression"
    elif task in ("binary", "multiclass"):
        kind = "classification"
    edges = None
    if "__y_score" in frame.columns:
        lo, hi = dask.compute(frame["__y_score"].min(), frame["__y_score"].max())
        edges = probability_edges() if (lo >= 0 and hi <= 1) else range_edges(float(lo), float(hi))

    def part(df: pd.DataFrame) -> Counts:
        yt, yp = df["__y_true"].to_numpy(), df["__y_pred"].to_numpy()
        check_not_missing(yt, "y_true")
        check_not_missing(yp, "y_pred")
        ys = df["__y_score"].to_numpy(dtype=float) if "__y_score" in df else None
        sw = df["__weight"].to_numpy(dtype=float) if "__weight" in df else None
        if kind == "regression":
            yt, yp = yt.astype(float), yp.astype(float)
        return count_rows(yt, yp, df[attrs].reset_index(drop=True), task=kind, y_score=ys,
                          sample_weight=sw, score_edges=edges)

    parts = [dask.delayed(part)(p) for p in frame.to_delayed()]
    while len(parts) > 1:  # tree reduction
        parts = [dask.delayed(Counts.merge)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    (counts,) = dask.compute(parts[0])
    return counts


# -- metric evaluation ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    family: str  # binary, multiclass, regression
    metrics: tuple[str, ...]
    pos: int | None
    groupings: tuple[M.Grouping, ...]
    n_attr: int
    with_scores: bool
    probabilistic: bool


def _evaluate(arrays: dict[str, np.ndarray], n_lead: int, plan: _Plan,
              classes: tuple[Any, ...]) -> dict[str, np.ndarray]:
    """Group metrics ``(*lead, G)`` from per-cell arrays with ``n_lead`` leading axes."""
    g = list(plan.groupings)
    k = plan.n_attr
    out: dict[str, np.ndarray] = {}
    if plan.family == "regression":
        agg = {key: M.aggregate(arrays[key], n_lead, k, g) for key in ("w", "w_pred", "w_abs", "w_sq")}
        return M.regression_metrics(agg["w"], agg["w_pred"], agg["w_abs"], agg["w_sq"], plan.metrics)
    conf = M.aggregate(arrays["conf"], n_lead, k, g)
    if plan.family == "multiclass":
        return M.multiclass_metrics(conf, classes)
    out.update(M.binary_metrics(conf, plan.pos, plan.metrics))
    if plan.with_scores:
        hw = M.aggregate(arrays["hist_w"], n_lead, k, g)
        if "roc_auc" in plan.metrics:
            out["roc_auc"] = M.auc_binned(hw, plan.pos)
        if "expected_calibration_error" in plan.metrics:
            hws = M.aggregate(arrays["hist_ws"], n_lead, k, g)
            out["expected_calibration_error"] = M.ece(hw, hws, plan.pos, plan.probabilistic)
    return out


def _impact_ratio(sel: np.ndarray, eligible: np.ndarray, plan: _Plan) -> np.ndarray:
    out = np.full(sel.shape, np.nan)
    start = 0
    for grp in plan.groupings:
        sl = slice(start, start + grp.size)
        v = np.where(eligible[sl], sel[..., sl], np.nan)
        hi = np.where(np.isnan(v), -np.inf, v).max(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., sl] = np.where(hi > 0, sel[..., sl] / np.where(hi > 0, hi, 1.0), np.nan)
        start += grp.size
    return out


def _disparity_specs(metrics: list[str]) -> list[tuple[str, tuple[str, ...], str]]:
    specs = []
    for name, (bases, kind) in M.DISPARITY_ALIASES.items():
        if all(b in metrics for b in bases):
            specs.append((name, bases, kind))
    for m in metrics:
        if m == "impact_ratio":
            continue
        specs.append((f"{m}_difference", (m,), "difference"))
        specs.append((f"{m}_ratio", (m,), "ratio"))
    return specs


def _disparities(values: dict[str, np.ndarray], eligible: np.ndarray, plan: _Plan,
                 specs) -> dict[tuple[str, str], np.ndarray]:
    out = {}
    start = 1
    for grp in plan.groupings[1:]:
        sl = slice(start, start + grp.size)
        for name, bases, kind in specs:
            multi = len(bases) > 1
            parts = [M.disparity(values[b][..., sl], eligible[sl], kind, all_zero_is_parity=multi)
                     for b in bases]
            if not multi:
                v = parts[0]
            else:  # worst case; NaN if any part is undefined (a rate zero everywhere is parity)
                stack = np.stack(parts)
                v = stack.max(axis=0) if kind == "difference" else stack.min(axis=0)
            out[(grp.name, name)] = v
        start += grp.size
    return out


def _deciding_base(point: dict[str, np.ndarray], bases: tuple[str, ...], kind: str,
                   eligible: np.ndarray, sl: slice) -> str:
    """The base metric whose disparity is the worst-case value (the first one on ties)."""
    if len(bases) == 1:
        return bases[0]
    parts = [float(M.disparity(point[b][sl], eligible, kind, all_zero_is_parity=True))
             for b in bases]
    finite = [(x, i) for i, x in enumerate(parts) if not np.isnan(x)]
    if not finite:
        return bases[0]
    pick = max(finite, key=lambda t: (t[0], -t[1])) if kind == "difference" else \
        min(finite, key=lambda t: (t[0], t[1]))
    return bases[pick[1]]


def _quantiles(reps: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    a = (1.0 - ci) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(reps, [a, 1.0 - a], axis=0)
    return lo, hi


def _resolve_metrics(metrics: Sequence[str] | None, family: str, with_scores: bool) -> list[str]:
    if family == "regression":
        default = list(M.REGRESSION_DEFAULT)
    elif family == "multiclass":
        default = []
    else:
        default = list(M.BINARY_DEFAULT) + (list(M.SCORE_DEFAULT) if with_scores else [])
    if metrics is None:
        return default
    if isinstance(metrics, str):
        metrics = [metrics]
    known = [n for n in M.METRICS if "[" not in n]
    chosen = []
    for m in metrics:
        if m not in M.METRICS or "[" in m:
            raise FairnessInputError(
                f"Unknown metric {m!r}.{closest(m, known)} Known metrics: {', '.join(known)}."
            )
        fam = M.METRICS[m].family
        if fam == "score" and not with_scores:
            raise FairnessInputError(f"The metric {m!r} needs scores: pass y_score=.")
        if fam in ("binary", "score") and family == "multiclass":
            raise FairnessInputError(
                f"The metric {m!r} needs binary labels, but y_true/y_pred hold more than two "
                "classes. Binarise them (one class vs the rest) or omit metrics= to get per-class "
                "selection rates."
            )
        if fam == "regression" and family != "regression":
            raise FairnessInputError(f"The metric {m!r} is for regression; the predictions are class labels.")
        if fam != "regression" and family == "regression":
            raise FairnessInputError(
                f"The metric {m!r} is for classification; the predictions are continuous. "
                "Pass task='binary' if they are class labels."
            )
        if m not in chosen:
            chosen.append(m)
    return chosen


def audit_counts(counts: Counts, *, task: str = "auto", pos_label: Any = None,
                 metrics: Sequence[str] | None = None, intersectional: bool = True,
                 n_boot: int = 1000, ci: float = 0.95, min_group_size: int = 30,
                 random_state: int | np.random.Generator | None = None) -> FairnessResult:
    """The :class:`FairnessResult` of (possibly merged) counts."""
    _check_args(n_boot, ci, min_group_size, task)
    for name, levels in zip(counts.attributes, counts.levels, strict=True):
        if tuple(levels) == (MISSING,):
            raise FairnessInputError(
                f"The sensitive attribute {name!r} is missing in all {counts.n_rows} rows; it "
                "cannot split the rows into groups. Drop it or pass the right column."
            )
    classes = counts.classes
    with_scores = counts.scores is not None
    if counts.task == "regression":
        family, pos = "regression", None
    else:
        true_present = counts.n.sum(axis=tuple(range(len(counts.levels))) + (-1,)) > 0
        if task == "multiclass" or (task == "auto" and len(classes) > 2):
            family = "multiclass"
            pos = None
        else:
            if len(classes) > 2:
                raise FairnessInputError(
                    f"task='binary' but y_true/y_pred hold {len(classes)} distinct classes. "
                    "Binarise the labels (one class vs the rest) or use task='multiclass'."
                )
            pos_label = _resolve_pos(classes, pos_label)
            if pos_label not in classes and len(classes) == 2:
                raise FairnessInputError(
                    f"pos_label={pos_label!r} is not one of the two labels present; pass the "
                    "value that marks the favourable outcome."
                )
            if int(true_present.sum()) < 2:
                raise FairnessInputError(
                    "y_true contains a single class; binary fairness metrics (error rates, AUC) "
                    "need both outcomes. Audit a sample where both occur."
                )
            family = "binary"
            pos = classes.index(pos_label) if pos_label in classes else None
        if family == "multiclass" and with_scores:
            raise FairnessInputError("'y_score' applies to binary classification only.")
    chosen = _resolve_metrics(metrics, family, with_scores)
    groupings = tuple(M.make_groupings(counts.attributes, counts.levels, intersectional))
    plan = _Plan(family, tuple(chosen), pos, groupings, len(counts.levels), with_scores,
                 bool(with_scores and counts.scores.probabilistic))

    point_arrays = {"conf": counts.w, "w": counts.w}
    if counts.task == "regression":
        point_arrays.update({k: counts.reg[f"w_{k[2:]}"] for k in ("w_pred", "w_abs", "w_sq")})
    if with_scores:
        point_arrays["hist_w"], point_arrays["hist_ws"] = counts.scores.hist_w, counts.scores.hist_ws
    point = _evaluate(point_arrays, 0, plan, classes)
    auc_shift = None
    if "roc_auc" in point:
        s = counts.scores
        exact = M.auc_exact(s.ex_cell, s.ex_cls, s.ex_score, s.ex_w, pos, counts.shape, list(groupings))
        auc_shift = exact - point["roc_auc"]
        point["roc_auc"] = exact
    metric_names = list(point)
    k = len(counts.levels)
    n_group = M.aggregate(counts.cell_counts().astype(np.int64), 0, k, list(groupings))
    w_group = M.aggregate(counts.cell_weights(), 0, k, list(groupings))
    eligible = n_group >= max(min_group_size, 1)
    if family == "binary" and "selection_rate" in point:
        point["impact_ratio"] = _impact_ratio(point["selection_rate"], eligible, plan)
    specs = _disparity_specs(metric_names)
    disp_point = _disparities(point, eligible, plan, specs)

    # -- bootstrap -------------------------------------------------------------------------
    g_total = len(n_group)
    lo = {m: np.full(g_total, np.nan) for m in point}
    hi = {m: np.full(g_total, np.nan) for m in point}
    dlo = {k: np.nan for k in disp_point}
    dhi = {k: np.nan for k in disp_point}
    if n_boot > 0:
        rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
        reps: dict[str, list[np.ndarray]] = {m: [] for m in point}
        dreps: dict[tuple[str, str], list[np.ndarray]] = {k: [] for k in disp_point}
        for batch in resample(counts, n_boot, rng):
            vals = _evaluate(batch, 1, plan, classes)
            if auc_shift is not None:
                vals["roc_auc"] = vals["roc_auc"] + auc_shift
            if "impact_ratio" in point:
                vals["impact_ratio"] = _impact_ratio(vals["selection_rate"], eligible, plan)
            for m in point:
                reps[m].append(vals[m])
            for key, v in _disparities(vals, eligible, plan, specs).items():
                dreps[key].append(v)
        for m in point:
            lo[m], hi[m] = _quantiles(np.concatenate(reps[m]), ci)
        for key in disp_point:
            dlo[key], dhi[key] = _quantiles(np.concatenate(dreps[key]), ci)

    return _assemble(counts, plan, point, lo, hi, disp_point, dlo, dhi, specs, n_group, w_group,
                     eligible, min_group_size, n_boot, ci, pos_label if family == "binary" else None,
                     family)


def _assemble(counts, plan, point, lo, hi, disp_point, dlo, dhi, specs, n_group, w_group, eligible,
              min_group_size, n_boot, ci, pos_label, family) -> FairnessResult:
    index = [(g.name, label) for g in plan.groupings for label in g.labels]
    # empty intersections (level combinations no row has) are not groups
    present = np.flatnonzero(n_group[1:] > 0) + 1
    mindex = pd.MultiIndex.from_tuples([index[i] for i in present], names=["grouping", "group"])
    cols = list(point)
    ocols = [m for m in cols if m != "impact_ratio"]  # a between-group quantity
    overall = pd.DataFrame(
        {"value": [point[m][0] for m in ocols], "ci_low": [lo[m][0] for m in ocols],
         "ci_high": [hi[m][0] for m in ocols]}, index=pd.Index(ocols, name="metric"))
    by_group = pd.DataFrame({"n": n_group[present], "weight": w_group[present],
                             "small": n_group[present] < min_group_size}, index=mindex)
    for m in cols:
        by_group[m] = point[m][present]
    ci_low = pd.DataFrame({m: lo[m][present] for m in cols}, index=mindex)
    ci_high = pd.DataFrame({m: hi[m][present] for m in cols}, index=mindex)
    undefined = [
        (gname, glabel, m, M.METRICS.get(m, M.METRICS.get(m.split("[")[0] + "[*]")).undefined
         if m != "impact_ratio" else "no eligible group has a positive selection rate")
        for m in cols for i, ((gname, glabel), v) in enumerate(zip(index, point[m], strict=True))
        if np.isnan(v) and n_group[i] > 0 and (i > 0 or m != "impact_ratio")
    ]
    undefined_df = pd.DataFrame(undefined, columns=["grouping", "group", "metric", "reason"])
    rows = []
    start = 1
    kinds = {name: (bases, kind) for name, bases, kind in specs}
    for grp in plan.groupings[1:]:
        sl = slice(start, start + grp.size)
        for name, (bases, kind) in kinds.items():
            v = disp_point[(grp.name, name)]
            # the groups holding the extreme values of the base metric that sets the value (for
            # a worst case such as equalized odds, the part with the largest difference or the
            # smallest ratio, not always the first part)
            base = _deciding_base(point, bases, kind, eligible[sl], sl)
            vals = np.where(eligible[sl], point[base][sl], np.nan)
            defined = ~np.isnan(vals)
            max_g = min_g = None
            if defined.any():
                max_g = grp.labels[int(np.nanargmax(vals))]
                min_g = grp.labels[int(np.nanargmin(vals))]
            reason = ""
            if np.isnan(v):
                reason = M.disparity_reason(point[bases[0]][sl], eligible[sl], kind)
            rows.append({
                "grouping": grp.name, "disparity": name, "metric": "+".join(bases), "kind": kind,
                "value": float(v), "ci_low": float(dlo[(grp.name, name)]),
                "ci_high": float(dhi[(grp.name, name)]), "max_group": max_g, "min_group": min_g,
                "n_groups": int(defined.sum()), "n_small": int(((n_group[sl] > 0) & ~eligible[sl]).sum()),
                "reason": reason,
            })
        start += grp.size
    disparities = pd.DataFrame(rows).set_index(["grouping", "disparity"])
    task = family
    return FairnessResult(
        overall=overall, by_group=by_group, by_group_ci_low=ci_low, by_group_ci_high=ci_high,
        disparities=disparities, undefined=undefined_df, metrics=tuple(cols), task=task,
        pos_label=pos_label, sensitive=counts.attributes, n_boot=n_boot, ci=float(ci),
        min_group_size=int(min_group_size), counts=counts,
    )


def audit(
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    *,
    y_score: Any = None,
    sample_weight: Any = None,
    metrics: Sequence[str] | None = None,
    intersectional: bool = True,
    n_boot: int = 1000,
    ci: float = 0.95,
    min_group_size: int = 30,
    random_state: int | np.random.Generator | None = None,
    pos_label: Any = None,
    task: str = "auto",
) -> FairnessResult:
    """Fairness metrics by group, disparities between groups, and bootstrap intervals.

    Parameters
    ----------
    y_true, y_pred:
        Labels and predictions (numpy, pandas, or Dask Series of one frame). Class labels for
        classification; continuous predictions make it a regression audit.
    sensitive_features:
        One or more protected attributes (Series, DataFrame, array, dict of arrays, Dask
        DataFrame). Missing values form an explicit group labelled ``"<missing>"``.
    y_score:
        Scores of the positive class, for ROC AUC and expected calibration error.
    sample_weight:
        Non-negative row weights.
    metrics:
        Group metrics to compute (default: all of the task's). Unknown names are refused with
        the closest valid name suggested.
    intersectional:
        Also report every intersection of the attributes (``"sex × race"``).
    n_boot, ci:
        Bootstrap replicates (0: no intervals) and the confidence level of the percentile
        intervals. Replicates resample the count tensor (see :mod:`auditkit.fairness._bootstrap`).
    min_group_size:
        Groups with fewer rows are flagged ``small`` and left out of disparities.
    pos_label:
        The favourable outcome; default 1 for 0/1 or -1/1 labels.
    task:
        ``"auto"``, ``"binary"``, ``"multiclass"`` or ``"regression"``.

    Examples
    --------
    >>> import numpy as np
    >>> from auditkit.fairness import audit
    >>> rng = np.random.default_rng(0)
    >>> sex = rng.choice(["F", "M"], 1000)
    >>> y = rng.integers(0, 2, 1000)
    >>> yhat = (rng.random(1000) < np.where(sex == "F", 0.3, 0.5)).astype(int)
    >>> res = audit(y, yhat, {"sex": sex}, n_boot=200, random_state=0)
    >>> round(res.disparity("demographic_parity_ratio").value.iloc[0], 2)
    0.6
    """
    _check_args(n_boot, ci, min_group_size, task)
    counts = count(y_true, y_pred, sensitive_features, y_score=y_score,
                   sample_weight=sample_weight, task=task)
    return audit_counts(counts, task=task, pos_label=pos_label, metrics=metrics,
                        intersectional=intersectional, n_boot=n_boot, ci=ci,
                        min_group_size=min_group_size, random_state=random_state)
