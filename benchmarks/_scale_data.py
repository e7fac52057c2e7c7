"""The demo's loan applications at scale, for ``benchmarks/bench_scale.py``.

Writes ``rows`` demo rows as Parquet partitions under ``<out>/parts/`` (``part-00000.parquet``,
...; sorted path order is row order) beside the demo's own ``audit.toml``, with its ``[data]
path`` pointing at that directory. How:

1. ``auditkit.demo.run_demo`` runs once at 20,000 rows into ``<out>`` (its trail and state in a
   temporary directory): the model (``model.skops``, trained on the demo's 20,000 rows), the
   masking policy, the key ring and encrypted copy, the private-training ledger and attack, the
   signing key and ``audit.toml`` are exactly the demo's.
2. Each partition is ``generate_applications(n=partition_rows, seed=seed_base + i)`` (bounded
   memory: one partition in memory per job), its ``applicant_id`` renumbered to be unique over
   the whole set (``A`` + the global row number), and the saved model's ``score`` and
   ``predicted`` columns computed as the demo computes them (``predict_proba`` of the fitted
   model, rounded to 6 places; predicted = score >= the demo's threshold), without refitting.
3. Optionally the same rows as one Parquet file and/or one CSV file under ``<out>/single/``
   (the "before" runs of today's single-file runner).
4. ``audit.toml`` is rewritten: ``[data] path = "parts"`` and, when this auditkit's config knows
   the key, ``[data] engine``. ``scale.json`` records what was written; a second call with the
   same rows and layout reuses it.

The free space of the target is checked first: the estimate (bytes per row measured on the
demo's rows) must fit the free space minus 2 GiB, else nothing is written.

    python benchmarks/_scale_data.py --rows 2000000 --out /tmp/scale/2m [--single parquet csv]
    python benchmarks/_scale_data.py --rows 100000000 --out /tmp/scale/100m --estimate-only
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit import toml_files
from auditkit.errors import OutputError

__all__ = ["ScaleData", "check_disk", "config_variant", "engine_supported", "estimate_bytes",
           "load_scale_data", "write_scale_data"]

DEMO_ROWS = 20_000
DEFAULT_PARTITION_ROWS = 1_000_000
ROW_GROUP_ROWS = 262_144
SEED = 7
SEED_BASE = 1_000
PARTS = "parts"
SINGLE = "single"
MANIFEST = "scale.json"
HEADROOM_BYTES = 2 * 1024**3
# Measured on the demo's rows (1,000,000-row partitions, snappy, 262,144-row groups).
PARQUET_BYTES_PER_ROW = 92
CSV_BYTES_PER_ROW = 216
DEMO_BYTES = 40 * 1024**2  # the 20,000-row demo: CSV, encrypted copy, model, DP evidence
TOML_HEADER = (
    "# audit.toml written by benchmarks/_scale_data.py: the one 'auditkit demo' writes, with\n"
    "# [data] path pointing at the partition directory. Paths are relative to this file.\n\n"
)


@dataclass(frozen=True)
class ScaleData:
    """What :func:`write_scale_data` wrote under ``out``."""

    out: Path
    rows: int
    partition_rows: int
    partitions: int
    parts_bytes: int
    seed: int
    seed_base: int
    single: dict[str, str] = field(default_factory=dict)
    """Format ("parquet" / "csv") -> path of the one-file copy, relative to ``out``."""

    @property
    def config(self) -> Path:
        return self.out / "audit.toml"

    @property
    def parts(self) -> Path:
        return self.out / PARTS

    @property
    def bytes_per_row(self) -> float:
        return self.parts_bytes / self.rows


def estimate_bytes(rows: int, single: tuple[str, ...] | list[str] = ()) -> int:
    """Bytes on disk of ``rows`` partitioned rows (and their one-file copies in ``single``)."""
    per_row = PARQUET_BYTES_PER_ROW
    per_row += PARQUET_BYTES_PER_ROW if "parquet" in single else 0
    per_row += CSV_BYTES_PER_ROW if "csv" in single else 0
    return rows * per_row + DEMO_BYTES


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(out: Path, needed: int) -> int:
    """Free bytes on ``out``'s file system; OutputError when ``needed`` exceeds them minus 2 GiB."""
    free = shutil.disk_usage(_existing_parent(out)).free
    if needed > free - HEADROOM_BYTES:
        raise OutputError(
            f"Not enough disk space under '{out}': about {needed / 1e9:.1f} GB needed, "
            f"{free / 1e9:.1f} GB free and {HEADROOM_BYTES / 1024**3:.0f} GiB kept free. "
            "Choose fewer rows or another --out."
        )
    return free


def engine_supported() -> bool:
    """Whether this auditkit's ``[data]`` table accepts ``engine``."""
    from auditkit.config import DataConfig

    return "engine" in DataConfig.model_fields


