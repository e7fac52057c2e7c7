"""The explainer registry: which SHAP engine explains which model, and how.

Each entry is an :class:`ExplainerSpec`: a name, whether ``method="auto"`` may pick it, a
``detect(estimator)`` that returns the reason it applies (or ``None``), and a ``build`` that
returns an :class:`Engine`. An engine computes SHAP values for rows of its input matrix and,
independently, the model output ``f`` those values must add up to, so the efficiency check
compares the engine against the model rather than against itself.

``shap``, ``torch`` and the tree libraries are imported inside the builders only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditkit.explain.errors import ExplainInputError
from auditkit.registry import Registry

__all__ = [
    "Engine",
    "ExplainerSpec",
    "Target",
    "available_methods",
    "get_explainer",
    "register_explainer",
]


@dataclass(frozen=True)
class Target:
    """Which output is explained: a class of a classifier, or the regression value."""

    index: int | None
    label: Any
    n_classes: int

    @property
    def is_classifier(self) -> bool:
        return self.index is not None

    @property
    def binary(self) -> bool:
        return self.n_classes == 2

    def describe(self, scale: str) -> str:
        if not self.is_classifier:
            return "predicted value"
        cls = f"class {self.label!r}"
        return {
            "log-odds": f"log-odds of {cls}",
            "margin": f"raw score (margin) of {cls}",
            "probability": f"probability of {cls}",
            "output": f"model output for {cls}",
        }[scale]


@dataclass
class Engine:
    """A built SHAP engine for one model, one target and one background."""

    method: str
    engine: str
    output: str
    values_fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    output_fn: Callable[[np.ndarray], np.ndarray]
    exact: bool = True
    rtol: float = 1e-6
    background: str = "none"
    notes: list[str] = field(default_factory=list)

    def values(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vals, base = self.values_fn(Z)
        vals = np.asarray(vals, dtype=float)
        base = np.broadcast_to(np.asarray(base, dtype=float).reshape(-1), (vals.shape[0],))
        return vals, np.array(base)

    def f(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(self.output_fn(Z), dtype=float).reshape(-1)


@dataclass(frozen=True)
class BuildRequest:
    """Everything a builder may use."""

    estimator: Any
    target: Target
    background: np.ndarray | None
    background_weights: np.ndarray | None
    categorical: tuple[int, ...]
    random_state: int
    nsamples: int | None
    predict: Callable[[np.ndarray], np.ndarray] | None  # model-agnostic output on engine input


@dataclass(frozen=True)
class ExplainerSpec:
    """One explainer: ``detect`` says why it applies to an estimator; ``build`` makes the engine.

    ``model_specific`` engines run on the final estimator of a Pipeline, on the preprocessed
    matrix (attributions are grouped back to the original features); the others explain the
    whole model on the original features.
    """

    name: str
    summary: str
    build: Callable[[BuildRequest], Engine]
    detect: Callable[[Any], str | None] = lambda est: None
    model_specific: bool = False
    auto: bool = True
    needs_background: bool = True
    default_sample: int = 2000


_REGISTRY: Registry[ExplainerSpec] = Registry(
    "explainer", ExplainInputError, parameter="'method' parameter of explain", also=("auto",)
)


def register_explainer(spec: ExplainerSpec, *, force: bool = False) -> ExplainerSpec:
    """Add an explainer; refuses to replace an existing name unless ``force=True``."""
    return _REGISTRY.add(spec.name, spec, force=force)


def available_methods() -> tuple[str, ...]:
    """Names accepted by ``method=`` (plus ``"auto"``), in the order ``auto`` tries them."""
    return _REGISTRY.names()


def get_explainer(name: str) -> ExplainerSpec:
    """The explainer registered as ``name``; an unknown name raises
    :class:`~auditkit.explain.errors.ExplainInputError` with the accepted ones and the closest."""
    return _REGISTRY.lookup(name)


# -- model outputs -------------------------------------------------------------------------


def _cls(est: Any) -> tuple[str, str]:
    return type(est).__module__, type(est).__name__


def _named(est: Any) -> Callable[[np.ndarray], Any]:
    """Give a matrix the column names the estimator was fitted with (avoids sklearn warnings)."""
    names = getattr(est, "feature_names_in_", None)
    if names is None:
        return lambda Z: Z
    import pandas as pd

    cols = list(names)
    return lambda Z: pd.DataFrame(np.asarray(Z), columns=cols)


def target_for(est: Any, target_class: Any = None) -> Target:
    """The explained output of ``est``: ``target_class`` (default: the positive class)."""
    classes = getattr(est, "classes_", None)
    if classes is None:
        if target_class is not None:
            raise ExplainInputError(
                f"The 'target_class' parameter of explain applies to classifiers; the model "
                f"({type(est).__name__}) has no classes_. Leave target_class out."
            )
        return Target(None, None, 0)
    classes = list(np.asarray(classes).tolist())
    if target_class is None:
        idx = 1 if len(classes) == 2 else len(classes) - 1
    else:
        matches = [
            i for i, c in enumerate(classes) if c == target_class or str(c) == str(target_class)
        ]
        if not matches:
            raise ExplainInputError(
                f"The 'target_class' parameter of explain must be one of the model's classes "
                f"{classes}; got {target_class!r}."
            )
        idx = matches[0]
    return Target(idx, classes[idx], len(classes))


def select_output(out: np.ndarray, target: Target, *, signed_binary: bool) -> np.ndarray:
    """Column ``target.index`` of a 2-D output; a 1-D binary margin is negated for class 0."""
    out = np.asarray(out, dtype=float)
    if out.ndim == 2 and out.shape[1] > 1:
        return out[:, target.index if target.index is not None else 0]
    out = out.reshape(-1)
    if signed_binary and target.is_classifier and target.binary and target.index == 0:
        return -out
    return out


def predict_output(model: Any, target: Target) -> tuple[Callable[[Any], np.ndarray], str]:
    """Model-agnostic output: probability of the target class, or the prediction."""
    if target.is_classifier and hasattr(model, "predict_proba"):
        return (lambda X: np.asarray(model.predict_proba(X))[:, target.index]), "probability"
    if target.is_classifier and hasattr(model, "decision_function"):
        return (
            lambda X: select_output(model.decision_function(X), target, signed_binary=True)
        ), "margin"
    if hasattr(model, "predict"):
        return (lambda X: np.asarray(model.predict(X), dtype=float).reshape(-1)), "output"
    return (lambda X: select_output(np.asarray(model(X)), target, signed_binary=False)), "output"
