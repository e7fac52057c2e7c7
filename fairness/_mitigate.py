"""Mitigation through fairlearn, reported as before/after audits and the accuracy cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._result import FairnessResult
from auditkit.fairness.errors import FairnessInputError
from auditkit.hints import did_you_mean

__all__ = ["CONSTRAINTS", "METHODS", "MITIGATION_CONSTRAINTS", "MITIGATION_METHODS",
           "MitigationResult", "mitigate"]

METHODS = ("threshold_optimizer", "exponentiated_gradient")
# constraint name -> (ThresholdOptimizer constraints string, reductions class name)
CONSTRAINTS = {
    "demographic_parity": ("demographic_parity", "DemographicParity"),
    "equalized_odds": ("equalized_odds", "EqualizedOdds"),
    "true_positive_rate_parity": ("true_positive_rate_parity", "TruePositiveRateParity"),
    "false_positive_rate_parity": ("false_positive_rate_parity", "FalsePositiveRateParity"),
    "true_negative_rate_parity": ("true_negative_rate_parity", None),
    "false_negative_rate_parity": ("false_negative_rate_parity", None),
    "error_rate_parity": (None, "ErrorRateParity"),
}
#: Public names of the accepted methods and constraints (``auditkit.fairness``).
MITIGATION_METHODS = METHODS
MITIGATION_CONSTRAINTS = tuple(CONSTRAINTS)
_REPORTED = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
             "equalized_odds_ratio", "equal_opportunity_difference")


@dataclass(frozen=True)
class MitigationResult:
    """A fitted fairlearn mitigator with audits of the predictions before and after.

    Attributes
    ----------
    mitigator:
        The fitted ``ThresholdOptimizer`` or ``ExponentiatedGradient``.
    before, after:
        :class:`FairnessResult` of the original and the mitigated predictions (on the evaluation
        data: ``X_test``/``y_test`` when given, else the training data).
    comparison:
        DataFrame indexed by disparity (first attribute grouping, or the intersection when there
        are several attributes) with columns ``before``, ``after``, ``change``.
    accuracy_before, accuracy_after, accuracy_cost:
        Overall accuracy of both and the loss (``before − after``; negative is a gain).
    """

    mitigator: Any
    method: str
    constraint: str
    before: FairnessResult
    after: FairnessResult
    comparison: pd.DataFrame
    accuracy_before: float
    accuracy_after: float

    @property
    def accuracy_cost(self) -> float:
        return self.accuracy_before - self.accuracy_after


def mitigate(
    estimator: Any,
    X: Any,
    y: Any,
    sensitive_features: Any,
    *,
    method: str = "threshold_optimizer",
    constraint: str = "demographic_parity",
    X_test: Any = None,
    y_test: Any = None,
    sensitive_features_test: Any = None,
    prefit: bool = False,
    n_boot: int = 0,
    random_state: int = 0,
    **audit_kwargs: Any,
) -> MitigationResult:
    """Mitigate with fairlearn and report the before/after metrics and the accuracy cost.

    ``method="threshold_optimizer"`` post-processes ``estimator`` (fitted first unless
    ``prefit``) with group-specific thresholds; ``method="exponentiated_gradient"`` retrains it
    under the constraint (a randomised ensemble). Both need ``sensitive_features`` at fit time;
    the threshold optimizer also at prediction time.
    """
    if method not in METHODS:
        raise FairnessInputError(f"Unknown mitigation method {method!r}.{did_you_mean(method, METHODS)} "
                                 f"Choose one of {', '.join(METHODS)}.")
    if constraint not in CONSTRAINTS:
        raise FairnessInputError(f"Unknown constraint {constraint!r}.{did_you_mean(constraint, CONSTRAINTS)} "
                                 f"Choose one of {', '.join(CONSTRAINTS)}.")
    to_name, eg_name = CONSTRAINTS[constraint]
    if (method == "threshold_optimizer" and to_name is None) or (method == "exponentiated_gradient" and eg_name is None):
        raise FairnessInputError(f"The constraint {constraint!r} is not available with method {method!r}.")
    from sklearn.base import clone

    from auditkit.fairness._audit import audit

    if (X_test is None) != (y_test is None):
        raise FairnessInputError("Pass both X_test and y_test, or neither.")
    X_eval = X if X_test is None else X_test
    y_eval = np.asarray(y if y_test is None else y_test)
    sf_eval = sensitive_features if X_test is None else sensitive_features_test
    if sf_eval is None:
        raise FairnessInputError("With X_test, pass sensitive_features_test too.")

    base = estimator if prefit else clone(estimator).fit(X, y)
    y_before = np.asarray(base.predict(X_eval))
    if method == "threshold_optimizer":
        from fairlearn.postprocessing import ThresholdOptimizer

        mitigator = ThresholdOptimizer(estimator=base, constraints=to_name, prefit=True,
                                       predict_method="auto")
        mitigator.fit(X, y, sensitive_features=sensitive_features)
        y_after = np.asarray(mitigator.predict(X_eval, sensitive_features=sf_eval,
                                               random_state=random_state))
    else:
        import fairlearn.reductions as red

        mitigator = red.ExponentiatedGradient(clone(estimator), constraints=getattr(red, eg_name)())
        mitigator.fit(X, y, sensitive_features=sensitive_features)
        y_after = np.asarray(mitigator.predict(X_eval, random_state=random_state))

    kw = dict(n_boot=n_boot, random_state=random_state, **audit_kwargs)
    before = audit(y_eval, y_before, sf_eval, **kw)
    after = audit(y_eval, y_after, sf_eval, **kw)
    grouping = before.groupings[-1]
    rows = {}
    for name in _REPORTED:
        b = float(before.disparities.loc[(grouping, name), "value"])
        a = float(after.disparities.loc[(grouping, name), "value"])
        rows[name] = {"before": b, "after": a, "change": a - b}
    comparison = pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"disparity ({grouping})")
    return MitigationResult(
        mitigator=mitigator, method=method, constraint=constraint, before=before, after=after,
        comparison=comparison,
        accuracy_before=float(before.overall.loc["accuracy", "value"]),
        accuracy_after=float(after.overall.loc["accuracy", "value"]),
    )
