"""Benchmark: ``auditkit run`` on 2M, 20M and 100M demo rows, in memory against partition by partition.

The data: the demo's loan applications at scale, written by ``benchmarks/_scale_data.py`` as
Parquet partitions of 1,000,000 rows beside the demo's own ``audit.toml`` (masking policy, key
ring, private-training ledger, ... unchanged; ``[data] path`` at the partition directory). Sizes
that are missing under ``--data-root`` are generated first (the free disk space is checked).

For each size, side by side, the same audit:

- anchor: today's in-memory runner, ``[data] engine = "pandas"`` (everything read into pandas).
  Run only where it fits: its peak is estimated at ``PANDAS_BYTES_PER_ROW`` bytes per row
  (about 7.7x the CSV, measured at 2M rows) and skipped, with the reason, when that exceeds
  85% of the machine's memory. With ``--single-file parquet`` / ``csv`` it reads the one-file
  copy of that format instead of the partition directory (the runners before partitioned
  input read single files only).
- ours: ``[data] engine = "dask"``, one streaming pass over the partitions on a Dask cluster.

Each run is ``python -m auditkit run <config> -q`` in a fresh child process, its trail and state
(``AUDITKIT_TRAIL``, ``XDG_STATE_HOME``, ``XDG_CONFIG_HOME``) in a temporary directory. Measured:
wall seconds, rows/s, and the peak memory of the whole process tree (the RSS of the run and of
every descendant, e.g. the Dask workers, summed, polled every 0.1 s; RSS counts shared pages
once per process, so this is an upper bound), and of its largest process. Exit status 0 or 1
(a finding failed) is a completed audit; any other is an error, reported with stderr's end.

Usage::

    python benchmarks/bench_scale.py                       # 2M, 20M, 100M; writes benchmarks/results/scale.txt
    python benchmarks/bench_scale.py --sizes 2m --engines pandas --single-file parquet csv
    python benchmarks/bench_scale.py --sizes 200k --partition-rows 100000 --no-save   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import emit, machine  # noqa: E402
from _scale_data import (  # noqa: E402
    DEFAULT_PARTITION_ROWS,
    ScaleData,
    config_variant,
    engine_supported,
    load_scale_data,
    write_scale_data,
)

GIB = 1024**3
POLL_S = 0.1
# Peak RSS per row of the in-memory runner, measured at 2M rows: 1,660 B/row from one CSV file
# (3.09 GiB, about 7.7x the CSV), 1,790 from one Parquet file (3.34 GiB); the larger is used.
PANDAS_BYTES_PER_ROW = 1_800
FIT_SHARE = 0.85
GOAL_2M_TIME_RATIO = 0.5
GOAL_2M_PEAK = 1 * GIB
GOAL_100M_PEAK = 2 * GIB
DEMO_PASSPHRASE_ENV = "AUDITKIT_DEMO_KEYRING_PASSPHRASE"


@dataclass
class Run:
    rows: int
    engine: str
    source: str
    seconds: float = 0.0
    peak: int = 0
    largest: int = 0
    exit_code: int | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code in (0, 1)


def parse_size(text: str) -> int:
    """``2m`` -> 2,000,000; ``200k`` -> 200,000; a plain number as is."""
    text = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def size_name(rows: int) -> str:
    return f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1_000}k"


def _tree_rss(proc) -> tuple[int, int]:
    """RSS summed over ``proc`` and its descendants, and the largest single RSS."""
    import psutil

    total = largest = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss = p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += rss
        largest = max(largest, rss)
    return total, largest


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("AUDITKIT_TRAIL", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        env[key] = str(tmp / key.lower())
    # The demo's key ring opens with the demo's public passphrase, as right after 'auditkit demo'.
    from auditkit.demo._setup import DEMO_PASSPHRASE

    env.setdefault(DEMO_PASSPHRASE_ENV, DEMO_PASSPHRASE)
    return env


def measure(run: Run, config: Path, timeout: float | None) -> Run:
    """Run the audit of ``config`` in a child process; fill in ``run``'s time, peak and status."""
    import psutil

    cmd = [sys.executable, "-m", "auditkit", "run", str(config), "-q"]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        err_path = Path(tmp) / "stderr.txt"
        with open(err_path, "w") as err:
            t0 = time.perf_counter()
            proc = psutil.Popen(cmd, env=_env(Path(tmp)), stdout=subprocess.DEVNULL, stderr=err,
                                cwd=config.parent)
            while proc.poll() is None:
                total, largest = _tree_rss(proc)
                run.peak, run.largest = max(run.peak, total), max(run.largest, largest)
                if timeout and time.perf_counter() - t0 > timeout:
                    for p in [*proc.children(recursive=True), proc]:
                        p.kill()
                    run.note = f"killed after {timeout:.0f} s"
                time.sleep(POLL_S)
            run.seconds = time.perf_counter() - t0
            run.exit_code = proc.returncode
        if not run.ok and not run.note:
            tail = err_path.read_text(errors="replace").strip().splitlines()[-8:]
            run.note = "error, stderr ends:\n" + "\n".join("        | " + line for line in tail)
    return run


