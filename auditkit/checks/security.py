"""The security check: which artifacts of the audit are encrypted at rest, how, under which key.

It inspects the dataset, the model, the key ring, any further files listed in
``[checks.security] artifacts`` (encrypted copies, exports) and the reports this run writes.
For each it records whether it is encrypted with ``auditkit.privacy.crypto`` (read from the file's
header, no key needed), the algorithm and the key id; when the key ring opens (its passphrase
in the environment variable ``passphrase_env``), every encrypted artifact is also fully
authenticated, in constant memory.

Findings
--------
- ``security.dataset_at_rest``: the audited dataset is encrypted (``pass``), or stored in clear
  while it holds personal data (``warn``; ``fail`` with ``require_encryption``). "Personal" is
  the audit's one classification (``AuditContext.personal_data``): the columns the scope counts
  and the data-protection inventory lists, protected attributes included.
- ``security.model_at_rest``: the model file is encrypted or not (``warn``, low: models can
  leak training data through inversion and membership inference).
- ``security.key_ring``: how the key ring is protected (KEK, file mode, key ages).
- ``security.artifacts_at_rest``: the files listed in ``artifacts`` and those earlier checks of
  this run wrote (figures aside); ``fail`` when one does not
  authenticate (altered, truncated, or not under this ring).
- ``security.reports_at_rest``: the reports of this run are written in clear and hold no
  personal-data values (the runner's leak guard); how to encrypt them for storage.

Regulations: GDPR Art. 32(1)(a) (pseudonymisation and encryption), Art. 34(3)(a) (no need to
notify data subjects of a breach of data made unintelligible by encryption), Art. 5(1)(f)
(integrity and confidentiality), CCPA §1798.150(a)(1) (the private right of action applies to
"nonencrypted and nonredacted" personal information).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.checks._artifact_inventory import (
    COLUMNS,
    Inventory,
    KeyringAccess,
    StoredArtifact,
    display_path,
    open_keyring,
    take_inventory,
)
from auditkit.checks._findings import Cites, FindingSpec
from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.reports import Finding, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext
    from auditkit.privacy.crypto import KeyRing

# The provisions each finding bears on. The catalogue's "security" topic spans more than any one
# finding does, so each finding cites its own provisions of that topic (``FindingSpec.provisions``),
# those the audit's scope covers.
SECURITY = ("security",)
REGS_ENCRYPTION = ("gdpr-art-32-1-a", "gdpr-art-34-3-a", "ccpa-1798-150-a-1")
REGS_INTEGRITY = ("gdpr-art-5-1-f", "gdpr-art-32-1-a")
REGS_CONFIDENTIALITY = (*REGS_ENCRYPTION, "gdpr-art-5-1-f")


class SecurityOptions(CheckOptions):
    """``[checks.security]``."""

    keyring: str | None = None
    """Key ring file; default ``[keys] keyring``."""
    passphrase_env: str | None = None
    """Variable holding the ring's passphrase; default ``[keys] passphrase_env``."""
    artifacts: list[str] = []
    """Further files to inventory (paths relative to audit.toml)."""
    require_encryption: bool = False
    """Fail, rather than warn, when the dataset holds personal data in clear."""
    verify: bool = True
    """Authenticate every encrypted artifact when the ring opens."""
    max_key_age_days: int = 365
    """Warn when the primary key is older than this (rotate with `auditkit keys rotate`)."""


@dataclass(frozen=True)
class _InScope:
    """The audit's legal scope as the security findings use it: :meth:`cite` as the context
    does, and :attr:`ids`, the security provisions that apply (for sentences naming them)."""

    ctx: Cites
    ids: frozenset[str]

    @classmethod
    def of(cls, ctx: Cites) -> _InScope:
        return cls(ctx, frozenset(ctx.cite(*SECURITY)))

    def cite(self, *topics: str) -> tuple[str, ...]:
        return self.ctx.cite(*topics)


