"""Every bad input gets one FairnessInputError naming the input and what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditkit.fairness import FairnessInputError, audit

Y = np.array([0, 1, 0, 1, 1, 0])
P = np.array([0, 1, 1, 1, 0, 0])
S = pd.DataFrame({"sex": ["F", "M", "F", "M", "F", "M"]})


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(y_true=Y[:5]), r"'y_pred' has 6 rows but 'y_true' has 5"),
        (dict(sensitive_features=S.iloc[:4]), r"'sensitive_features' argument has 4 rows"),
        (dict(sample_weight=np.ones(3)), r"'sample_weight' has 3 rows"),
        (dict(sample_weight=-np.ones(6)), r"finite and non-negative"),
        (dict(y_score=np.ones(2)), r"'y_score' has 2 rows"),
        (dict(y_true=np.array([0, 1, 2, 1, 0, 2]), metrics=["true_positive_rate"]), r"more than two classes"),
        (dict(y_true=np.array([1, 1, 1, 1, 1, 1])), r"single class"),
        (dict(y_true=np.full(6, np.nan)), r"'y_true' argument is entirely missing"),
        (dict(y_pred=np.array([0, 1, np.nan, 1, 0, 0])), r"'y_pred' argument has 1 missing values \(first at row 2\)"),
        (dict(sensitive_features=pd.DataFrame({"sex": [None] * 6})), r"'sex' is missing in all 6 rows"),
        (dict(metrics=["selection_rat"]), r"Unknown metric 'selection_rat'\. Did you mean 'selection_rate'\?"),
        (dict(metrics=["roc_auc"]), r"needs scores: pass y_score="),
        (dict(n_boot=-1), r"'n_boot' parameter of audit must be a non-negative integer"),
        (dict(ci=95), r"'ci' parameter of audit must be a confidence level"),
        (dict(task="binray"), r"Did you mean 'binary'\?"),
        (dict(y_true=np.array(["a", "b", "a", "b", "b", "a"]), y_pred=np.array(["a", "b", "b", "b", "a", "a"])),
         r"pass pos_label="),
        (dict(pos_label=7), r"pos_label=7 is not one of the two labels"),
        (dict(sensitive_features=None), r"'sensitive_features' argument is required"),
        (dict(y_true=np.zeros((6, 2))), r"must be one-dimensional"),
    ],
)
def test_bad_input_is_named(kwargs, pattern) -> None:
    args = {"y_true": Y, "y_pred": P, "sensitive_features": S, "n_boot": 0, **kwargs}
    with pytest.raises(FairnessInputError, match=pattern) as info:
        audit(args.pop("y_true"), args.pop("y_pred"), args.pop("sensitive_features"), **args)
    assert isinstance(info.value, ValueError)


def test_zero_denominators_give_nan_with_reason_not_zero() -> None:
    # group F has no actual positives: TPR and FNR undefined there, FPR defined
    y = np.array([0, 0, 0, 1, 1, 0])
    p = np.array([1, 0, 0, 1, 0, 1])
    sf = {"g": ["F", "F", "F", "M", "M", "M"]}
    res = audit(y, p, sf, n_boot=50, random_state=0, min_group_size=0, min_denominator=0)
    f = res.by_group.loc[("g", "F")]
    assert np.isnan(f["true_positive_rate"]) and np.isnan(f["false_negative_rate"])
    assert f["false_positive_rate"] == pytest.approx(1 / 3)
    reasons = res.undefined.set_index(["group", "metric"])["reason"]
    assert reasons[("F", "true_positive_rate")] == "the group has no actual positives"
    # a disparity over one defined group is undefined, with the reason
    d = res.disparities.loc[("g", "equal_opportunity_difference")]
    assert np.isnan(d["value"]) and "fewer than two groups" in d["reason"]


def test_messages_never_quote_data_values() -> None:
    secret = "alice@example.com"
    y = np.array([secret, "x", "y"], dtype=object)
    with pytest.raises(FairnessInputError) as info:
        audit(y, y, {"g": ["a", "b", "a"]}, n_boot=0, metrics=["accuracy"])
    with pytest.raises(FairnessInputError) as info2:
        audit(y[:2], y[:2], {"g": ["a", "b"]}, n_boot=0)
    assert secret not in str(info2.value)
    assert secret not in str(info.value)


def test_unknown_disparity_and_grouping_suggest_the_closest() -> None:
    res = audit(Y, P, S, n_boot=0, min_group_size=0, min_denominator=0)
    with pytest.raises(FairnessInputError, match="Did you mean 'demographic_parity_ratio'"):
        res.disparity("demographic_parity_ration")
    with pytest.raises(FairnessInputError, match="Did you mean 'sex'"):
        res.disparity("demographic_parity_ratio", grouping="sexx")


def test_continuous_label_with_class_predictions_is_refused_not_exhausting_memory() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=500).round(3)  # e.g. a loan amount given as the label by mistake
    p = rng.integers(0, 2, size=500)
    s = pd.Series(rng.choice(["F", "M"], size=500), name="sex")
    with pytest.raises(FairnessInputError, match=r"'y_true' has \d+ distinct values.*at most 50 classes"):
        audit(y, p, s, n_boot=0)


def test_equalized_odds_ratio_when_no_group_has_false_positives() -> None:
    """FPR is 0 in every group (parity): the ratio is the TPR part, as fairlearn gives."""
    from fairlearn.metrics import equalized_odds_ratio

    y = np.array([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0])
    p = np.array([1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    s = pd.Series(["a"] * 6 + ["b"] * 6, name="g")
    res = audit(y, p, s, n_boot=0, min_group_size=0, min_denominator=0)
    ours = res.disparities.loc[("g", "equalized_odds_ratio"), "value"]
    assert ours == pytest.approx(equalized_odds_ratio(y, p, sensitive_features=s)) == pytest.approx(2 / 3)
