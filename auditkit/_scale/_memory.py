"""Memory freed by the audit handed back to the operating system.

An audit at scale alternates large short-lived allocations (a partition's frames, a check's
working arrays) with long stretches that need little. The allocators keep what was freed for
reuse (Arrow's memory pool, the C library's heap), so without this the process's resident
memory stays at its highest point for the rest of the run, and the next phase starts from
there. :func:`release_memory` is called after each partition is tallied and after each check
of a run at scale (milliseconds), and with a garbage collection after each pass.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import sys
from functools import lru_cache
from typing import Any

__all__ = ["release_memory"]


@lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` (``None`` on other C libraries and systems)."""
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError, TypeError):
        return ctypes.CDLL(None).malloc_trim  # the C library this process already has loaded
    return None


def release_memory(collect: bool = False) -> None:
    """Return the free pages of Arrow's pool and of the C heap to the operating system; with
    ``collect``, after a full garbage collection (objects kept alive only by reference cycles,
    such as frames a check's intermediate results point back to)."""
    if collect:
        gc.collect()
    arrow = sys.modules.get("pyarrow")  # never imported for this
    if arrow is not None:
        with contextlib.suppress(Exception):
            arrow.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
