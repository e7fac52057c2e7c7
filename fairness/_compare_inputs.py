"""Inputs of :func:`auditkit.fairness.compare`: argument checks, labels, and the joint tables.

Every row becomes one code, 4·[y = positive] + 2·[baseline = positive] + [candidate = positive],
and every group of every grouping the 8-cell table of those codes' counts, from which both
models' confusion matrices follow. Bad input raises :class:`FairnessInputError` naming the
argument; messages give counts, never values of the data.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness import _metrics as M
from auditkit.fairness._counts import _factorize
from auditkit.fairness._inputs import MISSING, check_not_missing, sensitive_frame, to_1d
from auditkit.fairness._multiplicity import CORRECTIONS
from auditkit.fairness.errors import FairnessInputError
from auditkit.hints import did_you_mean

__all__ = ["DEFAULT_METRICS", "MIN_BOOT", "Groups", "check_params", "groups", "joint_codes", "make_rng",
           "resolve_metrics"]

#: The metrics compared by default. Their complements (false negative rate = 1 − true positive
#: rate, true negative rate, false discovery and omission rates, the favourable rate) give the
#: very same test (the difference changes sign and so does the direction of harm), so by default
#: they would only double the family; ask for them by name to see them. The base rate is the
#: same for both models.
DEFAULT_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate",
                   "positive_predictive_value", "negative_predictive_value", "accuracy",
                   "balanced_accuracy", "f1")
MIN_BOOT = 100


def check_params(n_boot: Any, ci: Any, alpha: Any, correction: Any, tolerance: Any,
                 min_group_size: Any, min_denominator: Any, names: Any) -> None:
    """Refuse a bad parameter of :func:`compare` by name, before any data is read."""
    if not isinstance(n_boot, numbers.Integral) or isinstance(n_boot, bool) or n_boot < MIN_BOOT:
        raise FairnessInputError(
            f"The 'n_boot' parameter of compare must be an integer of at least {MIN_BOOT} (the "
            f"p-values need a bootstrap standard error); got {n_boot!r}, e.g. n_boot=2000."
        )
    for key, value in (("ci", ci), ("alpha", alpha)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 < value < 1:
            raise FairnessInputError(
                f"The {key!r} parameter of compare must be a number in (0, 1); got {value!r}, "
                f"e.g. {key}={0.95 if key == 'ci' else 0.05}."
            )
    if not isinstance(correction, str) or correction not in CORRECTIONS:
        raise FairnessInputError(
            f"The 'correction' parameter of compare must be one of {list(CORRECTIONS)}; got "
            f"{correction!r}.{did_you_mean(str(correction), CORRECTIONS)}"
        )
    if (not isinstance(tolerance, numbers.Real) or isinstance(tolerance, bool)
            or not math.isfinite(tolerance) or tolerance < 0):
        raise FairnessInputError(
            "The 'tolerance' parameter of compare must be a finite number >= 0 (how much worse "
            f"a metric may get before it counts); got {tolerance!r}, e.g. tolerance=0.01."
        )
    for key, value in (("min_group_size", min_group_size), ("min_denominator", min_denominator)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
            raise FairnessInputError(
                f"The {key!r} parameter of compare must be a non-negative integer; got {value!r}, "
                f"e.g. {key}=30."
            )
    if (not isinstance(names, (tuple, list)) or len(names) != 2
            or not all(isinstance(x, str) and x for x in names) or names[0] == names[1]):
        raise FairnessInputError(
            "The 'names' parameter of compare must be two different non-empty strings, e.g. "
            "names=('original', 'quantised')."
        )


def resolve_metrics(metrics: Sequence[str] | str | None) -> list[str]:
    """The metrics to compare: :data:`DEFAULT_METRICS`, or the binary metrics named (in order, once)."""
    if metrics is None:
        return list(DEFAULT_METRICS)
    if isinstance(metrics, str):
        metrics = [metrics]
    binary = list(M.BINARY_DEFAULT)
    chosen: list[str] = []
    for m in metrics:
        if m not in binary:
            kind = "" if m not in M.METRICS else f" ({M.METRICS[m].family}: compare takes binary labels only)"
            raise FairnessInputError(
                f"Unknown metric {m!r} in 'metrics' of compare{kind}.{did_you_mean(m, binary)} "
                f"Metrics: {', '.join(binary)}."
            )
        if m not in chosen:
            chosen.append(m)
    if not chosen:
        raise FairnessInputError("The 'metrics' parameter of compare names no metric; omit it for all.")
    return chosen


def _match(value: Any, classes: list[Any]) -> Any:
    """The class equal to ``value``, or the one class whose text equals it (else None)."""
    if value in classes:
        return classes[classes.index(value)]
    same = [c for c in classes if str(c) == str(value)]
    return same[0] if len(same) == 1 else None


def _labels(arrays: dict[str, np.ndarray], pos_label: Any, favourable_label: Any) -> tuple[Any, Any]:
    """The positive and the favourable label over the classes of all three inputs."""
    classes: list[Any] = []
    for name, a in arrays.items():
        values = pd.unique(a).tolist()
        if len(values) > 2:
            raise FairnessInputError(
                f"The {name!r} argument of compare has {len(values)} distinct values; compare takes "
                "binary classification (two classes). Binarise the labels and predictions first."
            )
        classes += [v for v in values if v not in classes]
    if len(classes) > 2:
        raise FairnessInputError(
            f"'y_true', 'baseline' and 'candidate' hold {len(classes)} distinct values together; "
            "labels and both models' predictions must use the same two classes."
        )
    if len(pd.unique(arrays["y_true"])) < 2:
        raise FairnessInputError(
            "'y_true' contains a single class; the group error rates need both outcomes. Compare "
            "the models on rows where both occur."
        )
    if pos_label is None:
        if not (set(classes) <= {0, 1} or set(classes) <= {-1, 1}):
            raise FairnessInputError(
                "The labels of compare are not 0/1; pass pos_label= to say which value is the "
                "positive outcome."
            )
        pos = 1
    else:
        pos = _match(pos_label, classes)
        if pos is None:
            raise FairnessInputError(
                "The 'pos_label' parameter of compare is not one of the two labels present; pass "
                "the value that marks the positive outcome."
            )
    fav = pos if favourable_label is None else _match(favourable_label, classes)
    if fav is None:
        raise FairnessInputError(
            "The 'favourable_label' parameter of compare is not one of the two labels present; "
            "pass the label of the favourable outcome (e.g. 0 when the positive prediction, such "
            "as 'high risk', is adverse), or omit it when the positive label is favourable."
        )
    return pos, fav


def joint_codes(y_true: Any, baseline: Any, candidate: Any, pos_label: Any,
                 favourable_label: Any) -> tuple[np.ndarray, Any, Any]:
    """Per row, 4·[y = pos] + 2·[baseline = pos] + [candidate = pos]; the positive and favourable labels."""
    arrays = {"y_true": to_1d(y_true, "y_true"), "baseline": to_1d(baseline, "baseline"),
              "candidate": to_1d(candidate, "candidate")}
    n = len(arrays["y_true"])
    if n == 0:
        raise FairnessInputError("'y_true' is empty; compare needs at least one row.")
    for name, a in arrays.items():
        if len(a) != n:
            raise FairnessInputError(
                f"{name!r} has {len(a)} rows but 'y_true' has {n}. Pass one prediction of each "
                "model per row of the same data, in the same order."
            )
        check_not_missing(a, name)
    pos, fav = _labels(arrays, pos_label, favourable_label)
    bits = [np.asarray(arrays[k] == pos, dtype=np.int64) for k in ("y_true", "baseline", "candidate")]
    return 4 * bits[0] + 2 * bits[1] + bits[2], pos, fav


# -- counting -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Groups:
    """The non-empty groups of every grouping and their 8-cell joint tables."""

    names: tuple[str, ...]  # grouping of each group
    labels: tuple[M.GroupLabel, ...]
    tables: np.ndarray  # (G, 8) row counts
    slices: tuple[tuple[str, slice], ...]  # grouping -> its groups


def groups(codes: np.ndarray, sensitive_features: Any, intersectional: bool) -> Groups:
    """The non-empty groups of each attribute (and intersection) with their joint tables."""
    sf = sensitive_frame(sensitive_features, len(codes))
    cols, levels = [], []
    for c in sf.columns:
        col, lv = _factorize(sf[c])
        if lv == (MISSING,):
            raise FairnessInputError(
                f"The sensitive attribute {c!r} is missing in all {len(codes)} rows; it cannot split "
                "the rows into groups. Drop it or pass the right column."
            )
        cols.append(col)
        levels.append(lv)
    shape = tuple(len(lv) for lv in levels)
    cell = np.ravel_multi_index(tuple(cols), shape)
    joint = np.bincount(cell * 8 + codes, minlength=int(np.prod(shape)) * 8).reshape(shape + (8,))
    groupings = M.make_groupings(tuple(sf.columns), tuple(levels), intersectional)[1:]  # no overall
    tables = M.aggregate(joint, 0, len(shape), groupings)
    keep = tables.sum(axis=1) > 0
    names, labels, slices, start, kept = [], [], [], 0, 0
    for g in groupings:
        mask = keep[start:start + g.size]
        names += [g.name] * int(mask.sum())
        labels += [lab for lab, k in zip(g.labels, mask, strict=True) if k]
        slices.append((g.name, slice(kept, kept + int(mask.sum()))))
        start += g.size
        kept += int(mask.sum())
    return Groups(tuple(names), tuple(labels), tables[keep].astype(np.int64), tuple(slices))


def make_rng(random_state: Any) -> tuple[np.random.Generator, int | None]:
    """The bootstrap's generator and the seed to state (None when the caller passed a Generator)."""
    if isinstance(random_state, np.random.Generator):
        return random_state, None
    if random_state is None:  # a fresh seed, stated in the result so that it can be replayed
        random_state = int(np.random.SeedSequence().generate_state(1)[0])
    if not isinstance(random_state, numbers.Integral) or isinstance(random_state, bool) or random_state < 0:
        raise FairnessInputError(
            "The 'random_state' parameter of compare must be a non-negative integer seed, a "
            f"numpy Generator or None; got {random_state!r}."
        )
    return np.random.default_rng(int(random_state)), int(random_state)
