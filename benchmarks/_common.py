"""Helpers shared by the benchmark scripts: describing the machine, timing, saving results."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["emit", "machine", "seconds"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine(*, memory: bool = False, load: bool = True) -> str:
    """One line: CPU model and count, optionally RAM, OS, and the load average at start."""
    mem = ""
    if memory:
        try:
            kib = int(Path("/proc/meminfo").read_text().split()[1])
            mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
        except (OSError, ValueError, IndexError):
            pass
    load_s = ""
    if load:
        try:
            load_s = f"; load average {os.getloadavg()[0]:.1f} at start"
        except OSError:
            pass
    return f"{_cpu_model()}, {os.cpu_count()} CPUs{mem}; {platform.system()} {platform.release()}{load_s}"


def seconds(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of each of ``repeat`` calls of ``fn``; summarise with min or median."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def emit(text: str, out: Path, *, save: bool = True) -> None:
    """Print the results and, unless told not to, save them to ``out``."""
    print(text, end="")
    if save:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"saved to {out}")
