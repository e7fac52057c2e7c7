"""Membership-inference attack: AUC and the empirical ε lower bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auditkit.privacy.dp import load_attack_results, membership_inference, save_attack_results
from auditkit.privacy.dp._attack import empirical_epsilon
from auditkit.privacy.errors import PrivacyInputError


def test_indistinguishable_losses_give_auc_half_and_no_bound():
    rng = np.random.default_rng(0)
    r = membership_inference(member_losses=rng.exponential(size=4000),
                             nonmember_losses=rng.exponential(size=4000))
    assert abs(r.auc - 0.5) < 0.03
    assert r.epsilon_lower_bound < 0.2


def test_separated_losses_give_auc_one_and_a_large_bound():
    r = membership_inference(member_losses=np.full(1000, 0.01) + np.arange(1000) * 1e-6,
                             nonmember_losses=np.full(1000, 5.0) + np.arange(1000) * 1e-6)
    assert r.auc == 1.0
    # with 500 evaluation examples per side, Clopper-Pearson caps the bound near log(500/3.7)
    assert 4.0 < r.epsilon_lower_bound < 6.5


def test_bound_is_valid_for_a_known_dp_mechanism():
    """Randomised response with ε=1 on one bit: the lower bound must not exceed 1."""
    rng = np.random.default_rng(1)
    p = math.e / (1 + math.e)
    members = (rng.random(20000) < p).astype(float)       # reports the true bit (1) w.p. p
    nonmembers = (rng.random(20000) < 1 - p).astype(float)
    lb, tpr, fpr = empirical_epsilon(members, nonmembers, confidence=0.95)
    assert 0.8 < lb <= 1.0


def test_round_trip_and_bad_files(tmp_path):
    rng = np.random.default_rng(2)
    r = membership_inference(member_losses=rng.random(100), nonmember_losses=rng.random(100),
                             label="m", claimed_epsilon=3.0)
    path = save_attack_results(tmp_path / "a.json", [r], note="hello")
    back, meta = load_attack_results(path)
    assert back == [r] and meta["note"] == "hello"
    (tmp_path / "b.json").write_text('{"format": "other"}')
    with pytest.raises(PrivacyInputError, match="not an attack results file"):
        load_attack_results(tmp_path / "b.json")
    with pytest.raises(PrivacyInputError, match="at least 20"):
        membership_inference(member_losses=[1.0] * 5, nonmember_losses=[1.0] * 5)
    with pytest.raises(PrivacyInputError, match="either model"):
        membership_inference()
