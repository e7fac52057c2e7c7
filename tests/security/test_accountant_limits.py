"""Attack class: accountant parameters that exhaust memory, and malformed accounting inputs.

Opacus's PRV accountant at σ=0.5, q=0.2, T=20,000 allocates a 2.9 GiB array and raises
``MemoryError`` (or the process is killed). The decision to fall back to RDP is taken from the
parameters before any grid is allocated; these tests assert that decision, with the tight
accountants replaced by a tripwire, and that no test allocates more than a few tens of MiB.
"""

from __future__ import annotations

import math
import tracemalloc
import warnings

import dp_accounting  # noqa: F401 - the test command installs it: missing, the run fails (never skips)
import opacus  # noqa: F401 - the test command installs it: missing, the run fails (never skips)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.privacy.dp import AccountantFallbackWarning, BudgetLedger, _memory
from auditkit.privacy.dp import _accounting as acc
from auditkit.privacy.errors import PrivacyInputError

ISSUE = [(0.5, 0.2, 20_000)]
HEAVY = [
    ISSUE,
    [(0.7, 0.1, 50_000)],
    [(0.5, 0.2, 3_000), (0.7, 0.3, 2_000)],
    [(0.6, 0.5, 10**6)],
    [(1.0, 0.01, 10**9)],
]


@pytest.fixture
def tripwire():
    """Replace PRV and PLD by functions that fail the test if called with an over-limit history."""
    calls = []

    def guard(name):
        def fn(history, delta):
            calls.append((name, history))
            need = acc.accountant_memory(history, delta, name)
            assert need <= _memory.memory_limit(), f"{name} called at {need / 2**30:.1f} GiB"
            return 1.0

        return fn

    with acc.ACCOUNTANTS.replaced("prv", guard("prv")), acc.ACCOUNTANTS.replaced("pld", guard("pld")):
        yield calls


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_issue_parameters_fall_back_to_rdp_without_allocating(tripwire):
    (eps, used, note), peak = _peak(lambda: acc.epsilon_used(ISSUE, 1e-5, "prv"))
    assert tripwire == []  # PRV never ran
    assert used == "rdp" and eps == acc.ACCOUNTANTS["rdp"](ISSUE, 1e-5)
    assert "PRV" in note and "GiB" in note and "RDP" in note
    assert acc.accountant_memory(ISSUE, 1e-5, "prv") > 2.9 * 2**30  # one array alone is 2.9 GiB
    assert peak < 64 * 2**20


@pytest.mark.parametrize("history", HEAVY, ids=lambda h: f"{len(h)}seg-{h[0]}")
@pytest.mark.parametrize("name", ["prv", "pld"])
def test_heavy_histories_are_decided_before_any_grid_is_built(tripwire, history, name):
    (eps, used, note), peak = _peak(lambda: acc.epsilon_used(history, 1e-5, name))
    assert tripwire == [] and used == "rdp" and math.isfinite(eps) and note
    assert peak < 64 * 2**20
    with pytest.warns(AccountantFallbackWarning, match="limit is 1 GiB"):
        assert acc.epsilon(history, 1e-5, name) == eps


@pytest.mark.parametrize("name", ["prv", "pld"])
def test_ordinary_histories_still_use_the_tight_accountant(tripwire, name):
    eps, used, note = acc.epsilon_used([(1.5, 0.04, 2250)], 1e-5, name)
    assert (used, note, eps) == (name, None, 1.0) and len(tripwire) == 1


