"""What :class:`~auditkit.privacy.dp._hf.PrivateTrainer` checks and prepares before it trains.

- :func:`check_privacy_settings`: the ``privacy=`` dictionary holds ``make_private`` keywords
  (an unknown or trainer-owned key is refused, with the closest valid one suggested);
- :func:`private_arguments`: a copy of the ``TrainingArguments`` with the Trainer's own gradient
  accumulation set to 1 (one optimizer step per logical batch) and its gradient clipping off
  (per-sample clipping replaces it); the settings DP cannot honour are refused;
- :func:`planned_epochs`: the passes the noise is calibrated for, from ``num_train_epochs`` or
  ``max_steps``;
- :class:`BatchExpander`: gives every sample its own input to a trainable embedding that the
  model feeds one row shared by the whole batch (BERT's and GPT-2's default ``position_ids`` are
  ``[1, T]``: the embedding's output is broadcast, so its gradient would be the batch's sum and
  no per-sample gradient could be recovered from it);
- :class:`OneRowPerExample`: wraps the collate function of the Poisson loader and refuses a
  packing (padding-free) collator: DP clips each row of a batch as one sample, so a row holding
  several examples would have them clipped together;
- :func:`batch_size`, :func:`empty_step_grads`: empty Poisson batches.

Nothing here imports ``transformers`` at module level.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from auditkit.hints import did_you_mean
from auditkit.privacy.errors import PrivacyInputError

__all__ = [
    "BatchExpander",
    "OneRowPerExample",
    "PACKING_KEYS",
    "PRIVACY_KEYS",
    "batch_size",
    "check_privacy_settings",
    "empty_step_grads",
    "is_causal_lm",
    "planned_epochs",
    "private_arguments",
]

#: The ``make_private`` keywords a ``privacy=`` dictionary may hold.
PRIVACY_KEYS = (
    "target_epsilon", "target_delta", "epochs", "max_grad_norm", "accountant", "mode", "ledger",
    "dataset_id", "max_epsilon", "on_cap", "keyring", "noise_multiplier", "loss_reduction", "fix",
    "secure_mode", "model_id", "checkpoint_dir", "resume_from", "noise_generator",
)
#: Keys a packing collator adds (flash-attention varlen and Mamba sequence boundaries).
PACKING_KEYS = ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k", "seq_idx")
#: ``make_private`` keywords the trainer sets itself, and why.
TRAINER_OWNED = {
    "model": "the trainer's model is used",
    "optimizer": "the Trainer's optimizer (args.optim, or optimizers=) is wrapped",
    "data_loader": "the loader is built from train_dataset",
    "criterion": "the loss is computed per sample by PrivateTrainer.per_sample_loss",
    "device": "the device is args.device",
}


def check_privacy_settings(privacy: Any) -> dict[str, Any]:
    """The ``privacy=`` keywords as a new dict, refused when a key is unknown or trainer-owned."""
    if not isinstance(privacy, Mapping):
        raise PrivacyInputError(
            "The 'privacy' parameter of PrivateTrainer must be a dict of make_private settings, "
            f"e.g. privacy=dict(target_epsilon=3); got {type(privacy).__name__}."
        )
    settings = dict(privacy)
    for key in settings:
        if key in TRAINER_OWNED:
            raise PrivacyInputError(
                f"The 'privacy' parameter of PrivateTrainer must not set {key!r}: "
                f"{TRAINER_OWNED[key]}. Remove it."
            )
        if key not in PRIVACY_KEYS:
            raise PrivacyInputError(
                f"The 'privacy' parameter of PrivateTrainer has an unknown key {str(key)!r}; "
                f"expected make_private settings: {', '.join(PRIVACY_KEYS)}."
                + did_you_mean(key, PRIVACY_KEYS)
            )
    return settings


def private_arguments(args: Any) -> tuple[Any, int]:
    """A copy of ``args`` for DP training, and the logical batch's micro-batch count.

    The copy has ``gradient_accumulation_steps=1`` (the Trainer steps once per logical batch;
    PrivateTrainer splits each batch itself) and ``max_grad_norm=0`` (the Trainer's clipping of
    the *noised* batch gradient would change the mechanism; per-sample clipping at
    ``privacy["max_grad_norm"]`` replaces it).
    """
    _refuse(args.world_size > 1 or getattr(args, "n_gpu", 1) > 1,
            "runs on one process and one device; for several, use the plain loop with "
            "make_private under torchrun (DDP), see docs/dp_transformers.md")
    _refuse(bool(args.fp16), "does not support fp16=True (the gradient scaler rescales what the "
            "per-sample clipping reads); use bf16=True, or the plain loop with fp16 autocast")
    _refuse(bool(getattr(args, "label_smoothing_factor", 0.0)),
            "does not apply label smoothing; set label_smoothing_factor=0 or override per_sample_loss")
    accumulation = int(args.gradient_accumulation_steps)
    out = copy.copy(args)
    out.gradient_accumulation_steps = 1
    out.max_grad_norm = 0.0
    return out, accumulation


def _refuse(condition: bool, what: str) -> None:
    if condition:
        raise PrivacyInputError(f"The 'args' of PrivateTrainer: PrivateTrainer {what}.")


def planned_epochs(args: Any, batches: int) -> float:
    """Passes over the data (of ``batches`` logical batches) the noise is calibrated for, so
    that make_private plans exactly the optimizer steps the Trainer takes: ``max_steps`` when
    set, else the Trainer's own ``ceil(num_train_epochs × len(train loader))``, over a Poisson
    loader whose length Opacus makes ``int(1 / q)`` (one less than ``batches`` for some sizes,
    e.g. 93), divided by ``batches``."""
    if args.max_steps is not None and args.max_steps > 0:
        steps = int(args.max_steps)
    else:
        per_epoch = max(1, int(1 / (1 / batches)))  # Opacus's UniformWithReplacementSampler
        steps = math.ceil(float(args.num_train_epochs) * per_epoch)
    return steps / batches


def is_causal_lm(model: Any) -> bool:
    """Whether ``model`` (or the model a PEFT wrapper holds) is a causal language model, by the
    class names ``transformers`` maps to causal LM (as the Trainer decides to shift labels)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    base = model
    get_base = getattr(model, "get_base_model", None)
    if callable(get_base):
        base = get_base()
    return type(base).__name__ in set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())


