"""The private-training check: the DP budget ledger and the membership-inference evidence.

Reads what :mod:`auditkit.privacy.dp` wrote: a budget ledger (one JSON file per dataset) and attack
results (``auditkit.privacy.dp.save_attack_results``), both named in ``[checks.private_training]``.

Findings
--------
- ``private_training.budget``: total ε (the accountant's composition over every recorded run),
  δ, accountant, noise multiplier, sample rate, steps, clipping norm, budget used and remaining;
  ``fail`` above the policy's ``max_epsilon`` or the ledger's cap, ``warn`` when a run is still
  recorded as running (counted at its planned steps) or δ is not below 1/n.
- ``private_training.secure_noise``: whether noise and sampling came from a cryptographically
  secure generator (``secure_mode``); ``warn`` when not.
- ``private_training.membership_inference``: loss-threshold attack AUC and the empirical ε lower
  bound per model; ``fail`` when a private model's lower bound exceeds its claimed ε (the claim
  is refuted), ``warn`` when a private model's attack AUC is well above 0.5.
- ``private_training.deidentification``: whether the evidence supports treating the trained
  model as not carrying the training records (GDPR Recital 26); ``pass`` only at small ε with a
  consistent attack, ``warn`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from auditkit.checks._findings import FindingSpec, rounded
from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.errors import ConfigError
from auditkit.reports import Finding, Severity, Status, Table
from auditkit.reports.catalogue import get_catalogue

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext

# Catalogue topics each finding cites (auditkit.reports.catalogue.TOPICS), resolved by ctx.cite to
# the provisions in the audit's scope. "privacy-training" is GDPR Arts. 25(1) and 32(1)(a) and
# NIST MEASURE 2.10; "privacy-attack" adds AI Act Art. 15(5), which names confidentiality attacks
# (membership inference is one); 15(4), errors and faults, is not addressed by this evidence.
BUDGET_TOPICS = ("privacy-training",)
NOISE_TOPICS = ("privacy-training",)
ATTACK_TOPICS = ("privacy-attack",)
DEID_TOPICS = ("de-identification",)

NO_EVIDENCE = FindingSpec("private_training.evidence", "Differentially private training evidence",
                          severity=Severity.INFO)
BUDGET = FindingSpec("private_training.budget", "Differential-privacy budget", BUDGET_TOPICS)
SECURE_NOISE = FindingSpec("private_training.secure_noise", "Secure noise generation",
                           NOISE_TOPICS, Severity.LOW, pass_severity=Severity.INFO,
                           problem_status=Status.WARN,
                           remediation="Retrain the production model with make_private(..., "
                           "secure_mode=True) (needs torchcsprng).")
MEMBERSHIP = FindingSpec("private_training.membership_inference",
                         "Membership-inference attack on the trained models", ATTACK_TOPICS)
DEIDENTIFICATION = FindingSpec(
    "private_training.deidentification",
    "Does the evidence support a de-identification claim for the model?", DEID_TOPICS,
    Severity.MEDIUM, pass_severity=Severity.INFO, problem_status=Status.WARN,
    remediation="Lower ε (more noise, fewer epochs, more data) before claiming the model is "
    "de-identified.",
)


class PrivateTrainingOptions(CheckOptions):
    """``[checks.private_training]`` in ``audit.toml``."""

    ledger: str | None = None
    dataset_id: str | None = None
    attack: list[str] = Field(default_factory=list)
    max_epsilon: float = Field(default=10.0, gt=0)
    deidentification_epsilon: float = Field(default=1.0, gt=0)
    max_private_auc: float = Field(default=0.6, gt=0.5, le=1)
    note: str | None = None


def _ledger_files(ctx: AuditContext, options: PrivateTrainingOptions) -> list[Path]:
    """The ledger files ``ledger`` names (a file, or a folder: the one of ``dataset_id``, else
    every ``*.json``); a name that leads to no file raises :class:`ConfigError`."""
    from auditkit.privacy.dp import BudgetLedger

    p = ctx.resolve(options.ledger)
    if p.is_dir():
        if options.dataset_id:  # the ledger's own normalisation of the id finds its one file
            files = [BudgetLedger(p, options.dataset_id).path]
        else:
            files = sorted(x for x in p.glob("*.json"))
    else:
        files = [p]
    if not files:
        raise ConfigError(
            f"No budget ledger (*.json) in {p}, the folder [checks.private_training] ledger "
            "names; name a ledger file, or the folder make_private(..., ledger=...) wrote.")
    for path in files:
        if not path.is_file():
            raise ConfigError(
                f"The budget ledger {path} named in [checks.private_training] does not exist; "
                "fix the path (ledger, dataset_id) or record a run with make_private(..., "
                "ledger=...).")
    return files


def _ledger_keyring(ctx: AuditContext) -> Any:
    """The key ring of ``[keys]`` (it authenticates the ledgers), or ``None``."""
    keys = getattr(ctx.config, "keys", None)  # None: a context built without a config
    if keys is None or not keys.keyring:
        return None
    from auditkit.privacy.crypto import KeyRing

    return KeyRing.load_from_env(ctx.resolve(keys.keyring), keys.passphrase_env)


@dataclass(frozen=True)
class _LedgerRead:
    """One budget ledger as read: its file, its summary (``BudgetLedger.summary``) and runs."""

    path: Path
    summary: dict[str, Any]
    runs: list[Any]

    @property
    def last(self) -> dict[str, Any]:
        """The last run's record (empty when no run is recorded)."""
        return self.runs[-1].record if self.runs else {}


