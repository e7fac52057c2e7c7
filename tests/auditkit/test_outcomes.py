"""The label and predictions in one vocabulary (auditkit._outcomes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit._outcomes import resolve_outcomes
from auditkit.errors import ConfigError

ADULT = (">50K.", "<=50K.")


def _resolve(label, pred, positive=None, favourable=None):
    return resolve_outcomes(np.asarray(label, dtype=object), np.asarray(pred),
                            positive_label=positive, favourable_label=favourable,
                            label_name="income", prediction_name="y_pred")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.lists(st.booleans(), min_size=1, max_size=40),
       st.sampled_from([("0/1", 1, 0), ("bool", True, False), ("-1/1", 1, -1)]))
def test_text_label_is_recoded_into_the_prediction_values(lab, pred, kind) -> None:
    n = min(len(lab), len(pred))
    lab, pred = lab[:n], pred[:n]
    _, pos, neg = kind
    label = [ADULT[0] if x else ADULT[1] for x in lab]
    prediction = [pos if x else neg for x in pred]
    out = _resolve(label, prediction, positive=">50K.")
    assert out.recoded
    assert out.positive == pos
    # every positive label becomes the predictions' positive value, every other one the other
    assert [v == pos for v in out.y_true] == lab


@pytest.mark.parametrize("favourable, expected", [(">50K.", 1), ("<=50K.", 0), (1, 1), (0, 0)])
def test_favourable_label_given_in_either_vocabulary(favourable, expected) -> None:
    out = _resolve([">50K.", "<=50K.", ">50K."], [1, 0, 0], positive=">50K.", favourable=favourable)
    assert out.favourable == expected


@pytest.mark.parametrize("label, pred, positive", [
    ([0, 1, 1], [1, 0, 1], 1), ([0.0, 1.0], [0, 1], 1), (["1", "0"], [1, 0], 1),
    (["yes", "no"], ["no", "yes"], "yes"),
])
def test_one_vocabulary_is_left_as_it_is(label, pred, positive) -> None:
    out = _resolve(label, pred, positive=positive)
    assert not out.recoded
    assert list(out.y_true) == list(label)


def test_positive_label_is_required_when_the_values_differ() -> None:
    with pytest.raises(ConfigError) as err:
        _resolve([">50K.", "<=50K."], [1, 0])
    assert "positive_label" in str(err.value)
    assert ">50K" not in str(err.value)  # no value of the data is quoted


def test_predictions_that_are_neither_the_label_nor_binary_numbers_are_refused() -> None:
    with pytest.raises(ConfigError, match="0/1"):
        _resolve([">50K.", "<=50K."], ["high", "low"], positive=">50K.")


def test_missing_labels_stay_missing() -> None:
    out = _resolve([">50K.", None, "<=50K."], [1, 0, 0], positive=">50K.")
    assert out.y_true[1] is None and out.y_true[0] == 1 and out.y_true[2] == 0
