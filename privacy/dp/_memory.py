"""Memory limits of the privacy accountants: estimate before computing.

The numerical accountants allocate grids whose size grows with the history: Opacus's PRV at
σ=0.5, q=0.2, 20,000 steps asks for a 389-million-point grid (2.9 GiB per float64 array) and
dies with ``MemoryError`` or is killed by the operating system.
:func:`auditkit.privacy.dp._accounting.epsilon_used` asks :data:`MEMORY_ESTIMATES` first and,
above :func:`memory_limit`, lets the RDP accountant (constant memory, also an upper bound on ε)
answer instead.

The estimates are calibrated against the peak resident memory (``ru_maxrss``) of fresh
processes; each calibration case was estimated at 1.0-3.0 times its measured peak.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from auditkit.privacy.errors import PrivacyInputError

__all__ = ["ACCOUNTANT_MEMORY_LIMIT", "MEMORY_ENV", "MEMORY_ESTIMATES", "memory_limit"]

History = list[tuple[float, float, int]]

#: Largest estimated peak memory (bytes) an accountant may use before RDP answers instead;
#: the environment variable ``AUDITKIT_ACCOUNTANT_MEMORY_MIB`` overrides it.
ACCOUNTANT_MEMORY_LIMIT = 1 << 30
MEMORY_ENV = "AUDITKIT_ACCOUNTANT_MEMORY_MIB"


def memory_limit() -> int:
    """The memory limit in bytes: ``$AUDITKIT_ACCOUNTANT_MEMORY_MIB`` MiB, else 1 GiB."""
    raw = os.environ.get(MEMORY_ENV)
    if raw is None or not raw.strip():
        return ACCOUNTANT_MEMORY_LIMIT
    try:
        mib = int(raw.strip())
    except ValueError:
        mib = 0
    if not 16 <= mib <= 2**24:
        raise PrivacyInputError(
            f"The environment variable {MEMORY_ENV} must be a whole number of MiB between 16 "
            "and 16777216 (the most memory a privacy accountant may use); it is set to "
            "something else. Unset it for the default, 1024."
        )
    return mib * 2**20


def _prv_bytes(history: History, delta: float) -> float:
    """Peak memory of Opacus's PRV accountant, from the domain it will discretise.

    Opacus (``PRVAccountant._get_domain``, called by ``get_epsilon`` with ``eps_error=0.01``,
    ``delta_error=delta/1000``) builds a grid over ``[-L, L]`` with ``L`` from
    ``compute_safe_domain_size`` (RDP bounds; cheap) and mesh
    ``eps_error / sqrt(T log(12/delta_error) / 2)``; it works on float64 arrays of that
    size. Measured peak resident memory (Opacus 1.6, SciPy FFT): 169 bytes per grid point for
    one segment of history, 244 for five; estimated as 8 bytes × (24 + 4 per further
    segment) per point.
    """
    from opacus.accountants.analysis.prv import (
        PoissonSubsampledGaussianPRV,
        compute_safe_domain_size,
    )

    eps_error, delta_error = 0.01, delta / 1000
    from auditkit.privacy.dp._accountants import quiet

    with quiet():
        half = compute_safe_domain_size(
            [PoissonSubsampledGaussianPRV(q, s) for s, q, _ in history],
            [n for _, _, n in history],
            eps_error=eps_error,
            delta_error=delta_error,
        )
    steps = sum(n for _, _, n in history)
    mesh = eps_error / math.sqrt(steps * math.log(12 / delta_error) / 2)
    points = 2 * float(half) / mesh + 3
    return 8.0 * points * (24 + 4 * (len(history) - 1)) if math.isfinite(points) else math.inf


def _pld_bytes(history: History, delta: float) -> float:
    """Peak memory of dp-accounting's PLD accountant (value discretisation 1e-4).

    The composed privacy-loss distribution spans about ``[-L, L]`` with ``L`` the RDP bound
    on ε at the truncated tail mass (1e-15), one point per 1e-4. Measured peak resident
    memory (dp-accounting 0.4): about 22 bytes per point for one segment, plus tens of MiB per
    segment; estimated as 64 bytes per point × (1 + (segments - 1) / 2), plus 32 MiB per
    segment.
    """
    import dp_accounting
    from absl import logging as absl_logging
    from dp_accounting import rdp

    level = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)  # its series warnings are not ours to show
    try:
        acc = rdp.RdpAccountant()  # composes (and warns) as events are added
        for s, q, n in history:
            event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(s))
            acc.compose(dp_accounting.SelfComposedDpEvent(event, n))
        half = float(acc.get_epsilon(1e-15))
    finally:
        absl_logging.set_verbosity(level)
    points = 2 * half / 1e-4 + 1
    k = len(history)
    return 64.0 * points * (1 + (k - 1) / 2) + k * 2**25 if math.isfinite(points) else math.inf


#: ``name -> estimate(history, delta) -> bytes`` for accountants whose memory grows with
#: the history; accountants not listed (RDP, GDP) need constant memory.
MEMORY_ESTIMATES: dict[str, Callable[[History, float], float]] = {
    "prv": _prv_bytes,
    "pld": _pld_bytes,
}
