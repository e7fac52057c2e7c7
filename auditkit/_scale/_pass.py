"""The streaming pass: every partition tallied once, on a Dask cluster or in this process.

With ``[data] engine = "dask"`` the partitions are tallied by the workers of a Dask distributed
cluster (``[data] cluster``, else a local cluster sized to the machine) and the tallies merged
here as they finish; class hashes go to bucket files on this machine's disk
(:mod:`auditkit._scale._classes`), so memory holds one partition's figures at a time plus the
bounded sample. Progress shows partitions done and rows per second.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit._interrupt import interrupt_held, raise_if_interrupted
from auditkit._scale._classes import ClassSpill
from auditkit._scale._memory import release_memory
from auditkit._scale._tally import Tally, TallyPlan, tally_frames
from auditkit.errors import ConfigError, DataError

__all__ = ["PassResult", "ReadArgs", "run_pass"]


@dataclass(frozen=True)
class ReadArgs:
    """How partitions are read (sent to the workers with each task)."""

    string_columns: tuple[str, ...] = ()
    keys: Any = None
    base_dir: Path = Path(".")
    header: bool = True
    skip_lines: int = 0
    columns: tuple[str, ...] | None = None
    batch_rows: int = 65_536  # rows per frame: a frame's transient copies stay small


@dataclass
class PassResult:
    """The merged tally, with the class spills of the quasi-identifiers before/after masking."""

    tally: Tally
    before: ClassSpill | None = None
    after: ClassSpill | None = None
    seconds: float = 0.0
    workers: int = 0
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        for spill in (self.before, self.after):
            if spill is not None:
                spill.close()


def _tally_partition(plan: TallyPlan, part: Any, index: int, read: ReadArgs,
                     sample_bound: int | None = None) -> Tally:
    """One partition's tally (runs on a worker)."""
    from auditkit._scale._read import iter_frames

    frames = iter_frames(part, columns=list(read.columns) if read.columns else None,
                         string_columns=list(read.string_columns), keys=read.keys,
                         base_dir=read.base_dir, header=read.header, skip_lines=read.skip_lines,
                         batch_rows=read.batch_rows)
    try:
        return tally_frames(plan, frames, index, sample_bound, name=f"'{Path(part.path).name}'")
    finally:
        release_memory()


def _absorb(result: PassResult, part: Tally) -> None:
    """Move a partition's class hashes to disk and merge the rest."""
    for hashes, attr in ((part.classes_before, "before"), (part.classes_after, "after")):
        spill = getattr(result, attr)
        for h in hashes:
            spill.add(h)
        hashes.clear()
    result.tally = result.tally.merge(part)
    part.clear()  # the generators that handed it over hold it until the next partition


def _local(partitions: list[Any], plan: TallyPlan, read: ReadArgs, result: PassResult) -> Iterator[Tally]:
    for i, part in enumerate(partitions):
        yield _tally_partition(plan, part, i, read, _bound(result))


def _bound(result: PassResult) -> int | None:
    sample = result.tally.sample
    return None if sample is None else sample.limit()


def _client(cluster: str | None) -> tuple[Any, Callable[[], None], int]:
    """A Dask client on ``cluster``, else on a local cluster (one worker thread in this process,
    as commented below); with the function that shuts it down and the number of
    workers."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "[data] engine = \"dask\" needs Dask distributed, which is not installed. Install it "
            "with: pip install 'auditkit-rai[dask]'; or set [data] engine = \"pandas\"."
        ) from None
    if cluster:
        try:
            client = Client(cluster, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"Could not reach the Dask cluster at [data] cluster = {cluster!r} "
                f"({type(exc).__name__}). Check the address and that the scheduler is running, or "
                "remove [data] cluster to run on a local cluster."
            ) from None
        return client, client.close, len(client.scheduler_info().get("workers", {})) or 1
    # The local cluster: its scheduler and one worker thread run in this process, and talk to
    # it in memory (no network port but their HTTP routes, on 127.0.0.1 and free ports: not
    # 8787, which another cluster may hold). One thread: a partition's tally is
    # bound by Python's interpreter lock, so a second thread adds a partition's working memory
    # and no speed (2M demo rows: 6.6 s with one thread, 7.6 s with two), and worker processes
    # add their own copies of the libraries and of every result (1.5 GiB at 2M rows with two,
    # under 1 GiB in one). The tallies still overlap with this thread's merging and spilling.
    # More cores or machines: a cluster of your own, named in [data] cluster. The worker never
    # spills to disk (results hold sample rows, decrypted); the scratch directory goes with the
    # cluster. Logs are silent: a failed task is logged with its exception's message, which
    # may quote data; the error itself comes back here, where the runner words it.
    scratch = tempfile.mkdtemp(prefix="auditkit-dask-")
    try:
        import dask

        # The scheduler's work directory too (it follows Dask's temporary directory).
        with dask.config.set({"distributed.worker.memory.target": False,
                              "distributed.worker.memory.spill": False,
                              "temporary-directory": scratch}):
            local = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                 memory_limit=0, dashboard_address="127.0.0.1:0",
                                 worker_dashboard_address="127.0.0.1:0",
                                 silence_logs=logging.CRITICAL + 10, local_directory=scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    try:
        client = Client(local)
    except BaseException:
        local.close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    # The scheduler and the worker, in this process, add a garbage-collection callback that
    # only feeds their (silenced) logs; Python swallows a Ctrl-C that lands inside such a
    # callback. Off for both (their own calls to turn it off at close are then no-ops).
    with contextlib.suppress(Exception):
        from distributed.gc import disable_gc_diagnosis

        disable_gc_diagnosis(force=True)

    def close() -> None:
        try:
            client.close()
            local.close()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return client, close, 1


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Dask's loggers in this process silenced for the block, and kept from passing records on
    to the root logger's handlers (a notebook's, a test runner's, ``logging.basicConfig``'s):
    they report failed tasks with messages that may quote data, and the local cluster's worker
    runs in this process. Dask is imported first: its import sets its loggers' levels."""
    with contextlib.suppress(ImportError):  # without Dask, _client says what to install
        import distributed  # noqa: F401
    names = ["distributed", *(n for n in logging.root.manager.loggerDict
                              if n.startswith("distributed."))]
    loggers = [logging.getLogger(n) for n in names]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 10)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.propagate = propagate


