"""``auditkit.fairness.audit``: count once, derive every metric, judge each on its evidence.

An audit runs in named phases, each in its own module:

1. counting (:mod:`._count_input`): rows -> :class:`Counts`, mergeable;
2. labels and metrics (here and :mod:`._evaluate`): the task family, the positive and the
   favourable label, the metrics to compute;
3. point estimates (:mod:`._evaluate`), evidence (:mod:`._evidence`): per-metric denominators
   against the bar, the groups each disparity compares;
4. intervals (:mod:`._uncertainty`): Wilson, Jeffreys draws, count-tensor bootstrap;
5. assembly (:mod:`._assemble`): the :class:`FairnessResult` frames.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditkit.fairness import _metrics as M
from auditkit.fairness._assemble import Derived, build_result
from auditkit.fairness._count_input import count
from auditkit.fairness._counts import Counts
from auditkit.fairness._evaluate import (
    Plan,
    disparities,
    disparity_specs,
    evaluate,
    impact_ratio,
    resolve_metrics,
)
from auditkit.fairness._evidence import Evidence, reference_groups
from auditkit.fairness._inputs import MISSING, TASKS
from auditkit.fairness._intervals import proportion_counts, proportion_table
from auditkit.fairness._result import FairnessResult
from auditkit.fairness._uncertainty import compute_intervals
from auditkit.fairness.errors import FairnessInputError
from auditkit.hints import did_you_mean

__all__ = ["audit", "audit_counts", "count"]


# -- argument checks ------------------------------------------------------------------------
def _check_args(n_boot: Any, ci: Any, min_group_size: Any, task: str, min_denominator: Any = 30) -> None:
    if not isinstance(n_boot, numbers.Integral) or isinstance(n_boot, bool) or n_boot < 0:
        raise FairnessInputError(
            f"The 'n_boot' parameter of audit must be a non-negative integer; got {n_boot!r}. "
            "Use n_boot=0 to skip the draws (disparity and non-proportion intervals)."
        )
    if not isinstance(ci, numbers.Real) or not 0 < ci < 1:
        raise FairnessInputError(
            f"The 'ci' parameter of audit must be a confidence level in (0, 1); got {ci!r}, "
            "e.g. ci=0.95."
        )
    for name, value in (("min_group_size", min_group_size), ("min_denominator", min_denominator)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
            raise FairnessInputError(
                f"The {name!r} parameter of audit must be a non-negative integer; got "
                f"{value!r}, e.g. {name}=30."
            )
    if task not in TASKS:
        raise FairnessInputError(
            f"The 'task' parameter of audit must be one of {list(TASKS)}; got {task!r}."
            f"{did_you_mean(task, TASKS)}"
        )


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


@dataclass(frozen=True)
class _Labels:
    """The task family and the roles of the labels."""

    family: str  # binary, multiclass, regression
    pos: int | None  # index of the positive class in counts.classes
    pos_label: Any
    favourable_label: Any
    adverse_is_positive: bool | None


def _match_label(value: Any, classes: tuple[Any, ...]) -> Any:
    """The class equal to ``value`` (or, failing that, the one class whose text equals it)."""
    if value in classes:
        return value
    same_text = [c for c in classes if str(c) == str(value)]
    return same_text[0] if len(same_text) == 1 else None


def _resolve_labels(counts: Counts, task: str, pos_label: Any, favourable_label: Any) -> _Labels:
    classes = counts.classes
    if counts.task == "regression":
        if favourable_label is not None:
            raise FairnessInputError(
                "The 'favourable_label' parameter applies to classification; the predictions are "
                "continuous. Omit it for a regression audit."
            )
        return _Labels("regression", None, None, None, None)
    if task == "multiclass" or (task == "auto" and len(classes) > 2):
        if counts.scores is not None:
            raise FairnessInputError("'y_score' applies to binary classification only.")
        fav = None if favourable_label is None else _match_label(favourable_label, classes)
        if favourable_label is not None and fav is None:
            raise FairnessInputError(
                f"The 'favourable_label' parameter ({favourable_label!r}) is none of the "
                f"{len(classes)} classes present; pass the value of the favourable outcome."
            )
        return _Labels("multiclass", None, None, fav, None)
    if len(classes) > 2:
        raise FairnessInputError(
            f"task='binary' but y_true/y_pred hold {len(classes)} distinct classes. "
            "Binarise the labels (one class vs the rest) or use task='multiclass'."
        )
    pos_label = _resolve_pos(classes, pos_label)
    if pos_label not in classes and len(classes) == 2:
        raise FairnessInputError(
            f"pos_label={pos_label!r} is not one of the two labels present; pass the "
            "value that marks the positive outcome."
        )
    true_present = counts.n.sum(axis=tuple(range(len(counts.levels))) + (-1,)) > 0
    if int(true_present.sum()) < 2:
        raise FairnessInputError(
            "y_true contains a single class; binary fairness metrics (error rates, AUC) "
            "need both outcomes. Audit a sample where both occur."
        )
    fav = pos_label if favourable_label is None else _match_label(favourable_label, classes)
    if fav is None:
        raise FairnessInputError(
            f"The 'favourable_label' parameter ({favourable_label!r}) is not one of the two labels "
            "present; pass the label of the favourable outcome (e.g. 0 when the positive "
            "prediction, such as 'high risk', is the adverse one), or omit it when the positive "
            "label is favourable."
        )
    pos = classes.index(pos_label) if pos_label in classes else None
    return _Labels("binary", pos, pos_label, fav, bool(fav != pos_label))


def _check_attributes(counts: Counts) -> None:
    for name, levels in zip(counts.attributes, counts.levels, strict=True):
        if tuple(levels) == (MISSING,):
            raise FairnessInputError(
                f"The sensitive attribute {name!r} is missing in all {counts.n_rows} rows; it "
                "cannot split the rows into groups. Drop it or pass the right column."
            )


# -- phases ---------------------------------------------------------------------------------
def _point(counts: Counts, plan: Plan) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Point estimates of every group metric; ROC AUC exact (with the binned-minus-exact shift)."""
    arrays = {"conf": counts.w, "w": counts.w}
    if counts.task == "regression":
        arrays.update({k: counts.reg[f"w_{k[2:]}"] for k in ("w_pred", "w_abs", "w_sq")})
    if plan.with_scores:
        arrays["hist_w"], arrays["hist_ws"] = counts.scores.hist_w, counts.scores.hist_ws
    point = evaluate(arrays, 0, plan, counts.classes)
    auc_shift = None
    if "roc_auc" in point and counts.scores.exact:
        s = counts.scores
        exact = M.auc_exact(s.ex_cell, s.ex_cls, s.ex_score, s.ex_w, plan.pos, counts.shape,
                            list(plan.groupings))
        auc_shift = exact - point["roc_auc"]
        point["roc_auc"] = exact
    return point, auc_shift