def _write_toml(path: Path, config: dict[str, Any]) -> None:
    import tomli_w

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(TOML_HEADER + tomli_w.dumps(config))
    tmp.replace(path)


def config_variant(data: ScaleData, engine: str | None, *, single: str | None = None) -> Path:
    """An ``audit-<engine>[-<single>].toml`` beside ``audit.toml``: the same audit with
    ``[data] engine`` set (left out when this auditkit does not know the key, or None) and,
    with ``single``, ``[data] path`` at the one-file copy of that format."""
    config = toml_files.loads(data.config.read_text())
    if engine and engine_supported():
        config["data"]["engine"] = engine
    else:
        config["data"].pop("engine", None)
    if single:
        config["data"]["path"] = data.single[single]
    path = data.out / f"audit-{engine or 'default'}{'-' + single if single else ''}.toml"
    _write_toml(path, config)
    return path


def _demo_base(out: Path, seed: int) -> None:
    """The 20,000-row demo into ``out``: model, evidence, keys and ``audit.toml``."""
    from auditkit.demo import run_demo

    saved = {k: os.environ.get(k) for k in ("AUDITKIT_TRAIL", "XDG_STATE_HOME", "XDG_CONFIG_HOME")}
    with tempfile.TemporaryDirectory(prefix="scale-demo-") as tmp:
        os.environ.update({k: str(Path(tmp) / k.lower()) for k in saved})
        try:
            run_demo(out, rows=DEMO_ROWS, seed=seed)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


_MODEL: Any = None


def _load_model(model_path: str) -> Any:
    """The demo's saved model (a file this script just wrote, so its types are trusted)."""
    global _MODEL
    if _MODEL is None:
        import skops.io as sio

        _MODEL = sio.load(model_path, trusted=sio.get_untrusted_types(file=model_path))
    return _MODEL


def _partition(task: tuple[int, int, int, int, int, str, str]) -> int:
    """Write one partition; its size in bytes."""
    from auditkit.demo import FEATURES, PREDICTION, SCORE, generate_applications
    from auditkit.demo._model import DECISION_THRESHOLD

    index, rows, first_row, seed, id_width, model_path, path = task
    df = generate_applications(rows, seed)
    df["applicant_id"] = [f"A{j:0{id_width}d}" for j in range(first_row + 1, first_row + rows + 1)]
    proba = _load_model(model_path).predict_proba(df[FEATURES])[:, 1]
    df[SCORE] = proba.round(6)
    df[PREDICTION] = (proba >= DECISION_THRESHOLD).astype(int)
    tmp = Path(path + ".tmp")
    df.to_parquet(tmp, index=False, row_group_size=ROW_GROUP_ROWS)
    tmp.replace(path)
    return Path(path).stat().st_size


def _tasks(out: Path, rows: int, partition_rows: int, seed_base: int) -> list[tuple]:
    n_parts = -(-rows // partition_rows)
    width = max(6, len(str(rows)))
    model = str(out / "model.skops")
    return [(i, min(partition_rows, rows - i * partition_rows), i * partition_rows, seed_base + i,
             width, model, str(out / PARTS / f"part-{i:05d}.parquet")) for i in range(n_parts)]


def _write_parts(out: Path, tasks: list[tuple], jobs: int, log: Any) -> int:
    started, total = time.perf_counter(), 0
    if jobs <= 1:
        results = map(_partition, tasks)
    else:
        # spawn: the parent ran the demo (torch, OpenMP threads), which a fork can deadlock
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_partition, tasks)
    for done, size in enumerate(results, 1):
        total += size
        log(f"  partition {done}/{len(tasks)} written ({time.perf_counter() - started:.0f} s)")
    if jobs > 1:
        pool.shutdown()
    return total


def _write_single(data: ScaleData, fmt: str) -> str:
    """The partitions concatenated into one file of ``fmt``, one partition in memory at a time."""
    import pandas as pd
    import pyarrow.parquet as pq

    rel = f"{SINGLE}/applications.{fmt}"
    path = data.out / rel
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    parts = sorted(data.parts.glob("*.parquet"))
    if fmt == "parquet":
        with pq.ParquetWriter(tmp, pq.read_schema(parts[0])) as writer:
            for p in parts:
                for batch in pq.ParquetFile(p).iter_batches(batch_size=ROW_GROUP_ROWS):
                    writer.write_batch(batch)
    else:
        with open(tmp, "w", newline="") as f:
            for i, p in enumerate(parts):
                pd.read_parquet(p).to_csv(f, index=False, header=i == 0)
    tmp.replace(path)
    return rel


def load_scale_data(out: Path) -> ScaleData | None:
    """What ``out/scale.json`` records, or None when there is none."""
    manifest = Path(out) / MANIFEST
    if not manifest.is_file():
        return None
    return ScaleData(out=Path(out), **json.loads(manifest.read_text()))


