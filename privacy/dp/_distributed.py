"""Multi-process data parallel helpers (Opacus DPDDP on ``torch.distributed``).

Each process samples its shard of the dataset with the same Poisson rate ``q``; gradients are
clipped locally, rank 0 alone adds the noise, and the optimizer all-reduces the noised sum, so
the mechanism (and its accounting) is the single-process one with the same ``q`` and σ.
"""

from __future__ import annotations

from typing import Any

__all__ = ["broadcast_object", "check_launch", "is_distributed", "rank", "world_size"]


def is_distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def check_launch() -> None:
    """Refuse a launch for several processes (``torchrun``/``torch.distributed.run`` set
    ``WORLD_SIZE`` > 1) in which this process joined no process group: each process would train
    its own model on the whole dataset with its own noise, and each would report the run's ε for
    the same data (two released models spend twice that)."""
    import os

    import torch.distributed as dist

    try:
        launched = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return
    if launched > 1 and not (dist.is_available() and dist.is_initialized()):
        from auditkit.privacy.errors import PrivacyInputError

        raise PrivacyInputError(
            f"This process was launched as one of {launched} (WORLD_SIZE={launched}, e.g. by "
            "torchrun) but joined no process group, so each process would train its own model on "
            "the whole dataset and report ε as if it were the only one. Call "
            "torch.distributed.init_process_group() (backend 'nccl' on GPUs, 'gloo' on CPUs) before "
            "make_private, or run one process."
        )


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if is_distributed() else 1


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (identity when not distributed)."""
    if not is_distributed():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap_model(model: Any) -> Any:
    """Wrap ``model`` in Opacus's DPDDP unless it already is a DDP/DPDDP module."""
    from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP
    from torch.nn.parallel import DistributedDataParallel as DDP

    if isinstance(model, (DPDDP, DDP)):
        return model
    return DPDDP(model)


def unwrap(model: Any) -> Any:
    """The user's module inside DPDDP / DDP / Opacus GradSampleModule wrappers."""
    from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP
    from opacus.grad_sample import AbstractGradSampleModule
    from torch.nn.parallel import DistributedDataParallel as DDP

    for _ in range(4):
        if isinstance(model, (DPDDP, DDP)):
            model = model.module
        elif isinstance(model, AbstractGradSampleModule):
            model = model._module
        else:
            break
    return model
