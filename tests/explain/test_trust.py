"""Agreement, stability and proxies: known answers and planted signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from auditkit import explain
from auditkit.explain._agreement import rank_agreement
from auditkit.explain._stability import StabilityReport


def test_rank_agreement_known_values() -> None:
    a = np.array([5.0, -4.0, 3.0, 2.0, 1.0])
    rho, overlap, signs = rank_agreement(a, a * 0.5, 3)
    assert (rho, overlap, signs) == (pytest.approx(1.0), 1.0, 1.0)
    rho, overlap, signs = rank_agreement(a, a[::-1].copy(), 2)
    assert rho == pytest.approx(-1.0)
    assert overlap == 0.0
    _, _, signs = rank_agreement(a, -a, 5)
    assert signs == 0.0


@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=3, max_size=12))
@settings(max_examples=50, deadline=None)
def test_agreement_with_itself_is_perfect(values) -> None:
    a = np.asarray(values)
    rho, overlap, _ = rank_agreement(a, a, 3)
    assert overlap == 1.0
    assert np.isnan(rho) or rho == pytest.approx(1.0)


def test_cramers_v_known_answers() -> None:
    perfect = np.diag([50, 50, 50])
    assert explain.cramers_v(perfect) == pytest.approx(1.0, abs=0.02)
    independent = np.full((3, 4), 25)
    assert explain.cramers_v(independent) == 0.0
    # A 2x2 table with phi = 0.6 (bias correction is tiny with n = 1000).
    table = np.array([[400, 100], [100, 400]])
    assert explain.cramers_v(table) == pytest.approx(0.6, abs=0.005)


def test_proxy_planted_zip_for_race_is_flagged() -> None:
    rng = np.random.default_rng(4)
    n = 4000
    race = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.25, 0.15])
    zip_area = np.where(rng.random(n) < 0.85, race, rng.choice(["a", "b", "c"], size=n))
    zip_code = np.array([f"Z{z}{rng.integers(0, 3)}" for z in zip_area])
    income = rng.normal(50, 10, size=n)
    noise = rng.normal(size=n)
    logit = 0.08 * (income - 50) - 1.2 * (race == "b") + 0.2 * noise
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"income": income, "zip": zip_code, "noise": noise})
    pre = ColumnTransformer(
        [("z", OneHotEncoder(sparse_output=False), ["zip"])], remainder="passthrough"
    )
    model = Pipeline(
        [("pre", pre), ("clf", HistGradientBoostingClassifier(max_iter=50, random_state=0))]
    ).fit(X, y)
    res = explain.explain(model, X, sample=1000, random_state=0)
    report = explain.proxies(X, pd.DataFrame({"race": race}), res)
    flagged = {(p.feature, p.protected) for p in report.proxies}
    assert ("zip", "race") in flagged
    assert ("income", "race") not in flagged and ("noise", "race") not in flagged
    zip_pair = next(p for p in report.pairs if p.feature == "zip")
    assert zip_pair.cramers_v > 0.5 and zip_pair.share >= 0.05


def test_direct_use_of_a_protected_attribute_is_reported() -> None:
    X = pd.DataFrame({"sex": np.r_[np.zeros(50), np.ones(50)], "x": np.arange(100.0)})
    report = explain.proxies(X, X[["sex"]], {"sex": 3.0, "x": 1.0})
    assert [p.feature for p in report.direct_reliance] == ["sex"]
    assert report.protected_share == pytest.approx(0.75)


def test_stability_of_a_deterministic_signal(numeric_data) -> None:
    X, y = numeric_data
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, (y > 0).astype(int))
    rep = explain.stability(model, X, repeats=3, sample=200, top_k=2, random_state=0)
    assert rep.repeats == 3
    assert rep.unstable == []
    assert list(rep.to_frame()["feature"][:2]) == ["a", "b"]
    assert rep.mean_pairwise_spearman > 0.5


def test_unstable_features_are_flagged() -> None:
    ranks = np.array([[1, 2, 3, 4, 5], [1, 5, 3, 4, 2], [1, 2, 3, 4, 5]])
    rep = StabilityReport(("a", "b", "c", "d", "e"), ranks, np.ones((3, 5)), 2, 2, 100, "tree")
    assert rep.unstable == ["b", "e"]
    assert rep.top_k_jaccard == pytest.approx(1 / 3)


def test_audit_runs_the_whole_workflow(mixed_data) -> None:
    X, y = mixed_data
    pre = ColumnTransformer(
        [("c", OneHotEncoder(sparse_output=False), ["region"])], remainder="passthrough"
    )
    model = Pipeline([("pre", pre), ("clf", HistGradientBoostingClassifier(max_iter=30))]).fit(X, y)
    protected = pd.DataFrame({"group": np.where(X["region"] == "south", "g1", "g2")}, index=X.index)
    ids = pd.Series([f"P{i:04d}" for i in range(len(X))], index=X.index, name="pid")
    rep = explain.audit(
        model,
        X,
        protected=protected,
        ids=ids,
        n_individuals=3,
        lime_samples=500,
        stability_repeats=2,
        stability_sample=200,
        random_state=0,
    )
    assert len(rep.local) == 3 and all(str(loc.individual).startswith("P") for loc in rep.local)
    assert rep.agreement is not None and len(rep.agreement.rows) == 3
    assert rep.stability is not None and rep.stability.repeats == 2
    assert any(p.feature == "region" and p.flagged for p in rep.proxies.pairs)
    table = rep.local[0].table(hide_values=["income"])
    assert set(table.loc[table.feature == "income", "value"]) == {"(withheld)"}
    assert {"shap", "lime_weight", "lime_contribution"} <= set(table.columns)


@given(
    st.lists(st.lists(st.integers(0, 40), min_size=2, max_size=4), min_size=2, max_size=4).filter(
        lambda rows: len({len(r) for r in rows}) == 1
    )
)
@settings(max_examples=60, deadline=None)
def test_cramers_v_is_bounded_and_symmetric(rows) -> None:
    table = np.asarray(rows, dtype=float)
    v = explain.cramers_v(table)
    assert 0.0 <= v <= 1.0 + 1e-12
    assert v == pytest.approx(explain.cramers_v(table.T))
    assert v == pytest.approx(explain.cramers_v(table[::-1, ::-1]))


@given(
    st.lists(st.floats(-3, 3, allow_nan=False), min_size=3, max_size=3),
    st.floats(-2, 2, allow_nan=False),
)
@settings(max_examples=15, deadline=None)
def test_linear_efficiency_for_any_coefficients(beta, intercept) -> None:
    from auditkit.explain._core import ModelExplainer

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["p", "q", "r"])

    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(X, X.to_numpy() @ np.asarray(beta) + intercept)
    res = ModelExplainer(model, X, background=X, random_state=0).explain(n_bootstrap=0)
    assert res.efficiency.passed
    np.testing.assert_allclose(
        res.values, (X.to_numpy() - X.to_numpy().mean(axis=0)) * model.coef_, atol=1e-8
    )


def test_agreement_frame_has_one_column_per_field_in_order() -> None:
    from dataclasses import fields

    from auditkit.explain._agreement import Agreement, AgreementReport

    rows = (Agreement("P1", 0.9, 1.0, 1.0, 3, True), Agreement("P2", -0.2, 1 / 3, 0.5, 3, False))
    frame = AgreementReport(rows, top_k=3, min_spearman=0.5, min_overlap=0.5).to_frame()
    assert list(frame.columns) == [f.name for f in fields(Agreement)]
    assert frame.to_dict("records")[1] == {"individual": "P2", "spearman": -0.2,
                                          "top_k_overlap": 1 / 3, "sign_agreement": 0.5,
                                          "k": 3, "agrees": False}
