"""What the accountability check reads from the audit trail: its verification, the operations on
the audited data since the previous audit, and the refusals in that period.

One streaming pass over :meth:`auditkit.privacy.trail.Trail.events` collects everything; only
the last ``max_rows`` rows of each table are kept (the counts cover all). This run's own events
(its command id, still unsealed while the checks run) are counted apart: they are neither "since
the last audit" nor an unverified tail.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.reports import Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._redact import PersonalValueIndex
    from auditkit.privacy.trail import Event

__all__ = ["ACTIVITY_COLUMNS", "Anchor", "DataMatcher", "Period", "SafeText", "activity_table", "read_anchor",
           "scan_period"]

ACTIVITY_COLUMNS = ("Seq", "Time (UTC)", "Principal", "Auth", "Action", "Outcome", "Resource")


@dataclass(frozen=True)
class DataMatcher:
    """Which events concern the audited data: their resource path is the data file, its
    encrypted copy (``x.enc`` beside ``x``, or ``x`` beside ``x.enc``) or a path listed in
    ``[checks.accountability] resources``, or their SHA-256 is the data file's."""

    paths: frozenset[str]
    digests: frozenset[str]

    @classmethod
    def of(cls, data: Path, sha256: str | None, extra: Iterable[Path]) -> DataMatcher:
        base = os.path.abspath(data)
        paths = {base, base[:-4] if base.endswith(".enc") else base + ".enc"}
        paths.update(os.path.abspath(p) for p in extra)
        return cls(frozenset(paths), frozenset({sha256} if sha256 else ()))

    def __call__(self, event: Event) -> bool:
        return (event.resource is not None and event.resource in self.paths) or (
            event.sha256 is not None and event.sha256 in self.digests)


@dataclass
class Period:
    """The trail since the previous audit of the data (or since its start when there is none)."""

    previous: Event | None = None
    data_events: deque = field(default_factory=deque)
    data_count: int = 0
    data_principals: set[str] = field(default_factory=set)
    refusals: deque = field(default_factory=deque)
    refusal_count: int = 0
    own_events: int = 0
    audits_before: int = 0


def scan_period(events: Iterable[Event], matches: Callable[[Event], bool], own_cmd: str | None,
                max_rows: int) -> Period:
    """One pass over the trail's events (see the module docstring)."""
    period = Period(data_events=deque(maxlen=max_rows), refusals=deque(maxlen=max_rows))
    previous_cmd = None
    for event in events:
        if own_cmd is not None and event.cmd == own_cmd:
            period.own_events += event.kind == "e"
            continue
        if event.kind != "e":
            continue
        if event.action == "audit.run" and matches(event):
            if event.cmd != previous_cmd:
                period.audits_before += 1
                previous_cmd = event.cmd
            period = _restart(period, event, max_rows)
            continue
        if matches(event):
            period.data_events.append(event)
            period.data_count += 1
            period.data_principals.add(event.principal)
        if event.outcome == "denied":
            period.refusals.append(event)
            period.refusal_count += 1
    return period


def _restart(period: Period, previous: Event, max_rows: int) -> Period:
    return Period(previous=previous, data_events=deque(maxlen=max_rows), refusals=deque(maxlen=max_rows),
                  own_events=period.own_events, audits_before=period.audits_before)


class SafeText:
    """Principal names and resource paths as the report may show them.

    Names and paths are not cell values of the data, but a person's name can be both a principal
    and a value of a personal column; such a name (or path) is shown as a pseudonym instead, so
    the runner's leak guard never has to refuse the report for it.
    """

    def __init__(self, guard: PersonalValueIndex | None, base_dir: Path) -> None:
        self._guard, self._base = guard, base_dir
        self._pseudonyms: dict[str, str] = {}

    def _collides(self, text: str) -> bool:
        if self._guard is None:
            return False
        return bool(self._guard.find(text)) or bool(self._guard.leaks_in_report(_Probe(text)))

    def _safe(self, text: str, kind: str) -> str:
        if text in self._pseudonyms:
            return self._pseudonyms[text]
        shown = text if text.isprintable() and not self._collides(text) else (
            f"{kind} #{len(self._pseudonyms) + 1} (withheld: its name matches a personal-data value)")
        self._pseudonyms[text] = shown
        return shown

    def principal(self, name: str) -> str:
        return self._safe(name, "principal")

    def resource(self, path: str | None) -> str:
        if path is None:
            return "-"
        shown = path
        if os.path.isabs(path):
            try:
                shown = Path(os.path.relpath(path, self._base)).as_posix()
            except ValueError:  # another drive (Windows)
                shown = path
            if shown.startswith("../../"):
                shown = path
        return self._safe(shown, "resource")

    def rows(self, events: Iterable[Event]) -> list[list[Any]]:
        return [[e.seq, e.time, self.principal(e.principal), e.auth, e.action, e.outcome,
                 self.resource(e.resource)] for e in events]


@dataclass(frozen=True)
class _Probe:
    """A one-string stand-in for a report, for the leak guard's whole-string test."""

    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"sections": [{"tables": [{"columns": ["x"], "rows": [[self.text]]}]}]}


def activity_table(title: str, events: Iterable[Event], count: int, safe: SafeText, note: str) -> Table:
    """A table of events (the last ones when more than fit), noting how many were left out."""
    rows = safe.rows(events)
    left = count - len(rows)
    more = f" The {len(rows)} most recent are shown; {left} earlier are in the trail." if left > 0 else ""
    return Table(title, list(ACTIVITY_COLUMNS), rows, note=note + more)


@dataclass(frozen=True)
class Anchor:
    """A head the trail must still hold: from a checkpoint file or a signed report's manifest."""

    value: Any  # a Checkpoint, or (seq, hash)
    trail_id: str | None
    seq: int
    source: str


def read_anchor(path: Path, shown: str) -> Anchor | None:
    """The anchor in ``path``: a checkpoint file (``auditkit trail checkpoint``) or a
    ``manifest.json`` with a ``"trail"`` entry; ``None`` when it holds none."""
    from auditkit.privacy.trail import Checkpoint

    try:
        obj = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    if "line" in obj:
        point = Checkpoint.from_file(path)
        return Anchor(point, point.trail_id, point.seq, f"the checkpoint {shown}")
    head = obj.get("trail")
    if (isinstance(head, dict) and type(head.get("seq")) is int and isinstance(head.get("hash"), str)
            and isinstance(head.get("trail_id"), str)):
        return Anchor((head["seq"], head["hash"]), head["trail_id"], head["seq"],
                      f"the trail head signed into {shown}")
    return None