def pandas_fits(rows: int, force: bool) -> str | None:
    """None when the in-memory run fits this machine (or is forced), else why it is skipped."""
    import psutil

    need, total = rows * PANDAS_BYTES_PER_ROW, psutil.virtual_memory().total
    if force or need <= FIT_SHARE * total:
        return None
    return (f"skipped: estimated peak {need / GIB:.1f} GiB ({PANDAS_BYTES_PER_ROW:,} B/row) exceeds "
            f"{FIT_SHARE:.0%} of {total / GIB:.0f} GiB RAM")


def _source(data: ScaleData, single: str | None) -> str:
    if single:
        path = data.out / data.single[single]
        return f"{data.single[single]} ({path.stat().st_size / 1e6:,.0f} MB)"
    return f"parts/ ({data.partitions} Parquet, {data.parts_bytes / 1e6:,.0f} MB)"


def runs_for_size(data: ScaleData, engines: list[str], singles: list[str], args: argparse.Namespace) -> list[Run]:
    """Every run of one size: pandas (per one-file copy, or on the partitions), then dask."""
    out = []
    for engine in engines:
        for single in (singles or [None]) if engine == "pandas" else [None]:
            run = Run(data.rows, engine, _source(data, single))
            skip = pandas_fits(data.rows, args.force_pandas) if engine == "pandas" else None
            if engine == "dask" and not engine_supported():
                skip = "skipped: this auditkit's [data] has no 'engine' (the dask engine is not built)"
            if skip:
                run.note = skip
            else:
                print(f"  {data.rows:,} rows, {engine}, {run.source} ...", flush=True)
                measure(run, config_variant(data, engine, single=single), args.timeout)
            out.append(run)
    return out


def _row(run: Run) -> str:
    head = f"{run.rows:>13,}  {run.engine:<6}  {run.source:<40}"
    if run.exit_code is None or not run.ok:
        return f"{head}  {run.note}"
    return (f"{head}  {run.seconds:8.1f} s  {run.rows / run.seconds:>10,.0f}/s  "
            f"{run.peak / GIB:7.2f} GiB  {run.largest / GIB:7.2f} GiB  exit {run.exit_code}"
            + (f"  {run.note}" if run.note else ""))


def _ratios(runs: list[Run]) -> list[str]:
    """dask / pandas, one line per completed pandas run of the same size."""
    done = [r for r in runs if r.exit_code is not None and r.ok]
    dask = next((r for r in done if r.engine == "dask"), None)
    if dask is None:
        return []
    return [f"{'':>13}  ratio   dask / pandas on {p.source.split(' ')[0]}: time "
            f"{dask.seconds / p.seconds:.2f}x, peak memory {dask.peak / p.peak:.2f}x"
            for p in done if p.engine == "pandas"]


