"""The signed access policy: refused unless signed by a trusted access-admin, unedited and current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.privacy.access import (
    POLICY_ENV,
    Identity,
    Policy,
    draft_template,
    find_policy,
    load_policy,
    read_draft,
    serials_path,
    sign_policy,
)
from auditkit.privacy.access._signed import canonical, sign_document
from auditkit.privacy.errors import PolicyError
from auditkit.reports.trust import ACCESS_ADMIN, TrustStore

from .conftest import body


def test_a_signed_policy_loads_and_chains(signed: Path, store: TrustStore, admin: Identity) -> None:
    policy = Policy.load(signed, trust_store=store)
    assert (policy.serial, policy.signer["name"], policy.signer["key_id"]) == (1, "admin", admin.key_id)
    assert policy.roles_of("alice") == ("auditor",) and policy.roles_of("bob") == ()
    nxt = sign_policy(policy.body, admin, previous=policy, out=signed)
    assert (nxt.serial, nxt.body["previous"], nxt.policy_id) == (2, policy.hash, policy.policy_id)
    again = Policy.load(signed, trust_store=store)
    assert again.hash == nxt.hash and again.serial == 2
    assert json.loads(serials_path().read_text())["policies"][policy.policy_id]["serial"] == 2


def test_an_unsigned_policy_is_refused(tmp_path: Path, signed: Path, store: TrustStore) -> None:
    doc = json.loads(signed.read_text())
    bare = tmp_path / "bare.json"
    bare.write_bytes(canonical({"policy": doc["policy"]}) + b"\n")
    with pytest.raises(PolicyError, match="not signed"):
        Policy.load(bare, trust_store=store)


def test_an_edit_that_keeps_the_form_fails_the_signature(tmp_path: Path, signed: Path, store, bob) -> None:
    doc = json.loads(signed.read_text())
    doc["policy"]["principals"].append({**bob.public_entry(), "roles": ["admin"]})  # grant oneself
    signed.write_bytes(canonical(doc) + b"\n")
    with pytest.raises(PolicyError, match="signature does not verify"):
        Policy.load(signed, trust_store=store)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_edit_is_refused(data, signed: Path, store: TrustStore) -> None:
    original = signed.read_bytes()
    i = data.draw(st.integers(0, len(original) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != original[i]), label="byte")
    edited = signed.with_name("edited.json")
    edited.write_bytes(original[:i] + bytes([new]) + original[i + 1:])
    with pytest.raises(PolicyError):
        Policy.load(edited, trust_store=store)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_deletion_or_insertion_is_refused(data, signed: Path, store: TrustStore) -> None:
    original = signed.read_bytes()
    i = data.draw(st.integers(0, len(original) - 1), label="offset")
    insert = data.draw(st.none() | st.integers(0, 255), label="insert")
    changed = original[:i] + original[i + 1:] if insert is None else original[:i] + bytes([insert]) + original[i:]
    edited = signed.with_name("edited.json")
    edited.write_bytes(changed)
    with pytest.raises(PolicyError):
        Policy.load(edited, trust_store=store)


def test_a_signer_without_access_admin_is_refused(tmp_path: Path, store, alice: Identity, admin) -> None:
    path = tmp_path / "p.json"
    sign_policy(body(admin), alice, out=path)  # alice is trusted, but only as report-signer
    with pytest.raises(PolicyError, match="does not hold the role 'access-admin'"):
        Policy.load(path, trust_store=store)


def test_an_unknown_signer_is_refused(tmp_path: Path, store, admin) -> None:
    mallory = Identity.generate("admin")  # same name as the real admin, other key
    path = tmp_path / "p.json"
    sign_policy(body(admin), mallory, out=path)
    with pytest.raises(PolicyError, match="trust store does not list"):
        Policy.load(path, trust_store=store)


def test_a_signature_block_naming_another_principal_is_refused(tmp_path: Path, store, admin) -> None:
    doc = sign_document({**body(admin), "serial": 1, "previous": None, "created": "now", "version": 1}, admin)
    doc["signature"]["name"] = "alice"
    path = tmp_path / "p.json"
    path.write_bytes(canonical(doc) + b"\n")
    with pytest.raises(PolicyError, match="does not match the trust store"):
        Policy.load(path, trust_store=store)


def test_rollback_to_an_older_serial_is_refused(tmp_path: Path, signed: Path, store, admin) -> None:
    old = signed.read_bytes()
    first = Policy.load(signed, trust_store=store)
    sign_policy(first.body, admin, previous=first, out=signed)
    Policy.load(signed, trust_store=store)
    signed.write_bytes(old)
    with pytest.raises(PolicyError, match="older than serial 2"):
        Policy.load(signed, trust_store=store)


def test_two_policies_with_one_serial_are_refused(tmp_path: Path, signed: Path, store, admin, bob) -> None:
    Policy.load(signed, trust_store=store)
    fork = sign_policy(body(admin, (bob, ["officer"])), admin)  # serial 1 again, other content
    signed.write_bytes(fork.to_bytes())
    with pytest.raises(PolicyError, match="two policies were signed with one serial"):
        Policy.load(signed, trust_store=store)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda b: b.update(rolez={}), "unknown field 'rolez'.*Did you mean 'roles'"),
        (lambda b: b["roles"]["auditor"].update(permissions=["decrpyt"]), "unknown permission 'decrpyt'.*'decrypt'"),
        (lambda b: b["roles"]["auditor"].update(permissions=["decrypt:"]), "empty or over-long"),
        (lambda b: b["principals"][0].pop("encryption_key"), "no 'encryption_key'"),
        (lambda b: b["principals"][0].update(roles=["auditr"]), "does not define.*'auditor'"),
        (lambda b: b["principals"][0].update(key_id="0" * 16), "key_id does not match"),
        (lambda b: b["principals"].append(dict(b["principals"][0])), "share a name"),
        (lambda b: b.update(serial=0), "'serial'"),
    ],
)
def test_malformed_bodies_are_refused(admin: Identity, change, match: str) -> None:
    b = body(admin)
    change(b)
    with pytest.raises(PolicyError, match=match):
        sign_policy(b, admin)


def test_draft_round_trip_with_keys_from_the_trust_store(tmp_path: Path, store, admin, alice) -> None:
    text = draft_template("cd" * 16).replace(
        '# [[principals]]\n# name = "alice"', '[[principals]]\nname = "alice"\nroles = ["auditor"]\n# x'
    ) + f'\n[[principals]]\nkey_id = "{admin.key_id}"\nname = "admin"\nroles = ["admin"]\n'
    draft = tmp_path / "draft.toml"
    draft.write_text(text)
    b = read_draft(draft, trust_store=store)
    assert b["policy_id"] == "cd" * 16
    entries = {p["name"]: p for p in b["principals"]}
    assert entries["alice"]["encryption_key"] == alice.public_entry()["encryption_key"]
    assert entries["admin"]["key_id"] == admin.key_id
    out = tmp_path / "access-policy.json"
    sign_policy(b, admin, out=out)
    loaded = Policy.load(out, trust_store=store)
    assert loaded.roles_of("alice") == ("auditor",) and set(loaded.roles) >= {"auditor", "engineer", "officer"}


def test_a_draft_principal_without_keys_is_refused(tmp_path: Path, store) -> None:
    draft = tmp_path / "d.toml"
    draft.write_text(draft_template() + '\n[[principals]]\nname = "carol"\nroles = ["auditor"]\n')
    with pytest.raises(PolicyError, match="no public keys"):
        read_draft(draft, trust_store=store)
    draft.write_text(draft_template() + '\n[[principal]]\nname = "carol"\n')
    with pytest.raises(PolicyError, match="Did you mean 'principals'"):
        read_draft(draft, trust_store=store)


def test_decisions_follow_roles_and_resource_patterns(tmp_path: Path, signed: Path, store, alice, bob) -> None:
    policy = Policy.load(signed, trust_store=store)
    assert policy.allows("alice", "decrypt", "data/x.csv.enc")
    assert not policy.allows("alice", "decrypt", "other/x.csv.enc")
    assert policy.allows("alice", "decrypt", tmp_path / "data" / "x.enc")  # a path: relative to root
    assert not policy.allows("alice", "detokenise", "data/x")
    assert policy.allows("alice", "audit") and not policy.allows("bob", "audit")
    assert policy.allows("admin", "administer-keys", "anything")
    assert policy.allows(alice, "audit")
    impostor = Identity.generate("alice")  # right name, wrong key
    assert not policy.allows(impostor, "audit")
    assert [r.name for r in policy.recipients_for("data/a.enc")] == ["admin", "alice"]
    assert [r.name for r in policy.recipients_for("hr/a.enc")] == ["admin"]
    assert [g["name"] for g in policy.grants()] == ["admin", "alice"]
    with pytest.raises(Exception, match="not a permission.*'decrypt'"):
        policy.allows("alice", "decrpyt")


def test_policy_resolution_order(tmp_path: Path, monkeypatch) -> None:
    ring = tmp_path / "keys" / "keyring.json"
    ring.parent.mkdir()
    assert find_policy(keyring=ring) is None
    beside = ring.parent / "access-policy.json"
    beside.write_text("{}")
    assert find_policy(keyring=ring) == beside
    monkeypatch.setenv(POLICY_ENV, str(tmp_path / "env.json"))
    assert find_policy(keyring=ring) == tmp_path / "env.json"
    assert find_policy(tmp_path / "given.json", keyring=ring) == tmp_path / "given.json"
    monkeypatch.delenv(POLICY_ENV)
    assert load_policy(keyring=tmp_path / "nowhere" / "ring.json") is None


def test_the_trust_store_needs_access_admin_registered() -> None:
    s = TrustStore()
    who = Identity.generate("ops")
    assert s.add("ops", who.public_key_pem(), [ACCESS_ADMIN]).roles == (ACCESS_ADMIN,)


def test_a_damaged_or_shared_serial_record_is_refused(signed: Path, store: TrustStore) -> None:
    Policy.load(signed, trust_store=store)
    record = serials_path()
    record.chmod(0o620)
    with pytest.raises(PolicyError, match="writable by other users"):
        Policy.load(signed, trust_store=store)
    record.chmod(0o600)
    record.write_text("[1, 2]")
    with pytest.raises(PolicyError, match="unreadable or damaged"):
        Policy.load(signed, trust_store=store)
