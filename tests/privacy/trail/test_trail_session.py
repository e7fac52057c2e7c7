"""Sessions: one-shot records, command seals and outcomes, binding, location, directory checks."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from auditkit.privacy.errors import AccessDenied, TrailError
from auditkit.privacy.trail import (
    Trail,
    _session,
    _store,
    bind,
    command,
    current_principal,
    record,
    trail_location,
)


def _lines(directory: Path) -> list[dict]:
    out = []
    for number in _store.list_segments(directory):
        out += [json.loads(x) for x in (directory / _store.segment_name(number)).read_text().splitlines()]
    return out


def test_one_shot_record_writes_event_and_seal_in_one_write(trail_dir, monkeypatch, trust):
    record("scan", resource=Path("data.csv"), params={"columns": 4})  # creates the trail
    writes = []
    real = _store._write_all
    monkeypatch.setattr(_store, "_write_all", lambda fd, data: (writes.append(data), real(fd, data)))
    record("gate", params={"passed": True})
    assert len(writes) == 1 and writes[0].count(b"\n") == 2
    g, e1, s1, e2, s2 = _lines(trail_dir)
    assert g["kind"] == "g" and [e1["kind"], s1["kind"]] == ["e", "s"]
    assert e1["resource"] == {"path": os.path.abspath("data.csv"), "sha256": None}
    assert s2["events"] == [[e2["seq"], e2["seq"]]] and s2["cmd"] == e2["cmd"] != e1["cmd"]
    assert s2["command"] == "gate" and s2["auth"] == "none" and s2["principal"].startswith("os:")
    assert "sig" not in s2
    result = Trail.open(trail_dir).verify(trust=trust)
    assert result.ok and result.unauthenticated == 2 and result.verified_seq is None
    assert result.unverified_tail.count == 0


def test_command_seal_lists_its_events_and_is_signed(trail_dir, keys, trust):
    with command("audit.run", params={"checks": 2}) as session:
        record("decrypt", resource="data.enc")  # before the signer is known
        bind(signer=keys["alice"])
        with command("decrypt") as inner:  # nested: joins
            assert inner is session
            record("audit.run")
        session.exit_code = 0
    _, e1, e2, seal = _lines(trail_dir)
    assert e1["auth"] == "none" and e2["principal"] == "alice" and e2["auth"] == "key"
    assert seal["events"] == [[1, 2]] and seal["command"] == "audit.run" and seal["exit_code"] == 0
    assert seal["params"] == {"checks": 2} and seal["principal"] == "alice" and len(seal["sig"]) == 128
    result = Trail.open(trail_dir).verify(trust=trust)
    assert result.ok and result.verified_seq == 3 and result.commands == {"key": 1, "none": 0}
    assert json.loads((trail_dir / "HEAD").read_text())["seq"] == 3
    assert current_principal()[1] == "none"  # the session's binding ended with it


@pytest.mark.parametrize(
    ("exc", "outcome", "code"),
    [
        (AccessDenied("no grant"), "denied", None),
        (KeyError("x"), "error", None),
        (SystemExit(3), "error", 3),
        (SystemExit(0), "ok", 0),
    ],
)
def test_exceptions_set_the_outcome_and_are_reraised(trail_dir, exc, outcome, code):
    with pytest.raises(type(exc)):
        with command("decrypt"):
            record("decrypt", outcome="denied" if outcome == "denied" else "ok")
            raise exc
    seal = _lines(trail_dir)[-1]
    assert seal["kind"] == "s" and seal["outcome"] == outcome and seal["exit_code"] == code


def test_command_without_events_still_seals(trail_dir):
    with command("gate"):
        pass
    seal = _lines(trail_dir)[-1]
    assert seal["kind"] == "s" and seal["events"] == [] and seal["command"] == "gate"


def test_nothing_written_before_first_event(trail_dir):
    with command("scan"):
        assert not trail_dir.exists()


def test_bind_location_after_first_write_is_refused(trail_dir, tmp_path):
    with pytest.raises(TrailError, match="cannot move"):
        with command("scan"):
            record("scan")
            bind(location=tmp_path / "elsewhere")
    with command("scan"):
        bind(location=tmp_path / "elsewhere")  # before the first write: fine
        record("scan")
    assert (tmp_path / "elsewhere" / "000001.jsonl").exists()


def test_location_resolution_order(monkeypatch, tmp_path):
    for var in ("AUDITKIT_TRAIL", "AUDITKIT_KEYRING", "XDG_STATE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert trail_location() == tmp_path / "home" / ".local" / "state" / "auditkit" / "trail"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert trail_location() == tmp_path / "state" / "auditkit" / "trail"
    monkeypatch.setenv("AUDITKIT_KEYRING", str(tmp_path / "env-ring" / "ring.json"))
    assert trail_location() == tmp_path / "env-ring" / "auditkit-trail"
    assert trail_location(keyring=tmp_path / "r" / "ring.json") == tmp_path / "r" / "auditkit-trail"
    bind(keyring=tmp_path / "bound" / "ring.json")
    assert trail_location() == tmp_path / "bound" / "auditkit-trail"
    monkeypatch.setenv("AUDITKIT_TRAIL", str(tmp_path / "env-trail"))
    assert trail_location(keyring=tmp_path / "r" / "ring.json") == tmp_path / "env-trail"
    bind(location=tmp_path / "bound-trail")
    assert trail_location() == tmp_path / "bound-trail"


def test_principal_falls_back_to_uid(monkeypatch, keys):
    assert current_principal() == (f"os:{_session.getpass.getuser()}", "none")

    def fail():
        raise KeyError("no such user")

    monkeypatch.setattr(_session.getpass, "getuser", fail)
    monkeypatch.setattr(_session, "_USER", {})  # the name is cached per process
    if hasattr(os, "getuid"):
        assert current_principal() == (f"os:uid{os.getuid()}", "none")
    bind(signer=keys["bob"])
    assert current_principal() == ("bob", "key")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_directory_checks(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("AUDITKIT_TRAIL", str(shared))
    with pytest.raises(TrailError, match=r"writable by group or others.*chmod 700"):
        record("scan")
    busy = tmp_path / "home"
    busy.mkdir(mode=0o700)
    (busy / "notes.txt").write_text("x")
    monkeypatch.setenv("AUDITKIT_TRAIL", str(busy))
    with pytest.raises(TrailError, match="not an audit trail"):
        record("scan")
    afile = tmp_path / "file"
    afile.write_text("x")
    monkeypatch.setenv("AUDITKIT_TRAIL", str(afile))
    with pytest.raises(TrailError, match="not a directory"):
        record("scan")
    fresh = tmp_path / "new" / "trail"
    monkeypatch.setenv("AUDITKIT_TRAIL", str(fresh))
    record("scan")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    for name in ("000001.jsonl", "LOCK", "HEAD"):
        assert stat.S_IMODE((fresh / name).stat().st_mode) == 0o600
    with pytest.raises(TrailError, match="no audit trail"):
        Trail.open(tmp_path / "absent")


def test_bad_record_arguments_are_refused_before_writing(trail_dir):
    with pytest.raises(TrailError, match="Did you mean 'detokenise'"):
        record("detokenize")
    with pytest.raises(TrailError, match="outcome"):
        record("scan", outcome="fine")
    with pytest.raises(TrailError, match="'password'"):
        record("scan", params={"password": "x" * 200})
    assert not trail_dir.exists()
