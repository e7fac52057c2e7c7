"""The accountants :mod:`auditkit.privacy.dp._accounting` registers: ``fn(history, delta) -> ε``.

- :func:`opacus_epsilon` (``"prv"``, ``"gdp"``): Opacus's accountant of that name.
- :func:`rdp_epsilon` (``"rdp"``): Opacus's RDP accountant, bit for bit, with one step's RDP
  vector cached per (σ, q); about 0.2 ms a call instead of 10-15 ms (so ε can be logged every
  step, and the cap's and the noise search's many calls cost little).
- :func:`pld_epsilon` (``"pld"``): Google's ``dp-accounting`` PLD accountant.

Each imports its library when first called. Warnings the libraries raise about their own
parameters (e.g. RDP's "optimal order is the largest alpha") are silenced (:func:`quiet`): ε is
still an upper bound, and the toolkit reports which accountant answered.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

History = list[tuple[float, float, int]]

__all__ = ["ignore_library_warnings", "opacus_epsilon", "pld_epsilon", "quiet", "quiet_thread", "rdp_epsilon"]

_LOCAL = threading.local()

#: The accountant libraries' warnings about their own parameters and numerics, as (message,
#: category, module) filters: RDP's order range, GDP's "experimental", and NumPy's floating-point
#: warnings (``log(0)`` in the PRV domain search) raised inside Opacus's accountants.
LIBRARY_WARNINGS = (
    (r"Optimal order is the (smallest|largest) alpha", UserWarning, r"opacus\.accountants\.analysis\.rdp"),
    (r"GDP accounting is experimental", UserWarning, r"opacus\.accountants\.gdp"),
    (r"", RuntimeWarning, r"opacus\.accountants\."),
)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the accountant libraries' warnings for one call.

    On the training thread: ``warnings.catch_warnings`` (safe there: accountant calls are
    serialised, :data:`~auditkit.privacy.dp._accounting.ACCOUNTANT_LOCK`). On a thread marked by
    :func:`quiet_thread` (the TensorBoard ε worker) nothing is changed: ``catch_warnings``
    swaps the process-wide filter list, so from a second thread it would drop the training
    thread's warnings for the length of the call, or leave "ignore everything" behind when the
    two threads' blocks interleave. That thread relies on the narrow filters of
    :func:`ignore_library_warnings` instead.
    """
    if getattr(_LOCAL, "background", False):
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def quiet_thread() -> None:
    """Mark the calling thread as a background accountant thread (:func:`quiet`)."""
    _LOCAL.background = True


def ignore_library_warnings() -> None:
    """Make the process ignore :data:`LIBRARY_WARNINGS` (each filter matches one message of one
    library module; added once, at the end of the filter list, so the caller's own filters come
    first). Called on the training thread before a background accountant thread starts."""
    for message, category, module in LIBRARY_WARNINGS:
        if not any(f[0] == "ignore" and getattr(f[1], "pattern", message or None) == (message or None)
                   and f[2] is category and getattr(f[3], "pattern", None) == module
                   for f in warnings.filters):
            warnings.filterwarnings("ignore", message, category, module, append=True)


def opacus_epsilon(name: str) -> Callable[[History, float], float]:
    def compute(history: History, delta: float) -> float:
        from opacus.accountants import create_accountant

        with quiet():  # GDP's constructor warns too
            acc = create_accountant(mechanism=name)
            acc.history = [(float(s), float(q), int(n)) for s, q, n in history]
            return float(acc.get_epsilon(delta=delta))

    return compute


@functools.lru_cache(maxsize=1024)
def _rdp_of_one_step(noise_multiplier: float, sample_rate: float) -> Any:
    """Opacus's RDP of one step at its default orders (read-only array; RDP composes by sums)."""
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis import rdp as analysis

    out = analysis.compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1,
                               orders=RDPAccountant.DEFAULT_ALPHAS)
    out.flags.writeable = False
    return out


def rdp_epsilon(history: History, delta: float) -> float:
    """Opacus's RDP accountant, bit for bit (the same sums in the same order), with one step's
    RDP cached per (σ, q): ε of a history costs microseconds, not 10 ms."""
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis import rdp as analysis

    rdp = sum([_rdp_of_one_step(float(s), float(q)) * int(n) for s, q, n in history])
    with quiet():
        eps, _ = analysis.get_privacy_spent(orders=RDPAccountant.DEFAULT_ALPHAS, rdp=rdp, delta=delta)
    return float(eps)


def pld_epsilon(history: History, delta: float) -> float:
    import dp_accounting
    from dp_accounting import pld

    acc = pld.PLDAccountant()
    for s, q, n in history:
        event = dp_accounting.PoissonSampledDpEvent(float(q), dp_accounting.GaussianDpEvent(float(s)))
        acc.compose(dp_accounting.SelfComposedDpEvent(event, int(n)))
    return float(acc.get_epsilon(delta))
