"""The named phases of make_private and the clipping-mode registry (issue 14)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.utils.data import DataLoader

from auditkit.privacy.dp import _accounting, make_private
from auditkit.privacy.dp._arguments import Sampling, TrainingRequest
from auditkit.privacy.dp._data import DeltaWarning
from auditkit.privacy.dp._ledger_cap import PlannedRun, steps_within_cap, tighten_cap
from auditkit.privacy.dp._modes import MODES, ClippingMode, LayerSurvey, register_mode, select_mode
from auditkit.privacy.dp._planning import choose_delta
from auditkit.privacy.dp._wiring import wire_ghost
from auditkit.privacy.errors import BudgetExceededError, PrivacyInputError

from .conftest import mlp, toy_data


def _request(**changes):
    settings = dict(accountant="rdp", target_epsilon=3.0, noise_multiplier=None, epochs=2,
                    max_grad_norm=1.0, max_epsilon=None, on_cap="refuse", loss_reduction="mean")
    return TrainingRequest(**{**settings, **changes})


def test_modes_registry_lists_the_builtin_modes_fastest_first():
    assert list(MODES) == ["bookkeeping", "ghost", "hooks", "functorch"]
    assert all(isinstance(m, ClippingMode) and m.name == n for n, m in MODES.items())


def test_register_mode_refuses_a_silent_overwrite_and_the_reserved_names():
    with pytest.raises(PrivacyInputError, match="already registered; pass force=True"):
        register_mode(ClippingMode("ghost", "another ghost", wire_ghost))
    for reserved in ("auto", "bk"):
        with pytest.raises(PrivacyInputError, match="reserved"):
            register_mode(ClippingMode(reserved, "x", wire_ghost))
    with pytest.raises(PrivacyInputError, match="'functorch' of clipping mode.*Did you mean 'all'"):
        ClippingMode("x", "x", wire_ghost, functorch="al")


def test_a_registered_mode_is_selectable_by_name_and_named_in_the_error():
    mode = ClippingMode("ghost_copy", "a copy of ghost clipping", wire_ghost, functorch="unsampled")
    register_mode(mode)
    try:
        decision = select_mode(mlp(), "ghost_copy")
        assert decision.mode == "ghost_copy"
        assert decision.reason == "requested: a copy of ghost clipping."
        with pytest.raises(PrivacyInputError, match="Did you mean 'ghost_copy'"):
            select_mode(mlp(), "ghost_cpy")
    finally:
        del MODES["ghost_copy"]


def test_layer_survey_names_functorch_layers_per_mode():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Conv3d(1, 1, 1))
    survey = LayerSurvey.of(model)
    assert survey.layers == (("0", "Linear"), ("1", "Conv3d"))
    assert [n for n, _, _ in survey.bookkeeping_problems] == ["1"]
    assert survey.functorch_layers("all") == ("0", "1")
    assert survey.functorch_layers("none") == ()
    with pytest.raises(PrivacyInputError, match="mode='bookkeeping' cannot handle layer 1"):
        select_mode(model, "bookkeeping")


def test_training_request_reports_the_first_mistake_in_order():
    with pytest.raises(PrivacyInputError, match="'accountant'.*Did you mean 'rdp'"):
        _request(accountant="rpd")
    with pytest.raises(PrivacyInputError, match="needs a privacy target"):
        _request(target_epsilon=None, epochs=None)
    with pytest.raises(PrivacyInputError, match="'epochs' parameter of make_private is required"):
        _request(epochs=None, on_cap="never")
    with pytest.raises(PrivacyInputError, match="not both"):
        _request(noise_multiplier=1.0)
    assert _request(noise_multiplier=1.0, resuming=True).noise_multiplier == 1.0
    assert _request(target_epsilon=None, resuming=True).target_epsilon is None


def test_sampling_rate_is_one_over_the_batches():
    assert Sampling(dataset_size=400, steps_per_epoch=8).sample_rate == pytest.approx(0.125)


def test_delta_warning_points_at_make_privates_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = mlp()
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     DataLoader(toy_data(100), batch_size=10), target_epsilon=3, epochs=1,
                     accountant="rdp", target_delta=0.05)
    found = [w for w in caught if issubclass(w.category, DeltaWarning)]
    assert found and found[0].filename == __file__


def test_choose_delta_known_answers():
    assert choose_delta(None, None, None, 400, "rdp").value == pytest.approx(2e-4)
    state = {"run": {"delta": 1e-6}}
    assert choose_delta(None, state, None, 400, "rdp").value == 1e-6
    with pytest.raises(PrivacyInputError, match="'target_delta'.*in \\(0, 1\\)"):
        choose_delta(1.5, None, None, 400, "rdp")


def test_cap_tightens_only_and_fits_the_most_steps_that_stay_under_it():
    data = {"max_epsilon": 4.0}
    assert tighten_cap(data, 8.0) == 4.0
    assert tighten_cap(data, 2.0) == 2.0 and data["max_epsilon"] == 2.0
    run = PlannedRun(1.0, 0.01, 100_000, 1e-5, "rdp")
    where = ("ds", "ledger.json")
    assert steps_within_cap(None, [], run, "refuse", where) is None
    with pytest.raises(BudgetExceededError, match="At most .* steps fit"):
        steps_within_cap(2.0, [], run, "refuse", where)
    steps = steps_within_cap(2.0, [], run, "stop", where)
    assert 0 < steps < run.planned_steps
    assert _accounting.epsilon([(1.0, 0.01, steps)], 1e-5, "rdp") <= 2.0
    assert _accounting.epsilon([(1.0, 0.01, steps + 1)], 1e-5, "rdp") > 2.0
    with pytest.raises(BudgetExceededError, match="is spent"):
        steps_within_cap(2.0, [(1.0, 0.01, 100_000)], run, "stop", where)


def test_register_accountant_refuses_overwrite_with_a_package_error():
    with pytest.raises(PrivacyInputError, match="already registered; pass force=True"):
        _accounting.register_accountant("rdp", lambda history, delta: 0.0)
