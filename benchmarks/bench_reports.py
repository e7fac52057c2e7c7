"""Benchmark: rendering the demo audit's report in all four formats, against the audit itself.

Runs ``auditkit demo`` (default 20,000 rows, JSON output only so the audit's own time excludes
the renderers under test), then renders the resulting :class:`auditkit.reports.Report` as JSON, Markdown,
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
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import emit, machine  # noqa: E402


def _time(fn, repeat: int) -> tuple[float, float, bytes]:
    """Best wall and best CPU seconds (this process, all threads) of ``repeat`` calls."""
    best, best_cpu, out = float("inf"), float("inf"), b""
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "reports.txt")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    machine_s = machine()

    from auditkit.demo import run_demo
    from auditkit.reports._render import get_renderer
    from auditkit.runner import run_audit

    with tempfile.TemporaryDirectory() as tmp:
        demo = run_demo(Path(tmp) / "demo", rows=args.rows, formats=["json"])
        # The anchor: the audit alone (data load, every check, report assembly, JSON written),
        # run again on the demo's audit.toml so data generation and training are excluded.
        audit_s, audit_cpu, run = _time(
            lambda: run_audit(demo.config_path, out_dir=Path(tmp) / "rerun", formats=["json"]), 1
        )
        report = run.report

        t0, c0 = time.perf_counter(), time.process_time()
        pdf_cold = get_renderer("pdf").load()(report)
        pdf_cold_s, pdf_cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert pdf_cold.startswith(b"%PDF")

        rows = []
        for fmt in ("json", "md", "html", "pdf"):
            fn = get_renderer(fmt).load()
            seconds, cpu, blob = _time(lambda fn=fn: fn(report), args.repeat)
            rows.append((fmt, seconds, cpu, len(blob)))
        import io

        from pypdf import PdfReader

        pages = len(PdfReader(io.BytesIO(pdf_cold)).pages)

    total_warm = sum(r[1] for r in rows)
    total_cpu = sum(r[2] for r in rows)
    pdf_wall, pdf_cpu = rows[-1][1], rows[-1][2]
    n_findings = len(report.findings)
    n_rows_tables = sum(len(t.rows) for f in report.findings for t in f.tables)
    n_figures = sum(len(f.figures) for f in report.findings) + sum(
        len(s.figures) for s in report.sections
    )

    lines = [
        "bench_reports: render the demo audit's report in every format vs the audit's run time",
        f"date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine: {machine_s}",
        f"python {platform.python_version()}; demo rows {args.rows}; {n_findings} findings, "
        f"{n_rows_tables} evidence-table rows, {n_figures} figures; PDF {pages} pages; "
        f"best of {args.repeat}",
        "wall = elapsed seconds; cpu = CPU seconds of this process (all threads): on a shared, "
        "loaded machine cpu is the steadier figure",
        "",
        f"anchor  audit alone (load, all checks, assemble, JSON):  wall {audit_s:7.2f} s   "
        f"cpu {audit_cpu:7.2f} s",
        "",
        f"{'format':<10}{'wall s':>9}{'cpu s':>9}{'bytes':>12}{'wall % of audit':>18}",
    ]
    for fmt, seconds, cpu, size in rows:
        lines.append(
            f"{fmt:<10}{seconds:>9.3f}{cpu:>9.3f}{size:>12,}{100 * seconds / audit_s:>17.1f}%"
        )
    lines += [
        f"{'pdf cold':<10}{pdf_cold_s:>9.3f}{pdf_cold_cpu:>9.3f}{'':>12}"
        f"{100 * pdf_cold_s / audit_s:>17.1f}%   (first call: WeasyPrint import + fonts)",
        "",
        f"all four formats: wall {total_warm:6.2f} s = {total_warm / audit_s:.2f} x the audit; "
        f"cpu {total_cpu:6.2f} s = {total_cpu / audit_cpu:.2f} x the audit's cpu",
        f"PDF share of rendering: {100 * pdf_wall / total_warm:.0f}% "
        f"({1000 * pdf_cpu / pages:.0f} ms cpu per page)",
        f"json + md + html: {sum(r[1] for r in rows[:3]):.3f} s wall",
    ]
    emit("\n".join(lines) + "\n", args.out, save=not args.no_save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
