"""Privacy accounting for the Poisson-subsampled Gaussian mechanism of DP-SGD.

A *history* is a list of ``(noise_multiplier, sample_rate, steps)`` triples, the same run-length
form Opacus's accountants keep. ε of a history is computed by a named accountant:

- ``"prv"``: Opacus's PRV accountant (Gopi et al. 2021; numerical composition, tight upper
  bound). The default.
- ``"rdp"``: Opacus's Rényi-DP accountant (Mironov et al. 2019); looser, fast.
- ``"gdp"``: Opacus's Gaussian-DP (CLT) accountant; an approximation that can under-estimate ε;
  accepted for comparison only.
- ``"pld"``: Google's ``dp-accounting`` privacy-loss-distribution accountant (an independent
  implementation; tight).

Accountants are kept in a registry (:func:`register_accountant`), never an if-chain.

Resource limits
---------------
The numerical accountants allocate grids whose size grows with the history: Opacus's PRV at
σ=0.5, q=0.2, 20,000 steps asks for a 389-million-point grid (2.9 GiB per array) and dies with
``MemoryError`` or is killed. Before calling an accountant, its peak memory is estimated from
the history (:data:`MEMORY_ESTIMATES`: PRV from the same domain Opacus computes, PLD from the
privacy-loss range an RDP bound gives); above :data:`ACCOUNTANT_MEMORY_LIMIT` ε is computed by
the RDP accountant instead, which needs constant memory and is also an upper bound on ε (never
below the true value; looser). :func:`epsilon` then warns (:class:`AccountantFallbackWarning`)
and :func:`epsilon_used` says which accountant answered and why.
"""

from __future__ import annotations

import math
import numbers
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from auditkit.privacy.dp._accountants import opacus_epsilon, pld_epsilon, rdp_epsilon
from auditkit.privacy.dp._memory import (
    ACCOUNTANT_MEMORY_LIMIT,
    MEMORY_ESTIMATES,
    memory_limit,
)
from auditkit.privacy.errors import PrivacyInputError
from auditkit.registry import Registry

__all__ = [
    "ACCOUNTANTS",
    "ACCOUNTANT_MEMORY_LIMIT",
    "MEMORY_ESTIMATES",
    "AccountantFallbackWarning",
    "History",
    "accountant_memory",
    "epsilon_used",
    "epsilon",
    "make_opacus_accountant",
    "merge_history",
    "noise_for_epsilon",
    "register_accountant",
    "max_steps_within",
]

History = list[tuple[float, float, int]]

#: Held around every accountant call: one at a time per process. The TensorBoard log computes ε
#: on a background thread while training computes it at epoch ends; the accountants (and their
#: ``warnings.catch_warnings`` blocks, which are not thread-safe) never overlap, and their
#: memory (up to :data:`ACCOUNTANT_MEMORY_LIMIT`) is never needed twice at once.
ACCOUNTANT_LOCK = threading.RLock()

MAX_NOISE_MULTIPLIER = 1000.0
MAX_STEPS = 10**12


class AccountantFallbackWarning(UserWarning):
    """ε was computed by the RDP accountant because the one asked for would exceed the
    memory limit (:data:`ACCOUNTANT_MEMORY_LIMIT`); RDP's ε is a valid, looser upper bound."""


ACCOUNTANTS: Registry[Callable[[History, float], float]] = Registry(
    "accountant", PrivacyInputError, parameter="'accountant' parameter"
)
"""The privacy accountants by name: ``fn(history, delta) -> epsilon``."""
for _mechanism in ("prv", "gdp"):
    ACCOUNTANTS.add(_mechanism, opacus_epsilon(_mechanism))
ACCOUNTANTS.add("rdp", rdp_epsilon)
ACCOUNTANTS.add("pld", pld_epsilon)
del _mechanism


def register_accountant(
    name: str,
    fn: Callable[[History, float], float],
    *,
    force: bool = False,
    memory: Callable[[History, float], float] | None = None,
) -> None:
    """Register ``fn(history, delta) -> epsilon`` under ``name``; refuses silent overwrites.

    ``memory(history, delta) -> bytes`` estimates its peak memory when that grows with the
    history; above :data:`ACCOUNTANT_MEMORY_LIMIT` the RDP accountant answers instead.
    """
    ACCOUNTANTS.add(name, fn, force=force)
    MEMORY_ESTIMATES.pop(name, None)
    if memory is not None:
        MEMORY_ESTIMATES[name] = memory


def check_accountant(name: str) -> str:
    """``name`` if it names a registered accountant; refused, with the closest name, if not."""
    ACCOUNTANTS.lookup(name)
    return name


