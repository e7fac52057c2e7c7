"""Empirical privacy check: a loss-threshold membership-inference attack.

The attacker guesses "member" when the model's loss on an example is below a threshold
(Yeom et al. 2018). We report

- the attack AUC over members (training examples) and non-members (held-out examples); 0.5
  means the losses do not tell them apart;
- an empirical lower bound on ε: an (ε, δ)-DP training run forces every threshold test to
  satisfy ``TPR <= e^ε FPR + δ`` and ``1 - FPR <= e^ε (1 - TPR) + δ`` (Kairouz et al. 2015), so
  a measured (TPR, FPR) pair implies ``ε >= log((TPR - δ) / FPR)``. To be a *statistical*
  bound, the threshold is chosen on one half of the examples and (TPR, FPR) are replaced by
  Clopper-Pearson bounds on the other half (Jagielski et al. 2020, Nasr et al. 2021): the bound
  holds with the stated confidence. It is a lower bound: a small value does not prove privacy;
  a value above the claimed ε proves the claim (or its accounting) wrong.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from auditkit.privacy.errors import PrivacyInputError

__all__ = [
    "AttackResult",
    "empirical_epsilon",
    "load_attack_results",
    "membership_inference",
    "per_example_losses",
    "save_attack_results",
]


@dataclass(frozen=True)
class AttackResult:
    """Outcome of one membership-inference attack."""

    auc: float
    epsilon_lower_bound: float
    confidence: float
    delta: float
    n_members: int
    n_nonmembers: int
    threshold_tpr: float
    threshold_fpr: float
    member_loss_mean: float
    nonmember_loss_mean: float
    label: str = ""
    claimed_epsilon: float | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AttackResult:
        names = {f for f in cls.__dataclass_fields__}
        missing = [k for k in ("auc", "epsilon_lower_bound") if k not in d]
        if missing:
            raise PrivacyInputError(f"An attack result lacks {missing}; it was not written by save_attack_results.")
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        from auditkit.atomic import atomic_write_text

        p = Path(path)
        atomic_write_text(p, json.dumps(self.to_dict(), indent=2) + "\n")
        return p


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score_pos > score_neg) + 0.5 P(tie) (Mann-Whitney), scores = -loss."""
    from scipy.stats import rankdata

    scores = np.concatenate([pos, neg])
    ranks = rankdata(scores)
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _cp_lower(k: int, n: int, alpha: float) -> float:
    from scipy.stats import beta

    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


def _cp_upper(k: int, n: int, alpha: float) -> float:
    from scipy.stats import beta

    return 1.0 if k == n else float(beta.ppf(1 - alpha, k + 1, n - k))


