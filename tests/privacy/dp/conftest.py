"""Fixtures for auditkit.privacy.dp tests: small datasets and models (CPU)."""

from __future__ import annotations

import warnings

import opacus  # noqa: F401 - the test command installs it: missing, the run fails (never skips)
import pytest
import torch


@pytest.fixture(autouse=True)
def _quiet_opacus():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Secure RNG turned off.*")
        warnings.filterwarnings("ignore", message=".*Using a non-full backward hook.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="opacus.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="torch.*")
        yield


@pytest.fixture(autouse=True)
def _one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def toy_data(n: int = 400, d: int = 10, seed: int = 0):
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
    return TensorDataset(X, y)


def mlp(d: int = 10, h: int = 16, k: int = 2, seed: int = 0):
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, k))


@pytest.fixture
def toy():
    return toy_data()


@pytest.fixture
def first_draw_empty(monkeypatch):
    """Every Poisson sampler's first draw is empty; the later draws are its own."""
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    own = UniformWithReplacementSampler.__iter__

    def draws(self):
        yield []
        yield from own(self)

    monkeypatch.setattr(UniformWithReplacementSampler, "__iter__", draws)
