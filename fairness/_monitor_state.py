"""The monitor's state directory: per-window tables that survive crashes and are never half-written.

Layout (see docs/monitoring.md, "State directory")::

    state/
      LOCK            taken with flock(LOCK_EX | LOCK_NB) by the one run allowed at a time
      CURRENT         "gen-000007" — the committed generation (replaced atomically)
      gen-000007/     counts.parquet features.parquet pending.parquet orphans.parquet meta.json

:meth:`MonitorState.commit` writes a complete new generation into a temporary directory, syncs it,
renames it into place, then switches ``CURRENT`` atomically and removes the old generation: a crash
at any point leaves the last committed generation readable. State files are read as hostile input:
anything unreadable is refused with one :class:`FairnessInputError` naming the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditkit.atomic import atomic_write_text, sweep_stale
from auditkit.fairness import _monitor_storage as store
from auditkit.fairness._monitor_counts import (
    FEATURE_KEYS,
    BatchCounts,
    FeatureBins,
    LabelColumns,
    LogColumns,
    canonical,
    count_batch,
    count_keys,
    empty_counts,
    empty_features,
    empty_orphans,
    empty_pending,
    join_labels,
    merge_tables,
)
from auditkit.fairness._monitor_storage import (
    FORMAT_VERSION,
    GEN_NAME,
    TMP_NAME,
    corrupt,
    fingerprint,
)
from auditkit.fairness._windows import Windowing
from auditkit.fairness.errors import FairnessInputError

__all__ = ["FORMAT_VERSION", "IngestSummary", "MonitorState", "fingerprint"]

TABLES = ("counts", "features", "pending", "orphans")


@dataclass(frozen=True)
class IngestSummary:
    """What one ingested file changed."""

    rows: int
    windows: tuple[int, ...]
    labelled: int
    pending: int
    orphans_matched: int
    orphans: int = 0

    def __str__(self) -> str:
        text = (f"{self.rows} rows, {len(self.windows)} window(s), {self.labelled} labelled, "
                f"{self.pending} waiting for labels")
        if self.orphans_matched:
            text += f", {self.orphans_matched} earlier label(s) matched"
        if self.orphans:
            text += f", {self.orphans} label(s) without their prediction yet"
        return text


class MonitorState:
    """A state directory holding the counts, features, pending and orphans tables, and meta (JSON).

    Open it with :meth:`open` (which takes the directory's lock), ingest files, then
    :meth:`commit`; :meth:`close` releases the lock and discards what was not committed.

    Attributes
    ----------
    counts, features, pending, orphans : pandas.DataFrame
        The tables (see :mod:`auditkit.fairness._monitor_counts`).
    bins : FeatureBins or None
        Feature bins, fixed by the first ingested batch.
    rows_seen : int
        Log rows ingested so far (row windows continue from here).
    latest_timestamp : pandas.Timestamp or None
        The latest timestamp seen (UTC).
    alerts, runs : list of dict
        Alert history and one entry per run, kept for the monitor (opaque here).
    files : dict
        Ingested files by resolved path: sha256, size, rows, kind.
    """

    def __init__(self, directory: Path, lock_fd: int, columns: LogColumns, windowing: Windowing) -> None:
        self.directory, self.columns, self.windowing = directory, columns, windowing
        self._lock_fd: int | None = lock_fd
        self.generation: str | None = None
        self.counts, self.features = empty_counts(columns), empty_features()
        self.pending, self.orphans = empty_pending(columns), empty_orphans()
        self.bins: FeatureBins | None = None
        self.rows_seen = 0
        self.latest_timestamp: pd.Timestamp | None = None
        self.alerts: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self.files: dict[str, dict[str, Any]] = {}
        #: A random key of this state: alert ids are keyed hashes, so a published id does not
        #: let anyone test guesses of a hidden group's label against it.
        self.id_key: str = secrets.token_hex(16)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, columns: LogColumns, windowing: Windowing,
             create: bool = True) -> MonitorState:
        """Open (or create) a state directory and take its lock.

        Parameters
        ----------
        directory
            The state directory.
        columns, windowing
            The log's columns and the windows; a state made with others is refused.
        create
            Create a new state when the directory holds none (otherwise refuse).

        Raises
        ------
        FairnessInputError
            Another run holds the lock; the state is damaged; or it was made with other settings.
        """
        root = Path(directory)
        if root.exists() and not root.is_dir():
            raise FairnessInputError(f"The monitor state path {root} is a file; name a directory.")
        if not root.exists():
            if not create:
                raise FairnessInputError(f"There is no monitor state at {root}; run the monitor once to create it.")
            root.mkdir(parents=True, mode=0o700)
            os.chmod(root, 0o700)
        lock_fd = store.lock(root)
        try:
            state = cls(root, lock_fd, columns, windowing)
            state._load(create)
        except BaseException:
            store.unlock(lock_fd)
            raise
        return state

    def _load(self, create: bool) -> None:
        root = self.directory
        current = root / "CURRENT"
        if not current.exists():
            strange = [e.name for e in root.iterdir() if e.name not in ("LOCK", "CURRENT")
                       and not GEN_NAME.fullmatch(e.name) and not TMP_NAME.fullmatch(e.name) and not e.name.startswith(".")]
            if strange:
                raise FairnessInputError(
                    f"The directory {root} holds other files and no monitor state; name an empty or new "
                    "directory for the monitor's state."
                )
            if not create:
                raise FairnessInputError(f"There is no monitor state at {root}; run the monitor once to create it.")
            os.chmod(root, 0o700)
        else:
            self.generation = store.read_current(current)
            self._read_generation(root / self.generation)
        self._sweep()

    def _sweep(self) -> None:
        """Remove generations and temporary files that no committed state names (crash leftovers)."""
        for entry in self.directory.iterdir():
            if entry.name != self.generation and (GEN_NAME.fullmatch(entry.name) or TMP_NAME.fullmatch(entry.name)):
                if entry.is_dir() and not entry.is_symlink():
                    store.remove_generation(entry)
        sweep_stale(self.directory)

    def _read_generation(self, gen: Path) -> None:
        if gen.is_symlink() or not gen.is_dir():
            raise corrupt(gen / "meta.json", "is missing (CURRENT names a generation that is not there)")
        meta = store.read_meta(gen / "meta.json")
        self._check_settings(gen / "meta.json", meta)
        try:
            self.bins = FeatureBins.from_dict(meta["bins"]) if meta["bins"] is not None else None
            self.rows_seen = int(meta["rows_seen"])
            latest = meta["latest_timestamp"]
            self.latest_timestamp = pd.Timestamp(latest).tz_convert("UTC") if latest else None
            self.files = {str(k): v for k, v in meta["files"].items()}
            self.alerts, self.runs = meta["alerts"], meta["runs"]
            self.id_key = str(meta.get("id_key") or secrets.token_hex(16))
        except Exception:
            raise corrupt(gen / "meta.json", "is damaged (a field has the wrong form)") from None
        if self.rows_seen < 0 or (self.bins is not None and not self.bins.covers(self.columns.features)):
            raise corrupt(gen / "meta.json", "is damaged (rows seen or feature bins are inconsistent)")
        if not _history_ok(self.files, self.alerts, self.runs):
            raise corrupt(gen / "meta.json", "is damaged (its files, alerts or runs have the wrong form)")
        for name, keys in self._schemas().items():
            setattr(self, name, store.read_table(gen / f"{name}.parquet", keys))
        for name in ("counts", "features"):
            if len(getattr(self, name)) and int(getattr(self, name)["n"].min()) < 1:
                raise corrupt(gen / f"{name}.parquet", "is damaged (a row count is below 1)")
        if int(self.counts["n"].sum()) != self.rows_seen:
            raise corrupt(gen / "counts.parquet", "is damaged (its rows do not add up to the log rows counted)")

    def _schemas(self) -> dict[str, list[str]]:
        cols = self.columns
        return {"counts": [*count_keys(cols), "n", "score_sum"], "features": [*FEATURE_KEYS, "n"],
                "pending": ["id", "window", *cols.protected, "y_pred", "score_bin", "score"],
                "orphans": ["id", "y_true"]}

    def _check_settings(self, path: Path, meta: dict[str, Any]) -> None:
        try:
            columns = LogColumns.from_dict(meta["columns"])
            windowing = Windowing.from_dict(meta["windowing"])
        except Exception:
            raise corrupt(path, "is damaged (its columns or windows cannot be read)") from None
        differ = [f"columns.{k}" for k, v in columns.to_dict().items() if self.columns.to_dict()[k] != v]
        differ += [f"windows.{k}" for k, v in windowing.to_dict().items() if self.windowing.to_dict()[k] != v]
        if differ:
            raise FairnessInputError(
                f"The monitor state at {self.directory} was built with other settings ({', '.join(differ)} "
                "differ). Its counts cannot be reused: use a new state directory, or rebuild the state "
                "(--rebuild) to count every log file again with the new settings."
            )

    # ------------------------------------------------------------------ files

    def already_ingested(self, path: str | os.PathLike[str]) -> str:
        """``"new"``, ``"seen"`` (same resolved path, size and SHA-256) or ``"changed"``.

        A file whose size and modification time (ns) are those recorded is taken as seen without
        reading it again, so a run costs its new files, not the whole history; any other file
        counted before is hashed again and compared."""
        p = Path(path)
        record = self.files.get(str(p.resolve()))
        if record is None:
            return "new"
        st = p.stat()
        if record.get("mtime_ns") == st.st_mtime_ns and record.get("size") == st.st_size:
            return "seen"
        digest, size = fingerprint(p)
        return "seen" if (size, digest) == (record.get("size"), record.get("sha256")) else "changed"

    def _admit(self, path: str | os.PathLike[str] | None) -> tuple[str, str, int] | None:
        if path is None:
            return None
        p = Path(path)
        status = self.already_ingested(p)
        if status != "new":
            raise FairnessInputError(
                f"The file {p.name} was counted by an earlier run"
                + (" and has changed since" if status == "changed" else "")
                + ". Counting it again would count its rows twice: write new rows to a new file, or rebuild "
                "the state in a new state directory."
            )
        digest, size = fingerprint(p)
        return str(p.resolve()), digest, size

    def _record(self, admitted: tuple[str, str, int] | None, rows: int, kind: str) -> None:
        if admitted is not None:
            key, digest, size = admitted
            self.files[key] = {"sha256": digest, "size": size, "rows": rows, "kind": kind,
                               "mtime_ns": Path(key).stat().st_mtime_ns}

    # ------------------------------------------------------------------ ingesting

    def ingest_predictions(self, path: str | os.PathLike[str] | None,
                           frame_or_chunks: pd.DataFrame | Iterable[pd.DataFrame]) -> IngestSummary:
        """Count a file of the prediction log (one DataFrame, or an iterator of chunks).

        ``path`` identifies the file (its SHA-256 and size are recorded; ``None`` records nothing).
        Nothing changes unless the whole file is counted.
        """
        self._check_open()
        admitted = self._admit(path)
        name = Path(path).name if path is not None else "given"
        chunks = [frame_or_chunks] if isinstance(frame_or_chunks, pd.DataFrame) else frame_or_chunks
        parts: dict[str, list[pd.DataFrame]] = {"counts": [], "features": [], "pending": []}
        orphans, rows, bins, latest = self.orphans, self.rows_seen, self.bins, self.latest_timestamp
        matched: list[np.ndarray] = []
        windows: set[int] = set()
        for chunk in chunks:
            if not isinstance(chunk, pd.DataFrame):
                raise FairnessInputError(f"The prediction log {name} must be read as DataFrames (chunks).")
            if bins is None and len(chunk):
                bins = FeatureBins.fit(chunk, self.columns.features)
            batch = count_batch(chunk, self.columns, self.windowing, bins or FeatureBins(), row_offset=rows,
                                orphans=orphans)
            if len(batch.matched_orphans):
                matched.append(batch.matched_orphans)
                orphans = orphans[~orphans["id"].isin(batch.matched_orphans)]
            for key in parts:
                parts[key].append(getattr(batch, key))
            rows += batch.rows
            windows.update(int(w) for w in batch.windows)
            if batch.latest is not None and (latest is None or batch.latest > latest):
                latest = batch.latest
        used = np.concatenate(matched) if matched else np.array([], dtype=object)
        new_pending = pd.concat([self.pending, *parts["pending"]], ignore_index=True)
        _refuse_duplicate_ids(name, used, new_pending["id"])
        counts = merge_tables(self.counts, pd.concat(parts["counts"] or [empty_counts(self.columns)]),
                              count_keys(self.columns))
        labelled = int(sum(int(c.loc[c["y_true"].notna(), "n"].sum()) for c in parts["counts"]))
        self.counts = counts
        self.features = merge_tables(self.features, pd.concat(parts["features"] or [empty_features()]),
                                     FEATURE_KEYS)
        self.pending = canonical(new_pending, list(new_pending.columns))
        self.orphans, self.bins, self.latest_timestamp = canonical(orphans, ["id", "y_true"]), bins, latest
        added = rows - self.rows_seen
        self.rows_seen = rows
        self._record(admitted, added, "predictions")
        return IngestSummary(rows=added, windows=tuple(sorted(windows)), labelled=labelled,
                             pending=int(sum(len(p) for p in parts["pending"])), orphans_matched=len(used))

    def ingest_counted(self, path: str | os.PathLike[str] | None, batch: BatchCounts) -> IngestSummary:
        """Merge the tables of a whole file counted elsewhere (a Dask worker) with this state's
        bins and row offset. Only for logs without an id column: such a log has no pending rows
        and no orphans, so the file's tables are all there is to merge."""
        self._check_open()
        if self.columns.id is not None or len(batch.pending) or len(batch.matched_orphans):
            raise FairnessInputError(
                "Files counted in parallel are merged only for logs without an id column (no late labels); "
                "count a log with ids file by file (engine = \"pandas\").")
        admitted = self._admit(path)
        self.counts = merge_tables(self.counts, batch.counts, count_keys(self.columns))
        self.features = merge_tables(self.features, batch.features, FEATURE_KEYS)
        self.rows_seen += int(batch.rows)
        if batch.latest is not None and (self.latest_timestamp is None or batch.latest > self.latest_timestamp):
            self.latest_timestamp = batch.latest
        self._record(admitted, int(batch.rows), "predictions")
        labelled = int(batch.counts.loc[batch.counts["y_true"].notna(), "n"].sum())
        return IngestSummary(rows=int(batch.rows), windows=tuple(sorted(int(w) for w in batch.windows)),
                             labelled=labelled, pending=0, orphans_matched=0)

    def ingest_labels(self, path: str | os.PathLike[str] | None,
                      frame: pd.DataFrame | Iterable[pd.DataFrame], label_cols: LabelColumns) -> IngestSummary:
        """Apply a file of late labels (``id``, ``label``) to the pending predictions.

        Matched rows move to their label in the counts; unmatched labels wait as orphans for
        their prediction. A second label for an id is refused. Nothing changes on error.
        """
        self._check_open()
        admitted = self._admit(path)
        if not isinstance(frame, pd.DataFrame):
            frame = pd.concat(list(frame), ignore_index=True)
        name = Path(path).name if path is not None else "given"
        joined = join_labels(self.pending, self.orphans, frame, label_cols, self.columns, source=name)
        self.counts = merge_tables(self.counts, joined.delta, count_keys(self.columns))
        self.pending, self.orphans = joined.pending, joined.orphans
        self._record(admitted, len(frame), "labels")
        return IngestSummary(rows=len(frame), windows=tuple(int(w) for w in joined.windows),
                             labelled=joined.labelled, pending=len(self.pending), orphans_matched=0,
                             orphans=joined.new_orphans)

    # ------------------------------------------------------------------ committing

    def _meta(self) -> dict[str, Any]:
        latest = self.latest_timestamp.isoformat() if self.latest_timestamp is not None else None
        return {"format_version": FORMAT_VERSION, "columns": self.columns.to_dict(),
                "windowing": self.windowing.to_dict(), "bins": self.bins.to_dict() if self.bins else None,
                "files": self.files, "rows_seen": int(self.rows_seen), "latest_timestamp": latest,
                "alerts": self.alerts, "runs": self.runs, "id_key": self.id_key}

    def commit(self) -> None:
        """Write the state as a new generation, all or nothing (see the module docstring)."""
        self._check_open()
        meta = json.dumps(self._meta(), default=store.json_default, indent=1).encode()
        numbers = [int(e.name[4:]) for e in self.directory.iterdir() if GEN_NAME.fullmatch(e.name)]
        name = f"gen-{max(numbers, default=0) + 1:06d}"
        tmp = self.directory / f".tmp-{name}"
        if tmp.exists():
            store.remove_generation(tmp)
        try:
            tmp.mkdir(mode=0o700)
            os.chmod(tmp, 0o700)
            for table in TABLES:
                store.write_table(tmp / f"{table}.parquet", getattr(self, table))
            store.write_file(tmp / "meta.json", lambda fh: fh.write(meta))
            store.fsync_dir(tmp)
            store.rename_into_place(tmp, self.directory / name)
            store.fsync_dir(self.directory)
        except BaseException:
            store.remove_generation(tmp)
            raise
        atomic_write_text(self.directory / "CURRENT", name + "\n", mode=0o600)
        old, self.generation = self.generation, name
        if old is not None:  # best effort: a leftover is removed when the state is next opened
            with contextlib.suppress(OSError):
                store.remove_generation(self.directory / old)

    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise FairnessInputError("This monitor state was closed; open the state directory again.")

    def close(self) -> None:
        """Release the lock; what was not committed is discarded."""
        if self._lock_fd is not None:
            store.unlock(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> MonitorState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"MonitorState({str(self.directory)!r}, generation={self.generation!r}, "
                f"rows_seen={self.rows_seen}, windows={self.counts['window'].nunique()})")


def _history_ok(files: Any, alerts: Any, runs: Any) -> bool:
    """Whether meta.json's files, alerts and runs have their documented form."""
    if not isinstance(alerts, list) or not isinstance(runs, list):
        return False

    def record(v: Any) -> bool:
        return (isinstance(v, dict) and isinstance(v.get("sha256"), str) and v.get("kind") in ("predictions", "labels")
                and all(isinstance(v.get(k), int) and not isinstance(v.get(k), bool) and v[k] >= 0
                        for k in ("size", "rows")))

    return (all(record(v) for v in files.values()) and all(isinstance(a, dict) for a in alerts)
            and all(isinstance(r, dict) for r in runs))


def _refuse_duplicate_ids(name: str, used: np.ndarray, pending_ids: pd.Series) -> None:
    dup_used = int(pd.Index(used).duplicated().sum())
    dup_pending = int(pending_ids.duplicated().sum())
    if dup_used or dup_pending:
        raise FairnessInputError(
            f"The prediction log {name} has {dup_used + dup_pending} id(s) on more than one prediction "
            "row (waiting for a label, or matching one earlier label). Ids must be unique across the log "
            "so that a late label updates one row: fix the id column."
        )
