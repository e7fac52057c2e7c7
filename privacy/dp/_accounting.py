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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from auditkit.privacy.errors import PrivacyInputError

__all__ = [
    "ACCOUNTANTS",
    "History",
    "epsilon",
    "make_opacus_accountant",
    "merge_history",
    "noise_for_epsilon",
    "register_accountant",
    "max_steps_within",
]

History = list[tuple[float, float, int]]

MAX_NOISE_MULTIPLIER = 1000.0


def _opacus_eps(name: str) -> Callable[[History, float], float]:
    def compute(history: History, delta: float) -> float:
        from opacus.accountants import create_accountant

        acc = create_accountant(mechanism=name)
        acc.history = [(float(s), float(q), int(n)) for s, q, n in history]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(acc.get_epsilon(delta=delta))

    return compute


def _pld_eps(history: History, delta: float) -> float:
    import dp_accounting
    from dp_accounting import pld

    acc = pld.PLDAccountant()
    for s, q, n in history:
        event = dp_accounting.PoissonSampledDpEvent(float(q), dp_accounting.GaussianDpEvent(float(s)))
        acc.compose(dp_accounting.SelfComposedDpEvent(event, int(n)))
    return float(acc.get_epsilon(delta))


ACCOUNTANTS: dict[str, Callable[[History, float], float]] = {
    "prv": _opacus_eps("prv"),
    "rdp": _opacus_eps("rdp"),
    "gdp": _opacus_eps("gdp"),
    "pld": _pld_eps,
}


def register_accountant(
    name: str, fn: Callable[[History, float], float], *, force: bool = False
) -> None:
    """Register ``fn(history, delta) -> epsilon`` under ``name``; refuses silent overwrites."""
    if name in ACCOUNTANTS and not force:
        raise ValueError(f"An accountant named {name!r} is already registered; pass force=True.")
    ACCOUNTANTS[name] = fn


def check_accountant(name: str) -> str:
    if name not in ACCOUNTANTS:
        import difflib

        close = difflib.get_close_matches(str(name), ACCOUNTANTS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PrivacyInputError(
            f"The 'accountant' parameter must be one of {sorted(ACCOUNTANTS)}; got {name!r}."
            f"{hint}"
        )
    return name


def merge_history(history: Sequence[Sequence[Any]]) -> History:
    """Normalise and run-length merge adjacent identical ``(sigma, q)`` entries."""
    out: History = []
    for s, q, n in history:
        s, q, n = float(s), float(q), int(n)
        if n <= 0:
            continue
        if out and out[-1][0] == s and out[-1][1] == q:
            out[-1] = (s, q, out[-1][2] + n)
        else:
            out.append((s, q, n))
    return out


def epsilon(history: Sequence[Sequence[Any]], delta: float, accountant: str = "prv") -> float:
    """ε of the composition of ``history`` at ``delta`` (0 for an empty history)."""
    check_accountant(accountant)
    hist = merge_history(history)
    if not hist:
        return 0.0
    if any(s == 0 for s, _, _ in hist):
        return math.inf
    return ACCOUNTANTS[accountant](hist, delta)


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
    :data:`MAX_NOISE_MULTIPLIER` does not reach it.
    """

    def eps_at(sigma: float, name: str = accountant) -> float:
        return epsilon(list(prior) + [(sigma, sample_rate, steps)], delta, name)

    def too_much(sigma: float) -> PrivacyInputError:
        return PrivacyInputError(
            f"The 'target_epsilon' {target_epsilon:g} cannot be reached: {steps} steps at "
            f"sample rate {sample_rate:.4g} (δ={delta:.3g}, accountant {accountant!r}"
            + (", after the runs already in the ledger" if prior else "")
            + f") would need a noise multiplier above {sigma:g}, which leaves nothing to "
            "learn. Train for fewer epochs, use a larger batch or more data, or accept a "
            "larger epsilon."
        )

    if prior:
        spent = epsilon(prior, delta, accountant)
        if spent >= target_epsilon:
            raise PrivacyInputError(
                f"The 'target_epsilon' {target_epsilon:g} cannot be reached: the runs already "
                f"recorded spend ε={spent:.3f} on their own. Raise the target or train on "
                "other data."
            )
    # 1. Calibrate with the cheap RDP accountant. RDP's ε is never below PRV's or PLD's, so
    #    the RDP noise is enough for those and brackets their answer from above; the tight
    #    accountants are then evaluated only near it (PRV gets slow at small σ).
    lo, hi = 0.0, 1.0
    while eps_at(hi, "rdp") > target_epsilon:
        lo, hi = hi, hi * 2
        if hi > MAX_NOISE_MULTIPLIER:
            raise too_much(MAX_NOISE_MULTIPLIER)
    while (hi - lo) / hi > 1e-3:
        mid = (lo + hi) / 2
        if mid > 0 and eps_at(mid, "rdp") <= target_epsilon:
            hi = mid
        else:
            lo = mid
    if accountant == "rdp":
        return hi
    e_hi = eps_at(hi)
    while e_hi > target_epsilon:  # an accountant RDP does not dominate (e.g. "gdp")
        lo, hi = hi, hi * 1.25
        if hi > MAX_NOISE_MULTIPLIER:
            raise too_much(MAX_NOISE_MULTIPLIER)
        e_hi = eps_at(hi)
    # 2. a lower end that exceeds the target, close to hi
    lo = hi * 0.9
    e_lo = eps_at(lo)
    while e_lo <= target_epsilon and lo > 1e-3:
        hi, e_hi = lo, e_lo
        lo = hi * 0.9
        e_lo = eps_at(lo)
    # 3. Illinois (regula falsi) on ε(σ) - target, keeping hi feasible
    f_lo, f_hi, side = e_lo - target_epsilon, e_hi - target_epsilon, 0
    for _ in range(30):
        if target_epsilon - e_hi <= tolerance or (hi - lo) / hi <= 1e-4:
            break
        mid = hi - f_hi * (hi - lo) / (f_hi - f_lo) if f_hi != f_lo else (lo + hi) / 2
        if not lo < mid < hi:
            mid = (lo + hi) / 2
        e_mid = eps_at(mid)
        if e_mid <= target_epsilon:
            hi, e_hi, f_hi = mid, e_mid, e_mid - target_epsilon
            if side == 1:
                f_lo /= 2
            side = 1
        else:
            lo, f_lo = mid, e_mid - target_epsilon
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
        return epsilon(list(prior) + [(noise_multiplier, sample_rate, k)], delta, accountant) <= cap

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
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
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
