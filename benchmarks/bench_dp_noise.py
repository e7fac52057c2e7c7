"""Benchmark: drawing one DP step's Gaussian noise on the CPU, torch's generator vs ours.

Anchor: ``torch.Tensor.normal_`` over the step's flat buffer, as Opacus draws its noise (one
Mersenne Twister, on the calling thread). Ours: :class:`auditkit.privacy.dp._optim._NoiseAhead`
as the book-keeping optimizer draws a step's noise in the step (AES-128-CTR bits, then the
Box-Muller transform, :mod:`auditkit.privacy.dp._gaussian`), twice: with the compiled kernel
(``privacy/dp/_boxmuller.c``, split among torch's thread count) and with the torch ops it falls
back to where the kernel is not built (torch's threads). Sizes: the MLP of
``bench_dp.py`` (536k parameters) and the reduced BERT-shaped model of
``bench_dp_transformers.py`` (13.3M trained parameters).

Each timed call follows a matrix product, as in training (torch's threads have just run), and
the two take turns call by call, so load on a shared machine hits both alike. Reported: median
and best milliseconds per step's noise, and each of ours over the anchor.

Usage::

    python benchmarks/bench_dp_noise.py [--threads 1,2] [--repeat 40] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine  # noqa: E402

SIZES = {"MLP 784-512-256-10 (536k)": 535_818, "BERT-shaped, reduced (13.3M)": 13_300_000}


def run(threads: int, repeat: int) -> list[str]:
    import torch

    from auditkit.privacy.dp import _gaussian
    from auditkit.privacy.dp._noise_threads import helpers_possible
    from auditkit.privacy.dp._optim import _NoiseAhead

    compiled = _gaussian.kernel

    def torch_ops(ahead):
        _gaussian.kernel = lambda: None
        try:
            return ahead.take(keep=True)
        finally:
            _gaussian.kernel = compiled

    torch.set_num_threads(threads)
    x, w = torch.randn(256, 1024), torch.randn(1024, 1024)
    rows = []
    for name, n in SIZES.items():
        anchor_buf = torch.empty(n)
        generator = torch.Generator().manual_seed(0)
        ours = _NoiseAhead([torch.empty(n)], 1.0, torch.Generator().manual_seed(0), start=False)
        ops = _NoiseAhead([torch.empty(n)], 1.0, torch.Generator().manual_seed(0), start=False)
        calls = {
            "anchor": lambda b=anchor_buf, g=generator: b.normal_(0.0, 1.0, generator=g),
            "ours": lambda o=ours: o.take(keep=True),
            "ops": lambda o=ops: torch_ops(o),
        }
        times: dict[str, list[float]] = {k: [] for k in calls}
        for i in range(repeat + 3):
            for key, call in calls.items():
                x @ w
                t0 = time.perf_counter()
                call()
                if i >= 3:  # warm-up
                    times[key].append(time.perf_counter() - t0)
        ours.stop()
        ops.stop()
        a, o, t = (statistics.median(times[k]) * 1e3 for k in ("anchor", "ours", "ops"))
        ab, ob, tb = (min(times[k]) * 1e3 for k in ("anchor", "ours", "ops"))
        rows.append(f"| {threads} | {name} | {a:.2f} ({ab:.2f}) | {o:.2f} ({ob:.2f}) | "
                    f"{o / a:.2f}× ({ob / ab:.2f}×) | {t:.2f} ({tb:.2f}) | {t / a:.2f}× ({tb / ab:.2f}×) |")
    rows.append(f"|  | thread drawing ahead kept off thread teams: {helpers_possible()}; "
                f"compiled kernel: {compiled() is not None} |  |  |  |  |  |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "dp_noise.txt")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    lines = [
        "DP noise for one step on the CPU: torch normal_ (anchor) vs ours (compiled kernel, torch ops)",
        f"machine: {machine()}",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| torch threads | size | anchor ms median (best) | ours, compiled kernel, ms median (best) "
        "| kernel / anchor | ours, torch ops, ms median (best) | torch ops / anchor |",
        "|---|---|---|---|---|---|---|",
    ]
    for threads in (int(t) for t in args.threads.split(",")):
        lines += run(threads, args.repeat)
    emit("\n".join(lines) + "\n", args.out, save=not args.no_save)


if __name__ == "__main__":
    main()
