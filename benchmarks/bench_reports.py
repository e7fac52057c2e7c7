"""Benchmark: rendering the demo audit's report in all four formats, against the audit itself.

Runs ``auditkit demo`` (default 20,000 rows, JSON output only so the audit's own time excludes
the renderers under test), then renders the resulting :class:`reports.Report` as JSON, Markdown,
HTML and PDF in the same process. The PDF is timed twice: cold (first call, WeasyPrint import and
font set-up included, as in a one-shot ``auditkit run``) and warm (best of ``--repeat``). The
anchor is the audit's own run time (data load, every check, report assembly); the goal is that
rendering, and the PDF in particular, does not dominate it.

Usage::

    python benchmarks/bench_reports.py              # writes benchmarks/results/reports.txt
    python benchmarks/bench_reports.py --rows 4000 --no-save
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
        load_s = f"; load average {load:.1f} at start"
    except OSError:
        load_s = ""
    return f"{cpu}, {os.cpu_count()} CPUs; {platform.system()} {platform.release()}{load_s}"


def _time(fn, repeat: int) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "reports.txt")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    machine = _machine()

    from auditkit.demo import run_demo
    from reports._render import get_renderer

    with tempfile.TemporaryDirectory() as tmp:
        demo = run_demo(Path(tmp) / "demo", rows=args.rows, formats=["json"])
        audit_s = demo.run.seconds
        report = demo.run.report

        t0 = time.perf_counter()
        pdf_cold = get_renderer("pdf").load()(report)
        pdf_cold_s = time.perf_counter() - t0

        rows = []
        for fmt in ("json", "md", "html", "pdf"):
            fn = get_renderer(fmt).load()
            seconds, blob = _time(lambda fn=fn: fn(report), args.repeat)
            rows.append((fmt, seconds, len(blob)))
        assert pdf_cold.startswith(b"%PDF")

    total_warm = sum(s for _, s, _ in rows)
    total_cold = total_warm - dict((f, s) for f, s, _ in rows)["pdf"] + pdf_cold_s
    n_findings = len(report.findings)
    n_rows_tables = sum(len(t.rows) for f in report.findings for t in f.tables)
    n_figures = sum(len(f.figures) for f in report.findings) + sum(len(s.figures) for s in report.sections)

    lines = [
        f"bench_reports: render the demo audit's report in every format vs the audit's run time",
        f"date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine: {machine}",
        f"python {platform.python_version()}; demo rows {args.rows}; {n_findings} findings, "
        f"{n_rows_tables} evidence-table rows, {n_figures} figures; best of {args.repeat}",
        "",
        f"anchor  audit run (load data, all checks, assemble report): {audit_s:8.2f} s",
        "",
        f"{'format':<8}{'seconds':>10}{'bytes':>12}{'% of audit':>12}",
    ]
    for fmt, seconds, size in rows:
        lines.append(f"{fmt:<8}{seconds:>10.3f}{size:>12,}{100 * seconds / audit_s:>11.1f}%")
    lines += [
        f"{'pdf cold':<8}{pdf_cold_s:>10.3f}{'':>12}{100 * pdf_cold_s / audit_s:>11.1f}%"
        "   (first call: WeasyPrint import + fonts)",
        "",
        f"all four formats (warm):  {total_warm:6.2f} s = {total_warm / audit_s:.2f} x the audit",
        f"all four formats (cold):  {total_cold:6.2f} s = {total_cold / audit_s:.2f} x the audit",
        f"PDF share of the rendering (warm): {100 * rows[-1][1] / total_warm:.0f}%",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if not args.no_save:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"saved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
