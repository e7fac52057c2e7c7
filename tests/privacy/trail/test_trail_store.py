"""Appending under concurrency and after crashes: nothing lost, nothing interleaved, recovery."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os

import pytest

from auditkit.privacy.trail import CommandSession, Trail, _store, bind, command, record

WRITERS, EVENTS, PER_COMMAND = 8, 1000, 250


def _writer(directory: str, w: int, signer) -> None:
    bind(location=directory)
    for c in range(EVENTS // PER_COMMAND):
        with command("audit.run", params={"writer": w, "command": c}):
            if signer is not None and c % 2:
                bind(signer=signer)
            for i in range(PER_COMMAND):
                record("decrypt", params={"w": w, "i": c * PER_COMMAND + i})


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_eight_processes_lose_and_interleave_nothing(tmp_path, keys, trust):
    directory = tmp_path / "trail"
    Trail.open(directory, create=True, segment_bytes=64 << 10)  # ~50 segments
    ctx = multiprocessing.get_context("fork")
    signers = [keys["alice"], None, keys["bob"], None, keys["alice"], None, keys["bob"], None]
    procs = [ctx.Process(target=_writer, args=(str(directory), w, signers[w])) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    trail = Trail.open(directory)
    result = trail.verify(trust=trust, full=True)
    assert result.ok, result.first_bad
    assert result.segments > 10 and result.unverified_tail.count == 0
    assert sum(result.commands.values()) == WRITERS * EVENTS // PER_COMMAND
    assert result.commands["key"] == WRITERS // 2 * 2  # the odd commands of the 4 signed writers
    seen = [(e.params["w"], e.params["i"]) for e in trail.events(action="decrypt")]
    assert len(seen) == len(set(seen)) == WRITERS * EVENTS
    assert set(seen) == {(w, i) for w in range(WRITERS) for i in range(EVENTS)}
    sizes = [os.path.getsize(directory / _store.segment_name(n)) for n in _store.list_segments(directory)]
    assert max(sizes[:-1]) < (64 << 10) + 4096  # rotated by size


def _segment_text(directory, number=None):
    number = number or _store.list_segments(directory)[-1]
    return (directory / _store.segment_name(number)).read_bytes()


def test_crash_mid_append_then_recovery(trail_dir, trust):
    with command("scan"):
        record("scan", params={"n": 1})
    complete = Trail.open(trail_dir).head
    half = _segment_text(trail_dir).splitlines(keepends=True)[1][:57]  # half an event line
    with open(trail_dir / "000001.jsonl", "ab") as fh:
        fh.write(half)
    result = Trail.open(trail_dir).verify(trust=trust)
    assert result.ok and result.head_seq == complete[0] and result.incomplete_bytes == len(half)
    assert result.unverified_tail.count == 1 and "incomplete last line" in result.unverified_tail.reason
    record("gate")  # the next append cuts the fragment and says so
    lines = [json.loads(x) for x in _segment_text(trail_dir).splitlines()]
    r = lines[complete[0] + 1]
    assert r["kind"] == "r" and r["cut_bytes"] == len(half)
    assert r["cut_sha256"] == hashlib.sha256(half).hexdigest() and r["prev"] == complete[1]
    result = Trail.open(trail_dir).verify(trust=trust)
    assert result.ok and result.recoveries == 1 and result.incomplete_bytes == 0
    assert result.unverified_tail.count == 0


def test_a_command_cut_short_is_reported_unverified(trail_dir, trust):
    crashed = CommandSession("train.start")
    crashed.record("train.start", None, "ok", {})
    crashed.record("train.cap", None, "ok", {})  # ... and the process died before its seal
    record("scan")
    result = Trail.open(trail_dir).verify(trust=trust)
    assert result.ok and result.unverified_tail.count == 2 and result.unverified_tail.first_seq == 1
    assert "unsealed" in result.unverified_tail.reason


def test_crash_while_starting_a_segment(tmp_path, trust):
    directory = tmp_path / "trail"
    Trail.open(directory, create=True, segment_bytes=1000)
    bind(location=directory)
    record("scan")  # genesis, event, seal: segment 1 is full, the next append starts segment 2
    assert _store.list_segments(directory) == [1] and len(_segment_text(directory).splitlines()) == 3
    (directory / _store.segment_name(2)).write_bytes(b'{"prev":"abc')  # died mid-way
    record("gate")
    second = [json.loads(x) for x in _segment_text(directory, 2).splitlines()]
    assert [x["kind"] for x in second[:2]] == ["n", "r"] and second[0]["segment"] == 2
    result = Trail.open(directory).verify(trust=trust)
    assert result.ok and result.recoveries == 1 and result.segments == 2


def test_another_process_appending_invalidates_the_cached_tail(trail_dir, trust):
    record("scan")
    app = _store.appender(trail_dir)
    other = _store.Appender(trail_dir)  # what a second process holds
    foreign = CommandSession("scan")
    other.append([foreign.event_builder("scan", None, "ok", {})])
    assert app is _store.appender(trail_dir)
    record("gate")
    result = Trail.open(trail_dir).verify(trust=trust)
    assert result.ok and result.unverified_tail.count == 1  # the foreign event has no seal
