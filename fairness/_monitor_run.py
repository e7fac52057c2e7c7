"""One run of the monitor: ingest what is new, evaluate, commit — all or nothing.

:func:`run_monitor` opens (or creates) the state directory, counts the prediction-log files and
label files it has not seen (a file seen before with other content is refused: logs are
append-only), evaluates every closed window (:func:`~auditkit.fairness._monitor.evaluate_monitor`),
carries the alerts, and commits the new state only when everything succeeded — including the
caller's ``before_commit`` check (the CLI renders and guards its outputs there). An error at any
point leaves the state exactly as the last committed run left it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from auditkit.fairness._monitor import (
    Alert,
    MonitorResult,
    MonitorSpec,
    WindowSummary,
    evaluate_monitor,
    score_feature_table,
)
from auditkit.fairness._monitor_counts import LabelColumns, LogColumns
from auditkit.fairness._monitor_io import CHUNK_ROWS, read_chunks
from auditkit.fairness._monitor_state import MonitorState
from auditkit.fairness._windows import Windowing, window_bounds, window_label
from auditkit.fairness.errors import FairnessInputError

__all__ = ["AUTO_DASK_BYTES", "MonitorRun", "choose_engine", "read_chunks", "run_monitor", "window_summaries"]



@dataclass
class MonitorRun:
    """The outcome of :func:`run_monitor`: the result, a summary line per kind of file counted
    (log, labels: counts only, never a value), and what ``before_commit`` returned."""

    result: MonitorResult
    ingested: list[str] = field(default_factory=list)
    prepared: Any = None


def window_summaries(counts: pd.DataFrame, windowing: Windowing, *, now: pd.Timestamp | None = None,
                     close_latest: bool = False, label_completeness: float = 0.9) -> list[WindowSummary]:
    """One :class:`WindowSummary` per window with rows: closed when a later window has rows,
    when its end has passed (calendar windows; ``now`` defaults to the clock), when a row window
    is full, or with ``close_latest``; labels judged when the labelled share reaches
    ``label_completeness``."""
    if counts.empty:
        return []
    per = counts.groupby("window")["n"].sum()
    lab = counts[counts["y_true"].notna()].groupby("window")["n"].sum().reindex(per.index, fill_value=0)
    latest = int(per.index.max())
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    out = []
    for w, rows in per.items():
        w = int(w)
        if w < latest or close_latest:
            closed = True
        elif windowing.kind == "rows":
            closed = int(rows) >= windowing.size
        else:
            bounds = window_bounds(w, windowing)
            closed = bounds is not None and bounds[1] <= now
        share = float(lab.loc[w]) / float(rows) if rows else 0.0
        out.append(WindowSummary(w, window_label(w, windowing), int(rows), share, closed,
                                 closed and share >= label_completeness))
    return out


def _acknowledge(alerts: list[Alert], ids: Sequence[str], run: int) -> list[Alert]:
    known = {a.id for a in alerts}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise FairnessInputError(
            f"--acknowledge names {len(unknown)} alert id(s) the state does not hold "
            f"({', '.join(map(repr, unknown))}); the ids are listed in the alerts table and the JSON output.")
    wanted = set(ids)

    def note(a: Alert) -> str:
        return (f"acknowledged after it was retracted in run {a.changed_run}" if a.status == "retracted"
                else "acknowledged")

    return [dataclasses.replace(a, status="acknowledged", changed_run=run, note=note(a))
            if a.id in wanted and a.status != "acknowledged" else a for a in alerts]


def _ingest(state: MonitorState, files: Sequence[Path], kind: str, needed: list[str], progress: Any,
            ingest: Callable[[Path, Iterator[pd.DataFrame]], Any], text: Sequence[str | None] = ()) -> list[str]:
    summaries = []
    track = progress or (lambda items, description="", total=None: items)
    ids = [c for c in text if c]
    for path in track(list(files), f"Counting {kind} files", len(files)):
        if _new(state, path):
            summaries.append(ingest(path, read_chunks(path, needed, text=ids)))
    if not summaries:
        return []
    return [_log_line(summaries, state) if kind == "log" else _label_line(summaries, state)]


def _tail(state: MonitorState) -> str:
    return (f"; {len(state.pending):,} prediction(s) wait for labels, {len(state.orphans):,} label(s) "
            "for their prediction.")


def _log_line(summaries: Sequence[Any], state: MonitorState) -> str:
    rows = sum(s.rows for s in summaries)
    windows = len({w for s in summaries for w in s.windows})
    text = (f"Counted {len(summaries)} log file(s): {rows:,} rows in {windows} window(s), "
            f"{sum(s.labelled for s in summaries):,} labelled in the log")
    matched = sum(s.orphans_matched for s in summaries)
    return text + (f", {matched:,} matched to earlier labels" if matched else "") + _tail(state)


def _label_line(summaries: Sequence[Any], state: MonitorState) -> str:
    windows = len({w for s in summaries for w in s.windows})
    return (f"Applied {len(summaries)} label file(s): {sum(s.rows for s in summaries):,} labels, "
            f"{sum(s.labelled for s in summaries):,} joined to predictions in {windows} window(s)" + _tail(state))


def run_monitor(state_dir: str | Path, *, predictions: Sequence[Path], labels: Sequence[Path] = (),
                columns: LogColumns, label_columns: LabelColumns | None = None, windowing: Windowing,
                spec: MonitorSpec | None = None, engine: str = "auto", now: pd.Timestamp | None = None,
                close_latest: bool = False, acknowledge: Sequence[str] = (), progress: Any = None,
                before_commit: Callable[[MonitorResult], Any] | None = None) -> MonitorRun:
    """Ingest the new files, evaluate, and commit the state (see the module docstring).

    Parameters
    ----------
    state_dir:
        The monitor's state directory (created on the first run).
    predictions, labels:
        The log's files and the label files, in the order to count them (sorted by the CLI).
    columns, label_columns, windowing, spec:
        The log's columns, the late labels' columns, the windows, and the decision rules.
    engine:
        ``"pandas"`` reads each file in chunks in this process; ``"dask"`` counts the files in
        parallel partitions; ``"auto"`` chooses Dask for logs larger than a memory budget.
    acknowledge:
        Alert ids to mark acknowledged (they stop failing the run and are kept).
    before_commit:
        Called with the result before the state is committed; whatever it returns is kept in
        :attr:`MonitorRun.prepared`. If it raises, nothing is committed.
    """
    spec = spec or MonitorSpec()
    state = MonitorState.open(state_dir, columns=columns, windowing=windowing)
    try:
        lines = _ingest_all(state, predictions, labels, columns, label_columns, engine, progress)
        windows = window_summaries(state.counts, windowing, now=now, close_latest=close_latest,
                                   label_completeness=spec.label_completeness)
        run = len(state.runs) + 1
        previous = _previous_alerts(state)
        settings = _settings_digest(spec)
        changed = bool(state.runs) and state.runs[-1].get("settings") not in (None, settings)
        result = evaluate_monitor(state.counts, state.features, attributes=columns.protected, windows=windows,
                                  spec=spec, previous_alerts=previous, run=run,
                                  score_features=score_feature_table(state.counts, columns.protected),
                                  settings_changed=changed, id_key=state.id_key, min_streams=_largest_families(state))
        result.categories = _categories(state)
        if acknowledge:
            result.alerts = _acknowledge(result.alerts, acknowledge, run)
        prepared = before_commit(result) if before_commit is not None else None
        state.alerts = [a.to_dict() for a in result.alerts]
        state.runs.append({"run": run, "time": pd.Timestamp.now(tz="UTC").isoformat(), "settings": settings,
                           "files": len(lines), "alerts": sum(a.active for a in result.alerts),
                           "streams": dict(result.n_streams)})
        state.commit()
        return MonitorRun(result, lines, prepared)
    finally:
        state.close()


def _settings_digest(spec: MonitorSpec) -> str:
    """A short digest of the decision settings, kept per run to tell a settings change from new data."""
    import hashlib
    import json

    text = json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _previous_alerts(state: MonitorState) -> list[Alert]:
    try:
        return [Alert.from_dict(d) for d in state.alerts]
    except FairnessInputError:
        from auditkit.fairness._monitor_storage import corrupt

        gen = state.directory / str(state.generation)
        raise corrupt(gen / "meta.json", "is damaged (an alert of its history has the wrong form)") from None


def _largest_families(state: MonitorState) -> dict[str, int]:
    """The largest number of streams of each kind an earlier run judged with (never shrinks)."""
    out: dict[str, int] = {}
    for r in state.runs:
        streams = r.get("streams")
        if isinstance(streams, dict):
            for k, v in streams.items():
                if isinstance(v, int) and not isinstance(v, bool):
                    out[str(k)] = max(out.get(str(k), 0), v)
    return out


def _categories(state: MonitorState) -> dict[str, list[str]]:
    bins = state.bins.to_dict() if state.bins is not None else {}
    out = {}
    for feature, spec in (bins.get("features", bins) or {}).items():
        if isinstance(spec, dict) and spec.get("categories"):
            out[str(feature)] = [str(c) for c in spec["categories"]]
    return out


#: ``engine = "auto"`` counts new log files with Dask above this many bytes (and more than one file).
AUTO_DASK_BYTES = 256 * 1024**2


def choose_engine(engine: str, files: Sequence[Path], columns: LogColumns, windowing: Windowing) -> str:
    """``"pandas"`` or ``"dask"`` for counting ``files`` (see :func:`run_monitor`)."""
    if engine not in ("auto", "pandas", "dask"):
        raise FairnessInputError(f"engine must be 'auto', 'pandas' or 'dask'; got {engine!r}.")
    if engine == "pandas":
        return engine
    csv_rows = windowing.kind == "rows" and any(not p.name.lower().endswith((".parquet", ".pq")) for p in files)
    why = ("the log has an id column (late labels are joined file by file)" if columns.id is not None
           else "row windows over CSV files need each file's row count first" if csv_rows else "")
    import importlib.util

    if importlib.util.find_spec("dask") is None:
        why = why or "Dask is not installed (pip install auditkit-rai[dask])"
    if engine == "dask" and why:
        raise FairnessInputError(f"engine = \"dask\" cannot count this log: {why}. Use engine = \"pandas\".")
    if engine == "dask":
        return engine
    big = sum(p.stat().st_size for p in files) > AUTO_DASK_BYTES
    return "dask" if not why and big and len(files) > 1 else "pandas"


def _ingest_all(state: MonitorState, predictions: Sequence[Path], labels: Sequence[Path], columns: LogColumns,
                label_columns: LabelColumns | None, engine: str, progress: Any) -> list[str]:
    needed = columns.required()
    new = [p for p in predictions if _new(state, p)]
    if choose_engine(engine, new, columns, state.windowing) == "dask":
        from auditkit.fairness._monitor_dask import ingest_parallel

        summaries = ingest_parallel(state, new, columns, state.windowing, CHUNK_ROWS, progress)
        lines = [_log_line(summaries, state)] if summaries else []
    else:
        lines = _ingest(state, new, "log", needed, progress, state.ingest_predictions, text=[columns.id])
    if labels:
        if label_columns is None:
            raise FairnessInputError("Label files were given without their columns (label_columns: id and label).")

        def ingest_labels(path: Path, chunks: Iterator[pd.DataFrame]) -> Any:
            return state.ingest_labels(path, pd.concat(list(chunks), ignore_index=True), label_columns)

        lines += _ingest(state, labels, "labels", [label_columns.id, label_columns.label], progress, ingest_labels,
                         text=[label_columns.id])
    return lines


def _new(state: MonitorState, path: Path) -> bool:
    status = state.already_ingested(path)
    if status == "changed":
        raise FairnessInputError(
            f"'{path.name}' was counted by an earlier run and has changed since. Monitor logs are "
            "append-only: write new rows to a new file, or start a new state directory to recount.")
    return status == "new"
