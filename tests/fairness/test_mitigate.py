"""mitigate(): fairlearn's mitigators, reported as before/after audits and the accuracy cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from auditkit.fairness import FairnessInputError, MitigationResult, mitigate


@pytest.fixture(scope="module")
def biased():
    rng = np.random.default_rng(0)
    n = 3000
    sex = rng.choice(["F", "M"], n)
    x1 = rng.normal(size=n) + (sex == "M") * 0.8  # the feature carries the group
    x2 = rng.normal(size=n)
    y = (x1 + x2 + rng.normal(scale=0.8, size=n) > 0.4).astype(int)
    X = pd.DataFrame({"x1": x1, "x2": x2})
    return X, y, pd.Series(sex, name="sex")


@pytest.mark.parametrize("method", ["threshold_optimizer", "exponentiated_gradient"])
def test_mitigation_reduces_the_disparity_and_reports_the_cost(biased, method) -> None:
    X, y, sex = biased
    res = mitigate(LogisticRegression(), X, y, sex, method=method, constraint="demographic_parity")
    assert isinstance(res, MitigationResult)
    before = res.comparison.loc["demographic_parity_difference", "before"]
    after = res.comparison.loc["demographic_parity_difference", "after"]
    assert before > 0.2
    assert after < before / 2
    assert res.accuracy_cost == pytest.approx(res.accuracy_before - res.accuracy_after)
    assert res.before.by_group.index.equals(res.after.by_group.index)


def test_bad_method_and_constraint(biased) -> None:
    X, y, sex = biased
    with pytest.raises(FairnessInputError, match="Did you mean 'threshold_optimizer'"):
        mitigate(LogisticRegression(), X, y, sex, method="threshold_optimiser")
    with pytest.raises(FairnessInputError, match="not available"):
        mitigate(LogisticRegression(), X, y, sex, method="exponentiated_gradient",
                 constraint="true_negative_rate_parity")
