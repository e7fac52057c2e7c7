"""Continuous monitoring (issue 17): false alarms, detection delay, incremental cost, scale, Evidently.

Five parts, the goals of issue 17 side by side with their anchors:

1. Null streams: ``--streams`` simulated years of 52 weekly windows with no change, drawn at the
   level of the counts and features tables (one multinomial per window x protected cell: exactly
   the distribution of the tables counting independent rows gives; ``benchmarks/_monitor_sim.py``)
   and judged by ``evaluate_monitor`` with the default ``MonitorSpec`` (selection rate, TPR, FPR;
   labels complete; calibration on, with scores; feature and score drift against the first 4
   windows). Configuration A: one attribute, groups of 500 and 1,500 rows a window; B: two
   attributes (2 and 3 groups, every group >= 500 rows), so more streams. The share of years with
   any fairness false alarm (95% Wilson interval; goal: upper end <= 5%); calibration,
   prediction-rate and PSI false alarms separately.
2. Planted shift: group g0's selection rate falls by 0.10 (its TPR and FPR both fall by 0.10) from
   a week drawn uniformly in 10..45; the share detected by g0's selection-rate stream at the shift
   window or the 2 after (goal >= 90%), the delay distribution, and fairness false alarms before
   the shift. Features are left out here (they are unchanged and measured in part 1).
3. Incremental update, one core (a child process pinned to one CPU, OMP/BLAS/Arrow threads 1): a
   week of ``--week-rows`` rows (categorical protected attributes, 0/1 prediction, score; without
   and with 3 features) counted and merged into a state holding 52 earlier weeks
   (``MonitorState.ingest_predictions`` on an in-memory frame), the Parquet read of the same
   rows; anchors: the whole year recounted from scratch (53 weeks of rows, ``count_batch`` + one
   merge) and a plain pandas group-by of the week.
4. Scale: ``--scale-rows`` rows in 100 Parquet files (under /tmp, removed after) through
   ``run_monitor(engine="dask")`` in a child process; its peak RSS (goal <= 1 GiB).
5. Anchor: Evidently's data drift preset on the same feature rows (reference = weeks 1-4, current =
   weeks 5-8; x1 shifted by +1.0 in group g0 only from week 7). Evidently 0.7 does not import with
   pandas 3, so it runs in a child process of a separate virtual environment (``build/bench-evidently``,
   made once with ``pip install evidently "pandas<3" pyarrow``).

Usage::

    python benchmarks/bench_monitor.py                 # writes benchmarks/results/monitor.txt
    python benchmarks/bench_monitor.py --quick         # small sizes, nothing saved
    python benchmarks/bench_monitor.py --streams 300 --scale-rows 5000000 --no-evidently --no-save
    python benchmarks/bench_monitor.py --parts 1,2 --alpha 0.035   # detector alpha sensitivity, not saved
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import _monitor_sim as sim  # noqa: E402
from _common import emit, machine, seconds  # noqa: E402

from auditkit.fairness._monitor import MonitorSpec, evaluate_monitor, score_feature_table  # noqa: E402
from auditkit.fairness._sequential import DetectorSpec  # noqa: E402

N_WEEKS = 52
FEATURE_NAMES = tuple(sim.FEATURES)
EVIDENTLY_ENV = REPO / "build" / "bench-evidently"
ONE_CORE_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                 "NUMEXPR_NUM_THREADS", "ARROW_NUM_THREADS")}


# -- parts 1 and 2: simulated streams ------------------------------------------------------------
def _evaluate(config: sim.SimConfig, rng: np.random.Generator, shift_at: int | None, features: bool,
              alpha: float):
    w0 = sim.first_window()
    windows = np.arange(w0, w0 + N_WEEKS)
    counts = sim.cells_to_counts(config, windows, sim.draw_cells(rng, config, N_WEEKS, shift_at=shift_at))
    feats = sim.features_table(config, windows, sim.draw_features(rng, config, N_WEEKS)) if features else None
    result = evaluate_monitor(counts, feats if feats is not None else counts.iloc[0:0], attributes=config.attributes,
                              windows=sim.summaries(config, windows), spec=MonitorSpec(detector=DetectorSpec(alpha=alpha), disparities=False),
                              score_features=score_feature_table(counts, config.attributes) if features else None)
    return result, w0


def null_stream(job: tuple[str, int, float]) -> dict:
    """One null year: which kinds of alarm it raised (0/1 each) and how many fairness alarms."""
    name, seed, alpha = job
    result, _ = _evaluate(sim.CONFIGS[name], np.random.default_rng([seed, 1]), None, True, alpha)
    s, d = result.series, result.drift
    alarm = s[s["alarm"]]
    drifted = d[d["alarm"].astype(bool)] if len(d) else d
    return {"fairness": int((alarm["kind"] == "fairness").any()), "calibration": int((alarm["kind"] == "calibration").any()),
            "prediction_rate": int((alarm["kind"] == "drift").any()),
            "feature_psi": int(len(drifted) > 0 and drifted["feature"].isin(FEATURE_NAMES).any()),
            "score_psi": int(len(drifted) > 0 and (drifted["feature"] == "score").any()),
            "fairness_alarms": int((alarm["kind"] == "fairness").sum()),
            "psi_tests": int((d["reason"] == "").sum()) if len(d) else 0, "n_streams": result.n_streams}


def shift_stream(job: tuple[str, int, float]) -> dict[str, int]:
    """One year with the planted shift: its week (1-based), the delay of g0's selection-rate
    stream (-1 = never) and whether a fairness alarm came before the shift."""
    name, seed, alpha = job
    rng = np.random.default_rng([seed, 2])
    week = int(rng.integers(10, 46))
    result, w0 = _evaluate(sim.CONFIGS[name], rng, week - 1, False, alpha)
    s = result.series
    alarm = s[s["alarm"] & (s["kind"] == "fairness")]
    offset = alarm["window"].to_numpy() - w0
    planted = alarm[(alarm["metric"] == "selection_rate") & (alarm["grouping"] == "attr1")
                    & (alarm["group"] == "g0") & (offset >= week - 1)]
    delay = int(planted["window"].min() - w0 - (week - 1)) if len(planted) else -1
    return {"week": week, "delay": delay, "before": int((offset < week - 1).any())}


def _map(fn, jobs: list, workers: int) -> list:
    if workers <= 1:
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as ex:
        return list(ex.map(fn, jobs, chunksize=max(1, len(jobs) // (workers * 8))))


def _rate(k: int, n: int) -> tuple[str, float, float, float]:
    from auditkit.fairness._intervals import wilson

    lo, hi = wilson(np.array([float(k)]), np.array([float(n)]), 0.95)
    p = k / n if n else float("nan")
    return f"{k:>5}/{n:<5} = {p:6.2%}  [{lo[0]:6.2%}, {hi[0]:6.2%}]", p, float(lo[0]), float(hi[0])


def part_streams(n: int, workers: int, goals: list, alpha: float = 0.05) -> str:
    lines = [f"1. Null streams: {n} simulated years x {N_WEEKS} weekly windows per configuration, no change",
             "   (tables drawn directly: one multinomial per window x protected cell, which is exactly the",
             "   distribution of the tables counting independent rows gives; default MonitorSpec; calibration on,",
             "   with scores; features x1, x2 (numeric, 10 bins), c1 (4 categories), stable; reference first 4 weeks)"]
    for name, cfg in sim.CONFIGS.items():
        t = time.perf_counter()
        rows = _map(null_stream, [(name, s, alpha) for s in range(n)], workers)
        sizes = "; ".join(f"{a}: " + "/".join(f"{g} {v}" for g, v in d.items()) for a, d in cfg.group_rows().items())
        lines.append(f"   {name}: {sizes} rows a window; streams per year: "
                     + ", ".join(f"{k} {v}" for k, v in rows[0]["n_streams"].items())
                     + f" (+ {rows[0]['psi_tests']} PSI tests: {len(FEATURE_NAMES)} features and the score, "
                     f"all rows and per group); {time.perf_counter() - t:.0f} s")
        for key, what in (("fairness", "any fairness alarm"), ("calibration", "any calibration alarm"),
                          ("prediction_rate", "any prediction-rate drift alarm"),
                          ("feature_psi", "any feature PSI drift alarm"), ("score_psi", "any score PSI drift alarm")):
            text, p, lo, hi = _rate(sum(r[key] for r in rows), n)
            lines.append(f"      {what:<34} {text}")
            if key == "fairness":
                goals.append((f"null fairness false alarms/year, {name} (upper 95%)", "<= 5%", f"{hi:.2%}", hi <= 0.05))
        per = sorted(Counter(r["fairness_alarms"] for r in rows if r["fairness_alarms"]).items())
        lines.append("      fairness alarms in a year with any: " + (", ".join(f"{k}: {v} years" for k, v in per) or "none"))
    return "\n".join(lines) + "\n"


def part_shift(n: int, workers: int, goals: list, alpha: float = 0.05) -> str:
    lines = [f"2. Planted shift: g0's selection rate -{sim.SHIFT:.2f} (0.40 -> 0.30) from a week uniform in 10..45, "
             f"{n} years per configuration", "   detected = an alarm of g0's selection-rate stream (attr1) at the "
             "shift window or later; delay = alarm week - shift week"]
    for name in sim.CONFIGS:
        rows = _map(shift_stream, [(name, s, alpha) for s in range(n)], workers)
        delays = Counter(r["delay"] for r in rows)
        text, p, lo, hi = _rate(sum(0 <= r["delay"] <= 2 for r in rows), n)
        lines.append(f"   {name}: detected within 2 windows {text}")
        goals.append((f"shift 0.10 detected within 2 windows, {name}", ">= 90%", f"{p:.1%} [{lo:.1%}, {hi:.1%}]",
                      p >= 0.90))
        dist = {str(d): delays.get(d, 0) for d in range(4)}
        dist["4+"] = sum(v for d, v in delays.items() if d >= 4)
        dist["never"] = delays.get(-1, 0)
        lines.append("      delay distribution: " + ", ".join(f"{k}: {v} ({v / n:.1%})" for k, v in dist.items()))
        text, *_ = _rate(sum(r["before"] for r in rows), n)
        lines.append(f"      any fairness false alarm before the shift {text}")
    return "\n".join(lines) + "\n"


# -- part 3: incremental update (child process, one core) ----------------------------------------
def _one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def _naive(frame: pd.DataFrame) -> pd.DataFrame:
    ns = frame["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return frame.assign(window=(ns // 86_400_000_000_000 + 3) // 7,
                        score_bin=np.minimum((frame["score"].to_numpy() * 20).astype(np.int64), 19)).groupby(
        ["window", "attr1", "attr2", "prediction", "score_bin"], observed=True).agg(
        n=("score", "size"), score_sum=("score", "sum"))


def _scratch(frame: pd.DataFrame, cols, bins, weeks: int) -> float:
    """Seconds to count ``weeks`` weeks of rows (the week's rows moved back week by week) and merge."""
    from auditkit.fairness import _monitor_counts as mc

    total, counts, feats = 0.0, [], []
    for k in range(weeks):
        moved = frame.assign(timestamp=frame["timestamp"] - pd.Timedelta(weeks=weeks - 1 - k))
        t = time.perf_counter()
        b = mc.count_batch(moved, cols, sim.WEEK, bins)
        total += time.perf_counter() - t
        counts.append(b.counts)
        feats.append(b.features)
    t = time.perf_counter()
    mc.merge_tables(mc.empty_counts(cols), pd.concat(counts), mc.count_keys(cols))
    if cols.features:
        mc.merge_tables(mc.empty_features(), pd.concat(feats), mc.FEATURE_KEYS)
    return total + time.perf_counter() - t


def _incremental_one(rng: np.random.Generator, p: dict, feats: tuple[str, ...]) -> dict:
    from auditkit.fairness._monitor_counts import FeatureBins, LogColumns, count_batch
    from auditkit.fairness._monitor_state import MonitorState

    w0 = sim.first_window()
    cols = LogColumns("timestamp", "prediction", ("attr1", "attr2"), score="score", features=feats)
    week = sim.log_frame(rng, p["rows"], sim.week_start(w0 + N_WEEKS), pd.Timedelta(days=7), features=feats)
    history = sim.log_frame(rng, p["history_rows"] * N_WEEKS, sim.week_start(w0), pd.Timedelta(weeks=N_WEEKS),
                            features=feats)
    r: dict = {}
    with tempfile.TemporaryDirectory() as d:
        state = MonitorState.open(Path(d) / "state", columns=cols, windowing=sim.WEEK)
        state.ingest_predictions(None, history)
        del history
        r["state_rows"] = [len(state.counts), len(state.features)]
        keep = {k: getattr(state, k) for k in ("counts", "features", "pending", "rows_seen", "latest_timestamp")}
        r["ingest"] = []
        for _ in range(p["repeat"]):
            for k, v in keep.items():
                setattr(state, k, v)
            t = time.perf_counter()
            state.ingest_predictions(None, week)
            r["ingest"].append(time.perf_counter() - t)
        bins = state.bins or FeatureBins()
        state.close()
        r["count_only"] = seconds(lambda: count_batch(week, cols, sim.WEEK, bins), p["repeat"])
        path = Path(d) / "week.parquet"
        week.to_parquet(path, index=False)
        r["parquet_read"] = seconds(lambda: pd.read_parquet(path), p["repeat"])
    r["naive"] = None if feats else seconds(lambda: _naive(week), 1)
    r["scratch"] = _scratch(week, cols, bins, p["weeks"])
    return r


def child_incremental(p: dict) -> dict:
    """Part 3 in a one-core child: ingest a week into a 52-week state; Parquet read; anchors."""
    _one_core()
    rng = np.random.default_rng(7)
    return {label: _incremental_one(rng, p, feats) for label, feats in (("no features", ()),
                                                                         ("3 features", FEATURE_NAMES))}


def _child(name: str, params: dict, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", name, json.dumps(params)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=str(REPO))
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def part_incremental(rows: int, weeks: int, repeat: int, goals: list) -> str:
    r = _child("incremental", {"rows": rows, "history_rows": 100_000, "weeks": weeks, "repeat": repeat}, ONE_CORE_ENV)
    head = (f"3. Incremental update: a week of {rows:,} rows into a state holding {N_WEEKS} earlier weeks "
            f"(100,000 rows each), one core\n   (child pinned to one CPU, OMP/BLAS/Arrow threads 1; 2 categorical "
            f"protected attributes, 0/1 prediction, score; median of {repeat})\n")
    if "error" in r:
        return head + f"   n/a: {r['error']}\n"
    lines = []
    for label, v in r.items():
        ingest, count = float(np.median(v["ingest"])), float(np.median(v["count_only"]))
        lines.append(f"   {label} (state: {v['state_rows'][0]:,} counts rows, {v['state_rows'][1]:,} features rows):")
        lines.append(f"      ours: count + merge (ingest_predictions)  {ingest:7.3f} s  ({rows / ingest / 1e6:5.1f} M rows/s;"
                     f" count_batch alone {count:.3f} s, merge {ingest - count:.3f} s)")
        lines.append(f"      Parquet read of the same rows             {float(np.median(v['parquet_read'])):7.3f} s")
        lines.append(f"      anchor: recount all {weeks} weeks from scratch {v['scratch']:7.3f} s  "
                     f"(x{v['scratch'] / ingest:.0f} of ours)")
        if v["naive"] is not None:
            naive = float(v["naive"][0])
            lines.append(f"      anchor: plain pandas group-by of the week  {naive:7.3f} s  (x{naive / ingest:.1f} of ours; "
                         "counts table only, no feature histograms)")
        goals.append((f"week of {rows / 1e6:g}M rows counted + merged, one core, {label}", "<= 1 s", f"{ingest:.3f} s",
                      ingest <= 1.0))
    return head + "\n".join(lines) + "\n"


# -- part 4: scale -------------------------------------------------------------------------------
def _dask_engine_present() -> bool:
    from auditkit.fairness import _monitor_run

    text = Path(_monitor_run.__file__).read_text()
    return "import dask" in text or "dask.dataframe" in text or "_monitor_dask" in text


def child_scale(p: dict) -> dict:
    """Part 4 in a child: run_monitor over the files; peak RSS of this process."""
    import resource

    from auditkit.fairness._monitor_counts import LogColumns
    from auditkit.fairness._monitor_run import run_monitor

    files = sorted(Path(p["dir"]).glob("*.parquet"))
    cols = LogColumns("timestamp", "prediction", ("attr1", "attr2"), score="score", features=("x1", "x2"))
    t = time.perf_counter()
    run = run_monitor(Path(p["dir"]) / "state", predictions=files, columns=cols, windowing=sim.WEEK,
                      engine=p["engine"], close_latest=True)
    seconds = time.perf_counter() - t
    hwm = next((int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines()
                if x.startswith("VmHWM")), 0)
    return {"seconds": seconds, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "hwm_kib": hwm,
            "dask_imported": "dask" in sys.modules, "windows": len(run.result.windows),
            "rows": int(run.result.series["n"].max()) if len(run.result.series) else 0,
            "alerts": sum(a.active for a in run.result.alerts), "files": len(run.ingested)}


def part_scale(rows: int, goals: list) -> str:
    n_files = 100
    per = max(1, rows // n_files)
    need = int(per * n_files * 40 * 1.5)
    free = shutil.disk_usage(tempfile.gettempdir()).free
    head = f"4. Scale: {per * n_files:,} rows in {n_files} Parquet files through run_monitor, child process\n"
    if free < need:
        return head + f"   n/a: {free / 2**30:.1f} GiB free under /tmp, about {need / 2**30:.1f} GiB needed\n"
    engine = "dask" if _dask_engine_present() else "pandas"
    d = Path(tempfile.mkdtemp(prefix="bench-monitor-", dir="/tmp"))
    try:
        rng = np.random.default_rng(11)
        w0, t = sim.first_window(), time.perf_counter()
        span = pd.Timedelta(weeks=N_WEEKS) / n_files
        for i in range(n_files):
            frame = sim.log_frame(rng, per, sim.week_start(w0) + i * span, span, features=("x1", "x2"))
            frame.to_parquet(d / f"part-{i:03d}.parquet", index=False)
        size = sum(f.stat().st_size for f in d.glob("*.parquet"))
        written = time.perf_counter() - t
        r = _child("scale", {"dir": str(d), "engine": engine})
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if "error" in r:
        return head + f"   n/a: {r['error']}\n"
    peak = max(r["maxrss_kib"], r["hwm_kib"]) / 2**20
    note = ("run_monitor(engine='dask')" if engine == "dask" else
            "run_monitor(engine='pandas'): the Dask engine is not in fairness/_monitor_run.py yet")
    lines = [f"   files: {size / 2**30:.2f} GiB written in {written:.0f} s (timestamp, attr1, attr2, prediction, score, "
             "x1, x2; removed after)",
             f"   {note}: {r['seconds']:.1f} s ({per * n_files / r['seconds'] / 1e6:.1f} M rows/s), "
             f"{r['windows']} windows, {r['alerts']} active alerts; Dask imported by the run: "
             f"{'yes' if r['dask_imported'] else 'no'}",
             f"   peak RSS of the child (getrusage ru_maxrss / VmHWM): {peak:.2f} GiB"]
    goals.append((f"{per * n_files / 1e6:g}M rows / {n_files} files, peak RSS ({engine})", "<= 1 GiB",
                  f"{peak:.2f} GiB", peak <= 1.0))
    return head + "\n".join(lines) + "\n"


# -- part 5: Evidently ---------------------------------------------------------------------------
def _evidently_python() -> tuple[str | None, str]:
    """An interpreter that imports Evidently, and how it was found (or why there is none)."""
    try:
        import evidently  # noqa: F401

        return sys.executable, "this interpreter"
    except Exception as exc:  # noqa: BLE001 - any import failure sends us to the separate environment
        why = f"`import evidently` fails here ({type(exc).__name__}: {str(exc).splitlines()[0][:90]})"
    py = EVIDENTLY_ENV / "bin" / "python"
    if not py.exists():
        for cmd in ([sys.executable, "-m", "venv", str(EVIDENTLY_ENV)],
                    [str(py), "-m", "pip", "install", "-q", "evidently", "pandas<3", "pyarrow"]):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                return None, f"{why}; creating {EVIDENTLY_ENV.name} failed: {proc.stderr.strip()[-200:]}"
    return str(py), (f"{why};\n   Evidently 0.7 imports pandas' infer_dtype_from_object, gone in pandas 3, so it ran in a child "
                     f"process of {EVIDENTLY_ENV.relative_to(REPO)} (pandas<3)")


def _ours_drift(data: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    from auditkit.fairness._drift import drift_table
    from auditkit.fairness._monitor_counts import FeatureBins, LogColumns, count_batch

    spec, w0 = MonitorSpec(), sim.first_window()
    cols = LogColumns("timestamp", "prediction", ("attr1", "attr2"), features=FEATURE_NAMES)
    t = time.perf_counter()
    bins = FeatureBins.fit(data[data["week"] == 1], FEATURE_NAMES)
    feats = count_batch(data, cols, sim.WEEK, bins).features
    table = drift_table(feats, np.arange(w0 + 4, w0 + 8), spec.reference, alpha=spec.drift_alpha,
                        psi_threshold=spec.psi_threshold, min_rows=spec.drift_min_rows)
    return time.perf_counter() - t, table


def part_evidently(rows: int = 20_000) -> str:
    head = (f"5. Anchor: Evidently DataDriftPreset on the same feature rows ({rows:,} a week; reference weeks 1-4, "
            "current weeks 5-8;\n   x1 + 1.0 in group g0 only (25% of rows) from week 7)\n")
    py, how = _evidently_python()
    if py is None:
        return head + f"   n/a: {how}\n"
    data = sim.drift_rows(rows, FEATURE_NAMES)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "drift.parquet"
        pd.DataFrame({c: data[c].astype(str) if c in ("attr1", "c1") else data[c]
                      for c in ("week", "attr1", "x1", "x2", "c1")}).to_parquet(path, index=False)
        proc = subprocess.run([py, "-c", sim.EVIDENTLY_SCRIPT, str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        return head + f"   n/a: Evidently failed ({(proc.stderr.strip().splitlines() or ['?'])[-1][:200]})\n"
    ev = json.loads(proc.stdout.strip().splitlines()[-1])
    ours_s, table = _ours_drift(data)
    return head + _evidently_lines(ev, how, ours_s, table)


def _evidently_lines(ev: dict, how: str, ours_s: float, table: pd.DataFrame) -> str:
    w0 = sim.first_window()
    whole = [r for r in ev["reports"] if not r["group"]]
    lines = [f"   Evidently {ev['version']}: {how}.",
             "   It reports, per column of the frame it is given: a drift score (Wasserstein distance normed by the",
             "   reference std for numeric columns, Jensen-Shannon distance for categorical ones) against a threshold",
             "   (0.1), a drifted yes/no, and the share of drifted columns (dataset drift at >= 50%). No group dimension:",
             "   a group's drift is seen only by filtering its rows and running one more report per group by hand,",
             "   with no correction for the many tests; no interval, no sequential control over the weeks.",
             "   week  Evidently, all rows: score per column     Evidently, g0 rows only   ours: PSI alarms"]
    for r in whole:
        g0 = next(x for x in ev["reports"] if x["week"] == r["week"] and x["group"] == "g0")
        cols = "  ".join(f"{c} {v[1]:.3f}{'*' if v[1] >= v[2] else ' '}" for c, v in r["columns"].items())
        alarms = table[(table["window"] == w0 + r["week"] - 1) & table["alarm"].astype(bool)]
        ours = ", ".join(f"{a.feature} in {a.grouping + '=' + a.group if a.grouping else 'all rows'} (PSI {a.psi:.3f})"
                         for a in alarms.itertuples()) or "none"
        x1 = g0["columns"]["x1"]
        lines.append(f"   {r['week']:>4}  {cols}   x1 {x1[1]:.3f}{'*' if x1[1] >= x1[2] else ' '}"
                     f"       {ours}")
    per_ev = float(np.mean([r["seconds"] for r in whole]))
    per_group = float(np.mean([r["seconds"] for r in ev["reports"] if r["group"]]))
    lines += ["   (* = drift by Evidently's threshold)",
              f"   time per window: Evidently {per_ev:.3f} s per report on all rows (+ {per_group:.3f} s per group "
              "report by hand);",
              f"   ours {ours_s / len(whole):.3f} s per window (counting the 8 weeks' rows into the features table, "
              "then PSI and JS",
              f"   for every feature on all rows and each group of attr1 and attr2: {len(table)} comparisons in all)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, nothing saved")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--streams", type=int, default=None, help="simulated years per configuration (default 2000)")
    ap.add_argument("--scale-rows", type=int, default=None, help="rows of part 4 (default 100,000,000)")
    ap.add_argument("--week-rows", type=int, default=None, help="rows of the week of part 3 (default 10,000,000)")
    ap.add_argument("--no-evidently", action="store_true")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--parts", default="1,2,3,4,5", help="comma-separated parts to run; a subset is not saved")
    ap.add_argument("--alpha", type=float, default=DetectorSpec().alpha,
                    help="family-wise alpha of the detector in parts 1-2 (default: the default); another is not saved")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        fn = {"incremental": child_incremental, "scale": child_scale}[a.child[0]]
        print(json.dumps(fn(json.loads(a.child[1]))))
        return
    streams = a.streams or (100 if a.quick else 2000)
    scale_rows = a.scale_rows or (2_000_000 if a.quick else 100_000_000)
    week_rows = a.week_rows or (1_000_000 if a.quick else 10_000_000)
    goals: list = []
    t0 = time.perf_counter()
    text = (f"# Continuous monitoring (issue 17): bench_monitor.py, {dt.date.today()}\n"
            f"# machine: {machine(memory=True)}\n# streams {streams}, week rows {week_rows:,}, scale rows "
            f"{scale_rows:,}, workers {a.workers}{' (quick)' if a.quick else ''}\n\n")
    parts = {int(x) for x in a.parts.split(",")}
    if a.alpha != DetectorSpec().alpha:
        text += f"# detector alpha {a.alpha} (not the default {DetectorSpec().alpha}) in parts 1 and 2\n\n"
    text += part_streams(streams, a.workers, goals, a.alpha) + "\n" if 1 in parts else ""
    text += part_shift(streams, a.workers, goals, a.alpha) + "\n" if 2 in parts else ""
    text += part_incremental(week_rows, 53, 3, goals) + "\n" if 3 in parts else ""
    text += part_scale(scale_rows, goals) + "\n" if 4 in parts else ""
    if 5 in parts:
        text += ("5. Anchor: Evidently\n   skipped (--no-evidently)\n" if a.no_evidently else part_evidently()) + "\n"
    text += _summary(goals) + f"\ntotal {time.perf_counter() - t0:.0f} s\n"
    partial = a.parts != "1,2,3,4,5" or a.alpha != DetectorSpec().alpha
    emit(text, HERE / "results" / "monitor.txt", save=not (a.quick or a.no_save or partial))


def _summary(goals: list) -> str:
    w = max(len(g[0]) for g in goals) if goals else 10
    lines = ["Summary", f"   {'goal':<{w}}  {'target':<9} {'ours':<22} verdict"]
    lines += [f"   {g:<{w}}  {target:<9} {ours:<22} {'pass' if ok else 'FAIL'}" for g, target, ours, ok in goals]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
