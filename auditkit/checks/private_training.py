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

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
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


class PrivateTrainingOptions(CheckOptions):
    """``[checks.private_training]`` in ``audit.toml``."""

    ledger: str | None = None
    dataset_id: str | None = None
    attack: list[str] = Field(default_factory=list)
    max_epsilon: float = Field(default=10.0, gt=0)
    deidentification_epsilon: float = Field(default=1.0, gt=0)
    max_private_auc: float = Field(default=0.6, gt=0.5, le=1)
    note: str | None = None


def _r(x: Any, nd: int = 4) -> Any:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return x
    return round(v, nd) if math.isfinite(v) else None


def _ledger_files(ctx: AuditContext, options: PrivateTrainingOptions) -> list[Path]:
    from auditkit.privacy.dp import BudgetLedger

    p = ctx.resolve(options.ledger)
    if p.is_dir():
        if options.dataset_id:  # the ledger's own normalisation of the id finds its one file
            return [BudgetLedger(p, options.dataset_id).path]
        return sorted(x for x in p.glob("*.json"))
    return [p]


def _ledger_keyring(ctx: AuditContext) -> Any:
    """The key ring of ``[keys]`` (it authenticates the ledgers), or ``None``."""
    keys = getattr(ctx.config, "keys", None)  # None: a context built without a config
    if keys is None or not keys.keyring:
        return None
    from auditkit.privacy.crypto import KeyRing

    return KeyRing.load_from_env(ctx.resolve(keys.keyring), keys.passphrase_env)


def _budget_findings(ctx: AuditContext, options: PrivateTrainingOptions) -> tuple[list[Finding], list[dict[str, Any]]]:
    from auditkit.privacy.dp import BudgetLedger

    findings: list[Finding] = []
    summaries: list[dict[str, Any]] = []
    files = _ledger_files(ctx, options)
    ring = _ledger_keyring(ctx)
    if not files:
        raise FileNotFoundError(f"No budget ledger (*.json) in {ctx.resolve(options.ledger)}.")
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"The budget ledger {path} named in [checks.private_training] does not exist.")
        led = BudgetLedger.from_file(path, keyring=ring)
        s = led.summary()
        runs = led.runs()
        summaries.append({**s, "runs_detail": runs})
        ds = s["dataset_id"]
        rows = []
        problems: list[str] = []
        warn: list[str] = []
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
            rows.append([
                r.run_id, r.status, rec.get("started_at"), rec.get("finished_at"), rec.get("model_id"),
                rec.get("mode"), _r(rec["noise_multiplier"]), _r(rec["sample_rate"], 6), r.steps,
                r.planned_steps, _r(rec.get("max_grad_norm")), rec["delta"], rec["accountant"],
                _r(r.epsilon), bool(rec.get("secure_mode")),
            ])
        notes = []  # stated in the finding; they do not change its status
        if s.get("authenticated"):
            notes.append("The ledger's MAC under the key ring verified.")
        else:
            notes.append(
                "The ledger is not authenticated (no MAC under a key ring), so an edit by "
                "someone who can write its folder would go unnoticed; record runs with "
                "make_private(..., keyring=...) or BudgetLedger.adopt."
            )
        if s.get("accountant_note"):
            notes.append(str(s["accountant_note"]))
        total = s["epsilon_total"]
        cap = s["max_epsilon"]
        if cap is not None and total > cap + 1e-9:
            problems.append(f"the total ε={total:.3f} exceeds the ledger's cap {cap:g}")
        if total > options.max_epsilon:
            problems.append(f"the total ε={total:.3f} exceeds the audit policy's max_epsilon={options.max_epsilon:g}")
        last = runs[-1].record if runs else {}
        status = Status.FAIL if problems else (Status.WARN if warn else Status.PASS)
        used = f"{total:.3f}" + (f" of the cap ε={cap:g} ({s['epsilon_remaining']:.3f} remaining)" if cap is not None else " (no cap set on the ledger)")
        summary = (
            f"Dataset {ds!r}: {s['runs']} recorded training run(s), {s['steps']} DP-SGD steps in all. "
            f"Composed by the {s['accountant'].upper()} accountant over the combined history, they "
            f"spend ε={used} at δ={s['delta']:.3g}. "
            + (f"Last run: noise multiplier {last.get('noise_multiplier', 0):.4g}, sample rate "
               f"{last.get('sample_rate', 0):.4g}, {last.get('steps', 0)} steps, per-sample clipping "
               f"norm {last.get('max_grad_norm')}, mode {last.get('mode')}. " if runs else "")
            + ("; ".join(problems + warn) + "." if problems or warn else
               f"Within the audit policy's max_epsilon={options.max_epsilon:g}.")
            + " " + " ".join(notes)
        )
        findings.append(
            Finding(
                check_id="private_training.budget",
                title=f"Differential-privacy budget of dataset {ds}",
                status=status,
                severity=Severity.HIGH if problems else (Severity.MEDIUM if warn else Severity.INFO),
                summary=summary,
                metrics={
                    "epsilon": _r(total),
                    "delta": s["delta"],
                    "accountant": s["accountant"],
                    "noise_multiplier": _r(last.get("noise_multiplier")),
                    "sample_rate": _r(last.get("sample_rate"), 6),
                    "steps": s["steps"],
                    "max_grad_norm": _r(last.get("max_grad_norm")),
                    "secure_mode": bool(last.get("secure_mode")) if runs else None,
                    "runs": s["runs"],
                    "budget_cap": cap,
                    "budget_used": _r(total),
                    "budget_remaining": _r(s["epsilon_remaining"]),
                    "policy_max_epsilon": options.max_epsilon,
                },
                tables=(
                    Table(
                        f"Training runs recorded in the budget ledger ({path.name})",
                        ["run", "status", "started", "finished", "model", "clipping mode", "noise σ",
                         "sample rate q", "steps", "planned steps", "clip norm C", "δ", "accountant",
                         "ε (this run)", "secure mode"],
                        rows,
                        note="ε per run is that run alone; the total composes all runs' histories "
                        "(it is not the sum). A run still 'running' counts at its planned steps.",
                    ),
                ),
                regulations=ctx.cite(*BUDGET_TOPICS),
                remediation=(
                    "Stop training on this dataset, or raise the policy only with a documented "
                    "justification; retrain with more noise or fewer epochs."
                    if problems else (
                        "Close or resume the runs recorded as running; use δ below 1/n."
                        if warn else None)
                ),
            )
        )
        insecure = [r.run_id for r in runs if not r.record.get("secure_mode")]
        findings.append(
            Finding(
                check_id="private_training.secure_noise",
                title=f"Secure noise generation (dataset {ds})",
                status=Status.WARN if insecure else Status.PASS,
                severity=Severity.LOW if insecure else Severity.INFO,
                summary=(
                    f"{len(insecure)} of {len(runs)} run(s) drew noise and batches from PyTorch's "
                    "pseudo-random generator (secure_mode off). Fine for experiments; floating-point "
                    "and seed attacks on the noise are possible, so the model to deploy should be "
                    "trained with secure_mode=True."
                    if insecure else
                    "Every run drew noise and batches from a cryptographically secure generator."
                ),
                metrics={"runs": len(runs), "runs_without_secure_mode": len(insecure)},
                regulations=ctx.cite(*NOISE_TOPICS),
                remediation="Retrain the production model with make_private(..., secure_mode=True) "
                "(needs torchcsprng)." if insecure else None,
            )
        )
    return findings, summaries


