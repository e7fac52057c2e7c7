"""Attack pass on the audit trail: forged attribution, hostile files, crashes mid-append.

Each test is a finding of the attack review of issue 16 (or a guard that an attack still fails):
a hostile trail handed to ``Trail.verify/events/export`` must give a result or a TrailError —
never hang, exhaust memory or raise a raw OSError/RecursionError — and an insider who holds one
principal's key must not be able to attribute events to another principal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tracemalloc
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditkit.privacy import trail
from auditkit.privacy.errors import TrailError
from auditkit.privacy.trail import Checkpoint, Trail, _session
from auditkit.privacy.trail import _format as fmt
from auditkit.reports.trust import TrustStore, known_roles, register_role
from tests.security.conftest import run_main

TRAIL_ID = "ab" * 16


class Key:
    """A minimal trail Signer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.private = Ed25519PrivateKey.generate()
        self.raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = hashlib.sha256(self.raw).hexdigest()[:16]

    def public_key_raw(self) -> bytes:
        return self.raw

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {name: Key(name) for name in ("alice", "bob", "admin")}


@pytest.fixture(scope="module")
def trust(keys) -> TrustStore:
    if "trail-admin" not in known_roles():
        register_role("trail-admin", "countersigns audit trail checkpoints", force=True)
    store = TrustStore()
    store.add("alice", keys["alice"].private.public_key(), roles=["report-signer"])
    store.add("bob", keys["bob"].private.public_key(), roles=["report-signer"])
    store.add("admin", keys["admin"].private.public_key(), roles=["trail-admin"])
    return store


@pytest.fixture(autouse=True)
def _fresh(monkeypatch, tmp_path):
    monkeypatch.setattr(_session, "_DEFAULT", _session._Binding())
    monkeypatch.setenv("AUDITKIT_TRAIL", str(tmp_path / "default-trail"))


@contextlib.contextmanager
def no_hang(seconds: int = 10):
    """Fail (instead of hanging the suite) when the block blocks for ``seconds``."""

    def boom(*_):
        raise AssertionError("blocked: the trail reader waited on a hostile file")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- forging whole trails ----------------------------------------------------------------------


def _genesis():
    return ("g", fmt.ZERO_CMD, [("format", fmt.FORMAT), ("version", 1), ("trail_id", TRAIL_ID),
                                ("segment_bytes", 1 << 20)], None)


def _who(key: Key | None, principal: str = "os:eve"):
    if key is None:
        return [("principal", principal), ("auth", "none"), ("key_id", None)]
    return [("principal", key.name), ("auth", "key"), ("key_id", key.key_id)]


def _event(cmd: str, who: list, action: str = "decrypt"):
    return ("e", cmd, [*who, ("action", action), ("resource", {"path": "/d/x.enc", "sha256": None}),
                       ("outcome", "ok"), ("params", {})], None)


def _seal(cmd: str, signer: Key | None, events: list, principal: str = "os:eve", extra=None):
    public = fmt.b64e(signer.raw) if signer else None
    fields = [*_who(signer, principal), ("public_key", public), ("command", "decrypt"),
              ("params", extra if extra is not None else {}), ("outcome", "ok"),
              ("exit_code", None), ("events", events)]
    return ("s", cmd, fields, signer)


def forge(directory: Path, specs: list) -> Trail:
    """Write ``specs`` as a trail whose hashes, links, signatures and HEAD are all consistent."""
    directory.mkdir(mode=0o700, parents=True)
    prev, out = fmt.GENESIS_PREV, []
    for seq, (kind, cmd, fields, signer) in enumerate(specs):
        line, prev = fmt.build_line(prev, cmd, kind, seq, fields, sign=signer.sign if signer else None)
        out.append(line)
    (directory / "000001.jsonl").write_bytes(b"".join(out))
    (directory / "HEAD").write_text(json.dumps({"seq": len(specs) - 1, "hash": prev,
                                                "segment": "000001.jsonl"}))
    return Trail(directory)


A, B = "a" * 32, "b" * 32


# -- (a) forged attribution --------------------------------------------------------------------


