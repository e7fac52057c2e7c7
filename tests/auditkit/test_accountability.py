"""The accountability section and the runner's own trail events, through the real runner.

Each test has its own trail (``AUDITKIT_TRAIL``) and policy-serial state; the trail is tampered
with, truncated or left with a crashed command between two runs, and the second run's findings
must say exactly what happened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.privacy import trail
from auditkit.privacy.access import Identity, sign_policy
from auditkit.privacy.crypto import new_kek
from auditkit.reports import Status
from auditkit.reports.trust import ACCESS_ADMIN, REPORT_SIGNER, TrustStore
from auditkit.runner import run_audit

ONLY = ["accountability"]


@pytest.fixture(autouse=True)
def _own_trail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUDITKIT_TRAIL", str(tmp_path / "trail"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("AUDITKIT_ACCESS_POLICY", raising=False)
    monkeypatch.delenv("AUDITKIT_TRUST_STORE", raising=False)
    monkeypatch.delenv("AUDITKIT_KEYRING", raising=False)
    return tmp_path / "trail"


def _findings(run) -> dict:
    (section,) = [s for s in run.report.sections if s.id == "accountability"]
    assert section.title == "Accountability: audit trail and access"
    return {f.check_id: f for f in section.findings}


def _tables(run) -> dict:
    (section,) = [s for s in run.report.sections if s.id == "accountability"]
    return {t.title: t for t in section.tables}


def _audit(audit_dir: Path, **kw):
    return run_audit(audit_dir / "audit.toml", only=ONLY, formats=["json"], **kw)


def _lines(trail_dir: Path) -> list[bytes]:
    return (trail_dir / "000001.jsonl").read_bytes().splitlines(keepends=True)


def test_runner_records_start_end_and_seal(audit_dir: Path, _own_trail: Path) -> None:
    _audit(audit_dir)
    data = str((audit_dir / "data.csv").absolute())
    runs = list(trail.Trail.open(_own_trail).events(action="audit.run"))
    assert [e.params["phase"] for e in runs] == ["start", "end"]
    assert {e.resource for e in runs} == {data}
    assert {e.sha256 for e in runs} == {trail.file_sha256(audit_dir / "data.csv")}
    assert runs[1].outcome == "ok" and runs[1].params["exit_code"] == 0
    assert runs[0].cmd == runs[1].cmd
    seals = [e for e in trail.Trail.open(_own_trail).events(action="command") if e.cmd == runs[0].cmd]
    assert [(s.command, s.outcome) for s in seals] == [("audit.run", "ok")]
    assert trail.Trail.open(_own_trail).verify().ok


def test_failed_run_records_error_end(audit_dir: Path, base_config, write_config, _own_trail: Path) -> None:
    from auditkit.errors import DataError

    cfg = base_config()
    cfg["data"]["path"] = "missing.csv"
    write_config(audit_dir, cfg)
    with pytest.raises(DataError):
        _audit(audit_dir)
    (start, end) = trail.Trail.open(_own_trail).events(action="audit.run")
    assert start.sha256 is None and end.outcome == "error" and end.params["exception"] == "DataError"
    (seal,) = trail.Trail.open(_own_trail).events(action="command")
    assert seal.outcome == "error"


def test_first_and_second_run(audit_dir: Path, _own_trail: Path) -> None:
    first = _findings(_audit(audit_dir))
    integrity = first["accountability.trail_integrity"]
    assert integrity.status is Status.PASS
    m = integrity.metrics
    assert f"Trail verified up to head {m['head_hash']} (seq {m['head_seq']})" in integrity.summary
    # the head the report names is a line the trail holds
    assert trail.Trail.open(_own_trail).verify(anchor=(m["head_seq"], m["head_hash"])).ok
    assert "gdpr-art-5-2" in integrity.regulations and "euaiact-art-12-1" in integrity.regulations
    auth = first["accountability.authentication"]
    assert auth.status is Status.WARN and auth.metrics["unauthenticated"] == 1
    assert first["accountability.access_control"].status is Status.WARN
    assert "since the trail began" in first["accountability.data_activity"].summary

    second = _findings(_audit(audit_dir))
    previous_end = [e for e in trail.Trail.open(_own_trail).events(action="audit.run")][1]
    activity = second["accountability.data_activity"]
    assert activity.metrics["previous_audit_seq"] == previous_end.seq
    assert activity.metrics["events"] == 0
    assert second["accountability.authentication"].metrics["unauthenticated"] == 2


def _policy(tmp: Path) -> tuple[Path, Path, Identity]:
    """A trust store (admin holds access-admin) and a signed policy: admin (admin), alice
    (auditor: decrypt data/*); bob holds nothing."""
    admin, alice, bob = Identity.generate("admin"), Identity.generate("alice"), Identity.generate("bob")
    store = TrustStore()
    store.add("admin", admin.public_key_pem(), [ACCESS_ADMIN], encryption_key=admin.encryption_key)
    store.add("alice", alice.public_key_pem(), [REPORT_SIGNER], encryption_key=alice.encryption_key)
    store.save(tmp / "trusted_keys.toml")
    body = {"policy_id": "ab" * 16, "roles": {"auditor": {"permissions": ["audit", "decrypt:data*"]},
                                              "admin": {"permissions": ["*"]}},
            "principals": [{**admin.public_entry(), "roles": ["admin"]},
                           {**alice.public_entry(), "roles": ["auditor"]}]}
    path = tmp / "access-policy.json"
    sign_policy(body, admin, out=path)
    alice.save(tmp / "alice.identity.json", kek_env="AUDITKIT_TEST_KEK")
    return path, tmp / "trusted_keys.toml", bob


def test_activity_refusals_and_grants(audit_dir: Path, base_config, write_config, monkeypatch) -> None:
    from auditkit.privacy.access import Policy
    from auditkit.privacy.errors import AccessDenied

    monkeypatch.setenv("AUDITKIT_TEST_KEK", new_kek())
    policy_path, store_path, bob = _policy(audit_dir)
    cfg = base_config(trail={"policy": "access-policy.json"},
                      checks={"accountability": {"trust_store": "trusted_keys.toml"}})
    write_config(audit_dir, cfg)
    # the policy is in force for the run: alice (auditor) acts; the policy's keys are trusted
    monkeypatch.setenv("AUDITKIT_TRUST_STORE", str(store_path))
    monkeypatch.setenv("AUDITKIT_IDENTITY", str(audit_dir / "alice.identity.json"))
    monkeypatch.setenv("AUDITKIT_IDENTITY_PASSPHRASE", os.environ["AUDITKIT_TEST_KEK"])
    _audit(audit_dir)
    # between the audits: someone decrypts the encrypted copy; bob is refused
    trail.record("decrypt", resource=audit_dir / "data.csv.enc", params={"rows": 800})
    trail.record("mask", resource=audit_dir / "elsewhere.csv")  # not the audited data
    policy = Policy.load(policy_path, trust_store=store_path)
    with pytest.raises(AccessDenied):
        policy.require(bob, "decrypt", audit_dir / "data.csv")
    run = _audit(audit_dir)
    found, tables = _findings(run), _tables(run)

    activity = tables["Operations on the audited data since the last audit"]
    rows = [dict(zip(activity.columns, r, strict=True)) for r in activity.rows]
    assert [(r["Action"], r["Outcome"], r["Resource"]) for r in rows] == [
        ("decrypt", "ok", "data.csv.enc"), ("access.check", "denied", "data.csv")]
    assert all(r["Auth"] == "none" and r["Principal"].startswith("os:") for r in rows)
    assert found["accountability.data_activity"].metrics["events"] == 2

    refusals = found["accountability.refusals"]
    assert refusals.status is Status.WARN and refusals.metrics["refusals"] == 1
    (refused,) = tables["Refused operations since the last audit"].rows
    assert refused[4:6] == ("access.check", "denied")

    access = found["accountability.access_control"]
    assert access.status is Status.PASS and access.metrics["serial"] == 1
    grants = tables["Principals, roles and grants"]
    assert [(r[0], r[2]) for r in grants.rows] == [("admin", "admin"), ("alice", "auditor")]
    assert "decrypt:data*" in grants.rows[1][3]


def test_edited_policy_stops_the_run(audit_dir: Path, base_config, write_config, monkeypatch) -> None:
    from auditkit.privacy.errors import PolicyError

    monkeypatch.setenv("AUDITKIT_TEST_KEK", new_kek())
    policy_path, store_path, _ = _policy(audit_dir)
    monkeypatch.setenv("AUDITKIT_TRUST_STORE", str(store_path))
    doc = json.loads(policy_path.read_text())
    doc["policy"]["roles"]["auditor"]["permissions"] = ["*"]
    policy_path.write_text(json.dumps(doc))
    write_config(audit_dir, base_config(trail={"policy": "access-policy.json"},
                                        checks={"accountability": {"trust_store": "trusted_keys.toml"}}))
    with pytest.raises(PolicyError):  # a policy in force that does not verify grants nothing
        _audit(audit_dir)
    assert not (audit_dir / "out").exists() or not any((audit_dir / "out").iterdir())


def test_a_principal_without_audit_is_refused(audit_dir: Path, base_config, write_config,
                                              monkeypatch) -> None:
    from auditkit.privacy.errors import AccessDenied

    monkeypatch.setenv("AUDITKIT_TEST_KEK", new_kek())
    _, store_path, _ = _policy(audit_dir)
    monkeypatch.setenv("AUDITKIT_TRUST_STORE", str(store_path))
    write_config(audit_dir, base_config(trail={"policy": "access-policy.json"}))
    with pytest.raises(AccessDenied, match="audit"):  # nobody's identity: the OS user holds no role
        _audit(audit_dir)
    denied = [e for e in trail.Trail.open(os.environ["AUDITKIT_TRAIL"]).events(outcome="denied")]
    assert [e.action for e in denied] == ["access.check", "command"]  # the refusal, and the sealed run


def test_legacy_key_ring_warns(audit_dir: Path, base_config, write_config) -> None:
    write_config(audit_dir, base_config(keys={"keyring": "ring.json"}))
    access = _findings(_audit(audit_dir))["accountability.access_control"]
    assert access.status is Status.WARN
    assert "legacy single key ring: one principal holds every permission" in access.summary
    assert "auditkit access migrate" in access.remediation


def test_edited_event_fails_and_names_it(audit_dir: Path, _own_trail: Path) -> None:
    _audit(audit_dir)
    lines = _lines(_own_trail)
    assert b'"phase":"start"' in lines[1]
    lines[1] = lines[1].replace(b'"phase":"start"', b'"phase":"stArt"')  # one byte
    (_own_trail / "000001.jsonl").write_bytes(b"".join(lines))
    run = _audit(audit_dir)
    integrity = _findings(run)["accountability.trail_integrity"]
    assert integrity.status is Status.FAIL and run.exit_code == 1
    assert "First bad event: seq 1 (000001.jsonl line 2): edited" in integrity.summary
    assert integrity.metrics["first_bad_seq"] == 1


def test_signed_manifest_carries_head_and_catches_truncation(
    audit_dir: Path, base_config, write_config, _own_trail: Path
) -> None:
    from auditkit.reports.signing import generate_signing_key, verify

    keys = generate_signing_key(audit_dir / "signing.pem")
    write_config(audit_dir, base_config(keys={"signing_key": "signing.pem"}))
    run = _audit(audit_dir)
    assert verify(run.out_dir, keys.public).ok
    head = json.loads(run.paths["manifest"].read_text())["trail"]
    assert set(head) == {"trail_id", "seq", "hash"}
    opened = trail.Trail.open(_own_trail)
    assert opened.verify(anchor=(head["seq"], head["hash"])).ok
    assert opened.verify().trail_id == head["trail_id"]
    (sign,) = opened.events(action="report.sign")
    assert sign.resource == str(run.paths["manifest"].absolute())
    assert sign.sha256 == trail.file_sha256(run.paths["manifest"])

    again_run = _audit(audit_dir)
    again = _findings(again_run)["accountability.trail_integrity"]
    assert again.status is Status.PASS and again.metrics["anchor_seq"] == head["seq"]
    assert f"Anchor: the line at seq {head['seq']} named by the trail head signed into" in again.summary
    assert again.summary.endswith("is still there.")
    head = json.loads(again_run.paths["manifest"].read_text())["trail"]  # the newest signed head

    # cut the trail back below the signed head, and rewrite HEAD to match: only the manifest knows
    lines = _lines(_own_trail)[: head["seq"]]
    (_own_trail / "000001.jsonl").write_bytes(b"".join(lines))
    last = json.loads(lines[-1])
    (_own_trail / "HEAD").write_text(json.dumps({"seq": last["seq"], "hash": last["hash"], "segment": 1}))
    cut = _findings(_audit(audit_dir))["accountability.trail_integrity"]
    assert cut.status is Status.FAIL
    assert f"First bad event: seq {head['seq']} (000001.jsonl line {head['seq'] + 1}): anchor mismatch" in cut.summary


def test_crashed_command_is_unverified(audit_dir: Path, _own_trail: Path) -> None:
    _audit(audit_dir)
    data = audit_dir / "data.csv"
    crash = ("import os, sys; from auditkit.privacy import trail; cm = trail.command('decrypt'); "
             "cm.__enter__(); trail.record('decrypt', resource=sys.argv[1]); os._exit(0)")
    subprocess.run([sys.executable, "-c", crash, str(data)], check=True)
    run = _audit(audit_dir)
    found = _findings(run)
    integrity = found["accountability.trail_integrity"]
    assert integrity.status is Status.WARN and integrity.metrics["unverified_events"] == 1
    assert "Unverified: 1 event(s) of other commands that no seal covers" in integrity.summary
    rows = _tables(run)["Operations on the audited data since the last audit"].rows
    assert [r[4] for r in rows] == ["decrypt"]


def test_trail_path_from_config(audit_dir: Path, base_config, write_config, _own_trail: Path) -> None:
    write_config(audit_dir, base_config(trail={"path": "team-trail"}))
    _audit(audit_dir)
    assert trail.Trail.open(audit_dir / "team-trail").verify().ok
    assert not _own_trail.exists()


def test_principal_matching_a_personal_value_is_withheld(small_data, tmp_path: Path) -> None:
    from auditkit._redact import PersonalValueIndex
    from auditkit.checks._accountability_trail import SafeText

    _, df = small_data
    guard = PersonalValueIndex.from_frame(df, ["name", "email"])
    person = str(df["name"].iloc[0])
    safe = SafeText(guard, tmp_path)
    shown = safe.principal(person)
    assert person not in shown and "withheld" in shown
    assert safe.principal(person) == shown  # one pseudonym per name
    assert safe.principal("alice-the-auditor") == "alice-the-auditor"


@pytest.mark.parametrize("ring_opens", [True, False])
def test_seals_of_the_legacy_ring_are_not_called_tampering(audit_dir: Path, base_config, write_config,
                                                          monkeypatch, ring_opens: bool) -> None:
    from auditkit.privacy.crypto import KeyRing

    monkeypatch.setenv("AUDITKIT_TEST_RING_PASS", "a ring passphrase")
    ring = KeyRing.generate()
    ring.save(audit_dir / "ring.json", passphrase="a ring passphrase")
    with trail.command("keys rotate"):  # a command of the ring's holder, sealed with its key
        trail.bind(signer=ring.trail_signer())
        trail.record("rotate", resource=audit_dir / "ring.json")
    if not ring_opens:
        monkeypatch.delenv("AUDITKIT_TEST_RING_PASS")
    write_config(audit_dir, base_config(keys={"keyring": "ring.json",
                                              "passphrase_env": "AUDITKIT_TEST_RING_PASS"}))
    integrity = _findings(_audit(audit_dir))["accountability.trail_integrity"]
    if ring_opens:  # holding the ring vouches for its principal's seals
        assert integrity.status is Status.PASS, integrity.summary
    else:  # intact, but nobody the audit can check vouches for the seal: a warning, not tampering
        assert integrity.status is Status.WARN and "not vouched for" in integrity.title
        assert integrity.metrics["untrusted"] == 1
