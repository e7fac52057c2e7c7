"""The running sums of a logical step, with the buffers the sums go into taken when first used."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__: list[str] = []


class _Sums(dict):
    """A step's running sums (``{param: tensor}``) with the tensors of ``into`` the sums go into
    (:meth:`BookKeeper.clipped_sum`): one of those is taken, called first when it is a function,
    and given what was absorbed before the step, when its parameter's sum is first asked for."""

    def __init__(self, sums: dict[nn.Parameter, torch.Tensor], into: Any) -> None:
        super().__init__(sums)
        self.late = dict(into)

    def __contains__(self, p: object) -> bool:
        return dict.__contains__(self, p) or p in self.late

    def __getitem__(self, p: nn.Parameter) -> torch.Tensor:
        if p in self.late:
            t = self.late.pop(p)
            t = t() if callable(t) else t
            before = dict.get(self, p)
            if before is not None:  # absorbed before the step (an earlier micro-batch)
                t.add_(before)
            dict.__setitem__(self, p, t)
        return dict.__getitem__(self, p)
