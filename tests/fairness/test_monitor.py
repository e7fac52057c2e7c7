"""fairness._monitor and _monitor_streams: per-window statistics, detection and alert lifecycle."""

from __future__ import annotations

import dataclasses
import json
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import DetectorSpec, MonitorSpec
from auditkit.fairness._monitor import (
    Alert,
    WindowSummary,
    alert_id,
    evaluate_monitor,
    merge_alerts,
)
from auditkit.fairness._monitor_streams import RATES, binary_labels, stream_table
from auditkit.fairness.errors import FairnessInputError


def _rows(n_windows: int, sizes: dict[str, int], rate: dict[str, float], seed: int = 0, *,
          shift: tuple[int, str, float] | None = None, base_rate: float = 0.4) -> pd.DataFrame:
    """Prediction rows: window, sex, y_true, y_pred, score."""
    rng = np.random.default_rng(seed)
    parts = []
    for w in range(n_windows):
        for g, n in sizes.items():
            p = rate[g] + (shift[2] if shift and w >= shift[0] and g == shift[1] else 0.0)
            y = (rng.random(n) < base_rate).astype(int)
            pred = (rng.random(n) < p).astype(int)
            parts.append(pd.DataFrame({"window": w, "sex": g, "y_true": y, "y_pred": pred,
                                       "score": rng.random(n)}))
    return pd.concat(parts, ignore_index=True)


def _counts(rows: pd.DataFrame, attrs: tuple[str, ...] = ("sex",), labelled: pd.Series | None = None) -> pd.DataFrame:
    """The counts table of ``rows`` (brute force), labels hidden where ``labelled`` is False."""
    df = rows.copy()
    df["y_pred"] = df["y_pred"].astype(str)
    df["y_true"] = df["y_true"].astype(str).astype(object)
    if labelled is not None:
        df.loc[~labelled.to_numpy(), "y_true"] = None
    df["score_bin"] = np.minimum((df["score"] * 20).astype(int), 19).astype("int16")
    df["n"] = 1
    keys = ["window", *attrs, "y_pred", "y_true", "score_bin"]
    out = df.groupby(keys, dropna=False).agg(n=("n", "sum"), score_sum=("score", "sum")).reset_index()
    out["y_true"] = out["y_true"].astype(object).where(out["y_true"].notna(), None)
    return out


def _windows(n: int, share: float = 1.0, closed: bool = True, judged: bool = True) -> list[WindowSummary]:
    return [WindowSummary(w, f"w{w}", 0, share, closed, judged) for w in range(n)]


# -- streams: known answers against the rows --------------------------------------------------
@pytest.mark.parametrize("metric", sorted(RATES))
def test_gap_equals_brute_force_on_rows(metric: str) -> None:
    rows = _rows(3, {"A": 80, "B": 120, "C": 60}, {"A": 0.3, "B": 0.5, "C": 0.2}, seed=3)
    table = stream_table(_counts(rows), ["sex"], [metric], positive="1", favourable="1", calibration=False)
    fair = table[table["kind"] == "fairness"]
    rate = RATES[metric]
    masks = {
        "all": lambda d: np.ones(len(d), bool), "pred_pos": lambda d: d.y_pred == 1,
        "pred_fav": lambda d: d.y_pred == 1, "labelled": lambda d: np.ones(len(d), bool),
        "true_pos": lambda d: d.y_true == 1, "true_neg": lambda d: d.y_true == 0,
        "tp": lambda d: (d.y_true == 1) & (d.y_pred == 1), "fp": lambda d: (d.y_true == 0) & (d.y_pred == 1),
        "fn": lambda d: (d.y_true == 1) & (d.y_pred == 0), "tn": lambda d: (d.y_true == 0) & (d.y_pred == 0),
        "pred_pos_labelled": lambda d: d.y_pred == 1, "pred_neg_labelled": lambda d: d.y_pred == 0,
        "correct": lambda d: d.y_true == d.y_pred,
    }
    assert len(fair) == 9  # 3 windows x 3 groups
    for r in fair.itertuples():
        d = rows[rows.window == r.window]
        mine, rest = d[d.sex == r.group], d[d.sex != r.group]

        def value(part: pd.DataFrame) -> float:
            den = masks[rate.denominator](part)
            return float(np.sum(masks[rate.numerator](part) & den) / np.sum(den))

        assert r.value == pytest.approx(value(mine), abs=1e-12)
        assert r.rest_value == pytest.approx(value(rest), abs=1e-12)
        assert r.estimate == pytest.approx(value(mine) - value(rest), abs=1e-12)
        assert r.se > 0


@pytest.mark.parametrize(("sizes", "expected"), [({"F": 100, "M": 300}, "F"), ({"F": 300, "M": 100}, "F"),
                                               ({"b": 50, "a": 500}, "a")])
def test_two_groups_give_one_stream_of_the_first_group_whatever_their_sizes(sizes, expected) -> None:
    rows = _rows(2, sizes, dict.fromkeys(sizes, 0.3))
    table = stream_table(_counts(rows), ["sex"], ["selection_rate"], positive="1", favourable="1", calibration=False)
    assert set(table.loc[table["kind"] == "fairness", "group"]) == {expected}


