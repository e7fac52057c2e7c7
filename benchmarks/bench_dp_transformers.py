"""Benchmark: DP fine-tuning of transformers on CPU, non-private vs ours vs Opacus, reduced sizes.

Step time and peak memory of three models, each in three columns side by side in this process
(same weights, data, AdamW optimizer and micro-batch):

- GPT-2-shaped LM with PEFT LoRA r=8 on ``c_attn`` (goal: ours <= 1.10x non-private median);
- the same LM, full fine-tuning with the input embedding tied to the head (goal: <= 1.25x time,
  <= 1.20x peak memory);
- a BERT-shaped sequence classifier, full fine-tuning (same goals);

and ours ahead of Opacus wherever Opacus runs (ghost clipping; hooks with functorch when ghost
refuses; ``n/a`` with the reason when neither runs; a failure of Opacus is not a speed win).

The sizes are REDUCED so the whole run takes about five minutes on two CPU cores (see
:data:`CPU`); the full sizes (GPT-2 small, 124M parameters, sequence 128; BERT-base) run on a
CUDA machine with ``benchmarks/gpu/bench_dp_transformers_gpu.py``, whose code this script
imports and runs (that file is standalone so it can be carried alone to a machine without
network access: see ``benchmarks/gpu/README.md``).

Peak memory on CPU: PyTorch keeps no resettable peak counter, so each configuration runs again
in a fresh child process, which reports its peak RSS (VmHWM, reset first) over building the
model and ``MEMORY_STEPS + 1`` steps, above the RSS before the model was built (weights,
gradients, optimizer state, activations and DP buffers all count).

Usage::

    python benchmarks/bench_dp_transformers.py      # writes benchmarks/results/dp_transformers.txt
    python benchmarks/bench_dp_transformers.py --steps 10 --no-save
    python benchmarks/bench_dp_transformers.py --malloc retain   # glibc keeping freed memory:
                                                # writes benchmarks/results/dp_transformers_malloc_retain.txt
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import emit, machine  # noqa: E402


def _load_core():
    name = "bench_dp_transformers_gpu"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "gpu" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


core = _load_core()

# Reduced for CPU, in the full models' proportions: width and sequence both halved (768 -> 384,
# 128 -> 64), so sequence/width (which sets what a per-sample norm costs against a weight
# gradient: ghost norm T^2 (d + o) against T d o), head size (64) and vocabulary/width are those
# of GPT-2 small and BERT-base; 4 layers instead of 12.
CPU = core.Sizes("REDUCED for CPU (GPT-2 small / BERT-base proportions: width 768->384, sequence 128->64, "
                 "head size 64, vocabulary/width kept, 4 of 12 layers)",
                 n_layer=4, n_embd=384, n_head=6, vocab=25128, n_positions=128,
                 bert_layers=4, bert_hidden=384, bert_heads=6, bert_intermediate=1536,
                 bert_vocab=15261, seq=64, batch=8)
SIZES = {"cpu": CPU, "tiny": core.TINY}
OUT = HERE / "results" / "dp_transformers.txt"
OUT_RETAIN = HERE / "results" / "dp_transformers_malloc_retain.txt"

#: ``--malloc retain``: glibc keeps freed memory in the process (no block is mapped afresh per
#: allocation, no free heap top is given back), so buffers freed and allocated again every step
#: are not faulted in page by page each step. It applies to every column alike. glibc's default
#: maps each block above a dynamic threshold (at most 32 MiB) afresh and gives a free heap top
#: back above twice that: on this machine a page fault costs about 1.2-2 us, and the AdamW step
#: of the BERT-shaped model alone faults in two embedding-sized temporaries (11,446 pages) a step
#: in the non-private column. PyTorch's performance tuning guide recommends a caching allocator
#: (jemalloc, TCMalloc) on CPU for this reason.
RETAIN = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}


def allocator_line() -> str:
    """The header line naming the C allocator's settings this process runs with."""
    set_ = {k: os.environ[k] for k in RETAIN if k in os.environ}
    if not set_:
        return "allocator: glibc defaults (see --malloc retain)"
    return ("allocator: glibc with " + " ".join(f"{k}={v}" for k, v in set_.items())
            + " (freed memory kept by the process), every column alike")


def child_memory(name: str, column: str, precision: str, mode: str, sizes: str) -> None:
    """In a fresh process: print ``{"peak_mib": ...}`` for one configuration.

    The configuration runs once unmeasured (build and one step), so the library code and
    one-time buffers its first run pages in are resident before the measured run starts.
    """
    args = (name, column, SIZES[sizes], "cpu", precision, None if mode == "-" else mode)
    core.peak_memory_mib(*args, steps=0)
    print(json.dumps({"peak_mib": core.peak_memory_mib(*args)}))


