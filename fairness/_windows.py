"""Windows of a prediction log, and the one way the monitor turns class labels into text.

A window is an integer (the ``window`` column of every monitor table, ``int64``):

- ``"day"``: days since 1970-01-01 in the configured time zone (UTC by default);
- ``"week"``: ISO weeks, Monday to Sunday: ``(days_since_epoch + 3) // 7`` (1970-01-01 was a
  Thursday, so window 0 is the week of Monday 1969-12-29, ISO week 1970-W01);
- ``"month"``: ``year * 12 + (month - 1)``;
- ``"rows"``: window ``k`` holds rows ``[k * size, (k + 1) * size)`` of the log in ingestion order.

Timestamps are read in the configured IANA time zone: tz-aware values (datetime columns, ISO 8601
strings with an offset or ``Z``) are converted to it; naive values are taken as its wall-clock
time already. Epoch numbers are refused (seconds or milliseconds cannot be told apart); convert
them with ``pd.to_datetime(column, unit=...)`` first. Missing or unparseable timestamps are
refused with the column's name and the number of bad rows, never the values; so are date-times
outside the years 1678-2261 (pandas' nanosecond range: placeholders such as 9999-12-31).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness.errors import FairnessInputError
from auditkit.hints import did_you_mean

__all__ = ["WINDOW_KINDS", "Windowing", "assign_windows", "label_text", "latest_utc",
           "wall_times", "window_bounds", "window_label"]

#: The window kinds, in the order the documentation lists them.
WINDOW_KINDS = ("day", "week", "month", "rows")
_EPOCH = _dt.date(1970, 1, 1)
_OFFSET = re.compile(r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)\s*$")


@dataclass(frozen=True)
class Windowing:
    """How rows of the log are grouped into windows.

    Parameters
    ----------
    kind
        ``"day"``, ``"week"`` (ISO weeks), ``"month"`` or ``"rows"``.
    size
        Rows per window when ``kind == "rows"`` (must then be positive); 0 otherwise.
    timezone
        IANA time zone of calendar windows (``"UTC"``, ``"Europe/Paris"``...).
    """

    kind: str
    size: int = 0
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.kind not in WINDOW_KINDS:
            raise FairnessInputError(
                f"The window kind must be one of {', '.join(WINDOW_KINDS)}; got {self.kind!r}."
                + did_you_mean(str(self.kind), WINDOW_KINDS)
            )
        if self.kind == "rows":
            if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
                raise FairnessInputError(
                    f"Row windows need a positive whole number of rows per window; got {self.size!r}."
                )
        elif self.size not in (0, None):
            raise FairnessInputError(
                f"A window size in rows applies to row windows only; {self.kind!r} windows are "
                "calendar windows. Drop the size or use kind 'rows'."
            )
        try:
            pd.Timestamp("2000-01-01", tz=self.timezone)
        except Exception:
            raise FairnessInputError(
                f"The time zone {self.timezone!r} is not a known IANA time zone name "
                "(examples: 'UTC', 'Europe/Paris', 'America/New_York')."
            ) from None

    @property
    def calendar(self) -> bool:
        """Whether windows are calendar windows (day, week, month)."""
        return self.kind != "rows"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (stored in the monitor state's ``meta.json``)."""
        return {"kind": self.kind, "size": int(self.size or 0), "timezone": self.timezone}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Windowing:
        """Inverse of :meth:`to_dict`."""
        return cls(kind=data["kind"], size=int(data.get("size", 0)), timezone=data.get("timezone", "UTC"))


# --------------------------------------------------------------------------- label text

def _one_text(v: Any) -> str | None:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if f != f:
            return None
        if f.is_integer():
            return str(int(f))
        return str(f)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _float_text(arr: np.ndarray) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    finite = np.isfinite(arr)
    integral = finite & (np.floor(arr) == arr) & (np.abs(arr) < 2.0**62)
    out[integral] = arr[integral].astype(np.int64).astype(str)
    rest = ~integral & ~np.isnan(arr)
    out[rest] = [_one_text(x) for x in arr[rest].tolist()]
    return out


