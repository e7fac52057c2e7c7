"""Explanations a regulator can rely on: SHAP and LIME with agreement, stability and proxies.

The whole workflow is :func:`audit`; its parts are usable alone:

- :func:`explain` picks a SHAP engine (tree, linear, gradient, else permutation with a
  k-means-summarised background), bounds the cost by row sampling, groups one-hot columns of a
  scikit-learn Pipeline back to their source feature, computes global importance with bootstrap
  intervals, and checks efficiency (values add up to ``f(x) - E[f(X)]``).
- :func:`explain_individuals` gives SHAP values and a LIME surrogate (with its fidelity R^2)
  for named individuals; :func:`agreement` compares the two.
- :func:`stability` repeats the explanation over seeds and background samples.
- :func:`proxies` finds features that stand in for protected attributes and carry attribution.
- :func:`plot_importance`, :func:`plot_summary`, :func:`plot_waterfall` draw SVG text;
  :func:`importance_chart`, :func:`summary_chart`, :func:`waterfall_chart` return a
  :class:`Chart`, rendered with ``.svg()`` or ``.png()``.

``from auditkit import explain`` is cheap: shap, lime, matplotlib and torch are imported only inside the
functions that use them. Errors: see :mod:`auditkit.explain.errors`.
"""

from auditkit.explain._agreement import Agreement, AgreementReport, agreement
from auditkit.explain._audit import TransparencyReport, audit, pick_individuals
from auditkit.explain._core import ModelExplainer, explain
from auditkit.explain._engines import ExplainerSpec, available_methods, register_explainer
from auditkit.explain._local import (
    LimeExplanation,
    LocalExplanation,
    explain_individuals,
    resolve_individuals,
)
from auditkit.explain._plots import (
    Chart,
    importance_chart,
    plot_importance,
    plot_summary,
    plot_waterfall,
    summary_chart,
    waterfall_chart,
)
from auditkit.explain._proxies import ProxyFinding, ProxyReport, association, cramers_v, proxies
from auditkit.explain._result import (
    EfficiencyCheck,
    ExplainerChoice,
    ExplanationResult,
    GlobalImportance,
    Sampling,
)
from auditkit.explain._stability import StabilityReport, stability
from auditkit.explain.errors import ExplainError, ExplainerUnavailableError, ExplainInputError

__all__ = [
    "Agreement",
    "AgreementReport",
    "Chart",
    "EfficiencyCheck",
    "ExplainError",
    "ExplainInputError",
    "ExplainerChoice",
    "ExplainerSpec",
    "ExplainerUnavailableError",
    "ExplanationResult",
    "GlobalImportance",
    "LimeExplanation",
    "LocalExplanation",
    "ModelExplainer",
    "ProxyFinding",
    "ProxyReport",
    "Sampling",
    "StabilityReport",
    "TransparencyReport",
    "agreement",
    "association",
    "audit",
    "available_methods",
    "cramers_v",
    "explain",
    "explain_individuals",
    "importance_chart",
    "pick_individuals",
    "plot_importance",
    "plot_summary",
    "plot_waterfall",
    "proxies",
    "register_explainer",
    "resolve_individuals",
    "stability",
    "summary_chart",
    "waterfall_chart",
]
