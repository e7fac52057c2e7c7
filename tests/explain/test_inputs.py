"""Bad input gets an ExplainInputError that names the input and says what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from auditkit import explain
from auditkit.explain import ExplainInputError


@pytest.fixture(scope="module")
def fitted(numeric_data):
    X, y = numeric_data
    return LinearRegression().fit(X, y), X


def test_errors_are_value_errors() -> None:
    assert issubclass(ExplainInputError, ValueError)
    assert issubclass(ExplainInputError, explain.ExplainError)


def test_model_without_predict_is_refused(numeric_data) -> None:
    X, _ = numeric_data
    with pytest.raises(ExplainInputError, match="must have predict or predict_proba"):
        explain.explain(object(), X)


def test_unfitted_model_is_refused(numeric_data) -> None:
    X, _ = numeric_data
    with pytest.raises(ExplainInputError, match="must be fitted"):
        explain.explain(LogisticRegression(), X)


def test_missing_feature_is_named(fitted) -> None:
    model, X = fitted
    with pytest.raises(ExplainInputError, match="lacks 'c'"):
        explain.explain(model, X.drop(columns=["c"]))


def test_unexpected_feature_is_named(fitted) -> None:
    model, X = fitted
    with pytest.raises(ExplainInputError, match="not fitted on: 'extra'"):
        explain.explain(model, X.assign(extra=1.0))


def test_reordered_columns_are_put_back_in_model_order(fitted) -> None:
    model, X = fitted
    res = explain.explain(model, X[["d", "c", "b", "a"]], random_state=0)
    assert res.feature_names == ("a", "b", "c", "d")


def test_array_of_the_wrong_width_is_refused(fitted) -> None:
    model, X = fitted
    with pytest.raises(ExplainInputError, match="4 features the model was fitted on; got 3"):
        explain.explain(model, X.to_numpy()[:, :3])


def test_feature_names_that_do_not_match_the_array(fitted) -> None:
    model, X = fitted
    with pytest.raises(ExplainInputError, match="3 names for 4 columns"):
        explain.explain(model, X.to_numpy(), feature_names=["a", "b", "c"])


def test_non_numeric_data_without_a_pipeline(mixed_data) -> None:
    X, y = mixed_data
    model = HistGradientBoostingClassifier(max_iter=5).fit(X[["income", "debt"]], y)
    callable_model = lambda M: np.asarray(M, dtype=float)[:, 0]  # noqa: E731
    with pytest.raises(ExplainInputError, match=r"non-numeric columns \('region'\).*Pipeline"):
        explain.explain(callable_model, X)
    assert model is not None


def test_oversized_background_is_sampled_and_the_result_says_so(fitted) -> None:
    model, X = fitted
    big = pd.concat([X] * 5, ignore_index=True)
    res = explain.explain(model, X, background=big, max_background=300, random_state=0)
    assert any("2,000 rows" in n and "300" in n for n in res.sampling.notes)
    assert "300" in res.sampling.describe()
    assert res.efficiency.passed


def test_row_sampling_is_stated(fitted) -> None:
    model, X = fitted
    res = explain.explain(model, X, sample=50, random_state=0)
    assert res.sampling.rows_explained == 50 and res.sampling.rows_total == len(X)
    assert "50 of 400 rows explained" in res.sampling.describe()
    assert len(res.values) == 50


def test_individuals_not_in_the_data(fitted) -> None:
    model, X = fitted
    with pytest.raises(ExplainInputError, match="2 individual\\(s\\) not found.*9999"):
        explain.explain_individuals(model, X, [0, 9999, 12345])
    ids = pd.Series([f"A{i}" for i in range(len(X))], index=X.index, name="app_id")
    with pytest.raises(ExplainInputError, match="not found in the id column 'app_id'"):
        explain.explain_individuals(model, X, ["A1", "B7"], ids=ids)
    with pytest.raises(ExplainInputError, match="at least one"):
        explain.explain_individuals(model, X, [])


def test_unknown_method_suggests_the_closest(fitted) -> None:
    model, X = fitted
    with pytest.raises(ExplainInputError, match="Did you mean 'kernel'"):
        explain.explain(model, X, method="kernal")


def test_model_specific_method_on_the_wrong_model(fitted) -> None:
    model, X = fitted
    with pytest.raises(ExplainInputError, match="does not apply to a LinearRegression"):
        explain.explain(model, X, method="tree")


def test_unknown_target_class(mixed_data) -> None:
    X, y = mixed_data
    model = LogisticRegression().fit(X[["income", "debt"]], y)
    with pytest.raises(ExplainInputError, match="one of the model's classes"):
        explain.explain(model, X[["income", "debt"]], target_class="yes")


def test_option_ranges(fitted) -> None:
    model, X = fitted
    with pytest.raises(ExplainInputError, match="'sample' parameter"):
        explain.explain(model, X, sample=0)
    with pytest.raises(ExplainInputError, match="'confidence'"):
        explain.explain(model, X, confidence=1.5)


def test_messages_never_repeat_data_values(mixed_data) -> None:
    X, y = mixed_data
    secret = X.assign(region="SECRET-VALUE-123")
    try:
        explain.explain(lambda M: M, secret)
    except ExplainInputError as exc:
        assert "SECRET-VALUE-123" not in str(exc)
    else:  # pragma: no cover
        pytest.fail("expected an error")


def test_register_explainer_refuses_silent_overwrite() -> None:
    spec = explain.ExplainerSpec("tree", "x", build=lambda req: None)
    with pytest.raises(explain.ExplainInputError, match="already registered") as caught:
        explain.register_explainer(spec)
    assert isinstance(caught.value, ValueError)  # callers that caught ValueError still do
