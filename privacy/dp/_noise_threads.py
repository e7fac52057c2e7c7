"""Drawing DP noise on a thread of its own (ahead of the step) without starting thread teams
beside torch's.

torch's CPU ops above a grain (32,768 values for most, 2,048 for ``cos``, ``sin``, ``log``) run
as OpenMP parallel regions, and some (MKL's vector maths) as MKL parallel regions. Called from a thread
that is not the one running torch's team, each starts a second team of threads for that thread,
whose spinning after every region took the cores from torch's own team (measured on the 2-core
benchmark machine: every torch op in the process ran about 2× slower).

:func:`single_threaded` makes the calling thread's OpenMP and MKL thread counts 1 for a block,
through the runtimes' own C functions (``omp_set_num_threads``, and MKL's C-form
``MKL_Set_Num_Threads_Local``: both settings are kept per thread, so torch's team is
untouched).
:func:`helpers_possible` says whether that works in this process: checked once, on a probe
thread, by the runtimes' own answers and by counting the process's threads around the ops the
noise uses. Where it does not (not Linux, a runtime not found), the noise is drawn on the
training thread alone, where torch's own team takes it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["helpers_possible", "single_threaded"]

_LOCK = threading.Lock()
_FOUND: list[Any] = []  # [(omp_set_num_threads or None, MKL_Set_Num_Threads_Local or None, ok)]


def helpers_possible() -> bool:
    """Whether helper threads can draw noise with their torch ops on themselves alone."""
    return _controls()[2]


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """The calling thread's torch ops run on it alone over the block (no OpenMP or MKL team);
    its own settings are restored afterwards. Where :func:`helpers_possible` is false, nothing
    is changed (the callers then draw on the training thread alone)."""
    omp, mkl, ok = _controls()
    if not ok:
        yield
        return
    with _applied(omp, mkl):
        yield


@contextlib.contextmanager
def _applied(omp: Any, mkl: Any) -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()  # torch sets a thread's OpenMP count on its first use
    if omp is not None:
        omp(1)
    previous = mkl(1) if mkl is not None else None
    try:
        yield
    finally:
        if mkl is not None:
            mkl(previous)
        if omp is not None:
            omp(threads)


def _controls() -> tuple[Any, Any, bool]:
    with _LOCK:
        if not _FOUND:
            _FOUND.append(_find())
        return _FOUND[0]


def _find() -> tuple[Any, Any, bool]:
    import ctypes
    import os

    import torch

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            libraries = list(dict.fromkeys(
                line.split()[-1] for line in maps if ".so" in line.rsplit("/", 1)[-1]))
    except OSError:  # pragma: no cover - not Linux: no per-thread check possible
        return None, None, False
    torch_dir = os.path.dirname(torch.__file__)
    libraries.sort(key=lambda path: not path.startswith(torch_dir + os.sep))  # torch's own first
    openmp = "parallel backend: OpenMP" in torch.__config__.parallel_info()
    omp = _symbol(libraries, "omp", "omp_set_num_threads", ctypes.c_int, None) if openmp else None
    mkl = (_symbol(libraries, ("mkl", "torch_cpu"), "MKL_Set_Num_Threads_Local", ctypes.c_int,
                   ctypes.c_int) if torch.backends.mkl.is_available() else None)
    if (openmp and omp is None) or (torch.backends.mkl.is_available() and mkl is None):
        return omp, mkl, False
    return omp, mkl, _probe(omp, mkl)


def _symbol(libraries: list[str], names: Any, symbol: str, argtype: Any, restype: Any) -> Any:
    """``symbol`` from the first library (by file name containing one of ``names``) with it."""
    import ctypes
    import os

    names = (names,) if isinstance(names, str) else names
    for path in libraries:
        if not any(n in os.path.basename(path) for n in names):
            continue
        try:
            function = getattr(ctypes.CDLL(path), symbol)
        except (OSError, AttributeError):
            continue
        function.argtypes, function.restype = [argtype], restype
        return function
    return None


def _probe(omp: Any, mkl: Any) -> bool:
    """On a fresh thread: each setter moves what torch reports for this thread (to 2, then to
    1: a setter of some other runtime would move nothing), and with both at 1 the ops the noise
    uses start no thread (a thread started elsewhere meanwhile only turns drawing ahead off)."""
    import os

    import torch

    seen: list[bool] = []

    def reports(n: int) -> bool:
        info = torch.__config__.parallel_info()
        return ((omp is None or f"omp_get_max_threads() : {n}\n" in info)
                and (mkl is None or f"mkl_get_max_threads() : {n}\n" in info))

    def run() -> None:
        try:
            threads = torch.get_num_threads()  # torch sets this thread's count on first use
            before = len(os.listdir("/proc/self/task"))
            previous = mkl(2) if mkl is not None else None
            if omp is not None:
                omp(2)
            try:
                moved = reports(2)
            finally:
                if mkl is not None:
                    mkl(previous)
                if omp is not None:
                    omp(threads)
            with _applied(omp, mkl):
                x = torch.full((1 << 17,), 0.5)  # no RNG: the caller's random stream is theirs
                torch.cos(x, out=x).sin_().log_()
                seen.append(moved and reports(1) and len(os.listdir("/proc/self/task")) == before)
        except Exception:  # noqa: BLE001 - any failure: the noise is drawn in the step
            seen.append(False)

    thread = threading.Thread(target=run, name="dp-noise-probe")
    thread.start()
    thread.join()
    return bool(seen) and seen[0]