@dataclass(frozen=True)
class _StoredFindings:
    """The findings of one stored artifact (the dataset or the model) that is encrypted."""

    not_authentic: FindingSpec
    encrypted: FindingSpec

    @classmethod
    def of(cls, check_id: str, what: str) -> _StoredFindings:
        return cls(
            FindingSpec(check_id, f"The {what} does not authenticate", SECURITY, Severity.HIGH,
                        provisions=REGS_INTEGRITY,
                        remediation="Restore the file from a trusted copy and investigate the "
                        "change."),
            FindingSpec(check_id, f"The {what} is encrypted at rest", SECURITY, Severity.INFO,
                        provisions=REGS_ENCRYPTION),
        )


DATASET = _StoredFindings.of("security.dataset_at_rest", "dataset")
MODEL = _StoredFindings.of("security.model_at_rest", "model")
PERSONAL_IN_CLEAR = FindingSpec(
    "security.dataset_at_rest", "The dataset holds personal data in clear", SECURITY,
    Severity.MEDIUM, provisions=REGS_CONFIDENTIALITY,
)
DATASET_WITHOUT_PERSONAL = FindingSpec(
    "security.dataset_at_rest", "The dataset is stored in clear, without personal-data columns",
    SECURITY, Severity.INFO, provisions=REGS_ENCRYPTION,
)
MODEL_IN_CLEAR = FindingSpec("security.model_at_rest", "The model is stored in clear",
                             SECURITY, Severity.LOW, provisions=REGS_ENCRYPTION)
NO_KEY_RING = FindingSpec("security.key_ring", "No key ring is configured", SECURITY,
                          Severity.INFO, provisions=REGS_ENCRYPTION)
_NO_KEY_RING_REMEDIATION = ("Create one with `auditkit keys init`, encrypt the dataset with "
                            "`auditkit encrypt`, and name the ring in [keys] keyring.")
KEY_RING_MISSING = FindingSpec(
    "security.key_ring", "The key ring file is missing or unreadable", SECURITY, Severity.HIGH,
    provisions=REGS_INTEGRITY,
    remediation="Restore the key ring from its backup, or fix the path in audit.toml.",
)
KEY_RING = FindingSpec("security.key_ring", "Key ring protection", SECURITY, Severity.INFO,
                       provisions=REGS_INTEGRITY)
ARTIFACTS = FindingSpec(
    "security.artifacts_at_rest", "Other artifacts at rest", SECURITY, Severity.INFO,
    provisions=REGS_CONFIDENTIALITY,
    remediation="Encrypt each with `auditkit encrypt`; restore any that fail from a trusted copy.",
)
REPORTS = FindingSpec(
    "security.reports_at_rest", "Reports are written in clear, without personal data",
    SECURITY, Severity.INFO, provisions=("gdpr-art-5-1-f",),
)
_REPORTS_REMEDIATION = "To store them encrypted: auditkit encrypt report.html report.html.enc"
_REPORTS_SUMMARY = (
    "The reports of this run are written unencrypted to the output directory. They hold "
    "aggregates, ids and names only: the runner refuses to write a report that contains a value "
    "of a personal-data column.")

# Why encryption matters for personal data, one clause per provision (cited only in scope).
_WHY_CLAUSES = (
    ("gdpr-art-32-1-a", "it is the GDPR Art. 32(1)(a) example measure"),
    ("gdpr-art-34-3-a", "it spares notifying data subjects after a breach (GDPR Art. 34(3)(a))"),
    ("ccpa-1798-150-a-1", "it takes the file out of the CCPA §1798.150 'nonencrypted and "
                          "nonredacted' private right of action"),
)


def _encryption_why(scope: _InScope) -> str:
    """Why encryption at rest matters, naming only the provisions in the audit's scope."""
    clauses = [text for rid, text in _WHY_CLAUSES if rid in scope.ids]
    return "Encryption at rest keeps a lost or stolen copy unintelligible" + (
        "; " + "; ".join(clauses) if clauses else "") + "."


