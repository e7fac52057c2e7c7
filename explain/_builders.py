"""The built-in explainers: tree, linear, gradient (torch), permutation and kernel SHAP.

Each builder imports its engine (shap, torch) when called and registers itself at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from auditkit.explain._engines import (
    BuildRequest,
    Engine,
    ExplainerSpec,
    Target,
    _cls,
    _named,
    register_explainer,
    select_output,
)
from auditkit.explain.errors import require

__all__: list[str] = []

_SKLEARN_TREES = frozenset(
    """DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor
    RandomForestClassifier RandomForestRegressor ExtraTreesClassifier ExtraTreesRegressor
    GradientBoostingClassifier GradientBoostingRegressor HistGradientBoostingClassifier
    HistGradientBoostingRegressor""".split()
)
_MARGIN_TREES = frozenset({"GradientBoostingClassifier", "HistGradientBoostingClassifier"})
_XGB = frozenset({"XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor", "Booster"})
_LGBM = frozenset({"LGBMClassifier", "LGBMRegressor", "Booster"})


def _pick(values: Any, base: Any, target: Target, *, margin: bool) -> tuple[np.ndarray, np.ndarray]:
    """Select the target's slice of shap's per-class output."""
    if isinstance(values, list):
        values = np.stack(values, axis=-1)
    values = np.asarray(values, dtype=float)
    base = np.asarray(base, dtype=float)
    if values.ndim == 3:
        k = target.index if target.index is not None else 0
        if values.shape[2] == 1:
            k = 0
        values = values[:, :, k]
        base = base.reshape(-1)[k] if base.size > 1 else base.reshape(-1)[0]
        return values, base
    if margin and target.is_classifier and target.binary and target.index == 0:
        return -values, -base
    return values, base


# -- tree ensembles ------------------------------------------------------------------------


def _detect_tree(est: Any) -> str | None:
    mod, name = _cls(est)
    if mod.startswith("sklearn") and name in _SKLEARN_TREES:
        return f"{name} is a scikit-learn tree ensemble: TreeSHAP computes exact Shapley values."
    if mod.startswith("xgboost") and name in _XGB:
        return f"{name} is an XGBoost tree ensemble: TreeSHAP computes exact Shapley values."
    if mod.startswith("lightgbm") and name in _LGBM:
        return f"{name} is a LightGBM tree ensemble: TreeSHAP computes exact Shapley values."
    if mod.startswith("catboost"):
        return f"{name} is a CatBoost tree ensemble: TreeSHAP computes exact Shapley values."
    return None


def _tree_output(est: Any, target: Target) -> tuple[Callable[[np.ndarray], np.ndarray] | None, str]:
    mod, name = _cls(est)
    nm = _named(est)
    if not target.is_classifier:
        return (lambda Z: np.asarray(est.predict(nm(Z)), dtype=float)), "output"
    if mod.startswith("sklearn"):
        if name in _MARGIN_TREES:
            scale = "log-odds" if target.binary else "margin"
            return (
                lambda Z: select_output(est.decision_function(nm(Z)), target, signed_binary=True)
            ), scale
        return (lambda Z: np.asarray(est.predict_proba(nm(Z)))[:, target.index]), "probability"
    if mod.startswith("xgboost"):
        scale = "log-odds" if target.binary else "margin"
        return (
            lambda Z: select_output(est.predict(Z, output_margin=True), target, signed_binary=True)
        ), scale
    if mod.startswith("lightgbm"):
        scale = "log-odds" if target.binary else "margin"
        return (
            lambda Z: select_output(est.predict(Z, raw_score=True), target, signed_binary=True)
        ), scale
    return None, "margin"


def _build_tree(req: BuildRequest) -> Engine:
    shap = require("shap")
    est, target = req.estimator, req.target
    if req.background is None:
        explainer = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
        how, bg = "tree_path_dependent", "none needed (path-dependent: training cover in the trees)"
    else:
        explainer = shap.TreeExplainer(
            est, data=req.background, feature_perturbation="interventional"
        )
        how, bg = "interventional", f"{len(req.background):,} rows (interventional)"
    out_fn, scale = _tree_output(est, target)
    notes: list[str] = []
    if out_fn is None:
        notes.append("Model output for the efficiency check taken from shap's own tree traversal.")

        def out_fn(Z: np.ndarray) -> np.ndarray:
            return select_output(explainer.model.predict(Z), target, signed_binary=True)

    margin = scale in ("log-odds", "margin")

    def values(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vals = explainer.shap_values(Z, check_additivity=False)
        return _pick(vals, explainer.expected_value, target, margin=margin)

    return Engine(
        "tree",
        f"shap.TreeExplainer(feature_perturbation={how!r})",
        target.describe(scale),
        values,
        out_fn,
        background=bg,
        notes=notes,
    )


# -- linear models -------------------------------------------------------------------------


def _detect_linear(est: Any) -> str | None:
    mod, name = _cls(est)
    if not mod.startswith("sklearn"):
        return None
    if (
        hasattr(est, "coef_")
        and hasattr(est, "intercept_")
        and (mod.startswith("sklearn.linear_model") or name in ("LinearSVC", "LinearSVR"))
    ):
        return (
            f"{name} is linear in its inputs: LinearExplainer gives exact Shapley values "
            f"beta * (x - E[x]) for independent features."
        )
    return None


def _build_linear(req: BuildRequest) -> Engine:
    shap = require("shap")
    est, target = req.estimator, req.target
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=float))
    if coef.shape[0] == 1:
        w, b = coef[0], float(intercept[0])
        if target.is_classifier and target.binary and target.index == 0:
            w, b = -w, -b
    else:
        k = target.index if target.index is not None else 0
        w, b = coef[k], float(intercept[k])
    bg = req.background
    masker = shap.maskers.Independent(bg, max_samples=len(bg))
    explainer = shap.LinearExplainer((w, b), masker)
    nm = _named(est)
    if target.is_classifier and hasattr(est, "decision_function"):
        scale = (
            "log-odds" if type(est).__name__ == "LogisticRegression" and target.binary else "margin"
        )

        def out_fn(Z: np.ndarray) -> np.ndarray:
            return select_output(est.decision_function(nm(Z)), target, signed_binary=True)
    else:
        scale = "output"

        def out_fn(Z: np.ndarray) -> np.ndarray:
            return np.asarray(est.predict(nm(Z)), dtype=float).reshape(-1)

    def values(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vals = explainer.shap_values(Z)
        return np.asarray(vals, dtype=float), explainer.expected_value

    return Engine(
        "linear",
        "shap.LinearExplainer(masker=Independent)",
        target.describe(scale),
        values,
        out_fn,
        background=f"{len(bg):,} rows",
    )


# -- torch modules -------------------------------------------------------------------------


def _detect_torch(est: Any) -> str | None:
    if any(
        c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(est).__mro__
    ):
        return (
            f"{type(est).__name__} is a torch module: GradientExplainer (expected gradients) "
            f"approximates Shapley values from gradients."
        )
    return None


def _build_gradient(req: BuildRequest) -> Engine:
    torch = require("torch", extra="dp")
    shap = require("shap")
    module = req.estimator
    module.eval()
    bg = req.background
    with torch.no_grad():
        probe = module(torch.as_tensor(np.asarray(bg[:1], dtype=np.float32)))
    width = int(probe.reshape(1, -1).shape[1])
    col = 0 if width == 1 else (1 if width == 2 else width - 1)

    def forward(Z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module(torch.as_tensor(np.asarray(Z, dtype=np.float32)))
        return out.detach().cpu().numpy().reshape(len(Z), -1)[:, col].astype(float)

    class _Column(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, x: Any) -> Any:  # noqa: D401 - torch API
            out = self.inner(x)
            out = out.reshape(out.shape[0], -1)
            return out[:, col : col + 1]

    wrapped = _Column()
    explainer = shap.GradientExplainer(wrapped, torch.as_tensor(np.asarray(bg, dtype=np.float32)))
    nsamples = req.nsamples or 500
    base = float(np.mean(forward(bg)))

    def values(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vals = explainer.shap_values(
            torch.as_tensor(np.asarray(Z, dtype=np.float32)),
            nsamples=nsamples,
            rseed=req.random_state,
        )
        vals = np.asarray(vals, dtype=float)
        if vals.ndim == 3:
            vals = vals[:, :, 0]
        return vals, base

    return Engine(
        "gradient",
        f"shap.GradientExplainer(nsamples={nsamples})",
        f"output {col} of the module",
        values,
        forward,
        exact=False,
        rtol=0.05,
        background=f"{len(bg):,} rows",
        notes=["Expected gradients are a sampling approximation: efficiency holds approximately."],
    )


# -- model-agnostic ------------------------------------------------------------------------


def _replicate(centers: np.ndarray, weights: np.ndarray | None, total: int) -> np.ndarray:
    if weights is None:
        return centers
    counts = np.maximum(1, np.rint(np.asarray(weights) / np.sum(weights) * total)).astype(int)
    return np.repeat(centers, counts, axis=0)


def _build_permutation(req: BuildRequest) -> Engine:
    shap = require("shap")
    assert req.predict is not None and req.background is not None
    bg = _replicate(req.background, req.background_weights, 30)
    masker = shap.maskers.Independent(bg, max_samples=len(bg))
    explainer = shap.PermutationExplainer(req.predict, masker, seed=req.random_state)
    q = bg.shape[1]
    # Six antithetic permutation pairs by default: efficiency is exact whatever the number;
    # the stability study measures what the sampling costs in precision.
    max_evals = max(req.nsamples or 6 * (2 * q + 1), 2 * q + 1)

    def values(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        exp = explainer(Z, max_evals=max_evals, silent=True)
        return exp.values, exp.base_values

    return Engine(
        "permutation",
        f"shap.PermutationExplainer(max_evals={max_evals})",
        "",
        values,
        req.predict,
        background=f"k-means summary: {len(req.background)} centres (replicated by weight to {len(bg)} rows)",
    )


def _build_kernel(req: BuildRequest) -> Engine:
    shap = require("shap")
    assert req.predict is not None and req.background is not None
    from shap.utils._legacy import DenseData

    weights = req.background_weights
    if weights is None:
        weights = np.full(len(req.background), 1.0 / len(req.background))
    names = [str(i) for i in range(req.background.shape[1])]
    data = DenseData(req.background, names, None, np.asarray(weights, dtype=float))
    explainer = shap.KernelExplainer(req.predict, data, seed=req.random_state)
    nsamples = req.nsamples or "auto"

    def values(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vals = explainer.shap_values(Z, nsamples=nsamples, silent=True)
        return np.asarray(vals, dtype=float), float(
            np.asarray(explainer.expected_value).reshape(-1)[0]
        )

    return Engine(
        "kernel",
        f"shap.KernelExplainer(nsamples={nsamples!r})",
        "",
        values,
        req.predict,
        background=f"k-means summary: {len(req.background)} weighted centres",
    )


register_explainer(
    ExplainerSpec(
        "tree",
        "TreeSHAP for tree ensembles",
        _build_tree,
        _detect_tree,
        model_specific=True,
        needs_background=False,
        default_sample=2000,
    )
)
register_explainer(
    ExplainerSpec(
        "linear",
        "exact SHAP for linear models",
        _build_linear,
        _detect_linear,
        model_specific=True,
        default_sample=5000,
    )
)
register_explainer(
    ExplainerSpec(
        "gradient",
        "expected gradients for torch modules",
        _build_gradient,
        _detect_torch,
        model_specific=True,
        default_sample=500,
    )
)
register_explainer(
    ExplainerSpec(
        "permutation",
        "permutation SHAP for any model",
        _build_permutation,
        lambda est: (
            "No model-specific explainer applies: permutation SHAP on the model's "
            "outputs, with a k-means-summarised background."
        ),
        default_sample=100,
    )
)
register_explainer(
    ExplainerSpec(
        "kernel",
        "Kernel SHAP for any model",
        _build_kernel,
        lambda est: "Kernel SHAP on the model's outputs with a k-means-summarised background.",
        auto=False,
        default_sample=100,
    )
)