def _read_ledgers(ctx: AuditContext, options: PrivateTrainingOptions) -> list[_LedgerRead]:
    from auditkit.privacy.dp import BudgetLedger

    files = _ledger_files(ctx, options)
    ring = _ledger_keyring(ctx)
    out = []
    for path in files:
        ledger = BudgetLedger.from_file(path, keyring=ring)
        out.append(_LedgerRead(path, ledger.summary(), ledger.runs()))
    return out


def _run_warnings(runs: list[Any]) -> list[str]:
    """Runs whose δ is not below 1/n, and runs still recorded as running."""
    warn = []
    for r in runs:
        rec = r.record
        n = rec.get("dataset_size")
        if n and rec["delta"] >= 1.0 / n:
            warn.append(f"run {r.run_id} used δ={rec['delta']:.3g}, not below 1/n={1 / n:.3g}")
        if r.status == "running":
            warn.append(
                f"run {r.run_id} is still recorded as running (in progress, or it crashed); it "
                f"is counted at its {r.planned_steps} planned steps"
            )
    return warn


def _run_row(run: Any) -> list[Any]:
    rec = run.record
    return [
        run.run_id, run.status, rec.get("started_at"), rec.get("finished_at"), rec.get("model_id"),
        rec.get("mode"), rounded(rec["noise_multiplier"]), rounded(rec["sample_rate"], 6),
        run.steps, run.planned_steps, rounded(rec.get("max_grad_norm")), rec["delta"],
        rec["accountant"], rounded(run.epsilon), bool(rec.get("secure_mode")),
    ]


def _runs_table(ledger: _LedgerRead) -> Table:
    rows = [_run_row(r) for r in ledger.runs]
    return Table(
        f"Training runs recorded in the budget ledger ({ledger.path.name})",
        ["run", "status", "started", "finished", "model", "clipping mode", "noise σ",
         "sample rate q", "steps", "planned steps", "clip norm C", "δ", "accountant",
         "ε (this run)", "secure mode"],
        rows,
        note="ε per run is that run alone; the total composes all runs' histories "
        "(it is not the sum). A run still 'running' counts at its planned steps.",
    )


def _ledger_notes(summary: dict[str, Any]) -> list[str]:
    """What the finding states about the ledger itself (its status does not depend on it)."""
    if summary.get("authenticated"):
        notes = ["The ledger's MAC under the key ring verified."]
    else:
        notes = ["The ledger is not authenticated (no MAC under a key ring), so an edit by "
                 "someone who can write its folder would go unnoticed; record runs with "
                 "make_private(..., keyring=...) or BudgetLedger.adopt."]
    if summary.get("accountant_note"):
        notes.append(str(summary["accountant_note"]))
    return notes


