"""``micro_batches``: split a logical batch into micro-batches for gradient accumulation.

With DP-SGD the Poisson-sampled loader draws *logical* batches (sampling rate
``q = expected logical batch size / n``); micro-batching only splits each of them so it fits in
memory. Every micro-batch gets its own forward and backward pass; ``optimizer.step()`` runs once
per logical batch and the accountant counts those steps::

    for batch in private.data_loader:              # one logical batch (Poisson)
        private.optimizer.zero_grad()
        for x, y in micro_batches(batch, 32):      # at most 32 samples each
            private.criterion(private.model(x), y).backward()
        private.optimizer.step()                   # clip per sample, sum, noise once

With ``loss_reduction="mean"`` each micro-batch's loss is the mean over that micro-batch (the
engine rescales by the micro-batch size to get per-sample gradients, and divides the noised sum
by the expected *logical* batch size).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from auditkit.privacy.errors import PrivacyInputError

__all__ = ["EmptyDrawCollate", "micro_batches"]


def micro_batches(batch: Any, max_size: int) -> Iterator[Any]:
    """Split ``batch`` along dimension 0 into chunks of at most ``max_size`` samples.

    Parameters
    ----------
    batch:
        A tensor, a tuple or list of tensors, or a mapping of names to tensors (e.g. a
        tokenizer's output); nested tuples, lists and mappings are split alike, and ``None``
        entries are passed through to every chunk. Every tensor must have the same size along
        dimension 0 (the samples).
    max_size:
        The largest micro-batch, a positive integer.

    Yields
    ------
    Chunks of the same structure as ``batch``. An empty batch (a Poisson draw with no sample)
    yields one empty chunk, so the training loop still runs ``optimizer.step()`` and the step
    is counted.

    Examples
    --------
    >>> import torch
    >>> x, y = torch.zeros(5, 3), torch.zeros(5)
    >>> [len(c[0]) for c in micro_batches((x, y), 2)]
    [2, 2, 1]
    """
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
        raise PrivacyInputError(
            "The 'max_size' parameter of micro_batches must be a positive integer (samples per "
            f"micro-batch); got {type(max_size).__name__} {max_size!r}." if isinstance(max_size, int)
            else "The 'max_size' parameter of micro_batches must be a positive integer (samples per "
            f"micro-batch); got {type(max_size).__name__}."
        )
    sizes: dict[str, int] = {}
    _sizes(batch, "batch", sizes)
    if not sizes:
        raise PrivacyInputError(
            "The 'batch' parameter of micro_batches must hold at least one tensor (a tensor, a "
            "tuple/list of tensors or a dict of tensors); it holds none."
        )
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{where}: {n}" for where, n in sizes.items())
        raise PrivacyInputError(
            "The tensors of the 'batch' parameter of micro_batches must have the same number of "
            f"samples (size of dimension 0); got {detail}. Pass one logical batch."
        )
    n = next(iter(sizes.values()))
    if n == 0:
        yield batch
        return
    for start in range(0, n, max_size):
        yield _slice(batch, slice(start, start + max_size))


def _is_tensor(x: Any) -> bool:
    torch = __import__("sys").modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _sizes(batch: Any, where: str, out: dict[str, int]) -> None:
    """Record the sample count of every tensor in ``batch`` (refuse anything else)."""
    if batch is None:
        return
    if _is_tensor(batch):
        if batch.dim() == 0:
            raise PrivacyInputError(
                f"micro_batches: {where} is a 0-dimensional tensor, which has no samples to split; "
                "give every entry of the batch a first dimension of samples."
            )
        out[where] = int(batch.shape[0])
    elif isinstance(batch, Mapping):
        for key, value in batch.items():
            _sizes(value, f"{where}[{key!r}]", out)
    elif isinstance(batch, (tuple, list)):
        for i, value in enumerate(batch):
            _sizes(value, f"{where}[{i}]", out)
    else:
        raise PrivacyInputError(
            f"micro_batches: {where} is a {type(batch).__name__}; expected a tensor, a tuple or "
            "list of tensors, or a mapping of names to tensors. Convert it to tensors first."
        )


def _slice(batch: Any, part: slice) -> Any:
    if batch is None:
        return None
    if _is_tensor(batch):
        return batch[part]
    if isinstance(batch, Mapping):
        return _rebuilt(batch, {k: _slice(v, part) for k, v in batch.items()})
    return _rebuilt(batch, [_slice(v, part) for v in batch])


def _rebuilt(like: Any, content: Any) -> Any:
    """``content`` (a dict, or a list of values) in the container type of ``like``: dict
    subclasses and HF ``BatchEncoding`` (a plain dict when the type cannot be rebuilt), tuples
    and namedtuples; a list stays a list."""
    if isinstance(like, Mapping):
        try:
            return type(like)(content)
        except Exception:  # noqa: BLE001 - a mapping type we cannot rebuild: a plain dict
            return content
    if isinstance(like, tuple):
        return type(like)(*content) if hasattr(like, "_fields") else type(like)(content)
    return content


class EmptyDrawCollate:
    """The collate function of the Poisson loader (``private.data_loader``).

    A draw with samples is collated by the loader's own ``collate``. A draw with none (Poisson
    sampling can draw no sample, the first batch included) gives a batch of the structure
    ``collate`` gives real examples (a tuple, a dict, a tokenizer's ``BatchEncoding``, a list of
    rows, nested alike) with zero rows: every tensor cut to zero rows, every list or tuple whose
    length is the number of examples (a list of rows, a column of strings) emptied, anything
    else ``None``. No value of any example is in it. The structure is read by collating
    ``dataset[0]`` once and twice (torch's random state restored after, for collators that
    draw, e.g. masking). (Opacus's own empty batch, before a first batch was drawn, is built
    from ``dataset[0]`` by position and fails on a dataset of dicts.)
    """

    def __init__(self, collate: Any, dataset: Any) -> None:
        self.collate = collate
        self.dataset = dataset

    def __call__(self, features: Any) -> Any:
        if len(features):
            return self.collate(features)
        import torch

        row = self.dataset[0]
        with torch.random.fork_rng(devices=[]):
            one, two = self.collate([row]), self.collate([row, row])
        return _zero_rows(one, two)


def _zero_rows(one: Any, two: Any) -> Any:
    """The batch ``one`` (one example) with no example, told from ``two`` (two examples): a
    container whose length follows the examples is the rows themselves (emptied); tensors are
    cut to zero rows; containers are rebuilt alike; other values are ``None``."""
    if _is_tensor(one):
        return one[:0] if one.dim() else None
    if isinstance(one, Mapping):
        return _rebuilt(one, {k: _zero_rows(v, two.get(k) if isinstance(two, Mapping) else None)
                              for k, v in one.items()})
    if isinstance(one, (tuple, list)):
        if not isinstance(two, (tuple, list)) or len(two) != len(one):  # one entry per example
            return [] if hasattr(one, "_fields") else type(one)()
        return _rebuilt(one, [_zero_rows(a, b) for a, b in zip(one, two, strict=True)])
    return None
