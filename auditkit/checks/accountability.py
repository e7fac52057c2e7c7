"""The accountability check: is the audit trail intact, who did what to the audited data since
the last audit, what was refused, and who may do what under the access policy.

It reads the trail the run writes to (``[trail] path``, else ``$AUDITKIT_TRAIL``, else beside
the key ring, else the per-user location) and verifies it whole, with the trust store
(``[checks.accountability] trust_store``, else ``$AUDITKIT_TRUST_STORE``, else the per-user
one) resolving the keys that signed its seals and checkpoints. When a previous signed report in
the output directory recorded the trail's head in its manifest (or ``anchor`` names a
checkpoint or manifest), the trail must still hold that line: a truncation or a rewrite below it
fails.

Findings
--------
- ``accountability.trail_integrity``: ``pass`` "trail verified up to head H (seq N)"; ``warn``
  when events no seal covers yet are there (a crash, a command still running), beyond this
  run's own; ``fail`` naming the first bad event (seq, segment file, line, what failed).
- ``accountability.authentication``: ``warn`` when commands were recorded without a key
  (unauthenticated: the OS user is a claim, not a proof), ``pass`` when every command was
  signed by a key the trust store holds.
- ``accountability.data_activity``: who did what to the audited data (its path, its encrypted
  copy, the paths in ``resources``, or its SHA-256) since the previous ``audit.run`` on it:
  time, principal, auth, action, outcome (a table).
- ``accountability.refusals``: operations refused (outcome ``denied``) in that period (``warn``,
  low, when there are any: each should be explained).
- ``accountability.access_control``: the principals, their roles and the permissions those
  grant under the signed access policy (``pass``); ``warn`` for the legacy single key ring (one
  principal holds every permission) or no access control at all; ``fail`` when a configured
  policy does not verify.

Regulations: GDPR Art. 5(2) (accountability), Art. 30(1) (records of processing), Art.
32(1)(b) and (d) (integrity and confidentiality of systems; testing the measures); AI Act Art.
12(1) (automatic logging), 19(1) and 26(6) (providers and deployers keep the logs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from auditkit.checks._accountability_trail import (
    Anchor,
    DataMatcher,
    Period,
    SafeText,
    activity_table,
    read_anchor,
    scan_period,
)
from auditkit.checks._findings import FindingSpec
from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.reports import Finding, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext
    from auditkit.privacy.trail import VerifyResult

TOPICS = ("records", "security")
REGS_TRAIL = ("gdpr-art-5-2", "gdpr-art-32-1-b", "euaiact-art-12-1", "euaiact-art-19-1", "euaiact-art-26-6")
REGS_WHO = ("gdpr-art-5-2", "gdpr-art-32-1-b", "euaiact-art-12-1")
REGS_RECORDS = ("gdpr-art-30-1", "gdpr-art-5-2", "euaiact-art-12-1", "euaiact-art-26-6")
REGS_REFUSALS = ("gdpr-art-32-1-b", "gdpr-art-32-1-d", "euaiact-art-12-1")
REGS_ACCESS = ("gdpr-art-32-1-b", "gdpr-art-32-1-d", "gdpr-art-5-2")
LEGACY = "legacy single key ring: one principal holds every permission"


class AccountabilityOptions(CheckOptions):
    """``[checks.accountability]``."""

    resources: list[str] = []
    """Further files holding the audited data (an encrypted copy, an export), relative to audit.toml."""
    anchor: str | None = None
    """A trail checkpoint file or a signed report's manifest.json whose trail head the trail must
    still hold; default: the previous signed report's manifest in the output directory."""
    trust_store: str | None = None
    """The trust store resolving trail and policy keys; default ``$AUDITKIT_TRUST_STORE`` or the per-user one."""
    max_rows: int = Field(default=50, ge=1, le=10_000)
    """At most this many rows per table (the most recent)."""


INTEGRITY = FindingSpec(
    "accountability.trail_integrity", "The audit trail is intact", TOPICS, Severity.HIGH,
    pass_severity=Severity.INFO, provisions=REGS_TRAIL,
    remediation="Run `auditkit trail verify`; restore the trail from a copy kept elsewhere and find "
    "out who changed it. Events after the last verified one cannot be relied on.")
