"""Start-up and end-to-end timings of the CLI.

Anchor: ``python -c "import pandas"`` (the floor any pandas-based tool pays at start-up).
Ours: ``auditkit --help``, ``auditkit gate --help`` and the whole ``auditkit demo``.
Each start-up figure is the median of N fresh subprocesses; the demo runs once.

    python benchmarks/bench_cli.py [--runs 15] [--demo-rows 20000] [--skip-demo]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import seconds  # noqa: E402


def wall(cmd: list[str], runs: int) -> float:
    return statistics.median(seconds(lambda: subprocess.run(cmd, check=True, capture_output=True), runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--demo-rows", type=int, default=20_000)
    ap.add_argument("--skip-demo", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    pandas = wall([py, "-c", "import pandas"], args.runs)
    bare = wall([py, "-c", "pass"], args.runs)
    help_ = wall([py, "-m", "auditkit", "--help"], args.runs)
    gate = wall([py, "-m", "auditkit", "gate", "--help"], args.runs)
    print(f"python -c pass                 {bare * 1000:7.0f} ms (interpreter floor)")
    print(f"anchor: python -c 'import pandas' {pandas * 1000:7.0f} ms")
    print(f"ours:   auditkit --help          {help_ * 1000:7.0f} ms   ratio to anchor {help_ / pandas:.2f}x")
    print(f"ours:   auditkit gate --help     {gate * 1000:7.0f} ms   ratio to anchor {gate / pandas:.2f}x")
    if not args.skip_demo:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            proc = subprocess.run([py, "-m", "auditkit", "demo", "--out", d, "--rows", str(args.demo_rows), "-q"],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            if proc.returncode != 0:
                sys.exit(f"demo failed:\n{proc.stderr}")
        print(f"ours:   auditkit demo ({args.demo_rows:,} rows, every section, html+md+json) {seconds:7.1f} s")


if __name__ == "__main__":
    main()