def label_text(values: np.ndarray | pd.Series | pd.Index | list[Any]) -> np.ndarray:
    """Class labels (and group levels, ids) as text: an object array of ``str`` or ``None``.

    Integral floats read as integers (``1.0`` -> ``"1"``), booleans as ``"True"``/``"False"``,
    everything else as ``str(v)``; missing values (None, NaN, NA, NaT) become ``None``. So a
    label written ``1`` in one file and ``1.0`` in another is the same class.

    Examples
    --------
    >>> label_text([1.0, 0, True, "a", None, 2.5]).tolist()
    ['1', '0', 'True', 'a', None, '2.5']
    """
    s = values if isinstance(values, (pd.Series, pd.Index)) else pd.Series(np.asarray(values, dtype=object)
                                                                           if isinstance(values, list)
                                                                           else values)
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(s.cat.codes if isinstance(s, pd.Series) else s.codes)
        cats = np.append(label_text(s.cat.categories if isinstance(s, pd.Series) else s.categories), None)
        return cats[np.where(codes < 0, len(cats) - 1, codes)]
    if dtype.kind == "b" and isinstance(dtype, np.dtype):
        return np.where(s.to_numpy(), "True", "False").astype(object)
    if dtype.kind in "iu" and isinstance(dtype, np.dtype):
        return s.to_numpy().astype(str).astype(object)
    if dtype.kind == "f" and isinstance(dtype, np.dtype):
        return _float_text(s.to_numpy())
    if isinstance(dtype, pd.StringDtype):
        arr = s.to_numpy(dtype=object, na_value=None)
        return arr
    if dtype == np.dtype(object) and pd.api.types.infer_dtype(s, skipna=True) in ("mixed", "mixed-integer"):
        # True == 1 == 1.0 for hashing: factorising would merge them; label each value instead.
        return np.array([_one_text(v) for v in s.tolist()], dtype=object)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    uniq = np.asarray(uniques, dtype=object)
    labels = np.array([_one_text(u) for u in uniq.tolist()] + [None], dtype=object)
    return labels[np.where(codes < 0, len(labels) - 1, codes)]


# --------------------------------------------------------------------------- timestamps

def _bad_rows(column: str, n_bad: int, n: int) -> FairnessInputError:
    return FairnessInputError(
        f"The timestamp column {column!r} has {n_bad} of {n} rows that are missing or not ISO 8601 "
        "date-times (e.g. 2026-01-31T14:05:00 or 2026-01-31T14:05:00+01:00). Fix or drop those "
        "rows, or window by rows instead."
    )


def _parse_strings(s: pd.Series, tz: str) -> pd.Series:
    """Wall-clock times in ``tz`` (naive datetime64) from ISO 8601 text."""
    try:
        parsed = pd.to_datetime(s, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # mixed offsets, or naive and aware text mixed
        text = s.astype(str)
        aware = text.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool, na_value=False)
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
        if aware.any():
            utc = pd.to_datetime(s[aware], format="ISO8601", errors="coerce", utc=True)
            out[aware] = utc.dt.tz_convert(tz).dt.tz_localize(None).astype("datetime64[ns]")
        if (~aware).any():
            naive = pd.to_datetime(s[~aware], format="ISO8601", errors="coerce")
            out[~aware] = naive.astype("datetime64[ns]")
        return out
    return _to_wall(parsed, tz)


def _to_wall(s: pd.Series, tz: str) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert(tz).dt.tz_localize(None)
    return s


def wall_times(timestamps: Any, timezone: str = "UTC", *, column: str = "timestamp") -> pd.Series:
    """Timestamps as naive wall-clock times in ``timezone`` (``datetime64``), validated.

    Parameters
    ----------
    timestamps
        A Series/array of datetimes (naive: already wall-clock time in ``timezone``; tz-aware:
        converted) or ISO 8601 strings (with or without an offset).
    timezone
        IANA time zone of the windows.
    column
        The column's name, for messages.

    Returns
    -------
    pandas.Series
        ``datetime64`` values, naive, with a default index.
    """
    s = timestamps if isinstance(timestamps, pd.Series) else pd.Series(timestamps)
    s = s.reset_index(drop=True)
    n = len(s)
    kind = getattr(s.dtype, "kind", "O")
    if kind in "iufb" or (isinstance(s.dtype, pd.api.extensions.ExtensionDtype)
                          and pd.api.types.is_numeric_dtype(s.dtype)):
        raise FairnessInputError(
            f"The timestamp column {column!r} holds numbers; epoch numbers are ambiguous (seconds? "
            "milliseconds?). Convert it to date-times first (e.g. pd.to_datetime(values, unit='s')) "
            "or store ISO 8601 text."
        )
    try:
        aware = isinstance(s.dtype, pd.DatetimeTZDtype) or kind == "M"
        wall = (_to_wall(s, timezone) if aware else _parse_strings(s, timezone)).astype("datetime64[ns]")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        raise FairnessInputError(
            f"The timestamp column {column!r} has date-times outside the years 1678 to 2261 that the monitor "
            "can window (a placeholder such as 9999-12-31 or 0001-01-01?). Fix or drop those rows."
        ) from None
    n_bad = int(wall.isna().sum())
    if n_bad:
        raise _bad_rows(column, n_bad, n)
    return wall