UNVERIFIED_FIX = ("Let running commands finish, then audit again; an incomplete line or unsealed "
                  "events left by a crash stay reported as unverified (`auditkit trail verify`).")
AUTHENTICATION = FindingSpec(
    "accountability.authentication", "Who acted is proven by a key", TOPICS, Severity.MEDIUM,
    pass_severity=Severity.INFO, problem_status=Status.WARN, provisions=REGS_WHO,
    remediation="Give each person an identity (`auditkit access identity new NAME`), trust its key, "
    "and set AUDITKIT_IDENTITY where commands run, so their seals are signed.")
DATA_ACTIVITY = FindingSpec(
    "accountability.data_activity", "Who did what to the audited data since the last audit", TOPICS,
    Severity.INFO, provisions=REGS_RECORDS)
REFUSALS = FindingSpec(
    "accountability.refusals", "Refused operations since the last audit", TOPICS, Severity.LOW,
    pass_severity=Severity.INFO, problem_status=Status.WARN, provisions=REGS_REFUSALS,
    remediation="Confirm each refusal was expected (a missing grant, not an attempt to reach data "
    "without one); grant roles with `auditkit access grant` where it was legitimate.")
ACCESS = FindingSpec(
    "accountability.access_control", "Access to keys and data by role", TOPICS, Severity.MEDIUM,
    pass_severity=Severity.INFO, problem_status=Status.WARN, provisions=REGS_ACCESS,
    remediation="auditkit access migrate --keyring RING --admin-identity ADMIN.identity.json, then "
    "grant each person only the roles they need (`auditkit access grant NAME ROLE`).")
POLICY_BROKEN_FIX = ("Restore the signed policy (access-policy.json) from its administrator, or sign "
                     "a new one with `auditkit access policy sign`; an edited policy grants nothing.")


# -- the trail -------------------------------------------------------------------------------------
def _head_text(res: VerifyResult) -> str:
    return f"head {res.head_hash} (seq {res.head_seq})"


def _integrity(ctx: Any, res: VerifyResult, own: int, anchor: Anchor | None, note: str) -> Finding:
    """``accountability.trail_integrity`` from the verification (``own``: this run's events)."""
    metrics = {"head_seq": res.head_seq, "head_hash": res.head_hash, "verified_seq": res.verified_seq,
               "lines": res.lines, "checkpoints": res.checkpoints, "segments": res.segments,
               "anchor_seq": anchor.seq if anchor else None}
    bad = res.first_bad
    if anchor is not None:
        note += " is still there." if res.anchor == "ok" else " could not be confirmed."
    if bad is not None:
        where = f"{bad.segment} line {bad.line}" if bad.segment else "the trail directory"
        return INTEGRITY.make(
            ctx, Status.FAIL,
            f"The audit trail {res.directory} does not verify. First bad event: seq {bad.seq} ({where}): "
            f"{bad.kind} — {bad.detail}. The lines before it chain correctly; nothing from it on can "
            f"be relied on.{note}", title="The audit trail has been altered or damaged",
            metrics={**metrics, "first_bad_seq": bad.seq, "first_bad_kind": bad.kind})
    stranger = res.first_untrusted
    if stranger is not None:
        return INTEGRITY.make(
            ctx, Status.WARN,
            f"The audit trail {res.directory} is intact up to {_head_text(res)} (every line chains), but "
            f"{res.untrusted} seal(s) or checkpoint(s) are signed by keys the trust store does not hold, "
            f"the first at seq {stranger.seq}: nobody vouches for who wrote those commands.{note}",
            severity=Severity.MEDIUM, title="The audit trail is intact but not vouched for",
            metrics={**metrics, "untrusted": res.untrusted, "first_untrusted_seq": stranger.seq},
            remediation="Trust the signers' public keys (`auditkit access identity new ... --trust-store`, "
            "`auditkit keys trust`), or name the key ring in [keys] with its passphrase variable set.")
    signed = (f" Signatures by trusted keys cover it up to seq {res.verified_seq}." if res.verified_seq
              is not None else " No line is covered by a signature yet.")
    text = (f"Trail verified up to {_head_text(res)}: every line chains to the one before it from the "
            f"genesis line and every seal lists exactly its command's events.{signed}"
            f" {res.checkpoints} administrator checkpoint(s).{note}")
    others = res.unverified_tail.count - own
    metrics["unverified_events"] = max(others, 0)
    if others > 0:
        partial = 1 if res.incomplete_bytes else 0
        parts = [f"{others - partial} event(s) of other commands that no seal covers (a command that "
                 "crashed or is still running)" if others > partial else "",
                 f"an incomplete last line of {res.incomplete_bytes} bytes (a crash mid-append)"
                 if partial else ""]
        return INTEGRITY.make(
            ctx, Status.WARN, f"{text} Unverified: {'; '.join(p for p in parts if p)}; this run's own "
            f"{own} event(s) are sealed when it ends.", severity=Severity.MEDIUM,
            title="The audit trail is intact up to an unverified tail", metrics=metrics,
            remediation=UNVERIFIED_FIX)
    return INTEGRITY.make(ctx, Status.PASS, text, metrics=metrics)


