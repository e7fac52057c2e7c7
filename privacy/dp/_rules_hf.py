"""Book-keeping rules for layers of Hugging Face ``transformers``, recognised without importing it.

- ``Conv1D`` (GPT-2, GPT, ...; class ``Conv1D`` of ``transformers.pytorch_utils``): a linear
  layer with the weight stored ``[in, out]``, forward ``x @ W + b``.
- The ``*ScaledWordEmbedding`` classes (BART, MBart, Gemma, ...): ``nn.Embedding`` whose output is
  multiplied by ``embed_scale`` (a float, or a buffer cast to the weight's dtype).
- The ``*RMSNorm`` families of ``transformers.models.*``: the normalisation
  ``xhat = x * rsqrt(mean(x^2) + eps)`` in float32, then one of the scale formulas found across
  the library (see :data:`_RMS_VARIANTS`): LLaMA-style ``weight * xhat.to(input dtype)``,
  OLMo/Gemma-3n-style ``(xhat * weight.float()).to(input dtype)`` and Gemma-style
  ``(xhat * (1 + weight.float())).to(input dtype)``.

A class recognised by name is not trusted by name: once per module instance, its own original
forward (``type(module).forward``, not an instance override) and the rule's forward run on a
small deterministic probe (random weights, one sample scaled to the size of ``eps``; float32,
and bfloat16 for the dtype handling), and a module matching no formula gets a ``problem`` (it
falls back) instead of silently wrong gradients.
"""

from __future__ import annotations

import inspect
import math
import weakref
from collections.abc import Callable

import torch
from torch import nn

from auditkit.privacy.dp._rules_base import (
    _affine_per_sample,
    _LinearFn,
    _MatmulRule,
    _Rule,
    _ScaleFn,
)
from auditkit.privacy.dp._rules_embedding import _EmbeddingRule
from auditkit.privacy.errors import PrivacyInputError

__all__ = ["hf_rule_for", "hf_supported_types"]

_CONV1D = ("transformers.pytorch_utils", "Conv1D")


def hf_rule_for(module: nn.Module) -> _Rule | None:
    """The rule of a ``transformers`` layer recognised by its class's module and name, or
    ``None``. Never imports ``transformers``."""
    cls = type(module)
    where, name = getattr(cls, "__module__", "") or "", cls.__name__
    if (where, name) == _CONV1D:
        return _CONV1D_RULE
    if where.startswith("transformers.") and name.endswith("RMSNorm"):
        return _HF_RMS_RULE
    if where.startswith("transformers.") and name.endswith("ScaledWordEmbedding"):
        return _SCALED_EMBEDDING_RULE
    return None


def hf_supported_types() -> list[str]:
    """Names of the ``transformers`` layer kinds recognised by :func:`hf_rule_for`."""
    return ["Conv1D", "*RMSNorm (transformers)", "*ScaledWordEmbedding (transformers)"]


# --------------------------------------------------------------------------------------------
# Proof on a probe
# --------------------------------------------------------------------------------------------


