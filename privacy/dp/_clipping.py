"""Book-keeping per-sample clipping: one backward pass, no per-sample gradients kept.

This is the fast path of ``mode="auto"`` (Bu, Wang, Zha and Karypis, "Differentially Private
Optimization on Large Model at Small Cost", ICML 2023). For every supported layer the forward
goes through a small :class:`torch.autograd.Function` whose backward

1. returns the gradient with respect to the layer *input* (so back-propagation continues), and
2. records the layer input ``a`` and the output gradient ``g`` instead of computing the weight
   gradient.

After ``loss.backward()`` the optimizer calls :meth:`BookKeeper.clipped_sum`, which

- computes each sample's gradient norm from ``(a, g)`` layer by layer: the ghost-norm identity
  ``||a_i^T g_i||_F^2 = sum_{t,s} (a_it . a_is)(g_it . g_is)`` when that is cheaper, the
  per-sample gradient otherwise (the layer-wise choice of Bu et al.);
- turns the norms into clipping factors ``c_i = min(1, C / (||grad_i|| + 1e-6))``, exactly as
  Opacus does; and
- forms the clipped sum ``sum_i c_i grad_i`` as one weighted matmul per layer: the ordinary
  weight-gradient kernel applied to ``diag(c) g``.

So the cost is one forward, one backward without weight gradients, and one weight-gradient
kernel per layer, about the cost of non-private training.

Gradient accumulation: every forward pass of the model with gradients enabled is one
micro-batch (its records are kept apart from other forwards'). When a new forward starts while a
finished backward's records are pending, they are absorbed at once: that micro-batch's per-sample
norms, clip factors and clipped sum (added, in float32, to a running sum). ``optimizer.step()``
absorbs what is left and takes the running sum: one logical step, noised once. Samples are
clipped within their micro-batch; a sample is never split across micro-batches.

Tied weights: a Parameter owned by several layers gets one norm contribution, the norm of the
sum of its owners' per-sample gradients (cross terms included, :mod:`~auditkit.privacy.dp._tied`),
and one clipped sum, the sum of its owners'.

Rules are registered per layer type with :func:`register_rule`; a model is eligible when every
module that owns trainable parameters has a rule that accepts its configuration
(:func:`rule_problem`).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from auditkit.privacy.dp._rules import (
    _Rule,
    _Slot,
    _trainable_names,
    register_rule,
    rule_for,
    rule_problem,
    supported_types,
)
from auditkit.privacy.dp._sums import _Sums
from auditkit.privacy.dp._tied import (
    Records,
    aliases,
    batchnorms,
    cross_norm2,
    find_tied,
    refuse_batchnorm_in_training,
    rows_not_samples,
    several_passes,
    used_outside,
)
from auditkit.privacy.errors import PrivacyInputError

__all__ = ["BookKeeper", "register_rule", "rule_problem", "supported_types"]


# --------------------------------------------------------------------------------------------
# Micro-batches: one set of slots per forward pass
# --------------------------------------------------------------------------------------------


class _RecSlot(_Slot):
    """A slot of one forward pass (:class:`_Pass`): its first record marks the pass pending."""

    def __init__(self, owner: _Pass) -> None:
        super().__init__()
        self.owner = owner

    def add(self, activation: Any, grad_output: torch.Tensor) -> None:
        self.records.append((activation, grad_output))
        self.owner.keeper._recorded(self.owner)


class _Pass:
    """The slots of every handled layer for one forward pass of the model (one micro-batch);
    ``batch_size`` is the pass's number of samples (``None`` when unknown)."""

    __slots__ = ("slots", "keeper", "order", "batch_size")

    def __init__(self, names: list[str], keeper: BookKeeper, order: int, batch_size: int | None = None) -> None:
        self.slots = {n: _RecSlot(self) for n in names}
        self.keeper = keeper
        self.order = order  # forward passes are absorbed in the order they ran
        self.batch_size = batch_size

    def clear(self) -> None:
        for slot in self.slots.values():
            slot.records.clear()


def _make_forward(keeper: BookKeeper, name: str, rule: _Rule) -> Callable[..., torch.Tensor]:
    def forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return rule.forward(self, keeper._pass.slots[name], x)

    return forward


