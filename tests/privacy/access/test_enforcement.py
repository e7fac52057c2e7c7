"""Enforced by cryptography: no grant, no key material; revocation rewraps; rings sealed by role."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditkit.privacy import trail
from auditkit.privacy.access import (
    Identity,
    Policy,
    grant,
    migrate,
    open_ring,
    revoke,
    seal_ring,
)
from auditkit.privacy.crypto import (
    KeyRing,
    decrypt_file,
    encrypt_file,
    encrypt_file_to,
    file_info,
)
from auditkit.privacy.errors import AccessDenied, DecryptionError, PolicyError
from auditkit.reports.trust import ACCESS_ADMIN, TrustStore

DATA = b"id,salary\n" + b"1,52000\n" * 5000


def _write(policy: Policy, src: Path, dst: Path) -> Path:
    resource = policy.resource_name(dst)
    encrypt_file_to(src, dst, policy.recipients_for(resource), policy=policy.ref(), resource=resource)
    return dst


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    p = tmp_path / "plain.csv"
    p.write_bytes(DATA)
    return p


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


def _stanza_keys(path: Path) -> set[bytes]:
    return {r.x25519_public for r in file_info(path).recipients}


def test_a_principal_without_a_grant_gets_no_key_material(signed, store, plain, data_dir, tmp_path, bob, alice):
    policy = Policy.load(signed, trust_store=store)
    enc = _write(policy, plain, data_dir / "a.csv.enc")
    assert bob.encryption_key not in _stanza_keys(enc)  # no stanza for bob at all
    assert alice.encryption_key in _stanza_keys(enc)
    with pytest.raises(DecryptionError):
        decrypt_file(enc, tmp_path / "bob.csv", bob)
    assert not (tmp_path / "bob.csv").exists()
    decrypt_file(enc, tmp_path / "alice.csv", alice)
    assert (tmp_path / "alice.csv").read_bytes() == DATA
    # outside alice's pattern (decrypt:data/*) she is not a recipient either
    hr = _write(policy, plain, tmp_path / "hr.enc")
    assert alice.encryption_key not in _stanza_keys(hr)
    with pytest.raises(DecryptionError):
        decrypt_file(hr, tmp_path / "alice-hr.csv", alice)


def test_revocation_excludes_new_files_and_rewraps_old_ones(signed, store, plain, data_dir, tmp_path, admin, alice):
    policy = Policy.load(signed, trust_store=store)
    old = _write(policy, plain, data_dir / "old.enc")
    decrypt_file(old, tmp_path / "before.csv", alice)
    change = revoke(policy, "alice", "auditor", admin=admin, files=[old], trust_store=store)
    assert change.changed_policy and change.policy.serial == 2 and change.rewrapped == (old,)
    assert file_info(old).policy == change.policy.ref()
    now = Policy.load(signed, trust_store=store)
    assert now.roles_of("alice") == () and now.body["previous"] == policy.hash
    new = _write(now, plain, data_dir / "new.enc")
    for f in (old, new):
        assert alice.encryption_key not in _stanza_keys(f)
        with pytest.raises(DecryptionError):
            decrypt_file(f, tmp_path / "after.csv", alice)
    decrypt_file(new, tmp_path / "admin.csv", admin)  # the others keep access
    # revoking again changes nothing and signs nothing
    again = revoke(now, "alice", "auditor", admin=admin, files=[old], trust_store=store)
    assert not again.changed_policy and again.unchanged == (old,)


def test_grant_adds_a_recipient_from_the_trust_store(signed, store, plain, data_dir, tmp_path, admin, bob):
    policy = Policy.load(signed, trust_store=store)
    enc = _write(policy, plain, data_dir / "a.enc")
    with pytest.raises(DecryptionError):
        decrypt_file(enc, tmp_path / "x.csv", bob)
    change = grant(policy, "bob", "officer", admin=admin, files=[enc], trust_store=store)
    assert change.policy.roles_of("bob") == ("officer",) and change.rewrapped == (enc,)
    decrypt_file(enc, tmp_path / "x.csv", bob)
    assert (tmp_path / "x.csv").read_bytes() == DATA


def test_only_a_trusted_admin_can_change_the_policy(signed, store, alice) -> None:
    policy = Policy.load(signed, trust_store=store)
    with pytest.raises(PolicyError, match="access-admin"):
        grant(policy, "alice", "admin", admin=alice, trust_store=store)
    assert Policy.load(signed, trust_store=store).serial == 1  # nothing was written


def test_require_records_the_refusal(signed, store) -> None:
    policy = Policy.load(signed, trust_store=store)
    policy.require("alice", "decrypt", "data/x.enc")
    with pytest.raises(AccessDenied, match="'bob'.*may not detokenise.*officer"):
        policy.require("bob", "detokenise", "data/x.enc")
    events = [e for e in trail.Trail.open(os.environ["AUDITKIT_TRAIL"]).events(action="access.check")]
    assert len(events) == 1
    e = events[0].to_dict()
    assert e["outcome"] == "denied" and e["params"] == {"principal": "bob", "permission": "detokenise"}


def test_the_ring_opens_only_for_detokenise_or_key_holders(signed, store, tmp_path, admin, alice, bob) -> None:
    policy = Policy.load(signed, trust_store=store)
    policy = grant(policy, "bob", "officer", admin=admin, trust_store=store).policy
    ring = KeyRing.generate()
    ring.rotate()
    env = seal_ring(ring, policy, tmp_path / "keyring.access")
    assert (os.stat(env).st_mode & 0o777) == 0o600
    assert open_ring(env, bob) == ring and open_ring(env, admin) == ring
    with pytest.raises(DecryptionError):
        open_ring(env, alice)  # auditor: decrypt and audit, not detokenise
    # revoking bob's officer role rewraps the envelope beside the policy
    revoke(policy, "bob", "officer", admin=admin, trust_store=store)
    with pytest.raises(DecryptionError):
        open_ring(env, bob)
    outcomes = [e.outcome for e in trail.Trail.open(os.environ["AUDITKIT_TRAIL"]).events(action="detokenise")]
    assert outcomes == ["ok", "ok", "denied", "denied"]


def test_legacy_ring_mode_keeps_working(tmp_path: Path, plain: Path) -> None:
    ring = KeyRing.generate()
    legacy = Policy.legacy(ring)
    name = f"keyring:{ring.primary_id}"
    assert legacy.is_legacy and legacy.ref() is None
    assert all(legacy.allows(name, a, "anything") for a in ("decrypt", "detokenise", "administer-keys"))
    assert legacy.allows(ring.trail_signer(), "train")
    assert not legacy.allows("alice", "decrypt")
    assert legacy.recipients_for("x") == []
    encrypt_file(plain, tmp_path / "v1.enc", ring)
    decrypt_file(tmp_path / "v1.enc", tmp_path / "v1.csv", ring)
    assert (tmp_path / "v1.csv").read_bytes() == DATA


def test_migration_round_trip(tmp_path: Path, plain: Path, admin: Identity, alice: Identity) -> None:
    ring = KeyRing.generate()
    ring_path = ring.save(tmp_path / "keyring.json", passphrase="old passphrase")
    old = tmp_path / "old.enc"
    encrypt_file(plain, old, ring)
    store = TrustStore()
    store.add("admin", admin.public_key_pem(), [ACCESS_ADMIN], encryption_key=admin.encryption_key)
    done = migrate(ring_path, admin=admin, passphrase="old passphrase", upgrade=[old])
    assert done.policy_path == tmp_path / "access-policy.json" and done.upgraded == (old,)
    policy = Policy.load(done.policy_path, trust_store=store)
    assert policy.roles_of("admin") == ("admin",) and policy.allows("admin", "administer-keys", "x")
    assert open_ring(done.envelope_path, admin) == ring
    with pytest.raises(DecryptionError):
        open_ring(done.envelope_path, alice)
    info = file_info(old)
    assert info.format_version == 2 and [r.name for r in info.recipients] == ["admin"]
    for opener in (admin, ring):  # the upgraded file still opens for the ring holder
        decrypt_file(old, tmp_path / "out.csv", opener)
        assert (tmp_path / "out.csv").read_bytes() == DATA
        (tmp_path / "out.csv").unlink()
    with pytest.raises(PolicyError, match="migrated already"):
        migrate(ring_path, admin=admin, ring=ring)
    actions = [e.action for e in trail.Trail.open(os.environ["AUDITKIT_TRAIL"]).events()]
    assert "access.migrate" in actions
