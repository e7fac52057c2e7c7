"""The monitor against hostile logs, tampered state and changed settings (an attack pass).

Each test names the class of input it closes: empty chunks, timestamps pandas cannot hold,
ragged CSV rows, ids rounded through floats, a damaged history in meta.json, tampered counts,
a LOCK that is a link, labels that share no class with the predictions, the group separator
inside a level, output cells that break Markdown or XML, and alerts of streams that a changed
configuration no longer follows.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import LabelColumns, LogColumns, MonitorSpec, Windowing, run_monitor
from auditkit.fairness._monitor import ALERT_STATUSES, Alert, MonitorResult, merge_alerts
from auditkit.fairness._monitor_counts import FeatureBins, count_batch
from auditkit.fairness._monitor_io import read_chunks
from auditkit.fairness._monitor_run import _acknowledge
from auditkit.fairness._monitor_state import MonitorState
from auditkit.fairness._monitor_streams import binary_labels, grouping_labels
from auditkit.fairness._windows import wall_times
from auditkit.fairness.errors import FairnessInputError

COLS = LogColumns(timestamp="ts", prediction="pred", protected=("sex",), score="p", features=("x", "c"))
WEEK = Windowing("week")
SECRET = "SSN-123-45-6789"


def _log(n: int, seed: int = 0, start: str = "2025-01-06") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "ts": (pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 21 * 86400, n), unit="s")).astype(str),
        "pred": rng.integers(0, 2, n), "sex": rng.choice(["F", "M"], n), "p": rng.random(n).round(4),
        "x": rng.normal(size=n).round(3), "c": rng.choice(["a", "b"], n),
    })


# --------------------------------------------------------------------------- hostile logs


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_header_only_file_counts_nothing_and_changes_nothing(tmp_path: Path, fmt: str) -> None:
    log = _log(300)
    empty, full = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    for path, frame in ((empty, log.iloc[:0]), (full, log)):
        frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    spec = MonitorSpec(metrics=("selection_rate",))
    both = run_monitor(tmp_path / "s1", predictions=[empty, full], columns=COLS, windowing=WEEK, spec=spec).result
    alone = run_monitor(tmp_path / "s2", predictions=[full], columns=COLS, windowing=WEEK, spec=spec).result
    pd.testing.assert_frame_equal(both.series, alone.series)
    batch = count_batch(log.iloc[:0], COLS, WEEK, FeatureBins())  # no bins needed for no rows
    assert batch.rows == 0 and batch.counts.empty and batch.features.empty and batch.pending.empty


@pytest.mark.parametrize("bad", ["9876-05-04T00:00:00", "0042-03-02", "2300-01-01T00:00:00+00:00",
                                 pd.Timestamp("9876-05-04").as_unit("us")])
def test_timestamps_outside_what_pandas_holds_are_refused_without_quoting_them(bad: object) -> None:
    values = pd.Series(["2025-01-06T10:00:00", bad, "2025-01-07T10:00:00"], dtype=object)
    if isinstance(bad, pd.Timestamp):
        values = pd.Series([pd.Timestamp("2025-01-06"), bad]).astype("datetime64[us]")
    with pytest.raises(FairnessInputError, match="1678 to 2261") as err:
        wall_times(values, "UTC", column="ts")
    assert not any(v in str(err.value) for v in ("9876", "0042", "2300"))


@pytest.mark.parametrize("line", [f"2025-01-06T10:00:00,1,F,0.5,1.0,a,{SECRET}\n",  # a stray extra field
                                  "2025-01-06T10:00:00,1,F\n"])  # a cut line
def test_ragged_csv_rows_are_refused_naming_the_file_not_the_cells(tmp_path: Path, line: str) -> None:
    path = tmp_path / "log.csv"
    _log(50).to_csv(path, index=False)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
    with pytest.raises(FairnessInputError, match=r"log\.csv.* 1 row\(s\) with more or fewer fields") as err:
        list(read_chunks(path, ["ts", "pred", "sex"]))
    assert SECRET not in str(err.value)


def test_quoted_line_breaks_and_blank_lines_are_not_ragged(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text('ts,pred,note\n2025-01-06,1,"two\nlines"\n\n2025-01-07,0,"a,b"\n', encoding="utf-8")
    assert sum(len(c) for c in read_chunks(path, ["ts", "pred"])) == 2


def test_long_numeric_ids_join_their_labels_when_a_row_lacks_an_id(tmp_path: Path) -> None:
    # an empty id turns a CSV column of 17-digit ids into floats, which round them (2**53 < 10**17)
    log = _log(400)
    log["id"] = [str(12345678901234560 + i) for i in range(len(log))]
    labels = pd.DataFrame({"id": log["id"], "y": np.random.default_rng(1).integers(0, 2, len(log))})
    log.loc[3, "id"] = ""
    log.to_csv(tmp_path / "log.csv", index=False)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    cols = replace(COLS, id="id")
    run_monitor(tmp_path / "s", predictions=[tmp_path / "log.csv"], labels=[tmp_path / "labels.csv"], columns=cols,
                label_columns=LabelColumns(id="id", label="y"), windowing=WEEK, spec=MonitorSpec())
    with MonitorState.open(tmp_path / "s", columns=cols, windowing=WEEK, create=False) as state:
        assert len(state.pending) == 0 and len(state.orphans) == 1  # only the row without an id waits
        assert int(state.counts.loc[state.counts["y_true"].notna(), "n"].sum()) == len(log) - 1


# --------------------------------------------------------------------------- tampered state


def _state(tmp_path: Path) -> Path:
    (tmp_path / "log.parquet").parent.mkdir(exist_ok=True)
    _log(300).to_parquet(tmp_path / "log.parquet")
    run_monitor(tmp_path / "state", predictions=[tmp_path / "log.parquet"], columns=COLS, windowing=WEEK)
    return tmp_path / "state" / (tmp_path / "state" / "CURRENT").read_text(encoding="utf-8").strip()


def _rerun(tmp_path: Path) -> None:
    run_monitor(tmp_path / "state", predictions=[tmp_path / "log.parquet"], columns=COLS, windowing=WEEK)


ALERT = {"id": "abc", "kind": "fairness", "metric": "selection_rate", "grouping": "sex", "group": "F", "window": 1,
         "window_label": "w", "statistic": 1.0, "threshold": 1.0, "direction": "up", "estimate": 0.0,
         "baseline": 0.0, "evidence": "e", "status": "open", "raised_run": 1, "changed_run": None, "note": ""}


@pytest.mark.parametrize(("key", "value"), [
    ("alerts", "not a list"), ("alerts", [{"id": "x"}]), ("alerts", [{**ALERT, "status": "bogus"}]),
    ("alerts", [{**ALERT, "kind": "weather"}]), ("alerts", [{**ALERT, "window": "1"}]),
    ("alerts", [{**ALERT, "statistic": "high"}]), ("runs", {"a": 1}), ("runs", [1, 2]),
    ("files", {"x": 1}), ("files", {"x": {"sha256": "0", "size": -1, "rows": 0, "kind": "predictions"}}),
    ("files", {"x": {"sha256": "0", "size": 1, "rows": 0, "kind": "both"}}),
])
def test_a_damaged_history_in_meta_json_is_refused_naming_the_file(tmp_path: Path, key: str, value: object) -> None:
    gen = _state(tmp_path)
    meta = json.loads((gen / "meta.json").read_text(encoding="utf-8"))
    meta[key] = value
    (gen / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(FairnessInputError, match=r"meta\.json is damaged"):
        _rerun(tmp_path)


@pytest.mark.parametrize("change", ["negative", "extra"])
def test_tampered_counts_are_refused_naming_the_table(tmp_path: Path, change: str) -> None:
    gen = _state(tmp_path)
    counts = pd.read_parquet(gen / "counts.parquet")
    if change == "negative":
        counts.loc[0, "n"] = -5
    else:
        counts.loc[0, "n"] += 1  # rows that no counted file holds
    os.chmod(gen / "counts.parquet", 0o600)
    counts.to_parquet(gen / "counts.parquet")
    with pytest.raises(FairnessInputError, match=r"counts\.parquet is damaged"):
        _rerun(tmp_path)


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    gen = _state(tmp_path)
    lock = gen.parent / "LOCK"
    lock.unlink()
    lock.symlink_to(tmp_path / "target")
    with pytest.raises(FairnessInputError, match="LOCK is not a regular file"):
        _rerun(tmp_path)
    assert not (tmp_path / "target").exists()


# --------------------------------------------------------------------------- classes and groups


def _counts(preds: list[str], labels: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame({"y_pred": preds, "y_true": labels})


@pytest.mark.parametrize(("preds", "labels", "pattern"), [
    (["0", "1"], ["good", "bad"], "labels .*share no class with the predictions"),
    (["approve", "deny"], ["0", "1"], "labels .*share no class with the predictions"),
    (["0", "1"], ["0", "2"], "the labels have more than two"),
    (["0", "1", "2"], ["0", None, None], "the predictions have more than two"),
])
def test_labels_and_predictions_of_other_classes_are_refused_saying_which(preds, labels, pattern) -> None:
    with pytest.raises(FairnessInputError, match=pattern):
        binary_labels(_counts(preds, labels), "1" if "1" in preds else "approve", None)


def test_one_class_on_each_side_is_still_a_binary_log() -> None:
    assert binary_labels(_counts(["1", "1"], ["0", None]), None, None) == ("1", "1")


def test_levels_holding_the_group_separator_are_refused_for_intersections() -> None:
    counts = pd.DataFrame({"a": ["x × y", "x"], "b": ["z", "y × z"]})  # both would read "x × y × z"
    with pytest.raises(FairnessInputError, match="group separator"):
        grouping_labels(counts, ["a", "b"], intersectional=True)
    assert set(grouping_labels(counts, ["a", "b"], intersectional=False)) == {"a", "b"}


# --------------------------------------------------------------------------- outputs


def _alert(**kw: object) -> Alert:
    base = {k: v for k, v in ALERT.items() if k != "changed_run"}
    return Alert(**{**base, "changed_run": None, **kw})


def _result(alerts: list[Alert]) -> MonitorResult:
    return MonitorResult(windows=[], series=pd.DataFrame(), drift=pd.DataFrame(), alerts=alerts,
                         spec=MonitorSpec(), run=2, n_streams={"fairness": 1}, thresholds={"fairness": 3.0})


@given(st.text(min_size=1, max_size=12))
@settings(max_examples=60, deadline=None)
def test_any_group_label_keeps_markdown_rows_whole_and_junit_well_formed(label: str) -> None:
    result = _result([_alert(id="a1", group=label), _alert(id="a2", group="x", status="new")])
    rows = [line for line in result.to_markdown().splitlines() if line.startswith("| ")]
    assert len(rows) == 3  # the header and one row per alert: no cell breaks its line
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 9 for row in rows)
    ET.fromstring(result.to_junit().split("?>", 1)[1])  # parses: no control character left raw


# --------------------------------------------------------------------------- alerts across runs


def test_an_alert_of_a_stream_no_longer_followed_is_kept_not_retracted() -> None:
    prev = [_alert(id="a", status="open"), _alert(id="b", status="new", metric="accuracy"),
            _alert(id="c", status="retracted", metric="accuracy", note="old")]
    followed = frozenset({("fairness", "selection_rate", "sex")})
    out = {a.id: a for a in merge_alerts([], prev, 3, followed)}
    assert out["a"].status == "retracted" and "data" in out["a"].note  # followed, and the data no longer raise it
    assert out["b"].status == "open" and "not followed" in out["b"].note  # a new one is open next run
    assert out["c"].status == "retracted" and out["c"].note == "old"
    changed = {a.id: a for a in merge_alerts([], prev, 3, followed, settings_changed=True)}
    assert "settings" in changed["a"].note


_statuses = st.sampled_from(ALERT_STATUSES)


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), _statuses, st.booleans(), st.booleans()),
                max_size=8, unique_by=lambda t: t[0]))
@settings(max_examples=80, deadline=None)
def test_merging_never_drops_an_alert_and_never_retracts_an_unfollowed_one(rows) -> None:
    prev = [_alert(id=i, status=s, metric="selection_rate" if f else "accuracy") for i, s, f, _ in rows]
    current = [_alert(id=i, status="new") for i, _, _, again in rows if again]
    followed = frozenset({("fairness", "selection_rate", "sex")})
    out = {a.id: a for a in merge_alerts(current, prev, 5, followed)}
    assert set(out) == {a.id for a in prev}
    for i, status, f, again in rows:
        a = out[i]
        if status == "acknowledged":
            assert a.status == "acknowledged"
        elif again:
            assert a.status == "open"
        elif not f:
            assert a.status == ("open" if status == "new" else status)
        else:
            assert a.status == "retracted"


def test_acknowledging_a_retracted_alert_keeps_the_retraction_in_its_note() -> None:
    out = _acknowledge([_alert(id="a", status="retracted", changed_run=2)], ["a"], 4)
    assert out[0].status == "acknowledged" and out[0].note == "acknowledged after it was retracted in run 2"


def test_a_state_directory_without_write_access_is_refused_in_one_line(tmp_path: Path, monkeypatch) -> None:
    from auditkit.fairness import _monitor_storage

    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_monitor_storage.os, "open", denied)  # what a read-only directory does (root ignores modes)
    with pytest.raises(FairnessInputError, match="needs write access to its state directory"):
        _monitor_storage.lock(tmp_path)