#: the keyword inputs that name the samples of a Hugging Face model's forward, looked at first
_SAMPLE_INPUTS = ("input_ids", "inputs_embeds", "pixel_values", "input_values", "input_features")


def _batch_size_of(args: tuple, kwargs: dict) -> int | None:
    """The batch size of a forward call: the first dimension of its first tensor input (a
    sample-carrying keyword first, then the positional inputs, then the other keywords; one
    level into tuples, lists and dicts)."""
    first = [kwargs[k] for k in _SAMPLE_INPUTS if k in kwargs]
    for value in (*first, *args, *kwargs.values()):
        for x in (value.values() if isinstance(value, dict) else
                  value if isinstance(value, (tuple, list)) else (value,)):
            if isinstance(x, torch.Tensor) and x.dim() >= 1:
                return int(x.shape[0])
    return None


def _module_norm2(module: nn.Module, rule: _Rule, recs: list[tuple[Any, torch.Tensor, float]]) -> torch.Tensor:
    """Squared per-sample norms (float32) of one layer's trainable parameters in one micro-batch."""
    if len(recs) == 1:
        a, g, scale = recs[0]
        return _at_least_f32(rule.norm2(module, a, g)) * (scale * scale)
    acc: dict[str, torch.Tensor] = {}  # the layer ran more than once: sum the per-sample grads
    for a, g, scale in recs:
        for k, v in rule.per_sample(module, a, g).items():
            if getattr(module, k).requires_grad:
                v = _at_least_f32(v) * scale
                acc[k] = acc[k] + v if k in acc else v
    return sum(v.reshape(v.shape[0], -1).pow(2).sum(1) for v in acc.values())


# --------------------------------------------------------------------------------------------
# The book-keeper
# --------------------------------------------------------------------------------------------


