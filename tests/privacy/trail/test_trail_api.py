"""Checkpoints as files, event filters, JSON Lines export, head, and VerifyResult.to_dict."""

from __future__ import annotations

import datetime as dt
import json
import stat

import pytest

from auditkit.privacy.errors import TrailError
from auditkit.privacy.trail import Checkpoint, Trail, bind, command, record


@pytest.fixture
def filled(trail_dir, keys):
    record("scan", resource="data/a.csv", params={"columns": 3})
    with command("decrypt"):
        bind(signer=keys["alice"])
        record("decrypt", resource="data/b.enc", outcome="denied")
        record("decrypt", resource="data/c.enc")
    record("gate", outcome="error")
    return Trail.open(trail_dir)


def test_checkpoint_file_round_trip_and_anchor(filled, keys, trust, tmp_path):
    cp = filled.checkpoint(keys["admin"])
    assert (cp.seq, cp.hash) == filled.head and cp.admin == "admin" and cp.trail_id
    path = tmp_path / "cp.json"
    path.write_text(cp.to_json())
    again = Checkpoint.from_file(path)
    assert again == cp
    assert filled.verify(trust=trust, anchor=again).anchor == "ok"
    record("scan")  # later appends keep the anchor valid
    assert filled.verify(trust=trust, anchor=again).ok


@pytest.mark.parametrize("field", ["seq", "hash", "admin", "line"])
def test_a_doctored_checkpoint_file_is_refused(filled, keys, tmp_path, field):
    obj = json.loads(filled.checkpoint(keys["admin"]).to_json())
    if field == "line":
        obj["line"] = obj["line"].replace('"head_seq":', '"head_seq":1')
    else:
        obj[field] = 0 if field == "seq" else "f" * 64 if field == "hash" else "mallory"
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(TrailError, match=str(path)):
        Checkpoint.from_file(path)


def test_a_checkpoint_of_another_trail_is_refused_as_anchor(filled, keys, trust, tmp_path):
    other = Trail.open(tmp_path / "other", create=True)
    cp = other.checkpoint(keys["admin"])
    result = filled.verify(trust=trust, anchor=cp)
    assert not result.ok and result.first_bad.kind == "anchor of another trail"


def test_event_filters(filled):
    everything = list(filled.events())
    assert [e.action for e in everything] == ["scan", "command", "decrypt", "decrypt", "command",
                                              "gate", "command"]
    assert [e.resource for e in filled.events(outcome="denied")] == ["data/b.enc"]
    assert {e.principal for e in filled.events(principal="alice")} == {"alice"}
    assert len(list(filled.events(principal="alice"))) == 3  # two events and the seal
    assert [e.command for e in filled.events(action="command")] == ["scan", "decrypt", "gate"]
    assert [e.seq for e in filled.events(resource="data/c.enc")] == [4]
    first = everything[0].time
    assert len(list(filled.events(since=first))) == 7
    assert list(filled.events(until=first)) == []
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    assert list(filled.events(since=future)) == [] and len(list(filled.events(until=future.date()))) == 7
    with pytest.raises(TrailError, match="Did you mean 'principal'"):
        list(filled.events(principle="alice"))
    with pytest.raises(TrailError, match="ISO"):
        list(filled.events(since="yesterday"))


def test_export_jsonl(filled, tmp_path):
    dst = tmp_path / "out" / "trail.jsonl"
    dst.parent.mkdir()
    assert filled.export_jsonl(dst, action="decrypt") == 2
    rows = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [r["resource"] for r in rows] == ["data/b.enc", "data/c.enc"]
    assert stat.S_IMODE(dst.stat().st_mode) == 0o600
    with pytest.raises(TrailError, match="inside the audit trail"):
        filled.export_jsonl(filled.directory / "x.jsonl")
    with pytest.raises(TrailError, match="does not exist"):
        filled.export_jsonl(tmp_path / "missing" / "x.jsonl")


def test_verify_result_to_dict_is_json(filled, trust):
    (filled.directory / "HEAD").unlink()
    result = filled.verify(trust=trust)
    assert not result.ok and result.first_bad.kind == "head missing"
    text = json.dumps(result.to_dict())
    assert json.loads(text)["first_bad"]["kind"] == "head missing"


def test_untrusted_signer_without_trust_store_entry(trail_dir, keys, trust):
    with command("decrypt"):
        bind(signer=keys["mallory"])
        record("decrypt")
    result = Trail.open(trail_dir).verify(trust=trust)
    assert not result.ok and result.first_untrusted.kind == "untrusted key" and result.untrusted == 1
    assert result.first_bad is None  # not altered: signed by a key nobody vouches for


def test_require_ok_raises_integrity_error(filled, trust):
    from auditkit.privacy.errors import TrailIntegrityError

    assert filled.verify(trust=trust).require_ok().ok
    segment = filled.directory / "000001.jsonl"
    segment.write_bytes(segment.read_bytes().replace(b"data/b.enc", b"data/X.enc"))
    with pytest.raises(TrailIntegrityError, match=r"edited at seq 3 \(000001.jsonl line 4\)"):
        filled.verify(trust=trust).require_ok()