def test_forge_helper_makes_a_trail_that_verifies(tmp_path, keys, trust):
    """The forging helper is right: an honest trail it writes verifies, signed by alice."""
    t = forge(tmp_path / "t", [_genesis(), _event(A, _who(keys["alice"])), _seal(A, keys["alice"], [[1, 1]])])
    result = t.verify(trust=trust)
    assert result.ok and result.verified_seq == 2, result.first_bad


@pytest.mark.parametrize("full", [False, True])
def test_event_attributed_to_another_key_in_a_signed_command_is_caught(tmp_path, keys, trust, full):
    """alice seals a command whose event claims bob acted with his key: bob never signed it."""
    t = forge(tmp_path / "t", [_genesis(), _event(A, _who(keys["bob"])), _seal(A, keys["alice"], [[1, 1]])])
    result = t.verify(trust=trust, full=full)
    assert not result.ok
    assert result.first_bad.seq == 1 and result.first_bad.kind == "key of another principal"


def test_key_events_sealed_by_an_unauthenticated_seal_are_caught(tmp_path, keys, trust):
    """A crashed command of alice (events, no seal) cannot be 'closed' by anybody's unsigned seal."""
    t = forge(tmp_path / "t", [_genesis(), _event(A, _who(keys["alice"])), _seal(A, None, [[1, 1]])])
    result = t.verify(trust=trust)
    assert not result.ok and result.first_bad.seq == 1


def test_unauthenticated_line_cannot_take_a_principal_name(tmp_path, keys, trust):
    """Without a key, the principal is os:<login>; an unsigned seal naming 'alice' is malformed."""
    t = forge(tmp_path / "t", [_genesis(), _event(A, _who(None)), _seal(A, None, [[1, 1]], principal="alice")])
    result = t.verify(trust=trust)
    assert not result.ok and result.first_bad.seq == 2 and result.first_bad.kind == "malformed"
    t2 = forge(tmp_path / "t2", [_genesis(), _event(A, _who(None, "alice")), _seal(A, None, [[1, 1]])])
    for full in (False, True):
        result = t2.verify(trust=trust, full=full)
        assert not result.ok and result.first_bad.seq == 1 and result.first_bad.kind == "malformed"


def test_unauthenticated_events_inside_a_signed_command_still_verify(tmp_path, keys, trust):
    """Events written before the signer was bound name the OS user; the command stays valid."""
    t = forge(tmp_path / "t", [_genesis(), _event(A, _who(None)), _event(A, _who(keys["alice"])),
                               _seal(A, keys["alice"], [[1, 2]])])
    for full in (False, True):
        assert t.verify(trust=trust, full=full).ok


def test_rebinding_another_signer_mid_command_keeps_the_trail_verifiable(tmp_path, keys, trust):
    """alice's events, then bob bound: each part is sealed by the key that wrote it."""
    location = tmp_path / "t"
    with trail.command("access.grant"):
        trail.bind(location=location, signer=keys["alice"])
        trail.record("access.policy")
        trail.bind(signer=keys["bob"])
        trail.record("access.grant")
    result = Trail.open(location).verify(trust=trust)
    assert result.ok and result.commands["key"] == 2, result.first_bad
    events = [(e.action, e.principal) for e in Trail.open(location).events()]
    assert events == [("access.policy", "alice"), ("command", "alice"), ("access.grant", "bob"),
                      ("command", "bob")]


# -- (b) hostile files: DoS -------------------------------------------------------------------


def test_seal_with_an_enormous_range_does_not_expand_it(tmp_path, keys, trust):
    """A seal listing events [[1, 2*10^7]] is refused without building a set of 20 million ints."""
    t = forge(tmp_path / "t", [_genesis(), _event(A, _who(None)), _seal(A, None, [[1, 20_000_000]])])
    tracemalloc.start()
    try:
        result = t.verify(trust=trust)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not result.ok and result.first_bad.kind == "missing or reordered"
    assert result.first_bad.seq == 2
    assert peak < 50 << 20


def test_deeply_nested_json_gives_a_result_not_a_recursion_error(tmp_path, keys, trust):
    deep = json.loads("[" * 50 + "]" * 50)
    t = forge(tmp_path / "t", [_genesis(), _seal(A, None, [], extra={"x": deep})])
    segment = tmp_path / "t" / "000001.jsonl"
    data = segment.read_bytes().replace(b'"params":{"x":' + b"[" * 50, b'"params":{"x":' + b"[" * 200_000)
    segment.write_bytes(data)
    result = t.verify(trust=trust)
    assert not result.ok and result.first_bad.seq == 1
    assert list(t.events()) == []
    (tmp_path / "t" / "HEAD").write_text("[" * 200_000)
    assert t.verify(trust=trust).first_bad is not None
    cp = tmp_path / "cp.json"
    cp.write_text("[" * 200_000)
    with pytest.raises(TrailError):
        Checkpoint.from_file(cp)