def fresh_process_memory(sizes: str, threads: int | None):
    """A memory function for :func:`core.run_model`: one fresh child process per call."""

    def measure(name: str, column: str, precision: str, mode: str | None) -> float:
        cmd = [sys.executable, __file__, "--child", name, column, precision, mode or "-", sizes]
        if threads:
            cmd += ["--threads", str(threads)]
        # big blocks mmap()ed, so what the unmeasured run frees goes back to the system
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise core.NotAvailable(f"child process failed: {last[:150]}")
        return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_mib"])

    return measure


def run(sizes: str = "cpu", *, models=core.MODELS, precisions=("fp32",), steps: int = 6,
        block: int = 3, warmup: int = 1, memory: str = "child", threads: int | None = None):
    """Time (and measure) every model and column: ``[(model, precision, cells), ...]``.

    ``memory``: ``"child"`` (fresh process per configuration), ``"inprocess"``, ``"none"``, or
    a function ``(model, column, precision, opacus_mode) -> MiB``.
    """
    mem = {"child": fresh_process_memory(sizes, threads), "none": None,
           "inprocess": lambda n, c, p, m: core.peak_memory_mib(n, c, SIZES[sizes], "cpu", p, m)}
    measure = memory if callable(memory) else mem[memory]
    results = []
    for precision in precisions:
        for name in models:
            cells = core.run_model(name, SIZES[sizes], "cpu", precision, steps=steps, block=block,
                                   warmup=warmup, memory=measure)
            results.append((name, precision, cells))
    return results


def _commit() -> str:
    """The checkout's commit, ``+ uncommitted changes`` when the tree differs (engine state)."""
    try:
        head = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty else "")


def report(results, *, sizes: str, steps: int, block: int, warmup: int, threads: int,
           elapsed: float | None = None, started: str | None = None,
           machine_line: str | None = None) -> str:
    """The results file: header (machine, date, versions, load, sizes), one table per model."""
    import torch

    lines = [
        "# bench_dp_transformers: DP fine-tuning of transformers, step time and peak memory (CPU)",
        f"date: {started or time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"machine: {machine_line or machine(memory=True)}; torch threads {threads}",
        allocator_line(),
        core.versions() + f"; checkout {_commit()}",
        f"sizes: {SIZES[sizes].describe()}",
        "full sizes (GPT-2 small 124M, BERT-base, sequence 128) run on CUDA with "
        "benchmarks/gpu/bench_dp_transformers_gpu.py; "
        + ("this machine has a CUDA device." if torch.cuda.is_available() else
           "no GPU on this machine: no full-size figures in this file."),
        *core.legend(steps, block, warmup,
                     "peak RSS (VmHWM reset first) above the RSS before the model was built, "
                     "fresh child process per configuration, measured on its second run of the "
                     "configuration (the first pages in library code)"),
    ]
    for name, precision, cells in results:
        lines += core.format_section(name, precision, cells)
    lines.append("x = ratio to non-private. Load from other processes on a shared machine moves "
                 "the medians; best-of is the robust figure.")
    if elapsed is not None:
        lines.append(f"total wall time: {elapsed:.0f} s")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--precision", default="fp32", help="comma list of fp32, bf16 (autocast)")
    ap.add_argument("--tiny", action="store_true", help="tiny models (a dry run)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--malloc", choices=("default", "retain"), default="default",
                    help="retain: run with glibc keeping freed memory (see RETAIN); writes "
                         + OUT_RETAIN.name + " unless --out is given")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.malloc == "retain" and any(os.environ.get(k) != v for k, v in RETAIN.items()):
        # glibc reads these when the process starts: run again with them set
        argv = sys.argv[1:] if argv is None else argv
        if not any(a == "--out" or a.startswith("--out=") for a in argv):
            argv = [*argv, "--out", str(OUT_RETAIN)]
        done = subprocess.run([sys.executable, __file__, *argv], env={**os.environ, **RETAIN})
        raise SystemExit(done.returncode)
    warnings.filterwarnings("ignore")
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child_memory(*args.child)
        return
    sizes = "tiny" if args.tiny else "cpu"
    date, machine_line = time.strftime("%Y-%m-%d %H:%M:%S %Z"), machine(memory=True)
    started = time.perf_counter()
    results = run(sizes, precisions=tuple(p.strip() for p in args.precision.split(",")),
                  steps=args.steps, block=args.block, warmup=args.warmup, threads=args.threads)
    text = report(results, sizes=sizes, steps=args.steps, block=args.block, warmup=args.warmup,
                  threads=torch.get_num_threads(), elapsed=time.perf_counter() - started,
                  started=date, machine_line=machine_line)
    emit(text, args.out, save=not args.no_save and not args.tiny)


if __name__ == "__main__":
    main()
