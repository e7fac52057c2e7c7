"""The runner's own audit-trail events, and what the accountability check learns of the run.

An audit run is one trail command, ``audit.run`` (joined to the CLI's command when the CLI runs
it). It records:

- at the start, before the data is read: ``audit.run`` on the data file with its SHA-256,
  outcome ``ok``, params ``{"phase": "start"}``. Written ahead of the work, so a run killed
  half-way (no end event, no seal) still shows that the data was opened for an audit and the
  trail reports the run as unverified rather than losing it;
- at the end: ``audit.run`` on the same file with the run's outcome — ``ok`` (the audit ran;
  its findings' statuses and exit code are in the params), ``error`` when the run raised, or
  ``denied`` on :class:`~auditkit.privacy.errors.AccessDenied` — params ``{"phase": "end",
  "exit_code", "fail", "warn", "error"}``;
- ``report.sign`` on ``manifest.json`` (its SHA-256, the signing key's id) when the run signed
  its report.

Two events rather than one at the end: the first is the write-ahead record (what a crash
leaves), the second the result; the pair also bounds, for the next audit, the period "since the
last audit" in which other principals' events on the data are reported.

:func:`current_run` hands the accountability check this run's trail directory and command id,
so it can tell this run's own (still unsealed) events from an unverified tail.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.config import AuditConfig

__all__ = [
    "IDENTITY_ENV",
    "IDENTITY_PASSPHRASE_ENV",
    "RunMark",
    "audit_session",
    "bind_identity_from_env",
    "current_run",
    "finish_run",
    "trail_head",
    "trail_settings",
]


@dataclass
class RunMark:
    """One audit run as the trail knows it.

    Attributes
    ----------
    directory:
        The trail directory the run writes to.
    cmd:
        The trail command id of the run (its events carry it until the seal).
    data:
        The audited data file (absolute).
    sha256:
        The data file's SHA-256 when the run started (``None`` when it was not a file).
    out_dir:
        The run's final report directory (where a previous signed report may be).
    principal, auth:
        Who runs the audit (``trail.current_principal()``).
    trail_id:
        The trail's id, filled in by whoever verifies the trail first (the accountability check).
    """

    directory: Path
    cmd: str
    data: Path
    sha256: str | None
    out_dir: Path
    principal: str
    auth: str
    trail_id: str | None = None


_RUN: contextvars.ContextVar[RunMark | None] = contextvars.ContextVar("auditkit_audit_run", default=None)


#: The identity file that acts (signs trail seals, is asked about by an access policy), and the
#: variable with its passphrase or key-encryption key.
IDENTITY_ENV = "AUDITKIT_IDENTITY"
IDENTITY_PASSPHRASE_ENV = "AUDITKIT_IDENTITY_PASSPHRASE"


def current_run() -> RunMark | None:
    """The audit run in progress in this context (``None`` outside :func:`run_audit`)."""
    return _RUN.get()


def _resolve(base_dir: Path, path: str | None) -> Path | None:
    if not path:
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


def trail_settings(cfg: AuditConfig, base_dir: Path) -> tuple[Path | None, Path | None, Path | None]:
    """``([trail] path, [keys] keyring, [trail] policy)`` resolved against ``base_dir``."""
    return (_resolve(base_dir, cfg.trail.path), _resolve(base_dir, cfg.keys.keyring),
            _resolve(base_dir, cfg.trail.policy))


@contextlib.contextmanager
def audit_session(cfg: AuditConfig, base_dir: Path, out_dir: Path) -> Iterator[RunMark]:
    """The run's trail command: the start event on entry, an ``error`` / ``denied`` end event
    when the block raises (re-raised); :func:`finish_run` records a normal end.

    Raises
    ------
    TrailError
        The trail cannot be written: the audit is not run unrecorded.
    """
    from auditkit.privacy import trail

    location, keyring, policy = trail_settings(cfg, base_dir)
    data = _resolve(base_dir, cfg.data.path) or base_dir
    data = Path(data.absolute())
    with trail.command("audit.run") as session:
        trail.bind(location=location, keyring=keyring)  # first: a refused policy is sealed here too
        with _policy_in_force(policy, keyring):
            yield from _audit_run(session, data, out_dir)


def _audit_run(session: Any, data: Path, out_dir: Path) -> Iterator[RunMark]:
    """The body of :func:`audit_session` once the trail and the policy are in place."""
    from auditkit.privacy import trail
    from auditkit.privacy.errors import AccessDenied, TrailError

    trail.enforce("audit", data)  # a policy in force must grant it to who acts
    sha = trail.file_sha256(data) if data.is_file() else None
    trail.record("audit.run", resource=data, sha256=sha, params={"phase": "start"})
    name, auth = trail.current_principal()
    mark = RunMark(trail.trail_location(), session.cmd, data, sha, out_dir, name, auth)
    token = _RUN.set(mark)
    try:
        yield mark
    except BaseException as exc:
        outcome = "denied" if isinstance(exc, AccessDenied) else "error"
        with contextlib.suppress(TrailError):  # the seal still records the failure
            trail.record("audit.run", resource=data, sha256=sha, outcome=outcome,
                         params={"phase": "end", "exception": type(exc).__name__[:100]})
        raise
    finally:
        _RUN.reset(token)


@contextlib.contextmanager
def _policy_in_force(policy: Path | None, keyring: Path | None) -> Iterator[None]:
    """The access policy in force for the run: ``[trail] policy``, else
    ``$AUDITKIT_ACCESS_POLICY``, else ``access-policy.json`` beside the key ring; none: the
    legacy model. Who acts is ``$AUDITKIT_IDENTITY`` (bound here when nothing signs yet). The
    process's previous enforcer is restored after the run."""
    from auditkit.privacy import trail
    from auditkit.privacy.access import activate, find_policy, load_policy

    bind_identity_from_env()
    found = find_policy(policy, keyring=keyring)
    if found is None:
        yield
        return
    previous = trail.enforcer()
    activate(load_policy(found))  # refused (PolicyError) unless signed by a trusted access-admin
    try:
        yield
    finally:
        trail.set_enforcer(previous)


