"""Choosing how per-sample gradients are clipped (``mode=``), and checking layers.

Modes, fastest first (a registry, :data:`MODES`, like the accountants'; each entry says what
the mode wires, :mod:`auditkit.privacy.dp._wiring`):

- ``"bookkeeping"``: our book-keeping clipping (:mod:`auditkit.privacy.dp._clipping`): one backward
  pass, per-sample norms from activations and output gradients, clipped sum as a weighted
  matmul. Needs a rule for every layer with trainable parameters.
- ``"ghost"``: Opacus ghost clipping (two backward passes; norms without per-sample gradients
  for Linear and Embedding, per-sample gradients for the other layers Opacus knows).
- ``"hooks"``: Opacus hooks (per-sample gradients materialised; layers without an Opacus grad
  sampler go through functorch).
- ``"functorch"``: Opacus with functorch for every layer.

``mode="auto"`` takes the first that supports every trainable layer and records why.
:func:`register_mode` adds a mode (refusing to replace one silently); the CLI, the
validation of ``mode=`` and its messages read the names from :data:`MODES`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from auditkit.hints import did_you_mean
from auditkit.privacy.dp._wiring import (
    ModeWiring,
    WiredTraining,
    wire_bookkeeping,
    wire_ghost,
    wire_per_sample,
)
from auditkit.privacy.errors import PrivacyInputError
from auditkit.registry import Registry

__all__ = [
    "MODES",
    "ClippingMode",
    "LayerSurvey",
    "ModeDecision",
    "PreparedModel",
    "UnsupportedLayer",
    "check_layers",
    "decide_mode",
    "prepare_layers",
    "register_mode",
    "select_mode",
    "train_mode",
]


@dataclass(frozen=True)
class UnsupportedLayer:
    """A layer DP-SGD cannot train as it is, and what to do."""

    name: str
    type: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.name} ({self.type}): {self.problem} Fix: {self.fix}"


@dataclass(frozen=True)
class ModeDecision:
    """Which clipping mode was chosen and why (kept in the result and the ledger).

    ``fallbacks`` lists ``(layer, type, why)`` for every trainable layer that has no
    book-keeping rule, whatever the mode (empty when book-keeping covers every layer): the
    layers that make ``mode="auto"`` fall back to Opacus, and why.
    """

    mode: str
    reason: str
    layers: tuple[tuple[str, str], ...] = ()
    functorch_layers: tuple[str, ...] = ()
    replaced: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    fallbacks: tuple[tuple[str, str, str], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "reason": self.reason,
            "layers": [list(x) for x in self.layers],
            "functorch_layers": list(self.functorch_layers),
            "replaced": [list(x) for x in self.replaced],
            "fallbacks": [list(x) for x in self.fallbacks],
        }


FUNCTORCH_LAYERS = ("none", "unsampled", "all")
"""Which trainable layers a mode runs through functorch: none, those without an Opacus grad
sampler, or all of them."""


@dataclass(frozen=True)
class LayerSurvey:
    """The trainable layers of a model and what each clipping path can do with them.

    ``layers`` are ``(name, type)``; ``bookkeeping_problems`` ``(name, type, problem)`` for the
    layers without a book-keeping rule; ``no_sampler`` the names of the layers Opacus has no
    grad sampler for; ``ghost_tied`` the trainable parameters several modules share, one of them
    a layer Opacus ghost clipping computes norms for (``"wte.weight = lm_head.weight"``): it
    raises on them in the first pass, or clips them inexactly (:func:`._tied.ghost_tied`).
    """

    layers: tuple[tuple[str, str], ...]
    bookkeeping_problems: tuple[tuple[str, str, str], ...]
    no_sampler: tuple[str, ...]
    ghost_tied: tuple[str, ...] = ()

    @classmethod
    def of(cls, model) -> LayerSurvey:
        """Survey ``model`` (layers must already be valid for Opacus)."""
        from opacus.grad_sample import GradSampleModule

        from auditkit.privacy.dp._clipping import rule_problem
        from auditkit.privacy.dp._tied import aliases, ghost_tied

        layers = trainable_layers(model)
        if not layers:
            raise PrivacyInputError(
                "The model has no trainable parameters (requires_grad=True); there is nothing to "
                "train privately."
            )
        _refuse_parameter_containers(layers)
        # a module whose parameters all belong to a layer with a rule is not a layer of its own
        skip = {n or "<root>" for n in aliases(model, lambda m: rule_problem(m) is None)}
        problems = ((n, type(m).__name__, rule_problem(m)) for n, m in layers if n not in skip)
        return cls(
            layers=tuple((n, type(m).__name__) for n, m in layers if n not in skip),
            bookkeeping_problems=tuple(x for x in problems if x[2] is not None),
            no_sampler=tuple(n for n, m in layers if type(m) not in GradSampleModule.GRAD_SAMPLERS),
            ghost_tied=ghost_tied(layers),
        )

    @property
    def fallbacks(self) -> tuple[tuple[str, str, str], ...]:
        """``(layer, type, why)`` of the layers without a book-keeping rule
        (:attr:`ModeDecision.fallbacks`)."""
        return self.bookkeeping_problems

    def functorch_layers(self, which: str) -> tuple[str, ...]:
        """The layer names a mode with ``functorch=which`` runs through functorch."""
        if which == "all":
            return tuple(n for n, _ in self.layers)
        return self.no_sampler if which == "unsampled" else ()


def _ghost_refusal(survey: LayerSurvey) -> str | None:
    """Why Opacus ghost clipping cannot train the surveyed model (tied parameters), or None."""
    if not survey.ghost_tied:
        return None
    return (
        "mode='ghost' cannot train this model: Opacus ghost clipping does not support a parameter "
        f"shared by several layers (tied weights), and this model ties {'; '.join(survey.ghost_tied)}. "
        "Use mode='bookkeeping' (it computes a tied parameter's per-sample norm with the cross "
        "term), or mode='hooks', or leave mode='auto' to choose."
    )


def _refuse_parameter_containers(layers: list[tuple[str, object]]) -> None:
    """Refuse trainable parameters kept in a ParameterDict / ParameterList (PEFT's LoRA on an
    embedding: ``lora_embedding_A/B``): the parent layer uses them in its own forward, so no mode
    can clip them (book-keeping has no rule for the parent, Opacus hooks and functorch see no
    layer that runs them)."""
    from torch import nn

    bad = [n for n, m in layers if isinstance(m, (nn.ParameterDict, nn.ParameterList))]
    if not bad:
        return
    parents = sorted({n.rpartition(".")[0] or "<root>" for n in bad})
    peft = any(n.rpartition(".")[2].startswith("lora_embedding") for n in bad)
    fix = (
        "Leave the embedding out of LoRA's target_modules (LoraConfig(target_modules=[...]) without "
        "the embedding), or freeze these parameters."
        if peft
        else "Keep each trainable parameter in a layer that uses it in its own forward, or freeze them."
    )
    raise PrivacyInputError(
        f"Trainable parameters in {', '.join(bad)} are kept in a parameter container that the "
        f"layer(s) {', '.join(parents)} use in their own forward (for example PEFT LoRA on an "
        "embedding): no clipping mode can compute their per-sample gradients (book-keeping has no "
        f"rule for that layer, and Opacus's hooks and functorch see no layer that runs them). {fix}"
    )


def _bookkeeping_refusal(survey: LayerSurvey) -> str | None:
    if not survey.bookkeeping_problems:
        return None
    return (
        "mode='bookkeeping' cannot handle "
        + "; ".join(f"layer {n} ({t}): {p}" for n, t, p in survey.bookkeeping_problems)
        + ". Use mode='auto' to fall back to Opacus for this model."
    )


@dataclass(frozen=True)
class ClippingMode:
    """One way of clipping per-sample gradients: an entry of :data:`MODES`.

    Parameters
    ----------
    name:
        What ``mode=`` accepts.
    description:
        What runs, for the reason recorded when the mode is requested
        (``"requested: <description>."``).
    wire:
        ``wire(ModeWiring) -> WiredTraining``: builds the model, optimizer and loss the training
        loop uses (:mod:`auditkit.privacy.dp._wiring`).
    functorch:
        Which trainable layers go through functorch (:data:`FUNCTORCH_LAYERS`).
    refuse:
        ``refuse(LayerSurvey)``: why this mode cannot train a model (a message naming the
        layers and the fix), or ``None`` when it can.
    """

    name: str
    description: str
    wire: Callable[[ModeWiring], WiredTraining]
    functorch: str = "none"
    refuse: Callable[[LayerSurvey], str | None] | None = None

    def __post_init__(self) -> None:
        if self.functorch not in FUNCTORCH_LAYERS:
            raise PrivacyInputError(
                f"The 'functorch' of clipping mode {self.name!r} must be one of "
                f"{list(FUNCTORCH_LAYERS)}; got {self.functorch!r}.{did_you_mean(self.functorch, FUNCTORCH_LAYERS)}"
            )

    def requested(self, survey: LayerSurvey) -> ModeDecision:
        """The decision when this mode is asked for by name (refused if it cannot run)."""
        problem = self.refuse(survey) if self.refuse is not None else None
        if problem is not None:
            raise PrivacyInputError(problem)
        functorch = survey.functorch_layers(self.functorch)
        also = (
            f"; functorch for {', '.join(functorch)}"
            if self.functorch == "unsampled" and functorch
            else ""
        )
        return ModeDecision(
            self.name,
            f"requested: {self.description}{also}.",
            survey.layers,
            functorch_layers=functorch,
            fallbacks=survey.fallbacks,
        )


MODES: Registry[ClippingMode] = Registry(
    "clipping mode",
    PrivacyInputError,
    parameter="'mode' parameter of make_private",
    also=("auto",),
)
"""The clipping modes by name, fastest first (``mode="auto"`` chooses among the built-in ones)."""

AUTO = "auto"
_ALIASES = {"bk": "bookkeeping", "book-keeping": "bookkeeping", "fast": "bookkeeping"}


def register_mode(mode: ClippingMode, *, force: bool = False) -> None:
    """Add ``mode`` to :data:`MODES` under ``mode.name``; refuses to replace one silently."""
    if mode.name == AUTO or mode.name in _ALIASES:
        raise PrivacyInputError(
            f"The clipping mode name {mode.name!r} is reserved ('auto' and the aliases "
            f"{sorted(_ALIASES)}); register the mode under another name."
        )
    MODES.add(mode.name, mode, force=force)


for _mode in (
    ClippingMode(
        "bookkeeping", "book-keeping clipping", wire_bookkeeping, refuse=_bookkeeping_refusal
    ),
    ClippingMode("ghost", "Opacus ghost clipping", wire_ghost, functorch="unsampled",
                 refuse=_ghost_refusal),
    ClippingMode(
        "hooks",
        "Opacus hooks (per-sample gradients materialised)",
        functools.partial(wire_per_sample, grad_sample_mode="hooks"),
        functorch="unsampled",
    ),
    ClippingMode(
        "functorch",
        "Opacus with functorch for every layer",
        functools.partial(wire_per_sample, grad_sample_mode="functorch"),
        functorch="all",
    ),
):
    register_mode(_mode)
del _mode


def trainable_layers(model) -> list[tuple[str, object]]:
    """``(name, module)`` of every module that directly owns a trainable parameter."""
    return [
        (name or "<root>", m)
        for name, m in model.named_modules()
        if any(p.requires_grad for p in m.parameters(recurse=False))
    ]


def check_layers(model) -> list[UnsupportedLayer]:
    """Layers Opacus's validators refuse (BatchNorm, LSTM, ...), by name, with the fix."""
    from opacus.validators import ModuleValidator
    from torch import nn

    out = []
    for name, m in model.named_modules():
        frozen = not any(p.requires_grad for p in m.parameters())
        if frozen and isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None):
            out.append(_frozen_batchnorm(name or "<root>", m))
            continue
        validator = ModuleValidator.VALIDATORS.get(type(m))
        if validator is None or frozen:
            continue
        errors = validator(m)
        if not errors:
            continue
        problem = str(errors[0]).split(". ")[0].strip().rstrip(".") + "."
        if type(m) in ModuleValidator.FIXERS:
            fix = (
                "pass fix=True to replace it with Opacus's ModuleValidator.fix "
                "(e.g. BatchNorm becomes GroupNorm, LSTM becomes DPLSTM), or replace it yourself."
            )
        else:
            fix = "replace it with a layer that treats each sample independently."
        out.append(UnsupportedLayer(name or "<root>", type(m).__name__, problem, fix))
    return out