def test_calibration_gap_is_mean_score_minus_positive_rate() -> None:
    rows = _rows(1, {"A": 200, "B": 200}, {"A": 0.4, "B": 0.4}, seed=5)
    table = stream_table(_counts(rows), ["sex"], ["selection_rate"], positive="1", favourable="1")
    cal = table[table["kind"] == "calibration"].set_index("group")
    for g in ("A", "B"):
        d = rows[rows.sex == g]
        assert cal.loc[g, "estimate"] == pytest.approx(d.score.mean() - d.y_true.mean(), abs=1e-12)


def test_intersectional_grouping_is_followed_when_asked() -> None:
    rows = _rows(1, {"A": 100, "B": 100}, {"A": 0.3, "B": 0.3})
    rows["race"] = np.where(np.arange(len(rows)) % 2 == 0, "x", "y")
    table = stream_table(_counts(rows, ("sex", "race")), ["sex", "race"], ["selection_rate"], positive="1",
                         favourable="1", intersectional=True, calibration=False)
    assert "sex × race" in set(table["grouping"])


@pytest.mark.parametrize(("preds", "expected"), [({"0", "1"}, "1"), ({"False", "True"}, "True")])
def test_positive_label_defaults_for_binary_logs(preds: set[str], expected: str) -> None:
    counts = pd.DataFrame({"y_pred": sorted(preds), "y_true": [None, None]})
    assert binary_labels(counts, None, None) == (expected, expected)


def test_text_predictions_need_a_positive_label_and_two_classes() -> None:
    counts = pd.DataFrame({"y_pred": ["low", "high"], "y_true": [None, None]})
    with pytest.raises(FairnessInputError, match="positive"):
        binary_labels(counts, None, None)
    assert binary_labels(counts, "high", "low") == ("high", "low")
    three = pd.DataFrame({"y_pred": ["a", "b", "c"], "y_true": [None] * 3})
    with pytest.raises(FairnessInputError, match="binary"):
        binary_labels(three, "a", None)


def test_unknown_metric_is_refused_with_the_list() -> None:
    with pytest.raises(FairnessInputError, match="selection_rate"):
        MonitorSpec(metrics=("roc_auc",))
    with pytest.raises(FairnessInputError, match="fail_on"):
        MonitorSpec(fail_on=("everything",))


# -- detection ------------------------------------------------------------------------------
def _spec(**kw) -> MonitorSpec:
    return MonitorSpec(metrics=("selection_rate",), calibration=False, disparities=False, **kw)


def test_a_planted_shift_is_caught_in_the_right_group_within_two_windows() -> None:
    rows = _rows(30, {"F": 600, "M": 1400}, {"F": 0.3, "M": 0.3}, seed=11, shift=(20, "F", -0.12))
    result = evaluate_monitor(_counts(rows), pd.DataFrame(), attributes=["sex"], windows=_windows(30), spec=_spec())
    fair = [a for a in result.alerts if a.kind == "fairness"]
    assert fair and all(a.group == "F" and a.direction == "down" for a in fair)
    assert 20 <= fair[0].window <= 22
    assert result.exit_code == 1 and not result.passed


def test_stable_streams_rarely_alarm_and_a_quiet_one_exits_zero() -> None:
    # alpha = 0.05 over 52 windows: over 40 stable 30-window streams, about 2 false alarms are
    # expected; more than 8 has probability < 1e-3 under a correct threshold
    alarmed = []
    for seed in range(40):
        rows = _rows(30, {"F": 600, "M": 1400}, {"F": 0.25, "M": 0.35}, seed=100 + seed)
        result = evaluate_monitor(_counts(rows), pd.DataFrame(), attributes=["sex"], windows=_windows(30),
                                  spec=_spec())
        alarmed.append(any(a.kind == "fairness" for a in result.alerts))
        if not alarmed[-1]:
            assert result.exit_code == 0 and result.passed
    assert sum(alarmed) <= 8


def test_groups_below_the_evidence_rule_are_never_judged() -> None:
    rows = _rows(20, {"F": 20, "M": 1000}, {"F": 0.3, "M": 0.3}, seed=1, shift=(10, "F", 0.6))
    result = evaluate_monitor(_counts(rows), pd.DataFrame(), attributes=["sex"], windows=_windows(20),
                              spec=_spec(min_group_size=30))
    fair = result.series[result.series["kind"] == "fairness"]
    assert not fair["usable"].any() and not fair["alarm"].any()