# -- the dataset and the model -----------------------------------------------------------------
def _if_encrypted(findings: _StoredFindings, what: str, item: StoredArtifact, name: str,
                  scope: _InScope) -> Finding | None:
    """The finding of an encrypted ``item`` (authenticated or not); ``None`` when in clear."""
    metrics = {"encrypted": item.encrypted, "key_id": item.key_id if item.encrypted else None}
    if item.encrypted and item.failed:  # did not authenticate, or its header is unreadable
        return findings.not_authentic.make(
            scope, Status.FAIL,
            f"The {what} '{name}' is encrypted but failed authentication under the key ring: it "
            "was altered or truncated, or is not under this ring.", metrics=metrics)
    if not item.encrypted:
        return None
    checked = {
        "yes": " Every segment authenticated under the ring.",
        "not checked": " (Not authenticated in this run: the ring was not opened.)",
    }.get(item.authenticated, "")
    return findings.encrypted.make(
        scope, Status.PASS,
        f"The {what} '{name}' is stored encrypted with {item.algorithm}, its data key wrapped by "
        f"ring key {item.key_id}.{checked} A copy lost or stolen without the key ring is "
        "unintelligible.", metrics=metrics)


def _dataset_finding(item: StoredArtifact, personal: tuple[str, ...], require: bool, base: Path,
                     scope: _InScope) -> Finding:
    """``security.dataset_at_rest``: encrypted, or in clear with or without personal data
    (``require``: ``fail`` rather than ``warn`` when it has personal data)."""
    name = display_path(item.path, base)
    found = _if_encrypted(DATASET, "dataset", item, name, scope)
    if found is not None:
        return found
    metrics = {"encrypted": False, "key_id": None}
    if not personal:
        return DATASET_WITHOUT_PERSONAL.make(
            scope, Status.PASS,
            f"The dataset '{name}' is not encrypted at rest; no column of it is classified as "
            "personal data (none declared, found by the PII scan, or a protected attribute), so "
            "encryption is not required by the cited rules.",
            metrics={**metrics, "personal_columns": 0})
    return PERSONAL_IN_CLEAR.make(
        scope, Status.FAIL if require else Status.WARN,
        f"The dataset '{name}' is not encrypted at rest and has {len(personal)} column(s) "
        f"classified as personal data ({', '.join(personal)}), the columns the scope and the "
        "data-protection inventory count. " + _encryption_why(scope),
        severity=Severity.HIGH if require else Severity.MEDIUM,
        metrics={**metrics, "personal_columns": len(personal)},
        remediation=f"auditkit keys init; auditkit encrypt {name} {name}.enc; then set [data] "
        f'path = "{name}.enc" and [keys] keyring in audit.toml, and delete the clear copy.')


def _model_finding(item: StoredArtifact, base: Path, scope: _InScope) -> Finding:
    """``security.model_at_rest``: encrypted, or in clear (``warn``: a model can leak records)."""
    name = display_path(item.path, base)
    found = _if_encrypted(MODEL, "model", item, name, scope)
    if found is not None:
        return found
    return MODEL_IN_CLEAR.make(
        scope, Status.WARN,
        f"The model '{name}' is not encrypted at rest. Trained models can reveal training "
        "records (model inversion, membership inference); treat the file like the data.",
        metrics={"encrypted": False, "key_id": None},
        remediation=f"Keep an encrypted copy (auditkit encrypt {name} {name}.enc) where it is "
        "stored.")


# -- the key ring ------------------------------------------------------------------------------
_STATUS_RANK = [Status.PASS, Status.WARN, Status.FAIL]
_SEVERITY_RANK = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def _worse_status(a: Status, b: Status) -> Status:
    return max(a, b, key=lambda s: _STATUS_RANK.index(s) if s in _STATUS_RANK else 0)


def _ring_verdict(*, exposed: bool, weak_kdf: bool, too_old: bool,
                  opened: bool) -> tuple[Status, Severity]:
    """Status and severity of the key-ring finding: the worst of its problems' (a file others
    can read: ``fail``, high; a weak scrypt cost: ``warn``, medium; an old primary key:
    ``warn``, low; a ring not opened: ``warn``, low). No problem: ``pass``, info."""
    problems = [(Status.FAIL, Severity.HIGH) if exposed else None,
                (Status.WARN, Severity.MEDIUM) if weak_kdf else None,
                (Status.WARN, Severity.LOW) if too_old else None,
                (Status.WARN, Severity.LOW) if not opened else None]
    status, severity = Status.PASS, Severity.INFO
    for found in filter(None, problems):
        status = _worse_status(status, found[0])
        severity = max(severity, found[1], key=_SEVERITY_RANK.index)
    return status, severity