def _authentication(ctx: Any, res: VerifyResult, auth_now: str, principal_now: str) -> Finding:
    signed, unauth = res.commands.get("key", 0), res.commands.get("none", 0)
    unauth_now = auth_now != "key"
    total = signed + unauth + 1
    metrics = {"commands": total, "signed": signed + (0 if unauth_now else 1),
               "unauthenticated": unauth + (1 if unauth_now else 0)}
    this_run = (f"this audit runs as {principal_now!r}, " + ("unauthenticated" if unauth_now
                else "signing its seal with its key"))
    if metrics["unauthenticated"]:
        return AUTHENTICATION.make(
            ctx, Status.WARN,
            f"{metrics['unauthenticated']} of {total} command(s) in the trail (this one included) were "
            f"recorded without a key: their principal is the operating-system user, a claim that no "
            f"signature proves; {this_run}.", metrics=metrics,
            title="Some commands were recorded without a key (unauthenticated)")
    return AUTHENTICATION.make(
        ctx, Status.PASS, f"All {total} command(s) in the trail were sealed with the key of the "
        f"principal who acted, each key held by that principal in the trust store; {this_run}.",
        metrics=metrics)


def _since(period: Period, safe: SafeText) -> str:
    prev = period.previous
    if prev is None:
        return "since the trail began (it records no earlier audit of this data)"
    return (f"since the previous audit of this data (seq {prev.seq}, {prev.time}, by "
            f"{safe.principal(prev.principal)}, outcome {prev.outcome})")


def _activity(ctx: Any, period: Period, safe: SafeText) -> tuple[Finding, Table]:
    since = _since(period, safe)
    table = activity_table(
        "Operations on the audited data since the last audit", period.data_events, period.data_count,
        safe, "Events whose resource is the audited data file, its encrypted copy or a listed resource, "
        "or whose SHA-256 is the data file's; this run's own events are not listed.")
    metrics = {"events": period.data_count, "principals": len(period.data_principals),
               "previous_audit_seq": period.previous.seq if period.previous else None,
               "own_events": period.own_events}
    text = (f"{period.data_count} operation(s) by {len(period.data_principals)} principal(s) on the "
            f"audited data {since}." if period.data_count else
            f"No operation on the audited data is recorded {since}, besides this audit.")
    return DATA_ACTIVITY.make(ctx, Status.PASS, text, metrics=metrics), table


def _refusals(ctx: Any, period: Period, safe: SafeText) -> tuple[Finding, Table | None]:
    since = _since(period, safe)
    metrics = {"refusals": period.refusal_count}
    if not period.refusal_count:
        return REFUSALS.make(ctx, Status.PASS, f"No operation was refused {since}.", metrics=metrics), None
    table = activity_table("Refused operations since the last audit", period.refusals, period.refusal_count,
                           safe, "Events with outcome 'denied', on any resource.")
    who = sorted({safe.principal(e.principal) for e in period.refusals})
    return REFUSALS.make(
        ctx, Status.WARN, f"{period.refusal_count} operation(s) were refused {since}, by "
        f"{', '.join(who)}: the access policy was enforced and the attempts recorded.",
        metrics=metrics), table


