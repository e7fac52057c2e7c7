"""Counting a prediction log's files in parallel with Dask (``engine = "dask"``).

Each new file is one task: a worker reads it in chunks and counts it with the state's fixed
feature bins and its row offset (:func:`count_file`); the main process merges the per-file
tables into the state in file order (:meth:`MonitorState.ingest_counted`). Memory stays bounded
by a chunk per worker plus the tables, which grow with windows and groups, never with rows. The
result is identical to counting the files one after the other (tested). Logs with an id column
(late labels) are counted file by file: their pending rows must meet the labels in order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditkit.fairness._monitor_counts import (
    FEATURE_KEYS,
    BatchCounts,
    FeatureBins,
    LogColumns,
    count_batch,
    count_keys,
    merge_tables,
)
from auditkit.fairness._monitor_io import read_chunks
from auditkit.fairness._windows import Windowing
from auditkit.fairness.errors import FairnessInputError

__all__ = ["count_file", "ingest_parallel", "parquet_rows"]

def parquet_rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def count_file(path: Path, columns: LogColumns, windowing: Windowing, bins: FeatureBins, row_offset: int,
               chunk_rows: int) -> BatchCounts:
    """The tables of one whole file (chunks counted and merged)."""
    counts, features, rows, windows, latest = None, None, 0, set(), None
    for chunk in read_chunks(path, columns.required(), chunk_rows):
        b = count_batch(chunk, columns, windowing, bins, row_offset=row_offset + rows)
        counts = b.counts if counts is None else merge_tables(counts, b.counts, count_keys(columns))
        features = b.features if features is None else merge_tables(features, b.features, FEATURE_KEYS)
        rows += b.rows
        windows.update(int(w) for w in b.windows)
        if b.latest is not None and (latest is None or b.latest > latest):
            latest = b.latest
    if counts is None:  # an empty file
        from auditkit.fairness._monitor_counts import empty_counts, empty_features

        counts, features = empty_counts(columns), empty_features()
    import numpy as np

    return BatchCounts(counts=counts, features=features, pending=counts.iloc[0:0], rows=rows,
                       windows=np.array(sorted(windows), dtype=np.int64), latest=latest)


def ingest_parallel(state: Any, files: Sequence[Path], columns: LogColumns, windowing: Windowing,
                    chunk_rows: int, progress: Any = None, workers: int | None = None) -> list[Any]:
    """Count ``files`` (all new) in parallel and merge them into ``state`` in order."""
    import dask

    if not files:
        return []
    if columns.id is not None:
        raise FairnessInputError("engine = \"dask\" counts logs without an id column; this log has one.")
    if state.bins is None:  # fixed by the first chunk of the first file, as the file-by-file path does
        first = next(iter(read_chunks(files[0], columns.required(), chunk_rows)), None)
        state.bins = FeatureBins.fit(first, columns.features) if first is not None and len(first) else None
    bins = state.bins or FeatureBins()
    offsets, offset = [], state.rows_seen
    for path in files:
        offsets.append(offset)
        if windowing.kind == "rows":
            offset += parquet_rows(path)
    tasks = [dask.delayed(count_file)(p, columns, windowing, bins, o, chunk_rows) for p, o in zip(files, offsets,
                                                                                               strict=True)]
    n = workers or min(len(files), os.cpu_count() or 1)
    summaries = []
    track = progress or (lambda items, description="", total=None: items)
    # in slices of a few tasks per worker, so finished tables do not pile up before they are merged
    step = max(n * 2, 1)
    slices = [list(range(i, min(i + step, len(files)))) for i in range(0, len(files), step)]
    for idx in track(slices, "Counting log files (Dask)", len(slices)):
        batches = dask.compute(*[tasks[i] for i in idx], scheduler="threads", num_workers=n)
        for i, batch in zip(idx, batches, strict=True):
            summaries.append(state.ingest_counted(files[i], batch))
    return summaries
