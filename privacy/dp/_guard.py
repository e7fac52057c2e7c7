"""A correctness guard users can run on their own model.

- :func:`check_clipping` runs the clipping engine ``make_private`` would choose for a model,
  with the noise off, on one batch, and compares the clipped sum with brute-force per-sample
  clipping (each sample alone: forward, backward, clip, sum) in float32. It returns a
  :class:`ClippingCheck`; ``passed`` is ``False`` when the engine is silently wrong for this
  model (a layer that mixes samples, a rule that does not fit a layer variant, ...).
- The other half of the guard, the watch over the first optimizer steps of a run, is
  :class:`~auditkit.privacy.dp._watch.StepWatch`.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditkit.privacy.dp._modes import train_mode
from auditkit.privacy.errors import PrivacyInputError

__all__ = ["TOLERANCES", "ClippingCheck", "check_clipping"]

TOLERANCES: dict[str, float] = {"float32": 1e-5, "bf16": 1e-2, "fp16": 5e-3}
"""Default relative tolerance of :func:`check_clipping` per precision."""

_AUTOCAST = {None: "float32", "bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16"}


@dataclass(frozen=True)
class ClippingCheck:
    """The result of :func:`check_clipping`.

    Attributes
    ----------
    passed:
        Whether ``max_rel_error <= tolerance``.
    max_rel_error:
        Largest relative error over trainable parameters: ``||ours - brute force||`` per
        parameter over the brute force's norm (or, when larger, the parameter's even share of
        the whole update's norm); ``nan`` if not finite.
    tolerance:
        The tolerance it was compared with.
    samples:
        The batch size (each sample was run alone for the brute force).
    dtype:
        ``"float32"``, ``"bf16"`` or ``"fp16"``: the precision our engine ran in.
    mode:
        The clipping mode checked (what ``select_mode(model, mode)`` chose).
    fallbacks:
        ``(layer, type, why)`` of the layers without a book-keeping rule
        (:attr:`ModeDecision.fallbacks`).
    worst_parameter:
        The name of the parameter with the largest error.
    """

    passed: bool
    max_rel_error: float
    tolerance: float
    samples: int
    dtype: str
    mode: str
    fallbacks: tuple[tuple[str, str, str], ...] = ()
    worst_parameter: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The check as plain values (for a report or a log)."""
        return {
            "passed": self.passed,
            "max_rel_error": self.max_rel_error,
            "tolerance": self.tolerance,
            "samples": self.samples,
            "dtype": self.dtype,
            "mode": self.mode,
            "fallbacks": [list(x) for x in self.fallbacks],
            "worst_parameter": self.worst_parameter,
        }

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        fell = f"; {len(self.fallbacks)} layer(s) without a book-keeping rule" if self.fallbacks else ""
        return (
            f"clipping check {verdict}: max relative error {self.max_rel_error:.2e} "
            f"({'<=' if self.passed else 'not <='} {self.tolerance:.0e}, worst {self.worst_parameter}) "
            f"over {self.samples} samples, {self.dtype}, mode {self.mode}{fell}"
        )


