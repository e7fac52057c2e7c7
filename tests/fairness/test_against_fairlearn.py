"""Every metric of auditkit.fairness.audit equals fairlearn's (MetricFrame and its functions) to 1e-12."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from fairlearn import metrics as flm
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from auditkit.fairness import audit

TOL = 1e-12
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def binary_data(draw, weighted=None, with_scores=True):
    n = draw(st.integers(8, 160))
    n_attr = draw(st.integers(1, 2))
    levels = [draw(st.integers(1, 4)) for _ in range(n_attr)]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    sf = {}
    for j, k in enumerate(levels):
        col = rng.choice([f"g{i}" for i in range(k)], n).astype(object)
        if draw(st.booleans()):
            col[rng.random(n) < 0.15] = None  # missing values: their own group
        sf[f"a{j}"] = col
    p = draw(st.floats(0.1, 0.9))
    y = (rng.random(n) < p).astype(int)
    yhat = (rng.random(n) < draw(st.floats(0.05, 0.95))).astype(int)
    if weighted is None:
        weighted = draw(st.booleans())
    w = np.round(rng.uniform(0.0, 4.0, n), 3) if weighted else None
    s = np.round(rng.random(n), draw(st.integers(1, 4))) if with_scores else None
    return y, yhat, pd.DataFrame(sf), w, s


def _close(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= TOL


def _group_keys(sf: pd.DataFrame) -> list:
    """Each row's group as the audit labels it: the level of one attribute, or for an
    intersection the tuple of levels (missing values as ``<missing>``)."""
    sfm = sf.astype(object).where(sf.notna(), "<missing>").astype(str)
    return [k if len(k) > 1 else k[0] for k in sfm.itertuples(index=False, name=None)]


@pytest.mark.slow
@SETTINGS
@given(binary_data())
def test_binary_group_metrics_match_metricframe(ref, data) -> None:
    y, yhat, sf, w, _ = data
    assume(len(set(y)) == 2 and (w is None or w[y == 1].sum() > 0 and w[y == 0].sum() > 0))
    res = audit(y, yhat, sf, sample_weight=w, n_boot=0, min_group_size=0, min_denominator=0)
    theirs = ref.fairlearn_frame(y, yhat, sf, ref.BINARY, w)
    grouping = " × ".join(sf.columns)
    ours = res.by_group.xs(grouping, level="grouping")
    keys = _group_keys(sf)
    assert sorted(ours.index) == sorted(set(keys))  # fairlearn also lists empty combinations
    checked = 0
    for group in ours.index:
        rows = np.array([k == group for k in keys])
        for metric in ref.BINARY:
            o = ours.at[group, metric]
            if ref.binary_defined(y[rows], yhat[rows], None if w is None else w[rows], metric):
                assert _close(o, theirs.at[group, metric]), (group, metric, o, theirs.at[group, metric])
                checked += 1
            else:
                assert np.isnan(o), (group, metric, o)
                reason = res.undefined.query("group == @group and metric == @metric")
                assert len(reason) >= 1 and reason["reason"].iloc[0]
    assert checked > 0
    # the overall row equals the metric functions on all rows
    for metric, fn in ref.BINARY.items():
        if ref.binary_defined(y, yhat, w, metric):
            expected = fn(y, yhat, sample_weight=w)
            assert _close(res.overall.loc[metric, "value"], expected), metric


@pytest.mark.slow
@SETTINGS
@given(binary_data(with_scores=True))
def test_auc_and_calibration_match_row_level(ref, data) -> None:
    y, yhat, sf, w, s = data
    assume(len(set(y)) == 2 and (w is None or w[y == 1].sum() > 0 and w[y == 0].sum() > 0))
    res = audit(y, yhat, sf, y_score=s, sample_weight=w, n_boot=0, min_group_size=0, min_denominator=0)
    grouping = " × ".join(sf.columns)
    ours = res.by_group.xs(grouping, level="grouping")
    keys = _group_keys(sf)
    for group in ours.index:
        rows = np.array([k == group for k in keys])
        wr = None if w is None else w[rows]
        ww = np.ones(rows.sum()) if wr is None else wr
        if ww[y[rows] == 1].sum() > 0 and ww[y[rows] == 0].sum() > 0:
            expected = skm.roc_auc_score(y[rows], s[rows], sample_weight=wr)
            assert _close(ours.at[group, "roc_auc"], expected), group
        else:
            assert np.isnan(ours.at[group, "roc_auc"])
        if ww.sum() > 0:
            assert _close(ours.at[group, "expected_calibration_error"], ref.ece_rows(y[rows], s[rows], wr))
    # and through MetricFrame on the intersection
    theirs = ref.fairlearn_frame(y, s, sf, {"ece": ref.ece_rows}, w)
    for group in ours.index:
        if not np.isnan(theirs.at[group, "ece"]):
            assert _close(ours.at[group, "expected_calibration_error"], theirs.at[group, "ece"])


@pytest.mark.slow
@SETTINGS
@given(binary_data(weighted=False, with_scores=False))
def test_disparities_match_fairlearn_functions(data) -> None:
    y, yhat, sf, _, _ = data
    sf = sf.astype(object).where(sf.notna(), "<missing>")
    assume(len(set(y)) == 2)
    keys = sf.astype(str).agg(", ".join, axis=1)
    # fairlearn returns 0 for an undefined rate; compare where every group is defined
    by = pd.DataFrame({"y": y, "p": yhat, "k": keys}).groupby("k")
    assume(by.size().size >= 2)
    assume(((by["y"].sum() > 0) & (by["y"].sum() < by.size())).all())
    res = audit(y, yhat, sf, n_boot=0, min_group_size=0, min_denominator=0)
    grouping = " × ".join(sf.columns)
    for name in ("demographic_parity_difference", "demographic_parity_ratio",
                 "equalized_odds_difference", "equalized_odds_ratio",
                 "equal_opportunity_difference", "equal_opportunity_ratio"):
        ours = res.disparities.loc[(grouping, name), "value"]
        theirs = getattr(flm, name)(y, yhat, sensitive_features=sf)
        if name == "equalized_odds_ratio":
            # fairlearn takes Python's min() over [TPR ratio, FPR ratio], so a NaN part (a rate
            # that is 0 in every group) wins or loses depending on its position. Ours treats a
            # rate equal to 0 everywhere as parity (ratio 1): build that from fairlearn's parts.
            parts = []
            for fn in (flm.true_positive_rate, flm.false_positive_rate):
                mf = flm.MetricFrame(metrics=fn, y_true=y, y_pred=yhat, sensitive_features=sf)
                r = mf.ratio()
                parts.append(1.0 if np.isnan(r) and mf.group_max() == 0 else r)
            theirs = min(parts) if not any(np.isnan(parts)) else np.nan
        if np.isnan(ours):  # a ratio whose maximum is 0
            assert name.endswith("ratio") and (theirs == 0 or np.isnan(theirs))
        else:
            assert _close(ours, theirs), (name, ours, theirs)
    assert _close(res.disparities.loc[(grouping, "impact_ratio"), "value"],
                  flm.demographic_parity_ratio(y, yhat, sensitive_features=sf)) or np.isnan(
        res.disparities.loc[(grouping, "impact_ratio"), "value"])


@pytest.mark.slow
@SETTINGS
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_regression_metrics_match_metricframe(ref, seed, weighted) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 200))
    sf = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n)})
    y = rng.normal(size=n)
    yhat = y + rng.normal(scale=0.5, size=n)
    w = rng.uniform(0.1, 3, n) if weighted else None
    res = audit(y, yhat, sf, sample_weight=w, n_boot=0, min_group_size=0, min_denominator=0)
    assert res.task == "regression"
    theirs = ref.fairlearn_frame(y, yhat, sf, ref.REGRESSION, w)
    ours = res.by_group.xs("a", level="grouping")
    for g in ours.index:
        for m in ref.REGRESSION:
            assert abs(ours.at[g, m] - theirs.at[g, m]) <= 1e-12 * max(1.0, abs(theirs.at[g, m]))
    vals = theirs["mean_absolute_error"]
    assert _close(res.disparities.loc[("a", "mean_absolute_error_difference"), "value"], vals.max() - vals.min())


def test_multiclass_selection_rates_match_metricframe(ref) -> None:
    rng = np.random.default_rng(3)
    n = 500
    sf = pd.DataFrame({"a": rng.choice(["x", "y"], n), "b": rng.choice(["u", "v", "w"], n)})
    y = rng.integers(0, 3, n)
    yhat = rng.integers(0, 3, n)
    res = audit(y, yhat, sf, n_boot=0, min_group_size=0, min_denominator=0)
    assert res.task == "multiclass"
    metrics = {f"selection_rate[{k}]": functools.partial(flm.selection_rate, pos_label=k) for k in range(3)}
    theirs = ref.fairlearn_frame(y, yhat, sf, metrics)
    ours = res.by_group.xs("a × b", level="grouping")
    for g in ours.index:
        for m in metrics:
            assert _close(ours.at[g, m], theirs.at[g, m])
    with pytest.raises(ValueError, match="more than two classes"):
        audit(y, yhat, sf, metrics=["true_positive_rate"], n_boot=0)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["adult", "compas"])
def test_real_data_matches_fairlearn(request, ref, dataset) -> None:
    df = request.getfixturevalue(dataset)
    attrs = ["sex", "race"]
    sf = df[attrs]
    y, yhat, s = df["y"].to_numpy(), df["yhat"].to_numpy(), df["score"].to_numpy()
    w = df["fnlwgt"].to_numpy(dtype=float) if dataset == "adult" else None
    res = audit(y, yhat, sf, y_score=s, sample_weight=w, n_boot=0, min_group_size=0, min_denominator=0)
    for grouping, cols in (("sex", ["sex"]), ("race", ["race"]), ("sex × race", attrs)):
        theirs = ref.fairlearn_frame(y, yhat, df[cols], ref.BINARY, w)
        auc = ref.fairlearn_frame(y, s, df[cols], {"roc_auc": skm.roc_auc_score}, w) \
            if (df.groupby(cols)["y"].nunique() == 2).all() else None
        ours = res.by_group.xs(grouping, level="grouping")
        assert set(ours.index) <= set(theirs.index)
        for g in ours.index:
            for m in ref.BINARY:
                if not np.isnan(ours.at[g, m]):
                    assert _close(ours.at[g, m], theirs.at[g, m]), (dataset, g, m)
            if auc is not None:
                assert _close(ours.at[g, "roc_auc"], auc.at[g, "roc_auc"]), (dataset, g)
        sfx = df[cols]
        for name in ("demographic_parity_difference", "demographic_parity_ratio",
                     "equalized_odds_difference", "equal_opportunity_difference"):
            if (ours[["true_positive_rate", "false_positive_rate"]].notna().all().all()):
                theirs_d = getattr(flm, name)(y, yhat, sensitive_features=sfx, sample_weight=w)
                assert _close(res.disparities.loc[(grouping, name), "value"], theirs_d), (dataset, grouping, name)
