"""Local explanations for named individuals: SHAP and LIME side by side.

LIME explains the same output ``f`` that SHAP explains (``ModelExplainer.output``), on the
original features, with numeric features perturbed around the individual
(``sample_around_instance=True``, no discretisation) and categorical features drawn from their
training frequencies. Its weights are slopes in standardised units (numeric) or the effect of
having the individual's category (categorical); ``contributions`` turn them into the same kind
of quantity SHAP reports, ``weight * (z - E[z])``, so the two can be ranked against each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.explain._core import ModelExplainer, _check_int
from auditkit.explain.errors import ExplainInputError, require

__all__ = ["LimeExplanation", "LocalExplanation", "explain_individuals", "resolve_individuals"]

_LIME_TRAINING_ROWS = 5000


@dataclass(frozen=True)
class LimeExplanation:
    """A LIME tabular surrogate around one individual.

    Attributes
    ----------
    weights:
        Surrogate coefficients per feature (per standard deviation for numeric features; for
        categorical ones, the effect of having the individual's category).
    contributions:
        ``weight * (z - E[z])``: the surrogate's attribution of the individual's output,
        comparable with SHAP values.
    fidelity_r2:
        Weighted R^2 of the surrogate on its perturbed samples: how well the local linear
        model reproduces the model around this individual.
    """

    weights: pd.Series
    contributions: pd.Series
    intercept: float
    local_prediction: float
    fidelity_r2: float
    num_samples: int


@dataclass(frozen=True)
class LocalExplanation:
    """Why the model produced its output for one individual."""

    individual: Any
    row: Any
    output: float
    base_value: float
    shap: pd.Series
    lime: LimeExplanation | None
    values: pd.Series
    output_name: str

    def table(self, hide_values: Sequence[str] = ()) -> pd.DataFrame:
        """Feature, value, SHAP and LIME side by side, ordered by |SHAP|.

        Values of features named in ``hide_values`` (personal data) are replaced by
        ``"(withheld)"``.
        """
        hidden = set(hide_values)
        order = self.shap.abs().sort_values(ascending=False, kind="stable").index
        shap_rank = self.shap.abs().rank(ascending=False, method="min").astype(int)
        data: dict[str, Any] = {
            "feature": list(order),
            "value": ["(withheld)" if f in hidden else _display(self.values[f]) for f in order],
            "shap": [float(self.shap[f]) for f in order],
            "shap_rank": [int(shap_rank[f]) for f in order],
        }
        if self.lime is not None:
            lime_rank = (
                self.lime.contributions.abs().rank(ascending=False, method="min").astype(int)
            )
            data["lime_weight"] = [float(self.lime.weights[f]) for f in order]
            data["lime_contribution"] = [float(self.lime.contributions[f]) for f in order]
            data["lime_rank"] = [int(lime_rank[f]) for f in order]
        return pd.DataFrame(data)

    def top(self, k: int = 5) -> list[str]:
        return list(self.shap.abs().sort_values(ascending=False, kind="stable").index[:k])


def _display(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return round(float(value), 4)
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value if isinstance(value, (int, bool)) else str(value)


def resolve_individuals(
    frame: pd.DataFrame, individuals: Sequence[Any], ids: pd.Series | None = None
) -> list[tuple[Any, Any]]:
    """``(identifier, row label)`` for each requested individual; raises for unknown ones.

    With ``ids`` (a Series aligned with ``frame``), individuals are looked up by identifier;
    otherwise they are index labels of ``frame``.
    """
    if isinstance(individuals, (str, bytes)) or not isinstance(individuals, Sequence):
        individuals = (
            list(individuals)
            if isinstance(individuals, (set, pd.Index, np.ndarray))
            else [individuals]
        )
    if len(individuals) == 0:
        raise ExplainInputError(
            "The 'individuals' parameter of explain_individuals must name at least one "
            "individual; got an empty list."
        )
    out: list[tuple[Any, Any]] = []
    missing: list[Any] = []
    if ids is not None:
        ids = ids.reindex(frame.index)
        lookup: dict[Any, Any] = {}
        for label, ident in zip(ids.index, ids.tolist(), strict=True):
            lookup.setdefault(ident, label)
            lookup.setdefault(str(ident), label)
        for ind in individuals:
            label = lookup.get(ind, lookup.get(str(ind)))
            if label is None:
                missing.append(ind)
            else:
                out.append((ind, label))
        where = f"the id column {ids.name!r}" if ids.name is not None else "the ids"
    else:
        index = frame.index
        as_str = {str(i): i for i in index} if index.dtype == object else {}
        for ind in individuals:
            if ind in index:
                out.append((ind, ind))
            elif isinstance(ind, str) and ind.strip().lstrip("-").isdigit() and int(ind) in index:
                out.append((ind, int(ind)))
            elif str(ind) in as_str:
                out.append((ind, as_str[str(ind)]))
            else:
                missing.append(ind)
        where = "the row index of 'X'"
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise ExplainInputError(
            f"The 'individuals' parameter of explain_individuals names {len(missing)} "
            f"individual(s) not found in {where}: {shown}. Name rows that are in the data "
            f"(by row label, or by identifier with ids=...)."
        )
    return out


class _Lime:
    """A LIME tabular explainer over the original features of a :class:`ModelExplainer`."""

    def __init__(self, mex: ModelExplainer, seed: int) -> None:
        lime_tabular = require("lime.lime_tabular")
        self.mex = mex
        self.codec = mex.codec
        n = len(mex.frame)
        train_frame = mex.frame.sample(n=min(_LIME_TRAINING_ROWS, n), random_state=seed)
        self.train = self.codec.encode(train_frame)
        self.freq = self.codec.frequency(self.train)
        self.explainer = lime_tabular.LimeTabularExplainer(
            self.train,
            mode="regression",
            feature_names=list(mex.feature_names),
            categorical_features=list(self.codec.categorical),
            discretize_continuous=False,
            sample_around_instance=True,
            random_state=seed,
        )

    def predict(self, M: np.ndarray) -> np.ndarray:
        return self.mex.output(self.codec.decode(M))

    def explain(self, row: pd.DataFrame, num_samples: int) -> LimeExplanation:
        names = list(self.mex.feature_names)
        x = self.codec.encode(row)[0]
        exp = self.explainer.explain_instance(
            x, self.predict, num_features=len(names), num_samples=num_samples
        )
        weights = np.zeros(len(names))
        for j, w in exp.local_exp[1]:
            weights[j] = w
        scaler = self.explainer.scaler
        z = (x - scaler.mean_) / scaler.scale_
        centre = np.zeros(len(names))
        for j in range(len(names)):
            if j in self.freq:
                z[j] = 1.0
                code = int(np.rint(x[j]))
                centre[j] = self.freq[j][code] if code < len(self.freq[j]) else 0.0
        contributions = weights * (z - centre)
        return LimeExplanation(
            pd.Series(weights, index=names),
            pd.Series(contributions, index=names),
            float(np.asarray(exp.intercept[1]).reshape(-1)[0]),
            float(np.asarray(exp.local_pred).reshape(-1)[0]),
            float(exp.score),
            int(num_samples),
        )


def explain_individuals(
    model: Any,
    X: Any,
    individuals: Sequence[Any],
    *,
    ids: pd.Series | None = None,
    lime: bool = True,
    lime_samples: int = 2000,
    explainer: ModelExplainer | None = None,
    random_state: int | None = None,
    **explainer_options: Any,
) -> list[LocalExplanation]:
    """SHAP values and a LIME surrogate for each named individual.

    Parameters
    ----------
    model, X:
        As for :func:`auditkit.explain.explain`. Ignored when ``explainer`` is given.
    individuals:
        Row labels of ``X``, or identifiers looked up in ``ids``.
    ids:
        Optional Series aligned with ``X`` holding identifiers (e.g. an application number).
    lime:
        Also fit a LIME tabular surrogate (its fidelity R^2 is reported).
    lime_samples:
        Perturbed samples per LIME explanation.
    explainer:
        A :class:`ModelExplainer` to reuse (saves rebuilding the SHAP engine).
    """
    lime_samples = _check_int("lime_samples", lime_samples, 50, "explain_individuals")
    mex = explainer or ModelExplainer(model, X, random_state=random_state, **explainer_options)
    seed = mex.random_state if random_state is None else int(random_state)
    pairs = resolve_individuals(mex.frame, individuals, ids)
    labels = [label for _, label in pairs]
    rows = mex.rows(labels)
    values, base, f, _ = mex.shap_values(rows)
    lime_engine = _Lime(mex, seed) if lime else None
    out: list[LocalExplanation] = []
    names = list(mex.feature_names)
    for i, (ident, label) in enumerate(pairs):
        row = rows.iloc[[i]]
        out.append(
            LocalExplanation(
                individual=ident,
                row=label,
                output=float(f[i]),
                base_value=float(base[i]),
                shap=pd.Series(values[i], index=names),
                lime=lime_engine.explain(row, lime_samples) if lime_engine else None,
                values=row.iloc[0],
                output_name=mex.choice.output,
            )
        )
    return out
