"""Per-window statistics of the monitor, from the counts table.

A *stream* is one quantity followed over the windows, with a standard error per window:

- ``fairness``: a group's rate minus the rate of the rest of its grouping (the rows of the other
  groups), for every monitored rate (:data:`RATES`): the selection rate gap behind demographic
  parity, the true and false positive rate gaps behind equalised odds, and so on;
- ``calibration``: a group's calibration-in-the-large, mean score minus the observed positive
  rate of its labelled, scored rows;
- ``drift``: the overall rate of positive predictions (prediction-rate drift).

The counts table is the mergeable table described in :mod:`auditkit.fairness._monitor_counts`:
one row per (window, protected levels, ``y_pred``, ``y_true``, ``score_bin``) with ``n`` rows
and their ``score_sum``. Everything here is a group-by over it: its cost grows with the number of
windows and groups, never with the rows of the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditkit.fairness._metrics import GROUP_SEPARATOR
from auditkit.fairness.errors import FairnessInputError

__all__ = ["RATES", "Rate", "binary_labels", "grouping_labels", "stream_table"]


@dataclass(frozen=True)
class Rate:
    """A rate of the monitor: numerator and denominator rows, and whether it needs labels."""

    name: str
    numerator: str
    denominator: str
    needs_labels: bool


def _r(name: str, num: str, den: str, labels: bool) -> tuple[str, Rate]:
    return name, Rate(name, num, den, labels)


#: The rates the monitor can follow per group (names as in :data:`auditkit.fairness.METRICS`).
RATES: dict[str, Rate] = dict([
    _r("selection_rate", "pred_pos", "all", False),
    _r("favourable_rate", "pred_fav", "all", False),
    _r("base_rate", "true_pos", "labelled", True),
    _r("true_positive_rate", "tp", "true_pos", True),
    _r("false_positive_rate", "fp", "true_neg", True),
    _r("false_negative_rate", "fn", "true_pos", True),
    _r("true_negative_rate", "tn", "true_neg", True),
    _r("positive_predictive_value", "tp", "pred_pos_labelled", True),
    _r("negative_predictive_value", "tn", "pred_neg_labelled", True),
    _r("accuracy", "correct", "labelled", True),
])


def binary_labels(counts: pd.DataFrame, positive: str | None, favourable: str | None) -> tuple[str, str]:
    """The positive and favourable class (texts) of a binary log.

    ``positive`` defaults to ``"1"`` (or ``"True"``) when the predictions are 0/1 (False/True);
    otherwise it must be given. ``favourable`` defaults to the positive class.
    """
    preds = set(counts["y_pred"].dropna().astype(str))
    labels = set(counts["y_true"].dropna().astype(str))
    if len(labels | preds) > 2 and labels and preds and not labels & preds:
        raise FairnessInputError(
            f"The labels ({len(labels)} distinct value(s)) share no class with the predictions "
            f"({len(preds)} distinct value(s)): labels and predictions must use the same class values "
            "(e.g. both 0/1). Map the labels to the prediction classes before they are logged or joined.")
    seen = preds | labels
    if positive is None:
        for pos, pair in (("1", {"0", "1"}), ("True", {"False", "True"})):
            if seen <= pair:
                positive = pos
                break
        else:
            raise FairnessInputError(
                f"The predictions and labels have {len(seen)} distinct values that are not all 0/1 (predictions "
                f"{len(preds)}, labels {len(labels)}): set the positive class ([data] positive_label, or "
                "positive_label=...) to say which prediction is the positive one.")
    if len(seen - {positive}) > 1:
        where = "predictions" if len(preds - {positive}) > 1 else "labels"
        raise FairnessInputError(
            f"The monitor follows binary predictions, but the log has {len(seen)} distinct classes in its "
            f"predictions and labels (predictions {len(preds)}, labels {len(labels)}; the {where} have more than "
            "two). Map the outcome to two classes before monitoring.")
    return positive, positive if favourable is None else favourable


def _quantities(counts: pd.DataFrame, positive: str, favourable: str) -> pd.DataFrame:
    """Per counts row: the row count of every numerator and denominator of :data:`RATES`."""
    n = counts["n"].to_numpy(dtype=np.int64)
    pred_pos = (counts["y_pred"].astype(object) == positive).to_numpy()
    labelled = counts["y_true"].notna().to_numpy()
    true_pos = labelled & (counts["y_true"].astype(object) == positive).to_numpy()
    true_neg = labelled & ~true_pos
    masks = {
        "all": np.ones(len(n), dtype=bool),
        "pred_pos": pred_pos,
        "pred_fav": (counts["y_pred"].astype(object) == favourable).to_numpy(),
        "labelled": labelled,
        "true_pos": true_pos,
        "true_neg": true_neg,
        "tp": true_pos & pred_pos,
        "fp": true_neg & pred_pos,
        "fn": true_pos & ~pred_pos,
        "tn": true_neg & ~pred_pos,
        "pred_pos_labelled": labelled & pred_pos,
        "pred_neg_labelled": labelled & ~pred_pos,
        "correct": (true_pos & pred_pos) | (true_neg & ~pred_pos),
    }
    out = pd.DataFrame({k: np.where(m, n, 0) for k, m in masks.items()})
    scored = labelled & (counts["score_bin"].to_numpy() >= 0)
    s_sum = counts["score_sum"].to_numpy(dtype=float)
    y = true_pos.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s_mean = np.where(n > 0, s_sum / np.maximum(n, 1), 0.0)
    out["cal_n"] = np.where(scored, n, 0)
    out["cal_pos"] = np.where(scored & true_pos, n, 0)
    out["cal_gap"] = np.where(scored, s_sum - n * y, 0.0)  # sum of (score - y)
    out["cal_sq"] = np.where(scored, n * (s_mean - y) ** 2, 0.0)  # bin-mean approximation
    return out


def grouping_labels(counts: pd.DataFrame, attributes: Sequence[str], intersectional: bool) -> dict[str, pd.Series]:
    """Group labels per counts row for each grouping: one per attribute, plus their
    intersection (levels joined by the group separator) when asked and there are several."""
    out = {a: counts[a].astype(str) for a in attributes}
    if intersectional and len(attributes) > 1:
        clash = [a for a in attributes if GROUP_SEPARATOR in a or out[a].str.contains(GROUP_SEPARATOR, regex=False).any()]
        if clash:  # "a × b" + "c" and "a" + "b × c" would be one intersectional group
            raise FairnessInputError(
                f"The protected attribute(s) {', '.join(map(repr, clash))} have a name or levels containing the "
                f"group separator {GROUP_SEPARATOR!r}, so their intersections cannot be told apart. Rename those "
                "levels in the log (or the column), or set intersectional = false.")
        joined = counts[list(attributes)].astype(str).agg(GROUP_SEPARATOR.join, axis=1)
        out[GROUP_SEPARATOR.join(attributes)] = joined
    return out


def _gap_stream(g: pd.DataFrame, tot: pd.DataFrame, rate: Rate) -> pd.DataFrame:
    """Group rate, rest rate and the gap with its standard error, per (window, group)."""
    x, d = g[rate.numerator].to_numpy(float), g[rate.denominator].to_numpy(float)
    tx = tot.loc[g["window"], rate.numerator].to_numpy(float)
    td = tot.loc[g["window"], rate.denominator].to_numpy(float)
    rx, rd = tx - x, td - d
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(d > 0, x / d, np.nan)
        q = np.where(rd > 0, rx / rd, np.nan)
        # variance with the rates pulled half a row towards 1/2, so that a rate of 0 or 1 in
        # a window does not claim a standard error of zero
        ps, qs = (x + 0.5) / (d + 1.0), (rx + 0.5) / (rd + 1.0)
        se = np.sqrt(ps * (1 - ps) / np.maximum(d, 1) + qs * (1 - qs) / np.maximum(rd, 1))
    return pd.DataFrame({
        "window": g["window"].to_numpy(), "group": g["group"].to_numpy(), "n": g["all"].to_numpy(),
        "numerator": x, "denominator": d, "rest_numerator": rx, "rest_denominator": rd, "value": p,
        "rest_value": q, "estimate": p - q, "se": se, "positives": np.nan,
    })


def _calibration_stream(g: pd.DataFrame) -> pd.DataFrame:
    n = g["cal_n"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, g["cal_gap"].to_numpy(float) / n, np.nan)
        var = np.where(n > 1, g["cal_sq"].to_numpy(float) / n - mean**2, np.nan)
        se = np.sqrt(np.maximum(var, 1e-6) / np.maximum(n, 1))
    return pd.DataFrame({
        "window": g["window"].to_numpy(), "group": g["group"].to_numpy(), "n": g["all"].to_numpy(),
        "numerator": g["cal_gap"].to_numpy(float), "denominator": n, "rest_numerator": np.nan,
        "rest_denominator": np.nan, "value": mean, "rest_value": np.nan, "estimate": mean, "se": se,
        "positives": g["cal_pos"].to_numpy(float),
    })


def _overall_rate(tot: pd.DataFrame) -> pd.DataFrame:
    x, d = tot["pred_pos"].to_numpy(float), tot["all"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(d > 0, x / d, np.nan)
        ps = (x + 0.5) / (d + 1.0)
        se = np.sqrt(ps * (1 - ps) / np.maximum(d, 1))
    return pd.DataFrame({
        "window": tot.index.to_numpy(), "group": "all rows", "n": d, "numerator": x, "denominator": d,
        "rest_numerator": np.nan, "rest_denominator": np.nan, "value": p, "rest_value": np.nan, "estimate": p,
        "se": se, "positives": np.nan,
    })


def stream_table(counts: pd.DataFrame, attributes: Sequence[str], metrics: Sequence[str], *,
                 positive: str, favourable: str, intersectional: bool = False,
                 calibration: bool = True) -> pd.DataFrame:
    """Every stream's per-window estimate and standard error, in one long table.

    Columns: ``kind``, ``metric``, ``grouping``, ``group``, ``window``, ``n`` (rows of the
    group in the window), ``numerator``, ``denominator``, ``rest_denominator``, ``value`` (the
    group's rate), ``rest_value``, ``estimate`` (the followed quantity) and ``se``.

    A grouping with exactly two groups has one fairness stream per rate, the first group's in
    sorted order: the other group's gap is the same number with the opposite sign.
    """
    unknown = [m for m in metrics if m not in RATES]
    if unknown:
        raise FairnessInputError(
            f"The monitor cannot follow {', '.join(map(repr, unknown))}: it follows the rates "
            f"{', '.join(RATES)}.")
    q = _quantities(counts, positive, favourable)
    q["window"] = counts["window"].to_numpy(dtype=np.int64)
    tot = q.groupby("window").sum(numeric_only=True)
    parts = []
    for grouping, labels in grouping_labels(counts, attributes, intersectional).items():
        g = q.assign(group=labels.to_numpy()).groupby(["window", "group"], sort=True).sum(
            numeric_only=True).reset_index()
        keep = _stream_groups(g)
        for m in metrics:
            s = _gap_stream(g[g["group"].isin(keep)], tot, RATES[m])
            parts.append(s.assign(kind="fairness", metric=m, grouping=grouping))
        if calibration and q["cal_n"].sum() > 0:
            parts.append(_calibration_stream(g).assign(kind="calibration", metric="calibration_gap",
                                                       grouping=grouping))
    parts.append(_overall_rate(tot).assign(kind="drift", metric="prediction_rate", grouping=""))
    out = pd.concat(parts, ignore_index=True)
    cols = ["kind", "metric", "grouping", "group", "window"]
    return out[cols + [c for c in out.columns if c not in cols]].sort_values(cols, kind="stable").reset_index(
        drop=True)


def _stream_groups(g: pd.DataFrame) -> list[str]:
    """The groups that get a fairness stream: all of them, or, of exactly two, the first in
    sorted order (the other's gap is the same number with the other sign). Sorted order, not
    size, so that the stream never switches sides between runs."""
    groups = sorted({str(x) for x in g["group"]})
    return groups[:1] if len(groups) == 2 else groups
