"""Small helpers of make_private: the default δ, dataset fingerprints, model ids, devices."""

from __future__ import annotations

import hashlib
import math
from typing import Any

from auditkit.privacy.errors import PrivacyInputError

__all__ = ["DeltaWarning", "dataset_fingerprint", "default_delta"]


class DeltaWarning(UserWarning):
    """δ is not below 1/n: the guarantee would allow publishing whole records."""


def default_delta(n: int) -> float:
    """The default δ: 1/(10 n) rounded down to one significant digit (always below 1/n)."""
    raw = 1.0 / (10.0 * n)
    exp = math.floor(math.log10(raw))
    return math.floor(raw / 10**exp) * 10**exp


def dataset_fingerprint(dataset: Any) -> str:
    """A content hash of a map-style dataset (``ds-`` + 16 hex digits of SHA-256).

    Tensors of a ``TensorDataset`` are hashed directly; other datasets item by item.
    """
    import numpy as np
    import torch

    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
        elif isinstance(x, np.ndarray):
            h.update(f"{x.dtype}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, (tuple, list)):
            for y in x:
                feed(y)
        elif isinstance(x, dict):
            for k in sorted(x):
                h.update(str(k).encode())
                feed(x[k])
        else:
            h.update(repr(x).encode())

    tensors = getattr(dataset, "tensors", None)
    if tensors is not None:
        feed(list(tensors))
    else:
        h.update(str(len(dataset)).encode())
        for i in range(len(dataset)):
            feed(dataset[i])
    return "ds-" + h.hexdigest()[:16]


def _model_id(model: Any) -> str:
    arch = repr(model) + repr([(n, tuple(p.shape)) for n, p in model.named_parameters()])
    return f"{type(model).__name__}-{hashlib.sha256(arch.encode()).hexdigest()[:12]}"


def _resolve_device(device: Any) -> Any:
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise PrivacyInputError(
            f"The 'device' parameter of make_private must be 'auto' or a torch device such as "
            f"'cpu' or 'cuda:0'; got {device!r}."
        ) from None
