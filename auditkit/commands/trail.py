"""``auditkit trail verify|show|export|checkpoint``: the tamper-evident audit trail.

``verify`` checks every line's hash and link, every command's seal and signature, the HEAD
witness and an optional anchor (a checkpoint kept elsewhere, or a signed report's manifest, which
carries the trail head it was written at). Exit status: 0 verified (events no signature covers
yet are reported; ``--strict`` makes them fail), 1 the trail was altered (the first bad line is
named) or, with ``--strict``, something is unverified; 2 bad input; 4 every line chains but some
seals are signed by keys the trust store does not hold (as ``auditkit verify`` for reports).

``show`` lists events (table or ``--json``) filtered by time, principal, action, resource and
outcome; ``export`` writes them as JSON Lines for a SIEM; ``checkpoint`` has an administrator
(trust-store role ``trail-admin``) countersign the head and writes the checkpoint to keep
elsewhere. The trail is ``--trail DIR``, else the one this machine writes to
(``auditkit.privacy.trail.trail_location``: ``$AUDITKIT_TRAIL``, beside ``$AUDITKIT_KEYRING``, or
the per-user state directory). Format and threat model: docs/trail.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditkit.commands import _common
from auditkit.commands._keyring import DEFAULT_PASSPHRASE_ENV

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.trail import Trail, VerifyResult
    from auditkit.reports.trust import TrustStore

TrailOpt = Annotated[
    Path | None,
    typer.Option("--trail", help="The trail directory (default: where this machine writes).",
                 show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="From this time (ISO 8601; UTC "
                                              "when no zone), inclusive.", show_default=False)]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Before this time, exclusive.",
                                              show_default=False)]
PrincipalOpt = Annotated[str | None, typer.Option("--principal", help="Only this principal.",
                                                  show_default=False)]
ActionOpt = Annotated[str | None, typer.Option("--action", help="Only this action (`command` for "
                                               "command seals).", show_default=False)]
ResourceOpt = Annotated[str | None, typer.Option("--resource", help="Only events on this path.",
                                                 show_default=False)]
OutcomeOpt = Annotated[str | None, typer.Option("--outcome", help="Only ok, denied or error.",
                                                show_default=False)]


def _open(path: Path | None, keyring: Path | None = None) -> Trail:
    from auditkit.privacy.errors import TrailError
    from auditkit.privacy.trail import Trail, trail_location

    target = path if path is not None else trail_location(keyring=keyring)
    if not target.exists():
        raise TrailError(
            f"There is no audit trail at {target}. Give the trail directory with --trail, or set "
            "$AUDITKIT_TRAIL; a trail is created by the first command that records an event."
        )
    return Trail.open(target)


def _trust(trust_store: Path | None, keyring: Path | None, passphrase_env: str) -> TrustStore:
    """The trust store, plus the legacy ring principals when ``--keyring`` is given."""
    from auditkit.reports.trust import TrustStore, default_trust_store_path

    # A trust store that does not exist yet trusts nobody: seals then read "untrusted key".
    store = TrustStore.load(trust_store or default_trust_store_path(), missing_ok=True)
    if keyring is None:
        return store
    from auditkit.commands._keyring import open_ring
    from auditkit.privacy.trail import trust_key_ring

    return trust_key_ring(store, open_ring(keyring, passphrase_env))


def _anchor(path: Path | None, store: TrustStore) -> Any:
    """A checkpoint file, or a signed report directory (or its manifest.json) carrying the head.

    A report's head counts only when the report's signature verifies and its signer is trusted
    (as ``auditkit verify`` decides): an unsigned head could be edited along with the trail.
    """
    if path is None:
        return None
    from types import SimpleNamespace

    from auditkit.privacy.errors import TrailError
    from auditkit.privacy.trail import Checkpoint

    manifest = path / "manifest.json" if path.is_dir() else path
    if manifest.name != "manifest.json":
        return Checkpoint.from_file(path)
    from auditkit.reports.signing import verify

    checked = verify(manifest.parent, None, trust_store=store, check_inputs=False)
    if not checked.ok:
        raise TrailError(
            f"The report {manifest.parent} cannot anchor the trail: {checked.summary()} Give a report "
            "whose signature verifies with a trusted key, or a checkpoint file."
        )
    try:
        head = json.loads(manifest.read_text("utf-8")).get("trail")
    except (OSError, ValueError, AttributeError, RecursionError):
        head = None
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int) \
            or not isinstance(head.get("hash"), str):
        raise TrailError(
            f"The report manifest {manifest} carries no audit-trail head (reports signed "
            "before the trail existed do not). Give a checkpoint file written by "
            "`auditkit trail checkpoint` instead."
        )
    trail_id = head.get("trail_id") if isinstance(head.get("trail_id"), str) else None
    return SimpleNamespace(seq=head["seq"], hash=head["hash"], trail_id=trail_id)


_TRUST_HINT = (
    "If the seals are genuine, trust their signers: pass --keyring for the seals of a key ring's "
    "holder, or add the principal's public key to the trust store (`auditkit access identity new "
    "... --trust-store` or `auditkit keys trust`)."
)


def _where(bad: Any) -> str:
    return f"line {bad.seq}" + (f" ({bad.segment}, line {bad.line})" if bad.segment else "")


def _summary(result: VerifyResult) -> list[str]:
    lines = []
    bad, stranger = result.first_bad, result.first_untrusted
    if bad is not None:
        lines.append(f"ALTERED: {result.directory}: {_where(bad)}: {bad.kind}: {bad.detail}")
        if bad.kind == "key of another principal":
            lines.append(_TRUST_HINT)
    elif stranger is not None:
        lines.append(
            f"INTACT BUT NOT VOUCHED FOR: {result.directory}: every line chains, but "
            f"{result.untrusted} seal(s) or checkpoint(s) are signed by keys the trust store does not "
            f"hold (first: {_where(stranger)}: {stranger.detail})."
        )
        lines.append(_TRUST_HINT)
    else:
        lines.append(
            f"Verified: {result.directory}: {result.lines} lines in {result.segments} segment(s), "
            f"head seq {result.head_seq} {result.head_hash}; covered by trusted signatures up "
            f"to seq {result.verified_seq}."
        )
    tail = result.unverified_tail
    if tail.count:
        lines.append(f"Unverified: {tail.count} event(s) from seq {tail.first_seq} that no "
                     f"signature covers yet: {tail.reason}.")
    if result.unauthenticated:
        lines.append(f"{result.unauthenticated} command(s) by unauthenticated principals (OS "
                     "users): hash-chained, but nobody's key vouches for them.")
    lines.append(f"HEAD witness: {result.head_witness}." + (f" Anchor: {result.anchor}." if result.anchor else ""))
    return lines


def verify_command(
    trail_dir: TrailOpt = None,
    anchor: Annotated[Path | None, typer.Option(
        "--anchor", help="A checkpoint file (`auditkit trail checkpoint`) or a signed report "
        "directory: the trail must still hold that head.", show_default=False)] = None,
    keyring: Annotated[Path | None, typer.Option(
        "--keyring", "-k", help="Trust the seals of this key ring's principal (legacy "
        "one-ring setups); its trail, beside it, is the default.", show_default=False)] = None,
    passphrase_env: Annotated[str, typer.Option(
        "--passphrase-env", help="Variable holding the key ring's passphrase.")] = DEFAULT_PASSPHRASE_ENV,
    trust_store: _common.TrustStoreOption = None,
    full: Annotated[bool, typer.Option("--full", help="Also parse every event's fields.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail when anything is unverified "
                                         "(unsealed tail, unauthenticated commands).")] = False,
    as_json: JsonOpt = False,
) -> int:
    """Verify the trail: 0 verified, 1 altered (first bad line named), 2 bad input, 4 intact but
    signed by keys the trust store does not hold."""
    from auditkit.privacy import trail

    target = _open(trail_dir, keyring)
    store = _trust(trust_store, keyring, passphrase_env)
    result = target.verify(anchor=_anchor(anchor, store), trust=store, full=full)
    unverified = bool(result.unverified_tail.count or result.unauthenticated)
    altered = result.first_bad is not None
    code = 1 if altered else 4 if result.first_untrusted is not None else 1 if strict and unverified else 0
    failed = code != 0
    trail.record("trail.verify", resource=target.directory, outcome="error" if failed else "ok",
                 params={"lines": result.lines, "intact": result.ok, "full": full})
    if as_json:
        _common.console().print_json(json.dumps(result.to_dict()))
    else:
        con = _common.err_console() if failed else _common.console()
        for line in _summary(result):
            con.print(_common.escape(line))
    return code


def _filters(since: str | None, until: str | None, principal: str | None, action: str | None,
             resource: str | None, outcome: str | None) -> dict[str, Any]:
    pairs = {"since": since, "until": until, "principal": principal, "action": action,
             "resource": resource, "outcome": outcome}
    return {k: v for k, v in pairs.items() if v is not None}


def show_command(
    trail_dir: TrailOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    principal: PrincipalOpt = None, action: ActionOpt = None, resource: ResourceOpt = None,
    outcome: OutcomeOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show the last N matching events.")] = 50,
    as_json: JsonOpt = False,
) -> int:
    """List trail events, newest last (not a verification: run `auditkit trail verify`)."""
    from collections import deque

    from rich.table import Table

    target = _open(trail_dir)
    events = list(deque(target.events(**_filters(since, until, principal, action, resource, outcome)),
                        maxlen=limit))
    if as_json:
        _common.console().print_json(json.dumps([e.to_dict() for e in events]))
        return 0
    table = Table(title=f"Audit trail {target.directory} (last {len(events)} matching)")
    for col in ("seq", "time (UTC)", "principal", "auth", "action", "resource", "outcome"):
        table.add_column(col)
    for e in events:
        what = e.action if e.action != "command" else f"command: {e.command}"
        table.add_row(str(e.seq), e.time, _common.escape(e.principal), e.auth, _common.escape(what),
                      _common.escape(e.resource or ""), e.outcome)
    _common.console().print(table)
    return 0


def export_command(
    out: Annotated[Path, typer.Argument(help="The JSON Lines file to write.", show_default=False)],
    trail_dir: TrailOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    principal: PrincipalOpt = None, action: ActionOpt = None, resource: ResourceOpt = None,
    outcome: OutcomeOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> int:
    """Write the (filtered) events as JSON Lines, one object per event, for a SIEM."""
    from auditkit.privacy import trail
    from auditkit.privacy.errors import TrailError

    _common.sweep_leftovers(out)
    if out.exists() and not force:
        raise TrailError(f"The output file '{out}' already exists; choose another path or pass --force.")
    target = _open(trail_dir)
    filters = _filters(since, until, principal, action, resource, outcome)
    count = target.export_jsonl(out, **filters)
    trail.record("trail.export", resource=out, params={"events": count, "filtered": bool(filters)})
    _common.console().print(_common.escape(f"Wrote {count} event(s) to {out} (mode 0600)."))
    return 0


def checkpoint_command(
    identity: Annotated[Path, typer.Option("--identity", help="The administrator's identity file "
                                           "(trust-store role trail-admin).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Where to write the checkpoint; keep a copy "
                                      "outside the trail's machine.", show_default=False)],
    trail_dir: TrailOpt = None,
    passphrase_env: Annotated[str, typer.Option(
        "--passphrase-env", help="Variable holding the identity's passphrase (or key-encryption "
        "key); asked for when unset.")] = "AUDITKIT_IDENTITY_PASSPHRASE",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> int:
    """Countersign the trail's head as an administrator and write the checkpoint."""
    from auditkit.atomic import atomic_write_text
    from auditkit.privacy import trail
    from auditkit.privacy.access import Identity
    from auditkit.privacy.errors import TrailError

    _common.sweep_leftovers(out)
    if out.exists() and not force:
        raise TrailError(f"The output file '{out}' already exists; choose another path or pass --force.")
    admin = _load_identity(identity, passphrase_env, Identity)
    trail.bind(signer=admin)  # the administrator acts: this command's seal is theirs too
    target = _open(trail_dir)
    cp = target.checkpoint(admin)
    atomic_write_text(out, cp.to_json() + "\n", mode=0o600)
    trail.record("trail.checkpoint", resource=target.directory, params={"seq": cp.seq})
    _common.console().print(_common.escape(
        f"Checkpoint at seq {cp.seq} ({cp.hash}) countersigned by {admin.name}; written to {out}. "
        "Verify later with `auditkit trail verify --anchor` on that file."
    ))
    return 0


def _load_identity(path: Path, passphrase_env: str, identity_cls: Any) -> Any:
    import os

    if os.environ.get(passphrase_env):
        return identity_cls.load_from_env(path, passphrase_env)
    secret = typer.prompt("Identity passphrase", hide_input=True, show_default=False)
    return identity_cls.load(path, passphrase=secret)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The tamper-evident audit trail: verify, show, export, checkpoint.",
                        no_args_is_help=True, rich_markup_mode="markdown")
    group.command("verify")(verify_command)
    group.command("show")(show_command)
    group.command("export")(export_command)
    group.command("checkpoint")(checkpoint_command)
    app.add_typer(group, name="trail")