def _frozen_batchnorm(name: str, m) -> UnsupportedLayer:
    """A BatchNorm without trainable parameters still mixes samples when it normalises with the
    batch's statistics (training mode, or no running statistics)."""
    why = "is in training mode" if m.training else "keeps no running statistics (track_running_stats=False)"
    return UnsupportedLayer(
        name,
        type(m).__name__,
        f"its parameters are frozen but it {why}, so it normalises with the batch's statistics and "
        "each sample's output depends on the other samples.",
        "call .eval() on it after model.train() and before make_private (it then uses its running "
        "statistics; needs track_running_stats=True), or pass fix=True to replace it with GroupNorm.",
    )


def apply_fix(model) -> tuple[object, list[tuple[str, str, str]]]:
    """Opacus's ``ModuleValidator.fix``; returns the new model and ``(name, old, new)``."""
    from opacus.validators import ModuleValidator

    before = {n: type(m).__name__ for n, m in model.named_modules()}
    fixed = ModuleValidator.fix(model)
    after = {n: type(m).__name__ for n, m in fixed.named_modules()}
    replaced = [
        (n or "<root>", before[n], after[n]) for n in before if n in after and before[n] != after[n]
    ]
    return fixed, replaced


def select_mode(model, requested: str = "auto") -> ModeDecision:
    """Decide the clipping mode for ``model`` (layers must already be valid for Opacus)."""
    name = _ALIASES.get(requested, requested)
    if name == AUTO:
        return _choose_automatically(LayerSurvey.of(model))
    mode = MODES.lookup(name)
    return mode.requested(LayerSurvey.of(model))