def bind_identity_from_env() -> None:
    """Sign the current command with ``$AUDITKIT_IDENTITY`` (passphrase or key-encryption key in
    ``$AUDITKIT_IDENTITY_PASSPHRASE``) unless a signer is bound already."""
    import os

    from auditkit.privacy import trail

    path = os.environ.get(IDENTITY_ENV)
    if not path or trail.current_signer() is not None:
        return
    from auditkit.privacy.access import Identity

    trail.bind(signer=Identity.load_from_env(path, IDENTITY_PASSPHRASE_ENV))


def finish_run(mark: RunMark, exit_code: int, statuses: dict[str, int], manifest: Path | None) -> None:
    """Record the run's end (``statuses``: findings by status) and, when signed, ``report.sign``."""
    from auditkit.privacy import trail

    trail.record("audit.run", resource=mark.data, sha256=mark.sha256, params={
        "phase": "end", "exit_code": int(exit_code), "fail": statuses.get("fail", 0),
        "warn": statuses.get("warn", 0), "error": statuses.get("error", 0)})
    if manifest is not None:
        key_id = _manifest_key_id(manifest)
        trail.record("report.sign", resource=manifest, sha256=trail.file_sha256(manifest),
                     params={"key_id": key_id})


def _manifest_key_id(manifest: Path) -> str | None:
    try:
        found = json.loads(manifest.read_text("ascii")).get("key_id")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) and found.isalnum() and len(found) <= 64 else None


def trail_head(mark: RunMark) -> dict[str, Any] | None:
    """``{"trail_id", "seq", "hash"}`` of the trail's head now, for the signed manifest; ``None``
    when the trail has no id (its genesis line is unreadable)."""
    from auditkit.privacy import trail

    opened = trail.Trail.open(mark.directory)
    seq, digest = opened.head
    if mark.trail_id is None:  # the accountability check did not run: verify once for the id
        mark.trail_id = opened.verify().trail_id
    if mark.trail_id is None:
        return None
    return {"trail_id": mark.trail_id, "seq": seq, "hash": digest}
