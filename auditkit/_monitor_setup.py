"""From a validated ``monitor.toml`` to the arguments of :func:`auditkit.fairness.run_monitor`."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from auditkit.errors import ConfigError, DataError

__all__ = ["check_output_paths", "input_files", "monitor_arguments"]

#: File types a prediction or label log may be made of.
LOG_SUFFIXES = (".csv", ".parquet", ".pq")


def _plain(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def input_files(cfg: Any, path: str, what: str, *, may_be_empty: bool = False) -> list[Path]:
    """The files of a log: one file, a glob, or a directory (searched recursively), sorted.

    With ``may_be_empty`` (late labels, which may not exist yet) a glob or directory that holds
    no file yet gives an empty list instead of an error."""
    resolved = cfg.resolve(path)
    text = str(resolved)
    if any(ch in path for ch in "*?["):
        files = [Path(p) for p in glob.glob(text, recursive=True)]
    elif resolved.is_dir():
        files = [p for p in resolved.rglob("*")]
    elif resolved.is_file():
        files = [resolved]
    elif may_be_empty:
        files = []
    else:
        raise DataError(f"The {what} path '{path}' does not exist (resolved against the monitor.toml's "
                        "directory). Point it at a file, a glob or a directory of CSV/Parquet files.")
    files = sorted(p for p in files if p.is_file() and p.name.lower().endswith(LOG_SUFFIXES)
                   and not p.name.startswith("."))
    if not files and not may_be_empty:
        raise DataError(f"The {what} path '{path}' holds no .csv or .parquet file. Point it at the log's files.")
    return files


def _reference(text: str) -> Any:
    from auditkit.fairness import ReferenceSpec

    if text == "previous":
        return ReferenceSpec(kind="previous")
    if text.startswith("first:"):
        return ReferenceSpec(kind="first", n=int(text[6:]))
    start, end = (int(x) for x in text.replace("..", " ").replace("-", " ").split())
    if end < start:
        raise ConfigError(f"[drift] reference '{text}' ends before it starts; write the smaller index first.")
    return ReferenceSpec(kind="range", start=start, end=end)


def _spec(cfg: Any) -> Any:
    from auditkit.fairness import DetectorSpec, MonitorSpec

    m, d = cfg.monitor, cfg.drift
    det_kwargs: dict[str, Any] = {"horizon": m.horizon, "alpha": m.alpha}
    if m.k is not None:
        det_kwargs["k"] = m.k
    if m.warmup is not None:
        det_kwargs["warmup"] = m.warmup
    try:
        return MonitorSpec(
            metrics=tuple(m.metrics), positive_label=_plain(cfg.data.positive_label),
            favourable_label=_plain(cfg.data.favourable_label), detector=DetectorSpec(**det_kwargs),
            reference=_reference(d.reference), drift_alpha=d.alpha, psi_threshold=d.psi_threshold,
            drift_min_rows=d.min_rows, label_completeness=m.label_completeness, n_boot=m.n_boot,
            min_group_size=m.min_group_size, min_denominator=m.min_denominator,
            intersectional=m.intersectional, calibration=m.calibration, fail_on=tuple(m.fail_on))
    except Exception as exc:  # the domain's own input errors, named as config problems
        from auditkit.errors import is_user_error

        if is_user_error(exc):
            raise ConfigError(f"[monitor]: {exc}") from None
        raise


def monitor_arguments(cfg: Any) -> dict[str, Any]:
    """Keyword arguments of :func:`auditkit.fairness.run_monitor` for ``cfg``."""
    from auditkit.fairness import LabelColumns, LogColumns, Windowing

    data = cfg.data
    window = cfg.monitor.window
    if isinstance(window, int):
        windowing = Windowing(kind="rows", size=window, timezone=cfg.monitor.timezone)
    else:
        if not data.timestamp:
            raise ConfigError("[data] timestamp is required for calendar windows; name the timestamp column, "
                              "or set [monitor] window to a number of rows.")
        windowing = Windowing(kind=window, timezone=cfg.monitor.timezone)
    columns = LogColumns(timestamp=data.timestamp, prediction=data.prediction, protected=tuple(data.protected),
                         score=data.score, features=tuple(data.features), id=data.id, label=data.label)
    labels = None
    label_files: list[Path] = []
    if cfg.labels is not None:
        if not data.id:
            raise ConfigError("[labels] joins labels by id: set [data] id to the log's id column.")
        labels = LabelColumns(id=cfg.labels.id, label=cfg.labels.label)
        label_files = input_files(cfg, cfg.labels.path, "[labels]", may_be_empty=True)
    return {
        "state_dir": cfg.resolve(cfg.monitor.state),
        "predictions": input_files(cfg, data.path, "[data]"),
        "labels": label_files,
        "columns": columns,
        "label_columns": labels,
        "windowing": windowing,
        "spec": _spec(cfg),
        "engine": cfg.monitor.engine,
    }


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_output_paths(args: dict[str, Any], config: Path, *, files: list[tuple[str, Path]],
                       directories: list[tuple[str, Path]]) -> None:
    """Refuse, before anything is counted, outputs that would overwrite an input (a log file, a
    labels file, the configuration), land in the state directory, or cannot be written where
    they are named (a directory named as a file, a file named as a directory).

    ``files`` and ``directories`` are (option, path) pairs, e.g. ``("--json", path)``.
    """
    state = Path(args["state_dir"]).resolve()
    inputs = {Path(p).resolve() for p in [*args["predictions"], *args["labels"], config]}
    for what, path in [*files, *directories]:
        resolved = path.resolve()
        if _inside(resolved, state):
            raise ConfigError(f"{what} '{path}' is inside the monitor's state directory {args['state_dir']}; "
                              "write outputs elsewhere (the state holds only what the monitor manages).")
        if resolved in inputs:
            raise ConfigError(f"{what} '{path}' is an input of the monitor (a log, labels or configuration file); "
                              "no input is ever overwritten. Name another path.")
        nearest = next((p for p in (resolved, *resolved.parents) if p.exists()), None)
        is_dir = (what, path) in directories
        if nearest == resolved and resolved.is_dir() != is_dir:
            raise ConfigError(f"{what} '{path}' is {'a file' if is_dir else 'a directory'}; name "
                              f"{'a directory' if is_dir else 'a file'}.")
        if nearest is not None and nearest != resolved and not nearest.is_dir():
            raise ConfigError(f"{what} '{path}' cannot be created: '{nearest}' is a file, not a directory.")
