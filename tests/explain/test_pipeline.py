"""scikit-learn Pipelines: attributions grouped back to the original features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from auditkit import explain
from auditkit.explain._inputs import group_map


def _onehot_logit(X, y):
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(sparse_output=False), ["region"]),
            ("num", "passthrough", ["income", "debt"]),
        ]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))]).fit(
        X.assign(income=np.log(X["income"])), y
    ), X.assign(income=np.log(X["income"]))


def test_one_hot_columns_are_grouped_to_their_source_feature(mixed_data) -> None:
    X, y = mixed_data
    model, Xl = _onehot_logit(X, y)
    res = explain.explain(model, Xl, background=Xl, random_state=0)
    assert res.feature_names == ("income", "debt", "region")
    assert res.raw_feature_names is not None and len(res.raw_feature_names) == 5
    # Closed form: the region attribution is sum_c beta_c * (onehot_c(x) - mean onehot_c).
    Z = model[:-1].transform(res.data)
    Zbg = model[:-1].transform(Xl)
    beta = model[-1].coef_[0]
    raw = (Z - Zbg.mean(axis=0)) * beta
    np.testing.assert_allclose(res.values[:, 2], raw[:, :3].sum(axis=1), atol=1e-9)
    np.testing.assert_allclose(res.values[:, 0], raw[:, 3], atol=1e-9)
    np.testing.assert_allclose(res.raw_values.sum(axis=1), res.values.sum(axis=1), atol=1e-12)
    assert "grouped back" in res.choice.space


def test_nested_pipelines_and_imputer_with_indicator_map_back(mixed_data) -> None:
    X, y = mixed_data
    Xn = X.copy()
    Xn.loc[::7, "debt"] = np.nan
    num = make_pipeline(SimpleImputer(add_indicator=True), StandardScaler())
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(), ["region"]), ("num", num, ["income", "debt"])]
    )
    pre.fit(Xn)
    n_out = pre.transform(Xn.iloc[:1]).shape[1]
    parents = group_map(pre, ["income", "debt", "region"], n_out)
    assert parents == [2, 2, 2, 0, 1, 1]


def test_column_mixing_preprocessing_falls_back_to_the_original_space(mixed_data) -> None:
    X, y = mixed_data
    Xn = X[["income", "debt"]].assign(income=np.log(X["income"]))
    model = make_pipeline(StandardScaler(), PCA(2), LogisticRegression()).fit(Xn, y)
    res = explain.explain(model, Xn, sample=5, random_state=0)
    assert res.choice.method == "permutation"
    assert any("mixes columns" in n for n in res.notes)
    assert res.efficiency.passed
    with pytest.raises(explain.ExplainInputError, match="cannot be mapped back"):
        explain.explain(model, Xn, method="linear")


def test_codec_round_trips_mixed_frames(mixed_data) -> None:
    from auditkit.explain._inputs import Codec

    X, _ = mixed_data
    frame = X.assign(flag=X["debt"] > 0.3, count=(X["debt"] * 10).astype(int))
    codec = Codec.fit(frame)
    back = codec.decode(codec.encode(frame))
    pd.testing.assert_frame_equal(
        back.reset_index(drop=True), frame.reset_index(drop=True), check_dtype=False
    )
