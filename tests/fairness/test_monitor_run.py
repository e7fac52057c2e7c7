"""fairness._monitor_run: ingest, evaluate and commit; engines; late labels and retraction; real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditkit.fairness import LabelColumns, LogColumns, MonitorSpec, Windowing, run_monitor
from auditkit.fairness._monitor_io import read_chunks
from auditkit.fairness._monitor_run import choose_engine, window_summaries
from auditkit.fairness.errors import FairnessInputError

START = pd.Timestamp("2025-01-06", tz="UTC")


def _log(weeks: range, seed: int = 0, rows: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for w in weeks:
        parts.append(pd.DataFrame({
            "ts": START + pd.to_timedelta(w * 7 * 86400 + rng.integers(0, 7 * 86400, rows), unit="s"),
            "sex": rng.choice(["F", "M"], rows, p=[0.4, 0.6]), "race": rng.choice(["a", "b", "c"], rows),
            "pred": rng.integers(0, 2, rows), "score": rng.random(rows), "age": rng.normal(40, 9, rows),
            "job": rng.choice(["x", "y", "z"], rows),
        }))
    return pd.concat(parts, ignore_index=True)


COLS = LogColumns(timestamp="ts", prediction="pred", protected=("sex", "race"), score="score",
                  features=("age", "job"))


def _write(tmp_path, df: pd.DataFrame, n_files: int) -> list:
    (tmp_path / "logs").mkdir(exist_ok=True)
    files = []
    for i, part in enumerate(np.array_split(np.arange(len(df)), n_files)):
        p = tmp_path / "logs" / f"part{i:03d}.parquet"
        df.iloc[part].to_parquet(p)
        files.append(p)
    return files


@pytest.mark.parametrize("windowing", [Windowing(kind="week"), Windowing(kind="rows", size=1000)])
def test_dask_engine_equals_file_by_file(tmp_path, windowing: Windowing) -> None:
    pytest.importorskip("dask")
    files = _write(tmp_path, _log(range(6)), 7)
    spec = MonitorSpec(metrics=("selection_rate",))
    a = run_monitor(tmp_path / "s1", predictions=files, columns=COLS, windowing=windowing, spec=spec,
                    engine="pandas").result
    b = run_monitor(tmp_path / "s2", predictions=files, columns=COLS, windowing=windowing, spec=spec,
                    engine="dask").result
    pd.testing.assert_frame_equal(a.series, b.series)
    pd.testing.assert_frame_equal(a.drift, b.drift)
    assert [x.id for x in a.alerts] == [x.id for x in b.alerts]


def test_engine_choice_and_refusals(tmp_path) -> None:
    files = _write(tmp_path, _log(range(1)), 2)
    assert choose_engine("pandas", files, COLS, Windowing(kind="week")) == "pandas"
    assert choose_engine("auto", files, COLS, Windowing(kind="week")) == "pandas"  # small: no Dask
    with_id = LogColumns(timestamp="ts", prediction="pred", protected=("sex",), id="ts")
    with pytest.raises(FairnessInputError, match="id column"):
        choose_engine("dask", files, with_id, Windowing(kind="week"))
    with pytest.raises(FairnessInputError, match="engine"):
        choose_engine("spark", files, COLS, Windowing(kind="week"))


def test_window_closure_rules() -> None:
    counts = pd.DataFrame({"window": [2900, 2901], "n": [10, 5], "y_true": [None, "1"]})
    week = Windowing(kind="week")
    open_now = window_summaries(counts, week, now=pd.Timestamp("2025-07-01", tz="UTC"))
    assert [w.closed for w in open_now] == [True, False]
    later = window_summaries(counts, week, now=pd.Timestamp("2030-01-01", tz="UTC"))
    assert [w.closed for w in later] == [True, True]
    assert [w.labels_judged for w in later] == [False, True]
    forced = window_summaries(counts, week, now=pd.Timestamp("2025-07-01", tz="UTC"), close_latest=True)
    assert all(w.closed for w in forced)
    rows = window_summaries(counts, Windowing(kind="rows", size=10))
    assert [w.closed for w in rows] == [True, False]


def test_unreadable_files_are_named_without_their_content(tmp_path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 secret-value-123 not a parquet file")
    with pytest.raises(FairnessInputError) as err:
        list(read_chunks(bad, ["a"]))
    assert "bad.parquet" in str(err.value) and "secret" not in str(err.value)
    csv = tmp_path / "log.csv"
    csv.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(FairnessInputError, match="'c'"):
        list(read_chunks(csv, ["a", "c"]))


def test_late_labels_can_retract_an_alert(tmp_path) -> None:
    """Week 8's first labels make group F's true positive rate look collapsed; the rest of its
    labels restore it. The alert raised on the partial labels is kept, marked retracted."""
    rng = np.random.default_rng(3)
    rows, logs, labels_early, labels_late = 1000, [], [], []
    for w in range(10):
        sex = np.array(["F"] * 400 + ["M"] * 600)
        y = (rng.random(rows) < 0.5).astype(int)
        pred = np.where(rng.random(rows) < 0.8, y, 1 - y)
        ids = [f"{w}-{i}" for i in range(rows)]
        ts = START + pd.to_timedelta(w * 7 * 86400 + rng.integers(0, 7 * 86400, rows), unit="s")
        logs.append(pd.DataFrame({"id": ids, "ts": ts, "sex": sex, "pred": pred}))
        lab = pd.DataFrame({"id": ids, "y": y})
        if w == 8:  # first the F rows predicted 0 with y = 1 and the M rows: F's TPR looks ~0
            first = ((sex == "F") & (pred == 0) & (y == 1)) | (sex == "M") | ((sex == "F") & (y == 0))
            labels_early.append(lab[first])
            labels_late.append(lab[~first])
        else:
            labels_early.append(lab)
    (tmp_path / "logs").mkdir()
    pd.concat(logs).to_parquet(tmp_path / "logs" / "log.parquet")
    pd.concat(labels_early).to_csv(tmp_path / "early.csv", index=False)
    pd.concat(labels_late).to_csv(tmp_path / "late.csv", index=False)
    cols = LogColumns(timestamp="ts", prediction="pred", protected=("sex",), id="id")
    spec = MonitorSpec(metrics=("true_positive_rate",), label_completeness=0.6, calibration=False)
    common = dict(columns=cols, label_columns=LabelColumns(id="id", label="y"), windowing=Windowing(kind="week"),
                  spec=spec)
    first = run_monitor(tmp_path / "state", predictions=[tmp_path / "logs" / "log.parquet"],
                        labels=[tmp_path / "early.csv"], **common).result
    raised = [a for a in first.alerts if a.kind == "fairness"]
    assert raised and raised[0].window_label == "2025-W10" and raised[0].status == "new"
    second = run_monitor(tmp_path / "state", predictions=[tmp_path / "logs" / "log.parquet"],
                         labels=[tmp_path / "early.csv", tmp_path / "late.csv"], **common).result
    after = {a.id: a for a in second.alerts}
    assert after[raised[0].id].status == "retracted" and after[raised[0].id].changed_run == 2
    assert second.exit_code == 0


def test_compas_monthly_rates_equal_brute_force_and_late_labels_equal_inline(shared_datasets, tmp_path) -> None:
    """COMPAS as a prediction log: screening date, decile score >= 5 as "high risk", race and sex;
    two-year recidivism arriving later by id."""
    raw = pd.read_csv(shared_datasets / "compas" / "compas-scores-two-years.csv")
    log = pd.DataFrame({"case": raw["id"].astype(str), "ts": raw["compas_screening_date"], "race": raw["race"],
                        "sex": raw["sex"], "high": (raw["decile_score"] >= 5).astype(int),
                        "y": raw["two_year_recid"]})
    (tmp_path / "logs").mkdir()
    log.drop(columns="y").to_csv(tmp_path / "logs" / "log.csv", index=False)
    log[["case", "y"]].to_csv(tmp_path / "labels.csv", index=False)
    log.to_csv(tmp_path / "inline.csv", index=False)
    month = Windowing(kind="month")
    spec = MonitorSpec(metrics=("selection_rate", "false_positive_rate"), calibration=False)
    late = run_monitor(tmp_path / "late", predictions=[tmp_path / "logs" / "log.csv"], labels=[tmp_path / "labels.csv"],
                       columns=LogColumns(timestamp="ts", prediction="high", protected=("race", "sex"), id="case"),
                       label_columns=LabelColumns(id="case", label="y"), windowing=month, spec=spec).result
    inline = run_monitor(tmp_path / "inline", predictions=[tmp_path / "inline.csv"],
                         columns=LogColumns(timestamp="ts", prediction="high", protected=("race", "sex"), label="y"),
                         windowing=month, spec=spec).result
    pd.testing.assert_frame_equal(late.series, inline.series)
    assert len(late.windows) == 24
    m = pd.to_datetime(log["ts"]).dt.year * 12 + pd.to_datetime(log["ts"]).dt.month - 1
    s = late.series[(late.series["kind"] == "fairness") & (late.series["grouping"] == "race")]
    for r in s[s["metric"] == "selection_rate"].itertuples():
        d = log[m == r.window]
        assert r.value == pytest.approx(d.loc[d.race == r.group, "high"].mean(), abs=1e-12, nan_ok=True)
        assert r.rest_value == pytest.approx(d.loc[d.race != r.group, "high"].mean(), abs=1e-12)
    for r in s[s["metric"] == "false_positive_rate"].itertuples():
        d = log[(m == r.window) & (log.y == 0)]
        assert r.value == pytest.approx(d.loc[d.race == r.group, "high"].mean(), abs=1e-12, nan_ok=True)
    # groups under the evidence rule (Asian, Native American: a handful a month) are never judged
    small = s[s["group"].isin(["Asian", "Native American"])]
    assert not small["usable"].any()


def test_seen_files_are_not_read_again_and_ids_are_keyed_per_state(tmp_path, monkeypatch) -> None:
    import auditkit.fairness._monitor_state as state_module

    files = _write(tmp_path, _log(range(3)), 3)
    spec = MonitorSpec(metrics=("selection_rate",), disparities=False)
    first = run_monitor(tmp_path / "s", predictions=files, columns=COLS, windowing=Windowing(kind="week"), spec=spec)
    calls = []
    real = state_module.fingerprint
    monkeypatch.setattr(state_module, "fingerprint", lambda p: calls.append(p) or real(p))
    again = run_monitor(tmp_path / "s", predictions=files, columns=COLS, windowing=Windowing(kind="week"), spec=spec)
    assert calls == [] and again.ingested == []  # unchanged files: neither hashed nor counted
    run_monitor(tmp_path / "t", predictions=files, columns=COLS, windowing=Windowing(kind="week"), spec=spec)
    from auditkit.fairness._monitor import alert_id

    keys = []
    for name in ("s", "t"):
        with state_module.MonitorState.open(tmp_path / name, columns=COLS, windowing=Windowing(kind="week")) as st:
            keys.append(st.id_key)
    assert keys[0] != keys[1] and len(keys[0]) == 32
    with state_module.MonitorState.open(tmp_path / "s", columns=COLS, windowing=Windowing(kind="week")) as st:
        assert st.id_key == keys[0]  # kept across runs: ids are stable within a state
    ids = {alert_id("fairness", "selection_rate", "sex", "F", 2900, k) for k in (*keys, "")}
    assert len(ids) == 3 and first.result is not None


def test_the_family_of_streams_never_shrinks_between_runs(tmp_path) -> None:
    files = _write(tmp_path, _log(range(4)), 4)
    spec = MonitorSpec(metrics=("selection_rate",), disparities=False)
    wide = LogColumns(timestamp="ts", prediction="pred", protected=("sex", "race"))
    first = run_monitor(tmp_path / "s", predictions=files[:2], columns=wide, windowing=Windowing(kind="week"),
                        spec=spec).result
    small = MonitorSpec(metrics=("selection_rate",), disparities=False, min_group_size=10**6)  # nothing usable
    later = run_monitor(tmp_path / "s", predictions=files, columns=wide, windowing=Windowing(kind="week"),
                        spec=small).result
    assert later.n_streams["fairness"] >= first.n_streams["fairness"] > 0
