"""The demo's evidence for the private-training check: a DP model, its ledger and an attack.

A non-private MLP (trained to memorise) and a differentially private one (target ε = 3, its
budget recorded in a ledger under the demo's directory) are trained on the same members; a
membership-inference attack on both is saved for the check to read. torch and opacus are
imported only when the set-up runs.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from auditkit.demo._context import DemoContext

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor, nn

__all__ = ["setup_private_training"]

MAX_MEMBERS = 2000
"""Training rows (members) at most; as many held-out rows are the non-members."""
PLAIN_STEPS = 300
"""Full-batch Adam steps of the non-private baseline (enough to memorise)."""
DP_EPOCHS = 15
TARGET_EPSILON = 3.0
DATASET_ID = "demo-applications"


def _members_and_nonmembers(
    df: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """Row indices of the members (training rows) and non-members (held out), and how many
    training rows there were to sample from."""
    if "split" in df.columns:
        train_idx = np.flatnonzero((df["split"] == "train").to_numpy())
        test_idx = np.flatnonzero((df["split"] != "train").to_numpy())
    else:
        perm = rng.permutation(len(df))
        train_idx, test_idx = perm[: len(df) // 2], perm[len(df) // 2 :]
    n = int(min(MAX_MEMBERS, len(train_idx), len(test_idx)))
    members = rng.choice(train_idx, n, replace=False)
    nonmembers = rng.choice(test_idx, n, replace=False)
    return members, nonmembers, len(train_idx)


def _tensors(
    df: pd.DataFrame, features: list[str], label: str, rows: tuple[np.ndarray, np.ndarray]
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``(X, y)`` of the members and of the non-members, standardised on the members."""
    import torch

    members, nonmembers = rows
    x = df[features].to_numpy(dtype="float32")
    mu, sd = x[members].mean(0), x[members].std(0) + 1e-6
    x = (x - mu) / sd
    y = df[label].to_numpy().astype("int64")
    return ((torch.from_numpy(x[members]), torch.from_numpy(y[members])),
            (torch.from_numpy(x[nonmembers]), torch.from_numpy(y[nonmembers])))


def _mlp(n_features: int) -> nn.Module:
    from torch import nn

    return nn.Sequential(nn.Linear(n_features, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                         nn.Linear(128, 2))


def _train_to_memorise(model: nn.Module, members: tuple[Tensor, Tensor]) -> None:
    """The non-private baseline: full-batch Adam for many steps."""
    import torch
    from torch import nn

    x, y = members
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(PLAIN_STEPS):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def _train_private(model: nn.Module, members: tuple[Tensor, Tensor], ledger_dir: Path) -> Any:
    """DP-SGD at the target ε on the members, the budget recorded in ``ledger_dir``."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from auditkit.privacy.dp import fit, make_private

    private = make_private(
        model, torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.5),
        DataLoader(TensorDataset(*members), batch_size=200), target_epsilon=TARGET_EPSILON,
        epochs=DP_EPOCHS, max_grad_norm=1.0, ledger=ledger_dir,
        dataset_id=DATASET_ID, max_epsilon=8.0, device="cpu",
    )
    fit(private, DP_EPOCHS, progress=False)
    private.close()
    return private


def _accuracy(model: nn.Module, held_out: tuple[Tensor, Tensor]) -> float:
    import torch

    x, y = held_out
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _train_and_attack(
    features: list[str], members: tuple[Tensor, Tensor], nonmembers: tuple[Tensor, Tensor],
    ledger_dir: Path,
) -> tuple[list[Any], dict[str, float]]:
    """Train both models, attack both; the attack results and the held-out accuracies."""
    import torch

    from auditkit.privacy.dp import membership_inference

    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: threads only add contention
    try:
        plain = _mlp(len(features))
        _train_to_memorise(plain, members)
        dp_model = _mlp(len(features))
        private = _train_private(dp_model, members, ledger_dir)
        results = [
            membership_inference(plain, members, nonmembers, label="non-private MLP"),
            membership_inference(dp_model, members, nonmembers, label="DP MLP (target ε=3)",
                                 delta=private.delta, claimed_epsilon=private.epsilon),
        ]
        accuracy = {"non-private": _accuracy(plain, nonmembers), "DP": _accuracy(dp_model, nonmembers)}
    finally:
        torch.set_num_threads(prev_threads)
    return results, accuracy


def setup_private_training(ctx: DemoContext) -> dict[str, Any]:
    """Train a non-private and a DP (ε=3) MLP on the demo data; attack both.

    Uses the numeric features (standardised) and the label; 2,000 training rows at most
    (subsampled for speed; the finding says so) and as many held-out rows as non-members.
    Returns the ``[checks.private_training]`` options that read the ledger and the attack.
    """
    import torch

    from auditkit.privacy.dp import save_attack_results

    started = time.perf_counter()
    out = Path(ctx.out_dir) / "dp"
    if out.exists():  # the demo regenerates its data, so its ledger starts afresh too
        shutil.rmtree(out)
    out.mkdir(parents=True)
    features = list(ctx.numeric_features or ctx.features)
    rng = np.random.default_rng(ctx.random_state)
    members, nonmembers, n_train = _members_and_nonmembers(ctx.data, rng)
    member_xy, nonmember_xy = _tensors(ctx.data, features, ctx.label, (members, nonmembers))
    torch.manual_seed(ctx.random_state)
    results, accuracy = _train_and_attack(features, member_xy, nonmember_xy, out / "ledger")
    n = len(members)
    note = (
        f"Demo: {n} training rows (subsampled from {n_train} for speed) as members and "
        f"{n} held-out rows as non-members; numeric features only ({', '.join(features)}). "
        f"Held-out accuracy: non-private {accuracy['non-private']:.3f}, DP {accuracy['DP']:.3f}. "
        f"Trained in {time.perf_counter() - started:.1f} s."
    )
    save_attack_results(out / "attack.json", results, note=note)
    return {
        "ledger": f"dp/ledger/{DATASET_ID}.json",
        "attack": ["dp/attack.json"],
        "max_epsilon": 10.0,
    }
