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

from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.reports import Finding, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext
    from auditkit.privacy.crypto import KeyRing

REGS_ENCRYPTION = ("gdpr-art-32-1-a", "gdpr-art-34-3-a", "ccpa-1798-150-a-1")
REGS_INTEGRITY = ("gdpr-art-5-1-f", "gdpr-art-32-1-a")
DEMO_PASSPHRASE_ENV = "AUDITKIT_DEMO_KEYRING_PASSPHRASE"
DEMO_PASSPHRASE = "auditkit-demo-only-not-a-secret"


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


@dataclass
class _Item:
    role: str
    path: Path
    exists: bool
    encrypted: bool = False
    algorithm: str = "-"
    key_id: str = "-"
    key_in_ring: str = "unknown"
    authenticated: str = "not checked"
    size: int = 0

    def row(self, base: Path) -> list[Any]:
        return [
            self.role,
            _display(self.path, base),
            "missing" if not self.exists else ("yes" if self.encrypted else "no"),
            self.algorithm,
            self.key_id,
            self.key_in_ring,
            self.authenticated,
            self.size,
        ]


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return path.name


def _authenticate(path: Path, ring: KeyRing) -> bool:
    from auditkit.privacy.crypto import open_decrypted
    from auditkit.privacy.errors import DecryptionError

    try:
        with open_decrypted(path, ring) as fh:
            while fh.read(1024 * 1024):
                pass
    except DecryptionError:
        return False
    return True


def _inspect(role: str, path: Path, ring: KeyRing | None, verify: bool) -> _Item:
    from auditkit.privacy.crypto import ALGORITHM, file_info, is_encrypted
    from auditkit.privacy.errors import PrivacyError

    if not path.is_file():
        return _Item(role, path, exists=False)
    item = _Item(role, path, exists=True, size=path.stat().st_size)
    if not is_encrypted(path):
        item.key_in_ring = "-"
        item.authenticated = "-"
        return item
    item.encrypted = True
    item.algorithm = ALGORITHM
    try:
        info = file_info(path)
    except PrivacyError:
        item.authenticated = "failed (bad header)"
        return item
    item.key_id = info.key_id
    if ring is not None:
        item.key_in_ring = "yes" if info.key_id in ring else "no"
        if verify:
            item.authenticated = "yes" if _authenticate(path, ring) else "FAILED"
    return item


def _open_ring(path: Path | None, env: str) -> tuple[KeyRing | None, str]:
    from auditkit.privacy.crypto import KeyRing
    from auditkit.privacy.errors import PrivacyError

    if path is None:
        return None, "no key ring configured"
    if not path.is_file():
        return None, "the key ring file does not exist"
    if not os.environ.get(env):
        return None, f"${env} is not set, so the ring was not opened"
    try:
        return KeyRing.load_from_env(path, env), "opened"
    except PrivacyError as exc:
        return None, f"could not be opened ({type(exc).__name__})"


