"""Choosing how per-sample gradients are clipped (``mode=``), and checking layers.

Modes, fastest first (a registry: :data:`MODES`):

- ``"bookkeeping"``: our book-keeping clipping (:mod:`auditkit.privacy.dp._clipping`): one backward
  pass, per-sample norms from activations and output gradients, clipped sum as a weighted
  matmul. Needs a rule for every layer with trainable parameters.
- ``"ghost"``: Opacus ghost clipping (two backward passes; norms without per-sample gradients
  for Linear and Embedding, per-sample gradients for the other layers Opacus knows).
- ``"hooks"``: Opacus hooks (per-sample gradients materialised; layers without an Opacus grad
  sampler go through functorch).
- ``"functorch"``: Opacus with functorch for every layer.

``mode="auto"`` takes the first that supports every trainable layer and records why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditkit.privacy.errors import PrivacyInputError

__all__ = ["MODES", "ModeDecision", "UnsupportedLayer", "check_layers", "select_mode"]


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
    """Which clipping mode was chosen and why (kept in the result and the ledger)."""

    mode: str
    reason: str
    layers: tuple[tuple[str, str], ...] = ()
    functorch_layers: tuple[str, ...] = ()
    replaced: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "reason": self.reason,
            "layers": [list(x) for x in self.layers],
            "functorch_layers": list(self.functorch_layers),
            "replaced": [list(x) for x in self.replaced],
        }


MODES = ("bookkeeping", "ghost", "hooks", "functorch")
_ALIASES = {"bk": "bookkeeping", "book-keeping": "bookkeeping", "fast": "bookkeeping"}


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

    out = []
    for name, m in model.named_modules():
        validator = ModuleValidator.VALIDATORS.get(type(m))
        if validator is None:
            continue
        if not any(p.requires_grad for p in m.parameters()):
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


def apply_fix(model) -> tuple[object, list[tuple[str, str, str]]]:
    """Opacus's ``ModuleValidator.fix``; returns the new model and ``(name, old, new)``."""
    from opacus.validators import ModuleValidator

    before = {n: type(m).__name__ for n, m in model.named_modules()}
    fixed = ModuleValidator.fix(model)
    after = {n: type(m).__name__ for n, m in fixed.named_modules()}
    replaced = [
        (n or "<root>", before[n], after[n])
        for n in before
        if n in after and before[n] != after[n]
    ]
    return fixed, replaced


def select_mode(model, requested: str = "auto") -> ModeDecision:
    """Decide the clipping mode for ``model`` (layers must already be valid for Opacus)."""
    from opacus.grad_sample import GradSampleModule

    from auditkit.privacy.dp._clipping import rule_problem

    req = _ALIASES.get(requested, requested)
    if req not in MODES and req != "auto":
        import difflib

        close = difflib.get_close_matches(str(requested), [*MODES, "auto"], n=1)
        raise PrivacyInputError(
            f"The 'mode' parameter of make_private must be 'auto' or one of {list(MODES)}; got "
            f"{requested!r}." + (f" Did you mean {close[0]!r}?" if close else "")
        )
    layers = trainable_layers(model)
    if not layers:
        raise PrivacyInputError(
            "The model has no trainable parameters (requires_grad=True); there is nothing to "
            "train privately."
        )
    kinds = tuple((n, type(m).__name__) for n, m in layers)
    bk_problems = [(n, type(m).__name__, rule_problem(m)) for n, m in layers]
    bk_problems = [x for x in bk_problems if x[2] is not None]
    no_sampler = tuple(n for n, m in layers if type(m) not in GradSampleModule.GRAD_SAMPLERS)

    if req == "bookkeeping" and bk_problems:
        raise PrivacyInputError(
            "mode='bookkeeping' cannot handle "
            + "; ".join(f"layer {n} ({t}): {p}" for n, t, p in bk_problems)
            + ". Use mode='auto' to fall back to Opacus for this model."
        )
    if req == "auto":
        counts: dict[str, int] = {}
        for _, t in kinds:
            counts[t] = counts.get(t, 0) + 1
        summary = ", ".join(f"{t}×{c}" for t, c in counts.items())
        if not bk_problems:
            return ModeDecision(
                "bookkeeping",
                f"every trainable layer ({summary}) has a book-keeping rule: one backward pass, "
                "norms from activations and output gradients, clipped sum as a weighted matmul.",
                kinds,
            )
        why = "; ".join(f"{n} ({t}): {p}" for n, t, p in bk_problems)
        if not no_sampler:
            return ModeDecision(
                "ghost",
                f"book-keeping does not cover {why}; Opacus ghost clipping supports every "
                "layer (two backward passes, no per-sample gradients for Linear/Embedding).",
                kinds,
            )
        return ModeDecision(
            "hooks",
            f"book-keeping does not cover {why}; Opacus has no grad sampler for "
            f"{', '.join(no_sampler)}, so Opacus hooks mode is used with functorch for those "
            "layers (per-sample gradients materialised; slower, more memory).",
            kinds,
            functorch_layers=no_sampler,
        )
    reasons = {
        "bookkeeping": "requested: book-keeping clipping.",
        "ghost": "requested: Opacus ghost clipping.",
        "hooks": "requested: Opacus hooks (per-sample gradients materialised)"
        + (f"; functorch for {', '.join(no_sampler)}." if no_sampler else "."),
        "functorch": "requested: Opacus with functorch for every layer.",
    }
    ft = tuple(n for n, _ in layers) if req == "functorch" else (no_sampler if req == "hooks" else ())
    if req == "ghost" and no_sampler:
        ft = no_sampler
    return ModeDecision(req, reasons[req], kinds, functorch_layers=ft)
