"""auditkit.tensorboard_log: what is written is what TensorBoard reads back, and nothing else."""

from __future__ import annotations

import json
import math
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit import tensorboard_log
from auditkit.tensorboard_log import (
    ScalarLog,
    TensorBoardLogError,
    TensorBoardUnavailable,
    clean_tag,
    make_tag,
)

REPO = Path(__file__).resolve().parents[2]


def read_back(logdir: Path) -> dict[str, list[tuple[int, float, float]]]:
    """``tag -> [(step, value, wall_time)]`` as TensorBoard's own reader sees ``logdir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {
        tag: [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }


def f32(x: float) -> float:
    return float(np.float32(x))


def test_scalars_read_back_exactly(tmp_path: Path) -> None:
    values = [0.1, -2.5, 1e-30, 3.0e38, 0.0, 123456.789]
    with ScalarLog(tmp_path / "run") as log:
        for step, v in enumerate(values):
            assert log.scalar("dp/loss", v, step * 10, wall_time=1_700_000_000.25 + step) is True
        assert log.scalars({"a/x": 1.5, "a/y": np.float64(-0.3)}, step=7, wall_time=5.0) == 2
    got = read_back(tmp_path / "run")
    assert set(got) == {"dp/loss", "a/x", "a/y"}
    assert got["dp/loss"] == [
        (step * 10, f32(v), 1_700_000_000.25 + step) for step, v in enumerate(values)
    ]
    assert got["a/x"] == [(7, 1.5, 5.0)] and got["a/y"] == [(7, f32(-0.3), 5.0)]
    assert log.closed and "closed" in repr(log)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=30))
def test_any_float32_round_trips(tmp_path_factory: pytest.TempPathFactory, values: list[float]) -> None:
    d = tmp_path_factory.mktemp("rt")
    with ScalarLog(d) as log:
        for i, v in enumerate(values):
            log.scalar("v", v, i)
    got = read_back(d)["v"]
    assert [(s, v) for s, v, _ in got] == list(enumerate(values))


def test_non_finite_values_are_skipped(tmp_path: Path) -> None:
    with ScalarLog(tmp_path) as log:
        assert log.scalar("m", float("nan"), 1) is False
        assert log.scalar("m", float("inf"), 2) is False
        assert log.scalar("m", 1e39, 3) is False  # finite, but beyond float32: would read as inf
        written = log.scalars({"m": 2.0, "n": float("-inf"), "o": np.nan}, step=4)
        assert written == 1 and log.skipped == 5
        assert log.scalars({"n": float("nan")}, step=5) == 0  # no empty event either
    got = read_back(tmp_path)
    assert set(got) == {"m"} and [(s, v) for s, v, _ in got["m"]] == [(4, 2.0)]


@pytest.mark.parametrize(
    "tag,expected",
    [
        ("dp/loss", "dp/loss"),
        ("fairness/selection rate/age 18-25", "fairness/selection_rate/age_18-25"),
        ("//a//b/", "a/b"),
        ("x:y*z?(1)", "x_y_z__1_"),
        ("Zoë/über.v2", "Zoë/über.v2"),  # letters of any script are TensorBoard word characters
        ("tab\there\nnl", "tab_here_nl"),
    ],
)
def test_clean_tag_known_answers(tag: str, expected: str) -> None:
    assert clean_tag(tag) == expected


def test_make_tag_keeps_a_label_on_one_level() -> None:
    assert make_tag("drift", "psi", "north/east", "age 30+") == "drift/psi/north_east/age_30_"
    assert make_tag("fairness", 3, "", "rate") == "fairness/3/rate"
    with pytest.raises(TensorBoardLogError, match="no non-empty part"):
        make_tag("", "")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5))
def test_tags_are_always_tensorboard_tags(parts: list[str]) -> None:
    tag = make_tag(*parts)
    assert re.fullmatch(r"[-\w.]+(/[-\w.]+)*", tag)
    assert tag.count("/") == len(parts) - 1  # one level per part, whatever the part holds
    assert clean_tag(tag) == tag  # idempotent


def test_written_tags_are_sanitised(tmp_path: Path) -> None:
    with ScalarLog(tmp_path) as log:
        log.scalar("fairness/rate/group A:1", 0.5, 1)
        log.scalar(make_tag("fairness", "rate", "a/b"), 0.25, 1)
    assert set(read_back(tmp_path)) == {"fairness/rate/group_A_1", "fairness/rate/a_b"}


@pytest.mark.parametrize(
    "tag,match", [("", "tag is empty"), ("///", "tag is empty"), ("  ", None), (3, "must be a string; got int")]
)
def test_bad_tag_is_refused_without_echoing_it(tmp_path: Path, tag: object, match: str | None) -> None:
    with ScalarLog(tmp_path) as log:
        if match is None:  # spaces are a tag: they become '_'
            assert log.scalar(tag, 1.0, 0)  # type: ignore[arg-type]
            return
        with pytest.raises(TensorBoardLogError, match=match) as err:
            log.scalar(tag, 1.0, 0)  # type: ignore[arg-type]
    assert "///" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"step": -1}, "non-negative integer"),
        ({"step": True}, "non-negative integer"),
        ({"step": 1.5}, "non-negative integer"),
        ({"value": "0.5"}, "real number; got str"),
        ({"value": None}, "real number; got NoneType"),
        ({"wall_time": float("nan")}, "wall_time"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict, match: str) -> None:
    args = {"tag": "t", "value": 1.0, "step": 0} | kwargs
    with ScalarLog(tmp_path) as log, pytest.raises(TensorBoardLogError, match=match):
        log.scalar(**args)


def test_numpy_and_index_steps_are_accepted(tmp_path: Path) -> None:
    with ScalarLog(tmp_path) as log:
        assert log.scalar("t", np.float32(0.5), np.int64(3))
    assert [(s, v) for s, v, _ in read_back(tmp_path)["t"]] == [(3, 0.5)]


def test_write_after_close_is_refused(tmp_path: Path) -> None:
    log = ScalarLog(tmp_path)
    log.close()
    log.close()  # idempotent
    log.flush()  # nothing to do
    with pytest.raises(TensorBoardLogError, match="closed"):
        log.scalar("t", 1.0, 0)


@pytest.mark.parametrize("suffix", ["a/b", "..\\x", 3])
def test_bad_suffix_is_refused(tmp_path: Path, suffix: object) -> None:
    with pytest.raises(TensorBoardLogError, match="filename_suffix"):
        ScalarLog(tmp_path, filename_suffix=suffix)  # type: ignore[arg-type]


@pytest.mark.parametrize("logdir", ["", 3, None])
def test_bad_logdir_is_refused(logdir: object) -> None:
    with pytest.raises(TensorBoardLogError, match="'logdir' parameter of ScalarLog"):
        ScalarLog(logdir)  # type: ignore[arg-type]


def test_logdir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(TensorBoardLogError, match="not a directory"):
        ScalarLog(tmp_path / "f")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_new_directories_are_private_and_existing_ones_untouched(tmp_path: Path) -> None:
    existing = tmp_path / "shared"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    with ScalarLog(existing / "a" / "b", filename_suffix=".dp") as log:
        pass
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755
    assert stat.S_IMODE((existing / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((existing / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert log.path.parent == existing / "a" / "b"
    assert re.fullmatch(r"events\.out\.tfevents\.\d{10}\..+\.\d+\.\d+\.dp", log.path.name)


def test_an_existing_event_file_is_never_overwritten(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tensorboard_log.time, "time", lambda: 1_700_000_000.0)
    monkeypatch.setattr(tensorboard_log.socket, "gethostname", lambda: "host")
    taken = tmp_path / f"events.out.tfevents.1700000000.host.{os.getpid()}.0"
    taken.write_bytes(b"an earlier run")
    first, second = ScalarLog(tmp_path), ScalarLog(tmp_path)
    first.close()
    second.close()
    assert taken.read_bytes() == b"an earlier run"
    assert [first.path.name[-2:], second.path.name[-2:]] == [".1", ".2"]


def test_importing_the_module_does_not_import_tensorboard() -> None:
    probe = (
        "import sys, json\n"
        "import auditkit.tensorboard_log\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorboard')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=REPO.parent)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_missing_tensorboard_gives_the_install_hint(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "sys.modules['tensorboard'] = None\n"  # as if not installed
        "from auditkit.tensorboard_log import ScalarLog, TensorBoardUnavailable\n"
        "try:\n"
        f"    ScalarLog({str(tmp_path / 'x')!r})\n"
        "except TensorBoardUnavailable as exc:\n"
        "    print(isinstance(exc, ImportError), exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=REPO.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("True ")
    assert "pip install auditkit-rai[monitor]" in proc.stdout and "pip install tensorboard" in proc.stdout
    assert not (tmp_path / "x").exists()  # refused before anything was created
    assert issubclass(TensorBoardUnavailable, ImportError)


def test_float32_limit_constant_is_float32_max() -> None:
    assert tensorboard_log._FLOAT32_MAX == float(np.finfo(np.float32).max)
    assert math.isfinite(tensorboard_log._FLOAT32_MAX)