# -- the access policy -----------------------------------------------------------------------------
def _access(ctx: Any, policy_path: Path | None, keyring: Path | None, store: Any,
            safe: SafeText) -> tuple[Finding, Table | None]:
    from auditkit.privacy import access
    from auditkit.privacy.errors import PrivacyError

    found = access.find_policy(policy_path, keyring=keyring)
    if found is None:
        if keyring is not None:
            return ACCESS.make(
                ctx, Status.WARN, f"No access policy: {LEGACY}. Whoever knows the key ring's passphrase "
                "may decrypt, detokenise, train, audit, sign and administer keys, and the trail cannot "
                "tell one holder from another.", title="Legacy single key ring",
                metrics={"policy": False, "principals": 1}), None
        return ACCESS.make(
            ctx, Status.WARN, "No access policy and no key ring: nothing but file permissions limits who "
            "reads the data, and no key is wrapped to anyone.", title="No access control by role",
            metrics={"policy": False, "principals": 0},
            remediation="auditkit keys init; encrypt the data; then auditkit access migrate --keyring "
            "RING --admin-identity ADMIN.identity.json and grant roles."), None
    shown = safe.resource(str(Path(found).absolute()))
    try:
        policy = access.Policy.load(found, trust_store=store)
    except PrivacyError as exc:
        return ACCESS.make(
            ctx, Status.FAIL, f"The access policy {shown} is refused: {exc}", severity=Severity.HIGH,
            title="The access policy does not verify", metrics={"policy": False},
            remediation=POLICY_BROKEN_FIX), None
    grants = policy.grants()
    table = Table("Principals, roles and grants", ["Principal", "Key id", "Roles", "Permissions"],
                  [[safe.principal(g["name"]), g["key_id"] or "-", ", ".join(g["roles"]),
                    ", ".join(g["permissions"])] for g in grants],
                  note=f"From the signed access policy {shown}, serial {policy.serial}.")
    signer = policy.signer
    admin = safe.principal(str(signer.get("name", "?")))
    return ACCESS.make(
        ctx, Status.PASS, f"The access policy {shown} (serial {policy.serial}) verifies: signed by "
        f"{admin} (key {signer.get('key_id', '?')}), an access-admin of the trust store. "
        f"{len(grants)} principal(s) across {len(policy.roles)} role(s); a file's data key is wrapped "
        "only to the principals whose roles grant decrypt on it.",
        metrics={"policy": True, "serial": policy.serial, "principals": len(grants),
                 "roles": len(policy.roles)}), table


# -- the run ----------------------------------------------------------------------------------------
def _anchor(ctx: AuditContext, options: AccountabilityOptions, out_dir: Path | None,
            safe: SafeText) -> tuple[Anchor | None, str]:
    """The anchor to verify against (``anchor``, else the previous signed report's manifest in
    the output directory), and a sentence saying which (or why none)."""
    from auditkit.reports.signing import MANIFEST_NAME

    if options.anchor:
        path = ctx.resolve(options.anchor)
        found = read_anchor(path, safe.resource(str(path.absolute())))
        if found is None:
            return None, f" The anchor {options.anchor} holds no trail head, so none was checked."
    else:
        if out_dir is None or not (out_dir / MANIFEST_NAME).is_file():
            return None, ""
        found = read_anchor(out_dir / MANIFEST_NAME, f"the previous report's {MANIFEST_NAME}")
        if found is None:
            return None, ""
    return found, f" Anchor: the line at seq {found.seq} named by {found.source}"


def _verify(ctx: AuditContext, opened: Any, options: AccountabilityOptions, out_dir: Path | None,
            store: Any, safe: SafeText) -> tuple[VerifyResult, Anchor | None, str]:
    """One verification, anchored when an anchor is found; again without it when the anchor
    turns out to be of another trail (a manifest's head is checked by seq and hash only)."""
    anchor, note = _anchor(ctx, options, out_dir, safe)
    res = opened.verify(trust=store, anchor=anchor.value if anchor else None)
    if anchor is not None and anchor.trail_id not in (None, res.trail_id):
        res = opened.verify(trust=store)
        anchor, note = None, f" {anchor.source.capitalize()} is of another trail; not checked."
    return res, anchor, note