def _ring_finding(
    path: Path | None, ring: KeyRing | None, state: str, env: str, opts: SecurityOptions, base: Path
) -> Finding:
    from auditkit.privacy.crypto import keyring_protection

    if path is None:
        return Finding(
            check_id="security.key_ring",
            title="No key ring is configured",
            status=Status.NOT_APPLICABLE,
            severity=Severity.INFO,
            summary="audit.toml names no key ring ([keys] keyring), so nothing of this audit is "
            "encrypted with auditkit keys.",
            regulations=REGS_ENCRYPTION,
            remediation="Create one with `auditkit keys init`, encrypt the dataset with "
            "`auditkit encrypt`, and name the ring in [keys] keyring.",
        )
    name = _display(path, base)
    prot = keyring_protection(path) if path.is_file() else None
    if prot is None:
        return Finding(
            check_id="security.key_ring",
            title="The key ring file is missing or unreadable",
            status=Status.FAIL,
            severity=Severity.HIGH,
            summary=f"The key ring '{name}' named in the config is missing or not a key ring; "
            "encrypted artifacts under it cannot be verified or decrypted.",
            regulations=REGS_INTEGRITY,
            remediation="Restore the key ring from its backup, or fix the path in audit.toml.",
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    kek = (
        f"scrypt (N=2^{prot['n'].bit_length() - 1}, r={prot['r']}, p={prot['p']}) over a passphrase"
        if prot["kind"] == "scrypt"
        else "a key-encryption key from an environment variable"
    )
    metrics: dict[str, Any] = {"file_mode": f"{mode:04o}", "kek": prot["kind"]}
    problems: list[str] = []
    status, severity = Status.PASS, Severity.INFO
    if os.name == "posix" and mode & 0o077:
        problems.append(f"its file mode is {mode:04o}, readable by others (auditkit refuses it)")
        status, severity = Status.FAIL, Severity.HIGH
    if prot["kind"] == "scrypt" and prot["n"] < 2**15:
        problems.append("its scrypt cost is below N=2^15")
        status, severity = max(status, Status.WARN, key=_rank), Severity.MEDIUM
    age_days = None
    if ring is not None:
        info = {k.key_id: k for k in ring.keys_info()}
        primary = info[ring.primary_id]
        created = datetime.fromisoformat(primary.created.replace("Z", "+00:00"))
        age_days = (datetime.now(timezone.utc) - created).days
        metrics.update(
            keys=len(info), primary_key_id=ring.primary_id, primary_key_age_days=age_days
        )
        if age_days > opts.max_key_age_days:
            problems.append(
                f"its primary key is {age_days} days old (limit {opts.max_key_age_days})"
            )
            status, severity = max(status, Status.WARN, key=_rank), Severity.LOW
    else:
        problems.append(f"the ring was not opened: {state}")
        status, severity = (
            max(status, Status.WARN, key=_rank),
            max(severity, Severity.LOW, key=_sev),
        )
    keys_part = (
        f" It holds {metrics['keys']} key(s); the primary is {ring.primary_id}, created "
        f"{age_days} day(s) ago."
        if ring is not None
        else ""
    )
    return Finding(
        check_id="security.key_ring",
        title="Key ring protection",
        status=status,
        severity=severity,
        summary=f"The key ring '{name}' is encrypted with AES-256-GCM under {kek}; file mode "
        f"{mode:04o}.{keys_part}"
        + (f" Problems: {'; '.join(problems)}." if problems else " Key material never leaves it."),
        metrics=metrics,
        regulations=REGS_INTEGRITY,
        remediation=None
        if status == Status.PASS
        else f"Run `chmod 600 {name}`, `auditkit keys rotate`, and set ${env} where audits run.",
    )


_STATUS_RANK = [Status.PASS, Status.WARN, Status.FAIL]
_SEV_RANK = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def _rank(s: Status) -> int:
    return _STATUS_RANK.index(s) if s in _STATUS_RANK else 0


def _sev(s: Severity) -> int:
    return _SEV_RANK.index(s)


def _at_rest_finding(
    check_id: str, what: str, item: _Item, *, personal: tuple[str, ...], opts: SecurityOptions,
    base: Path,
) -> Finding:
    name = _display(item.path, base)
    metrics = {"encrypted": item.encrypted, "key_id": item.key_id if item.encrypted else None}
    if item.encrypted and item.authenticated.startswith("FAILED"):
        return Finding(
            check_id=check_id,
            title=f"The {what} does not authenticate",
            status=Status.FAIL,
            severity=Severity.HIGH,
            summary=f"The {what} '{name}' is encrypted but failed authentication under the key "
            "ring: it was altered or truncated, or is not under this ring.",
            metrics=metrics,
            regulations=REGS_INTEGRITY,
            remediation="Restore the file from a trusted copy and investigate the change.",
        )
    if item.encrypted:
        checked = {
            "yes": " Every segment authenticated under the ring.",
            "not checked": " (Not authenticated in this run: the ring was not opened.)",
        }.get(item.authenticated, "")
        return Finding(
            check_id=check_id,
            title=f"The {what} is encrypted at rest",
            status=Status.PASS,
            severity=Severity.INFO,
            summary=f"The {what} '{name}' is stored encrypted with {item.algorithm}, its data key "
            f"wrapped by ring key {item.key_id}.{checked} A copy lost or stolen without the key "
            "ring is unintelligible.",
            metrics=metrics,
            regulations=REGS_ENCRYPTION,
        )
    if what == "dataset" and personal:
        fail = opts.require_encryption
        return Finding(
            check_id=check_id,
            title="The dataset holds personal data in clear",
            status=Status.FAIL if fail else Status.WARN,
            severity=Severity.HIGH if fail else Severity.MEDIUM,
            summary=f"The dataset '{name}' is not encrypted at rest and has {len(personal)} "
            f"column(s) classified as personal data ({', '.join(personal)}), the columns the "
            "scope and the data-protection inventory count. " + _ENCRYPTION_WHY,
            metrics={**metrics, "personal_columns": len(personal)},
            regulations=REGS_ENCRYPTION + ("gdpr-art-5-1-f",),
            remediation=f"auditkit keys init; auditkit encrypt {name} {name}.enc; then set [data] "
            f'path = "{name}.enc" and [keys] keyring in audit.toml, and delete the clear copy.',
        )
    if what == "dataset":
        return Finding(
            check_id=check_id,
            title="The dataset is stored in clear, without personal-data columns",
            status=Status.PASS,
            severity=Severity.INFO,
            summary=f"The dataset '{name}' is not encrypted at rest; no column of it is "
            "classified as personal data (none declared, found by the PII scan, or a protected "
            "attribute), so encryption is not required by the cited rules.",
            metrics={**metrics, "personal_columns": 0},
            regulations=REGS_ENCRYPTION,
        )
    return Finding(
        check_id=check_id,
        title=f"The {what} is stored in clear",
        status=Status.WARN,
        severity=Severity.LOW,
        summary=f"The {what} '{name}' is not encrypted at rest."
        + (
            " Trained models can reveal training records (model inversion, membership "
            "inference); treat the file like the data."
            if what == "model"
            else ""
        ),
        metrics=metrics,
        regulations=REGS_ENCRYPTION,
        remediation=f"Keep an encrypted copy (auditkit encrypt {name} {name}.enc) where it is stored.",
    )


def run(ctx: AuditContext, options: SecurityOptions) -> CheckResult:
    cfg = ctx.config
    base = ctx.base_dir
    ring_path_s = options.keyring or cfg.keys.keyring
    ring_path = ctx.resolve(ring_path_s) if ring_path_s else None
    env = options.passphrase_env or cfg.keys.passphrase_env
    with ctx.step("Opening the key ring"):
        ring, state = _open_ring(ring_path, env)

    items: list[_Item] = []
    with ctx.step("Inspecting artifacts at rest"):
        dataset = _inspect("dataset", ctx.resolve(cfg.data.path), ring, options.verify)
        items.append(dataset)
        model = None
        if cfg.model.path:
            model = _inspect("model", ctx.resolve(cfg.model.path), ring, options.verify)
            items.append(model)
        if ring_path is not None:
            ring_item = _Item("key ring", ring_path, ring_path.is_file())
            if ring_item.exists:
                ring_item.size = ring_path.stat().st_size
                ring_item.encrypted = True
                ring_item.algorithm = "AES-256-GCM under a KEK"
                ring_item.key_in_ring = "-"
                ring_item.authenticated = "yes" if ring is not None else "not checked"
            items.append(ring_item)
        extras = [
            _inspect("artifact", ctx.resolve(p), ring, options.verify) for p in options.artifacts
        ]
        # Files earlier checks of this run wrote (masked exports, ledgers), figures aside.
        seen = {i.path.resolve() for i in (*items, *extras)}
        for art in ctx.artifacts:
            if art.path and art.kind != "figure" and Path(art.path).resolve() not in seen:
                seen.add(Path(art.path).resolve())
                extras.append(_inspect(art.kind, Path(art.path), ring, options.verify))
        items.extend(extras)

    findings = [
        _at_rest_finding(
            "security.dataset_at_rest",
            "dataset",
            dataset,
            personal=ctx.personal_data.personal_columns,
            opts=options,
            base=base,
        )
    ]
    if model is not None:
        findings.append(
            _at_rest_finding(
                "security.model_at_rest", "model", model, personal=(), opts=options, base=base
            )
        )
    findings.append(_ring_finding(ring_path, ring, state, env, options, base))
    if extras:
        findings.append(_artifacts_finding(extras, base))
    findings.append(
        Finding(
            check_id="security.reports_at_rest",
            title="Reports are written in clear, without personal data",
            status=Status.PASS,
            severity=Severity.INFO,
            summary="The reports of this run are written unencrypted to the output directory. "
            "They hold aggregates, ids and names only: the runner refuses to write a report "
            "that contains a value of a personal-data column.",
            regulations=("gdpr-art-5-1-f",),
            remediation="To store them encrypted: auditkit encrypt report.html report.html.enc",
        )
    )
    table = Table(
        "Artifacts at rest",
        [
            "artifact",
            "path",
            "encrypted",
            "algorithm",
            "key id",
            "key in ring",
            "authenticated",
            "bytes",
        ],
        [i.row(base) for i in items]
        + [["reports", _display(ctx.out_dir, base), "no", "-", "-", "-", "-", None]],
        note=f"Key ring: {state}. Algorithms and key ids are read from file headers; key "
        "material is never shown.",
    )
    findings = _in_scope(ctx, findings)
    n_enc = sum(1 for i in items if i.encrypted)
    summary = f"{n_enc} of {len(items) + 1} artifacts of this audit are encrypted at rest" + (
        f" under key ring key {ring.primary_id} (primary)." if ring is not None else "."
    )
    return CheckResult(findings=findings, summary=summary, tables=[table])


# Why encryption matters for personal data, one clause per provision (cited only in scope).
_WHY_CLAUSES = (
    ("gdpr-art-32-1-a", "it is the GDPR Art. 32(1)(a) example measure"),
    ("gdpr-art-34-3-a", "it spares notifying data subjects after a breach (GDPR Art. 34(3)(a))"),
    ("ccpa-1798-150-a-1", "it takes the file out of the CCPA §1798.150 'nonencrypted and "
                          "nonredacted' private right of action"),
)
_ENCRYPTION_WHY = ("Encryption at rest keeps a lost or stolen copy unintelligible; "
                   + "; ".join(text for _, text in _WHY_CLAUSES) + ".")


def _encryption_why(cited: set[str]) -> str:
    clauses = [text for rid, text in _WHY_CLAUSES if rid in cited]
    return "Encryption at rest keeps a lost or stolen copy unintelligible" + (
        "; " + "; ".join(clauses) if clauses else "") + "."


def _in_scope(ctx: AuditContext, findings: list[Finding]) -> list[Finding]:
    """The findings citing, and naming in their text, only the security provisions in the
    audit's scope (``[audit] jurisdictions``): the CCPA where California is in scope, the GDPR
    where the EU is."""
    from dataclasses import replace

    cited = set(ctx.cite("security"))
    return [replace(f, regulations=tuple(r for r in f.regulations if r in cited),
                    summary=f.summary.replace(_ENCRYPTION_WHY, _encryption_why(cited)))
            for f in findings]


def _artifacts_finding(items: list[_Item], base: Path) -> Finding:
    failed = [
        i
        for i in items
        if i.authenticated.startswith("FAILED") or i.authenticated.startswith("failed")
    ]
    missing = [i for i in items if not i.exists]
    clear = [i for i in items if i.exists and not i.encrypted]
    enc = [i for i in items if i.encrypted and i not in failed]
    names = lambda xs: ", ".join(f"'{_display(i.path, base)}'" for i in xs)  # noqa: E731
    metrics = {
        "listed": len(items),
        "encrypted": len(enc),
        "in_clear": len(clear),
        "missing": len(missing),
        "failed_authentication": len(failed),
    }
    if failed:
        status, sev = Status.FAIL, Severity.HIGH
        text = f"Failed authentication under the key ring: {names(failed)}."
    elif missing or clear:
        status, sev = Status.WARN, Severity.MEDIUM
        text = (f"Missing: {names(missing)}. " if missing else "") + (
            f"Stored in clear: {names(clear)}." if clear else ""
        )
    else:
        status, sev = Status.PASS, Severity.INFO
        key_ids = sorted({i.key_id for i in enc})
        verified = all(i.authenticated == "yes" for i in enc)
        text = (
            f"All {len(enc)} listed artifacts are encrypted ({enc[0].algorithm}) under key(s) "
            f"{', '.join(key_ids)}" + (", and authenticate under the ring." if verified else ".")
        )
    return Finding(
        check_id="security.artifacts_at_rest",
        title="Other artifacts at rest",
        status=status,
        severity=sev,
        summary=text.strip(),
        metrics=metrics,
        regulations=REGS_ENCRYPTION + ("gdpr-art-5-1-f",),
        remediation=None
        if status == Status.PASS
        else "Encrypt each with `auditkit encrypt`; restore any that fail from a trusted copy.",
    )


def demo(demo_ctx: Any) -> dict[str, Any]:
    """Create a key ring under the demo's directory and an encrypted copy of its dataset.

    The ring's passphrase comes from ``$AUDITKIT_DEMO_KEYRING_PASSPHRASE``; when that is unset
    the demo sets it, for this process only, to a fixed, public demo value. Demo only: a real
    ring's passphrase belongs in a secret store.
    """
    from auditkit.privacy.crypto import KeyRing, encrypt_file, rewrap

    os.environ.setdefault(DEMO_PASSPHRASE_ENV, DEMO_PASSPHRASE)
    out = Path(demo_ctx.out_dir)
    keys_dir = out / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    ring_path = keys_dir / "demo-keyring.json"
    ring = KeyRing.generate()
    enc_path = Path(demo_ctx.data_path).with_name(Path(demo_ctx.data_path).name + ".enc")
    encrypt_file(demo_ctx.data_path, enc_path, ring)
    ring.rotate()  # show a rotation: the copy is then rewrapped to the new primary key
    rewrap(enc_path, ring)
    ring.save(ring_path, passphrase=os.environ[DEMO_PASSPHRASE_ENV])
    return {
        "keyring": ring_path.relative_to(out).as_posix(),
        "passphrase_env": DEMO_PASSPHRASE_ENV,
        "artifacts": [enc_path.relative_to(out).as_posix()],
    }


SPEC = register_check(
    CheckSpec(
        id="security",
        section="security",
        section_title="Security: encryption at rest",
        title="Encryption at rest",
        options=SecurityOptions,
        run=run,
        regulations=("gdpr-art-32-1-a", "gdpr-art-34-3-a", "ccpa-1798-150-a-1", "gdpr-art-5-1-f"),
        demo=demo,
        order=0,
        description="Which artifacts (dataset, model, key ring, reports) are encrypted at rest, "
        "with what algorithm, under which key id; key ring protection and key age.",
    )
)