def _honest(tmp_path: Path, keys) -> Path:
    location = tmp_path / "t"
    Trail.open(location, create=True, segment_bytes=300)
    for i in range(4):
        with trail.command("decrypt"):
            trail.bind(location=location, signer=keys["alice"])
            trail.record("decrypt", params={"i": i})
    assert len(list(location.glob("0*.jsonl"))) >= 3
    return location


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_fifo_as_segment_or_head_does_not_block(tmp_path, keys, trust):
    location = _honest(tmp_path, keys)
    last = sorted(location.glob("0*.jsonl"))[-1]
    last.unlink()
    os.mkfifo(last)
    with no_hang():
        result = Trail.open(location).verify(trust=trust)
        assert not result.ok
        with pytest.raises(TrailError):
            list(Trail.open(location).events())
        with pytest.raises(TrailError):
            trail.bind(location=location)
            trail.record("scan")
    os.unlink(last)
    (location / "HEAD").unlink()
    os.mkfifo(location / "HEAD")
    with no_hang():
        result = Trail.open(location).verify(trust=trust)
        assert not result.ok and result.first_bad.kind in ("head missing", "head malformed")


def test_symlinked_segment_and_directory_segment_are_refused(tmp_path, keys, trust):
    location = _honest(tmp_path, keys)
    segments = sorted(location.glob("0*.jsonl"))
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(segments[1].read_bytes())
    segments[1].unlink()
    segments[1].symlink_to(outside)
    result = Trail.open(location).verify(trust=trust)
    assert not result.ok and result.first_bad.segment == segments[1].name
    segments[1].unlink()
    segments[1].mkdir()
    result = Trail.open(location).verify(trust=trust)  # no IsADirectoryError
    assert not result.ok
    with pytest.raises(TrailError):
        list(Trail.open(location).events())


def test_a_huge_line_is_refused_without_reading_it_whole(tmp_path, keys, trust, monkeypatch):
    """A line longer than the format's limit is 'edited'; memory stays bounded by the limit."""
    from auditkit.privacy.trail import _io

    monkeypatch.setattr(_io, "MAX_LINE", 1 << 20)
    location = _honest(tmp_path, keys)
    last = sorted(location.glob("0*.jsonl"))[-1]
    with open(last, "ab") as fh:
        fh.write(b"{" + b"x" * (8 << 20) + b"\n")
    tracemalloc.start()
    try:
        result = Trail.open(location).verify(trust=trust)
        events = list(Trail.open(location).events())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not result.ok and result.first_bad.kind == "edited"
    assert len(events) == 8
    assert peak < 6 << 20


def test_huge_incomplete_tail_is_cut_without_quadratic_reads(tmp_path, keys, trust):
    """A crash (or an attacker) leaves 8 MiB without a newline: the next append cuts and records it."""
    location = _honest(tmp_path, keys)
    last = sorted(location.glob("0*.jsonl"))[-1]
    junk = b"x" * (8 << 20)
    with open(last, "ab") as fh:
        fh.write(junk)
    tracemalloc.start()
    try:
        with trail.command("scan"):
            trail.bind(location=location)
            trail.record("scan")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    result = Trail.open(location).verify(trust=trust)
    assert result.ok and result.recoveries == 1
    cut = [json.loads(line) for line in last.read_bytes().splitlines() if b'"kind":"r"' in line]
    assert cut[0]["cut_bytes"] == len(junk) and cut[0]["cut_sha256"] == hashlib.sha256(junk).hexdigest()
    assert peak < 4 << 20


# -- (c) crashes: a failing signer mid-append ------------------------------------------------


class FailingKey(Key):
    def sign(self, message: bytes) -> bytes:
        raise KeyboardInterrupt


