"""Benchmark: the personal-data guard's share of an audit run.

Runs the 20,000-row demo audit (every section, html+md+json), then, in the same process and on
the same report and data:

- anchor: the earlier guard, a substring scan of every *rendered* text format (HTML, Markdown,
  JSON; it could not read the PDF) for the personal values, with HTML and Markdown escapes
  undone;
- ours: the guard over the findings model (index of the personal values at word level, then
  one walk of the model every format is rendered from, the PDF included).

Prints both, the ratio, and ours as a share of the whole run (goal: at most 5 %).

    python benchmarks/bench_guard.py [--rows 20000] [--repeat 5] [--no-save]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import emit, machine, seconds  # noqa: E402


def best(fn, repeat: int) -> float:
    return min(seconds(fn, repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()

    from auditkit._redact import PersonalValueIndex
    from auditkit.demo import run_demo
    from auditkit.reports import render

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        demo = run_demo(Path(tmp) / "demo", rows=args.rows)
        run_s = time.perf_counter() - t0
        report = demo.run.report
        import pandas as pd

        data = pd.read_csv(demo.out_dir / "applications.csv", dtype=str)
        personal = _personal(demo, data)

        def build() -> PersonalValueIndex:
            return PersonalValueIndex.from_frame(data, personal)

        index = build()
        build_s = best(build, args.repeat)
        model_s = best(lambda: index.leaks_in_report(report), args.repeat)
        rendered = [render(report, fmt).decode("utf-8") for fmt in ("html", "md", "json")]
        text_s = best(lambda: [index.find(t) for t in rendered], args.repeat)
        leaks = index.leaks_in_report(report)

    ours = build_s + model_s
    anchor = build_s + text_s
    lines = [
        "auditkit benchmark: the personal-data guard on the demo audit",
        machine(),
        f"demo: {args.rows:,} rows, {len(personal)} personal columns, {index.size:,} indexed "
        f"values; the whole demo run took {run_s:.2f} s (data, model, every check, 3 formats)",
        f"   index build (shared)                      {build_s * 1000:8.1f} ms",
        f"   anchor  scan of rendered html+md+json     {text_s * 1000:8.1f} ms  "
        f"(total {anchor * 1000:.1f} ms)",
        f"   ours    walk of the findings model        {model_s * 1000:8.1f} ms  "
        f"(total {ours * 1000:.1f} ms)",
        f"   ratio   anchor / ours                     {anchor / ours:8.2f}x",
        f"   ours as a share of the run                {100 * ours / run_s:8.2f} %  (goal <= 5 %)",
        f"   leaks found in the demo report            {len(leaks)}",
        f"best of {args.repeat}; the demo run once.",
    ]
    emit("\n".join(lines) + "\n", HERE / "results" / "guard.txt", save=not args.no_save)


def _personal(demo, data) -> list[str]:
    """The columns the runner guards: declared in the config, plus those the PII scan finds."""
    from auditkit._personal import classify_personal_columns
    from auditkit.config import load_config

    return sorted(classify_personal_columns(data, load_config(demo.config_path).data.personal))


if __name__ == "__main__":
    main()