class BookKeeper:
    """Attach book-keeping clipping to every trainable layer of ``model``.

    Parameters
    ----------
    model:
        The model; every module owning trainable parameters must have a rule
        (:func:`rule_problem` returns ``None``), else :class:`PrivacyInputError`.
    loss_reduction:
        ``"mean"`` (the loss is a mean over the batch; output gradients are rescaled by the
        batch size to recover per-sample gradients, as Opacus does) or ``"sum"``. With gradient
        accumulation the loss of each micro-batch is a mean over that micro-batch.
    max_grad_norm:
        The clipping norm ``C`` used when a micro-batch is absorbed at the start of the next
        forward pass (the DP optimizer sets it); :meth:`clipped_sum` takes it explicitly.

    Attributes
    ----------
    last_norms, last_clip_factors:
        Float32 per-sample gradient norms and clip factors of the last completed logical step,
        concatenated over its micro-batches in order (``None`` before the first step).
    """

    def __init__(self, model: nn.Module, *, loss_reduction: str = "mean",
                 max_grad_norm: float | None = None) -> None:
        if loss_reduction not in ("mean", "sum"):
            raise PrivacyInputError(
                f"The 'loss_reduction' parameter must be 'mean' or 'sum'; got {loss_reduction!r}."
            )
        self.loss_reduction = loss_reduction
        self.max_grad_norm = max_grad_norm
        #: every clipped sum is multiplied by this (the DP optimizer folds its division by the
        #: expected batch size in here); the norms and clip factors are not
        self.sum_scale = 1.0
        self.model = model
        self._layers: dict[str, tuple[nn.Module, _Rule]] = {}
        problems = []
        skip = aliases(model, lambda m: rule_problem(m) is None)
        for name, module in model.named_modules():
            if not _trainable_names(module) or name in skip:
                continue
            problem = rule_problem(module)
            if problem is not None:
                problems.append(f"{name or '<root>'} ({type(module).__name__}): {problem}")
                continue
            rule = rule_for(module)
            self._layers[name] = (module, rule)
        if problems:
            raise PrivacyInputError(
                "Book-keeping clipping cannot handle these layers: " + "; ".join(problems)
                + ". Use mode='auto' to fall back to Opacus, or replace the layers."
            )
        self._tied = find_tied(self._layers)
        self._filled: dict[int, _Pass] = {}  # forward passes with records, by forward order
        self._passes = 0
        self._pass = _Pass(list(self._layers), self, 0)
        self._backward: tuple[object, set[int]] | None = None  # passes recorded by this backward
        self._problem: str | None = None  # why the pending records cannot be clipped
        self._failed: str | None = None  # why the logical step in progress cannot be used
        self._outside: set[str] = set()  # parameters that got a gradient outside their layer
        self._batchnorms = batchnorms(model)
        self._running: dict[nn.Parameter, torch.Tensor] = {}  # clipped sums absorbed so far
        self._norms: list[torch.Tensor] = []
        self._factors: list[torch.Tensor] = []
        self.last_norms: torch.Tensor | None = None
        self.last_clip_factors: torch.Tensor | None = None
        for name, (module, rule) in self._layers.items():
            module.forward = types.MethodType(_make_forward(self, name, rule), module)
        self._pre_hook = model.register_forward_pre_hook(self._new_pass, with_kwargs=True)
        # our Functions never return a weight gradient: autograd computing one means the
        # parameter was used outside its layer, with no per-sample book-keeping
        self._param_hooks = [
            p.register_hook(functools.partial(self._used_outside, n))
            for n, p in model.named_parameters() if p.requires_grad
        ]

    # -- life cycle -------------------------------------------------------------------------
    def _new_pass(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        """A forward pass with gradients starts: absorb finished micro-batches, new slots.

        The slots learn the pass's batch size (the first dimension of the model's first tensor
        input) so that an input shared by the whole batch, such as the ``[1, T]`` position ids
        Hugging Face models build by default, is expanded to one row per sample: its gradient
        would otherwise arrive summed over the batch, with no per-sample gradient left in it.
        """
        n = _batch_size_of(args, kwargs)
        if torch.is_grad_enabled():
            refuse_batchnorm_in_training(self._batchnorms)
            if self._filled or self._problem is not None or self._outside:
                self.absorb()
            self._backward = None  # a backward that raised left no callback
            self._passes += 1
            self._pass = _Pass(list(self._layers), self, self._passes, n)
        for slot in self._pass.slots.values():  # no_grad passes record nothing: size only
            slot.batch_size = n

    def _recorded(self, rec_pass: _Pass) -> None:
        """A record of ``rec_pass`` arrived (in a backward pass): group the passes each backward
        fills, to refuse one backward over several forward passes (:func:`several_passes`)."""
        self._filled.setdefault(rec_pass.order, rec_pass)
        if self._backward is None:
            token = object()
            self._backward = (token, set())
            try:
                torch.autograd.Variable._execution_engine.queue_callback(
                    functools.partial(self._backward_done, token))
            except RuntimeError:  # not inside a backward pass: no grouping
                self._backward = None
                return
        self._backward[1].add(rec_pass.order)

    def _backward_done(self, token: object) -> None:
        if self._backward is None or self._backward[0] is not token:
            return
        orders, self._backward = self._backward[1], None
        if len(orders) > 1 and self._problem is None:
            self._problem = several_passes(len(orders))

    def _used_outside(self, name: str, grad: torch.Tensor | None) -> None:
        if grad is not None:  # autograd calls the hook with None when only our Functions ran
            self._outside.add(name)

    def _refuse_unsafe(self) -> None:
        """Raise (and drop the pending records) if they cannot be clipped per sample."""
        problem = self._problem
        if self._outside:
            problem = used_outside(sorted(self._outside))
        if problem is None:
            for rec_pass in self._filled.values():
                problem = problem or rows_not_samples(rec_pass, self._layers)
        if problem is not None:
            self.clear()
            raise PrivacyInputError(problem)

    def pending(self) -> bool:
        """Whether a backward pass recorded something not yet absorbed."""
        return bool(self._filled)

    def clear(self) -> None:
        """Drop the pending records (not what was already absorbed)."""
        for p in self._filled.values():
            p.clear()
        self._filled.clear()
        self._problem, self._outside = None, set()

    def reset(self) -> None:
        """Drop everything of the logical step in progress: records, running sums, norms."""
        self.clear()
        self._running = {}
        self._norms, self._factors = [], []
        self._failed = None

    def detach(self) -> None:
        """Restore the original forwards and remove hooks."""
        for module, _ in self._layers.values():
            if "forward" in module.__dict__:
                del module.forward
        self._pre_hook.remove()
        for h in self._param_hooks:
            h.remove()
        self._param_hooks = []
        self.reset()

    @property
    def layers(self) -> list[tuple[str, str]]:
        """``(name, type)`` of every layer handled."""
        return [(n, type(m).__name__) for n, (m, _) in self._layers.items()]

    @property
    def tied(self) -> list[tuple[str, ...]]:
        """The tied trainable parameters: for each, its owners as ``"layer.attribute"`` names."""
        return [tuple(f"{n}.{k}" if n else k for n, k in g.owners) for g in self._tied]

    # -- one micro-batch ----------------------------------------------------------------------
    def _records(self, rec_pass: _Pass) -> Records:
        """Per layer: ``(module, rule, [(activation, output grad, scale), ...])``; ``scale`` turns
        the output grad of a mean-reduced loss into that of each sample's own loss (the
        micro-batch size, as Opacus does) and is folded into the norms and clip factors instead of
        copying ``g``."""
        out: Records = {}
        for name, (module, rule) in self._layers.items():
            recs = [
                (a, g, float(g.shape[0]) if self.loss_reduction == "mean" else 1.0)
                for a, g in rec_pass.slots[name].records
                if g.shape[0] > 0  # an empty Poisson batch contributes nothing
            ]
            out[name] = (module, rule, recs)
        return out

    def _norms_of(self, records: Records) -> torch.Tensor | None:
        """Per-sample gradient norms (float32) of one micro-batch's records."""
        total = None
        for module, rule, recs in records.values():
            if recs:
                n2 = _module_norm2(module, rule, recs)
                total = n2 if total is None else total + n2.to(total.device)
        for group in self._tied:
            cross = cross_norm2(group, records)
            if cross is not None and total is not None:
                total = total + cross.to(total.device)
        return None if total is None else total.float().clamp(min=0.0).sqrt()

    def per_sample_norms(self) -> torch.Tensor | None:
        """Per-sample gradient norms (float32) of the pending records, concatenated over pending
        micro-batches (``None`` if nothing is pending)."""
        self._refuse_unsafe()
        with torch.no_grad():
            passes = [self._filled[k] for k in sorted(self._filled)]
            norms = [n for p in passes if (n := self._norms_of(self._records(p))) is not None]
        return torch.cat(norms) if norms else None

    def _absorb_pass(self, rec_pass: _Pass, max_grad_norm: float) -> None:
        records = self._records(rec_pass)
        norms = self._norms_of(records)
        if norms is None:
            return
        c = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        self._norms.append(norms)
        self._factors.append(c)
        running = self._running
        weights = c * self.sum_scale if self.sum_scale != 1.0 else c
        factors: dict[tuple[Any, float], torch.Tensor] = {}  # by (device, scale): made once
        for name, (module, rule, recs) in records.items():
            # a layer's records go as soon as its sums are in: the memory they free is what
            # the next layers' sums (and noise drawn late, :class:`_Sums`) take
            held, recs[:] = list(recs), []
            rec_pass.slots[name].records.clear()
            for a, g, scale in held:
                cs = factors.get((g.device, scale))
                if cs is None:
                    cs = weights.to(g.device) * scale if scale != 1.0 else weights.to(g.device)
                    factors[(g.device, scale)] = cs
                # the running sums the rule adds into itself; the others it returns
                into = {k: running[p] for k in _trainable_names(module) if (p := getattr(module, k)) in running}
                for k, v in rule.add_clipped_sum(module, a, g, cs, into).items():
                    p = getattr(module, k)
                    if p in running:  # a parameter this layer shares with one absorbed above
                        running[p].add_(v)
                    else:  # a fresh tensor the rule made: kept without a copy when float32
                        running[p] = v if v.dtype == _acc_dtype(p) else v.to(_acc_dtype(p))
            del held  # (the loop's a and g are rebound by the next layer's first record)

    def absorb(self, max_grad_norm: float | None = None) -> None:
        """Clip and sum the pending micro-batches into the running sums; drop their records."""
        C = self.max_grad_norm if max_grad_norm is None else max_grad_norm
        if C is None:
            raise PrivacyInputError(
                "A second forward pass started before optimizer.step() and the book-keeper does "
                "not know the clipping norm: create it with max_grad_norm=..., or use it through "
                "the DP optimizer (make_private)."
            )
        if self._failed is not None:
            self.clear()
            raise PrivacyInputError(self._failed)
        self._refuse_unsafe()  # (a refusal drops the records and leaves the sums as they were)
        kept = len(self._norms)
        try:
            with torch.no_grad():
                for k in sorted(self._filled):
                    self._absorb_pass(self._filled[k], C)
        except BaseException as exc:
            # records are dropped as their sums go in, and a running sum may hold part of a
            # micro-batch: nothing of this logical step may be used any more (a retried step
            # would silently lack this micro-batch), until zero_grad drops it (:meth:`reset`)
            del self._norms[kept:], self._factors[kept:]
            self._failed = (
                f"Clipping of this step's micro-batches stopped ({type(exc).__name__}), so its "
                "records are gone and its sums are incomplete. Call optimizer.zero_grad(), "
                "which drops the step's partial sums, and run the step's batches again."
            )
            raise
        finally:
            self.clear()

    @property
    def failed(self) -> bool:
        """Whether clipping stopped midway in the logical step in progress (it is unusable
        until :meth:`reset`)."""
        return self._failed is not None

    # -- the logical step ---------------------------------------------------------------------
    def clipped_sum(
        self, max_grad_norm: float, *, end_step: bool = True, into: dict[nn.Parameter, torch.Tensor] | None = None
    ) -> dict[nn.Parameter, torch.Tensor]:
        """Clip each sample's gradient to ``max_grad_norm`` and sum, over every micro-batch since
        the last call; consumes the records and the running sums.

        Returns ``{param: clipped summed gradient}`` for every trainable parameter, float32 (float64
        for a float64 parameter): zeros for an empty batch or a layer that took no part.
        ``end_step=False`` keeps the norms for :attr:`last_norms` of a logical step that goes on
        (Opacus's skipped steps). ``into``: tensors (shaped and typed as the sums) the sums are
        added into and returned as, e.g. the step's noise: no second tensor per parameter. A value
        of ``into`` may also be a function returning that tensor, called when the first layer
        owning the parameter is summed (after the layers before it freed their records).
        """
        before = dict(self._running)
        self._running = _Sums(before, into or {})  # the rules add this step's sums into these
        try:
            self.absorb(max_grad_norm)
        except BaseException:
            self._running = before  # the refused step's buffers are not kept
            raise
        running, self._running = self._running, {}
        out: dict[nn.Parameter, torch.Tensor] = {}
        for module, _ in self._layers.values():
            for name in _trainable_names(module):
                p = getattr(module, name)
                if p not in out:
                    out[p] = running[p] if p in running else torch.zeros(
                        p.shape, dtype=_acc_dtype(p), device=p.device)
        for p in into or {}:  # a parameter no layer owns: its noise alone
            if p not in out:
                out[p] = running[p]
        if end_step:
            self.end_step()
        return out

    def end_step(self) -> None:
        """Close the logical step: :attr:`last_norms` and :attr:`last_clip_factors` from its
        micro-batches (empty for an empty batch)."""
        if self._norms:
            self.last_norms = torch.cat([n.to(self._norms[0].device) for n in self._norms])
            self.last_clip_factors = torch.cat([c.to(self._norms[0].device) for c in self._factors])
        else:
            self.last_norms = torch.zeros(0)
            self.last_clip_factors = torch.zeros(0)
        self._norms, self._factors = [], []


def _at_least_f32(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _acc_dtype(p: torch.Tensor) -> torch.dtype:
    """Clipped sums are accumulated in float32 (float64 for a float64 parameter)."""
    return torch.promote_types(p.dtype, torch.float32)
