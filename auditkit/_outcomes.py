"""The label and the prediction in one vocabulary, and the positive and favourable outcomes in it.

A model is often scored into a file whose label keeps its source's words while the predictions
are the model's 0/1 (Adult: ``">50K."`` / ``"<=50K."`` against ``1`` / ``0``). Read as they
are, the two columns hold four "classes" and no binary metric can be computed. When both
columns are binary and their values differ, the label is recoded into the prediction's values:
``[data] positive_label`` names the label's positive value (it must be set then), and the
prediction's positive value is the same value if the predictions hold it, else ``1`` (0/1 or
-1/1 predictions) or ``True``.

Values are compared by their text (``1``, ``1.0`` and ``"1"`` are one value), so a label read as
text and predictions read as numbers still agree. Error messages name columns and counts, never
values: a label column can be personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.errors import ConfigError

__all__ = ["Outcomes", "label_recoder", "resolve_outcomes"]


def _key(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _distinct(values: np.ndarray) -> dict[str, Any]:
    """Distinct non-missing values by key (the first value seen for each key)."""
    out: dict[str, Any] = {}
    for v in pd.unique(pd.Series(values).dropna()):
        out.setdefault(_key(v), v)
    return out


@dataclass(frozen=True)
class Outcomes:
    """The label and predictions in one vocabulary.

    Attributes
    ----------
    y_true, y_pred:
        The columns as arrays; ``y_true`` recoded into the prediction's values when ``recoded``.
    positive:
        The positive class in that vocabulary (``None``: the library's default, 1 for 0/1).
    favourable:
        The favourable outcome in that vocabulary (``None``: not configured).
    recoded:
        Whether the label was recoded (the report says so).
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    positive: Any
    favourable: Any
    recoded: bool


def _in(keys: dict[str, Any], wanted: Any) -> Any:
    return None if wanted is None else keys.get(_key(wanted))


def _prediction_positive(pred: dict[str, Any], positive_label: Any) -> Any:
    hit = _in(pred, positive_label)
    if hit is not None:
        return hit
    if set(pred) <= {"0", "1", "-1"}:
        return pred.get("1", 1)
    if set(pred) <= {"True", "False"}:
        return pred.get("True", True)
    return None


def resolve_outcomes(label: np.ndarray, prediction: np.ndarray, *, positive_label: Any,
                     favourable_label: Any, label_name: str, prediction_name: str) -> Outcomes:
    """Put ``label`` and ``prediction`` in one vocabulary (see the module docstring).

    Raises
    ------
    ConfigError
        The two binary columns use different values and ``[data] positive_label`` is missing or
        not a value of the label, or the predictions' positive value cannot be told.
    """
    lab, pred = _distinct(label), _distinct(prediction)
    union = set(lab) | set(pred)
    binary = len(lab) <= 2 and len(pred) <= 2
    # different vocabularies: more than two values in all, or no value in common while the
    # positive label is the label's and not the predictions' (one class present in each)
    different = len(union) > 2 or (positive_label is not None and not set(lab) & set(pred)
                                   and _in(pred, positive_label) is None)
    if not binary or not different:
        positive = _in({**pred, **lab}, positive_label)
        positive = positive_label if positive is None else positive
        favourable = _in({**pred, **lab}, favourable_label)
        favourable = favourable_label if favourable is None else favourable
        return Outcomes(label, prediction, positive, favourable, False)
    if positive_label is None or (_in(lab, positive_label) is None and len(lab) == 2):
        raise ConfigError(
            f"The label column {label_name!r} and the prediction column {prediction_name!r} "
            f"use different values ({len(lab)} and {len(pred)} distinct values, none in common "
            "with each other's positive class). Set [data] positive_label in audit.toml to the "
            "label's value for the positive class (e.g. the value meaning 'approved' or "
            "'reoffended'); the predictions' positive value is then taken as the same value, "
            "else 1 or true."
        )
    p_pos = _prediction_positive(pred, positive_label)
    p_neg = _negative(pred, p_pos)
    if p_pos is None:
        raise ConfigError(
            f"[data] positive_label is a value of the label column {label_name!r} but not of the "
            f"prediction column {prediction_name!r}, whose {len(pred)} values are not 0/1 or "
            "true/false. Write the predictions in the label's values, or as 0/1."
        )
    l_pos = _key(positive_label)
    missing = pd.isna(pd.Series(label)).to_numpy()
    keys = np.array([_key(v) for v in label], dtype=object)
    y_true = np.where(keys == l_pos, p_pos, p_neg).astype(object)
    y_true[missing] = None  # missing labels stay missing (the audit refuses them by name)
    if not missing.any():
        y_true = y_true.astype(np.asarray(prediction).dtype)
    favourable = None
    if favourable_label is not None:
        if _in(pred, favourable_label) is not None:
            favourable = _in(pred, favourable_label)
        elif _in(lab, favourable_label) is not None or _key(favourable_label) == l_pos:
            favourable = p_pos if _key(favourable_label) == l_pos else p_neg
        else:
            raise ConfigError(
                f"[data] favourable_label is a value of neither the label column {label_name!r} "
                f"nor the prediction column {prediction_name!r}. Set it to the label's value of "
                "the outcome that benefits the person."
            )
    return Outcomes(y_true, np.asarray(prediction), p_pos, favourable, True)


def _negative(pred: dict[str, Any], p_pos: Any) -> Any:
    """The predictions' other value (0 or false when they hold one value only)."""
    others = [v for k, v in pred.items() if k != _key(p_pos)]
    return others[0] if others else (False if isinstance(p_pos, (bool, np.bool_)) else 0)


def label_recoder(prediction: np.ndarray, *, positive_label: Any) -> Any:
    """The recoding :func:`resolve_outcomes` applies to each label value when it puts the label
    in the predictions' vocabulary (``recoded``): the positive label to the predictions' positive
    value, any other to their other value. For counts of data read in partitions, whose label
    values are recoded after counting (:mod:`auditkit._scale`)."""
    pred = _distinct(prediction)
    p_pos = _prediction_positive(pred, positive_label)
    p_neg = _negative(pred, p_pos)
    l_pos = _key(positive_label)
    return lambda value: p_pos if _key(value) == l_pos else p_neg