def _proportions(counts: Counts, plan: Plan, metrics: list[str]) -> dict[str, tuple[np.ndarray, ...]]:
    """(rows, x_eff, n_eff) per group of every proportion metric (binary audits only)."""
    if plan.family != "binary":
        return {}
    table = proportion_table(plan.favourable_is_positive)
    g, k = list(plan.groupings), plan.n_attr
    cells = [M.confusion_binary(M.aggregate(a, 0, k, g), plan.pos) for a in (counts.n, counts.w, counts.w2)]
    return proportion_counts(table, *cells, [m for m in metrics if m in table])


def _plan(counts: Counts, labels: _Labels, metrics: Sequence[str] | None, intersectional: bool) -> Plan:
    """What to compute: the metrics of the task family over every grouping."""
    with_scores = counts.scores is not None
    chosen = resolve_metrics(metrics, labels.family, with_scores)
    groupings = tuple(M.make_groupings(counts.attributes, counts.levels, intersectional))
    return Plan(labels.family, tuple(chosen), labels.pos, groupings, len(counts.levels), with_scores,
                bool(with_scores and counts.scores.probabilistic),
                favourable_is_positive=not labels.adverse_is_positive)


def _evidence(counts: Counts, plan: Plan, props: Mapping[str, tuple[np.ndarray, ...]],
              min_group_size: int, min_denominator: int) -> Evidence:
    """Rows per group and the rows in each proportion's denominator, against the two bars."""
    names = proportion_table(plan.favourable_is_positive)
    return Evidence(
        n_group=M.aggregate(counts.cell_counts().astype(np.int64), 0, plan.n_attr, list(plan.groupings)),
        denominators={m: rows for m, (rows, _, _) in props.items()},
        denominator_names={m: names[m].denominator_name for m in props},
        min_group_size=int(min_group_size), min_denominator=int(min_denominator),
    )


def _eligible(point: dict[str, np.ndarray], evidence: Evidence, plan: Plan) -> dict[str, np.ndarray]:
    """The groups each metric's disparities compare; adds the impact ratio to ``point``."""
    eligible = {m: evidence.eligible(m) for m in point}
    if "favourable_rate" in point:
        point["impact_ratio"] = impact_ratio(point["favourable_rate"], eligible["favourable_rate"], plan)
        eligible["impact_ratio"] = eligible["favourable_rate"]
    return eligible