def _budget_problems(summary: dict[str, Any], max_epsilon: float) -> list[str]:
    """The total ε over the ledger's cap or the audit policy's ``max_epsilon``."""
    total, cap = summary["epsilon_total"], summary["max_epsilon"]
    problems = []
    if cap is not None and total > cap + 1e-9:
        problems.append(f"the total ε={total:.3f} exceeds the ledger's cap {cap:g}")
    if total > max_epsilon:
        problems.append(f"the total ε={total:.3f} exceeds the audit policy's "
                        f"max_epsilon={max_epsilon:g}")
    return problems


def _budget_summary(ledger: _LedgerRead, problems: list[str], warn: list[str],
                    max_epsilon: float) -> str:
    s, last = ledger.summary, ledger.last
    cap = s["max_epsilon"]
    used = f"{s['epsilon_total']:.3f}" + (
        f" of the cap ε={cap:g} ({s['epsilon_remaining']:.3f} remaining)" if cap is not None
        else " (no cap set on the ledger)")
    last_run = (
        f"Last run: noise multiplier {last.get('noise_multiplier', 0):.4g}, sample rate "
        f"{last.get('sample_rate', 0):.4g}, {last.get('steps', 0)} steps, per-sample clipping "
        f"norm {last.get('max_grad_norm')}, mode {last.get('mode')}. " if ledger.runs else "")
    verdict = ("; ".join(problems + warn) + "." if problems or warn else
               f"Within the audit policy's max_epsilon={max_epsilon:g}.")
    return (f"Dataset {s['dataset_id']!r}: {s['runs']} recorded training run(s), {s['steps']} "
            f"DP-SGD steps in all. Composed by the {s['accountant'].upper()} accountant over the "
            f"combined history, they spend ε={used} at δ={s['delta']:.3g}. " + last_run + verdict
            + " " + " ".join(_ledger_notes(s)))


def _budget_metrics(ledger: _LedgerRead, max_epsilon: float) -> dict[str, Any]:
    s, last = ledger.summary, ledger.last
    return {
        "epsilon": rounded(s["epsilon_total"]),
        "delta": s["delta"],
        "accountant": s["accountant"],
        "noise_multiplier": rounded(last.get("noise_multiplier")),
        "sample_rate": rounded(last.get("sample_rate"), 6),
        "steps": s["steps"],
        "max_grad_norm": rounded(last.get("max_grad_norm")),
        "secure_mode": bool(last.get("secure_mode")) if ledger.runs else None,
        "runs": s["runs"],
        "budget_cap": s["max_epsilon"],
        "budget_used": rounded(s["epsilon_total"]),
        "budget_remaining": rounded(s["epsilon_remaining"]),
        "policy_max_epsilon": max_epsilon,
    }


def _budget_finding(ctx: AuditContext, ledger: _LedgerRead, max_epsilon: float) -> Finding:
    """``private_training.budget``: ``fail`` over a cap, ``warn`` on a run's δ or state."""
    problems = _budget_problems(ledger.summary, max_epsilon)
    warn = _run_warnings(ledger.runs)
    if problems:
        status, severity = Status.FAIL, Severity.HIGH
        remediation = ("Stop training on this dataset, or raise the policy only with a "
                       "documented justification; retrain with more noise or fewer epochs.")
    elif warn:
        status, severity = Status.WARN, Severity.MEDIUM
        remediation = "Close or resume the runs recorded as running; use δ below 1/n."
    else:
        status, severity, remediation = Status.PASS, Severity.INFO, None
    return BUDGET.make(
        ctx, status, _budget_summary(ledger, problems, warn, max_epsilon), severity=severity,
        title=f"Differential-privacy budget of dataset {ledger.summary['dataset_id']}",
        metrics=_budget_metrics(ledger, max_epsilon), tables=(_runs_table(ledger),),
        remediation=remediation)


