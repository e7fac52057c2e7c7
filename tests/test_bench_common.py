"""benchmarks/_common.py: the timing helper every benchmark shares."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "_common.py"
if not _PATH.is_file():  # the wheel run copies tests/ without the benchmarks
    pytest.skip("reads the checkout's benchmarks/", allow_module_level=True)
_spec = importlib.util.spec_from_file_location("bench_common", _PATH)
assert _spec is not None and _spec.loader is not None
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)


def test_seconds_times_each_call_once() -> None:
    calls: list[int] = []
    times = common.seconds(lambda: calls.append(1), 4)
    assert len(times) == 4 and len(calls) == 4
    assert all(t >= 0 for t in times)


def test_seconds_measures_the_call_not_less() -> None:
    times = common.seconds(lambda: time.sleep(0.02), 2)
    assert min(times) >= 0.02


def test_seconds_of_no_repeats_is_empty() -> None:
    assert common.seconds(lambda: 1 / 0, 0) == []
