"""Benchmark: auditkit.fairness.audit (counts + count-tensor bootstrap) vs fairlearn's MetricFrame.

Three measurements, anchor and ours in one run:

1. Metrics by group: 1,000,000 rows, attributes of 2 x 5 x 4 levels (40 intersectional
   groups), 13 binary metrics. Anchor: ``MetricFrame`` with the same 13 metrics over the 40
   groups. Ours: ``auditkit.fairness.audit(n_boot=0)``, which computes them for the 40 groups *and* for
   every single attribute and pair (89 groups). Every value of the 40 groups is asserted equal
   to fairlearn's (|difference| <= 1e-12).
2. Bootstrap: ours, 1,000 resamples on the 1,000,000 rows (all 13 metrics, every group and
   disparity, with intervals). Anchor: ``MetricFrame(n_boot=100)`` on 100,000 rows with 6
   metrics. Reported per resample as well, since the two do not do the same amount of work.
3. Scale: 10,000,000 rows read from Parquet (20 files) as a Dask DataFrame, partition by
   partition, vs the same data loaded whole into pandas. Each runs in a fresh child process
   that reports its own peak resident memory (``VmHWM``; ``ru_maxrss`` would include the
   parent's, carried over exec).

Usage::

    python benchmarks/bench_fairness.py            # full run, writes benchmarks/results/fairness.txt
    python benchmarks/bench_fairness.py --quick    # 100k rows, small anchors, nothing saved
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

from auditkit.fairness import audit  # noqa: E402

METRICS = ("selection_rate", "base_rate", "true_positive_rate", "false_positive_rate",
           "true_negative_rate", "false_negative_rate", "positive_predictive_value",
           "negative_predictive_value", "false_discovery_rate", "false_omission_rate", "accuracy",
           "balanced_accuracy", "f1")


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    sf = pd.DataFrame({
        "sex": pd.Categorical(rng.choice(["female", "male"], n)),
        "race": pd.Categorical(rng.choice(["a", "b", "c", "d", "e"], n, p=[0.5, 0.2, 0.15, 0.1, 0.05])),
        "age": pd.Categorical(rng.choice(["18-24", "25-39", "40-59", "60+"], n)),
    })
    y = (rng.random(n) < 0.35).astype(np.int8)
    bias = np.where(sf["sex"].to_numpy() == "female", -0.08, 0.0)
    yhat = (rng.random(n) < 0.3 + 0.4 * y + bias).astype(np.int8)
    return y, yhat, sf


def fairlearn_metrics() -> dict:
    import sklearn.metrics as skm
    from fairlearn import metrics as flm

    def ratio(num, den):
        def f(y_true, y_pred):
            d = den(y_true, y_pred)
            return float((num(y_true, y_pred) & d).sum() / d.sum()) if d.sum() else float("nan")
        return f

    return {
        "selection_rate": flm.selection_rate,
        "base_rate": lambda t, p: float(np.mean(t == 1)),
        "true_positive_rate": flm.true_positive_rate,
        "false_positive_rate": flm.false_positive_rate,
        "true_negative_rate": flm.true_negative_rate,
        "false_negative_rate": flm.false_negative_rate,
        "positive_predictive_value": functools.partial(skm.precision_score, zero_division=np.nan),
        "negative_predictive_value": functools.partial(skm.precision_score, pos_label=0, zero_division=np.nan),
        "false_discovery_rate": ratio(lambda t, p: t == 0, lambda t, p: p == 1),
        "false_omission_rate": ratio(lambda t, p: t == 1, lambda t, p: p == 0),
        "accuracy": skm.accuracy_score,
        "balanced_accuracy": skm.balanced_accuracy_score,
        "f1": skm.f1_score,
    }


def bench_metrics(n: int) -> list[str]:
    from fairlearn.metrics import MetricFrame

    y, yhat, sf = make_data(n)
    t0 = time.perf_counter()
    ours = audit(y, yhat, sf, n_boot=0, min_group_size=0)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    mf = MetricFrame(metrics=fairlearn_metrics(), y_true=y, y_pred=yhat, sensitive_features=sf)
    t_anchor = time.perf_counter() - t0
    theirs = mf.by_group
    theirs.index = [tuple(map(str, i)) for i in theirs.index]  # an intersection's label is a tuple
    mine = ours.by_group.xs("sex × race × age", level="grouping")[list(METRICS)]
    assert len(mine) == 40 and set(mine.index) == set(theirs.index)
    worst = float(np.nanmax(np.abs(mine.loc[theirs.index].to_numpy() - theirs[list(METRICS)].to_numpy())))
    assert worst <= 1e-12, worst
    return [
        f"1. metrics by group: {n:,} rows, 40 intersectional groups, {len(METRICS)} metrics",
        f"   anchor  fairlearn MetricFrame (40 groups)                 {t_anchor:8.2f} s",
        f"   ours    auditkit.fairness.audit, n_boot=0 (89 groups: 3 attributes, 3 pairs, 40 cells) "
        f"{t_ours:8.2f} s",
        f"   ratio   {t_anchor / t_ours:8.1f}x faster; max |ours - fairlearn| over 40 x {len(METRICS)} "
        f"values = {worst:.1e}",
    ]


def bench_bootstrap(n: int, n_anchor: int, boot_anchor: int) -> list[str]:
    from fairlearn.metrics import MetricFrame

    y, yhat, sf = make_data(n)
    t0 = time.perf_counter()
    audit(y, yhat, sf, n_boot=0)
    t_point = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = audit(y, yhat, sf, n_boot=1000, random_state=0)
    t_boot = time.perf_counter() - t0
    n_int = res.by_group_ci_low.size + len(res.disparities)
    six = {k: v for k, v in fairlearn_metrics().items()
           if k in ("selection_rate", "true_positive_rate", "false_positive_rate",
                    "true_negative_rate", "false_negative_rate", "accuracy")}
    ya, pa, sfa = make_data(n_anchor, seed=1)
    t0 = time.perf_counter()
    MetricFrame(metrics=six, y_true=ya, y_pred=pa, sensitive_features=sfa, n_boot=boot_anchor,
                ci_quantiles=[0.025, 0.975], random_state=0)
    t_anchor = time.perf_counter() - t0
    per_anchor = t_anchor / boot_anchor
    per_ours = (t_boot - t_point) / 1000
    return [
        f"2. bootstrap: ours 1,000 resamples on {n:,} rows ({n_int:,} intervals: every metric of 89 "
        "groups and every disparity)",
        f"   anchor  MetricFrame n_boot={boot_anchor}, {n_anchor:,} rows, 6 metrics, 40 groups "
        f"{t_anchor:8.2f} s  ({per_anchor * 1000:.0f} ms per resample)",
        f"   ours    auditkit.fairness.audit n_boot=1000, total {t_boot:.2f} s (counting {t_point:.2f} s, "
        f"resampling {t_boot - t_point:.2f} s; {per_ours * 1000:.2f} ms per resample)",
        f"   ratio   per resample {per_anchor / per_ours:,.0f}x faster, on {n // n_anchor}x the rows",
    ]


CHILD = r"""
import json, sys, time
from auditkit.fairness import audit
t0 = time.perf_counter()
if {mode!r} == "dask":
    import dask
    import dask.dataframe as dd
    dask.config.set(scheduler="threads")
    df = dd.read_parquet({path!r})