def test_the_estimate_is_not_below_what_prv_allocates():
    """A small case run for real: traced peak (numpy arrays) stays under the estimate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = [(1.0, 0.01, 2250)]
        _, peak = _peak(lambda: acc.ACCOUNTANTS["prv"](h, 1e-5))
    assert peak <= acc.accountant_memory(h, 1e-5, "prv") <= 4 * peak


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=st.lists(
        st.tuples(st.floats(0.3, 5.0), st.floats(1e-4, 1.0), st.integers(1, 10**7)),
        min_size=1, max_size=3,
    ),
    name=st.sampled_from(["prv", "pld"]),
)
def test_a_tight_accountant_is_never_called_over_the_limit(tripwire, history, name):
    tripwire.clear()
    _, used, note = acc.epsilon_used(history, 1e-5, name)
    assert (used == name) == (note is None) == (len(tripwire) == 1)


def test_noise_search_and_cap_search_respect_the_limit(tripwire, monkeypatch):
    monkeypatch.setenv(_memory.MEMORY_ENV, "128")
    ran = []

    def prv(h, d):  # a stand-in tight accountant: 0.9 × RDP, and a tripwire on the limit
        need = acc.accountant_memory(h, d, "prv")
        assert need <= 128 * 2**20, f"PRV called at {need / 2**20:.0f} MiB"
        ran.append(need)
        return acc.ACCOUNTANTS["rdp"](h, d) * 0.9

    with acc.ACCOUNTANTS.replaced("prv", prv):
        sigma = acc.noise_for_epsilon(8.0, 1e-5, 0.2, 5_000, "prv")
        assert acc.epsilon_used([(sigma, 0.2, 5_000)], 1e-5, "prv")[0] <= 8.0
        k = acc.max_steps_within(8.0, 1e-5, sigma, 0.2, "prv")
    assert k >= 5_000
    assert ran  # the search did use the tight accountant where it fitted


def test_a_ledger_over_the_limit_reports_the_fallback(tmp_path, tripwire):
    led = BudgetLedger(tmp_path, "ds")
    rid, _ = led.reserve(noise_multiplier=0.5, sample_rate=0.2, planned_steps=20_000, delta=1e-5,
                         accountant="prv", max_epsilon=None, on_cap="refuse", info={})
    led.update(rid, history=ISSUE, status="completed")
    s = led.summary()
    assert s["epsilon_accountant"] == "rdp" and "GiB" in s["accountant_note"]
    assert s["epsilon_total"] == acc.ACCOUNTANTS["rdp"](ISSUE, 1e-5)
    rec = led.runs()[0].record
    assert rec["epsilon_accountant"] == "rdp" and rec["epsilon"] == s["epsilon_total"]
    assert tripwire == []


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "15", "1e9", "99999999999", "1.5"])
def test_a_bad_memory_limit_setting_is_refused(monkeypatch, raw):
    monkeypatch.setenv(_memory.MEMORY_ENV, raw)
    with pytest.raises(PrivacyInputError, match=_memory.MEMORY_ENV) as err:
        acc.epsilon([(1.0, 0.1, 10)], 1e-5, "prv")
    assert "MiB" in str(err.value)


BAD_ENTRIES = [
    ((math.nan, 0.1, 10), "noise multiplier"), ((-1.0, 0.1, 10), "noise multiplier"),
    ((math.inf, 0.1, 10), "noise multiplier"), (("1", 0.1, 10), "noise multiplier"),
    ((1.0, 0.0, 10), "sample rate"), ((1.0, 1.5, 10), "sample rate"),
    ((1.0, math.nan, 10), "sample rate"), ((1.0, True, 10), "sample rate"),
    ((1.0, 0.1, -1), "steps"), ((1.0, 0.1, 2.5), "steps"), ((1.0, 0.1, math.inf), "steps"),
    ((1.0, 0.1, 10**13), "steps"), ((1.0, 0.1, math.nan), "steps"), ((1.0, 0.1), "history entry"),
    (None, "history entry"),
]


@pytest.mark.parametrize("entry,named", BAD_ENTRIES, ids=[str(e) for e, _ in BAD_ENTRIES])
@pytest.mark.parametrize("name", ["rdp", "prv"])
def test_malformed_history_is_refused_naming_the_field(entry, named, name):
    with pytest.raises(PrivacyInputError, match=named):
        acc.epsilon([(1.0, 0.1, 5), entry], 1e-5, name)


@pytest.mark.parametrize("delta", [math.nan, 0.0, 1.0, -1e-5, math.inf, "1e-5", None])
def test_malformed_delta_is_refused(delta):
    with pytest.raises(PrivacyInputError, match="'delta'"):
        acc.epsilon([(1.0, 0.1, 5)], delta, "rdp")


@pytest.mark.parametrize(
    "kw", [{"target_epsilon": math.nan}, {"target_epsilon": -1.0}, {"sample_rate": math.inf},
           {"steps": 0}, {"steps": 2.5}, {"tolerance": math.nan}],
)
def test_noise_for_epsilon_refuses_bad_parameters(kw):
    args = {"target_epsilon": 3.0, "delta": 1e-5, "sample_rate": 0.05, "steps": 100, **kw}
    with pytest.raises(PrivacyInputError, match=repr(next(iter(kw)))):
        acc.noise_for_epsilon(accountant="rdp", **args)