def latest_utc(wall: pd.Series, timezone: str = "UTC") -> pd.Timestamp | None:
    """The latest of wall-clock times in ``timezone``, as a UTC timestamp (None if empty)."""
    if len(wall) == 0:
        return None
    top = pd.Timestamp(wall.max())
    return top.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")


def assign_windows(
    timestamps: Any,
    windowing: Windowing,
    *,
    row_offset: int = 0,
    n_rows: int | None = None,
    column: str = "timestamp",
) -> np.ndarray:
    """The window index (``int64``) of each row.

    Parameters
    ----------
    timestamps
        The timestamp column (see :func:`wall_times`), or wall-clock times it returned; may be
        None for row windows.
    windowing
        The windows.
    row_offset
        For row windows: the number of log rows ingested before these.
    n_rows
        For row windows without timestamps: the number of rows.
    column
        The timestamp column's name, for messages.

    Examples
    --------
    >>> assign_windows(["2021-01-03", "2021-01-04"], Windowing("week")).tolist()
    [2661, 2662]
    """
    if windowing.kind == "rows":
        n = n_rows if n_rows is not None else len(timestamps)
        return (np.arange(n, dtype=np.int64) + int(row_offset)) // int(windowing.size)
    if timestamps is None:
        raise FairnessInputError(
            f"{windowing.kind.capitalize()} windows need a timestamp column; name one, or window by rows."
        )
    wall = wall_times(timestamps, windowing.timezone, column=column)
    values = wall.to_numpy(dtype="datetime64[ns]")
    if windowing.kind == "month":
        return values.astype("datetime64[M]").astype(np.int64) + 1970 * 12
    days = values.astype("datetime64[D]").astype(np.int64)
    if windowing.kind == "day":
        return days
    return (days + 3) // 7


def _day_date(days: int) -> _dt.date:
    return _EPOCH + _dt.timedelta(days=int(days))


def _window_start(index: int, windowing: Windowing) -> tuple[_dt.date, _dt.date]:
    if windowing.kind == "day":
        start = _day_date(index)
        return start, start + _dt.timedelta(days=1)
    if windowing.kind == "week":
        start = _day_date(index * 7 - 3)
        return start, start + _dt.timedelta(days=7)
    year, month = divmod(int(index), 12)
    nxt = _dt.date(year + 1, 1, 1) if month == 11 else _dt.date(year, month + 2, 1)
    return _dt.date(year, month + 1, 1), nxt


def window_label(index: int, windowing: Windowing) -> str:
    """A window's name: ``"2026-W05"``, ``"2026-01-31"``, ``"2026-01"`` or ``"rows 1-10000"``.

    Examples
    --------
    >>> window_label(2661, Windowing("week"))
    '2020-W53'
    >>> window_label(0, Windowing("rows", size=100))
    'rows 1-100'
    """
    index = int(index)
    if windowing.kind == "rows":
        return f"rows {index * windowing.size + 1}-{(index + 1) * windowing.size}"
    start, _ = _window_start(index, windowing)
    if windowing.kind == "day":
        return start.isoformat()
    if windowing.kind == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def window_bounds(index: int, windowing: Windowing) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The UTC instants ``[start, end)`` of a calendar window; None for row windows."""
    if windowing.kind == "rows":
        return None
    start, end = _window_start(int(index), windowing)

    def utc(day: _dt.date) -> pd.Timestamp:
        local = pd.Timestamp(day).tz_localize(windowing.timezone, ambiguous=True, nonexistent="shift_forward")
        return local.tz_convert("UTC")

    return utc(start), utc(end)
