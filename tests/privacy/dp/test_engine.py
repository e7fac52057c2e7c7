"""make_private / fit: results, defaults and bad input."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st
import torch
from torch.utils.data import DataLoader, IterableDataset

from auditkit.privacy.dp import DeltaWarning, default_delta, fit, make_private
from auditkit.privacy.errors import PrivacyInputError

from .conftest import mlp, toy_data


def setup(**kw):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = DataLoader(toy_data(), batch_size=40)
    kw.setdefault("accountant", "rdp")
    kw.setdefault("epochs", 2)
    return make_private(model, opt, loader, **kw)


def test_result_budget_and_default_delta():
    p = setup(target_epsilon=3.0)
    assert p.mode.mode == "bookkeeping"
    assert p.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert p.budget.sample_rate == pytest.approx(0.1)
    assert p.delta == default_delta(400) == 0.0002 and p.delta < 1 / 400
    assert "below 1/n" in p.delta_note
    assert p.budget.spent() == 0 and p.budget.remaining() == pytest.approx(3.0)
    r = fit(p, 2, progress=False)
    assert r.steps == 20 and not r.stopped_at_cap
    assert 2.9 < p.budget.spent() <= 3.0
    assert p.budget.remaining() == pytest.approx(3.0 - p.budget.spent())
    assert r.losses[-1] < r.losses[0]
    s = p.summary()
    for key in ("epsilon", "delta", "accountant", "noise_multiplier", "sample_rate", "steps",
                "max_grad_norm", "secure_mode", "mode", "mode_reason"):
        assert key in s


def test_default_delta_is_below_one_over_n():
    for n in (1, 7, 100, 32_561, 10**7):
        assert default_delta(n) < 1 / n


def test_fit_progress_bar_runs():
    p = setup(target_epsilon=5.0, epochs=1)
    r = fit(p, 1, progress=True)
    assert r.epochs == 1


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"target_epsilon": -1}, "'target_epsilon' parameter of make_private must be a positive"),
        ({"target_epsilon": math.inf}, "positive number"),
        ({}, "needs a privacy target"),
        ({"target_epsilon": 3, "epochs": 0}, "'epochs' parameter"),
        ({"target_epsilon": 3, "max_grad_norm": 0}, "'max_grad_norm'"),
        ({"target_epsilon": 3, "target_delta": 1.5}, "'target_delta'"),
        ({"target_epsilon": 3, "accountant": "rdpp"}, "Did you mean 'rdp'"),
        ({"target_epsilon": 3, "on_cap": "ignore"}, "'on_cap'"),
        ({"target_epsilon": 1e-7}, "cannot be reached"),
        ({"target_epsilon": 3, "max_epsilon": 5}, "ledger=<directory> or checkpoint_dir"),
        ({"target_epsilon": 3, "device": "gpu9"}, "'device'"),
        ({"target_epsilon": 3, "noise_multiplier": 1.0}, "not both"),
    ],
)
def test_bad_input(kw, match):
    with pytest.raises(PrivacyInputError, match=match):
        setup(**kw)


def test_delta_not_below_one_over_n_warns_and_explains():
    with pytest.warns(DeltaWarning, match="not below 1/n.*leaking whole records"):
        p = setup(target_epsilon=3, target_delta=0.01)
    assert "WARNING" in p.delta_note


def test_loader_without_length():
    class Stream(IterableDataset):
        def __iter__(self):
            yield from ((torch.randn(10), torch.tensor(0)) for _ in range(10))

    model = mlp()
    with pytest.raises(PrivacyInputError, match="has no length.*map-style"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     DataLoader(Stream(), batch_size=5), target_epsilon=3, epochs=1)


def test_not_a_model():
    with pytest.raises(PrivacyInputError, match="torch.nn.Module"):
        make_private(object(), None, None, target_epsilon=3, epochs=1)


def test_noise_multiplier_given_directly_and_poisson_batches():
    p = setup(noise_multiplier=1.3, epochs=1)
    assert p.budget.noise_multiplier == 1.3 and p.budget.target_epsilon is None
    sizes = [len(x) for x, _ in p.data_loader]
    assert len(sizes) == 10 and len(set(sizes)) > 1  # Poisson sampling: variable batch sizes


def test_close_restores_the_model():
    p = setup(target_epsilon=3)
    p.close()
    assert all("forward" not in m.__dict__ for m in p.model.modules())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.model(torch.randn(3, 10)).sum().backward()
    assert p.model[0].weight.grad is not None


def test_secure_mode_needs_torchcsprng():
    try:
        import torchcsprng  # noqa: F401
    except ImportError:
        with pytest.raises(PrivacyInputError, match="torchcsprng"):
            setup(target_epsilon=3, secure_mode=True)
    else:  # pragma: no cover - only where torchcsprng is installed
        p = setup(target_epsilon=3, secure_mode=True)
        assert p.budget.secure_mode


def test_noise_is_drawn_inline_with_forking_loader_workers():
    model = mlp()
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     DataLoader(toy_data(), batch_size=40, num_workers=1), noise_multiplier=1.0,
                     epochs=1, accountant="rdp")
    assert p.optimizer.noise_ahead is False
    q = setup(noise_multiplier=1.0)
    fit(q, 1, progress=False)
    assert q.optimizer.noise_ahead is True and q.optimizer._ahead is not None
    q.close()
    assert q.optimizer._ahead is None


@pytest.mark.parametrize("world_size,refused", [("2", True), ("8", True), ("1", False), ("", False),
                                                ("two", False)])
def test_a_torchrun_launch_that_joined_no_process_group_is_refused(monkeypatch, world_size, refused):
    """Several processes launched (WORLD_SIZE > 1) but none joined a process group: each would
    train its own model on the whole dataset and report ε as if alone. Refused before anything
    is reserved; one process, or an unreadable WORLD_SIZE, trains as before."""
    from torch.utils.data import TensorDataset

    monkeypatch.setenv("WORLD_SIZE", world_size)
    model = torch.nn.Linear(3, 2)
    loader = DataLoader(TensorDataset(torch.randn(16, 3), torch.randint(0, 2, (16,))), batch_size=4)
    call = lambda: make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), loader,  # noqa: E731
                                noise_multiplier=1.0, epochs=1, accountant="rdp")
    if refused:
        with pytest.raises(PrivacyInputError, match=rf"launched as one of {world_size}.*init_process_group"):
            call()
    else:
        call().close()


def test_fractional_epochs_plan_their_share_of_the_steps():
    """epochs=1.25 over 8 batches plans 10 steps, and the noise spends target ε in exactly those."""
    from auditkit.privacy.dp._accounting import epsilon

    model = mlp()
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     DataLoader(toy_data(), batch_size=len(toy_data()) // 8), target_epsilon=2.0,
                     epochs=1.25, accountant="rdp")
    assert len(p.data_loader) == 8 and p.budget.planned_steps == 10
    spent = epsilon([(p.budget.noise_multiplier, p.budget.sample_rate, 10)], p.delta, "rdp")
    assert spent == pytest.approx(2.0, abs=0.011) and spent <= 2.0
    p.close()


@given(st.integers(1, 5000), st.integers(1, 400))
def test_a_fraction_of_epochs_from_a_step_count_plans_that_step_count(steps, per_epoch):
    """Property: steps / per_epoch epochs plan exactly ``steps`` steps (no float rounding up)."""
    from auditkit.privacy.dp._planning import planned_steps

    assert planned_steps(steps / per_epoch, per_epoch) == steps
