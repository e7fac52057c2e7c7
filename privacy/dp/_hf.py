"""``PrivateTrainer``: a Hugging Face ``Trainer`` that trains with DP-SGD through ``make_private``.

What it changes in the ``Trainer``, and nothing else:

- **sampling**: the training loader is ``make_private``'s Poisson loader. A logical batch takes
  each example with probability ``q = 1 / len(loader)``, the loader having batches of
  ``per_device_train_batch_size × gradient_accumulation_steps`` (so ``q ≈`` that size ``/ n``),
  and has a random size;
- **accumulation**: each logical batch is split into micro-batches of at most
  ``per_device_train_batch_size`` samples (:func:`~auditkit.privacy.dp._micro.micro_batches`),
  one forward and backward each, then **one** optimizer step; the Trainer's own accumulation is
  set to 1, so ``state.global_step`` counts logical steps, as the accountant does;
- **clipping**: the Trainer's ``max_grad_norm`` is set to 0 (clipping the noised sum would change
  the mechanism); each sample's gradient is clipped at ``privacy["max_grad_norm"]`` (default 1.0);
- **loss**: per sample (:meth:`PrivateTrainer.per_sample_loss`, :func:`sequence_loss`), never the
  model's ``outputs.loss``, which averages tokens over the whole batch and so couples samples;
- **budget**: the cap stops training cleanly (as :func:`~auditkit.privacy.dp.fit` does: the
  state saved, the ledger record closed), ``trainer.private`` is the
  :class:`~auditkit.privacy.dp.PrivateTraining`, ε is added to every log, and each Trainer
  checkpoint holds the accounting (``auditkit_dp.pt``) so ``train(resume_from_checkpoint=...)``
  continues it.

Multi-process training, fp16 with a gradient scaler, label smoothing and packing collators
(several examples in one row, e.g. ``DataCollatorWithFlattening``: DP clips per row) are refused
(the plain loop of ``docs/dp_transformers.md`` covers DDP).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback, TrainingArguments

from auditkit.privacy.dp._hf_loss import TOKEN_REDUCTIONS, sequence_loss
from auditkit.privacy.dp._hf_setup import (
    BatchExpander,
    OneRowPerExample,
    batch_size,
    check_privacy_settings,
    empty_step_grads,
    is_causal_lm,
    planned_epochs,
    private_arguments,
)
from auditkit.privacy.dp._modes import train_mode
from auditkit.privacy.errors import BudgetExceededError, PrivacyInputError

__all__ = ["CHECKPOINT_FILE", "PrivateTrainer"]

#: The file in each Trainer checkpoint folder that holds the privacy accounting.
CHECKPOINT_FILE = "auditkit_dp.pt"


class PrivateTrainer(Trainer):
    """A ``transformers.Trainer`` with DP-SGD: Poisson sampling, per-sample clipping, noise, a
    privacy budget, ledger, cap and checkpoints (all by :func:`make_private`).

    Parameters
    ----------
    model, args, **kwargs:
        As for ``Trainer`` (``train_dataset``, ``data_collator``, ``eval_dataset``,
        ``processing_class``, ``optimizers``, ``callbacks``, ...). ``args`` is copied, not changed.
    privacy:
        Keyword arguments of :func:`make_private`, e.g. ``dict(target_epsilon=3, max_grad_norm=1.0,
        ledger="budgets/", max_epsilon=8)``. ``epochs`` defaults to the passes ``args`` plans;
        ``checkpoint_dir`` (where the state goes at the cap) to ``output_dir/privacy`` when there is
        no ledger. ``loss_reduction`` (``"mean"``: the loss of a micro-batch is the mean of its
        per-sample losses) must match what :meth:`per_sample_loss` feeds.
    tensorboard:
        A log directory: per step the loss, σ, the clipped fraction and per-sample norm
        quantiles and ε (:mod:`auditkit.privacy.dp._tensorboard`). Not private.
    tokens:
        ``"mean"`` (each sample's loss is the mean over its own tokens) or ``"sum"``.
    shift_labels:
        Causal LM label shift; ``None`` decides as the Trainer does (the model's class is a
        causal LM).
    finish:
        Close the run's ledger record when ``train()`` ends (unless the cap stopped it).

    Attributes
    ----------
    private:
        The :class:`~auditkit.privacy.dp.PrivateTraining` (``None`` until training starts).
    logical_accumulation:
        The micro-batches per expected logical batch (``args.gradient_accumulation_steps``).
    stopped_at_cap:
        The cap's message when the budget cap stopped training, else ``None``.
    """

    def __init__(
        self,
        model: Any = None,
        args: TrainingArguments | None = None,
        *,
        privacy: dict[str, Any],
        tensorboard: str | os.PathLike[str] | None = None,
        tokens: str = "mean",
        shift_labels: bool | None = None,
        finish: bool = True,
        **kwargs: Any,
    ) -> None:
        if tokens not in TOKEN_REDUCTIONS:
            raise PrivacyInputError(f"The 'tokens' parameter of PrivateTrainer must be 'mean' or 'sum'; got {tokens!r}.")
        if kwargs.get("compute_loss_func") is not None:
            raise PrivacyInputError(
                "PrivateTrainer computes one loss per sample; 'compute_loss_func' returns a batch loss. "
                "Subclass PrivateTrainer and override per_sample_loss instead."
            )
        self.privacy_settings = check_privacy_settings(privacy)
        args = args if args is not None else TrainingArguments(output_dir="trainer_output")
        args, self.logical_accumulation = private_arguments(args)
        super().__init__(model=model, args=args, **kwargs)
        self.tokens, self.shift_labels, self.finish_at_end = tokens, shift_labels, finish
        self.tensorboard = tensorboard
        self.private: Any = None
        self.stopped_at_cap: str | None = None
        self._resume_dp: Path | None = None
        self._expander: BatchExpander | None = None
        self._fit_log: Any = None
        self._step_loss: tuple[float | None, int] = (None, 0)
        self.add_callback(_PrivacyCallback(self))

    # -- the DP wrapping --------------------------------------------------------------------
    def _make_private(self) -> Any:
        """Wrap the model, the optimizer and a loader of logical batches with make_private."""
        if self.private is not None:
            return self.private
        from torch.utils.data import DataLoader

        from auditkit.privacy.dp._engine import make_private

        if self.train_dataset is None:
            raise PrivacyInputError("PrivateTrainer needs a train_dataset to train on.")
        dataset, collator = self._training_data()
        logical = self._train_batch_size * self.logical_accumulation
        # DP clips per row: a packing collator (several examples per row) is refused per batch
        loader = DataLoader(dataset, batch_size=logical, collate_fn=OneRowPerExample(collator),
                            num_workers=self.args.dataloader_num_workers)
        if self.optimizer is None:
            super().create_optimizer()
        settings = dict(self.privacy_settings)
        planned = planned_epochs(self.args, len(loader))
        if settings.setdefault("epochs", planned) < planned:
            raise PrivacyInputError(
                f"privacy['epochs']={settings['epochs']!r} plans fewer passes than the TrainingArguments "
                f"({planned:g}): the noise would be calibrated for fewer steps than the Trainer takes. "
                "Leave 'epochs' out (it follows args) or lower num_train_epochs / max_steps."
            )
        if settings.get("ledger") is None:
            settings.setdefault("checkpoint_dir", Path(self.args.output_dir) / "privacy")
        if self._resume_dp is not None:
            settings["resume_from"] = self._resume_dp
        private = make_private(self.model, self.optimizer, loader, device=self.args.device, **settings)
        self._guard_step(private.optimizer)
        self.private, self.optimizer = private, private.optimizer
        self._expander = BatchExpander(private.model)
        if self.tensorboard is not None:
            from auditkit.privacy.dp._tensorboard import open_fit_log

            self._fit_log = open_fit_log(self.tensorboard, private)
        return private

    def _training_data(self) -> tuple[Any, Any]:
        """The training dataset and collator as the Trainer prepares them (unused columns off)."""
        try:
            import datasets
        except ImportError:  # pragma: no cover - datasets is a transformers dependency
            datasets = None
        if datasets is not None and isinstance(self.train_dataset, datasets.Dataset):
            return self._remove_unused_columns(self.train_dataset, description="training"), self.data_collator
        return self.train_dataset, self._get_collator_with_removed_columns(self.data_collator, description="training")

    def _guard_step(self, optimizer: Any) -> None:
        """Make the budget cap end training instead of raising out of ``train()``."""
        step = optimizer.step

        def guarded_step(*args: Any, **kwargs: Any) -> Any:
            try:
                return step(*args, **kwargs)
            except BudgetExceededError as exc:
                self.stopped_at_cap = str(exc)
                return None

        optimizer.step = guarded_step

    def get_train_dataloader(self) -> Any:
        """The Poisson-sampling loader of logical batches (``trainer.private.data_loader``)."""
        return self._make_private().data_loader

    def create_optimizer(self, model: Any = None) -> Any:
        """The DP optimizer wrapping the Trainer's optimizer (created as the Trainer does)."""
        self._make_private()
        return self.optimizer

    # -- one logical step -------------------------------------------------------------------
    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        """One logical batch: micro-batches of at most ``per_device_train_batch_size`` samples,
        each its own forward and backward pass; the optimizer step follows (one per batch).
        Returns the mean per-sample loss of the batch (for the Trainer's log)."""
        import torch

        from auditkit.privacy.dp._micro import micro_batches

        train_mode(model)
        private = self.private
        private.optimizer.zero_grad(set_to_none=True)
        n = batch_size(inputs)
        total = torch.zeros((), dtype=torch.float32, device=self.args.device)
        if n == 0:
            empty_step_grads(private)
        else:
            # book-keeping absorbs micro-batches; Opacus's modes take the logical batch at once
            size = self._train_batch_size if private._keeper is not None else n
            for micro in micro_batches(inputs, size):
                total += self._micro_step(model, self._prepare_inputs(micro))
        self._step_loss = (float(total) / n if n else None, n)
        if n == 0:
            nan = self.args.logging_nan_inf_filter  # the Trainer then logs the running mean
            return torch.tensor(float("nan") if nan else 0.0, device=self.args.device)
        return total / n

    def _micro_step(self, model: Any, micro: Any) -> Any:
        """Forward and backward of one micro-batch; the sum of its per-sample losses."""
        self._expander.size = batch_size(micro)
        try:
            with self.compute_loss_context_manager():
                losses, _ = self.per_sample_loss(model, micro)
            self._backward(losses)
        finally:
            self._expander.size = None
        return losses.detach().sum().to(self.args.device)

    def _backward(self, losses: Any) -> None:
        """Backward of the micro-batch's loss, the mean (or sum) of its per-sample ``losses``;
        Opacus ghost clipping takes them as its two-pass loss."""
        from opacus.utils.fast_gradient_clipping_utils import (
            DPLossFastGradientClipping,
            DPTensorFastGradientClipping,
        )

        reduce = self.privacy_settings.get("loss_reduction", "mean")
        private = self.private
        if isinstance(private.criterion, DPLossFastGradientClipping):
            DPTensorFastGradientClipping(private.model, private.optimizer, losses, reduce).backward()
        else:
            self.accelerator.backward(losses.mean() if reduce == "mean" else losses.sum())

    def per_sample_loss(self, model: Any, inputs: Any) -> tuple[Any, Any]:
        """``(losses, outputs)``: one loss per sample, ``(B,)``, and the model's outputs.

        The labels are taken out of ``inputs`` (so the model computes no batch loss of its
        own); ``[B, C]`` logits give each sample's cross entropy, ``[B, T, V]`` logits
        :func:`sequence_loss` over the sample's own tokens (padding and ``-100`` excluded,
        shifted for a causal LM). Override for another loss: return ``(B,)`` losses whose
        sample ``i`` depends on sample ``i`` alone.
        """
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise PrivacyInputError(
                "PrivateTrainer needs 'labels' in every batch (a causal LM's labels are its input_ids, "
                "with -100 where no token counts); use a data collator that adds them."
            )
        outputs = model(**inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        if self.shift_labels is None:
            self.shift_labels = is_causal_lm(self.model)
        shift = self.shift_labels
        losses = sequence_loss(
            logits, labels, attention_mask=inputs.get("attention_mask"), shift=shift, tokens=self.tokens
        )
        return losses, outputs

    def compute_loss(self, model: Any, inputs: Any, return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        """The mean (or sum, as ``loss_reduction``) of :meth:`per_sample_loss` (evaluation)."""
        losses, outputs = self.per_sample_loss(model, inputs)
        reduce = self.privacy_settings.get("loss_reduction", "mean")
        loss = losses.mean() if reduce == "mean" else losses.sum()
        return (loss, outputs) if return_outputs else loss

    def floating_point_ops(self, inputs: Any) -> int:
        return super().floating_point_ops(inputs) if batch_size(inputs) else 0

    # -- training, logs, checkpoints ----------------------------------------------------------
    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any) -> Any:
        """As ``Trainer.train``; resuming from a Trainer checkpoint continues its accounting
        (the checkpoint's ``auditkit_dp.pt``), refused when it has none."""
        if self.private is not None and self.private._finished:
            raise PrivacyInputError(
                "This PrivateTrainer's run is finished (its ledger record is closed). To train on, "
                "save a checkpoint (save_strategy) and resume it with a new PrivateTrainer."
            )
        if resume_from_checkpoint:
            self._resume_dp = self._dp_checkpoint_of(resume_from_checkpoint)
        try:
            return super().train(resume_from_checkpoint, *args, **kwargs)
        finally:  # on_train_end does not run when training raises: close the log here too
            if self._fit_log is not None:
                self._fit_log.close()
                self._fit_log = None

    def _dp_checkpoint_of(self, checkpoint: str | bool) -> Path:
        from transformers.trainer_utils import get_last_checkpoint

        if self.private is not None:
            raise PrivacyInputError(
                "PrivateTrainer.train(resume_from_checkpoint=...) must be the first training of this "
                "trainer: its accounting already runs. Build a new PrivateTrainer to resume."
            )
        if "resume_from" in self.privacy_settings:
            raise PrivacyInputError(
                "Pass either train(resume_from_checkpoint=...) or privacy['resume_from'], not both."
            )
        folder = get_last_checkpoint(self.args.output_dir) if checkpoint is True else checkpoint
        path = Path(folder or self.args.output_dir) / CHECKPOINT_FILE
        if not path.is_file():
            raise PrivacyInputError(
                f"The checkpoint to resume holds no privacy accounting ({path} is missing): resuming "
                "it would restart the accountant at zero steps. Resume a checkpoint PrivateTrainer wrote."
            )
        return path

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """The Trainer's log, with ``epsilon`` (spent so far) and ``dp_steps`` added; without the
        Trainer's ``grad_norm``, which it reads before the DP step made any gradient."""
        logs.pop("grad_norm", None)
        if self.private is not None and "epsilon" not in logs:
            logs["epsilon"] = self.private.epsilon
            logs["dp_steps"] = self.private.budget.steps
        super().log(logs, *args, **kwargs)

    def _after_step(self, state: Any, control: Any) -> None:
        if self.stopped_at_cap is not None:
            state.global_step -= 1  # the step the cap refused was not taken
            control.should_training_stop = True
            control.should_save = False
            return
        if self._fit_log is not None:
            self._fit_log.step(*self._step_loss)

    def _save_accounting(self, state: Any) -> None:
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        folder = Path(self.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if self.private is not None and self.args.should_save and folder.is_dir():
            self.private.save_checkpoint(folder / CHECKPOINT_FILE)

    def _end_training(self) -> None:
        if self._fit_log is not None:
            self._fit_log.end()
            self._fit_log.close()
            self._fit_log = None
        if self.private is not None and self.finish_at_end and self.stopped_at_cap is None:
            self.private.finish()


class _PrivacyCallback(TrainerCallback):
    """Hands the Trainer's events to :class:`PrivateTrainer` (steps, saves, the end)."""

    def __init__(self, trainer: PrivateTrainer) -> None:
        self.trainer = trainer

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer._after_step(state, control)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.trainer.stopped_at_cap is not None:
            control.should_save = False

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer._save_accounting(state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer._end_training()