def _primary_key(ring: KeyRing) -> tuple[int, str, int]:
    """Number of keys, the primary key's id and its age in days."""
    info = {k.key_id: k for k in ring.keys_info()}
    created = datetime.fromisoformat(info[ring.primary_id].created.replace("Z", "+00:00"))
    return len(info), ring.primary_id, (datetime.now(timezone.utc) - created).days


def _ring_protection(access: KeyringAccess, protection: dict[str, Any], mode: int,
                     max_age_days: int, name: str, scope: _InScope) -> Finding:
    """``security.key_ring`` for a ring file that is there: its KEK, file ``mode`` and key ages."""
    kek = (f"scrypt (N=2^{protection['n'].bit_length() - 1}, r={protection['r']}, "
           f"p={protection['p']}) over a passphrase" if protection["kind"] == "scrypt"
           else "a key-encryption key from an environment variable")
    metrics: dict[str, Any] = {"file_mode": f"{mode:04o}", "kek": protection["kind"]}
    exposed = os.name == "posix" and bool(mode & 0o077)
    weak_kdf = protection["kind"] == "scrypt" and protection["n"] < 2**15
    problems = []
    if exposed:
        problems.append(f"its file mode is {mode:04o}, readable by others (auditkit refuses it)")
    if weak_kdf:
        problems.append("its scrypt cost is below N=2^15")
    keys_part, too_old = "", False
    if access.ring is not None:
        keys, primary, age_days = _primary_key(access.ring)
        metrics.update(keys=keys, primary_key_id=primary, primary_key_age_days=age_days)
        keys_part = (f" It holds {keys} key(s); the primary is {primary}, created {age_days} "
                     "day(s) ago.")
        too_old = age_days > max_age_days
        if too_old:
            problems.append(f"its primary key is {age_days} days old (limit {max_age_days})")
    else:
        problems.append(f"the ring was not opened: {access.state}")
    status, severity = _ring_verdict(exposed=exposed, weak_kdf=weak_kdf, too_old=too_old,
                                     opened=access.ring is not None)
    return KEY_RING.make(
        scope, status,
        f"The key ring '{name}' is encrypted with AES-256-GCM under {kek}; file mode "
        f"{mode:04o}.{keys_part}"
        + (f" Problems: {'; '.join(problems)}." if problems else " Key material never leaves it."),
        severity=severity, metrics=metrics,
        remediation=None if status == Status.PASS else
        f"Run `chmod 600 {name}`, `auditkit keys rotate`, and set ${access.env} where audits run.")


def _ring_finding(access: KeyringAccess, max_age_days: int, base: Path,
                  scope: _InScope) -> Finding:
    """``security.key_ring``: none configured, missing, or how it is protected."""
    from auditkit.privacy.crypto import keyring_protection

    if access.path is None:
        return NO_KEY_RING.make(
            scope, Status.NOT_APPLICABLE,
            "audit.toml names no key ring ([keys] keyring), so nothing of this audit is "
            "encrypted with auditkit keys.", remediation=_NO_KEY_RING_REMEDIATION)
    name = display_path(access.path, base)
    protection = keyring_protection(access.path) if access.path.is_file() else None
    if protection is None:
        return KEY_RING_MISSING.make(
            scope, Status.FAIL,
            f"The key ring '{name}' named in the config is missing or not a key ring; encrypted "
            "artifacts under it cannot be verified or decrypted.")
    mode = stat.S_IMODE(access.path.stat().st_mode)
    return _ring_protection(access, protection, mode, max_age_days, name, scope)