def test_open_and_unlabelled_windows_are_not_judged() -> None:
    rows = _rows(6, {"F": 300, "M": 300}, {"F": 0.3, "M": 0.3})
    windows = [WindowSummary(w, f"w{w}", 600, 0.5, w < 5, False) for w in range(6)]
    spec = MonitorSpec(metrics=("selection_rate", "true_positive_rate"), calibration=False)
    result = evaluate_monitor(_counts(rows), pd.DataFrame(), attributes=["sex"], windows=windows, spec=spec)
    s = result.series[result.series["kind"] == "fairness"]
    assert not s.loc[s["metric"] == "true_positive_rate", "usable"].any()  # labels not judged
    sel = s[s["metric"] == "selection_rate"]
    assert sel.loc[sel["window"] < 5, "usable"].all() and not sel.loc[sel["window"] == 5, "usable"].any()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_result_does_not_depend_on_the_order_of_the_counts_rows(seed: int) -> None:
    rows = _rows(12, {"F": 200, "M": 300}, {"F": 0.3, "M": 0.4}, seed=seed % 7, shift=(8, "F", -0.25))
    counts = _counts(rows)
    a = evaluate_monitor(counts, pd.DataFrame(), attributes=["sex"], windows=_windows(12), spec=_spec())
    shuffled = counts.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    b = evaluate_monitor(shuffled, pd.DataFrame(), attributes=["sex"], windows=_windows(12), spec=_spec())
    assert [x.id for x in a.alerts] == [x.id for x in b.alerts]
    pd.testing.assert_frame_equal(a.series.reset_index(drop=True), b.series.reset_index(drop=True))


# -- alert lifecycle ------------------------------------------------------------------------
def _alert(window: int, status: str = "new") -> Alert:
    return Alert(alert_id("fairness", "selection_rate", "sex", "F", window), "fairness", "selection_rate", "sex",
                 "F", window, f"w{window}", 5.0, 3.0, "down", -0.1, 0.0, "evidence", status, 1)


def test_alert_ids_are_stable_and_distinct() -> None:
    assert _alert(3).id == _alert(3).id != _alert(4).id


def test_lifecycle_new_open_retracted_reinstated_acknowledged() -> None:
    first = merge_alerts([_alert(3)], [], run=1)
    assert [(a.status, a.raised_run) for a in first] == [("new", 1)]
    second = merge_alerts([_alert(3)], first, run=2)
    assert [(a.status, a.raised_run) for a in second] == [("open", 1)]
    third = merge_alerts([], second, run=3)
    assert [(a.status, a.changed_run) for a in third] == [("retracted", 3)]
    assert "no longer supported" in third[0].note
    fourth = merge_alerts([], third, run=4)
    assert [a.status for a in fourth] == ["retracted"]  # kept, never dropped
    fifth = merge_alerts([_alert(3)], fourth, run=5)
    assert [(a.status, a.changed_run) for a in fifth] == [("open", 5)]
    acked = [dataclasses.replace(fifth[0], status="acknowledged")]
    assert [a.status for a in merge_alerts([_alert(3)], acked, run=6)] == ["acknowledged"]
    assert [a.status for a in merge_alerts([], acked, run=6)] == ["acknowledged"]


def test_alert_round_trips_through_its_dict() -> None:
    a = dataclasses.replace(_alert(2), baseline=float("nan"))
    back = Alert.from_dict(json.loads(json.dumps(a.to_dict())))
    assert back.id == a.id and np.isnan(back.baseline) and back.statistic == a.statistic


def test_only_active_alerts_of_failing_kinds_fail() -> None:
    rows = _rows(30, {"F": 600, "M": 1400}, {"F": 0.3, "M": 0.3}, seed=11, shift=(20, "F", -0.12))
    warn = evaluate_monitor(_counts(rows), pd.DataFrame(), attributes=["sex"], windows=_windows(30),
                            spec=_spec(fail_on=("drift",)))
    assert any(a.kind == "fairness" and a.active for a in warn.alerts)
    assert all(a.kind == "drift" for a in warn.failing)


# -- outputs ----------------------------------------------------------------------------------
def test_outputs_parse_and_agree() -> None:
    rows = _rows(30, {"F": 600, "M": 1400}, {"F": 0.3, "M": 0.3}, seed=11, shift=(20, "F", -0.12))
    result = evaluate_monitor(_counts(rows), pd.DataFrame(), attributes=["sex"], windows=_windows(30), spec=_spec())
    doc = json.loads(result.to_json())
    assert doc["exit_code"] == 1 and doc["alerts"] and "CUSUM" in doc["decision"]["detector"]
    assert len(doc["series"]) == len(result.series)
    suite = ET.fromstring(result.to_junit()).find("testsuite")
    assert int(suite.get("failures")) == len(result.failing)
    notes = result.github_annotations()
    assert sum(line.startswith("::error") for line in notes) == len(result.failing)
    assert "🚨" in result.to_markdown()


def test_detector_settings_reach_the_threshold() -> None:
    rows = _rows(10, {"F": 600, "M": 600}, {"F": 0.3, "M": 0.3})
    loose = evaluate_monitor(_counts(rows), pd.DataFrame(), attributes=["sex"], windows=_windows(10),
                             spec=_spec(detector=DetectorSpec(alpha=0.2)))
    strict = evaluate_monitor(_counts(rows), pd.DataFrame(), attributes=["sex"], windows=_windows(10),
                              spec=_spec(detector=DetectorSpec(alpha=0.001)))
    assert strict.thresholds["fairness"] > loose.thresholds["fairness"]
