"""The parts of privacy.crypto: base64url text, key-encryption keys (``_kek``), the ring's key-id
check, the decrypted stream's refusals, token type tags and the column helpers' argument checks."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditkit.privacy.crypto import KeyRing, encrypt_columns, encrypt_file, open_decrypted
from auditkit.privacy.crypto._base64url import b64d, b64e
from auditkit.privacy.crypto._kek import UNREADABLE_RING, kek_for_load, new_kek
from auditkit.privacy.crypto._tokens import RandomizedCipher, _decode, _encode
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

RING = KeyRing.generate()


@given(st.binary(max_size=200))
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    text = b64e(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64d(text) == data


def test_base64url_known_answer() -> None:
    assert b64e(b"\xfb\xff") == "-_8"  # RFC 4648 §5 alphabet
    assert len(new_kek()) == 43 and len(b64d(new_kek())) == 32


def test_an_unknown_kek_kind_is_the_opaque_ring_failure() -> None:
    with pytest.raises(DecryptionError, match="Could not open the key ring"):
        kek_for_load({"kind": "rot13"}, "pass", None, "ring.json")
    with pytest.raises(PrivacyInputError, match="exactly one of 'passphrase' and 'kek_env'"):
        kek_for_load({"kind": "env"}, None, None, "ring.json")
    assert UNREADABLE_RING.startswith("Could not open the key ring")


def _saved(tmp_path, monkeypatch) -> tuple[str, dict]:
    monkeypatch.setenv("PARTS_KEK", new_kek())
    path = tmp_path / "ring.json"
    RING.save(path, kek_env="PARTS_KEK")
    return str(path), json.loads(path.read_text())


def test_a_ring_that_is_not_json_or_of_another_version_is_named(tmp_path, monkeypatch) -> None:
    path, doc = _saved(tmp_path, monkeypatch)
    for text, match in [("[1, 2]", "is not an auditkit key ring"),
                        (json.dumps(dict(doc, version=9)), "format version 9")]:
        with open(path, "w") as fh:
            fh.write(text)
        with pytest.raises(PrivacyInputError, match=match):
            KeyRing.load(path, kek_env="PARTS_KEK")


def test_a_ring_round_trips_and_an_altered_kind_fails_opaquely(tmp_path, monkeypatch) -> None:
    path, doc = _saved(tmp_path, monkeypatch)
    assert KeyRing.load(path, kek_env="PARTS_KEK") == RING
    doc["kek"]["kind"] = "other"
    with open(path, "w") as fh:
        json.dump(doc, fh)
    with pytest.raises(DecryptionError, match="Could not open the key ring"):
        KeyRing.load(path, kek_env="PARTS_KEK")


def test_signing_and_ledger_keys_refuse_an_unknown_key_id() -> None:
    assert RING.signing_key() == RING.signing_key(RING.primary_id)
    assert RING.ledger_key() != RING.signing_key()
    for method in (RING.signing_key, RING.ledger_key):
        with pytest.raises(PrivacyInputError, match="has no key 'ffffffff'"):
            method("ffffffff")


def test_the_decrypted_stream_refuses_like_a_file(tmp_path) -> None:
    src = tmp_path / "plain.bin"
    src.write_bytes(b"0123456789" * 10)
    enc = tmp_path / "plain.bin.enc"
    encrypt_file(src, enc, RING)
    fh = open_decrypted(enc, RING)
    raw = fh.raw
    with pytest.raises(ValueError, match="'whence' argument") as info:
        raw.seek(0, 7)
    assert isinstance(info.value, PrivacyInputError)
    with pytest.raises(PrivacyInputError, match="before its start"):
        raw.seek(-1, io.SEEK_SET)
    assert raw.seek(-10, io.SEEK_END) == 90 and fh.read() == b"0123456789"
    fh.close()
    with pytest.raises(ValueError):
        raw.readinto(bytearray(4))


def test_type_tags_known_answers_and_unsupported_types() -> None:
    assert _encode("a") == b"sa" and _encode(5) == b"i5" and _encode(True) == b"b1"
    assert _encode(object()) is None
    with pytest.raises(DecryptionError):
        _decode(b"zfoo")  # authenticated, yet no tag auditkit writes
    with pytest.raises(PrivacyInputError, match="has type 'object'"):
        RandomizedCipher(RING).encrypt(pd.Series([object()], name="c"))


def test_the_column_helpers_check_the_frame_before_its_columns() -> None:
    with pytest.raises(PrivacyInputError, match="'df' parameter of encrypt_columns"):
        encrypt_columns([["a"]], ["x"], RING)
    with pytest.raises(PrivacyInputError, match="'ring' parameter of encrypt_columns"):
        encrypt_columns(pd.DataFrame({"x": ["a"]}), ["x"], "ring")
    with pytest.raises(PrivacyInputError, match="Did you mean 'email'"):
        encrypt_columns(pd.DataFrame({"email": ["a"]}), ["emial"], RING)