def _attack_finding(ctx: AuditContext, options: PrivateTrainingOptions) -> tuple[Finding, list[Any]]:
    from auditkit.privacy.dp import load_attack_results

    results: list[Any] = []
    notes: list[str] = []
    for name in options.attack:
        res, meta = load_attack_results(ctx.resolve(name))
        results.extend(res)
        if meta.get("note"):
            notes.append(str(meta["note"]))
    rows = []
    refuted, leaky = [], []
    for r in results:
        private = r.claimed_epsilon is not None
        if private and r.epsilon_lower_bound > r.claimed_epsilon:
            refuted.append(r)
        if private and r.auc > options.max_private_auc:
            leaky.append(r)
        rows.append([
            r.label or "model", "yes" if private else "no", _r(r.claimed_epsilon), _r(r.auc),
            _r(r.epsilon_lower_bound), r.confidence, r.n_members, r.n_nonmembers,
            _r(r.member_loss_mean), _r(r.nonmember_loss_mean),
        ])
    parts = []
    for r in results:
        what = f"private, claimed ε={r.claimed_epsilon:.3f}" if r.claimed_epsilon is not None else "non-private"
        parts.append(
            f"{r.label or 'model'} ({what}): attack AUC {r.auc:.3f}, empirical ε ≥ "
            f"{r.epsilon_lower_bound:.2f} at {r.confidence:.0%} confidence"
        )
    status = Status.FAIL if refuted else (Status.WARN if leaky else Status.PASS)
    verdict = (
        "The attack refutes the claimed ε of " + ", ".join(r.label for r in refuted)
        + ": the accounting or the implementation is wrong." if refuted else
        ("A private model's attack AUC exceeds " f"{options.max_private_auc:g}." if leaky else
         "No private model leaks more than its claimed ε allows; a lower bound cannot prove "
         "privacy, the accounting does.")
    )
    summary = (
        "Loss-threshold membership inference on training (member) vs held-out examples. "
        + "; ".join(parts) + ". " + verdict + (" " + " ".join(notes) if notes else "")
    )
    finding = Finding(
        check_id="private_training.membership_inference",
        title="Membership-inference attack on the trained models",
        status=status,
        severity=Severity.HIGH if refuted else (Severity.MEDIUM if leaky else Severity.INFO),
        summary=summary,
        metrics={
            **{f"auc[{r.label or i}]": _r(r.auc) for i, r in enumerate(results)},
            **{f"epsilon_lower_bound[{r.label or i}]": _r(r.epsilon_lower_bound) for i, r in enumerate(results)},
        },
        tables=(
            Table(
                "Membership-inference attack results",
                ["model", "private", "claimed ε", "attack AUC", "empirical ε lower bound",
                 "confidence", "members", "non-members", "mean loss (members)",
                 "mean loss (non-members)"],
                rows,
                note="AUC 0.5 = members and non-members indistinguishable by loss. The lower bound "
                "uses Clopper-Pearson intervals on a held-out half, with the threshold chosen on "
                "the other half (Jagielski et al. 2020).",
            ),
        ),
        regulations=ctx.cite(*ATTACK_TOPICS),
        remediation="Audit the DP implementation and accounting; do not rely on the claimed ε."
        if refuted else ("Retrain with more noise (smaller ε)." if leaky else None),
    )
    return finding, results


