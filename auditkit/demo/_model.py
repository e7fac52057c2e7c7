"""The demo's model: a scikit-learn Pipeline (one-hot encoding + gradient boosting)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from auditkit.demo._applications import CATEGORICAL_FEATURES, FEATURES, LABEL, NUMERIC_FEATURES

__all__ = ["build_model", "fit_and_score"]

# A score at or above this is predicted "approved".
DECISION_THRESHOLD = 0.5


def build_model(random_state: int = 0) -> Any:
    """The demo's model: one-hot encoding of categoricals + gradient boosting."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL_FEATURES),
            ("numeric", "passthrough", NUMERIC_FEATURES),
        ]
    )
    clf = HistGradientBoostingClassifier(max_iter=120, learning_rate=0.08, max_leaf_nodes=15, random_state=random_state)
    return Pipeline([("preprocess", pre), ("classifier", clf)])


def fit_and_score(df: pd.DataFrame, *, random_state: int, score: str, prediction: str) -> Any:
    """Fit the model on the ``train`` split; add its ``score`` and ``prediction`` columns to ``df``.

    Every row is scored, the training rows included (the audit looks at both).
    """
    model = build_model(random_state)
    train = df["split"] == "train"
    model.fit(df.loc[train, FEATURES], df.loc[train, LABEL])
    proba = model.predict_proba(df[FEATURES])[:, 1]
    df[score] = proba.round(6)
    df[prediction] = (proba >= DECISION_THRESHOLD).astype(int)
    return model
