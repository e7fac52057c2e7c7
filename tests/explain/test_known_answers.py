"""Known answers: closed forms and brute-force Shapley values on tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeRegressor

from auditkit import explain
from tests.explain.conftest import brute_force_shapley, interventional_value, path_dependent_value


def _predict(model, X):
    import pandas as pd

    return lambda M: model.predict(pd.DataFrame(M, columns=X.columns))


def test_linear_shap_equals_centred_inputs_times_coefficients(numeric_data) -> None:
    X, y = numeric_data
    model = LinearRegression().fit(X, y)
    res = explain.explain(model, X, background=X, sample=50, random_state=0)
    expected = (res.data.to_numpy() - X.to_numpy().mean(axis=0)) * model.coef_
    assert res.choice.method == "linear"
    np.testing.assert_allclose(res.values, expected, atol=1e-10)
    np.testing.assert_allclose(res.base_values, model.predict(X).mean(), atol=1e-10)


def test_logistic_shap_is_in_log_odds_and_matches_closed_form(mixed_data) -> None:
    X, y = mixed_data
    Xn = X[["income", "debt"]].assign(income=np.log(X["income"]))
    model = LogisticRegression().fit(Xn, y)
    res = explain.explain(model, Xn, background=Xn, random_state=0)
    expected = (res.data.to_numpy() - Xn.to_numpy().mean(axis=0)) * model.coef_[0]
    np.testing.assert_allclose(res.values, expected, atol=1e-9)
    assert res.choice.output == "log-odds of class 1"
    # The other class is explained with the opposite sign.
    neg = explain.explain(model, Xn, background=Xn, target_class=0, random_state=0)
    np.testing.assert_allclose(neg.values, -expected, atol=1e-9)


@pytest.mark.parametrize(
    "model",
    [
        DecisionTreeRegressor(max_depth=3, random_state=0),
        GradientBoostingRegressor(n_estimators=5, max_depth=2, random_state=0),
    ],
    ids=["decision_tree", "gradient_boosting"],
)
def test_tree_shap_equals_brute_force_path_dependent_shapley(numeric_data, model) -> None:
    X, y = numeric_data
    model.fit(X, y)
    res = explain.explain(model, X, sample=5, random_state=0)
    assert res.choice.method == "tree"
    if hasattr(model, "estimators_"):
        trees = [est.tree_ for est in model.estimators_.ravel()]
        scale = model.learning_rate
    else:
        trees, scale = [model.tree_], 1.0
    for i in range(len(res.values)):
        x = res.data.to_numpy()[i]
        phi = brute_force_shapley(path_dependent_value(trees, x, scale), 4)
        np.testing.assert_allclose(res.values[i], phi, atol=1e-8)


def test_interventional_tree_shap_equals_brute_force(numeric_data) -> None:
    X, y = numeric_data
    model = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    bg = X.iloc[:15]
    res = explain.explain(model, X, background=bg, sample=4, random_state=0)
    assert "interventional" in res.choice.engine
    for i in range(len(res.values)):
        x = res.data.to_numpy()[i]
        phi = brute_force_shapley(interventional_value(_predict(model, X), x, bg.to_numpy()), 4)
        np.testing.assert_allclose(res.values[i], phi, atol=1e-8)


def test_kernel_shap_with_full_enumeration_equals_brute_force(numeric_data) -> None:
    X, y = numeric_data
    model = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y)
    bg = X.iloc[:10]
    res = explain.explain(
        model, X, background=bg, method="kernel", sample=3, nsamples=64, random_state=0
    )
    for i in range(len(res.values)):
        x = res.data.to_numpy()[i]
        phi = brute_force_shapley(interventional_value(_predict(model, X), x, bg.to_numpy()), 4)
        np.testing.assert_allclose(res.values[i], phi, atol=1e-6)


def test_lime_on_a_linear_model_recovers_sign_and_order_of_coefficients() -> None:
    rng = np.random.default_rng(3)
    import pandas as pd

    X = pd.DataFrame(rng.normal(size=(2000, 4)), columns=["w", "x", "y", "z"])
    beta = np.array([3.0, -2.0, 1.0, -0.5])
    y = X.to_numpy() @ beta + 0.01 * rng.normal(size=2000)
    model = LinearRegression().fit(X, y)
    local = explain.explain_individuals(model, X, [5, 17, 300], lime_samples=3000, random_state=0)
    for loc in local:
        w = loc.lime.weights.to_numpy()
        assert np.array_equal(np.sign(w), np.sign(beta))
        assert list(np.argsort(-np.abs(w))) == list(np.argsort(-np.abs(beta)))
        assert loc.lime.fidelity_r2 > 0.99
        # Slopes per unit: LIME weights are per standard deviation of the training data.
        np.testing.assert_allclose(w / X.std(ddof=0).to_numpy(), beta, rtol=0.05)