def _save(data: ScaleData) -> None:
    record = {k: v for k, v in vars(data).items() if k != "out"}
    (data.out / MANIFEST).write_text(json.dumps(record, indent=2) + "\n")


def _reusable(old: ScaleData | None, rows: int, partition_rows: int, seed: int, seed_base: int) -> bool:
    return (old is not None and old.rows == rows and old.partition_rows == partition_rows
            and old.seed == seed and old.seed_base == seed_base and old.config.is_file())


def write_scale_data(
    out: str | Path, rows: int, *, partition_rows: int = DEFAULT_PARTITION_ROWS, seed: int = SEED,
    seed_base: int = SEED_BASE, single: tuple[str, ...] | list[str] = (), engine: str | None = "dask",
    jobs: int = 1, log: Any = print,
) -> ScaleData:
    """Write ``rows`` demo rows as Parquet partitions and the demo's ``audit.toml`` under ``out``.

    Parameters
    ----------
    out : directory to write (created); an earlier set with the same rows, partition size and
        seeds is reused, only the missing one-file copies being added.
    rows, partition_rows : rows in all and per partition (the last may be shorter).
    seed : the demo's seed (its 20,000 rows, model and evidence).
    seed_base : partition ``i`` is generated with seed ``seed_base + i``.
    single : one-file copies to write as well: "parquet", "csv".
    engine : ``[data] engine`` of ``audit.toml`` (left out when this auditkit lacks the key).
    jobs : partitions written at once (each holds one partition in memory, about 1.5 GB per
        1,000,000 rows).

    Returns
    -------
    ScaleData

    Raises
    ------
    OutputError
        When the estimate of the bytes to write exceeds the free space minus 2 GiB.
    """
    out = Path(out)
    old = load_scale_data(out)
    if _reusable(old, rows, partition_rows, seed, seed_base):
        data = old
        missing = tuple(f for f in single if f not in data.single)
        check_disk(out, estimate_bytes(rows, missing) - estimate_bytes(rows) + DEMO_BYTES)
    else:
        missing = tuple(single)
        check_disk(out, estimate_bytes(rows, missing))
        if old is None and out.is_dir() and any(out.iterdir()):
            raise OutputError(f"'{out}' is not empty and holds no {MANIFEST} of this script; "
                              "give an empty or new directory with --out.")
        if out.exists():
            shutil.rmtree(out / PARTS, ignore_errors=True)
            shutil.rmtree(out / SINGLE, ignore_errors=True)
            (out / MANIFEST).unlink(missing_ok=True)
        log(f"demo set-up ({DEMO_ROWS:,} rows: model, evidence, audit.toml) into {out}")
        _demo_base(out, seed)
        (out / PARTS).mkdir()
        tasks = _tasks(out, rows, partition_rows, seed_base)
        log(f"writing {rows:,} rows as {len(tasks)} Parquet partitions, {jobs} at a time")
        size = _write_parts(out, tasks, jobs, log)
        data = ScaleData(out, rows, partition_rows, len(tasks), size, seed, seed_base)
    for fmt in missing:
        log(f"writing the one-file {fmt} copy")
        data.single[fmt] = _write_single(data, fmt)
    config = toml_files.loads(data.config.read_text())
    config["data"]["path"] = PARTS
    if engine and engine_supported():
        config["data"]["engine"] = engine
    _write_toml(data.config, config)
    _save(data)
    return data


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--seed-base", type=int, default=SEED_BASE)
    ap.add_argument("--single", nargs="*", choices=("parquet", "csv"), default=[])
    ap.add_argument("--engine", default="dask", help="[data] engine of audit.toml ('' to leave it out)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--estimate-only", action="store_true", help="print the disk estimate, write nothing")
    args = ap.parse_args(argv)
    needed = estimate_bytes(args.rows, args.single)
    free = shutil.disk_usage(_existing_parent(args.out)).free
    print(f"estimate: {needed / 1e9:.2f} GB for {args.rows:,} rows "
          f"({PARQUET_BYTES_PER_ROW} B/row Parquet); {free / 1e9:.1f} GB free under {args.out}")
    if args.estimate_only:
        return
    t0 = time.perf_counter()
    try:
        data = write_scale_data(args.out, args.rows, partition_rows=args.partition_rows, seed=args.seed,
                                seed_base=args.seed_base, single=args.single, engine=args.engine or None,
                                jobs=args.jobs)
    except OutputError as exc:
        sys.exit(str(exc))
    print(f"{data.rows:,} rows in {data.partitions} partitions, {data.parts_bytes / 1e6:,.0f} MB "
          f"({data.bytes_per_row:.1f} B/row) under {data.parts}; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