def _distributed(partitions: list[Any], plan: TallyPlan, read: ReadArgs, client: Any,
                 workers: int, result: PassResult) -> Iterator[Tally]:
    """Tallies of the partitions as the workers finish them, at most two per worker in flight
    (results wait in memory only that long), each task told the sample's current bound."""
    from distributed import as_completed

    window = max(2, 2 * workers)
    pending = iter(enumerate(partitions))

    def submit() -> Any:
        nxt = next(pending, None)
        if nxt is None:
            return None
        i, part = nxt
        return client.submit(_tally_partition, plan, part, i, read, _bound(result), pure=False)

    first = [f for f in (submit() for _ in range(window)) if f is not None]
    running = as_completed(first)
    try:
        for fut in running:
            part = fut.result()
            fut.release()
            nxt = submit()
            if nxt is not None:
                running.add(nxt)
            yield part
    finally:
        with contextlib.suppress(Exception):  # a client already closed has nothing to cancel
            client.cancel(list(running.futures))


def _tracked(parts: Iterator[Tally], track: Any, n: int, description: str) -> Iterator[Tally]:
    """``parts`` through the progress display, with the rows per second when it can show them."""
    started = time.perf_counter()
    rows = [0]

    def rate(t: Tally) -> str:
        rows[0] += t.n_rows
        per_s = rows[0] / max(time.perf_counter() - started, 1e-9)
        return f"{rows[0]:,} rows, {per_s:,.0f} rows/s"

    try:
        return track(parts, description=description, total=n, status=rate)
    except TypeError:  # a display without a status line
        return track(parts, description=description, total=n)


def run_pass(partitions: list[Any], plan: TallyPlan, read: ReadArgs, *, engine: str,
             cluster: str | None = None, track: Any = None,
             description: str = "Reading partitions") -> PassResult:
    """Tally every partition once and merge (see the module docstring); ``engine`` is
    ``"dask"`` (a cluster) or ``"local"`` (this process, one partition after another)."""
    started = time.perf_counter()
    result = PassResult(Tally())
    try:
        if plan.quasi_identifiers:
            result.before = ClassSpill(tuple(plan.quasi_identifiers), plan.sensitive)
        if plan.after is not None:
            result.after = ClassSpill(*plan.after)
        with contextlib.ExitStack() as stack:
            if engine == "dask":
                stack.enter_context(_quiet())
                with interrupt_held():
                    client, close, result.workers = _client(cluster)
                    stack.callback(close)
                # closed before the client (the stack unwinds in reverse): its tasks cancelled
                parts = stack.enter_context(contextlib.closing(
                    _distributed(partitions, plan, read, client, result.workers, result)))
            else:
                parts, result.workers = _local(partitions, plan, read, result), 1
            shown = _tracked(parts, track, len(partitions), description) if track else parts
            for part in shown:
                _absorb(result, part)
                release_memory()
                raise_if_interrupted()
    except BaseException:
        result.close()
        raise
    release_memory(collect=True)
    result.seconds = time.perf_counter() - started
    return result


def check_same_columns(first: list[str], other: list[str], first_name: str, other_name: str) -> None:
    """Refuse partitions whose columns differ (names only in the message)."""
    if first != other:
        extra = [c for c in other if c not in first][:5]
        lacking = [c for c in first if c not in other][:5]
        raise DataError(
            f"The partitions '{first_name}' and '{other_name}' of [data] path have different "
            f"columns (only in the second: {extra or 'none'}; missing from it: "
            f"{lacking or 'none'}; or a different order). Every partition must have the same "
            "columns in the same order."
        )