def _choose_automatically(survey: LayerSurvey) -> ModeDecision:
    """``mode="auto"``: book-keeping when every layer has a rule, else ghost clipping when
    Opacus samples every layer, else hooks with functorch for the layers it cannot sample."""
    counts: dict[str, int] = {}
    for _, t in survey.layers:
        counts[t] = counts.get(t, 0) + 1
    summary = ", ".join(f"{t}×{c}" for t, c in counts.items())
    if not survey.bookkeeping_problems:
        return ModeDecision(
            "bookkeeping",
            f"every trainable layer ({summary}) has a book-keeping rule: one backward pass, "
            "norms from activations and output gradients, clipped sum as a weighted matmul.",
            survey.layers,
            fallbacks=survey.fallbacks,
        )
    why = "; ".join(f"{n} ({t}): {p}" for n, t, p in survey.bookkeeping_problems)
    if not survey.no_sampler and not survey.ghost_tied:
        return ModeDecision(
            "ghost",
            f"book-keeping does not cover {why}; Opacus ghost clipping supports every "
            "layer (two backward passes, no per-sample gradients for Linear/Embedding).",
            survey.layers,
            fallbacks=survey.fallbacks,
        )
    because = (
        f"Opacus has no grad sampler for {', '.join(survey.no_sampler)}, so Opacus hooks mode is "
        "used with functorch for those layers"
        if survey.no_sampler
        else f"Opacus ghost clipping refuses the tied {'; '.join(survey.ghost_tied)}, so Opacus "
        "hooks mode is used"
    )
    return ModeDecision(
        "hooks",
        f"book-keeping does not cover {why}; {because} (per-sample gradients materialised; "
        "slower, more memory).",
        survey.layers,
        functorch_layers=survey.no_sampler,
        fallbacks=survey.fallbacks,
    )


