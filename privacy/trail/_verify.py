"""Streaming verification of a trail: chain, seals, signatures, trust, HEAD and an anchor.

Plain events (``e``) are checked by position — fixed prefix and suffix, SHA-256, ``prev`` and
``seq`` — without parsing JSON (``full=True`` parses and checks them too); every other line is
parsed. Each command's events must be exactly the ranges its seal lists; seals and checkpoints
must carry a valid Ed25519 signature by a key the trust store gives to that principal (for a
checkpoint: a key holding the role ``trail-admin``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from auditkit.privacy.errors import TrailIntegrityError
from auditkit.privacy.trail import _format as fmt
from auditkit.privacy.trail import _store
from auditkit.privacy.trail._checks import check_fields, signature_problem
from auditkit.privacy.trail._io import LineReader, open_regular, pread

__all__ = ["BadEvent", "UnverifiedTail", "VerifyResult", "verify_directory"]

TRAIL_ADMIN = "trail-admin"
_AUTH = b'","auth":"'
_PRINCIPAL = b',"principal":'
_OS = b',"principal":"os:'
_KEY_AT = len(_AUTH) + len(b'key","key_id":"') + 16  # the key id ends here, counted from _AUTH


def _who(principal: str, key_id: str) -> bytes:
    """The bytes of a keyed line from ``,"principal":`` to the end of its key id."""
    return b"".join((_PRINCIPAL, fmt.dumps(principal).encode(), b',"auth":"key","key_id":"', key_id.encode()))


@dataclasses.dataclass(frozen=True)
class BadEvent:
    """The first line that does not verify: its position, file, line number and what failed."""

    seq: int | None
    segment: str | None
    line: int | None
    kind: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class UnverifiedTail:
    """Events no signature covers yet: unsealed events and an incomplete last line."""

    count: int
    reason: str
    first_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What :meth:`Trail.verify` found.

    ``ok`` is True when nothing failed: every line chains, every seal matches its events and is
    validly signed by a trusted key (or is an unauthenticated seal, counted in
    ``unauthenticated``), HEAD and the anchor agree. ``verified_seq`` is the last line covered by
    a trusted signature; ``unverified_tail`` counts what no seal covers (a crash or a running
    command), never silently accepted.

    Two kinds of failure are kept apart: ``first_bad`` is the first line that proves the trail
    was altered (the scan stops there); ``first_untrusted`` is the first seal or checkpoint whose
    signature is valid but whose key the trust store does not hold (or not in the role a
    checkpoint needs). Such a line vouches for nothing, is counted in ``untrusted``, and the scan
    goes on, so one unknown key cannot hide what follows it.
    """

    ok: bool
    directory: str
    trail_id: str | None
    head_seq: int | None
    head_hash: str | None
    verified_seq: int | None
    unverified_tail: UnverifiedTail
    first_bad: BadEvent | None
    commands: dict[str, int]
    unauthenticated: int
    untrusted: int
    checkpoints: int
    recoveries: int
    segments: int
    lines: int
    incomplete_bytes: int
    head_witness: str
    anchor: str | None
    first_untrusted: BadEvent | None = None

    @property
    def first_problem(self) -> BadEvent | None:
        """``first_bad`` (the trail was altered), else ``first_untrusted`` (nobody vouches)."""
        return self.first_bad or self.first_untrusted

    def require_ok(self) -> VerifyResult:
        """This result when ``ok``; else raise :class:`TrailIntegrityError` naming the first bad line."""
        if not self.ok:
            bad = self.first_problem
            where = f"seq {bad.seq} ({bad.segment} line {bad.line})" if bad and bad.seq is not None else "HEAD"
            raise TrailIntegrityError(
                f"The audit trail {self.directory} does not verify: {bad.kind if bad else '?'} at "
                f"{where}: {bad.detail if bad else ''}. Run `auditkit trail verify` and restore the "
                "trail from a copy or investigate who changed it."
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``first_bad`` and ``unverified_tail`` as dicts)."""
        out = dataclasses.asdict(self)
        out["first_bad"] = self.first_bad.to_dict() if self.first_bad else None
        out["first_untrusted"] = self.first_untrusted.to_dict() if self.first_untrusted else None
        out["unverified_tail"] = self.unverified_tail.to_dict()
        return out


class _Bad(Exception):
    """Internal: stops the scan at the first bad line."""

    def __init__(self, seq: int | None, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.seq, self.kind, self.detail = seq, kind, detail


class _Verifier:
    """The scan's state (see the module docstring)."""

    def __init__(self, trust: Any, full: bool, targets: set[int]) -> None:
        self.trust, self.full, self.targets = trust, full, targets
        self.seen: dict[int, str] = {}
        self.expected, self.prev, self.prev2 = 0, fmt.GENESIS_PREV.encode(), b""
        self.open: dict[bytes, list[list[int]]] = {}
        # cmd -> (first seq, its principal and key id bytes) of its first event written with a key
        self.keyed: dict[bytes, tuple[int, bytes]] = {}
        self.sealed: set[bytes] = set()
        self.commands = {"key": 0, "none": 0}
        self.unauthenticated = self.untrusted = self.checkpoints = self.recoveries = 0
        self.verified_seq: int | None = None
        self.first_untrusted: tuple[int, str, str] | None = None
        self.trail_id: str | None = None
        self.segment_first: list[tuple[int, str]] = []  # (first seq, segment name)
        self._keys: dict[str, Any] = {}

    # -- positions -----------------------------------------------------------------------------

    def where(self, seq: int | None) -> tuple[str | None, int | None]:
        """``(segment name, 1-based line)`` of ``seq`` in the part scanned so far."""
        if seq is None:
            return None, None
        for first, name in reversed(self.segment_first):
            if seq >= first:
                return name, seq - first + 1
        return None, None

    # -- the scan ------------------------------------------------------------------------------

    def segment(self, number: int, name: str, lines: list[bytes], base: int = 0) -> None:
        """Check a batch of one segment's complete lines, the first being the segment's line
        ``base`` (0-based; raises _Bad at the first failure)."""
        if base == 0:
            self.segment_first.append((self.expected, name))
        sha, well_formed, targets, full = hashlib.sha256, fmt.well_formed, self.targets, self.full
        for index, line in enumerate(lines, base):
            if not well_formed(line):
                raise _Bad(self.expected, "edited", "the line is not a well-formed trail line")
            digest = sha(line[:-75]).hexdigest().encode()
            if digest != line[-66:-2]:
                raise _Bad(self.expected, "edited", "the line's bytes do not match its hash")
            if line[9:73] != self.prev:
                self._chain_break(line)
            seq = fmt.seq_of(line)
            if seq != self.expected:
                raise _Bad(self.expected, "edited", "the line's seq is not its position")
            kind = line[124:125]
            if kind == b"e" and index and not full:
                cmd = line[82:114]
                if cmd in self.sealed:
                    raise _Bad(seq, "outside seal", "an event of a command that was already sealed")
                at = line.find(_AUTH, fmt.SEQ_AT)  # a keyed event must name its seal's key,
                if line[at + 10:at + 13] == b"key":  # an unsigned one an os: user
                    self._keyed(cmd, seq, line[line.find(_PRINCIPAL, fmt.SEQ_AT, at):at + _KEY_AT])
                elif at < 0 or line.find(_OS, fmt.SEQ_AT, at) < 0:
                    raise _Bad(seq, "malformed", "an unauthenticated event must name an 'os:' principal")
                ranges = self.open.get(cmd)
                if ranges is None:
                    self.open[cmd] = [[seq, seq]]
                elif ranges[-1][1] == seq - 1:
                    ranges[-1][1] = seq
                else:
                    ranges.append([seq, seq])
            else:
                self._parsed(line, kind, seq, number, index)
            if seq in targets:
                self.seen[seq] = digest.decode()
            self.prev2, self.prev = self.prev, digest
            self.expected = seq + 1

    def _chain_break(self, line: bytes) -> None:
        if self.expected > 0 and line[9:73] == self.prev2:
            raise _Bad(self.expected - 1, "inserted", "this line is not part of the chain: the next line "
                       "links to the line before it")
        seq = fmt.seq_of(line)
        if seq is not None and seq < self.expected:
            raise _Bad(self.expected, "inserted", "a line that belongs earlier in the trail")
        raise _Bad(self.expected, "missing or reordered",
                   "the line does not link to the previous line (a line is missing or out of order)")

    def _parsed(self, line: bytes, kind: bytes, seq: int, number: int, index: int) -> None:
        obj = fmt.parse_line(line)
        problem = check_fields(obj, kind.decode("ascii", "replace"))
        if problem:
            raise _Bad(seq, "malformed", problem)
        k = obj["kind"]
        if k == "g" and not (seq == 0 and number == 1):
            raise _Bad(seq, "inserted", "a genesis line after the start of the trail")
        if k != "g" and seq == 0:
            raise _Bad(seq, "missing or reordered", "the trail does not start with its genesis line")
        if (k == "n") != (index == 0 and number > 1):
            raise _Bad(seq, "missing or reordered", "a segment-start line out of place")
        if k == "n" and obj["segment"] != number:
            raise _Bad(seq, "missing or reordered", "the segment-start line names another segment")
        getattr(self, f"_kind_{k}")(line, obj, seq)

    def _kind_g(self, line: bytes, obj: dict, seq: int) -> None:
        self.trail_id = obj["trail_id"]

    def _kind_n(self, line: bytes, obj: dict, seq: int) -> None:
        pass

    def _kind_r(self, line: bytes, obj: dict, seq: int) -> None:
        self.recoveries += 1

    def _keyed(self, cmd: bytes, seq: int, who: bytes) -> None:
        first = self.keyed.setdefault(cmd, (seq, who))
        if first[1] != who:
            raise _Bad(seq, "key of another principal",
                       "an event names another key than the command's earlier events")

    def _kind_e(self, line: bytes, obj: dict, seq: int) -> None:
        cmd = obj["cmd"].encode()
        if cmd in self.sealed:
            raise _Bad(seq, "outside seal", "an event of a command that was already sealed")
        if obj["auth"] == "key":
            self._keyed(cmd, seq, _who(obj["principal"], obj["key_id"]))
        ranges = self.open.setdefault(cmd, [])
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])

    def _kind_s(self, line: bytes, obj: dict, seq: int) -> None:
        cmd = obj["cmd"].encode()
        if cmd in self.sealed:
            raise _Bad(seq, "inserted", "a second seal of a command")
        self.sealed.add(cmd)
        actual = self.open.pop(cmd, [])
        if actual != obj["events"]:
            self._seal_mismatch(actual, obj["events"], seq)
        self.commands[obj["auth"]] += 1
        trusted = False
        if obj["auth"] == "none":
            self.unauthenticated += 1
        else:
            trusted = self._signed(line, obj, seq, role=None)
        keyed = self.keyed.pop(cmd, None)
        if keyed is not None and (obj["auth"] != "key" or keyed[1] != _who(obj["principal"], obj["key_id"])):
            raise _Bad(keyed[0], "key of another principal",
                       "an event names a principal whose key did not sign its command's seal")
        if trusted:
            self.verified_seq = seq

    def _kind_c(self, line: bytes, obj: dict, seq: int) -> None:
        if obj["trail_id"] != self.trail_id or obj["head_seq"] != seq - 1:
            raise _Bad(seq, "inserted", "a checkpoint of another trail or another position")
        if self._signed(line, obj, seq, role=TRAIL_ADMIN):
            self.checkpoints += 1
            self.verified_seq = seq

    def _seal_mismatch(self, actual: list, sealed: list, seq: int) -> None:
        extra, missing = _first_outside(actual, sealed), _first_outside(sealed, actual)
        if extra is not None and (missing is None or extra < missing):
            raise _Bad(extra, "outside seal", "an event its command's seal does not list")
        if missing is None:
            raise _Bad(seq, "malformed", "the seal's event ranges are not merged")
        raise _Bad(missing, "missing or reordered", "an event the command's seal lists is not there")

    def _signed(self, line: bytes, obj: dict, seq: int, role: str | None) -> bool:
        """Whether the line's valid signature is by a trusted key; _Bad when it is invalid or a
        known key signs under another principal's name (a forgery, not a stranger)."""
        problem = signature_problem(line, obj, self._keys)
        if problem:
            raise _Bad(seq, "bad signature", problem)
        kind, detail = self._trust_problem(obj, role)
        if kind == "key of another principal":
            self.untrusted += 1
            raise _Bad(seq, kind, detail)
        if kind:
            self.untrusted += 1
            if self.first_untrusted is None:
                self.first_untrusted = (seq, kind, detail)
            return False
        return True

    def _trust_problem(self, obj: dict, role: str | None) -> tuple[str | None, str]:
        if self.trust is None:
            from auditkit.reports.trust import TrustStore

            self.trust = TrustStore.load_default()
        principal = self.trust.find(obj["key_id"])
        if principal is None or _raw(principal) != fmt.b64d(obj["public_key"]):
            return "untrusted key", "signed with a key the trust store does not hold"
        if principal.name != obj["principal"]:
            return "key of another principal", "signed with the key of another trust-store principal"
        if role is not None and role not in principal.roles:
            return "untrusted key", f"signed by a key that does not hold the role {role!r}"
        return None, ""