def audit_counts(counts: Counts, *, task: str = "auto", pos_label: Any = None,
                 metrics: Sequence[str] | None = None, intersectional: bool = True,
                 n_boot: int = 1000, ci: float = 0.95, min_group_size: int = 30,
                 random_state: int | np.random.Generator | None = None,
                 favourable_label: Any = None, min_denominator: int = 30,
                 reference_group: Mapping[str, Any] | None = None) -> FairnessResult:
    """The :class:`FairnessResult` of (possibly merged) counts; parameters as :func:`audit`."""
    _check_args(n_boot, ci, min_group_size, task, min_denominator)
    _check_attributes(counts)
    labels = _resolve_labels(counts, task, pos_label, favourable_label)
    plan = _plan(counts, labels, metrics, intersectional)
    point, auc_shift = _point(counts, plan)
    props = _proportions(counts, plan, list(point))
    evidence = _evidence(counts, plan, props, min_group_size, min_denominator)
    eligible = _eligible(point, evidence, plan)
    specs = disparity_specs(list(point))
    disp_point = disparities(point, eligible, plan, specs)
    intervals = compute_intervals(counts, plan, counts.classes, point, list(disp_point), specs, eligible,
                                  props, auc_shift, n_boot, ci, random_state)
    return build_result(Derived(
        counts=counts, plan=plan, point=point, disp_point=disp_point, specs=specs,
        intervals=intervals, evidence=evidence, eligible=eligible,
        w_group=M.aggregate(counts.cell_weights(), 0, plan.n_attr, list(plan.groupings)),
        pos_label=labels.pos_label, favourable_label=labels.favourable_label,
        adverse_is_positive=labels.adverse_is_positive,
        reference=reference_groups(plan.groupings, evidence, reference_group), n_boot=n_boot, ci=ci,
    ))


def audit(y_true: Any, y_pred: Any, sensitive_features: Any, *, y_score: Any = None,
          sample_weight: Any = None, metrics: Sequence[str] | None = None,
          intersectional: bool = True, n_boot: int = 1000, ci: float = 0.95,
          min_group_size: int = 30, random_state: int | np.random.Generator | None = None,
          pos_label: Any = None, task: str = "auto", favourable_label: Any = None,
          min_denominator: int = 30, reference_group: Mapping[str, Any] | None = None,
          ) -> FairnessResult:
    """Fairness metrics by group, disparities over the groups with enough evidence, and intervals.

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
        Also report every intersection of the attributes (grouping ``"sex × race"``); a group of
        an intersection is labelled by the tuple of its levels (``("F", "Black")``).
    n_boot, ci:
        Draws (0: none) and the confidence level. Group rates that are single proportions get
        Wilson score intervals (closed form, whatever ``n_boot``); disparities on such rates
        and impact ratios get the quantiles of ``n_boot`` draws from each group's Jeffreys
        posterior; other metrics get the percentile bootstrap of the count tensor
        (``result.interval_methods`` says which).
    min_group_size:
        Groups with fewer rows are flagged ``small`` (suppressed in reports) and left out of
        disparities.
    random_state:
        Seed of the draws and the bootstrap.
    pos_label:
        The positive class of the binary metrics; default 1 for 0/1 or -1/1 labels.
    task:
        ``"auto"``, ``"binary"``, ``"multiclass"`` or ``"regression"``.
    favourable_label:
        The label of the favourable outcome (default: ``pos_label``). ``favourable_rate`` is
        P(ŷ = favourable label) and the impact ratio (four-fifths rule) compares it; pass 0 when
        the positive prediction is adverse (COMPAS "high risk").
    min_denominator:
        The evidence bar: a disparity compares a rate only across groups whose denominator for
        that rate (actual positives for TPR, predicted positives for precision, rows for the
        selection rate, ...) has at least this many rows. Groups below are listed in
        ``result.excluded``.
    reference_group:
        Grouping name -> the label of its reference group for
        :meth:`FairnessResult.ratio_to_reference` (default: the largest evidenced group); for an
        intersection, a tuple or list with one level per attribute (``{"sex × race": ("F",
        "Black")}``).

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
    _check_args(n_boot, ci, min_group_size, task, min_denominator)
    counts = count(y_true, y_pred, sensitive_features, y_score=y_score,
                   sample_weight=sample_weight, task=task)
    return audit_counts(counts, task=task, pos_label=pos_label, metrics=metrics,
                        intersectional=intersectional, n_boot=n_boot, ci=ci,
                        min_group_size=min_group_size, random_state=random_state,
                        favourable_label=favourable_label, min_denominator=min_denominator,
                        reference_group=reference_group)
