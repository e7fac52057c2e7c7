"""fairness._monitor_audit: a window's disparities are the audit's on that window's rows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditkit.fairness import audit
from auditkit.fairness._monitor import WindowSummary
from auditkit.fairness._monitor_audit import window_counts, window_disparities

_SPEC = importlib.util.spec_from_file_location("tests_fairness_test_monitor", Path(__file__).with_name("test_monitor.py"))
_data = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_data)
_rows, _counts = _data._rows, _data._counts


class _Spec:
    n_boot, min_group_size, min_denominator, intersectional = 300, 30, 30, False


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_window_disparities_equal_the_audit_of_the_window_rows(seed: int) -> None:
    rows = _rows(3, {"F": 300, "M": 500, "X": 40}, {"F": 0.3, "M": 0.45, "X": 0.35}, seed=seed)
    windows = [WindowSummary(w, f"w{w}", 0, 1.0, True, True) for w in range(3)]
    got = window_disparities(_counts(rows), ["sex"], windows, _Spec, positive="1", favourable="1")
    for w in range(3):
        d = rows[rows.window == w]
        mine = got[got.window == w].set_index("disparity")
        # prediction disparities: the audit of the predictions alone (labels play no part in them)
        preds = audit(d.y_pred.astype(str), d.y_pred.astype(str), d[["sex"]], n_boot=300, random_state=0,
                      metrics=["selection_rate"], pos_label="1")
        labelled = audit(d.y_true.astype(str), d.y_pred.astype(str), d[["sex"]], n_boot=300, random_state=0,
                         metrics=["selection_rate", "true_positive_rate", "false_positive_rate"], pos_label="1")
        for ref, names in ((preds, ("demographic_parity_difference", "demographic_parity_ratio")),
                           (labelled, ("equalized_odds_difference", "equal_opportunity_difference"))):
            table = ref.disparities.reset_index().set_index("disparity")
            for name in names:
                for col in ("value", "ci_low", "ci_high", "n_groups", "n_excluded"):
                    assert mine.loc[name, col] == pytest.approx(table.loc[name, col], abs=1e-12), (name, col)


def test_unlabelled_and_open_windows() -> None:
    rows = _rows(2, {"F": 200, "M": 200}, {"F": 0.3, "M": 0.3})
    windows = [WindowSummary(0, "w0", 0, 0.2, True, False), WindowSummary(1, "w1", 0, 1.0, False, False)]
    got = window_disparities(_counts(rows), ["sex"], windows, _Spec, positive="1", favourable="1")
    assert set(got["window"]) == {0} and not got["labels"].any()
    assert set(got["disparity"]) == {"demographic_parity_difference", "demographic_parity_ratio"}


def test_a_window_with_one_predicted_class_still_has_its_disparities() -> None:
    rows = _rows(1, {"F": 100, "M": 100}, {"F": 0.0, "M": 0.0})
    got = window_disparities(_counts(rows), ["sex"], [WindowSummary(0, "w0", 0, 1.0, True, True)], _Spec,
                             positive="1", favourable="1")
    dp = got.set_index("disparity").loc["demographic_parity_difference"]
    assert dp["value"] == 0.0


def test_window_counts_equal_the_rows() -> None:
    rows = _rows(1, {"F": 50, "M": 70}, {"F": 0.3, "M": 0.6}, seed=4)
    c = window_counts(_counts(rows), ["sex"], labelled=True)
    assert c.n.sum() == 120 and c.levels == (("F", "M"),)
    f = rows[rows.sex == "F"]
    assert c.n[0, 1, 1] == int(((f.y_true == 1) & (f.y_pred == 1)).sum())
    assert np.array_equal(c.w, c.n.astype(float))
    pd.testing.assert_series_equal(pd.Series(c.n.sum(axis=(1, 2))), pd.Series(rows.groupby("sex").size().values))