def _first_outside(xs: list, ys: list) -> int | None:
    """The smallest seq in the sorted, disjoint ranges ``xs`` that ``ys`` does not cover (ranges
    are walked, never expanded: a hostile seal may list [[0, 10**18]])."""
    j = 0
    for a, b in xs:
        c = a
        while c <= b:
            while j < len(ys) and ys[j][1] < c:
                j += 1
            if j < len(ys) and ys[j][0] <= c:
                c = ys[j][1] + 1
            else:
                return c
    return None


def _raw(principal: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return principal.key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _read_head(directory: Path) -> dict | None:
    try:
        fd = open_regular(directory / "HEAD")
        try:
            text = pread(fd, 4096, 0)
        finally:
            os.close(fd)
        obj = json.loads(text)
    except (OSError, ValueError, RecursionError):
        return None
    ok = isinstance(obj, dict) and isinstance(obj.get("seq"), int) and isinstance(obj.get("hash"), str)
    return obj if ok else {}


def _snapshot(directory: Path) -> tuple[list[tuple[int, int]], dict | None]:
    """Segment sizes and HEAD, read together under a shared lock (HEAD first: without the
    lock, a HEAD older than the sizes read is harmless, a newer one would look like a cut)."""
    with _store.locked(directory):
        head = _read_head(directory)
        sizes = []
        for number in _store.list_segments(directory):
            try:
                sizes.append((number, os.stat(directory / _store.segment_name(number)).st_size))
            except OSError:
                continue
        return sizes, head


def _anchor_parts(anchor: Any) -> tuple[int | None, str | None, str | None]:
    if anchor is None:
        return None, None, None
    if isinstance(anchor, tuple) and len(anchor) == 2:
        return int(anchor[0]), str(anchor[1]), None
    return anchor.seq, anchor.hash, anchor.trail_id


def _scan(v: _Verifier, directory: Path, sizes: list[tuple[int, int]]) -> int:
    """Scan every segment; return the incomplete bytes at the end of the last one."""
    if not sizes:
        raise _Bad(0, "truncated", "the trail has no segments")
    for index, (number, size) in enumerate(sizes):
        name = _store.segment_name(number)
        if number != index + 1:
            v.segment_first.append((v.expected, name))
            raise _Bad(v.expected, "missing or reordered", f"segment {_store.segment_name(index + 1)} is missing")
        reader = _read_segment(v, directory, number, name, size)
        if reader.partial and index != len(sizes) - 1:
            raise _Bad(v.expected, "edited", "a segment other than the last ends in an incomplete line")
        if index == len(sizes) - 1:
            return reader.partial
    return 0


def _read_segment(v: _Verifier, directory: Path, number: int, name: str, size: int) -> LineReader:
    """Check the complete lines of one segment, read in blocks; return the reader (``partial``)."""
    try:
        fd = open_regular(directory / name)
    except OSError as exc:
        v.segment_first.append((v.expected, name))
        raise _Bad(v.expected, "missing or reordered", f"segment {name} cannot be read "
                   f"({exc.strerror or 'not a regular file'})") from None
    try:
        reader, base = LineReader(fd, size), 0
        for batch in reader:
            v.segment(number, name, batch, base)
            base += len(batch)
        if base == 0:
            v.segment(number, name, [], 0)
    finally:
        os.close(fd)
    return reader


def _witness(v: _Verifier, head: dict | None, anchor: Any) -> tuple[str, str | None]:
    """Check HEAD and the anchor against the scanned lines (raises _Bad); return their status."""
    a_seq, a_hash, a_trail = _anchor_parts(anchor)
    last = v.expected - 1
    anchor_status = None
    if a_seq is not None:
        if a_trail is not None and a_trail != v.trail_id:
            raise _Bad(None, "anchor of another trail", "the anchor checkpoint names another trail_id")
        if a_seq > last:
            raise _Bad(last + 1, "truncated", f"the anchor is at seq {a_seq}; the trail ends at {last}")
        if v.seen.get(a_seq) != a_hash:
            raise _Bad(a_seq, "anchor mismatch", "the line at the anchor's seq has another hash")
        anchor_status = "ok"
    if head is None:
        raise _Bad(None, "head missing", "the HEAD file is missing or unreadable")
    if not head:
        raise _Bad(None, "head malformed", "the HEAD file is not {\"seq\", \"hash\", \"segment\"}")
    if head["seq"] > last:
        raise _Bad(last + 1, "truncated", f"HEAD names seq {head['seq']}; the trail ends at {last}")
    if v.seen.get(head["seq"]) != head["hash"]:
        raise _Bad(head["seq"], "head mismatch", "the line at HEAD's seq has another hash")
    return "ok", anchor_status


def _tail(v: _Verifier, incomplete: int) -> UnverifiedTail:
    count = sum(b - a + 1 for ranges in v.open.values() for a, b in ranges)
    firsts = [ranges[0][0] for ranges in v.open.values() if ranges]
    reasons = []
    if count:
        reasons.append(f"{count} event(s) of {len(v.open)} unsealed command(s) (a crash, or a "
                       "command still running)")
    if incomplete:
        reasons.append(f"an incomplete last line of {incomplete} bytes (a crash mid-append, or a "
                       "write in progress)")
    return UnverifiedTail(count + (1 if incomplete else 0), "; ".join(reasons) or "none",
                          min(firsts) if firsts else (v.expected if incomplete else None))


def verify_directory(directory: Path, *, anchor: Any = None, trust: Any = None,
                     full: bool = False) -> VerifyResult:
    """Verify the trail in ``directory`` (see :meth:`Trail.verify`)."""
    sizes, head = _snapshot(directory)
    targets = {s for s in (head.get("seq") if head else None, _anchor_parts(anchor)[0]) if s is not None}
    v = _Verifier(trust, full, targets)
    bad, incomplete, head_status, anchor_status = None, 0, "not checked", None
    try:
        incomplete = _scan(v, directory, sizes)
        head_status, anchor_status = _witness(v, head, anchor)
    except _Bad as exc:
        segment, line = v.where(exc.seq)
        bad = BadEvent(exc.seq, segment, line, exc.kind, exc.detail)
    untrusted = None
    if v.first_untrusted is not None:
        seq, kind, detail = v.first_untrusted
        untrusted = BadEvent(seq, *v.where(seq), kind, detail)
    return VerifyResult(
        ok=bad is None and untrusted is None, directory=str(directory), trail_id=v.trail_id,
        head_seq=v.expected - 1 if v.expected else None, head_hash=v.prev.decode() if v.expected else None,
        verified_seq=v.verified_seq, unverified_tail=_tail(v, incomplete), first_bad=bad,
        commands=dict(v.commands), unauthenticated=v.unauthenticated, untrusted=v.untrusted,
        checkpoints=v.checkpoints, recoveries=v.recoveries, segments=len(sizes),
        lines=v.expected, incomplete_bytes=incomplete, head_witness=head_status, anchor=anchor_status,
        first_untrusted=untrusted,
    )

