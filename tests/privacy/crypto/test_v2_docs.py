"""A stranger can read format version 2 from docs/crypto.md and the ``cryptography`` package alone.

The constants (and the known-answer vectors) come from the ``format-constants`` block of
docs/crypto.md, never from auditkit; auditkit only *writes* the files read here. The known-answer
tests pin the stanza wrap and the header MAC to fixed bytes, so an independent implementation
can be checked against the docs without running auditkit.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tests.security.conftest import literal_assignments

DOC = Path(__file__).resolve().parents[3] / "docs" / "crypto.md"


def _constants() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- format-constants:[^>]*-->\s*```python\n(.*?)```", text, re.DOTALL)
    assert m, "docs/crypto.md lost its format-constants block"
    return literal_assignments(m.group(1))


C = _constants()


def _b64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hkdf(material: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(hashes.SHA256(), length=32, salt=salt, info=info).derive(material)


# -- the reader, from the docs alone ---------------------------------------------------------
def _x25519_data_key(stanza: dict[str, str], private: bytes) -> bytes:
    epk, recipient = _b64u(stanza["epk"]), _b64u(stanza["recipient"])
    shared = X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(epk)
    )
    parts = {"epk": epk, "recipient": recipient}
    kw = _hkdf(
        shared, C["HKDF_INFO_V2_X25519_WRAP"], b"".join(parts[p] for p in C["X25519_WRAP_SALT"])
    )
    return AESGCM(kw).decrypt(
        C["X25519_WRAP_NONCE"], _b64u(stanza["wrapped"]), C["X25519_WRAP_AAD"]
    )


def _keyring_data_key(stanza: dict[str, str], materials: dict[str, bytes]) -> bytes:
    kw = _hkdf(materials[stanza["key_id"]], C["HKDF_INFO_FILE_KEY_WRAP"])
    aad = C["KEYRING_STANZA_AAD_PREFIX"] + bytes.fromhex(stanza["key_id"])
    return AESGCM(kw).decrypt(_b64u(stanza["nonce"]), _b64u(stanza["wrapped"]), aad)


def decrypt_v2(
    data: bytes, *, private: bytes | None = None, materials: dict[str, bytes] | None = None
) -> bytes:
    pre = {name: data[off : off + size] for name, off, size in C["FILE2_PREAMBLE"]}
    assert pre["magic"] == C["FILE_MAGIC"] and pre["version"][0] == C["FILE2_VERSION"]
    length = int.from_bytes(pre["header_len"], "big")
    assert C["FILE2_HEADER_LEN_MIN"] <= length <= C["FILE2_HEADER_LEN_MAX"]
    start = C["FILE2_PREAMBLE_LEN"]
    raw = data[start : start + length]
    mac = data[start + length : start + length + C["FILE2_MAC_LEN"]]
    header = json.loads(raw)
    assert tuple(sorted(header)) == C["FILE2_HEADER_FIELDS"]
    assert json.dumps(header, **C["FILE2_HEADER_JSON"]).encode() == raw
    assert 1 <= len(header["recipients"]) <= C["FILE2_MAX_RECIPIENTS"]
    if private is not None:
        mine = X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
        stanza = next(
            s
            for s in header["recipients"]
            if s["type"] == C["X25519_STANZA_TYPE"] and _b64u(s["recipient"]) == mine
        )
        assert tuple(sorted(stanza)) == C["X25519_STANZA_FIELDS"]
        dk = _x25519_data_key(stanza, private)
    else:
        assert materials is not None
        stanza = next(
            s
            for s in header["recipients"]
            if s["type"] == C["KEYRING_STANZA_TYPE"] and s["key_id"] in materials
        )
        assert tuple(sorted(stanza)) == C["KEYRING_STANZA_FIELDS"]
        dk = _keyring_data_key(stanza, materials)
    mk = _hkdf(dk, C["HKDF_INFO_V2_HEADER_MAC"], C["HKDF_SALT"])
    assert hmac.compare_digest(hmac.new(mk, data[: start + length], "sha256").digest(), mac)
    seg = header["segment_size"]
    assert C["FILE_SEGMENT_SIZE_MIN"] <= seg <= C["FILE_SEGMENT_SIZE_MAX"]
    prefix = _b64u(header["nonce_prefix"])
    assert len(prefix) == C["FILE2_NONCE_PREFIX_LEN"]
    body, tag = data[start + length + C["FILE2_MAC_LEN"] :], C["FILE_TAG_LEN"]
    n = max(1, -(-len(body) // (seg + tag)))
    aead, out = AESGCM(dk), bytearray()
    for i in range(n):
        flag = C["FILE_LAST_SEGMENT_FLAG"] if i == n - 1 else C["FILE_OTHER_SEGMENT_FLAG"]
        nonce = prefix + i.to_bytes(
            C["FILE_SEGMENT_COUNTER_LEN"], C["FILE_SEGMENT_COUNTER_BYTE_ORDER"]
        )
        chunk = body[i * (seg + tag) : (i + 1) * (seg + tag)]
        out += aead.decrypt(nonce + bytes([flag]), chunk, C["FILE_SEGMENT_AAD"])
    return bytes(out)


# -- known answers -----------------------------------------------------------------------------
def test_x25519_stanza_known_answer_from_the_docs() -> None:
    """The docs' vector, recomputed independently, then by auditkit's private wrap function."""
    rk = X25519PrivateKey.from_private_bytes(bytes.fromhex(C["X25519_KAT_RECIPIENT_PRIVATE"]))
    ek = X25519PrivateKey.from_private_bytes(bytes.fromhex(C["X25519_KAT_EPHEMERAL_PRIVATE"]))
    dek = bytes.fromhex(C["X25519_KAT_DATA_KEY"])
    recipient, epk = rk.public_key().public_bytes_raw(), ek.public_key().public_bytes_raw()
    assert recipient.hex() == C["X25519_KAT_RECIPIENT"] and epk.hex() == C["X25519_KAT_EPK"]
    kw = _hkdf(ek.exchange(rk.public_key()), C["HKDF_INFO_V2_X25519_WRAP"], epk + recipient)
    wrapped = AESGCM(kw).encrypt(C["X25519_WRAP_NONCE"], dek, C["X25519_WRAP_AAD"])
    assert wrapped.hex() == C["X25519_KAT_WRAPPED"]

    from auditkit.privacy.crypto import Recipient
    from auditkit.privacy.crypto._recipients import wrap_x25519

    ours = wrap_x25519(
        dek, Recipient("alice", "0123456789abcdef", recipient), ephemeral=ek
    ).to_json()
    assert (_b64u(ours["epk"]).hex(), _b64u(ours["wrapped"]).hex()) == (
        C["X25519_KAT_EPK"],
        C["X25519_KAT_WRAPPED"],
    )
    assert _x25519_data_key(ours, rk.private_bytes_raw()) == dek


def test_header_mac_known_answer_from_the_docs() -> None:
    dek = bytes.fromhex(C["X25519_KAT_DATA_KEY"])
    signed = C["FILE_MAGIC"] + bytes([C["FILE2_VERSION"]]) + (2).to_bytes(4, "big") + b"{}"
    mk = _hkdf(dek, C["HKDF_INFO_V2_HEADER_MAC"], C["HKDF_SALT"])
    assert hmac.new(mk, signed, "sha256").hexdigest() == C["HEADER_MAC_KAT"]

    from auditkit.privacy.crypto._header_v2 import _mac

    assert _mac(dek, signed).hex() == C["HEADER_MAC_KAT"]


# -- files written by auditkit, read with the docs -------------------------------------------
class _Ident:
    def __init__(self) -> None:
        self.key = X25519PrivateKey.generate()

    def x25519_private_bytes(self) -> bytes:
        return self.key.private_bytes_raw()


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 3 * 65536 + 17])
def test_v2_file_decrypts_from_the_docs(tmp_path, size) -> None:
    from auditkit.privacy.crypto import KeyRing, Recipient, encrypt_file_to

    ring = KeyRing.generate()
    people = [_Ident() for _ in range(3)]
    recipients = [
        Recipient(f"p{i}", f"{i:016x}", p.key.public_key().public_bytes_raw())
        for i, p in enumerate(people)
    ]
    plain = os.urandom(size)
    (tmp_path / "p").write_bytes(plain)
    encrypt_file_to(
        tmp_path / "p",
        tmp_path / "c",
        recipients,
        ring=ring,
        segment_size=65536,
        policy={"serial": 2, "hash": "0f" * 32},
        resource="data/ü.csv",
    )
    data = (tmp_path / "c").read_bytes()
    for p in people:
        assert decrypt_v2(data, private=p.x25519_private_bytes()) == plain
    materials = {k.key_id: k.material for k in ring._keys.values()}
    assert decrypt_v2(data, materials=materials) == plain
    with pytest.raises(StopIteration):  # no stanza for a stranger
        decrypt_v2(data, private=_Ident().x25519_private_bytes())
