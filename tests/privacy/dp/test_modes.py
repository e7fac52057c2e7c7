"""mode="auto": the choice, the reason, unsupported layers and fix=True."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from auditkit.privacy.dp import make_private, select_mode
from auditkit.privacy.errors import PrivacyInputError

from .conftest import toy_data


class WithScale(nn.Module):
    """A custom layer owning a bare Parameter: no Opacus grad sampler, no book-keeping rule."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(10, 2)
        self.scale = nn.Parameter(torch.ones(2))

    def forward(self, x):
        return self.lin(x) * self.scale


def test_auto_picks_bookkeeping_when_every_layer_has_a_rule():
    d = select_mode(nn.Sequential(nn.Linear(10, 4), nn.LayerNorm(4), nn.Linear(4, 2)))
    assert d.mode == "bookkeeping"
    assert "Linear×2" in d.reason and "LayerNorm×1" in d.reason


def test_auto_falls_back_to_ghost_with_reason():
    model = nn.Sequential(nn.Conv3d(1, 2, 2), nn.Flatten(), nn.Linear(2, 2))
    d = select_mode(model)
    assert d.mode == "ghost"
    assert "0 (Conv3d)" in d.reason


def test_auto_falls_back_to_hooks_with_functorch_layers():
    d = select_mode(WithScale())
    assert d.mode == "hooks"
    assert d.functorch_layers == ("<root>",)
    assert "functorch" in d.reason


def test_mode_typo_suggests():
    with pytest.raises(PrivacyInputError, match="Did you mean 'ghost'"):
        select_mode(nn.Linear(2, 2), "gost")


def test_batchnorm_is_reported_by_name_with_the_fix():
    model = nn.Sequential(nn.Linear(10, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(PrivacyInputError, match=r"1 \(BatchNorm1d\).*fix=True"):
        make_private(model, opt, DataLoader(toy_data(), batch_size=40), target_epsilon=3,
                     epochs=1, accountant="rdp")


def test_fix_true_replaces_and_lists_and_trains():
    model = nn.Sequential(nn.Linear(10, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    p = make_private(model, opt, DataLoader(toy_data(), batch_size=40), target_epsilon=3,
                     epochs=1, accountant="rdp", fix=True)
    assert p.replaced_layers == [("1", "BatchNorm1d", "GroupNorm")]
    assert p.mode.mode == "bookkeeping"  # GroupNorm has a book-keeping rule
    assert p.mode.replaced == (("1", "BatchNorm1d", "GroupNorm"),)
    x, y = next(iter(p.data_loader))
    p.optimizer.zero_grad()
    p.criterion(p.model(x), y).backward()
    p.optimizer.step()
    assert p.budget.steps == 1


@pytest.mark.parametrize("mode", ["ghost", "hooks", "functorch"])
def test_opacus_modes_train(mode):
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 2))
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     DataLoader(toy_data(), batch_size=40), target_epsilon=3, epochs=1,
                     accountant="rdp", mode=mode)
    assert p.mode.mode == mode
    for x, y in p.data_loader:
        p.optimizer.zero_grad()
        p.criterion(p.model(x), y).backward()
        p.optimizer.step()
    assert p.budget.steps == len(p.data_loader)


def test_the_docs_table_lists_exactly_the_registered_modes() -> None:
    """docs/dp.md's table of clipping modes is read against the registry, the one list."""
    import re
    from pathlib import Path

    from auditkit.privacy.dp._modes import MODES

    doc = Path(__file__).resolve().parents[3] / "docs" / "dp.md"
    if not doc.is_file():
        pytest.skip("reads the checkout's docs")
    text = doc.read_text(encoding="utf-8")
    table = text.split("## Clipping modes (`mode=`)", 1)[1].split("\n\n", 2)[1]
    listed = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert listed == list(MODES)
