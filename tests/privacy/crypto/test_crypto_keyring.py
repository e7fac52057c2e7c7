"""KeyRing: rotation, encrypted persistence, permissions, key material never shown."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from auditkit.privacy.crypto import KeyRing, new_kek
from auditkit.privacy.errors import DecryptionError, PrivacyInputError


@pytest.fixture
def ring() -> KeyRing:
    r = KeyRing.generate()
    r.rotate()
    return r


def _materials(ring: KeyRing) -> list[bytes]:
    return [k.material for k in ring._keys.values()]


def test_generate_and_rotate():
    ring = KeyRing.generate()
    first = ring.primary_id
    assert ring.key_ids == (first,)
    second = ring.rotate()
    third = ring.rotate()
    assert ring.primary_id == third
    assert ring.key_ids == (first, second, third)
    assert len({first, second, third}) == 3
    assert [k.version for k in ring.keys_info()] == [1, 2, 3]
    assert [k.primary for k in ring.keys_info()] == [False, False, True]
    assert all(len(kid) == 8 and int(kid, 16) >= 0 for kid in ring.key_ids)


def test_repr_and_info_hide_material(ring):
    text = repr(ring) + " ".join(str(k) for k in ring.keys_info()) + repr(ring._keys)
    for m in _materials(ring):
        assert m.hex() not in text
        assert base64.urlsafe_b64encode(m).decode().rstrip("=") not in text


def test_passphrase_round_trip(tmp_path, ring):
    path = tmp_path / "ring.json"
    ring.save(path, passphrase="correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = KeyRing.load(path, passphrase="correct horse")
    assert loaded == ring
    assert loaded.primary_id == ring.primary_id
    raw = path.read_bytes()
    for m in _materials(ring):
        assert base64.urlsafe_b64encode(m).rstrip(b"=") not in raw
        assert m.hex().encode() not in raw


def test_kek_env_round_trip(tmp_path, ring, monkeypatch):
    monkeypatch.setenv("TEST_AUDITKIT_KEK", new_kek())
    path = tmp_path / "ring.json"
    ring.save(path, kek_env="TEST_AUDITKIT_KEK")
    assert KeyRing.load(path, kek_env="TEST_AUDITKIT_KEK") == ring
    monkeypatch.setenv("TEST_AUDITKIT_KEK", new_kek())
    with pytest.raises(DecryptionError):
        KeyRing.load(path, kek_env="TEST_AUDITKIT_KEK")
    with pytest.raises(PrivacyInputError, match="environment"):
        KeyRing.load(path, passphrase="x")


def test_wrong_passphrase(tmp_path, ring):
    path = tmp_path / "ring.json"
    ring.save(path, passphrase="right")
    with pytest.raises(DecryptionError):
        KeyRing.load(path, passphrase="wrong")


@pytest.mark.parametrize("field", ["salt", "n", "r", "nonce", "ciphertext"])
def test_altered_ring_file_refused(tmp_path, ring, field):
    path = tmp_path / "ring.json"
    ring.save(path, passphrase="pw")
    doc = json.loads(path.read_text())
    if field == "salt":
        doc["kek"]["salt"] = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    elif field == "n":
        doc["kek"]["n"] = 2**14
    elif field == "nonce":
        doc["nonce"] = base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("=")
    elif field == "ciphertext":
        ct = bytearray(base64.urlsafe_b64decode(doc["ciphertext"] + "=="))
        ct[5] ^= 1
        doc["ciphertext"] = base64.urlsafe_b64encode(bytes(ct)).decode().rstrip("=")
    else:
        doc["kek"]["r"] = 4
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    with pytest.raises(DecryptionError):
        KeyRing.load(path, passphrase="pw")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_loose_permissions_refused(tmp_path, ring, mode):
    path = tmp_path / "ring.json"
    ring.save(path, passphrase="pw")
    os.chmod(path, mode)
    with pytest.raises(PrivacyInputError, match="chmod 600"):
        KeyRing.load(path, passphrase="pw")


def test_save_needs_exactly_one_source(tmp_path, ring, monkeypatch):
    monkeypatch.setenv("K", new_kek())
    with pytest.raises(PrivacyInputError, match="neither"):
        ring.save(tmp_path / "a")
    with pytest.raises(PrivacyInputError, match="both"):
        ring.save(tmp_path / "a", passphrase="x", kek_env="K")
    with pytest.raises(PrivacyInputError):
        ring.save(tmp_path / "a", passphrase="")
    assert not (tmp_path / "a").exists()


def test_bad_kek_env(tmp_path, ring, monkeypatch):
    monkeypatch.delenv("NOPE_KEK", raising=False)
    with pytest.raises(PrivacyInputError, match="not set"):
        ring.save(tmp_path / "a", kek_env="NOPE_KEK")
    monkeypatch.setenv("NOPE_KEK", "a short password")
    with pytest.raises(PrivacyInputError, match="32 random bytes") as exc:
        ring.save(tmp_path / "a", kek_env="NOPE_KEK")
    assert "a short password" not in str(exc.value)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(PrivacyInputError, match="does not exist"):
        KeyRing.load(tmp_path / "none.json", passphrase="x")
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    os.chmod(other, 0o600)
    with pytest.raises(PrivacyInputError, match="not an auditkit key ring"):
        KeyRing.load(other, passphrase="x")


def test_save_overwrites_atomically(tmp_path, ring):
    path = tmp_path / "ring.json"
    ring.save(path, passphrase="pw")
    ring.rotate()
    ring.save(path, passphrase="pw")
    assert KeyRing.load(path, passphrase="pw").primary_id == ring.primary_id
    assert sorted(os.listdir(tmp_path)) == ["ring.json"]


def test_subkeys_differ_by_purpose_and_key(ring):
    a, b = ring.key_ids
    subs = {ring._derive(k, p) for k in (a, b) for p in (b"x", b"y")}
    assert len(subs) == 4
    assert ring._derive(a, b"x") == ring._derive(a, b"x")
