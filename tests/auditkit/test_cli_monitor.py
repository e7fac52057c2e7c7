"""``auditkit monitor``: incremental runs, alerts and exit codes, outputs, the guard, all-or-nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditkit.cli import main

START = pd.Timestamp("2025-01-06", tz="UTC")  # a Monday: week index w is ISO week 2 + w of 2025
FIRST = ("Maria", "James", "Aisha", "Wei", "Olga", "Pedro")
LAST = ("Garcia", "Smith", "Okafor", "Zhang", "Ivanova", "Silva")


def write_weeks(root: Path, weeks: range, *, shift_week: int | None = None, seed: int = 0, fmt: str = "parquet",
                names: bool = False, labels: bool = True) -> None:
    """One log file per week (1,600 rows: F 500, M 1,100), a label file per week."""
    rng = np.random.default_rng(seed)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    for w in weeks:
        sex = np.array(["F"] * 500 + ["M"] * 1100)
        p = np.where((sex == "F") & (shift_week is not None and w >= shift_week), 0.15, 0.35)
        n = len(sex)
        df = pd.DataFrame({
            "request": [f"q{w}-{i}" for i in range(n)],
            "ts": (START + pd.to_timedelta(w * 7 * 86400 + rng.integers(0, 7 * 86400, n), unit="s")).astype(str),
            "sex": sex, "pred": (rng.random(n) < p).astype(int), "score": rng.random(n).round(4),
            "income": rng.normal(50, 10, n).round(2), "region": rng.choice(["north", "south"], n),
        })
        if names:  # a protected column whose labels identify people
            df["owner"] = rng.choice([f"{a} {b}" for a in FIRST for b in LAST], n)
        if fmt == "parquet":
            df.to_parquet(root / "logs" / f"w{w:02d}.parquet")
        else:
            df.to_csv(root / "logs" / f"w{w:02d}.csv", index=False)
        if labels:
            pd.DataFrame({"request": df["request"], "outcome": (rng.random(n) < 0.4).astype(int)}).to_csv(
                root / "labels" / f"l{w:02d}.csv", index=False)


def config(root: Path, extra: str = "", protected: str = '["sex"]', labels: bool = True) -> Path:
    text = f"""
[monitor]
state = "state"
window = "week"
{extra}

