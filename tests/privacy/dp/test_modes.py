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


# -- tied parameters and Opacus ghost clipping ---------------------------------------------------
class Tied(nn.Module):
    """Token ids -> embedding -> mean over tokens -> [a layer without a book-keeping rule] ->
    head; ``tie`` shares one weight between two layers ("emb-head": the embedding with the output
    head, as GPT-2; "lin-lin": two square Linear layers; "none")."""

    def __init__(self, tie: str, no_rule: bool = False):
        super().__init__()
        self.emb = nn.Embedding(12, 6)
        self.mid = nn.Linear(6, 6)
        self.mid2 = nn.Linear(6, 6)
        self.extra = nn.Conv3d(1, 1, 1) if no_rule else None  # Opacus samples it; no rule
        self.head = nn.Linear(6, 12, bias=False)
        if tie == "emb-head":
            self.head.weight = self.emb.weight
        elif tie == "lin-lin":
            self.mid2.weight = self.mid.weight

    def forward(self, ids):
        h = self.mid2(torch.relu(self.mid(self.emb(ids).mean(1))))
        if self.extra is not None:
            h = self.extra(h[:, None, :, None, None])[:, 0, :, 0, 0]
        return self.head(h)


TIES = {"emb-head": "emb.weight = head.weight", "lin-lin": "mid.weight = mid2.weight", "none": None}


def _ids_loader():
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randint(0, 12, (32, 5), generator=g),
                                    torch.randint(0, 12, (32,), generator=g)), batch_size=8)


@pytest.mark.parametrize("tie", list(TIES))
def test_ghost_refuses_exactly_the_ties_opacus_ghost_clipping_raises_on(tie):
    """Known answer from Opacus itself: its ghost clipping raises in the first training pass on
    the tied models, and trains the untied one; ``mode='ghost'`` is refused up front, naming the
    tie, exactly when it would."""
    from opacus.grad_sample.grad_sample_module_fast_gradient_clipping import (
        GradSampleModuleFastGradientClipping,
    )

    torch.manual_seed(0)
    model = Tied(tie)
    ids, y = next(iter(_ids_loader()))
    wrapped = GradSampleModuleFastGradientClipping(model, use_ghost_clipping=True)
    opacus_raises = False
    try:
        nn.functional.cross_entropy(wrapped(ids), y, reduction="none").sum().backward()
    except NotImplementedError as exc:
        opacus_raises = "tying" in str(exc)
    wrapped._close()
    assert opacus_raises == (TIES[tie] is not None)

    model = Tied(tie)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    if TIES[tie] is None:
        p = make_private(model, opt, _ids_loader(), noise_multiplier=1.0, epochs=1, accountant="rdp",
                         mode="ghost")
        assert p.mode.mode == "ghost"
        p.close()
        return
    with pytest.raises(PrivacyInputError) as info:
        make_private(model, opt, _ids_loader(), noise_multiplier=1.0, epochs=1, accountant="rdp",
                     mode="ghost")
    assert TIES[tie] in str(info.value) and "mode='bookkeeping'" in str(info.value)


@pytest.mark.parametrize("tie", list(TIES))
def test_auto_never_picks_ghost_for_a_tied_model_and_it_trains(tie):
    """With a layer book-keeping has no rule for, ``auto`` falls back to ghost clipping only
    when nothing is tied (else Opacus hooks, which sum a tied parameter's per-sample
    gradients); every step runs."""
    torch.manual_seed(0)
    model = Tied(tie, no_rule=True)
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), _ids_loader(),
                     noise_multiplier=1.0, epochs=1, accountant="rdp")
    assert p.mode.mode == ("ghost" if TIES[tie] is None else "hooks")
    if TIES[tie] is not None:
        assert TIES[tie] in p.mode.reason
    for ids, y in p.data_loader:
        p.optimizer.zero_grad()
        if len(ids):
            p.criterion(p.model(ids), y).backward()
        p.optimizer.step()
    assert p.budget.steps == len(p.data_loader)
    p.close()


class _Proj(nn.Module):
    """An output head with no Opacus sampler, using the embedding's weight (tied)."""

    def __init__(self, weight):
        super().__init__()
        self.weight = weight

    def forward(self, h):
        return h @ self.weight.t()


def test_ghost_refuses_a_tie_with_a_layer_it_has_no_sampler_for():
    """Opacus ghost clipping raises nothing there: it runs the head through functorch and clips
    with a norm that misses the cross term (a sample's clipped gradient above the clipping norm,
    measured 1.019 C), so it is refused too, and auto never picks it."""
    model = Tied("none")
    model.head = _Proj(model.emb.weight)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(PrivacyInputError, match=r"ties emb\.weight = head\.weight"):
        make_private(model, opt, _ids_loader(), noise_multiplier=1.0, epochs=1, accountant="rdp",
                     mode="ghost")
    assert select_mode(model).mode != "ghost"