def _goals(runs: list[Run]) -> list[str]:
    ok = [r for r in runs if r.exit_code is not None and r.ok]
    lines = []
    for r in (r for r in ok if r.engine == "dask" and r.rows == 2_000_000):
        base = [p for p in ok if p.engine == "pandas" and p.rows == r.rows]
        ratio = r.seconds / min(p.seconds for p in base) if base else None
        shown = f"{ratio:.2f}x, {'met' if ratio <= GOAL_2M_TIME_RATIO else 'missed'}" if base else "no pandas run"
        lines.append(f"goal 2M: time <= {GOAL_2M_TIME_RATIO}x pandas ({shown}); peak <= 1 GiB "
                     f"({r.peak / GIB:.2f} GiB, {'met' if r.peak <= GOAL_2M_PEAK else 'missed'})")
    for r in (r for r in ok if r.engine == "dask" and r.rows == 100_000_000):
        lines.append(f"goal 100M: peak <= 2 GiB ({r.peak / GIB:.2f} GiB, "
                     f"{'met' if r.peak <= GOAL_100M_PEAK else 'missed'})")
    rates = [f"{size_name(r.rows)} {r.rows / r.seconds:,.0f}" for r in ok if r.engine == "dask"]
    if rates:
        lines.append("dask rows/s by size (linear time = flat rows/s): " + ", ".join(rates))
    return lines


def render(runs: list[Run], sizes: list[int], args: argparse.Namespace) -> str:
    lines = [
        f"scale benchmark, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"machine: {machine(memory=True)}",
        f"sizes: {', '.join(f'{n:,}' for n in sizes)} demo rows, Parquet partitions of "
        f"{args.partition_rows:,} rows; 'auditkit run -q' in a fresh child process each",
        "peak tree = RSS of the run and every descendant (Dask workers) summed, polled every "
        f"{POLL_S} s; largest = the largest single process",
        "",
        f"{'rows':>13}  {'engine':<6}  {'data':<40}  {'time':>10}  {'rows/s':>12}  "
        f"{'peak tree':>11}  {'largest':>11}",
    ]
    for n in sizes:
        size_runs = [r for r in runs if r.rows == n]
        lines += [_row(r) for r in size_runs]
        lines += _ratios(size_runs)
    lines += ["", *_goals(runs)]
    lines.append(f"load average at end {os.getloadavg()[0]:.1f} (other work on the machine slows every run)")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2m,20m,100m", help="comma-separated rows: 2m, 200k, 1500000")
    ap.add_argument("--engines", default="pandas,dask")
    ap.add_argument("--data-root", type=Path, default=Path(tempfile.gettempdir()) / "scale",
                    help="each size's data under <root>/<size>, e.g. /tmp/scale/2m")
    ap.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS)
    ap.add_argument("--single-file", nargs="+", choices=("parquet", "csv"), default=[],
                    help="pandas runs read the one-file copy of these formats, not the partitions")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="generation jobs")
    ap.add_argument("--no-generate", action="store_true", help="fail rather than write missing data")
    ap.add_argument("--force-pandas", action="store_true", help="run pandas even where it may not fit")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per run before it is killed")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "scale.txt")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    runs: list[Run] = []
    for n in sizes:
        root = args.data_root / size_name(n)
        data = load_scale_data(root)
        if args.no_generate and (data is None or data.rows != n
                                 or any(f not in data.single for f in args.single_file)):
            sys.exit(f"No {n:,}-row data set (with {args.single_file or 'no'} one-file copies) under "
                     f"{root}; write it with benchmarks/_scale_data.py or leave out --no-generate.")
        if not args.no_generate:
            data = write_scale_data(root, n, partition_rows=args.partition_rows,
                                    single=args.single_file, jobs=args.jobs)
        runs += runs_for_size(data, engines, args.single_file, args)
    errors = [r for r in runs if r.exit_code is not None and not r.ok]
    emit(render(runs, sizes, args), args.out, save=not args.no_save)
    if errors:
        sys.exit(f"{len(errors)} run(s) ended with an error (see above)")


if __name__ == "__main__":
    main()