def finite_number(v: Any) -> float | None:
    """``v`` as a finite float, or ``None`` when it is not a finite real number (bools are not
    numbers here)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    try:
        f = float(v)
    except (OverflowError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _bad(name: str, expected: str, value: Any) -> PrivacyInputError:
    shown = repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
    return PrivacyInputError(f"The {name} must be {expected}; got {shown}.")


def _check_delta(delta: Any) -> float:
    d = finite_number(delta)
    if d is None or not 0 < d < 1:
        raise _bad("'delta' of a privacy accounting", "a finite number in (0, 1), e.g. 1e-5", delta)
    return d


def merge_history(history: Sequence[Sequence[Any]]) -> History:
    """Check, normalise and run-length merge adjacent identical ``(sigma, q)`` entries.

    Each entry is ``(noise_multiplier, sample_rate, steps)``: σ finite and ≥ 0 (0 means no
    noise, ε = ∞), q finite in (0, 1], steps a whole number in [0, 10**12]; anything else is a
    :class:`PrivacyInputError` naming the entry and the field.
    """
    out: History = []
    for i, entry in enumerate(history):
        try:
            s_raw, q_raw, n_raw = entry
        except (TypeError, ValueError):
            raise _bad(f"history entry {i}", "(noise_multiplier, sample_rate, steps)", entry) from None
        s, q, n = finite_number(s_raw), finite_number(q_raw), finite_number(n_raw)
        if s is None or s < 0:
            raise _bad(f"noise multiplier of history entry {i}", "a finite number ≥ 0", s_raw)
        if q is None or not 0 < q <= 1:
            raise _bad(f"sample rate of history entry {i}", "a finite number in (0, 1]", q_raw)
        if n is None or not n.is_integer() or not 0 <= n <= MAX_STEPS:
            raise _bad(f"steps of history entry {i}", f"a whole number in [0, {MAX_STEPS:.0e}]", n_raw)
        n = int(n)
        if n <= 0:
            continue
        if out and out[-1][0] == s and out[-1][1] == q:
            out[-1] = (s, q, out[-1][2] + n)
        else:
            out.append((s, q, n))
    return out


def accountant_memory(history: Sequence[Sequence[Any]], delta: float, accountant: str = "prv") -> float:
    """Estimated peak memory, in bytes, of ``accountant`` on ``history`` (0 when constant).

    Examples
    --------
    >>> accountant_memory([(0.5, 0.2, 20_000)], 1e-5, "prv") > 2**31  # doctest: +SKIP
    True
    """
    check_accountant(accountant)
    hist = merge_history(history)
    estimate = MEMORY_ESTIMATES.get(accountant)
    if estimate is None or not hist or any(s == 0 for s, _, _ in hist):
        return 0.0
    return float(estimate(hist, _check_delta(delta)))


def epsilon_used(
    history: Sequence[Sequence[Any]], delta: float, accountant: str = "prv"
) -> tuple[float, str, str | None]:
    """ε of ``history`` at ``delta``, the accountant that computed it, and why if not the one
    asked for (its estimated memory is above :data:`ACCOUNTANT_MEMORY_LIMIT`; RDP answers)."""
    check_accountant(accountant)
    hist = merge_history(history)
    delta = _check_delta(delta)
    if not hist:
        return 0.0, accountant, None
    if any(s == 0 for s, _, _ in hist):
        return math.inf, accountant, None
    with ACCOUNTANT_LOCK:
        need = accountant_memory(hist, delta, accountant)
        limit = memory_limit()
        if need <= limit:
            try:
                return ACCOUNTANTS[accountant](hist, delta), accountant, None
            except MemoryError:
                why = "ran out of memory"
        else:
            why = f"would need about {need / 2**30:.3g} GiB (estimated)"
    steps = sum(n for _, _, n in hist)
    note = (
        f"The {accountant.upper()} accountant {why} for this history ({steps} steps in "
        f"{len(hist)} segment(s)); the limit is {limit / 2**30:.3g} GiB. ε was computed by the "
        "RDP accountant instead: also an upper bound on ε, looser."
    )
    with ACCOUNTANT_LOCK:
        return ACCOUNTANTS["rdp"](hist, delta), "rdp", note


def epsilon(history: Sequence[Sequence[Any]], delta: float, accountant: str = "prv") -> float:
    """ε of the composition of ``history`` at ``delta`` (0 for an empty history).

    Parameters
    ----------
    history:
        ``(noise_multiplier, sample_rate, steps)`` triples.
    delta:
        δ, in (0, 1).
    accountant:
        A name in :data:`ACCOUNTANTS`.

    Returns
    -------
    float
        ε; when the accountant would need more memory than :data:`ACCOUNTANT_MEMORY_LIMIT`,
        the RDP accountant's (an :class:`AccountantFallbackWarning` says so).

    Examples
    --------
    >>> round(epsilon([(1.5, 0.04, 2250)], 1e-5, "rdp"), 2)  # doctest: +SKIP
    7.33
    """
    eps, used, note = epsilon_used(history, delta, accountant)
    if note is not None:  # one stable text, so a training loop shows it once, not every step
        warnings.warn(
            f"The {accountant.upper()} accountant would exceed the memory limit (the limit is "
            f"{memory_limit() / 2**30:.3g} GiB) for this history; ε was computed by the RDP "
            "accountant instead (also an upper bound on ε, looser). epsilon_used() gives the "
            "estimate.",
            AccountantFallbackWarning,
            stacklevel=2,
        )
    return eps


def noise_for_epsilon(
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str = "prv",
    *,
    prior: Sequence[Sequence[Any]] = (),
    tolerance: float = 0.01,
) -> float:
    """Smallest noise multiplier (to ``tolerance`` in ε) such that ``prior`` composed with
    ``steps`` steps at ``sample_rate`` stays within ``target_epsilon``.

    Raises :class:`PrivacyInputError` when even noise multiplier
    :data:`MAX_NOISE_MULTIPLIER` does not reach it. Where the accountant would exceed the
    memory limit at some σ, RDP's (larger) ε is used there, so the σ returned is never too
    small.
    """
    check_accountant(accountant)
    delta = _check_delta(delta)
    _check_noise_search(target_epsilon, sample_rate, steps, tolerance)
    prior = merge_history(prior)
    if prior:
        _refuse_spent_prior(target_epsilon, prior, delta, accountant)

    def eps_at(sigma: float, name: str = accountant) -> float:
        return epsilon_used(list(prior) + [(sigma, sample_rate, steps)], delta, name)[0]

    def unreachable() -> PrivacyInputError:
        return PrivacyInputError(
            f"The 'target_epsilon' {target_epsilon:g} cannot be reached: {steps} steps at "
            f"sample rate {sample_rate:.4g} (δ={delta:.3g}, accountant {accountant!r}"
            + (", after the runs already in the ledger" if prior else "")
            + f") would need a noise multiplier above {MAX_NOISE_MULTIPLIER:g}, which leaves "
            "nothing to learn. Train for fewer epochs, use a larger batch or more data, or "
            "accept a larger epsilon."
        )

    # 1. Calibrate with the cheap RDP accountant. RDP's ε is never below PRV's or PLD's, so
    #    the RDP noise is enough for those and brackets their answer from above; the tight
    #    accountants are then evaluated only near it (PRV gets slow at small σ).
    sigma_rdp = _rdp_noise(lambda sigma: eps_at(sigma, "rdp"), target_epsilon, unreachable)
    if accountant == "rdp":
        return sigma_rdp
    # 2. a bracket [lo, hi] of the accountant's own ε around the target, hi feasible
    bracket = _bracket(eps_at, target_epsilon, sigma_rdp, unreachable)
    # 3. Illinois (regula falsi) on ε(σ) - target, keeping hi feasible
    return _illinois(eps_at, target_epsilon, bracket, tolerance)


def _check_noise_search(target_epsilon: Any, sample_rate: Any, steps: Any, tolerance: Any) -> None:
    for name, value, ok, expected in (
        ("target_epsilon", target_epsilon, lambda v: v > 0, "a finite number above 0"),
        ("sample_rate", sample_rate, lambda v: 0 < v <= 1, "a finite number in (0, 1]"),
        ("steps", steps, lambda v: v.is_integer() and 1 <= v <= MAX_STEPS, "a whole number ≥ 1"),
        ("tolerance", tolerance, lambda v: v > 0, "a finite number above 0"),
    ):
        v = finite_number(value)
        if v is None or not ok(v):
            raise _bad(f"{name!r} parameter of noise_for_epsilon", expected, value)


def _refuse_spent_prior(target_epsilon: float, prior: History, delta: float, accountant: str) -> None:
    spent = epsilon_used(prior, delta, accountant)[0]
    if spent >= target_epsilon:
        raise PrivacyInputError(
            f"The 'target_epsilon' {target_epsilon:g} cannot be reached: the runs already "
            f"recorded spend ε={spent:.3f} on their own. Raise the target or train on "
            "other data."
        )


def _rdp_noise(
    rdp_at: Callable[[float], float], target: float, unreachable: Callable[[], Exception]
) -> float:
    """Smallest σ (to 0.1 %) whose RDP ε is within ``target``: doubling, then bisection."""
    lo, hi = 0.0, 1.0
    while rdp_at(hi) > target:
        lo, hi = hi, hi * 2
        if hi > MAX_NOISE_MULTIPLIER:
            raise unreachable()
    while (hi - lo) / hi > 1e-3:
        middle = (lo + hi) / 2
        if middle > 0 and rdp_at(middle) <= target:
            hi = middle
        else:
            lo = middle
    return hi


@dataclass(frozen=True)
class _Bracket:
    """σ values around the target: ε(lo) above it (or lo tiny), ε(hi) within it."""

    lo: float
    eps_lo: float
    hi: float
    eps_hi: float


def _bracket(
    eps_at: Callable[[float], float], target: float, start: float, unreachable: Callable[[], Exception]
) -> _Bracket:
    """Grow ``start`` until feasible (an accountant RDP does not dominate, e.g. "gdp"), then
    step down by 10 % until infeasible."""
    hi = start
    eps_hi = eps_at(hi)
    while eps_hi > target:
        hi = hi * 1.25
        if hi > MAX_NOISE_MULTIPLIER:
            raise unreachable()
        eps_hi = eps_at(hi)
    lo = hi * 0.9
    eps_lo = eps_at(lo)
    while eps_lo <= target and lo > 1e-3:
        hi, eps_hi = lo, eps_lo
        lo = hi * 0.9
        eps_lo = eps_at(lo)
    return _Bracket(lo, eps_lo, hi, eps_hi)


def _illinois(
    eps_at: Callable[[float], float], target: float, bracket: _Bracket, tolerance: float
) -> float:
    """Illinois (regula falsi) on ε(σ) - target within ``bracket``; the feasible end."""
    lo, hi, eps_hi = bracket.lo, bracket.hi, bracket.eps_hi
    f_lo, f_hi, side = bracket.eps_lo - target, eps_hi - target, 0
    for _ in range(30):
        if target - eps_hi <= tolerance or (hi - lo) / hi <= 1e-4:
            break
        middle = hi - f_hi * (hi - lo) / (f_hi - f_lo) if f_hi != f_lo else (lo + hi) / 2
        if not lo < middle < hi:
            middle = (lo + hi) / 2
        eps_middle = eps_at(middle)
        if eps_middle <= target:
            hi, eps_hi, f_hi = middle, eps_middle, eps_middle - target
            if side == 1:
                f_lo /= 2
            side = 1
        else:
            lo, f_lo = middle, eps_middle - target
            if side == -1:
                f_hi /= 2
            side = -1
    return hi


def max_steps_within(
    cap: float,
    delta: float,
    noise_multiplier: float,
    sample_rate: float,
    accountant: str = "prv",
    *,
    prior: Sequence[Sequence[Any]] = (),
    start: int = 0,
) -> int:
    """Largest step count ``k >= 0`` with ε(prior + k steps) <= ``cap`` (binary search)."""

    def ok(k: int) -> bool:
        hist = list(prior) + [(noise_multiplier, sample_rate, k)]
        return epsilon_used(hist, delta, accountant)[0] <= cap

    c = finite_number(cap)
    if c is None or c <= 0:
        raise _bad("'cap' of max_steps_within", "a finite number above 0", cap)

    if not ok(start):
        lo, hi = 0, start
        if not ok(0):
            return 0
    else:
        lo, step = start, max(1, start)
        hi = lo + step
        while ok(hi):
            lo, step = hi, step * 2
            hi = lo + step
            if hi > 10**9:
                return hi
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if ok(middle):
            lo = middle
        else:
            hi = middle
    return lo


def make_opacus_accountant(name: str) -> Any:
    """An Opacus-style accountant object (``step``, ``history``, ``get_epsilon``,
    ``state_dict``) whose ε comes from the named accountant of this module."""
    check_accountant(name)
    from opacus.accountants.accountant import IAccountant

    class _Accountant(IAccountant):
        def __init__(self) -> None:
            self.history: list[tuple[float, float, int]] = []

        def step(self, *, noise_multiplier: float, sample_rate: float) -> None:
            if self.history and self.history[-1][:2] == (noise_multiplier, sample_rate):
                s, q, n = self.history[-1]
                self.history[-1] = (s, q, n + 1)
            else:
                self.history.append((noise_multiplier, sample_rate, 1))

        def get_epsilon(self, delta: float, *args: Any, **kwargs: Any) -> float:
            return epsilon(self.history, delta, name)

        def __len__(self) -> int:
            return len(self.history)

        @classmethod
        def mechanism(cls) -> str:
            return name

    return _Accountant()