# -- further artifacts, the table and the run --------------------------------------------------
def _artifacts_finding(items: tuple[StoredArtifact, ...], base: Path, scope: _InScope) -> Finding:
    """``security.artifacts_at_rest``: ``fail`` when one does not authenticate, ``warn`` when
    one is missing or in clear."""
    failed = [i for i in items if i.failed]
    missing = [i for i in items if not i.exists]
    clear = [i for i in items if i.exists and not i.encrypted]
    enc = [i for i in items if i.encrypted and i not in failed]
    names = lambda xs: ", ".join(f"'{display_path(i.path, base)}'" for i in xs)  # noqa: E731
    metrics = {"listed": len(items), "encrypted": len(enc), "in_clear": len(clear),
               "missing": len(missing), "failed_authentication": len(failed)}
    if failed:
        status, severity = Status.FAIL, Severity.HIGH
        text = f"Failed authentication under the key ring: {names(failed)}."
    elif missing or clear:
        status, severity = Status.WARN, Severity.MEDIUM
        text = (f"Missing: {names(missing)}. " if missing else "") + (
            f"Stored in clear: {names(clear)}." if clear else "")
    else:
        status, severity = Status.PASS, Severity.INFO
        verified = all(i.authenticated == "yes" for i in enc)
        text = (f"All {len(enc)} listed artifacts are encrypted ({enc[0].algorithm}) under key(s) "
                f"{', '.join(sorted({i.key_id for i in enc}))}"
                + (", and authenticate under the ring." if verified else "."))
    return ARTIFACTS.make(scope, status, text.strip(), severity=severity, metrics=metrics)


def _inventory_table(inventory: Inventory, out_dir: Path, base: Path, state: str) -> Table:
    """Every artifact as it is stored, and the reports of this run (written in clear)."""
    return Table(
        "Artifacts at rest", list(COLUMNS),
        [i.row(base) for i in inventory.items]
        + [["reports", display_path(out_dir, base), "no", "-", "-", "-", "-", None]],
        note=f"Key ring: {state}. Algorithms and key ids are read from file headers; key "
        "material is never shown.",
    )


def run(ctx: AuditContext, options: SecurityOptions) -> CheckResult:
    """Inventory the audit's artifacts at rest and judge them (see the module docstring)."""
    keys, base = ctx.config.keys, ctx.base_dir
    ring_path = options.keyring or keys.keyring
    with ctx.step("Opening the key ring"):
        access = open_keyring(ctx.resolve(ring_path) if ring_path else None,
                              options.passphrase_env or keys.passphrase_env)
    with ctx.step("Inspecting artifacts at rest"):
        inventory = take_inventory(ctx, access, options.artifacts, options.verify)
    scope = _InScope.of(ctx)
    findings = [_dataset_finding(inventory.dataset, ctx.personal_data.personal_columns,
                                 options.require_encryption, base, scope)]
    if inventory.model is not None:
        findings.append(_model_finding(inventory.model, base, scope))
    findings.append(_ring_finding(access, options.max_key_age_days, base, scope))
    if inventory.extras:
        findings.append(_artifacts_finding(inventory.extras, base, scope))
    findings.append(REPORTS.make(scope, Status.PASS, _REPORTS_SUMMARY,
                                 remediation=_REPORTS_REMEDIATION))
    items = inventory.items
    summary = (f"{sum(1 for i in items if i.encrypted)} of {len(items) + 1} artifacts of this "
               "audit are encrypted at rest"
               + (f" under key ring key {access.ring.primary_id} (primary)."
                  if access.ring is not None else "."))
    return CheckResult(findings=findings, summary=summary,
                       tables=[_inventory_table(inventory, ctx.out_dir, base, access.state)])


SPEC = register_check(CheckSpec(
    "security", "Encryption at rest", SecurityOptions, run, order=0,
    regulations=("gdpr-art-32-1-a", "gdpr-art-34-3-a", "ccpa-1798-150-a-1", "gdpr-art-5-1-f"),
    description="Which artifacts (dataset, model, key ring, reports) are encrypted at rest, "
    "with what algorithm, under which key id; key ring protection and key age.",
    data_needs="none",
))
