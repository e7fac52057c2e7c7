"""Identities: key pairs, encrypted at rest like the key ring, signer and opener protocols."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from auditkit.privacy.access import Identity, read_public
from auditkit.privacy.crypto._base64url import b64d, b64e
from auditkit.privacy.errors import DecryptionError, PrivacyInputError
from auditkit.reports.trust import key_id as trust_key_id
from auditkit.reports.trust import load_public_key

from .conftest import KEK_ENV


def test_keys_sign_and_agree(alice: Identity) -> None:
    sig = alice.sign(b"chain head")
    Ed25519PublicKey.from_public_bytes(alice.public_key_raw()).verify(sig, b"chain head")
    # the key id is the trust store's fingerprint of the signing key
    assert alice.key_id == trust_key_id(load_public_key(alice.public_key_pem().encode()))
    assert alice.key_id == hashlib.sha256(alice.public_key_raw()).hexdigest()[:16]
    # the X25519 private key matches the public encryption key
    priv = X25519PrivateKey.from_private_bytes(alice.x25519_private_bytes())
    assert priv.public_key().public_bytes_raw() == alice.encryption_key
    r = alice.recipient()
    assert (r.name, r.key_id, r.x25519_public) == ("alice", alice.key_id, alice.encryption_key)
    entry = alice.public_entry()
    assert b64d(entry["signing_key"]) == alice.public_key_raw()
    assert b64d(entry["encryption_key"]) == alice.encryption_key


def test_repr_and_file_never_show_private_keys(tmp_path: Path, alice: Identity) -> None:
    secrets = [alice.x25519_private_bytes(), alice._seed()]
    shown = repr(alice) + str(alice) + repr(alice.public())
    path = alice.save(tmp_path / "alice.identity.json", kek_env=KEK_ENV)
    text = path.read_text()
    for s in secrets:
        for enc in (s.hex(), b64e(s)):
            assert enc not in shown and enc not in text


def test_round_trip_with_passphrase_and_kek(tmp_path: Path, alice: Identity, monkeypatch) -> None:
    p1 = alice.save(tmp_path / "a.json", passphrase="correct horse")
    assert (os.stat(p1).st_mode & 0o777) == 0o600
    back = Identity.load(p1, passphrase="correct horse")
    assert back.x25519_private_bytes() == alice.x25519_private_bytes()
    assert back.sign(b"x") == alice.sign(b"x")  # Ed25519 is deterministic: same seed
    p2 = alice.save(tmp_path / "b.json", kek_env=KEK_ENV)
    assert Identity.load_from_env(p2, KEK_ENV).public_entry() == alice.public_entry()
    monkeypatch.setenv("PASS_VAR", "correct horse")
    assert Identity.load_from_env(p1, "PASS_VAR").key_id == alice.key_id
    assert read_public(p1).public_entry() == alice.public_entry()


def test_wrong_secret_and_tampering_are_opaque(tmp_path: Path, alice: Identity) -> None:
    path = alice.save(tmp_path / "a.json", passphrase="right")
    with pytest.raises(DecryptionError):
        Identity.load(path, passphrase="wrong")
    doc = json.loads(path.read_text())
    doc["name"] = "mallory"  # the public part is associated data
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    with pytest.raises(DecryptionError):
        Identity.load(path, passphrase="right")


def test_a_swapped_public_key_is_refused(tmp_path: Path, alice: Identity, bob: Identity) -> None:
    path = alice.save(tmp_path / "a.json", kek_env=KEK_ENV)
    doc = json.loads(path.read_text())
    doc["encryption_key"] = bob.public_entry()["encryption_key"]
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    with pytest.raises(DecryptionError):
        Identity.load(path, kek_env=KEK_ENV)


def test_readable_by_others_is_refused(tmp_path: Path, alice: Identity) -> None:
    path = alice.save(tmp_path / "a.json", kek_env=KEK_ENV)
    os.chmod(path, 0o640)
    with pytest.raises(PrivacyInputError, match="chmod 600"):
        Identity.load(path, kek_env=KEK_ENV)


def test_planted_scrypt_cost_is_refused_before_deriving(tmp_path: Path, alice: Identity) -> None:
    path = alice.save(tmp_path / "a.json", passphrase="pw")
    doc = json.loads(path.read_text())
    doc["kek"]["n"] = 2**22
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    with pytest.raises(PrivacyInputError, match="scrypt parameter 'n'"):
        Identity.load(path, passphrase="pw")


@pytest.mark.parametrize("name", ["", "keyring:1234abcd", " alice", "a" * 101, "al\nice"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(PrivacyInputError, match="principal name"):
        Identity.generate(name)


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(PrivacyInputError, match="does not exist"):
        Identity.load(tmp_path / "nope.json", passphrase="x")
    other = tmp_path / "ring.json"
    other.write_text('{"format": "auditkit-keyring"}')
    os.chmod(other, 0o600)
    with pytest.raises(PrivacyInputError, match="not an auditkit identity"):
        Identity.load(other, passphrase="x")
    with pytest.raises(PrivacyInputError, match="not set"):
        Identity.load_from_env(other, "AUDITKIT_TEST_UNSET_VARIABLE")


def test_an_identity_signs_trail_seals_that_verify(tmp_path: Path, alice: Identity) -> None:
    from auditkit.privacy import trail
    from auditkit.reports.trust import TrustStore

    store = TrustStore()
    store.add("alice", alice.public_key_pem(), encryption_key=alice.encryption_key)
    with trail.command("audit.run") as session:
        trail.bind(signer=alice)
        trail.record("audit.run", resource="adult")
        session.exit_code = 0
    log = trail.Trail.open(os.environ["AUDITKIT_TRAIL"])
    result = log.verify(trust=store)
    assert result.ok, result.to_dict()
    (event,) = list(log.events(action="audit.run"))
    assert (event.principal, event.auth, event.key_id) == ("alice", "key", alice.key_id)
