"""Benchmark: DP-SGD step time and peak memory, plain torch vs Opacus vs auditkit.privacy.dp (auto).

Models (batch 256, MNIST-shaped random data, cross-entropy, SGD):

- MLP 784-512-256-10
- small CNN: Conv(1,16,5,s2,p2)-ReLU-Conv(16,32,4,s2)-ReLU-Flatten-Linear(32*6*6,32)-ReLU-Linear(32,10)

Configurations: plain torch (no privacy), Opacus hooks (its default), Opacus ghost clipping,
and ours (``auditkit.privacy.dp.make_private(mode="auto")``). Step = zero_grad, forward, loss, backward,
optimizer step (clip + noise + update for the private ones) on a fixed batch of 256.

Step time: best and median wall time and median CPU time of ``--steps`` steps, all
configurations in this process, taking turns in blocks of 5 steps so load bursts on a shared
machine hit them alike (see :func:`time_configs`).
Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` (reset per configuration). On CPU
PyTorch keeps no resettable peak counter, so each configuration runs again in a fresh child
process and we report its peak RSS (VmHWM, reset after set-up) above the RSS measured just
before the first step (model, optimizer and data already built).

Usage::

    python benchmarks/bench_dp.py [--steps 20] [--threads 2] [--device auto] [--models mlp,cnn] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

BATCH = 256
CONFIGS = ("plain", "opacus_hooks", "opacus_ghost", "ours_auto")
MODELS = ("mlp", "cnn")


def build_model(name: str):
    from torch import nn

    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256),
                             nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2), nn.ReLU(), nn.Flatten(),
        nn.Linear(32 * 6 * 6, 32), nn.ReLU(), nn.Linear(32, 10),
    )


def make_step(model_name: str, config: str, device):
    """Return a zero-argument function doing one training step on a fixed batch."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    x = torch.randn(BATCH, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (BATCH,), device=device)
    model = build_model(model_name).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    crit = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x.cpu(), y.cpu()), batch_size=BATCH)  # q = 1 (timing only)
    if config == "plain":
        m, o, c = model, opt, crit
    elif config.startswith("opacus"):
        from opacus import PrivacyEngine

        mode = "hooks" if config == "opacus_hooks" else "ghost"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine = PrivacyEngine(accountant="rdp")
            out = engine.make_private(module=model, optimizer=opt, data_loader=loader,
                                      criterion=crit, noise_multiplier=1.0, max_grad_norm=1.0,
                                      grad_sample_mode=mode)
        if mode == "ghost":
            m, o, c, _ = out
        else:
            m, o, _ = out
            c = crit
    else:
        from auditkit.privacy.dp import make_private

        p = make_private(model, opt, loader, noise_multiplier=1.0, epochs=1, max_grad_norm=1.0,
                         accountant="rdp", mode="auto", device=device, criterion=crit)
        m, o, c = p.model, p.optimizer, p.criterion
        assert p.mode.mode == "bookkeeping", p.mode

    def step():
        o.zero_grad()
        loss = c(m(x), y)
        loss.backward()
        o.step()

    step.sync = getattr(o, "synchronize", lambda: None)  # wait for background noise, if any
    return step


BLOCK = 5  # timed steps per turn; each turn starts with one untimed step


def time_configs(model_name: str, device, steps: int) -> dict[str, tuple[float, float, float]]:
    """Best and median wall time and median CPU time per step, for every configuration.

    The configurations take turns in blocks of :data:`BLOCK` steps, so a burst of load on a
    shared machine hits them all alike. Each turn starts with one untimed step, and ends by
    waiting (untimed) for any work a configuration left running in the background, so no
    configuration's background work lands in another's timing. When a core is spare, ours
    starts drawing a step's noise at that step's ``zero_grad`` (on the clock). CPU time is the
    process's (all threads) over the step.
    """
    import torch

    fns = {cfg: make_step(model_name, cfg, device) for cfg in CONFIGS}
    for fn in fns.values():
        for _ in range(3):
            fn()
        fn.sync()
    wall: dict[str, list[float]] = {c: [] for c in CONFIGS}
    cpu: dict[str, list[float]] = {c: [] for c in CONFIGS}
    while len(wall[CONFIGS[0]]) < steps:
        for cfg, fn in fns.items():
            fn()
            for _ in range(BLOCK):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t, c = time.perf_counter(), time.process_time()
                fn()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                wall[cfg].append(time.perf_counter() - t)
                cpu[cfg].append(time.process_time() - c)
            fn.sync()
    return {
        cfg: (min(wall[cfg]), statistics.median(wall[cfg]), statistics.median(cpu[cfg]))
        for cfg in CONFIGS
    }


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child_memory(model_name: str, config: str, threads: int) -> None:
    """Run in a fresh process: peak RSS growth (MiB) over the RSS before the first step.

    The kernel's high-water mark (VmHWM) is reset after set-up by writing 5 to
    /proc/self/clear_refs, so import-time peaks do not count.
    """
    import torch

    torch.set_num_threads(threads)
    step = make_step(model_name, config, torch.device("cpu"))
    base = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    for _ in range(5):
        step()
    peak = _status_kib("VmHWM")
    print(json.dumps({"peak_mib": max(0, peak - base) / 1024}))