def batch_size(batch: Any) -> int:
    """Samples in a collated batch: dimension 0 of its first tensor (0 when it has none)."""
    import torch

    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 0
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else ()
    for value in values:
        n = batch_size(value)
        if n or isinstance(value, torch.Tensor):
            return n
    return 0


def empty_step_grads(private: Any) -> None:
    """Prepare an optimizer step for an empty Poisson batch without a forward pass (a Hugging
    Face model cannot run on zero samples): what a backward pass over no sample leaves behind —
    zero gradients, and for Opacus's hooks zero per-sample gradients; nothing for book-keeping,
    whose clipped sum of no record is zero. Ghost clipping's optimizer reads ``p.grad`` alone and
    never clears ``p.grad_sample``: one left there would be stacked with the next batch's."""
    if private._keeper is not None:
        return
    per_sample = private.mode.mode != "ghost"
    for group in private.optimizer.param_groups:
        for p in group["params"]:
            if p.requires_grad:
                p.grad = p.new_zeros(p.shape)
                if per_sample:
                    p.grad_sample = p.new_zeros((0, *p.shape))


class BatchExpander:
    """Forward pre-hooks on the model's trainable embeddings that expand a one-row input
    (``[1, T]``, shared by the batch) to the ``size`` rows of the current micro-batch, and make
    an input expanded without a copy (stride 0 along the batch) contiguous.

    The output is then ``[B, T, d]`` instead of ``[1, T, d]`` broadcast later: the same values,
    but each sample's gradient of the embedding is its own. ``size`` is set by the trainer for
    each forward pass it runs; ``None`` (evaluation, or outside the trainer) leaves inputs alone.
    """

    def __init__(self, model: Any) -> None:
        from torch import nn

        self.size: int | None = None
        self._handles = [
            m.register_forward_pre_hook(self._expand)
            for m in model.modules()
            if isinstance(m, nn.Embedding) and any(p.requires_grad for p in m.parameters(recurse=False))
        ]

    def _expand(self, module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        size = self.size
        if size is None or not args or getattr(args[0], "dim", lambda: 0)() < 1:
            return None
        x = args[0]
        if size > 1 and x.shape[0] == 1:
            return (x.expand(size, *x.shape[1:]).contiguous(), *args[1:])
        if not x.is_contiguous():  # e.g. BERT's default token_type_ids, a [1, T] buffer expanded
            return (x.contiguous(), *args[1:])  # (Opacus's embedding norms read ids with view)
        return None

    def remove(self) -> None:
        """Remove the hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


class OneRowPerExample:
    """A collate function that checks each collated batch has one row per example.

    DP-SGD clips the gradient of each row of a batch as one sample. A packing (padding-free)
    collator, such as ``transformers.DataCollatorWithFlattening``, puts several examples in one
    row: they would be clipped together, and one example's contribution would no longer be
    bounded by the clipping norm. Refused when the collated batch has another number of rows
    than the examples given to ``collate``, holds a key of :data:`PACKING_KEYS`, or has
    ``position_ids`` that restart inside a row (between two tokens the attention mask keeps).

    Parameters
    ----------
    collate:
        The collate function to wrap (``features -> batch``); ``None`` for torch's default.
    """

    def __init__(self, collate: Any) -> None:
        if collate is None:
            from torch.utils.data import default_collate

            collate = default_collate
        self.collate = collate

    def __call__(self, features: Any) -> Any:
        batch = self.collate(features)
        examples = len(features) if hasattr(features, "__len__") else 0
        if examples:
            self._check(batch, examples)
        return batch

    def _check(self, batch: Any, examples: int) -> None:
        rows = batch_size(batch)
        if rows and rows != examples:
            _refuse_packing(f"packed {examples} examples into {rows} row{'s' if rows != 1 else ''}")
        if not isinstance(batch, Mapping):
            return
        keys = [k for k in PACKING_KEYS if k in batch]
        if keys:
            _refuse_packing(f"added the packing key(s) {', '.join(keys)} (sequence boundaries inside rows)")
        if _positions_restart(batch.get("position_ids"), batch.get("attention_mask")):
            _refuse_packing("gave position_ids that restart inside a row (several sequences in one row)")


def _positions_restart(positions: Any, mask: Any) -> bool:
    """Whether a row's position ids go down between two kept tokens (a new sequence starts)."""
    import torch

    if not isinstance(positions, torch.Tensor) or positions.dim() != 2 or positions.shape[1] < 2:
        return False
    down = positions[:, 1:] < positions[:, :-1]
    if isinstance(mask, torch.Tensor) and mask.shape == positions.shape:
        kept = mask.bool()
        down = down & kept[:, 1:] & kept[:, :-1]
    return bool(down.any())


def _refuse_packing(what: str) -> None:
    raise PrivacyInputError(
        f"The 'data_collator' of PrivateTrainer {what}. DP-SGD clips the gradient of each row of a "
        "batch as one sample, so a row must hold one example: examples packed together would be "
        "clipped together and none of them would have a bounded contribution. Use a padding "
        "collator (one example per row), e.g. DataCollatorWithPadding, or "
        "DataCollatorForLanguageModeling(tokenizer, mlm=False) for a causal LM."
    )
