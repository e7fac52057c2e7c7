"""Windows of the monitor: ISO weeks, days and months in a time zone, row windows, label text."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness._windows import (
    Windowing,
    assign_windows,
    label_text,
    wall_times,
    window_bounds,
    window_label,
)
from auditkit.fairness.errors import FairnessInputError

WEEK, DAY, MONTH = Windowing("week"), Windowing("day"), Windowing("month")


@pytest.mark.parametrize(("day", "expected"), [
    ("2021-01-03", "2020-W53"),   # Sunday ending ISO year 2020's week 53
    ("2021-01-04", "2021-W01"),
    ("2019-12-30", "2020-W01"),   # Monday of 2020-W01, still in calendar 2019
    ("2015-12-31", "2015-W53"),
    ("2016-01-01", "2015-W53"),
    ("2026-01-31", "2026-W05"),
    ("1970-01-01", "1970-W01"),
    ("1969-12-28", "1969-W52"),   # before the epoch: floor division
])
def test_iso_week_known_answers(day: str, expected: str) -> None:
    (w,) = assign_windows([day], WEEK)
    assert window_label(w, WEEK) == expected
    y, k, _ = dt.date.fromisoformat(day).isocalendar()
    assert expected == f"{y}-W{k:02d}"


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)))
def test_labels_match_the_calendar(day: dt.date) -> None:
    ts = pd.Series([pd.Timestamp(day) + pd.Timedelta(hours=13)])
    iso = day.isocalendar()
    assert window_label(assign_windows(ts, WEEK)[0], WEEK) == f"{iso[0]}-W{iso[1]:02d}"
    assert window_label(assign_windows(ts, DAY)[0], DAY) == day.isoformat()
    assert window_label(assign_windows(ts, MONTH)[0], MONTH) == f"{day.year}-{day.month:02d}"
    week = assign_windows(ts, WEEK)[0]
    start, end = window_bounds(week, WEEK)
    assert start.weekday() == 0 and end - start == pd.Timedelta(days=7)
    assert start <= pd.Timestamp(day, tz="UTC") < end


def test_month_index_is_year_times_12_plus_month() -> None:
    assert assign_windows(["2026-01-31T23:59:59"], MONTH).tolist() == [2026 * 12]
    assert window_bounds(2026 * 12 + 11, MONTH) == (pd.Timestamp("2026-12-01", tz="UTC"),
                                                     pd.Timestamp("2027-01-01", tz="UTC"))


def test_a_non_utc_time_zone_moves_rows_across_the_year_boundary() -> None:
    instant = ["2021-01-03T23:30:00Z"]            # Sunday night in UTC, Monday 00:30 in Paris
    paris = Windowing("week", timezone="Europe/Paris")
    assert window_label(assign_windows(instant, WEEK)[0], WEEK) == "2020-W53"
    assert window_label(assign_windows(instant, paris)[0], paris) == "2021-W01"
    ny = Windowing("day", timezone="America/New_York")
    assert window_label(assign_windows(["2021-01-01T03:00:00+00:00"], ny)[0], ny) == "2020-12-31"
    # tz-aware pandas datetimes are converted the same way
    aware = pd.Series(pd.to_datetime(instant, utc=True))
    assert assign_windows(aware, paris).tolist() == assign_windows(instant, paris).tolist()
    # naive values are already wall-clock time in the configured zone
    assert window_label(assign_windows(["2021-01-03T23:30:00"], paris)[0], paris) == "2020-W53"
    start, end = window_bounds(assign_windows(instant, paris)[0], paris)
    assert start == pd.Timestamp("2021-01-03T23:00:00Z") and end == pd.Timestamp("2021-01-10T23:00:00Z")


def test_mixed_offsets_and_naive_text_parse_together() -> None:
    text = ["2021-01-03T23:30:00+02:00", "2021-01-03T23:30:00", "2021-01-04T00:30:00Z"]
    wall = wall_times(pd.Series(text), "UTC")
    assert wall.tolist() == [pd.Timestamp("2021-01-03T21:30"), pd.Timestamp("2021-01-03T23:30"),
                             pd.Timestamp("2021-01-04T00:30")]


def test_row_windows_continue_from_the_offset() -> None:
    rows = Windowing("rows", size=3)
    assert assign_windows(None, rows, row_offset=4, n_rows=5).tolist() == [1, 1, 2, 2, 2]
    assert window_label(0, rows) == "rows 1-3" and window_label(2, rows) == "rows 7-9"
    assert window_bounds(1, rows) is None


def test_bad_timestamps_are_counted_not_quoted() -> None:
    with pytest.raises(FairnessInputError) as err:
        assign_windows(pd.Series(["2021-01-03", "secret-value-17", None]), WEEK, column="when")
    msg = str(err.value)
    assert "'when'" in msg and "2 of 3 rows" in msg and "secret-value-17" not in msg


@pytest.mark.parametrize("values", [[1_600_000_000, 1_600_000_100], [1.6e9, 1.7e9]])
def test_epoch_numbers_are_refused(values: list) -> None:
    with pytest.raises(FairnessInputError, match="epoch numbers"):
        assign_windows(pd.Series(values), DAY, column="ts")


def test_windowing_is_validated() -> None:
    with pytest.raises(FairnessInputError, match="Did you mean 'week'"):
        Windowing("weak")
    with pytest.raises(FairnessInputError, match="positive"):
        Windowing("rows")
    with pytest.raises(FairnessInputError, match="time zone"):
        Windowing("day", timezone="Mars/Olympus")
    assert Windowing.from_dict(Windowing("rows", size=5).to_dict()) == Windowing("rows", size=5)


def test_label_text() -> None:
    assert label_text([1.0, 0, True, "a", None, 2.5, np.nan]).tolist() == ["1", "0", "True", "a", None, "2.5", None]
    assert label_text(np.array([1.0, 2.0, np.nan])).tolist() == ["1", "2", None]
    assert label_text(pd.Series([True, False])).tolist() == ["True", "False"]
    assert label_text(pd.Series([3, 4], dtype="Int64")).tolist() == ["3", "4"]
    assert label_text(pd.Series([3, None], dtype="Int64")).tolist() == ["3", None]
    assert label_text(pd.Series(["x", None, "y"], dtype="category")).tolist() == ["x", None, "y"]
    assert label_text(pd.Series(["x", None])).tolist() == ["x", None]
