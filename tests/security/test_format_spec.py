"""A stranger can read auditkit's formats from docs/crypto.md and the ``cryptography`` package alone.

Every constant below is parsed from the ``format-constants`` block of ``docs/crypto.md``; the
readers here never import auditkit. auditkit is used only to *produce* an encrypted file, a key
ring, tokens and pseudonyms, which are then read with ``cryptography`` and the docs. If the docs
and the code disagree (a label, a byte order, a flag value, the ring's associated data), these
tests fail.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tests.security.conftest import literal_assignments

DOC = Path(__file__).resolve().parents[2] / "docs" / "crypto.md"
PASSPHRASE = "format spec passphrase"


def _doc_constants() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- format-constants:[^>]*-->\s*```python\n(.*?)```", text, re.DOTALL)
    assert m, "docs/crypto.md lost its format-constants block"
    return literal_assignments(m.group(1))


C = _doc_constants()


def _b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _hkdf(material: bytes, info: bytes, length: int = 32) -> bytes:
    assert C["HKDF_HASH"] == "SHA-256"
    return HKDF(hashes.SHA256(), length=length, salt=C["HKDF_SALT"], info=info).derive(material)


# -- readers written from the docs alone ---------------------------------------------------------
def unlock_ring(path: Path, secret: str, *, strict: bool = True) -> dict[str, Any]:
    """The decrypted key list of a ring file: passphrase for scrypt rings, KEK text for env.

    ``strict=False`` skips the field checks, so that only authentication can refuse a file.
    """
    doc = json.loads(path.read_text(encoding="utf-8"))
    kek_params = doc["kek"]
    if strict:
        assert doc["format"] == C["RING_FORMAT"] and doc["version"] == C["RING_VERSION"]
        assert set(C["RING_FIELDS"]) <= set(doc)
        assert kek_params["kind"] in C["RING_KEK_KINDS"]
    if kek_params["kind"] == "scrypt":
        assert not strict or set(kek_params) == set(C["RING_SCRYPT_FIELDS"])
        kek = Scrypt(
            salt=_b64u_decode(kek_params["salt"]),
            length=C["RING_KEK_LEN"],
            n=kek_params["n"],
            r=kek_params["r"],
            p=kek_params["p"],
        ).derive(secret.encode(C["RING_SCRYPT_PASSWORD_ENCODING"]))
    else:
        kek = _b64u_decode(secret.strip())
    assert len(kek) == C["RING_KEK_LEN"]
    aad = json.dumps({k: doc[k] for k in C["RING_AAD_FIELDS"]}, **C["RING_AAD_JSON"]).encode()
    nonce = _b64u_decode(doc["nonce"])
    assert len(nonce) == C["RING_NONCE_LEN"]
    body = AESGCM(kek).decrypt(nonce, _b64u_decode(doc["ciphertext"]), aad)
    keys = json.loads(body.decode("utf-8"))
    for k in keys["keys"]:
        assert set(k) == set(C["RING_KEY_FIELDS"])
        assert len(bytes.fromhex(k["id"])) == C["RING_KEY_ID_LEN"] and k["id"] == k["id"].lower()
        assert len(_b64u_decode(k["material"])) == C["RING_KEY_MATERIAL_LEN"]
    assert keys["primary"] in {k["id"] for k in keys["keys"]}
    return keys


def _materials(keys: dict[str, Any]) -> dict[str, bytes]:
    return {k["id"]: _b64u_decode(k["material"]) for k in keys["keys"]}


def decrypt_file(data: bytes, materials: dict[str, bytes]) -> bytes:
    """Plaintext of an encrypted file, following the docs step by step."""
    fields = {name: (off, size) for name, off, size in C["FILE_HEADER"]}
    hlen = C["FILE_HEADER_LEN"]
    assert sum(size for _, size in fields.values()) == hlen
    header = data[:hlen]

    def field(name: str) -> bytes:
        off, size = fields[name]
        return header[off : off + size]

    assert field("magic") == C["FILE_MAGIC"]
    assert field("version")[0] == C["FILE_VERSION"]
    seg = int.from_bytes(field("segment_size"), "big")
    assert C["FILE_SEGMENT_SIZE_MIN"] <= seg <= C["FILE_SEGMENT_SIZE_MAX"]
    wrap_key = _hkdf(materials[field("key_id").hex()], C["HKDF_INFO_FILE_KEY_WRAP"])
    lo, hi = C["FILE_WRAP_AAD"]
    dek = AESGCM(wrap_key).decrypt(field("wrap_nonce"), field("wrapped_data_key"), header[lo:hi])
    assert len(dek) == C["FILE_DATA_KEY_LEN"]
    tag = C["FILE_TAG_LEN"]
    body = data[hlen:]
    n = max(1, math.ceil(len(body) / (seg + tag)))
    assert n <= C["FILE_MAX_SEGMENTS"]
    aead = AESGCM(dek)
    out = bytearray()
    for i in range(n):
        chunk = body[i * (seg + tag) : (i + 1) * (seg + tag)]
        assert len(chunk) >= tag
        last = i == n - 1
        flag = C["FILE_LAST_SEGMENT_FLAG"] if last else C["FILE_OTHER_SEGMENT_FLAG"]
        nonce = (
            field("nonce_prefix")
            + i.to_bytes(C["FILE_SEGMENT_COUNTER_LEN"], C["FILE_SEGMENT_COUNTER_BYTE_ORDER"])
            + bytes([flag])
        )
        assert len(nonce) == 12
        out += aead.decrypt(nonce, chunk, C["FILE_SEGMENT_AAD"])
    return bytes(out)


# -- the tests -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_ring(tmp_path_factory):
    """A two-key ring saved with a passphrase, produced by auditkit."""
    from auditkit.privacy.crypto import KeyRing

    ring = KeyRing.generate()
    ring.rotate()
    path = tmp_path_factory.mktemp("ring") / "ring.json"
    ring.save(path, passphrase=PASSPHRASE)
    return ring, path


def test_passphrase_ring_unlocks_from_the_docs(saved_ring) -> None:
    ring, path = saved_ring
    keys = unlock_ring(path, PASSPHRASE)
    assert keys["primary"] == ring.primary_id
    assert [k["id"] for k in keys["keys"]] == list(ring.key_ids)


def test_env_ring_unlocks_from_the_docs(tmp_path, monkeypatch) -> None:
    from auditkit.privacy.crypto import KeyRing, new_kek

    kek_text = new_kek()
    monkeypatch.setenv("FORMAT_SPEC_KEK", kek_text)
    ring = KeyRing.generate()
    ring.save(tmp_path / "ring.json", kek_env="FORMAT_SPEC_KEK")
    assert unlock_ring(tmp_path / "ring.json", kek_text)["primary"] == ring.primary_id


@pytest.mark.parametrize("field", ["n", "salt", "nonce", "version", "extra-kek-field"])
def test_ring_aad_covers_every_public_field(saved_ring, tmp_path, field) -> None:
    """The documented AAD is complete: altering any public field fails our own reader too."""
    _, path = saved_ring
    doc = json.loads(path.read_text(encoding="utf-8"))
    if field == "n":
        doc["kek"]["n"] = 2**14
    elif field == "salt":
        doc["kek"]["salt"] = _b64u_encode(os.urandom(16))
    elif field == "nonce":
        doc["nonce"] = _b64u_encode(os.urandom(12))
    elif field == "version":
        doc["version"] = 2
    else:
        doc["kek"]["note"] = "x"
    altered = tmp_path / "ring.json"
    altered.write_text(json.dumps(doc), encoding="utf-8")
    unlock_ring(path, PASSPHRASE, strict=False)  # the unaltered file passes the same reader
    with pytest.raises(InvalidTag):
        unlock_ring(altered, PASSPHRASE, strict=False)


@pytest.mark.parametrize(
    "size",
    [0, 1, 65536 - 1, 65536, 65536 + 1, 3 * 65536, 3 * 65536 + 17, 1024 * 1024 + 5],
)
def test_encrypted_file_decrypts_from_the_docs(saved_ring, tmp_path, size) -> None:
    from auditkit.privacy.crypto import encrypt_file

    ring, path = saved_ring
    plain = os.urandom(size)
    (tmp_path / "in.bin").write_bytes(plain)
    seg = 65536 if size < 1024 * 1024 else 1024 * 1024
    encrypt_file(tmp_path / "in.bin", tmp_path / "in.bin.enc", ring, segment_size=seg)
    data = (tmp_path / "in.bin.enc").read_bytes()
    materials = _materials(unlock_ring(path, PASSPHRASE))
    assert decrypt_file(data, materials) == plain


def test_rewrapped_file_decrypts_from_the_docs(tmp_path) -> None:
    from auditkit.privacy.crypto import KeyRing, encrypt_file, rewrap

    ring = KeyRing.generate()
    plain = os.urandom(200_000)
    (tmp_path / "in.bin").write_bytes(plain)
    encrypt_file(tmp_path / "in.bin", tmp_path / "f.enc", ring, segment_size=65536)
    ring.rotate()
    assert rewrap(tmp_path / "f.enc", ring)
    ring.save(tmp_path / "ring.json", passphrase=PASSPHRASE)
    materials = _materials(unlock_ring(tmp_path / "ring.json", PASSPHRASE))
    data = (tmp_path / "f.enc").read_bytes()
    assert data[8:12].hex() == ring.primary_id
    assert decrypt_file(data, materials) == plain


@pytest.mark.parametrize("flip", ["last-flag", "counter-order"])
def test_documented_nonce_is_the_only_one_that_works(
    saved_ring, tmp_path, monkeypatch, flip
) -> None:
    """Swap the documented flag values or byte order: the segment must no longer decrypt."""
    from auditkit.privacy.crypto import encrypt_file

    ring, path = saved_ring
    (tmp_path / "in.bin").write_bytes(os.urandom(2 * 65536 + 5))
    encrypt_file(tmp_path / "in.bin", tmp_path / "f.enc", ring, segment_size=65536)
    data = (tmp_path / "f.enc").read_bytes()
    materials = _materials(unlock_ring(path, PASSPHRASE))
    key = "FILE_LAST_SEGMENT_FLAG" if flip == "last-flag" else "FILE_SEGMENT_COUNTER_BYTE_ORDER"
    wrong = {"FILE_LAST_SEGMENT_FLAG": C["FILE_OTHER_SEGMENT_FLAG"],
             "FILE_SEGMENT_COUNTER_BYTE_ORDER": "little"}[key]
    monkeypatch.setitem(C, key, wrong)
    with pytest.raises(InvalidTag):
        decrypt_file(data, materials)


def test_token_and_pseudonym_labels_from_the_docs(saved_ring) -> None:
    from auditkit.privacy.crypto import DeterministicCipher, Pseudonymizer, RandomizedCipher

    ring, path = saved_ring
    materials = _materials(unlock_ring(path, PASSPHRASE))
    kid = ring.primary_id
    value = "Ada Lovelace"
    encoded = b"s" + value.encode("utf-8")

    (tok,) = RandomizedCipher(ring).encrypt([value])
    head, body = f"akr1:{kid}:", tok.split(":", 2)[2]
    raw = _b64u_decode(body)
    key = _hkdf(materials[kid], C["HKDF_INFO_COLUMN_GCM"])
    assert AESGCM(key).decrypt(raw[:12], raw[12:], head.encode()) == encoded

    (tok,) = DeterministicCipher(ring).encrypt([value])
    key = _hkdf(materials[kid], C["HKDF_INFO_COLUMN_SIV"], 64)
    raw = _b64u_decode(tok.split(":", 2)[2])
    assert AESSIV(key).decrypt(raw, [f"akd1:{kid}:".encode()]) == encoded

    (pseudo,) = Pseudonymizer(ring, context="loans").pseudonymize([value])
    key = _hkdf(materials[kid], C["HKDF_INFO_PSEUDONYM_PREFIX"] + b"loans")
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(encoded)
    assert pseudo == f"akp1:{kid}:" + _b64u_encode(mac.finalize())

    seed = _hkdf(materials[kid], C["HKDF_INFO_REPORT_SIGNING"])
    assert seed == ring.signing_key()


def test_documented_file_wrap_label_is_the_codes(saved_ring, tmp_path, monkeypatch) -> None:
    """The label the issue found wrong in the docs: the bare purpose does not unwrap."""
    from auditkit.privacy.crypto import encrypt_file

    ring, path = saved_ring
    (tmp_path / "in.bin").write_bytes(b"x")
    encrypt_file(tmp_path / "in.bin", tmp_path / "f.enc", ring)
    data = (tmp_path / "f.enc").read_bytes()
    materials = _materials(unlock_ring(path, PASSPHRASE))
    assert decrypt_file(data, materials) == b"x"
    monkeypatch.setitem(C, "HKDF_INFO_FILE_KEY_WRAP", b"file-key-wrap")  # what the docs said
    with pytest.raises(InvalidTag):
        decrypt_file(data, materials)
