"""``monitor.toml``: the configuration of ``auditkit monitor``, as pydantic models.

Tables: ``[monitor]`` (state directory, windows, decision rules), ``[data]`` (the prediction
log and the roles of its columns), ``[labels]`` (late labels joined by id, optional),
``[drift]`` (reference windows and thresholds) and ``[report]`` (the trend report). Unknown keys
are refused with the closest valid one, as in ``audit.toml``. Relative paths are relative to the
file. ``docs/monitoring.md`` documents every key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from auditkit.config import ReportConfig, _format_error
from auditkit.errors import ConfigError
from auditkit.toml_files import read_toml

__all__ = ["MonitorConfig", "load_monitor_config"]

_WINDOW_KINDS = ("day", "week", "month")
#: The longest horizon accepted (windows over which false alarms are controlled).
MAX_HORIZON = 1000
_RANGE = re.compile(r"^(\d+)\s*(?:\.\.|-)\s*(\d+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MonitorTable(_Model):
    """``[monitor]``: where the state lives and how windows and alerts are decided."""

    state: str = "monitor-state"
    #: "day", "week" (ISO weeks, Monday start) or "month"; or a number of rows per window.
    window: str | int = "week"
    timezone: str = "UTC"
    metrics: list[str] = Field(default_factory=lambda: ["selection_rate", "true_positive_rate",
                                                        "false_positive_rate"])
    #: The threshold is simulated over the horizon: its cost grows with it (1,000 windows is
    #: almost three years of daily windows and takes about ten seconds per kind of stream).
    horizon: int = Field(default=52, ge=2, le=MAX_HORIZON)
    #: Below 1e-4 the per-stream false-alarm probability cannot be calibrated by simulation.
    alpha: float = Field(default=0.04, ge=1e-4, lt=1.0)
    k: float | None = Field(default=None, gt=0.0, le=10.0)
    warmup: int | None = Field(default=None, ge=1, le=1000)
    label_completeness: float = Field(default=0.9, gt=0.0, le=1.0)
    n_boot: int = Field(default=500, ge=100, le=100_000)
    min_group_size: int = Field(default=30, ge=1)
    min_denominator: int = Field(default=30, ge=1)
    intersectional: bool = False
    calibration: bool = True
    fail_on: list[str] = Field(default_factory=lambda: ["fairness"])
    engine: str = "auto"

    @field_validator("warmup")
    @classmethod
    def _warmup_below_horizon(cls, v: int | None, info: ValidationInfo) -> int | None:
        horizon = info.data.get("horizon")
        if v is not None and horizon is not None and v >= horizon:
            raise ConfigError(f"must be smaller than horizon ({horizon}): the detector could never raise an alert "
                              "within the horizon. Lower warmup")
        return v

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, v: Any) -> str | int:
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ConfigError("must be a calendar period (day, week, month) or a positive whole number of rows")
        if isinstance(v, int):
            if v < 1:
                raise ConfigError("must be a calendar period (day, week, month) or a positive number of rows")
            return v
        if v not in _WINDOW_KINDS:
            raise ConfigError(f"must be one of {', '.join(_WINDOW_KINDS)}, or a number of rows per window")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("must be an IANA time zone name such as 'UTC' or 'Europe/Paris'") from None
        return v

    @field_validator("engine")
    @classmethod
    def _engine(cls, v: str) -> str:
        if v not in ("auto", "pandas", "dask"):
            raise ConfigError("must be 'auto', 'pandas' or 'dask'")
        return v


class LogTable(_Model):
    """``[data]``: the prediction log (a file, a glob, or a directory of CSV/Parquet files)."""

    path: str
    timestamp: str | None = None
    prediction: str
    score: str | None = None
    protected: list[str] = Field(min_length=1)
    features: list[str] = Field(default_factory=list)
    id: str | None = None
    label: str | None = None
    positive_label: str | int | float | bool | None = None
    favourable_label: str | int | float | bool | None = None
    personal: list[str] = Field(default_factory=list)


class LabelsTable(_Model):
    """``[labels]``: labels that arrive later, joined to the log by id."""

    path: str
    id: str
    label: str


class DriftTable(_Model):
    """``[drift]``: the reference windows and the drift decision."""

    #: "first:N" (the first N windows with rows), "previous", or "A..B" (window indices).
    reference: str = "first:4"
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    psi_threshold: float = Field(default=0.2, gt=0.0)
    min_rows: int = Field(default=100, ge=1)

    @field_validator("reference")
    @classmethod
    def _reference(cls, v: str) -> str:
        if v == "previous" or _RANGE.match(v):
            return v
        if v.startswith("first:") and v[6:].isdigit() and int(v[6:]) >= 1:
            return v
        raise ConfigError("must be 'first:N' (N >= 1), 'previous', or a range of window indices 'A..B'")


class MonitorReportTable(ReportConfig):
    """``[report]``: as in ``audit.toml``; the trend report is written there."""

    out: str = "monitor-report"
    basename: str = "monitor"
    formats: list[str] = Field(default_factory=lambda: ["html", "json"])


class MonitorConfig(_Model):
    """The whole ``monitor.toml``."""

    monitor: MonitorTable = Field(default_factory=MonitorTable)
    data: LogTable
    labels: LabelsTable | None = None
    drift: DriftTable = Field(default_factory=DriftTable)
    report: MonitorReportTable = Field(default_factory=MonitorReportTable)
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, path: str) -> Path:
        """``path`` relative to the configuration file's directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def parse_monitor_config(raw: dict[str, Any], *, source: str = "monitor.toml", base_dir: Path | None = None) -> MonitorConfig:
    """Validate a parsed ``monitor.toml`` document."""
    if "base_dir" in raw:
        raise ConfigError(f"{source}: unknown key 'base_dir'. Remove it.")
    try:
        cfg = MonitorConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        valid = _valid_keys(tuple(err.get("loc", ())))
        raise ConfigError(_format_error(source, err, valid)) from None
    return cfg.model_copy(update={"base_dir": base_dir or Path(".")})


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    tables = {"monitor": MonitorTable, "data": LogTable, "labels": LabelsTable, "drift": DriftTable,
              "report": MonitorReportTable}
    if len(loc) >= 2 and loc[0] in tables:
        return list(tables[loc[0]].model_fields)
    return [k for k in MonitorConfig.model_fields if k != "base_dir"]


def load_monitor_config(path: str | Path) -> MonitorConfig:
    """Read and validate ``monitor.toml`` (one :class:`ConfigError` naming the key otherwise)."""
    p = Path(path)
    raw = read_toml(p, error=ConfigError, what="monitor configuration file",
                    fix="Pass the path of a monitor.toml; docs/monitoring.md shows one.")
    return parse_monitor_config(raw, source=str(p), base_dir=p.resolve().parent)
