"""The monitor's state directory: round trips, late labels, crash safety, locking, hostile files."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness import _monitor_state, _monitor_storage
from auditkit.fairness._monitor_counts import LabelColumns, LogColumns
from auditkit.fairness._monitor_state import MonitorState
from auditkit.fairness._windows import Windowing
from auditkit.fairness.errors import FairnessInputError

SECRET = "secret-id-4711"
COLS = LogColumns(timestamp="ts", prediction="pred", protected=("sex",), score="p", features=("x", "c"), id="id")
INLINE = LogColumns(timestamp="ts", prediction="pred", protected=("sex",), score="p", features=("x", "c"),
                    id="id", label="y")
LABELS = LabelColumns(id="id", label="y")
WEEK = Windowing("week")


def _log(n: int, seed: int, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "ts": (pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 20 * 86400, n), unit="s")).astype(str),
        "pred": rng.integers(0, 2, n), "sex": rng.choice(["F", "M"], n), "p": rng.random(n),
        "x": rng.normal(size=n), "c": rng.choice([SECRET, "b"], n),
        "id": [f"{SECRET}-{i}" for i in range(start, start + n)], "y": rng.integers(0, 2, n),
    })


def _tables(state: MonitorState) -> dict[str, pd.DataFrame]:
    return {"counts": state.counts, "features": state.features,
            "pending": state.pending.sort_values("id", ignore_index=True),
            "orphans": state.orphans.sort_values("id", ignore_index=True)}


def _assert_same(a: MonitorState, b: MonitorState) -> None:
    for name, t in _tables(a).items():
        pd.testing.assert_frame_equal(t, _tables(b)[name], check_exact=False, rtol=1e-12, atol=1e-12)


def test_round_trip_and_permissions(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    frame = _log(200, 0)
    frame.to_csv(log, index=False)
    with MonitorState.open(tmp_path / "state", columns=COLS, windowing=WEEK) as state:
        summary = state.ingest_predictions(log, iter([frame.iloc[:70], frame.iloc[70:]]))  # streamed chunks
        assert (summary.rows, summary.pending, summary.labelled) == (200, 200, 0)
        state.ingest_labels(None, frame[["id", "y"]].iloc[:50], LABELS)
        state.alerts = [{"id": "a1", "statistic": np.float64(2.5)}]
        state.commit()
        before = {k: v.copy() for k, v in _tables(state).items()}
    root = tmp_path / "state"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert sorted(os.listdir(root)) == ["CURRENT", "LOCK", "gen-000001"]
    for f in [root / "CURRENT", root / "LOCK", *(root / "gen-000001").iterdir()]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    with MonitorState.open(root, columns=COLS, windowing=WEEK) as again:
        for name, t in _tables(again).items():
            pd.testing.assert_frame_equal(t, before[name])
        assert again.rows_seen == 200 and again.alerts == [{"id": "a1", "statistic": 2.5}]
        assert again.latest_timestamp == pd.Timestamp(frame["ts"].max(), tz="UTC")
        assert again.already_ingested(log) == "seen"
        with pytest.raises(FairnessInputError, match="counted by an earlier run"):
            again.ingest_predictions(log, frame)
        log.write_text(log.read_text() + log.read_text().splitlines()[1] + "\n")
        assert again.already_ingested(log) == "changed"
        assert again.already_ingested(tmp_path / "other.csv") == "new"


def _inline_counts(frame: pd.DataFrame) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as d, MonitorState.open(d, columns=INLINE, windowing=WEEK) as state:
        state.ingest_predictions(None, frame)
        return state.counts


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 1000), st.permutations(range(4)), st.integers(1, 39))
def test_late_labels_in_any_order_equal_inline_labels(seed: int, order: list[int], cut: int) -> None:
    frame = _log(40, seed)
    expected = _inline_counts(frame)
    steps = [("pred", frame.iloc[:cut]), ("pred", frame.iloc[cut:]),
             ("label", frame[["id", "y"]].iloc[::2]), ("label", frame[["id", "y"]].iloc[1::2])]
    with tempfile.TemporaryDirectory() as d, MonitorState.open(d, columns=COLS, windowing=WEEK) as state:
        for i in order:
            kind, part = steps[i]
            if kind == "pred":
                state.ingest_predictions(None, part.drop(columns=["y"]))
            else:
                state.ingest_labels(None, part, LABELS)
        assert len(state.pending) == 0 and len(state.orphans) == 0
        pd.testing.assert_frame_equal(state.counts, expected, check_exact=False, rtol=1e-12, atol=1e-12)


def test_orphans_match_later_predictions_and_second_labels_are_refused(tmp_path: Path) -> None:
    frame = _log(10, 1)
    with MonitorState.open(tmp_path / "s", columns=COLS, windowing=WEEK) as state:
        s = state.ingest_labels(None, frame[["id", "y"]].iloc[:4], LABELS)
        assert (s.labelled, s.orphans) == (0, 4) and len(state.orphans) == 4
        with pytest.raises(FairnessInputError, match="2 id") as err:
            state.ingest_labels(None, frame[["id", "y"]].iloc[2:6], LABELS)
        assert SECRET not in str(err.value)
        with pytest.raises(FairnessInputError, match="1 id"):
            state.ingest_labels(None, frame[["id", "y"]].iloc[[6, 6]], LABELS)
        s = state.ingest_predictions(None, frame.drop(columns=["y"]))
        assert (s.orphans_matched, s.labelled, s.pending) == (4, 4, 6) and len(state.orphans) == 0


def test_duplicate_prediction_ids_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    frame = _log(10, 2)
    with MonitorState.open(tmp_path / "s", columns=COLS, windowing=WEEK) as state:
        state.ingest_predictions(None, frame.iloc[:5])
        counts = state.counts.copy()
        with pytest.raises(FairnessInputError, match="1 id") as err:
            state.ingest_predictions(None, frame.iloc[4:])
        assert SECRET not in str(err.value)
        pd.testing.assert_frame_equal(state.counts, counts)
        assert state.rows_seen == 5 and len(state.pending) == 5


def test_row_windows_continue_across_files_and_runs(tmp_path: Path) -> None:
    rows = Windowing("rows", size=4)
    cols = LogColumns(timestamp=None, prediction="pred", protected=("sex",))
    frame = _log(10, 3)
    with MonitorState.open(tmp_path / "s", columns=cols, windowing=rows) as state:
        state.ingest_predictions(None, frame.iloc[:3])
        state.commit()
    with MonitorState.open(tmp_path / "s", columns=cols, windowing=rows) as state:
        state.ingest_predictions(None, frame.iloc[3:])
        assert state.rows_seen == 10
        assert state.counts.groupby("window")["n"].sum().to_dict() == {0: 4, 1: 4, 2: 2}


def test_a_second_opener_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    first = MonitorState.open(tmp_path / "s", columns=COLS, windowing=WEEK)
    with pytest.raises(FairnessInputError, match="Another monitor run holds the state directory"):
        MonitorState.open(tmp_path / "s", columns=COLS, windowing=WEEK)
    first.close()
    MonitorState.open(tmp_path / "s", columns=COLS, windowing=WEEK).close()


def test_other_settings_are_refused(tmp_path: Path) -> None:
    with MonitorState.open(tmp_path / "s", columns=COLS, windowing=WEEK) as state:
        state.commit()
    with pytest.raises(FairnessInputError, match=r"windows.kind differ.*new state directory"):
        MonitorState.open(tmp_path / "s", columns=COLS, windowing=Windowing("day"))
    with pytest.raises(FairnessInputError, match="columns.score"):
        MonitorState.open(tmp_path / "s", columns=LogColumns("ts", "pred", ("sex",), features=("x", "c"), id="id"),
                          windowing=WEEK)


def test_a_directory_of_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FairnessInputError, match="holds other files"):
        MonitorState.open(tmp_path, columns=COLS, windowing=WEEK)
    with pytest.raises(FairnessInputError, match="no monitor state"):
        MonitorState.open(tmp_path / "absent", columns=COLS, windowing=WEEK, create=False)


def _committed(root: Path, seed: int) -> None:
    with MonitorState.open(root, columns=COLS, windowing=WEEK) as state:
        state.ingest_predictions(None, _log(30, seed, start=100 * seed))
        state.commit()


def _boom(*args: object, **kwargs: object) -> None:
    raise OSError("injected failure")


@pytest.mark.parametrize(("target", "committed"), [
    ("write_table", False), ("write_file", False), ("fsync_dir", False), ("rename_into_place", False),
    ("atomic_write_text", False), ("remove_generation", True),
])
def test_commit_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str,
                                  committed: bool) -> None:
    root = tmp_path / "s"
    _committed(root, 0)
    with MonitorState.open(root, columns=COLS, windowing=WEEK) as old:
        old_tables = {k: v.copy() for k, v in _tables(old).items()}
    state = MonitorState.open(root, columns=COLS, windowing=WEEK)
    state.ingest_predictions(None, _log(30, 1, start=100))
    new_tables = {k: v.copy() for k, v in _tables(state).items()}
    module = _monitor_state if target == "atomic_write_text" else _monitor_storage
    monkeypatch.setattr(module, target, _boom)
    if committed:  # the old generation's removal is best effort: the commit stands
        state.commit()
        assert (root / "gen-000001").exists()
    else:
        with pytest.raises(OSError, match="injected"):
            state.commit()
    state.close()
    monkeypatch.undo()
    with MonitorState.open(root, columns=COLS, windowing=WEEK) as again:
        expected = new_tables if committed else old_tables
        for name, t in _tables(again).items():
            pd.testing.assert_frame_equal(t, expected[name])
        assert again.rows_seen == (60 if committed else 30)
    leftovers = sorted(p.name for p in root.iterdir())
    assert leftovers == ["CURRENT", "LOCK", "gen-000002" if committed else "gen-000001"]


def test_partial_write_of_the_second_table_leaves_the_old_state(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "s"
    _committed(root, 0)
    real, calls = _monitor_storage.write_table, []

    def second_fails(path: Path, frame: pd.DataFrame) -> None:
        calls.append(path)
        if len(calls) == 2:
            path.write_bytes(b"half")
            raise KeyboardInterrupt
        real(path, frame)

    monkeypatch.setattr(_monitor_storage, "write_table", second_fails)
    state = MonitorState.open(root, columns=COLS, windowing=WEEK)
    state.ingest_predictions(None, _log(5, 9, start=900))
    with pytest.raises(KeyboardInterrupt):
        state.commit()
    state.close()
    with MonitorState.open(root, columns=COLS, windowing=WEEK) as again:
        assert again.rows_seen == 30 and again.generation == "gen-000001"


def _message(root: Path) -> str:
    with pytest.raises(FairnessInputError) as err:
        MonitorState.open(root, columns=COLS, windowing=WEEK)
    msg = str(err.value)
    assert "new, empty state directory" in msg and SECRET not in msg and "Traceback" not in msg
    return msg


@pytest.mark.parametrize("damage", ["meta-garbage", "meta-version", "meta-field", "meta-list", "table-garbage",
                                    "table-missing", "table-columns", "current-outside", "current-missing-gen"])
def test_corrupt_state_files_give_one_clear_message(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "s"
    _committed(root, 0)
    gen = root / "gen-000001"
    meta = json.loads((gen / "meta.json").read_text())
    if damage == "meta-garbage":
        (gen / "meta.json").write_text('{"format_version": 1, "files": {"' + SECRET)
        assert "meta.json" in _message(root)
    elif damage == "meta-version":
        (gen / "meta.json").write_text(json.dumps({**meta, "format_version": 99}))
        assert "format version 99" in _message(root)
    elif damage == "meta-field":
        (gen / "meta.json").write_text(json.dumps({**meta, "rows_seen": SECRET}))
        assert "meta.json" in _message(root)
    elif damage == "meta-list":
        (gen / "meta.json").write_text(json.dumps([SECRET]))
        assert "meta.json" in _message(root)
    elif damage == "table-garbage":
        (gen / "pending.parquet").write_bytes(b"PAR1" + SECRET.encode() + b"PAR1")
        assert "pending.parquet" in _message(root)
    elif damage == "table-missing":
        (gen / "counts.parquet").unlink()
        assert "counts.parquet" in _message(root)
    elif damage == "table-columns":
        pd.DataFrame({"id": [SECRET]}).to_parquet(gen / "orphans.parquet")
        assert "orphans.parquet" in _message(root)
    elif damage == "current-outside":
        (root / "CURRENT").write_text("../../etc\n")
        assert "CURRENT" in _message(root)
    else:
        (root / "CURRENT").write_text("gen-000042\n")
        assert "gen-000042" in _message(root)
