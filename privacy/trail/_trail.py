"""One trail directory as an object: verify, read events, checkpoint, export."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditkit.atomic import atomic_write
from auditkit.hints import did_you_mean
from auditkit.privacy.errors import TrailError
from auditkit.privacy.trail import _format as fmt
from auditkit.privacy.trail import _store
from auditkit.privacy.trail._checks import check_fields, signature_problem
from auditkit.privacy.trail._io import LineReader, open_regular
from auditkit.privacy.trail._values import ACTIONS, OUTCOMES, check_signer
from auditkit.privacy.trail._verify import VerifyResult, verify_directory

__all__ = ["Checkpoint", "Event", "Trail"]

CHECKPOINT_FORMAT = "auditkit-trail-checkpoint"
_FILTERS = ("since", "until", "principal", "action", "resource", "outcome")


@dataclasses.dataclass(frozen=True)
class Event:
    """One recorded operation: an ``e`` line, or a command's seal (action ``"command"``)."""

    seq: int
    time: str
    kind: str
    cmd: str
    principal: str
    auth: str
    key_id: str | None
    action: str
    resource: str | None
    sha256: str | None
    outcome: str
    params: dict[str, Any]
    command: str | None = None
    exit_code: int | None = None

    @classmethod
    def from_line(cls, obj: dict[str, Any]) -> Event:
        """The event of a parsed ``e`` or ``s`` line."""
        res = obj.get("resource") or {}
        seal = obj["kind"] == "s"
        return cls(
            seq=obj["seq"], time=obj["time"], kind=obj["kind"], cmd=obj["cmd"],
            principal=obj["principal"], auth=obj["auth"], key_id=obj["key_id"],
            action="command" if seal else obj["action"], resource=res.get("path"),
            sha256=res.get("sha256"), outcome=obj["outcome"], params=dict(obj["params"]),
            command=obj["command"] if seal else None, exit_code=obj.get("exit_code"),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """An administrator's countersignature of a trail's head, exportable and checkable alone.

    ``line`` is the checkpoint's own ``c`` line, so :meth:`from_file` re-checks its hash and
    Ed25519 signature without the trail; keep the file elsewhere and give it to
    ``Trail.verify(anchor=...)`` to prove that the trail still holds that line.
    """

    trail_id: str
    seq: int
    hash: str
    time: str
    admin: str
    key_id: str
    public_key: str
    sig: str
    line: str

    def to_json(self) -> str:
        """The checkpoint as JSON text (what :meth:`from_file` reads)."""
        return json.dumps({"format": CHECKPOINT_FORMAT, "version": fmt.VERSION,
                           **dataclasses.asdict(self)}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_line(cls, line: bytes, where: str = "The checkpoint") -> Checkpoint:
        """The checkpoint of a ``c`` line (without newline), after checking it; TrailError if bad."""
        obj = fmt.parse_line(line)
        problem = check_fields(obj, "c") if fmt.well_formed(line) else "it is not a trail line"
        if not problem and fmt.line_hash(line[:-fmt.SUFFIX_LEN]) != obj["hash"]:
            problem = "its line does not match its hash"
        if not problem:
            problem = signature_problem(line, obj, {})
        if problem:
            raise TrailError(f"{where} is not a valid trail checkpoint: {problem}. Export it again "
                             "with `auditkit trail checkpoint`.")
        return cls(obj["trail_id"], obj["seq"], obj["hash"], obj["time"], obj["principal"],
                   obj["key_id"], obj["public_key"], obj["sig"], line.decode("ascii"))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Checkpoint:
        """Read and check a checkpoint file written from :meth:`to_json`."""
        where = f"The checkpoint file {path}"
        try:
            with open(path, "rb") as fh:
                obj = json.loads(fh.read(1 << 20))
        except OSError as exc:
            raise TrailError(f"Cannot read {path}: {exc.strerror}. Give a checkpoint file.") from None
        except (ValueError, RecursionError):
            obj = None
        if (not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT
                or not isinstance(obj.get("line"), str) or not obj["line"].isascii()):
            raise TrailError(f"{where} is not an auditkit trail checkpoint (JSON with format "
                             f"{CHECKPOINT_FORMAT!r}). Give the file `auditkit trail checkpoint` wrote.")
        found = cls.from_line(obj["line"].encode("ascii"), where)
        if {k: v for k, v in obj.items() if k not in ("format", "version")} != dataclasses.asdict(found):
            raise TrailError(f"{where} has fields that disagree with its signed line; export it again.")
        return found


def _time_bound(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise TrailError(f"The {name!r} filter must be an ISO date or time (e.g. 2025-01-31 or "
                             "2025-01-31T12:00:00Z).") from None
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, _dt.datetime):
        raise TrailError(f"The {name!r} filter must be a datetime, a date or ISO text.")
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    value = value.astimezone(_dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}Z"


def _matcher(filters: dict[str, Any]):
    unknown = set(filters) - set(_FILTERS)
    if unknown:
        name = sorted(unknown)[0]
        raise TrailError(f"Unknown trail filter {name!r}; the filters are {', '.join(_FILTERS)}."
                         f"{did_you_mean(name, _FILTERS)}")
    since, until = _time_bound(filters.get("since"), "since"), _time_bound(filters.get("until"), "until")
    action, outcome = filters.get("action"), filters.get("outcome")
    if action is not None and action not in ACTIONS:
        raise TrailError(f"The 'action' filter must be one of the trail's actions.{did_you_mean(action, ACTIONS)}")
    if outcome is not None and outcome not in OUTCOMES:
        raise TrailError(f"The 'outcome' filter must be one of {', '.join(OUTCOMES)}.")
    resource = filters.get("resource")
    paths = None if resource is None else {os.fspath(resource), os.path.abspath(os.fspath(resource))}
    principal = filters.get("principal")

    def match(e: Event) -> bool:
        return ((since is None or e.time >= since) and (until is None or e.time < until)
                and (principal is None or e.principal == principal)
                and (action is None or e.action == action) and (outcome is None or e.outcome == outcome)
                and (paths is None or e.resource in paths))

    return match


class Trail:
    """One trail directory. Open it with :meth:`open`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"Trail({str(self.directory)!r})"

    @classmethod
    def open(cls, path: str | os.PathLike, *, create: bool = False,
             segment_bytes: int | None = None) -> Trail:
        """The trail in directory ``path``.

        Parameters
        ----------
        path
            The trail directory.
        create
            Create the directory (mode 0700) and its genesis line when missing.
        segment_bytes
            Size after which a new segment starts (default 64 MiB); stored in the genesis line
            of a new trail, so every writer uses it. Ignored for an existing trail.
        """
        directory = Path(os.path.abspath(Path(path).expanduser()))
        if segment_bytes is not None and (not isinstance(segment_bytes, int) or segment_bytes < 1):
            raise TrailError("The 'segment_bytes' of Trail.open must be a positive int.")
        if create:
            app = _store.appender(directory, create=True, segment_bytes=segment_bytes)
            if not _store.list_segments(directory):
                app.append([])
        else:
            _store.check_directory(directory, create=False)
            if not _store.list_segments(directory):
                raise TrailError(f"The directory {directory} holds no audit trail segments "
                                 "(NNNNNN.jsonl). Give the directory of an existing trail.")
        return cls(directory)

    def verify(self, *, anchor: Checkpoint | tuple[int, str] | None = None, trust: Any = None,
               full: bool = False) -> VerifyResult:
        """Verify the whole trail; the result names the first bad line, if any.

        Parameters
        ----------
        anchor
            A checkpoint kept elsewhere (or ``(seq, hash)``, e.g. from a signed report): the
            trail must still hold that line.
        trust
            The :class:`auditkit.reports.trust.TrustStore` that resolves keys (default: the
            user's, :meth:`TrustStore.load_default`).
        full
            Also parse and check the fields of every plain event (slower).
        """
        return verify_directory(self.directory, anchor=anchor, trust=trust, full=full)

    def _open_segment(self, number: int) -> int:
        path = self.directory / _store.segment_name(number)
        try:
            return open_regular(path)
        except OSError as exc:
            raise TrailError(f"Cannot read the audit trail segment {path}: "
                             f"{exc.strerror or 'not a regular file'}. Run `auditkit trail verify` "
                             "on the trail.") from None

    def _lines(self) -> Iterator[bytes]:
        for number in _store.list_segments(self.directory):
            fd = self._open_segment(number)
            try:
                for batch in LineReader(fd, os.fstat(fd).st_size):
                    yield from batch
            finally:
                os.close(fd)

    def events(self, **filters: Any) -> Iterator[Event]:
        """The recorded events and command seals, oldest first, filtered; not verified.

        Filters: ``since`` (inclusive) and ``until`` (exclusive) as datetime, date or ISO text
        (UTC when no zone), ``principal``, ``action`` (``"command"`` for seals), ``resource``
        (a path, compared as given and as an absolute path) and ``outcome``.
        """
        match = _matcher(filters)
        for line in self._lines():
            if len(line) < fmt.MIN_LEN or line[124:125] not in (b"e", b"s"):
                continue
            obj = fmt.parse_line(line)
            if obj is None or check_fields(obj, obj.get("kind")):
                continue
            event = Event.from_line(obj)
            if match(event):
                yield event

    @property
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last complete line."""
        for number in reversed(_store.list_segments(self.directory)):
            fd = self._open_segment(number)
            try:
                line, _ = _store.read_last_line(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            if line is not None and fmt.well_formed(line) and fmt.seq_of(line) is not None:
                return fmt.seq_of(line), line[-66:-2].decode("ascii")
        raise TrailError(f"The audit trail {self.directory} has no complete line; run "
                         "`auditkit trail verify` on it.")

    def checkpoint(self, signer: Any) -> Checkpoint:
        """Append a checkpoint signed by ``signer`` (a ``trail-admin``) and return it."""
        signer = check_signer(signer)
        app = _store.appender(self.directory)
        public, made = fmt.b64e(signer.public_key_raw()), []

        def build(prev: str, seq: int) -> tuple[bytes, str]:
            fields = [("principal", signer.name), ("auth", "key"), ("key_id", signer.key_id),
                      ("public_key", public), ("trail_id", app.trail_id), ("head_seq", seq - 1)]
            line, digest = fmt.build_line(prev, os.urandom(16).hex(), "c", seq, fields, sign=signer.sign)
            made.append(line)
            return line, digest

        app.append([build], head=True)
        return Checkpoint.from_line(made[-1].rstrip(b"\n"))

    def export_jsonl(self, dst: str | os.PathLike, **filters: Any) -> int:
        """Write the (filtered) events as JSON Lines to ``dst`` atomically; return how many.

        ``dst`` may not be inside the trail directory. The file is mode 0600.
        """
        target = Path(os.path.abspath(Path(dst).expanduser()))
        real, home = Path(os.path.realpath(target)), Path(os.path.realpath(self.directory))
        if real == home or home in real.parents or target == self.directory or self.directory in target.parents:
            raise TrailError(f"The export file {target} is inside the audit trail {self.directory}; "
                             "write it somewhere else.")
        count = 0
        try:
            with atomic_write(target, mode=0o600) as fh:
                for event in self.events(**filters):
                    fh.write(json.dumps(event.to_dict(), sort_keys=True, ensure_ascii=False).encode() + b"\n")
                    count += 1
        except FileNotFoundError:
            raise TrailError(f"Cannot write {target}: its directory does not exist. Create it "
                             "or give another path.") from None
        return count
