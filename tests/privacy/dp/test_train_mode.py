"""A frozen BatchNorm the user put in eval mode stays in eval mode through make_private, fit and
check_clipping: in training mode it would normalise with batch statistics and mix samples."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from auditkit.privacy.dp import check_clipping, fit, make_private  # noqa: E402
from auditkit.privacy.dp._modes import train_mode  # noqa: E402


def _model() -> nn.Module:
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))
    for p in model[1].parameters():
        p.requires_grad_(False)
    model.eval()
    model[1].eval()
    return model


def test_train_mode_keeps_only_frozen_eval_batchnorm_in_eval() -> None:
    model = _model()
    trainable_bn = nn.BatchNorm1d(8).eval()
    holder = nn.Sequential(model, trainable_bn)
    train_mode(holder)
    assert holder.training and model[0].training and model[3].training
    assert not model[1].training  # frozen, user's eval: kept
    assert trainable_bn.training  # trainable: make_private refuses or fixes it, not us


@pytest.mark.parametrize("root_training", [False, True])
def test_make_private_and_fit_keep_the_frozen_batchnorm_in_eval(root_training, tmp_path) -> None:
    torch.manual_seed(0)
    model = _model()
    if root_training:
        model.train()
        model[1].eval()
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    private = make_private(model, opt, DataLoader(TensorDataset(x, y), batch_size=16),
                           noise_multiplier=1.0, epochs=1, accountant="rdp", device="cpu",
                           ledger=tmp_path / "budgets", dataset_id="bn-toy")
    assert not model[1].training
    fit(private, epochs=1, progress=False)
    assert not model[1].training
    assert private.budget.steps == len(private.data_loader)


def test_check_clipping_runs_with_the_frozen_batchnorm_in_eval() -> None:
    torch.manual_seed(0)
    model = _model()
    batch = (torch.randn(8, 6), torch.randint(0, 3, (8,)))
    check = check_clipping(model, batch, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1], reduction="none"),
                           max_grad_norm=0.1)
    assert check.passed, check