def _single_input_problem(cls: type) -> str | None:
    """Book-keeping replaces ``forward(x)``: a forward taking anything more cannot be replaced."""
    try:
        params = list(inspect.signature(cls.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return "its forward has no readable signature"
    if len(params) != 1 or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    ):
        return "its forward takes more than the input tensor"
    return None


def _probe_clone(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """A shallow copy of ``module`` with random parameters (so that a formula ignoring or
    offsetting the weight shows) and no instance ``forward`` override."""
    clone = object.__new__(type(module))
    clone.__dict__.update(module.__dict__)
    clone.__dict__.pop("forward", None)
    params = {}
    for name, p in module._parameters.items():
        if p is not None:
            r = torch.rand(p.shape, generator=gen) + 0.5
            p = nn.Parameter(r.to(device=p.device, dtype=p.dtype), requires_grad=False)
        params[name] = p
    clone.__dict__["_parameters"] = params
    clone.__dict__["_buffers"] = {
        n: (b.clone() if b is not None else None) for n, b in module._buffers.items()
    }
    return clone


def _compare(ref: object, ours: torch.Tensor, tol: float) -> str | None:
    if not isinstance(ref, torch.Tensor):
        return "its forward does not return one tensor"
    if ref.shape != ours.shape or ref.dtype != ours.dtype:
        return "its forward returns another shape or dtype than the rule"
    if not torch.allclose(ours.float(), ref.float(), rtol=tol, atol=tol):
        return "its forward computes something else than the rule"
    return None


def _prove(
    module: nn.Module,
    ours: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    inputs: list[tuple[torch.Tensor, float]],
) -> str | None:
    """``None`` when the module's original forward and ``ours`` agree on every probe input
    (``(x, tolerance)``; parameters randomised), else the reason."""
    clone = _probe_clone(module, torch.Generator().manual_seed(20240518))
    original = type(module).forward
    device = inputs[0][0].device.type
    try:
        with torch.no_grad(), torch.autocast(device, enabled=False):
            for x, tol in inputs:
                reason = _compare(original(clone, x), ours(clone, x), tol)
                if reason is not None:
                    return reason
    except Exception as exc:  # an unknown variant may fail anywhere: it falls back
        return f"its forward failed on a probe input ({type(exc).__name__})"
    return None


class _ProvenRule(_Rule):
    """A rule for classes recognised by name: each instance is proven on a probe once."""

    #: the variants to try, in order: ``name -> forward(module, slot, x)``.
    variants: dict[str, Callable]

    def __init__(self) -> None:
        self._proofs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def static_problem(self, module: nn.Module) -> str | None:
        raise NotImplementedError

    def probe_inputs(self, module: nn.Module, gen: torch.Generator) -> list[tuple[torch.Tensor, float]]:
        raise NotImplementedError

    def _proof(self, module: nn.Module) -> tuple[str | None, str | None]:
        """``(variant, None)`` or ``(None, reason)``, computed once per instance."""
        try:
            return self._proofs[module]
        except KeyError:
            pass
        reason = self.static_problem(module) or _single_input_problem(type(module))
        found: tuple[str | None, str | None] = (None, reason)
        if reason is None:
            inputs = self.probe_inputs(module, torch.Generator().manual_seed(7))
            for name, fwd in self.variants.items():
                reason = _prove(module, lambda m, x, fwd=fwd: fwd(self, m, None, x), inputs)
                if reason is None:
                    found = (name, None)
                    break
            else:
                found = (None, f"{reason} (checked on a probe input)")
        self._proofs[module] = found
        return found

    def problem(self, module):
        return self._proof(module)[1]

    def forward(self, module, slot, x):
        variant, reason = self._proof(module)
        if variant is None:
            raise PrivacyInputError(
                f"The layer {type(module).__name__} has no book-keeping rule: {reason}. Use "
                "mode='auto' so that it falls back to Opacus."
            )
        return self.variants[variant](self, module, slot, x)


def _probe_device(module: nn.Module) -> torch.device:
    p = next(iter(module.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


# --------------------------------------------------------------------------------------------
# Conv1D
# --------------------------------------------------------------------------------------------


def _conv1d_forward(rule, module, slot, x):
    return _LinearFn.apply(x, module.weight.t(), module.bias, slot)  # x W + b


class _Conv1DRule(_ProvenRule, _MatmulRule):
    in_out = True  # weight [in, out]: x W + b

    variants = {"conv1d": _conv1d_forward}

    def static_problem(self, module):
        w, b = getattr(module, "weight", None), getattr(module, "bias", None)
        names = {n for n, _ in module.named_parameters(recurse=False)}
        if any(True for _ in module.children()) or not names <= {"weight", "bias"}:
            return "it has parameters or sub-modules other than weight and bias"
        if not isinstance(w, torch.Tensor) or w.dim() != 2:
            return "its weight is not a 2-D [in, out] matrix"
        if b is not None and tuple(b.shape) != (w.shape[1],):
            return "its bias does not match the weight's output size"
        return None

    def probe_inputs(self, module, gen):
        x = torch.randn(2, 3, module.weight.shape[0], generator=gen)
        return [(x.to(_probe_device(module)), 1e-5)]


# --------------------------------------------------------------------------------------------
# RMSNorm families
# --------------------------------------------------------------------------------------------


def _rms_eps(module: nn.Module) -> float | None:
    for name in ("variance_epsilon", "eps"):
        eps = module.__dict__.get(name)
        if isinstance(eps, (int, float)) and not isinstance(eps, bool):
            return float(eps)
    return None


def _rms_xhat(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x32 = x.to(torch.float32)
    return x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + _rms_eps(module))


def _rms_cast_then_scale(rule, module, slot, x):
    """LLaMA: ``weight * xhat.to(input dtype)`` (type promotion gives the output dtype)."""
    return _ScaleFn.apply(_rms_xhat(module, x).to(x.dtype), module.weight, slot, 0.0, None)


def _rms_scale_then_cast(rule, module, slot, x):
    """OLMo, Gemma-3n, Moshi, NemotronH: ``(xhat * weight.float()).to(input dtype)``."""
    return _ScaleFn.apply(_rms_xhat(module, x), module.weight, slot, 0.0, torch.float32).to(x.dtype)


def _rms_offset_scale_then_cast(rule, module, slot, x):
    """Gemma: ``(xhat * (1 + weight.float())).to(input dtype)``."""
    return _ScaleFn.apply(_rms_xhat(module, x), module.weight, slot, 1.0, torch.float32).to(x.dtype)


#: the RMSNorm scale formulas found in ``transformers``; a module is proven against each in turn.
_RMS_VARIANTS = {
    "cast_then_scale": _rms_cast_then_scale,
    "scale_then_cast": _rms_scale_then_cast,
    "offset_scale_then_cast": _rms_offset_scale_then_cast,
}


class _HFRMSNormRule(_ProvenRule):
    variants = _RMS_VARIANTS

    def static_problem(self, module):
        w = getattr(module, "weight", None)
        names = {n for n, _ in module.named_parameters(recurse=False)}
        if any(True for _ in module.children()) or names != {"weight"}:
            return "it has parameters or sub-modules other than one weight"
        if not isinstance(w, torch.Tensor) or w.dim() != 1:
            return "its weight is not 1-D"
        if _rms_eps(module) is None:
            return "it has no numeric 'variance_epsilon' or 'eps' attribute"
        return None

    def probe_inputs(self, module, gen):
        d, eps = module.weight.shape[0], _rms_eps(module)
        x = torch.randn(3, 2, d, generator=gen)
        if eps > 0:  # one sample whose mean square is about eps: a different eps shows
            x[1] *= math.sqrt(eps)
        x = x.to(_probe_device(module))
        return [(x, 1e-5), (x.to(torch.bfloat16), 2e-2)]

    def per_sample(self, module, a, g):
        return _affine_per_sample(module, a, g, 1, ("weight",))


# --------------------------------------------------------------------------------------------
# Scaled word embeddings
# --------------------------------------------------------------------------------------------


def _scaled_embedding_forward(rule, module, slot, x):
    """``embedding(ids) * embed_scale``: the scale is applied outside the recording function,
    so the record is the grad of the plain embedding and the Embedding rule's maths hold."""
    scale = module.embed_scale
    if isinstance(scale, torch.Tensor):
        scale = scale.to(module.weight.dtype)
    return _EmbeddingRule.forward(rule, module, slot, x) * scale


class _ScaledEmbeddingRule(_ProvenRule, _EmbeddingRule):
    variants = {"scaled_embedding": _scaled_embedding_forward}

    def static_problem(self, module):
        if not isinstance(module, nn.Embedding):
            return "it is not an nn.Embedding"
        names = {n for n, _ in module.named_parameters(recurse=False)}
        if any(True for _ in module.children()) or names != {"weight"}:
            return "it has parameters or sub-modules other than one weight"
        scale = getattr(module, "embed_scale", None)
        if not isinstance(scale, (int, float, torch.Tensor)) or (
            isinstance(scale, torch.Tensor) and scale.numel() != 1
        ):
            return "it has no scalar 'embed_scale'"
        return _EmbeddingRule.problem(self, module)

    def probe_inputs(self, module, gen):
        ids = torch.randint(0, module.weight.shape[0], (3, 4), generator=gen)
        return [(ids.to(_probe_device(module)), 1e-6)]


_CONV1D_RULE = _Conv1DRule()
_SCALED_EMBEDDING_RULE = _ScaledEmbeddingRule()
_HF_RMS_RULE = _HFRMSNormRule()