def _secure_noise_finding(ctx: AuditContext, ledger: _LedgerRead) -> Finding:
    """``private_training.secure_noise``: ``warn`` when a run drew noise without secure_mode."""
    runs = ledger.runs
    insecure = [r.run_id for r in runs if not r.record.get("secure_mode")]
    return SECURE_NOISE.judge(
        ctx, problem=bool(insecure),
        title=f"Secure noise generation (dataset {ledger.summary['dataset_id']})",
        summary=(
            f"{len(insecure)} of {len(runs)} run(s) drew noise and batches from PyTorch's "
            "pseudo-random generator (secure_mode off). Fine for experiments; floating-point "
            "and seed attacks on the noise are possible, so the model to deploy should be "
            "trained with secure_mode=True."
            if insecure else
            "Every run drew noise and batches from a cryptographically secure generator."
        ),
        metrics={"runs": len(runs), "runs_without_secure_mode": len(insecure)},
    )


def _attack_evidence(ctx: AuditContext, names: list[str]) -> tuple[list[Any], list[str]]:
    """The attack results in the files ``names``, and the notes saved with them."""
    from auditkit.privacy.dp import load_attack_results

    results: list[Any] = []
    notes: list[str] = []
    for name in names:
        res, meta = load_attack_results(ctx.resolve(name))
        results.extend(res)
        if meta.get("note"):
            notes.append(str(meta["note"]))
    return results, notes


def _attack_table(results: list[Any]) -> Table:
    rows = [[
        r.label or "model", "yes" if r.claimed_epsilon is not None else "no",
        rounded(r.claimed_epsilon), rounded(r.auc), rounded(r.epsilon_lower_bound), r.confidence,
        r.n_members, r.n_nonmembers, rounded(r.member_loss_mean), rounded(r.nonmember_loss_mean),
    ] for r in results]
    return Table(
        "Membership-inference attack results",
        ["model", "private", "claimed ε", "attack AUC", "empirical ε lower bound",
         "confidence", "members", "non-members", "mean loss (members)",
         "mean loss (non-members)"],
        rows,
        note="AUC 0.5 = members and non-members indistinguishable by loss. The lower bound "
        "uses Clopper-Pearson intervals on a held-out half, with the threshold chosen on "
        "the other half (Jagielski et al. 2020).",
    )


def _attack_finding(ctx: AuditContext, options: PrivateTrainingOptions) -> tuple[Finding, list[Any]]:
    """``private_training.membership_inference``: ``fail`` when the attack refutes a claimed ε,
    ``warn`` when a private model's AUC is over ``max_private_auc``; and the results."""
    results, notes = _attack_evidence(ctx, options.attack)
    private = [r for r in results if r.claimed_epsilon is not None]
    refuted = [r for r in private if r.epsilon_lower_bound > r.claimed_epsilon]
    leaky = [r for r in private if r.auc > options.max_private_auc]
    parts = []
    for r in results:
        what = f"private, claimed ε={r.claimed_epsilon:.3f}" if r.claimed_epsilon is not None else "non-private"
        parts.append(
            f"{r.label or 'model'} ({what}): attack AUC {r.auc:.3f}, empirical ε ≥ "
            f"{r.epsilon_lower_bound:.2f} at {r.confidence:.0%} confidence"
        )
    verdict = (
        "The attack refutes the claimed ε of " + ", ".join(r.label for r in refuted)
        + ": the accounting or the implementation is wrong." if refuted else
        ("A private model's attack AUC exceeds " f"{options.max_private_auc:g}." if leaky else
         "No private model leaks more than its claimed ε allows; a lower bound cannot prove "
         "privacy, the accounting does.")
    )
    finding = MEMBERSHIP.make(
        ctx, Status.FAIL if refuted else (Status.WARN if leaky else Status.PASS),
        "Loss-threshold membership inference on training (member) vs held-out examples. "
        + "; ".join(parts) + ". " + verdict + (" " + " ".join(notes) if notes else ""),
        severity=Severity.HIGH if refuted else (Severity.MEDIUM if leaky else Severity.INFO),
        metrics={
            **{f"auc[{r.label or i}]": rounded(r.auc) for i, r in enumerate(results)},
            **{f"epsilon_lower_bound[{r.label or i}]": rounded(r.epsilon_lower_bound)
               for i, r in enumerate(results)},
        },
        tables=(_attack_table(results),),
        remediation="Audit the DP implementation and accounting; do not rely on the claimed ε."
        if refuted else ("Retrain with more noise (smaller ε)." if leaky else None),
    )
    return finding, results


