"""Efficiency (SHAP values add up to f(x) - E[f]) on every explainer path."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from auditkit import explain


def _pipe(est):
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
            ("num", StandardScaler(), ["income", "debt"]),
        ]
    )
    return Pipeline([("pre", pre), ("est", est)])


CASES = [
    ("tree", lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0), {}),
    ("tree", lambda: RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), {}),
    ("tree", lambda: GradientBoostingClassifier(n_estimators=20, random_state=0), {}),
    ("linear", lambda: LogisticRegression(max_iter=500), {}),
    pytest.param(
        "permutation", lambda: KNeighborsClassifier(15), {"sample": 8}, marks=pytest.mark.slow
    ),
    (
        "kernel",
        lambda: KNeighborsClassifier(15),
        {"method": "kernel", "sample": 5, "nsamples": 100},
    ),
]


@pytest.mark.parametrize(
    ("method", "make", "kw"),
    CASES,
    ids=["hgb", "forest", "gbm", "logistic", "permutation-knn", "kernel-knn"],
)
def test_efficiency_holds_on_pipelines(mixed_data, method, make, kw) -> None:
    X, y = mixed_data
    model = _pipe(make()).fit(X, y)
    res = explain.explain(model, X, random_state=0, **kw)
    assert res.choice.method == method
    assert res.efficiency.passed, res.efficiency
    np.testing.assert_allclose(res.values.sum(axis=1) + res.base_values, res.output, atol=1e-6)
    # The explained output is the model's own output, computed independently of shap.
    assert res.feature_names == ("income", "debt", "region")


def test_efficiency_holds_on_plain_estimators(numeric_data) -> None:
    X, y = numeric_data
    yb = (y > 0).astype(int)
    for model in (
        HistGradientBoostingClassifier(max_iter=20).fit(X, yb),
        LogisticRegression().fit(X, yb),
    ):
        res = explain.explain(model, X, random_state=0)
        assert res.efficiency.passed
        assert res.efficiency.rows_checked == len(X)


def test_efficiency_violation_is_reported(numeric_data) -> None:
    X, y = numeric_data
    model = HistGradientBoostingClassifier(max_iter=20).fit(X, (y > 0).astype(int))
    res = explain.explain(model, X, efficiency_tolerance=1e-30, random_state=0)
    # Floating-point sums are never exact to 1e-30 on every row: the check must say so.
    assert not res.efficiency.passed
    assert res.efficiency.rows_violating > 0
    assert "VIOLATED" in repr(res)


@pytest.mark.slow
def test_gradient_explainer_on_torch_module_is_approximately_efficient(numeric_data) -> None:
    import torch
    X, _ = numeric_data
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    res = explain.explain(net, X.to_numpy(), sample=5, nsamples=1000, random_state=0)
    assert res.choice.method == "gradient"
    assert not res.efficiency.exact
    assert res.efficiency.passed, res.efficiency


def test_gradient_explainer_is_exact_for_a_linear_module(numeric_data) -> None:
    import torch
    X, _ = numeric_data
    lin = torch.nn.Linear(4, 1)
    with torch.no_grad():
        lin.weight[:] = torch.tensor([[1.0, -2.0, 0.5, 0.0]])
        lin.bias[:] = 0.3
    # With a one-row background, expected gradients of a linear module are w * (x - b) exactly.
    b = X.to_numpy()[:1]
    res = explain.explain(lin, X.to_numpy(), background=b, sample=10, random_state=0)
    expected = (res.data.to_numpy() - b) * np.array([1.0, -2.0, 0.5, 0.0])
    np.testing.assert_allclose(res.values, expected, atol=1e-4)


def test_engine_refusal_falls_back_to_permutation_and_says_so() -> None:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, y)
    res = explain.explain(model, X, sample=5, random_state=0)
    assert res.choice.method == "permutation"
    assert any("does not support" in n for n in res.notes)
    assert res.choice.output == "probability of class 2"
    assert res.efficiency.passed