[data]
path = "logs"
timestamp = "ts"
prediction = "pred"
score = "score"
protected = {protected}
features = ["income", "region"]
id = "request"
"""
    if labels:
        text += '\n[labels]\npath = "labels"\nid = "request"\nlabel = "outcome"\n'
    text += '\n[report]\nout = "report"\nformats = ["html", "json", "md"]\n'
    path = root / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str) -> int:
    return main(["monitor", *args])


def _current(root: Path) -> str:
    return (root / "state" / "CURRENT").read_text(encoding="utf-8")


def test_a_planted_shift_fails_and_keeps_failing_until_acknowledged(tmp_path: Path, capsys) -> None:
    write_weeks(tmp_path, range(16), shift_week=11)
    cfg = config(tmp_path)
    assert run(str(cfg), "--json", str(tmp_path / "out.json"), "--junit", str(tmp_path / "out.xml")) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "Counted 16 log file(s)" in out
    doc = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    fair = [a for a in doc["alerts"] if a["kind"] == "fairness"]
    assert fair and {a["group"] for a in fair} == {"F"} and {a["status"] for a in fair} == {"new"}
    assert min(a["window_label"] for a in fair) in ("2025-W13", "2025-W14", "2025-W15")
    assert (tmp_path / "report" / "monitor.html").is_file() and (tmp_path / "out.xml").is_file()
    # a second run counts nothing new and still fails: the alerts are open
    assert run(str(cfg), "-q") == 1
    again = json.loads((tmp_path / "report" / "monitor.json").read_text(encoding="utf-8"))
    assert again["metadata"]["run"] == 2
    # acknowledging every fairness alert passes, and the acknowledgement is kept
    ids = [a["id"] for a in fair]
    assert run(str(cfg), "-q", *[x for i in ids for x in ("--acknowledge", i)], "--json",
               str(tmp_path / "ack.json")) == 0
    acked = json.loads((tmp_path / "ack.json").read_text(encoding="utf-8"))
    assert {a["status"] for a in acked["alerts"] if a["id"] in ids} == {"acknowledged"}


def test_a_stable_log_passes_and_new_weeks_are_counted_incrementally(tmp_path: Path, capsys) -> None:
    write_weeks(tmp_path, range(8), seed=4)
    cfg = config(tmp_path)
    assert run(str(cfg), "-q", "--json", str(tmp_path / "a.json")) == 0
    write_weeks(tmp_path, range(8, 10), seed=5)
    capsys.readouterr()
    assert run(str(cfg), "--json", str(tmp_path / "b.json")) == 0
    assert "Counted 2 log file(s): 3,200 rows" in capsys.readouterr().out
    b = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert len(b["windows"]) == 10
    # the same as one run over all ten weeks
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for sub in ("logs", "labels"):
        os.symlink(tmp_path / sub, fresh / sub)
    assert run(str(config(fresh)), "-q", "--json", str(fresh / "c.json")) == 0
    c = json.loads((fresh / "c.json").read_text(encoding="utf-8"))
    assert b["series"] == c["series"] and b["windows"] == c["windows"]


def test_a_changed_log_file_is_refused_and_the_state_is_untouched(tmp_path: Path, capsys) -> None:
    write_weeks(tmp_path, range(4))
    cfg = config(tmp_path)
    assert run(str(cfg), "-q") == 0
    before = _current(tmp_path)
    df = pd.read_parquet(tmp_path / "logs" / "w01.parquet")
    df.iloc[:10].to_parquet(tmp_path / "logs" / "w01.parquet")
    assert run(str(cfg), "-q") == 2
    err = capsys.readouterr().err
    assert "w01.parquet" in err and "append-only" in err and "Traceback" not in err
    assert _current(tmp_path) == before


@pytest.mark.parametrize(("extra", "expected"), [
    ('windw = "week"', "window"),
    ('window = "fortnight"', "day, week, month"),
    ("alpha = 2.0", "alpha"),
    ('timezone = "Mars/Olympus"', "IANA"),
    ('metrics = ["roc_auc"]', "selection_rate"),
    ("horizon = 100000", "horizon"),  # the threshold's simulation would run for hours
    ("alpha = 1e-300", "alpha"),  # too small to calibrate
    ("warmup = 52", "smaller than horizon"),  # could never alarm
    ("window = true", "whole number of rows"),  # a boolean is not a row count
])
def test_config_mistakes_exit_2_naming_the_key(tmp_path: Path, capsys, extra: str, expected: str) -> None:
    write_weeks(tmp_path, range(2))
    cfg = config(tmp_path, extra=extra.replace('window = "week"', ""))
    text = cfg.read_text(encoding="utf-8")
    if extra.startswith("window"):
        text = text.replace('window = "week"\n', "", 1)
    cfg.write_text(text, encoding="utf-8")
    assert run(str(cfg)) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "state").exists()


def test_missing_column_and_missing_path_exit_2(tmp_path: Path, capsys) -> None:
    write_weeks(tmp_path, range(2))
    cfg = config(tmp_path, protected='["gender"]')
    assert run(str(cfg)) == 2
    err = capsys.readouterr().err
    assert "'gender'" in err and "Traceback" not in err
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('path = "logs"', 'path = "nowhere"'), encoding="utf-8")
    assert run(str(cfg)) == 2
    assert "nowhere" in capsys.readouterr().err


def test_identifying_group_labels_are_pseudonymised_in_every_output(tmp_path: Path) -> None:
    write_weeks(tmp_path, range(6), names=True)
    cfg = config(tmp_path, protected='["sex", "owner"]')
    rc = run(str(cfg), "-q", "--json", str(tmp_path / "o.json"), "--junit", str(tmp_path / "o.xml"),
             "--tensorboard", str(tmp_path / "tb"))
    assert rc in (0, 1)
    raw = pd.concat(pd.read_parquet(p) for p in (tmp_path / "logs").glob("*.parquet"))["owner"].unique()
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in
             [tmp_path / "o.json", tmp_path / "o.xml", *(tmp_path / "report").iterdir()]]
    for value in raw:
        assert all(str(value) not in t for t in texts)
        assert all(str(value).split()[1] not in t for t in texts)
    assert "group 1" in texts[0]


def test_the_guard_refusing_leaves_no_output_and_no_commit(tmp_path: Path, monkeypatch, capsys) -> None:
    write_weeks(tmp_path, range(4))
    cfg = config(tmp_path)
    assert run(str(cfg), "-q") == 0
    before = _current(tmp_path)
    write_weeks(tmp_path, range(4, 6))
    import auditkit._monitor_privacy as privacy
    from auditkit.errors import PersonalDataLeakError

    def refuse(*a, **k):
        raise PersonalDataLeakError("refused for the test")

    monkeypatch.setattr(privacy, "guard_outputs", refuse)
    html = (tmp_path / "report" / "monitor.html").read_bytes()
    assert run(str(cfg), "-q") == 3
    assert _current(tmp_path) == before
    assert (tmp_path / "report" / "monitor.html").read_bytes() == html


def test_tensorboard_scalars_are_written_per_window(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    write_weeks(tmp_path, range(6))
    assert run(str(config(tmp_path)), "-q", "--tensorboard", str(tmp_path / "tb")) == 0
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    tag = next(t for t in tags if t.startswith("fairness/selection_rate/sex/F/value"))
    events = acc.Scalars(tag)
    assert len(events) == 6
    log = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "logs").glob("*.parquet")))
    f = log[log["sex"] == "F"]
    week = pd.to_datetime(f["ts"]).dt.isocalendar().week
    expected = f.groupby(week.to_numpy())["pred"].mean().to_numpy()
    assert np.allclose([e.value for e in events], expected, atol=1e-6)


def test_csv_logs_and_row_windows(tmp_path: Path) -> None:
    write_weeks(tmp_path, range(3), fmt="csv", labels=False)
    cfg = config(tmp_path, labels=False)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('window = "week"', "window = 1000"), encoding="utf-8")
    assert run(str(cfg), "-q", "--json", str(tmp_path / "r.json")) == 0
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [w["rows"] for w in doc["windows"]] == [1000, 1000, 1000, 1000, 800]
    assert [w["closed"] for w in doc["windows"]] == [True, True, True, True, False]


def test_help_names_the_options_and_the_config_tables(capsys) -> None:
    assert main(["monitor", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--acknowledge" in out and "[report] out" in out


@pytest.mark.parametrize(("option", "target"), [
    ("--json", "logs/w01.parquet"), ("--junit", "monitor.toml"), ("--json", "labels/l00.csv"),
    ("--json", "state/out.json"), ("--out", "state"), ("--out", "afile"), ("--tensorboard", "afile"),
    ("--json", "logs"),
])
def test_outputs_that_would_overwrite_an_input_or_enter_the_state_are_refused_first(
        tmp_path: Path, capsys, option: str, target: str) -> None:
    write_weeks(tmp_path, range(2))
    cfg = config(tmp_path)
    (tmp_path / "afile").write_text("keep", encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert run(str(cfg), "-q", option, str(tmp_path / target)) == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err
    assert not (tmp_path / "state").exists()  # refused before anything was counted
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_json_and_junit_into_new_folders_are_written(tmp_path: Path) -> None:
    write_weeks(tmp_path, range(2), labels=False)
    assert run(str(config(tmp_path, labels=False)), "-q", "--json", str(tmp_path / "a" / "b" / "o.json"),
               "--junit", str(tmp_path / "c" / "o.xml")) == 0
    assert json.loads((tmp_path / "a" / "b" / "o.json").read_text(encoding="utf-8"))["run"] == 1


def test_alerts_of_kinds_not_in_fail_on_pass_with_a_warning_and_tex_like_labels_chart(tmp_path: Path, capsys) -> None:
    write_weeks(tmp_path, range(14), shift_week=9, labels=False)
    for path in (tmp_path / "logs").glob("*.parquet"):  # a "$...$" label once broke matplotlib's mathtext
        df = pd.read_parquet(path)
        df.assign(sex=df["sex"].map({"F": "F$\\undefined{x}$_1", "M": "M"})).to_parquet(path)
    cfg = config(tmp_path, extra='fail_on = ["calibration"]', labels=False)
    assert run(str(cfg), "-q", "--json", str(tmp_path / "o.json")) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "fail_on" in err and "fairness" in err
    doc = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    assert any(a["kind"] == "fairness" and a["status"] == "new" for a in doc["alerts"])
    html = (tmp_path / "report" / "monitor.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 1 and "undefined" in html


def test_an_alert_whose_metric_is_no_longer_followed_keeps_failing_and_says_why(tmp_path: Path) -> None:
    write_weeks(tmp_path, range(14), shift_week=9, labels=False)
    cfg = config(tmp_path, extra='metrics = ["selection_rate"]', labels=False)
    assert run(str(cfg), "-q") == 1
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('"selection_rate"', '"accuracy"'), encoding="utf-8")
    assert run(str(cfg), "-q", "--json", str(tmp_path / "o.json")) == 1
    alerts = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))["alerts"]
    kept = [a for a in alerts if a["metric"] == "selection_rate"]
    assert kept and all(a["status"] == "open" and "not followed" in a["note"] for a in kept)


def test_labels_that_have_not_arrived_yet_are_not_an_error(tmp_path: Path) -> None:
    write_weeks(tmp_path, range(3), labels=False)
    cfg = config(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('path = "labels"', 'path = "labels/*.csv"'),
                   encoding="utf-8")
    assert run(str(cfg), "-q") == 0