def _deid_finding(ctx: AuditContext, ledgers: list[_LedgerRead], attacks: list[Any],
                  options: PrivateTrainingOptions) -> Finding:
    """``private_training.deidentification``: ``pass`` only at small ε with a consistent attack."""
    eps = max((ledger.summary["epsilon_total"] for ledger in ledgers), default=None)
    private_attacks = [a for a in attacks if a.claimed_epsilon is not None]
    consistent = all(a.epsilon_lower_bound <= a.claimed_epsilon for a in private_attacks)
    metrics = {"epsilon": rounded(eps), "deidentification_epsilon": options.deidentification_epsilon}
    if eps is None:
        return DEIDENTIFICATION.make(
            ctx, Status.INSUFFICIENT_EVIDENCE,
            "No budget ledger was given, so no ε backs a de-identification claim.",
            severity=Severity.INFO, metrics=metrics)
    if eps <= options.deidentification_epsilon and consistent:
        text = (
            f"The model was trained with ε={eps:.3f} ≤ {options.deidentification_epsilon:g}"
            + (" and the membership-inference attack is consistent with it" if private_attacks else "")
            + ": strong evidence that the model does not reveal whether any one person's record "
            "was used. This supports, but does not by itself settle, treating the model as "
            "not containing personal data (identifiability is judged by the means reasonably "
            "likely to be used)."
        )
        return DEIDENTIFICATION.judge(ctx, problem=False, summary=text, metrics=metrics)
    text = (
        f"The model was trained with ε={eps:.3f}, above the {options.deidentification_epsilon:g} "
        "this audit accepts for a de-identification claim"
        + ("" if consistent else ", and the attack contradicts the claimed ε")
        + ". The guarantee limits what the model reveals about any one record, but do not "
        "describe the model as anonymous: treat it as derived from personal data."
    )
    return DEIDENTIFICATION.judge(ctx, problem=True, summary=text, metrics=metrics)


def run(ctx: AuditContext, options: PrivateTrainingOptions) -> CheckResult:
    """Judge the budget ledgers and the attack results (see the module docstring)."""
    if not options.ledger and not options.attack:
        return CheckResult(
            findings=[NO_EVIDENCE.make(
                ctx, Status.NOT_APPLICABLE,
                "No budget ledger or attack results are named in [checks.private_training] "
                "(keys 'ledger' and 'attack'), so there is no private-training evidence to "
                "assess.")],
            summary="No private-training evidence configured.",
        )
    findings: list[Finding] = []
    ledgers = _read_ledgers(ctx, options) if options.ledger else []
    for ledger in ledgers:
        findings += [_budget_finding(ctx, ledger, options.max_epsilon),
                     _secure_noise_finding(ctx, ledger)]
    attacks: list[Any] = []
    if options.attack:
        attack, attacks = _attack_finding(ctx, options)
        findings.append(attack)
    findings.append(_deid_finding(ctx, ledgers, attacks, options))
    eps = ", ".join(f"{ledger.summary['dataset_id']}: ε={ledger.summary['epsilon_total']:.3f}"
                    for ledger in ledgers)
    return CheckResult(
        findings=findings,
        summary=(f"Privacy budget spent ({eps}). " if eps else "")
        + (f"{len(attacks)} membership-inference result(s)." if attacks else ""),
    )


SPEC = register_check(CheckSpec(
    "private_training", "Differentially private training: budget and empirical privacy",
    PrivateTrainingOptions, run, order=10,
    regulations=get_catalogue().on_topics(
        (*BUDGET_TOPICS, *NOISE_TOPICS, *ATTACK_TOPICS, *DEID_TOPICS)),
    description="The DP budget ledger (ε, δ, accountant, noise, sample rate, steps, clipping, "
    "budget used and remaining) and a membership-inference attack on the trained models.",
    data_needs="none",
))
