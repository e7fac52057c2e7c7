"""Per-sample losses of sequence models: what DP-SGD clips is each sample's own gradient.

:func:`sequence_loss` turns a model's logits and labels into one loss per sample, ``(B,)``:

- causal language modelling (``logits [B, T, V]``, ``labels [B, T]``, ``shift=True``): the
  token at position ``t + 1`` is predicted from the logits at ``t``, as Hugging Face's causal-LM
  loss does;
- token classification and masked language modelling (``shift=False``): position ``t``'s
  logits predict position ``t``'s label;
- plain classification (``logits [B, C]``, ``labels [B]``): each sample's cross entropy.

A token counts when its label is not ``ignore_index`` and, when an ``attention_mask`` is given,
the mask is non-zero at the label's position (so padding contributes nothing whether it is
marked by ``-100`` labels, by the mask, or both). A sample's loss is the mean over **its own**
tokens (``tokens="mean"``) or their sum (``tokens="sum"``); a sample with no token counts 0 (no
NaN, no gradient).

Why not ``outputs.loss``: a Hugging Face model's own loss is the mean over every token of the
*batch*, so one sample's weight depends on how many tokens the other samples have; it is not a
sum of per-sample terms with a fixed weight each, and per-sample clipping needs exactly that.
The training loss is ``sequence_loss(...).mean()`` (``loss_reduction="mean"`` in
``make_private``) or ``.sum()`` (``"sum"``).

Only the counted tokens go through the softmax (the logits are gathered first), in float32
whatever the model's dtype (bf16/fp16 autocast included).
"""

from __future__ import annotations

from typing import Any

from auditkit.privacy.errors import PrivacyInputError

__all__ = ["TOKEN_REDUCTIONS", "sequence_loss"]

#: How a sample's token losses are combined: the mean over its own tokens, or the sum.
TOKEN_REDUCTIONS = ("mean", "sum")


def sequence_loss(
    logits: Any,
    labels: Any,
    *,
    attention_mask: Any = None,
    ignore_index: int = -100,
    shift: bool = True,
    tokens: str = "mean",
) -> Any:
    """One cross-entropy loss per sample, over that sample's own tokens.

    Parameters
    ----------
    logits:
        ``[B, T, V]`` (a sequence model's output) or ``[B, C]`` (a classifier's).
    labels:
        Integer targets: ``[B, T]`` with ``[B, T, V]`` logits, ``[B]`` with ``[B, C]`` logits.
        Positions labelled ``ignore_index`` do not count.
    attention_mask:
        ``[B, T]``; positions where it is 0 (padding) do not count. Ignored for ``[B, C]``
        logits (a classifier's padding is the model's business).
    ignore_index:
        The label of positions that do not count (Hugging Face's ``-100``).
    shift:
        ``True`` for causal language modelling (logits at ``t`` predict the label at ``t + 1``;
        the mask is read at ``t + 1``), ``False`` for token classification and masked LM.
    tokens:
        ``"mean"``: each sample's loss is the mean over its own counted tokens (default);
        ``"sum"``: their sum.

    Returns
    -------
    torch.Tensor
        ``(B,)`` float32 per-sample losses; 0 for a sample with no counted token.

    Examples
    --------
    >>> import torch
    >>> logits = torch.zeros(2, 4, 5)
    >>> labels = torch.tensor([[1, 2, 3, -100], [0, -100, -100, -100]])
    >>> sequence_loss(logits, labels).tolist()  # log 5 for the first, no token for the second
    [1.6094379425048828, 0.0]
    """
    import torch

    if tokens not in TOKEN_REDUCTIONS:
        raise PrivacyInputError(
            f"The 'tokens' parameter of sequence_loss must be 'mean' or 'sum'; got {tokens!r}."
        )
    if not isinstance(logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise PrivacyInputError(
            "sequence_loss takes the model's logits and the labels as torch tensors; got "
            f"{type(logits).__name__} and {type(labels).__name__}."
        )
    if logits.dim() == 2:
        return _classification_loss(logits, labels, ignore_index)
    logits, labels, valid = _token_positions(logits, labels, attention_mask, ignore_index, shift)
    rows, cols = valid.nonzero(as_tuple=True)
    target = labels[rows, cols]
    _check_range(target, logits.shape[-1], "labels")
    per_token = torch.nn.functional.cross_entropy(logits[rows, cols].float(), target, reduction="none")
    batch = logits.shape[0]
    total = per_token.new_zeros(batch).index_add(0, rows, per_token)
    if tokens == "sum":
        return total
    counts = valid.sum(dim=1).clamp(min=1).to(total.dtype)
    return total / counts


def _classification_loss(logits: Any, labels: Any, ignore_index: int) -> Any:
    """``[B, C]`` logits, ``[B]`` labels: each sample's cross entropy (0 where ignored)."""
    import torch

    if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise PrivacyInputError(
            f"sequence_loss got classifier logits of shape {tuple(logits.shape)}: the labels must "
            f"be one class per sample, shape ({logits.shape[0]},); got {tuple(labels.shape)}."
        )
    _check_integer(labels)
    keep = labels != ignore_index
    target = labels[keep]
    _check_range(target, logits.shape[-1], "labels")
    losses = torch.nn.functional.cross_entropy(logits[keep].float(), target, reduction="none")
    out = losses.new_zeros(logits.shape[0])
    return out.index_put((keep.nonzero(as_tuple=True)[0],), losses)


def _token_positions(
    logits: Any, labels: Any, attention_mask: Any, ignore_index: int, shift: bool
) -> tuple[Any, Any, Any]:
    """The (shifted) logits and labels and the boolean ``[B, T']`` mask of counted tokens."""
    if logits.dim() != 3 or labels.dim() != 2 or tuple(labels.shape) != tuple(logits.shape[:2]):
        raise PrivacyInputError(
            f"sequence_loss takes logits [B, T, V] with labels [B, T] (or [B, C] with [B]); got "
            f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)}. Pass the model's "
            "logits and the batch's labels as they are."
        )
    _check_integer(labels)
    if attention_mask is not None and tuple(attention_mask.shape) != tuple(labels.shape):
        raise PrivacyInputError(
            f"The 'attention_mask' of sequence_loss must have the labels' shape "
            f"{tuple(labels.shape)}; got {tuple(attention_mask.shape)}."
        )
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
        attention_mask = attention_mask[:, 1:] if attention_mask is not None else None
    valid = labels != ignore_index
    if attention_mask is not None:
        valid = valid & (attention_mask.to(labels.device) != 0)
    return logits, labels, valid


def _check_integer(labels: Any) -> None:
    import torch

    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.is_complex():
        raise PrivacyInputError(
            f"sequence_loss needs integer class labels (token ids or classes); got dtype "
            f"{labels.dtype}. For regression or multi-label targets compute your own per-sample loss."
        )


def _check_range(target: Any, classes: int, name: str) -> None:
    """Refuse a counted label outside ``[0, classes)`` (without printing it)."""
    if target.numel() and bool(((target < 0) | (target >= classes)).any()):
        raise PrivacyInputError(
            f"Some {name} counted by sequence_loss are outside [0, {classes}) (the logits' last "
            "dimension); mark positions that must not count with ignore_index (-100) and check "
            "that the labels match the model's vocabulary or classes."
        )