def check_clipping(
    model: Any,
    batch: Any,
    loss_fn: Callable[[Any, Any], Any],
    *,
    max_grad_norm: float = 1.0,
    autocast: str | None = None,
    mode: str = "auto",
    rtol: float | None = None,
) -> ClippingCheck:
    """Check that DP clipping is exact for ``model``: our engine against brute force.

    Runs on deep copies (``model`` is never touched) in the training state ``make_private``
    gives the model: the copy is put in training mode when ``model`` is not training (as
    ``make_private`` does), otherwise each module keeps its own flag; so a layer that mixes
    samples in training mode (a BatchNorm, frozen or not, computing batch statistics) is
    checked as it will train. Only dropout is turned off, on both sides: modules of a
    ``torch.nn`` dropout type, or without parameters or children and whose class name holds
    ``Dropout``, ``DropPath`` or ``StochasticDepth``, are put in eval mode with rate 0, and float attributes named like a
    dropout rate (``*dropout*``, ``*pdrop*``: Hugging Face attention's ``attention_dropout``,
    ``dropout_prob``, ..., and the same on ``model.config``) are set to 0. Randomness held
    another way (functional dropout with a rate under another name) stays on and makes the
    check fail: turn it off before checking. Our side wires the clipping mode ``make_private`` would use
    (``select_mode(model, mode)``) with noise multiplier 0 and loss reduction ``"mean"``, runs
    ``loss_fn`` on the whole batch (under ``torch.autocast`` when ``autocast`` is given),
    back-propagates and lets the DP optimizer clip and sum. The brute force runs each sample
    alone in float32 without autocast, clips its gradient to ``max_grad_norm`` with Opacus's
    factor ``min(1, C / (norm + 1e-6))`` (norm over all trainable parameters) and sums in
    float64. Both copies are float32.

    Parameters
    ----------
    model:
        Your ``nn.Module``, before ``make_private`` (the same layers it will train).
    batch:
        One batch: a tensor, or a tuple / list / dict of tensors sharing the first dimension
        (the samples); other values are passed to every sample unchanged. Keep it small
        (8 to 32 samples): the brute force runs each sample alone.
    loss_fn:
        ``loss_fn(model, batch)`` returning the per-sample losses, shape ``(B,)``; for
        language models :func:`~auditkit.privacy.dp.sequence_loss` gives them (a model's own
        ``outputs.loss`` is a mean over the batch's tokens and couples samples).
    max_grad_norm:
        The clipping norm C; choose one that clips some samples and not others.
    autocast:
        ``None`` (float32), ``"bf16"`` or ``"fp16"``: run our side under ``torch.autocast``
        on the model's device.
    mode:
        As ``make_private``'s ``mode`` (``"auto"``: the mode it would choose).
    rtol:
        The relative tolerance; default :data:`TOLERANCES` (1e-5 float32, 1e-2 bf16,
        5e-3 fp16).

    Returns
    -------
    ClippingCheck
        ``passed`` is ``False`` when the clipped sum is not the per-sample clipped sum.

    Raises
    ------
    PrivacyInputError
        For bad arguments; and when a sample cannot run alone through the model in training
        mode (e.g. ``BatchNorm1d`` on one sample): its layers mix samples, so per-sample
        clipping cannot bound one sample's contribution.

    Examples
    --------
    >>> check = check_clipping(model, (x, y),                                # doctest: +SKIP
    ...     lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1], reduction="none"))
    >>> print(check)                                                         # doctest: +SKIP
    clipping check passed: max relative error 2.1e-07 (<= 1e-05, worst fc1.weight) ...
    """
    dtype = _precision(autocast)
    tolerance = _tolerance(rtol, dtype)
    _positive_norm(max_grad_norm)
    if not callable(loss_fn):
        raise PrivacyInputError(
            "The 'loss_fn' parameter of check_clipping must be a function loss_fn(model, batch) "
            f"returning per-sample losses of shape (B,); got {type(loss_fn).__name__}."
        )
    base = _frozen_copy(model)
    n = _batch_size(batch)
    decision = _decide(base, mode)
    reference_model = copy.deepcopy(base)
    ours = _engine_sum(base, decision.mode, batch, n, loss_fn, float(max_grad_norm), dtype)
    reference = _brute_force(reference_model, batch, n, loss_fn, float(max_grad_norm))
    error, worst = _max_rel_error(ours, reference)
    return ClippingCheck(
        passed=bool(error <= tolerance),
        max_rel_error=error,
        tolerance=tolerance,
        samples=n,
        dtype=dtype,
        mode=decision.mode,
        fallbacks=decision.fallbacks,
        worst_parameter=worst,
    )


# --------------------------------------------------------------------------------------------
# check_clipping: arguments and copies
# --------------------------------------------------------------------------------------------


def _precision(autocast: Any) -> str:
    if isinstance(autocast, str) or autocast is None:
        key = autocast.lower() if isinstance(autocast, str) else None
        if key in _AUTOCAST:
            return _AUTOCAST[key]
    raise PrivacyInputError(
        "The 'autocast' parameter of check_clipping must be None (float32), 'bf16' or 'fp16'; "
        f"got {autocast!r}."
    )


def _tolerance(rtol: Any, dtype: str) -> float:
    if rtol is None:
        return TOLERANCES[dtype]
    ok = isinstance(rtol, (int, float)) and not isinstance(rtol, bool) and math.isfinite(rtol) and rtol > 0
    if not ok:
        raise PrivacyInputError(
            f"The 'rtol' parameter of check_clipping must be a positive number; got {rtol!r}. "
            f"Leave it None for the defaults {TOLERANCES}."
        )
    return float(rtol)