else:
    import pandas as pd
    df = pd.read_parquet({path!r})
res = audit(df["y"], df["yhat"], df[["sex", "race", "age"]], n_boot=1000, random_state=0)
dt = time.perf_counter() - t0
# VmHWM: the peak RSS of this process image (ru_maxrss would carry the parent's over exec)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"seconds": dt, "rss_mib": hwm / 1024,
                  "dpd": float(res.disparities.loc[("sex", "demographic_parity_difference"), "value"]),
                  "rows": int(res.counts.n_rows)}}))
"""


def bench_scale(n: int, files: int) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = ROOT / ".bench-data" / f"fairness-{n}"
    if not (path / f"part-{files - 1:03d}.parquet").exists():
        path.mkdir(parents=True, exist_ok=True)
        per = n // files
        for i in range(files):
            y, yhat, sf = make_data(per, seed=100 + i)
            table = pa.Table.from_pandas(sf.assign(y=y, yhat=yhat), preserve_index=False)
            pq.write_table(table, path / f"part-{i:03d}.parquet")
    out = {}
    for mode in ("pandas", "dask"):
        code = CHILD.format(root=str(ROOT), mode=mode, path=str(path))
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["pandas"]["rows"] == out["dask"]["rows"]
    assert abs(out["pandas"]["dpd"] - out["dask"]["dpd"]) <= 1e-12
    p, d = out["pandas"], out["dask"]
    return [
        f"3. scale: {p['rows']:,} rows from {files} Parquet files, n_boot=1000 (read + count + bootstrap)",
        f"   pandas  read whole, audit          {p['seconds']:8.2f} s   peak RSS {p['rss_mib']:8.0f} MiB",
        f"   dask    partition by partition     {d['seconds']:8.2f} s   peak RSS {d['rss_mib']:8.0f} MiB",
        f"   ratio   time {p['seconds'] / d['seconds']:.2f}x, memory {p['rss_mib'] / d['rss_mib']:.1f}x less "
        "with Dask; results identical",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100k rows, small anchors; nothing saved.")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    if args.quick:
        n, n_anchor, boot_anchor, n_scale = 100_000, 20_000, 10, 1_000_000
    else:
        n, n_anchor, boot_anchor, n_scale = 1_000_000, 100_000, 100, 10_000_000
    header = [
        f"fairness benchmark, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
        + (" (--quick)" if args.quick else ""),
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}",
        "",
    ]
    print("\n".join(header), flush=True)
    lines = list(header)
    for part in (lambda: bench_metrics(n), lambda: bench_bootstrap(n, n_anchor, boot_anchor),
                 lambda: bench_scale(n_scale, 20)):
        block = part()
        print("\n".join(block) + "\n", flush=True)
        lines += block + [""]
    lines.append(f"self peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if not args.quick and not args.no_save:
        out = ROOT / "benchmarks" / "results" / "fairness.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
        print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