@dataclass(frozen=True)
class PreparedModel:
    """The model ready for DP-SGD: ``model`` to train, ``layers`` its unwrapped module (in
    training mode), ``optimizer`` over its parameters, and the layers ``fix=True`` replaced as
    ``(name, old type, new type)``."""

    model: object
    layers: object
    optimizer: object
    replaced: list[tuple[str, str, str]] = field(default_factory=list)


def train_mode(model) -> None:
    """``model.train()``, except that a BatchNorm with frozen parameters the user put in eval
    mode stays in eval mode: in training mode it would normalise with the batch's statistics and
    mix samples (:func:`check_layers` refuses it then), in eval mode it uses its running ones."""
    from torch import nn

    keep = [
        m for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.training
        and not any(p.requires_grad for p in m.parameters(recurse=False))
    ]
    model.train()
    for m in keep:
        m.eval()


def prepare_layers(model, optimizer, *, fix: bool) -> PreparedModel:
    """Refuse layers DP-SGD cannot train, or replace them with ``fix=True`` (rebuilding the
    optimizer on the new parameters). A model wrapped for distributed training is checked
    under its wrapper."""
    from auditkit.privacy.dp._distributed import unwrap

    layers = unwrap(model)
    if not layers.training:
        train_mode(layers)
    unsupported = check_layers(layers)
    if not unsupported:
        return PreparedModel(model, layers, optimizer)
    if not fix:
        raise PrivacyInputError(
            "The model has layers DP-SGD cannot train as they are: "
            + "; ".join(str(u) for u in unsupported)
        )
    if len(optimizer.param_groups) != 1:
        raise PrivacyInputError(
            "fix=True replaces layers and must rebuild the optimizer on the new parameters, "
            "which it can only do for an optimizer with one parameter group. Call "
            "opacus.validators.ModuleValidator.fix(model) yourself, then build the optimizer."
        )
    layers, replaced = apply_fix(layers)
    settings = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    optimizer = type(optimizer)(layers.parameters(), **settings)
    left = check_layers(layers)
    if left:
        raise PrivacyInputError(
            "After fix=True these layers are still unsupported: "
            + "; ".join(str(u) for u in left)
        )
    return PreparedModel(layers, layers, optimizer, replaced)


def decide_mode(prepared: PreparedModel, requested: str) -> ModeDecision:
    """:func:`select_mode` for the prepared model, recording the layers ``fix=True`` replaced."""
    decision = select_mode(prepared.layers, requested)
    if not prepared.replaced:
        return decision
    return dataclasses.replace(decision, replaced=tuple(prepared.replaced))
