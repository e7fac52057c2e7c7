"""Command sessions: who is acting, where the trail is, and the events and seal of one command.

A :func:`command` block is one session (held in a :class:`contextvars.ContextVar`). Each
:func:`record` inside it appends one ``e`` line at once (write-ahead, fsync-ed); leaving the
block appends the seal ``s`` — outcome ``ok``, ``error`` (an exception) or ``denied``
(:class:`~auditkit.privacy.errors.AccessDenied`) — listing the command's event ranges and
signed by the bound :class:`Signer`. Nested blocks join the outer session. A :func:`record`
with no session open writes its event and a seal in one write (a one-shot command).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import getpass
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from auditkit.privacy.errors import AccessDenied, TrailError
from auditkit.privacy.trail import _format as fmt
from auditkit.privacy.trail import _store
from auditkit.privacy.trail._values import (
    Signer,
    check_action,
    check_command_name,
    check_outcome,
    check_params,
    check_resource,
    check_signer,
)

__all__ = [
    "TRAIL_ENV",
    "CommandSession",
    "bind",
    "command",
    "current_principal",
    "record",
    "trail_location",
]

#: Environment variable naming the trail directory.
TRAIL_ENV = "AUDITKIT_TRAIL"
#: Environment variable naming the key ring (its directory holds ``auditkit-trail``).
KEYRING_ENV = "AUDITKIT_KEYRING"
TRAIL_DIR_NAME = "auditkit-trail"


@dataclasses.dataclass
class _Binding:
    signer: Any = None
    location: Path | None = None
    keyring: Path | None = None


_DEFAULT = _Binding()
_SESSION: contextvars.ContextVar[CommandSession | None] = contextvars.ContextVar(
    "auditkit_trail_session", default=None
)


_USER: dict[int, str] = {}


def _os_user() -> str:
    """``os:<login name>`` (cached per process), else ``os:uid<n>``."""
    found = _USER.get(os.getpid())
    if found is None:
        found = _USER[os.getpid()] = _lookup_user()
    return found


def _lookup_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError, ImportError):
        user = ""
    if user and user.isprintable() and len(user) <= 64:
        return f"os:{user}"
    getuid = getattr(os, "getuid", None)
    return f"os:uid{getuid()}" if getuid else "os:unknown"


def _binding() -> _Binding:
    session = _SESSION.get()
    return session.binding if session is not None else _DEFAULT


def current_principal() -> tuple[str, str]:
    """``(name, auth)`` of who acts now: the bound signer (auth ``"key"``) or the OS user.

    With no signer bound the name is ``"os:<user>"`` (``getpass.getuser()``, else ``uid<n>``)
    and auth is ``"none"``: recorded, but unauthenticated.
    """
    signer = _binding().signer
    return (signer.name, "key") if signer is not None else (_os_user(), "none")


def _state_home() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME", "")
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"


def trail_location(*, keyring: str | os.PathLike | None = None) -> Path:
    """The trail directory the current session (or the process) writes to.

    Resolution order: ``bind(location=...)``; ``$AUDITKIT_TRAIL``; the key ring given here or
    bound with ``bind(keyring=...)`` -> ``<its directory>/auditkit-trail``; ``$AUDITKIT_KEYRING``
    -> ``<its directory>/auditkit-trail``; ``$XDG_STATE_HOME/auditkit/trail``
    (``~/.local/state/auditkit/trail`` when unset).
    """
    b = _binding()
    if b.location is not None:
        return b.location
    env = os.environ.get(TRAIL_ENV)
    if env:
        return Path(os.path.abspath(Path(env).expanduser()))
    ring = keyring if keyring is not None else b.keyring
    if ring is None and os.environ.get(KEYRING_ENV):
        ring = os.environ[KEYRING_ENV]
    if ring is not None:
        return Path(os.path.abspath(Path(ring).expanduser())).parent / TRAIL_DIR_NAME
    return _state_home() / "auditkit" / "trail"


def _ranges(seqs: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for s in seqs:
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


class CommandSession:
    """One command's session (see the module docstring). Set ``exit_code`` before it closes."""

    def __init__(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.params = check_params(params, "command")
        self.cmd = os.urandom(16).hex()
        self.binding = dataclasses.replace(_DEFAULT)
        self.exit_code: int | None = None
        self.events: list[int] = []
        self.directory: Path | None = None
        self.written_by: str | None = None  # key id of the signer of events written so far

    def __repr__(self) -> str:
        return f"CommandSession(name={self.name!r}, cmd={self.cmd!r}, events={len(self.events)})"

    def _principal(self) -> list[tuple[str, Any]]:
        signer = self.binding.signer
        if signer is None:
            return [("principal", _os_user()), ("auth", "none"), ("key_id", None)]
        return [("principal", signer.name), ("auth", "key"), ("key_id", signer.key_id)]

    def _appender(self) -> _store.Appender:
        if self.directory is None:
            self.directory = trail_location()
        return _store.appender(self.directory)

    def event_builder(self, action: str, resource: dict | None, outcome: str,
                      params: dict[str, Any]) -> _store.Builder:
        """The builder of one ``e`` line of this session."""
        fields = [*self._principal(), ("action", action), ("resource", resource),
                  ("outcome", outcome), ("params", params)]
        return lambda prev, seq: fmt.build_line(prev, self.cmd, "e", seq, fields)

    def seal_builder(self, outcome: str, preceding: int = 0) -> _store.Builder:
        """The builder of this session's seal; ``preceding`` events are written in the same call,
        right before it."""
        signer = self.binding.signer
        public = fmt.b64e(signer.public_key_raw()) if signer is not None else None

        def build(prev: str, seq: int) -> tuple[bytes, str]:
            events = _ranges([*self.events, *range(seq - preceding, seq)])
            fields = [*self._principal(), ("public_key", public), ("command", self.name),
                      ("params", self.params), ("outcome", outcome),
                      ("exit_code", self.exit_code), ("events", events)]
            sign = signer.sign if signer is not None else None
            return fmt.build_line(prev, self.cmd, "s", seq, fields, sign=sign)

        return build

    def record(self, action: str, resource: dict | None, outcome: str, params: dict[str, Any]) -> None:
        """Append one event of this session (one write, one fsync)."""
        [(seq, _)] = self._appender().append([self.event_builder(action, resource, outcome, params)])
        self.events.append(seq)
        if self.binding.signer is not None:
            self.written_by = self.binding.signer.key_id

    def hand_over(self, signer: Signer) -> None:
        """Before ``signer`` replaces a signer that already wrote events: seal those events with
        the key that wrote them (outcome ok) and go on as a new command (a fresh ``cmd``), so
        that every seal vouches only for events written with its own key."""
        if self.written_by is None or self.written_by == signer.key_id:
            return
        self.seal("ok")
        self.cmd, self.events, self.written_by = os.urandom(16).hex(), [], None

    def seal(self, outcome: str) -> None:
        """Append the seal (and rewrite HEAD)."""
        self._appender().append([self.seal_builder(outcome)], head=True)


def record(
    action: str,
    *,
    resource: str | os.PathLike | None = None,
    sha256: str | None = None,
    outcome: str = "ok",
    params: Mapping[str, bool | int | float | str | None] | None = None,
) -> None:
    """Append one event to the trail.

    Inside a :func:`command` block the event joins that command (its seal comes when the
    block ends). Outside one, the event and its seal are written at once, as a one-shot command
    named ``action`` (one write, one fsync).

    Parameters
    ----------
    action
        One of :data:`ACTIONS` (others are refused with the closest name).
    resource
        The file (a path-like is recorded as an absolute path) or resource name acted on.
    sha256
        The resource file's SHA-256 hex digest when the caller has it (see :func:`file_sha256`).
    outcome
        ``"ok"``, ``"denied"`` or ``"error"``.
    params
        At most 16 names (``[a-z_][a-z0-9_]{0,39}``) to bool, int, finite float, None or
        printable text of at most 120 characters. Never a data value, a secret or a passphrase.

    Raises
    ------
    TrailError
        A bad argument (the message names the parameter, never its value), or the trail
        cannot be written.
    """
    action = check_action(action)
    outcome = check_outcome(outcome)
    res = check_resource(resource, sha256)
    clean = check_params(params)
    session = _SESSION.get()
    if session is not None:
        session.record(action, res, outcome, clean)
        return
    one_shot = CommandSession(action)
    one_shot._appender().append(
        [one_shot.event_builder(action, res, outcome, clean), one_shot.seal_builder(outcome, 1)],
        head=True,
    )


def _exception_outcome(exc: BaseException, session: CommandSession) -> str:
    code = getattr(exc, "exit_code", None)
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if isinstance(code, int) and not isinstance(code, bool) and session.exit_code is None:
        session.exit_code = code
    if isinstance(exc, AccessDenied):
        return "denied"
    return "ok" if code == 0 else "error"


@contextlib.contextmanager
def command(name: str, *, params: Mapping[str, Any] | None = None) -> Iterator[CommandSession]:
    """One command's session: its events, then a seal when the block ends.

    The seal's outcome is ``ok``, ``error`` (any exception, re-raised) or ``denied``
    (:class:`~auditkit.privacy.errors.AccessDenied`, re-raised). Nested blocks join the outer
    session and write no seal of their own. Nothing is written before the first event or the seal.

    Examples
    --------
    >>> with command("audit.run", params={"checks": 3}) as session:   # doctest: +SKIP
    ...     record("decrypt", resource=Path("data.enc"))
    ...     session.exit_code = 0
    """
    if _SESSION.get() is not None:
        yield _SESSION.get()
        return
    session = CommandSession(check_command_name(name), params)
    token = _SESSION.set(session)
    try:
        yield session
    except BaseException as exc:
        outcome = _exception_outcome(exc, session)
        _SESSION.reset(token)
        try:
            session.seal(outcome)
        except TrailError as err:
            warnings.warn(f"The command's seal was not written to the audit trail: {err}",
                          RuntimeWarning, stacklevel=3)
        raise
    _SESSION.reset(token)
    session.seal("ok" if session.exit_code in (None, 0) else "error")


def bind(
    *,
    signer: Signer | None = None,
    location: str | os.PathLike | None = None,
    keyring: str | os.PathLike | None = None,
) -> None:
    """Configure the current session, or the process default when no session is active.

    Parameters
    ----------
    signer
        Who acts: signs the seal (any time before it) and names the principal of later events.
    location
        The trail directory (only before the session's first write).
    keyring
        The key ring in use; its directory holds the trail unless a location or
        ``$AUDITKIT_TRAIL`` is set (only before the first write).
    """
    session = _SESSION.get()
    b = session.binding if session is not None else _DEFAULT
    if signer is not None:
        check_signer(signer)
        if session is not None:
            session.hand_over(signer)
        b.signer = signer
    new_location = Path(os.path.abspath(Path(location).expanduser())) if location is not None else None
    new_ring = Path(os.path.abspath(Path(keyring).expanduser())) if keyring is not None else None
    if session is not None and session.directory is not None and (new_location or new_ring):
        saved = (b.location, b.keyring)
        b.location, b.keyring = new_location or b.location, new_ring or b.keyring
        target = trail_location()
        b.location, b.keyring = saved
        if target != session.directory:
            raise TrailError(
                f"This command already writes to the audit trail {session.directory}; it cannot "
                f"move to {target}. Bind the location or key ring before the command's first event."
            )
    if new_location is not None:
        b.location = new_location
    if new_ring is not None:
        b.keyring = new_ring
