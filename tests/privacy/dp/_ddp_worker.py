"""Worker for test_distributed: one rank of a two-process gloo run (spawned)."""

from __future__ import annotations

import json
import os
import sys
import warnings


def accumulation_case(rank: int, world: int, out: str) -> None:
    """Noise off: two logical batches of 40, each rank its half, micro-batches of 7, one step per
    logical batch. Writes the final weights and the step count."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from auditkit.privacy.dp import make_private
    from auditkit.privacy.dp._micro import micro_batches

    X, y = accumulation_data()
    torch.manual_seed(100 + rank)  # rank 0's weights win (DPDDP broadcasts them)
    model = accumulation_model()
    p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.5),
                     DataLoader(TensorDataset(X, y), batch_size=40), noise_multiplier=1.0,
                     epochs=1, accountant="rdp", device="cpu", max_grad_norm=0.5)
    p.optimizer.noise_multiplier = 0.0  # compare updates exactly
    share = 40 // world
    for step in range(2):
        lo = step * 40 + rank * share
        p.optimizer.zero_grad()
        for xb, yb in micro_batches((X[lo : lo + share], y[lo : lo + share]), 7):
            p.criterion(p.model(xb), yb).backward()
        p.optimizer.step()
    inner = p.model.module
    result = {"rank": rank, "steps": p.budget.steps,
              "weights": [t.detach().flatten().tolist() for t in inner.parameters()]}
    with open(os.path.join(out, f"accum{rank}.json"), "w") as fh:
        json.dump(result, fh)


def accumulation_data():
    import torch

    g = torch.Generator().manual_seed(0)
    X = torch.randn(400, 10, generator=g) * 2
    return X, (X[:, 0] > 0).long()


def accumulation_model():
    import torch

    return torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def main(rank: int, world: int, port: int, out: str, case: str = "fit") -> None:
    import torch
    import torch.distributed as dist
    from torch.utils.data import DataLoader, TensorDataset

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        if case == "accumulate":
            accumulation_case(rank, world, out)
            return
        from auditkit.privacy.dp import fit, make_private

        g = torch.Generator().manual_seed(0)
        X = torch.randn(400, 10, generator=g)
        y = (X[:, 0] > 0).long()
        torch.manual_seed(100 + rank)  # different initial weights: DPDDP must sync them
        model = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        p = make_private(model, torch.optim.SGD(model.parameters(), lr=0.5),
                         DataLoader(TensorDataset(X, y), batch_size=40), target_epsilon=2.0,
                         epochs=2, accountant="rdp", ledger=os.path.join(out, "ledger"),
                         dataset_id="toy", device="cpu")
        r = fit(p, 2, progress=False)
        inner = p.model.module
        result = {
            "rank": rank,
            "mode": p.mode.mode,
            "steps": r.steps,
            "epsilon": p.budget.spent(),
            "sigma": p.budget.noise_multiplier,
            "q": p.budget.sample_rate,
            "history": p.budget.history,
            "weights": [float(v) for v in inner[0].weight.detach().flatten()[:5]],
        }
        with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
            json.dump(result, fh)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], *sys.argv[5:6])