def _context(ctx: AuditContext) -> tuple[Path, Path, str | None, str | None, str, str, Path | None]:
    """(trail dir, data file, data sha256, own command id, principal, auth, final out dir)."""
    from auditkit._run_trail import current_run, trail_settings
    from auditkit.privacy import trail

    mark = current_run()
    if mark is not None:
        return mark.directory, mark.data, mark.sha256, mark.cmd, mark.principal, mark.auth, mark.out_dir
    location, keyring, _ = trail_settings(ctx.config, ctx.base_dir)
    data = ctx.resolve(ctx.config.data.path).absolute()
    directory = location or trail.trail_location(keyring=keyring)
    name, auth = trail.current_principal()
    sha = trail.file_sha256(data) if data.is_file() else None
    return directory, data, sha, None, name, auth, ctx.resolve(ctx.config.report.out)


def _with_ring(ctx: Any, store: Any) -> Any:
    """The trust store plus the legacy ring's principals when ``[keys]`` names a ring this run can
    open (its secret in ``passphrase_env``): holding the ring is what vouches for their seals."""
    import os

    keys = ctx.config.keys
    if not keys.keyring or not os.environ.get(keys.passphrase_env or ""):
        return store
    from auditkit.privacy import trail
    from auditkit.privacy.crypto import KeyRing
    from auditkit.privacy.errors import PrivacyError

    try:
        ring = KeyRing.load_from_env(ctx.resolve(keys.keyring), keys.passphrase_env)
    except (PrivacyError, OSError):
        return store  # the security check reports a ring that does not open
    return trail.trust_key_ring(store, ring)


def run(ctx: AuditContext, options: AccountabilityOptions) -> CheckResult:
    """Verify the trail and report who did what (see the module docstring)."""
    from auditkit._run_trail import current_run, trail_settings
    from auditkit.privacy import trail
    from auditkit.reports.trust import TrustStore

    directory, data, sha, own_cmd, principal, auth, out_dir = _context(ctx)
    safe = SafeText(ctx.guard, ctx.base_dir)
    store = _with_ring(ctx, TrustStore.load_default(
        ctx.resolve(options.trust_store) if options.trust_store else None))
    try:
        opened = trail.Trail.open(directory)
    except trail.TrailError as exc:
        return CheckResult(findings=[INTEGRITY.make(
            ctx, Status.FAIL, f"The audit trail cannot be read: {exc}", title="The audit trail is missing")])
    with ctx.step("Verifying the audit trail"):
        res, anchor, note = _verify(ctx, opened, options, out_dir, store, safe)
    if current_run() is not None and res.trail_id is not None:
        current_run().trail_id = res.trail_id  # the signed manifest names the trail by it
    with ctx.step("Reading the audit trail"):
        matcher = DataMatcher.of(data, sha, [ctx.resolve(p) for p in options.resources])
        period = scan_period(opened.events(), matcher, own_cmd, options.max_rows)
    _, keyring, policy_path = trail_settings(ctx.config, ctx.base_dir)
    activity, activity_tab = _activity(ctx, period, safe)
    refusals, refusals_tab = _refusals(ctx, period, safe)
    access_finding, grants_tab = _access(ctx, policy_path, keyring, store, safe)
    findings = [_integrity(ctx, res, period.own_events, anchor, note),
                _authentication(ctx, res, auth, safe.principal(principal)), activity, refusals, access_finding]
    summary = (f"The audit trail '{safe.resource(str(directory))}' "
               + ("verifies" if res.ok else "does not verify")
               + f" ({res.lines} lines); {period.data_count} operation(s) on the audited data and "
               f"{period.refusal_count} refusal(s) since the last audit.")
    tables = [t for t in (activity_tab, refusals_tab, grants_tab) if t is not None]
    return CheckResult(findings=findings, summary=summary, tables=tables)


SPEC = register_check(CheckSpec(
    "accountability", "Audit trail and access", AccountabilityOptions, run, order=0,
    regulations=("gdpr-art-5-2", "gdpr-art-30-1", "gdpr-art-32-1-b", "gdpr-art-32-1-d",
                 "euaiact-art-12-1", "euaiact-art-19-1", "euaiact-art-26-6"),
    description="Verifies the tamper-evident audit trail, lists who did what to the audited data "
    "since the last audit and what was refused, and the principals and roles of the access policy.",
    data_needs="none",
))