def _positive_norm(value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise PrivacyInputError(
            f"The 'max_grad_norm' parameter of check_clipping must be a positive number; got {value!r}."
        )


def _frozen_copy(model: Any) -> Any:
    """A float32 deep copy in make_private's training state with dropout off; refuses a model
    already wrapped for DP."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise PrivacyInputError(
            f"The 'model' parameter of check_clipping must be a torch.nn.Module; got {type(model).__name__}."
        )
    wrapped = type(model).__module__.startswith("opacus.") or any(
        getattr(getattr(m.__dict__.get("forward"), "__func__", None), "__module__", "")
        == "auditkit.privacy.dp._clipping"
        for m in model.modules()
    )
    if wrapped:
        raise PrivacyInputError(
            "The 'model' parameter of check_clipping is already wrapped for DP training; pass "
            "the plain model (before make_private), e.g. private.model's underlying module "
            "before it was wrapped."
        )
    out = copy.deepcopy(model).float()
    if not out.training:
        train_mode(out)  # as make_private does
    _dropout_off(out)
    return out


_DROPOUT_NAMES = ("Dropout", "DropPath", "StochasticDepth")
_RATE_NAMES = ("dropout", "pdrop")


def _dropout_off(model: Any) -> None:
    """Turn off dropout in ``model`` (a copy) and nothing else of its training state."""
    from torch import nn

    for m in model.modules():
        named = any(k in type(m).__name__ for k in _DROPOUT_NAMES)
        leaf = next(m.children(), None) is None and next(m.parameters(), None) is None
        if isinstance(m, nn.modules.dropout._DropoutNd) or (named and leaf):
            m.training = False  # this module only: a layer holding others keeps their state
            if isinstance(getattr(m, "p", None), float):
                m.p = 0.0  # Hugging Face attention reads its dropout module's p in training mode
        _zero_rates(m)
        config = getattr(m, "config", None)
        if config is not None and not isinstance(config, nn.Module):
            _zero_rates(config)


def _zero_rates(obj: Any) -> None:
    """Set float attributes named like a dropout rate to 0 (functional dropout in attention)."""
    values = getattr(obj, "__dict__", {})
    for key, value in list(values.items()):
        rate = isinstance(value, float) and value > 0
        if rate and any(k in key.lower() for k in _RATE_NAMES):
            setattr(obj, key, 0.0)


def _decide(model: Any, mode: str) -> Any:
    from auditkit.privacy.dp._modes import check_layers, select_mode

    unsupported = check_layers(model)
    if unsupported:
        raise PrivacyInputError(
            "The model has layers DP-SGD cannot train as they are: "
            + "; ".join(str(u).rstrip(".") for u in unsupported)
            + ". check_clipping has no fix parameter: check the model make_private will train, "
            "e.g. opacus.validators.ModuleValidator.fix(model), which is what make_private(..., "
            "fix=True) trains."
        )
    return select_mode(model, mode)


def _tensor_sizes(batch: Any, out: list[int]) -> None:
    import torch

    if isinstance(batch, torch.Tensor):
        if batch.dim() == 0:
            raise PrivacyInputError(
                "The 'batch' of check_clipping holds a tensor without a batch dimension; every "
                "tensor in it must have the samples along its first dimension."
            )
        out.append(batch.shape[0])
    elif isinstance(batch, Mapping):
        for v in batch.values():
            _tensor_sizes(v, out)
    elif isinstance(batch, (tuple, list)):
        for v in batch:
            _tensor_sizes(v, out)


def _batch_size(batch: Any) -> int:
    sizes: list[int] = []
    _tensor_sizes(batch, sizes)
    if not sizes:
        raise PrivacyInputError(
            "The 'batch' of check_clipping holds no tensor; pass a tensor, or a tuple / list / "
            "dict of tensors with the samples along the first dimension."
        )
    if len(set(sizes)) != 1:
        raise PrivacyInputError(
            f"The tensors of the 'batch' of check_clipping disagree on the number of samples "
            f"(first dimensions {sorted(set(sizes))}); they must share the first dimension."
        )
    if sizes[0] < 1:
        raise PrivacyInputError("The 'batch' of check_clipping is empty; give it at least one sample.")
    return sizes[0]


def sample_of(batch: Any, i: int) -> Any:
    """Sample ``i`` of ``batch`` as a batch of one (tensors sliced along dim 0)."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch[i : i + 1]
    if isinstance(batch, Mapping):
        return {k: sample_of(v, i) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(sample_of(v, i) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(sample_of(v, i) for v in batch)
    return batch


def _losses(value: Any, n: int) -> Any:
    import torch

    if not isinstance(value, torch.Tensor) or tuple(value.shape) != (n,):
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise PrivacyInputError(
            f"The 'loss_fn' of check_clipping must return per-sample losses of shape ({n},) for "
            f"a batch of {n}; got {shape}. Use reduction='none' (or sequence_loss for sequences)."
        )
    return value.float()


def _trainable(model: Any) -> list[tuple[str, Any]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


# --------------------------------------------------------------------------------------------
# check_clipping: the two sides
# --------------------------------------------------------------------------------------------


def _brute_force(model: Any, batch: Any, n: int, loss_fn: Callable, c: float) -> dict[str, Any]:
    """Each sample alone, float32: forward, backward, clip to ``c``, sum (float64)."""
    import torch

    params = _trainable(model)
    total = {name: torch.zeros(p.shape, dtype=torch.float64, device=p.device) for name, p in params}
    for i in range(n):
        for _, p in params:
            p.grad = None
        try:
            _losses(loss_fn(model, sample_of(batch, i)), 1).sum().backward()
        except PrivacyInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure on one sample alone is the finding
            raise PrivacyInputError(
                f"check_clipping: this model cannot run one sample alone in training mode "
                f"({type(exc).__name__} on a batch of one, where the whole batch ran): its layers mix "
                "samples (e.g. a BatchNorm in training mode normalises with the batch's statistics), "
                "so per-sample clipping cannot bound one sample's contribution. Put such layers in "
                "eval mode before make_private (running statistics) or replace them (GroupNorm, "
                "LayerNorm); if instead loss_fn cannot take a batch of one, fix loss_fn."
            ) from exc
        grads = [p.grad.detach().double() if p.grad is not None else None for _, p in params]
        norm = math.sqrt(sum(float(g.pow(2).sum()) for g in grads if g is not None))
        factor = min(1.0, c / (norm + 1e-6))
        for (name, _), g in zip(params, grads, strict=True):
            if g is not None:
                total[name] += factor * g
    return total


def _engine_sum(model: Any, mode: str, batch: Any, n: int, loss_fn: Callable, c: float, dtype: str) -> dict:
    """The clipped sum our engine forms in ``mode`` with σ = 0 (float32 or under autocast)."""
    import torch
    from torch import nn

    from auditkit.privacy.dp._modes import MODES
    from auditkit.privacy.dp._wiring import ModeWiring, NoiseSettings

    params = _trainable(model)
    noise = NoiseSettings(
        noise_multiplier=0.0,
        max_grad_norm=c,
        expected_batch_size=n,
        loss_reduction="mean",
        generator=None,
        secure_mode=False,
    )
    wiring = ModeWiring(
        model=model,
        layers=model,
        optimizer=torch.optim.SGD([p for _, p in params], lr=0.0),
        criterion=nn.MSELoss(reduction="mean"),
        noise=noise,
        distributed=False,
    )
    wired = MODES[mode].wire(wiring)
    try:
        device = next(p.device for _, p in params)
        with warnings.catch_warnings():
            # Opacus's hooks warn when the batch's inputs do not require gradients: harmless
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            with _autocast(device.type, dtype):
                losses = _losses(loss_fn(wired.model, batch), n)
            _backward(wired, losses)
        if not wired.optimizer.pre_step():
            raise PrivacyInputError(
                "check_clipping: the DP optimizer skipped the step (non-finite per-sample "
                "norms?); check the loss for inf or nan on this batch."
            )
        return {
            name: (p.grad.detach().double() * n if p.grad is not None else torch.zeros_like(p, dtype=torch.float64))
            for name, p in params
        }
    finally:
        if wired.keeper is not None:
            wired.keeper.detach()
        if hasattr(wired.optimizer, "close"):
            wired.optimizer.close()


def _autocast(device_type: str, dtype: str) -> Any:
    import contextlib

    import torch

    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)


def _backward(wired: Any, losses: Any) -> None:
    from opacus.utils.fast_gradient_clipping_utils import (
        DPLossFastGradientClipping,
        DPTensorFastGradientClipping,
    )

    if isinstance(wired.criterion, DPLossFastGradientClipping):  # ghost: two backward passes
        DPTensorFastGradientClipping(wired.model, wired.optimizer, losses, "mean").backward()
    else:
        losses.mean().backward()


def _max_rel_error(ours: dict[str, Any], reference: dict[str, Any]) -> tuple[float, str]:
    """The largest relative error over parameters, and that parameter's name.

    Each parameter's error ``||ours - ref||`` is divided by ``||ref||`` or, when larger, by
    its even share of the whole update, ``||ref_all|| * sqrt(numel / numel_all)``: a parameter
    whose clipped sum nearly cancels over the samples is not judged against a near-zero
    norm, while any parameter with an ordinary share is held to its own relative error.
    """
    total = math.sqrt(sum(float(r.norm()) ** 2 for r in reference.values()))
    count = sum(r.numel() for r in reference.values())
    worst, name = 0.0, ""
    for key, ref in reference.items():
        share = total * math.sqrt(ref.numel() / count) if count else 0.0
        rel = float((ours[key] - ref).norm()) / max(float(ref.norm()), share, 1e-30)
        if not math.isfinite(rel):
            return math.nan, key
        if not name or rel > worst:
            worst, name = rel, key
    return worst, name