def empirical_epsilon(
    member_scores: np.ndarray,
    nonmember_scores: np.ndarray,
    *,
    delta: float = 0.0,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Statistical lower bound on ε from attack scores (higher score = "member").

    Returns ``(epsilon_lower_bound, tpr, fpr)`` where tpr/fpr are the empirical rates of the
    chosen threshold on the evaluation half.
    """
    rng = np.random.default_rng(seed)
    m = rng.permutation(np.asarray(member_scores, float))
    o = rng.permutation(np.asarray(nonmember_scores, float))
    m_sel, m_ev = m[: len(m) // 2], m[len(m) // 2 :]
    o_sel, o_ev = o[: len(o) // 2], o[len(o) // 2 :]
    alpha = (1 - confidence) / 2  # two one-sided bounds (TPR and FPR) -> union bound

    def bound(tp: int, n_pos: int, fp: int, n_neg: int) -> float:
        tpr_lo = _cp_lower(tp, n_pos, alpha)
        fpr_hi = _cp_upper(fp, n_neg, alpha)
        best = 0.0
        if tpr_lo - delta > 0 and fpr_hi > 0:
            best = max(best, math.log((tpr_lo - delta) / fpr_hi))
        # the complementary test: guess "member" when the score is *below* the threshold
        tnr_lo = _cp_lower(n_neg - fp, n_neg, alpha)
        fnr_hi = _cp_upper(n_pos - tp, n_pos, alpha)
        if tnr_lo - delta > 0 and fnr_hi > 0:
            best = max(best, math.log((tnr_lo - delta) / fnr_hi))
        return best

    # choose the threshold on the selection half (no confidence bounds needed there)
    cands = np.unique(np.concatenate([m_sel, o_sel]))
    if len(cands) > 200:
        cands = np.quantile(np.concatenate([m_sel, o_sel]), np.linspace(0.005, 0.995, 200))
    best_t, best_val = None, -1.0
    for t in cands:
        tp, fp = int((m_sel >= t).sum()), int((o_sel >= t).sum())
        val = bound(tp, len(m_sel), fp, len(o_sel))
        if val > best_val:
            best_t, best_val = t, val
    if best_t is None or len(m_ev) == 0 or len(o_ev) == 0:
        return 0.0, float("nan"), float("nan")
    tp, fp = int((m_ev >= best_t).sum()), int((o_ev >= best_t).sum())
    return bound(tp, len(m_ev), fp, len(o_ev)), tp / len(m_ev), fp / len(o_ev)


def per_example_losses(model: Any, inputs: Any, targets: Any, *, batch_size: int = 1024) -> np.ndarray:
    """Cross-entropy loss of each example (the model in eval mode, no gradients)."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    out = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch_size):
            x = torch.as_tensor(inputs[i : i + batch_size]).to(device)
            y = torch.as_tensor(targets[i : i + batch_size]).to(device)
            logits = model(x)
            out.append(F.cross_entropy(logits, y, reduction="none").cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0)


def membership_inference(
    model: Any = None,
    members: tuple[Any, Any] | None = None,
    nonmembers: tuple[Any, Any] | None = None,
    *,
    member_losses: Any = None,
    nonmember_losses: Any = None,
    delta: float = 0.0,
    confidence: float = 0.95,
    label: str = "",
    claimed_epsilon: float | None = None,
    seed: int = 0,
) -> AttackResult:
    """Run the loss-threshold attack on training (``members``) vs held-out examples.

    Give either ``model`` with ``members=(X, y)`` and ``nonmembers=(X, y)``, or the
    per-example losses directly (``member_losses``, ``nonmember_losses``).
    Use as many members as non-members, drawn from the same distribution.
    """
    if member_losses is None or nonmember_losses is None:
        if model is None or members is None or nonmembers is None:
            raise PrivacyInputError(
                "membership_inference needs either model, members=(X, y) and nonmembers=(X, y), "
                "or member_losses and nonmember_losses."
            )
        member_losses = per_example_losses(model, *members)
        nonmember_losses = per_example_losses(model, *nonmembers)
    ml = np.asarray(member_losses, float)
    nl = np.asarray(nonmember_losses, float)
    if len(ml) < 20 or len(nl) < 20:
        raise PrivacyInputError(
            f"membership_inference needs at least 20 members and 20 non-members; got {len(ml)} "
            f"and {len(nl)}. Hold out more examples."
        )
    if not (np.isfinite(ml).all() and np.isfinite(nl).all()):
        raise PrivacyInputError("membership_inference got non-finite losses; check the model outputs.")
    if not 0 < confidence < 1:
        raise PrivacyInputError(f"The 'confidence' parameter must be in (0, 1); got {confidence!r}.")
    auc = _auc(-ml, -nl)
    eps_lb, tpr, fpr = empirical_epsilon(-ml, -nl, delta=delta, confidence=confidence, seed=seed)
    return AttackResult(
        auc=auc,
        epsilon_lower_bound=eps_lb,
        confidence=confidence,
        delta=delta,
        n_members=len(ml),
        n_nonmembers=len(nl),
        threshold_tpr=tpr,
        threshold_fpr=fpr,
        member_loss_mean=float(ml.mean()),
        nonmember_loss_mean=float(nl.mean()),
        label=label,
        claimed_epsilon=claimed_epsilon,
    )


ATTACK_FORMAT = "auditkit.dp.attack"


def save_attack_results(path: str | os.PathLike[str], results: list[AttackResult], **meta: Any) -> Path:
    """Write attack results (and any notes in ``meta``) as one JSON file, atomically."""
    from auditkit.atomic import atomic_write_text

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": ATTACK_FORMAT, "version": 1, **meta, "results": [r.to_dict() for r in results]}
    atomic_write_text(p, json.dumps(doc, indent=2) + "\n")
    return p


def load_attack_results(path: str | os.PathLike[str]) -> tuple[list[AttackResult], dict[str, Any]]:
    """Read a file written by :func:`save_attack_results`: ``(results, meta)``."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrivacyInputError(f"The attack results file {p} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PrivacyInputError(f"The attack results file {p} is not readable JSON ({exc}).") from None
    if not isinstance(doc, dict) or doc.get("format") != ATTACK_FORMAT or not isinstance(doc.get("results"), list):
        raise PrivacyInputError(
            f"The file {p} is not an attack results file (expected format {ATTACK_FORMAT!r} "
            "with a 'results' list)."
        )
    results = [AttackResult.from_dict(r) for r in doc["results"]]
    meta = {k: v for k, v in doc.items() if k not in ("format", "version", "results")}
    return results, meta