def _deid_finding(
    summaries: list[dict[str, Any]], attacks: list[Any], options: PrivateTrainingOptions,
    regulations: tuple[str, ...],
) -> Finding:
    eps = max((s["epsilon_total"] for s in summaries), default=None)
    private_attacks = [a for a in attacks if a.claimed_epsilon is not None]
    consistent = all(a.epsilon_lower_bound <= a.claimed_epsilon for a in private_attacks)
    if eps is None:
        status, text = Status.INSUFFICIENT_EVIDENCE, "No budget ledger was given, so no ε backs a de-identification claim."
    elif eps <= options.deidentification_epsilon and consistent:
        status = Status.PASS
        text = (
            f"The model was trained with ε={eps:.3f} ≤ {options.deidentification_epsilon:g}"
            + (" and the membership-inference attack is consistent with it" if private_attacks else "")
            + ": strong evidence that the model does not reveal whether any one person's record "
            "was used. This supports, but does not by itself settle, treating the model as "
            "not containing personal data (identifiability is judged by the means reasonably "
            "likely to be used)."
        )
    else:
        status = Status.WARN
        text = (
            f"The model was trained with ε={eps:.3f}, above the {options.deidentification_epsilon:g} "
            "this audit accepts for a de-identification claim"
            + ("" if consistent else ", and the attack contradicts the claimed ε")
            + ". The guarantee limits what the model reveals about any one record, but do not "
            "describe the model as anonymous: treat it as derived from personal data."
        )
    return Finding(
        check_id="private_training.deidentification",
        title="Does the evidence support a de-identification claim for the model?",
        status=status,
        severity=Severity.MEDIUM if status == Status.WARN else Severity.INFO,
        summary=text,
        metrics={"epsilon": _r(eps), "deidentification_epsilon": options.deidentification_epsilon},
        regulations=regulations,
        remediation="Lower ε (more noise, fewer epochs, more data) before claiming the model is "
        "de-identified." if status == Status.WARN else None,
    )


def run(ctx: AuditContext, options: PrivateTrainingOptions) -> CheckResult:
    if not options.ledger and not options.attack:
        return CheckResult(
            findings=[
                Finding(
                    check_id="private_training.evidence",
                    title="Differentially private training evidence",
                    status=Status.NOT_APPLICABLE,
                    severity=Severity.INFO,
                    summary="No budget ledger or attack results are named in "
                    "[checks.private_training] (keys 'ledger' and 'attack'), so there is no "
                    "private-training evidence to assess.",
                )
            ],
            summary="No private-training evidence configured.",
        )
    findings: list[Finding] = []
    summaries: list[dict[str, Any]] = []
    attacks: list[Any] = []
    if options.ledger:
        f, summaries = _budget_findings(ctx, options)
        findings.extend(f)
    if options.attack:
        f2, attacks = _attack_finding(ctx, options)
        findings.append(f2)
    findings.append(_deid_finding(summaries, attacks, options, ctx.cite(*DEID_TOPICS)))
    eps = ", ".join(f"{s['dataset_id']}: ε={s['epsilon_total']:.3f}" for s in summaries)
    return CheckResult(
        findings=findings,
        summary=(f"Privacy budget spent ({eps}). " if eps else "")
        + (f"{len(attacks)} membership-inference result(s)." if attacks else ""),
    )