def test_signer_failing_on_the_first_append_leaves_a_usable_trail(tmp_path, keys, trust):
    location = tmp_path / "t"
    bad = FailingKey("alice")
    with pytest.raises(KeyboardInterrupt):
        trail.bind(location=location, signer=bad)
        trail.record("scan")
    trail.bind(signer=keys["alice"])
    trail.record("scan")
    result = Trail.open(location).verify(trust=trust)
    assert result.ok and result.lines == 3, result.first_bad


def test_signer_failing_after_a_crash_cut_still_records_the_cut(tmp_path, keys, trust):
    location = _honest(tmp_path, keys)
    last = sorted(location.glob("0*.jsonl"))[-1]
    with open(last, "ab") as fh:
        fh.write(b'{"prev":"partial')
    trail.bind(location=location, signer=FailingKey("alice"))
    with pytest.raises(KeyboardInterrupt):
        trail.record("scan")
    trail.bind(signer=keys["alice"])
    trail.record("scan")
    result = Trail.open(location).verify(trust=trust)
    assert result.ok and result.recoveries == 1, result.first_bad


def test_signer_failing_at_rotation_leaves_no_segment_without_its_start_line(tmp_path, keys, trust):
    location = tmp_path / "t"
    Trail.open(location, create=True, segment_bytes=200)
    trail.bind(location=location, signer=keys["alice"])
    trail.record("scan")  # fills segment 1
    trail.bind(signer=FailingKey("alice"))
    with pytest.raises(KeyboardInterrupt):
        trail.record("scan")
    trail.bind(signer=keys["alice"])
    trail.record("scan")
    result = Trail.open(location).verify(trust=trust)
    assert result.ok, result.first_bad


def test_wrong_length_signature_is_refused_before_writing(tmp_path, keys):
    class Short(Key):
        def sign(self, message: bytes) -> bytes:
            return b"\x00" * 32

    location = tmp_path / "t"
    trail.bind(location=location, signer=Short("alice"))
    with pytest.raises(TrailError):
        trail.record("scan")


# -- export into the trail through a symlink ---------------------------------------------------


def test_export_through_a_symlink_into_the_trail_is_refused(tmp_path, keys):
    location = _honest(tmp_path, keys)
    link = tmp_path / "innocent"
    link.symlink_to(location, target_is_directory=True)
    before = sorted(p.name for p in location.iterdir())
    with pytest.raises(TrailError):
        Trail.open(location).export_jsonl(link / "000099.jsonl")
    assert sorted(p.name for p in location.iterdir()) == before


# -- (c) concurrency: kill -9 while writers rotate, a reader verifying meanwhile ----------------


def _endless_writer(directory: str, w: int) -> None:
    trail.bind(location=directory)
    i = 0
    while True:
        with trail.command("audit.run", params={"writer": w}):
            for _ in range(3):
                trail.record("decrypt", params={"w": w, "i": i})
                i += 1


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork")
def test_writers_killed_mid_command_while_a_reader_verifies(tmp_path, trust):
    """Four writers rotating 1 KiB segments are SIGKILLed at once; every verification made while
    they ran, and the one after, finds nothing altered — only an unsealed tail."""
    import multiprocessing
    import time

    directory = tmp_path / "t"
    Trail.open(directory, create=True, segment_bytes=1024)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_endless_writer, args=(str(directory), w)) for w in range(4)]
    for p in procs:
        p.start()
    results = []
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            results.append(Trail.open(directory).verify(trust=trust))
    finally:
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            p.join(30)
    assert results and all(r.first_bad is None for r in results), [r.first_bad for r in results if r.first_bad]
    after = Trail.open(directory).verify(trust=trust, full=True)
    assert after.ok and after.segments > 2
    trail.bind(location=directory)
    trail.record("scan")
    final = Trail.open(directory).verify(trust=trust, full=True)
    assert final.ok and final.lines > after.lines


def test_cli_anchor_manifest_with_hostile_nesting_is_bad_input(tmp_path, keys):
    location = _honest(tmp_path, keys)
    manifest = tmp_path / "report" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text('{"trail":' + "[" * 200_000)
    code, out = run_main("trail", "verify", "--trail", str(location), "--anchor", str(manifest.parent))
    # the report's signature is checked first: a manifest that is not one cannot anchor anything
    assert code == 2 and "Traceback" not in out and "cannot anchor" in out
