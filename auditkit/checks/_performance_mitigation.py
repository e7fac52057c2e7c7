"""The accuracy–disparity trade-off of mitigation, for the performance check
(``[checks.performance] mitigation = true``).

The audited model is post-processed (or retrained) by :func:`auditkit.fairness.mitigate` for
one protected attribute (``mitigation_attribute``, else the one with the largest gap in
positive-prediction rate) on one half of the audit data and judged on the other half; the split
alternates rows within each group, so every group met at evaluation was seen at fit time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from auditkit.errors import ConfigError
from auditkit.hints import did_you_mean
from auditkit.reports import Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext

__all__ = ["REPORTED", "mitigation_table", "split_halves"]

#: Disparities shown before and after mitigation, per protected attribute.
REPORTED = ("demographic_parity_difference", "demographic_parity_ratio",
            "equalized_odds_difference", "equal_opportunity_difference")


def split_halves(groups: pd.Series, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of a fitting half and an evaluation half: within each group, rows in a
    random order alternate between the halves, the first going to the fitting half."""
    key = pd.Series(rng.random(len(groups)), index=groups.index)
    rank = key.groupby(groups.to_numpy()).rank(method="first").to_numpy().astype(int)
    fit = (rank % 2) == 1
    return np.flatnonzero(fit), np.flatnonzero(~fit)


def _reason(exc: Exception) -> str:
    text = str(exc)
    # fairlearn names the group in its message; group labels are shown elsewhere, but the
    # message is not ours to vouch for: keep its gist only
    return "degenerate labels in a group" if "egenerate" in text else exc.__class__.__name__


def _attribute(ctx: AuditContext, options: Any, frame: pd.DataFrame) -> str:
    """``mitigation_attribute``, else the protected attribute with the largest gap in
    positive-prediction rate between groups of at least ``min_group_size`` rows."""
    if options.mitigation_attribute is not None:
        if options.mitigation_attribute not in frame.columns:
            columns = [str(c) for c in frame.columns]
            raise ConfigError(
                f"[checks.performance] mitigation_attribute = {options.mitigation_attribute!r} "
                f"is not a protected attribute; name one of {', '.join(columns)} "
                f"([data] protected).{did_you_mean(options.mitigation_attribute, columns)}"
            )
        return options.mitigation_attribute
    pred = pd.Series(np.asarray(ctx.y_pred()) == 1, index=frame.index)
    best, gap = str(frame.columns[0]), -1.0
    for col in frame.columns:
        stats = pred.groupby(frame[col].astype(str)).agg(["mean", "size"])
        stats = stats[stats["size"] >= max(options.min_group_size, 1)]
        if len(stats) >= 2 and stats["mean"].max() - stats["mean"].min() > gap:
            best, gap = str(col), float(stats["mean"].max() - stats["mean"].min())
    return best


def _fmt(x: Any) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):.3f}"


def mitigation_table(ctx: AuditContext, options: Any, frame: pd.DataFrame,
                     random_state: int) -> tuple[Table | None, str]:
    """Run :func:`auditkit.fairness.mitigate` and tabulate accuracy and disparities before and
    after; returns the table (or None) and a sentence for the section summary."""
    if ctx.model is None or not ctx.features:
        return None, ("Mitigation was asked for but needs the model and its features "
                      "([model] path and features); it was not run.")
    y = np.asarray(ctx.y_true())
    if not set(pd.unique(pd.Series(y).dropna()).tolist()) <= {0, 1}:
        return None, "Mitigation needs 0/1 labels; it was not run."
    attribute = _attribute(ctx, options, frame)
    from auditkit.fairness import mitigate

    sf = frame[[attribute]].reset_index(drop=True)
    fit, test = split_halves(sf[attribute].astype(str), np.random.default_rng(random_state))
    X = ctx.feature_frame()
    try:
        result = mitigate(
            ctx.model, X.iloc[fit], y[fit], sf.iloc[fit], method=options.mitigation_method,
            constraint=options.mitigation_constraint, X_test=X.iloc[test], y_test=y[test],
            sensitive_features_test=sf.iloc[test], prefit=True, n_boot=0,
            random_state=random_state, intersectional=False,
            min_group_size=options.min_group_size,
        )
    except ValueError as exc:  # fairlearn refuses e.g. a group whose labels are all one class
        return None, (f"Mitigation on {attribute} could not be fitted ({_reason(exc)}); the "
                      "trade-off is not shown.")
    rows: list[list[Any]] = [["accuracy", "overall", _fmt(result.accuracy_before),
                              _fmt(result.accuracy_after),
                              _fmt(result.accuracy_after - result.accuracy_before)]]
    for grouping in result.before.groupings:
        if grouping == "overall":
            continue
        for name in REPORTED:
            key = (grouping, name)
            if key not in result.before.disparities.index:
                continue
            b = float(result.before.disparities.loc[key, "value"])
            a = float(result.after.disparities.loc[key, "value"])
            rows.append([name, grouping, _fmt(b), _fmt(a), _fmt(a - b)])
    method = options.mitigation_method.replace("_", " ")
    constraint = options.mitigation_constraint.replace("_", " ")
    note = (f"{method.capitalize()} under the {constraint} constraint, fitted on half of the "
            f"audit data ({len(fit)} rows) and judged on the other half ({len(test)} rows), "
            f"mitigating on {attribute}. Accuracy is overall; a lower accuracy after is the "
            "price of the smaller disparity.")
    table = Table(f"Mitigation trade-off: {method}, {constraint}",
                  ["measure", "grouping", "before", "after", "change"], rows, note=note)
    return table, (f"Mitigation on {attribute} ({method}, {constraint}) changed accuracy from "
                   f"{_fmt(result.accuracy_before)} to {_fmt(result.accuracy_after)} on the "
                   "evaluation half.")