def demo(demo_ctx: Any) -> dict[str, Any]:
    """Train a non-private and a DP (ε=3) MLP on the demo data; attack both.

    Uses the numeric features (standardised) and the label; 2,000 training rows at most
    (subsampled for speed; the finding says so) and as many held-out rows as non-members.
    """
    import shutil
    import time

    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from auditkit.privacy.dp import make_private, membership_inference, save_attack_results

    started = time.perf_counter()
    out = Path(demo_ctx.out_dir) / "dp"
    if out.exists():  # the demo regenerates its data, so its ledger starts afresh too
        shutil.rmtree(out)
    out.mkdir(parents=True)
    df = demo_ctx.data
    feats = list(getattr(demo_ctx, "numeric_features", None) or demo_ctx.features)
    rng = np.random.default_rng(demo_ctx.random_state)
    if "split" in df.columns:
        train_idx = np.flatnonzero((df["split"] == "train").to_numpy())
        test_idx = np.flatnonzero((df["split"] != "train").to_numpy())
    else:
        perm = rng.permutation(len(df))
        train_idx, test_idx = perm[: len(df) // 2], perm[len(df) // 2 :]
    n = int(min(DEMO_MAX_MEMBERS, len(train_idx), len(test_idx)))
    members = rng.choice(train_idx, n, replace=False)
    nonmembers = rng.choice(test_idx, n, replace=False)
    X = df[feats].to_numpy(dtype="float32")
    mu, sd = X[members].mean(0), X[members].std(0) + 1e-6
    X = (X - mu) / sd
    y = df[demo_ctx.label].to_numpy().astype("int64")
    Xm, ym = torch.from_numpy(X[members]), torch.from_numpy(y[members])
    Xo, yo = torch.from_numpy(X[nonmembers]), torch.from_numpy(y[nonmembers])
    torch.manual_seed(demo_ctx.random_state)
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: threads only add contention

    def mlp() -> nn.Module:
        return nn.Sequential(nn.Linear(len(feats), 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                             nn.Linear(128, 2))

    try:
        # Non-private baseline, trained to memorise (full-batch Adam, many epochs).
        plain = mlp()
        opt = torch.optim.Adam(plain.parameters(), lr=3e-3)
        for _ in range(DEMO_PLAIN_STEPS):
            opt.zero_grad()
            nn.functional.cross_entropy(plain(Xm), ym).backward()
            opt.step()
        # DP model at ε=3 on the same members, with the budget ledger under out_dir.
        dp_model = mlp()
        private = make_private(
            dp_model, torch.optim.SGD(dp_model.parameters(), lr=0.5, momentum=0.5),
            DataLoader(TensorDataset(Xm, ym), batch_size=200), target_epsilon=3.0,
            epochs=DEMO_DP_EPOCHS, max_grad_norm=1.0, ledger=out / "ledger",
            dataset_id="demo-applications", max_epsilon=8.0, device="cpu",
        )
        from auditkit.privacy.dp import fit

        fit(private, DEMO_DP_EPOCHS, progress=False)
        private.close()
        res = [
            membership_inference(plain, (Xm, ym), (Xo, yo), label="non-private MLP"),
            membership_inference(dp_model, (Xm, ym), (Xo, yo), label="DP MLP (target ε=3)",
                                 delta=private.delta, claimed_epsilon=private.epsilon),
        ]
        with torch.no_grad():
            acc = {
                "non-private": float((plain(Xo).argmax(1) == yo).float().mean()),
                "DP": float((dp_model(Xo).argmax(1) == yo).float().mean()),
            }
    finally:
        torch.set_num_threads(prev_threads)
    note = (
        f"Demo: {n} training rows (subsampled from {len(train_idx)} for speed) as members and "
        f"{n} held-out rows as non-members; numeric features only ({', '.join(feats)}). "
        f"Held-out accuracy: non-private {acc['non-private']:.3f}, DP {acc['DP']:.3f}. "
        f"Trained in {time.perf_counter() - started:.1f} s."
    )
    save_attack_results(out / "attack.json", res, note=note)
    return {
        "ledger": "dp/ledger/demo-applications.json",
        "attack": ["dp/attack.json"],
        "max_epsilon": 10.0,
    }


DEMO_MAX_MEMBERS = 2000
DEMO_PLAIN_STEPS = 300
DEMO_DP_EPOCHS = 15


SPEC = register_check(
    CheckSpec(
        id="private_training",
        section="private_training",
        section_title="Private training",
        title="Differentially private training: budget and empirical privacy",
        options=PrivateTrainingOptions,
        run=run,
        requires=(),
        regulations=get_catalogue().on_topics((*BUDGET_TOPICS, *NOISE_TOPICS, *ATTACK_TOPICS, *DEID_TOPICS)),
        demo=demo,
        order=10,
        description="The DP budget ledger (ε, δ, accountant, noise, sample rate, steps, clipping, "
        "budget used and remaining) and a membership-inference attack on the trained models.",
    )
)