def cuda_memory(model_name: str, config: str, device) -> float:
    import torch

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    step = make_step(model_name, config, device)
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None)
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated subset of: " + ", ".join(MODELS))
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.child:
        child_memory(args.child[0], args.child[1], args.threads)
        return

    import torch

    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if (args.device == "auto" and torch.cuda.is_available()) else
                          ("cpu" if args.device == "auto" else args.device))
    import opacus

    lines = [
        "# bench_dp: DP-SGD step time and peak memory (batch 256)",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
        f"threads={args.threads} device={device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"python {platform.python_version()}, torch {torch.__version__}, opacus {opacus.__version__}",
        f"load average at start: {os.getloadavg()[0]:.1f} (shared machine: best-of is the robust figure)",
        f"step time: best and median of {args.steps} steps per configuration, taken in turns of "
        f"{BLOCK} (+1 untimed) after 3 warm-up steps; peak memory: "
        + ("CUDA max_memory_allocated above the pre-run allocation" if device.type == "cuda"
           else "peak RSS (VmHWM reset after set-up) above pre-training RSS, fresh child process per configuration"),
        "",
    ]
    results = {}
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown or not models:
        ap.error(f"--models: expected a comma-separated subset of {', '.join(MODELS)}; got {args.models!r}")
    for mname in models:
        timings = time_configs(mname, device, args.steps)
        results[mname] = {}
        for cfg in CONFIGS:
            if device.type == "cuda":
                mem = cuda_memory(mname, cfg, device)
            else:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", mname, cfg, "--threads", str(args.threads)],
                    capture_output=True, text=True, check=True,
                )
                mem = json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]
            results[mname][cfg] = (*timings[cfg], mem)
        pb, pm, pc, pmem = results[mname]["plain"]
        title = "MLP 784-512-256-10" if mname == "mlp" else "small CNN (2 conv + 2 linear)"
        lines.append(f"## {title}")
        lines.append(f"{'config':<14} {'best ms':>8} {'x':>6} {'median ms':>10} {'x':>6} "
                     f"{'cpu ms':>8} {'x':>6} {'peak MiB':>9} {'x':>6}")
        for cfg in CONFIGS:
            b, m, c, mem = results[mname][cfg]
            mr = f"{mem / pmem:6.2f}" if pmem > 0.5 else "     -"
            lines.append(f"{cfg:<14} {b * 1e3:8.2f} {b / pb:6.2f} {m * 1e3:10.2f} {m / pm:6.2f} "
                         f"{c * 1e3:8.2f} {c / pc:6.2f} {mem:9.1f} {mr}")
        ob, om = results[mname]["ours_auto"][:2]
        lines.append(
            f"ours vs Opacus hooks: {results[mname]['opacus_hooks'][1] / om:.1f}x faster; "
            f"vs Opacus ghost: {results[mname]['opacus_ghost'][1] / om:.1f}x faster (median wall)"
        )
        lines.append("")
    lines.append(
        "x = ratio to plain torch. cpu ms counts every thread of the process: when torch's "
        "threads leave a core free, ours starts drawing the step's DP noise at zero_grad on a "
        "second (lowest-priority) thread while the forward/backward runs (its CPU time is "
        "counted); when they take every core, ours draws the noise in the optimizer step "
        "(AES-CTR bits, then Box-Muller: in the compiled kernel on the training thread where "
        "it is built, else in torch ops with torch's threads)."
    )
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
