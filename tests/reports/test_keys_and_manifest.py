"""The parts of report signing: key reading (``_keys``), the manifest format (``_manifest``),
the catalogue's lookup error and the model's input errors."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from auditkit.reports import signing, trust
from auditkit.reports._keys import (
    key_id,
    load_private_key,
    load_public_key,
    pem_public_key,
    public_key_pem,
    raw_public,
)
from auditkit.reports._manifest import (
    decode_signature,
    encode_signature,
    manifest_bytes,
    safe_relative,
)
from auditkit.reports._model import Section, Table
from auditkit.reports.catalogue import get_catalogue
from auditkit.reports.errors import ReportInputError, UnknownProvisionError

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key()


# -- keys --------------------------------------------------------------------------------------


def test_every_public_key_encoding_reads_as_the_same_key(tmp_path: Path) -> None:
    pem = public_key_pem(PUBLIC)
    raw = raw_public(PUBLIC)
    path = tmp_path / "signer.pub"
    path.write_text(pem)
    sources = [PUBLIC, KEY, raw, pem.encode(), base64.b64encode(raw), str(path), path]
    assert {key_id(load_public_key(s)) for s in sources} == {key_id(PUBLIC)}


def test_key_id_known_answer() -> None:
    # First 16 hex digits of SHA-256 over the 32 raw public-key bytes.
    import hashlib

    assert key_id(PUBLIC) == hashlib.sha256(raw_public(PUBLIC)).hexdigest()[:16]
    assert len(key_id(PUBLIC)) == 16


@pytest.mark.parametrize(
    ("source", "match"),
    [
        (3.5, "'public_key' parameter must be a path, bytes or an Ed25519PublicKey; got float"),
        (b"not a key at all", "Could not read the public key bytes as an Ed25519 public key"),
    ],
)
def test_unreadable_public_keys_are_input_errors(source, match) -> None:
    with pytest.raises(ReportInputError, match=match):
        load_public_key(source)


def test_a_missing_public_key_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match=r"Cannot read the public key file .*nope\.pub"):
        load_public_key(tmp_path / "nope.pub")


def test_private_key_sources_agree_and_the_file_mode_is_enforced(tmp_path: Path) -> None:
    files = signing.generate_signing_key(tmp_path / "k.pem")
    from_file = load_private_key(files.private)
    raw = from_file.private_bytes_raw()
    assert key_id(load_private_key(raw).public_key()) == files.key_id
    os.chmod(files.private, 0o640)
    with pytest.raises(ReportInputError, match="chmod 600"):
        load_private_key(files.private)
    with pytest.raises(ReportInputError, match="'private_key' parameter must be"):
        load_private_key(42)


def test_the_trust_store_reads_pem_only_and_refuses_private_keys() -> None:
    assert key_id(pem_public_key(public_key_pem(PUBLIC), "x")) == key_id(PUBLIC)
    with pytest.raises(ReportInputError, match="is not a PEM public key"):
        pem_public_key(base64.b64encode(raw_public(PUBLIC)).decode(), "The entry")
    from cryptography.hazmat.primitives import serialization

    private_pem = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ReportInputError, match="is a private key") as info:
        pem_public_key(private_pem, "The entry")
    body = private_pem.decode().splitlines()[1]  # the key material
    assert body not in str(info.value)


def test_the_public_names_stay_where_they_were() -> None:
    for name in signing.__all__:
        assert hasattr(signing, name), name
    for name in trust.__all__:
        assert hasattr(trust, name), name
    assert signing.load_public_key is trust.load_public_key is load_public_key
    assert signing.verify_manifest is signing.verify


# -- manifest format ---------------------------------------------------------------------------


@given(st.binary(min_size=64, max_size=64))
def test_signature_encoding_round_trips(sig: bytes) -> None:
    text = encode_signature(sig)
    assert text.endswith(b"\n") and decode_signature(text) == sig


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(bytes(64)),  # no newline
        base64.b64encode(bytes(64)) + b"\n\n",  # extra newline
        b" " + base64.b64encode(bytes(64)) + b"\n",  # leading space
        base64.b64encode(bytes(63)) + b"\n",  # wrong length
        b"not base64!\n",
    ],
)
def test_only_the_exact_signature_encoding_is_read(text: bytes) -> None:
    assert decode_signature(text) is None


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("report.html", True),
        ("artifacts/ledger.json", True),
        ("", False),
        ("/etc/passwd", False),
        ("../outside.txt", False),
        ("a/../../b", False),
        ("a\\b", False),
    ],
)
def test_safe_relative_keeps_paths_inside_the_directory(name: str, ok: bool) -> None:
    assert safe_relative(name) is ok


def test_manifest_bytes_are_canonical() -> None:
    files = {"b.md": {"sha256": "00", "size": 1}, "a.html": {"sha256": "11", "size": 2}}
    data = manifest_bytes(PUBLIC, {}, files, "2024-01-01T00:00:00+00:00")
    text = data.decode("ascii")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    parsed = json.loads(text)
    assert parsed["key_id"] == key_id(PUBLIC)
    assert base64.b64decode(parsed["public_key"]) == raw_public(PUBLIC)
    assert text.index('"a.html"') < text.index('"b.md"')  # sorted keys
    assert list(parsed) == sorted(parsed)
    assert data == json.dumps(parsed, indent=2, sort_keys=True, ensure_ascii=True).encode() + b"\n"


# -- lookups and model inputs ------------------------------------------------------------------


def test_an_unknown_provision_is_a_key_error_that_reads_as_a_sentence() -> None:
    cat = get_catalogue()
    with pytest.raises(UnknownProvisionError) as info:
        cat["gdpr-art-22-33"]
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, ReportInputError)
    message = str(err)
    assert message.startswith("No provision 'gdpr-art-22-33'")  # not quoted like a KeyError
    assert "Did you mean 'gdpr-art-22-3'?" in message
    with pytest.raises(KeyError):
        cat["nothing-like-it"]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Table("t", ["a", "b"], [[1]]), "row 0 has 1 cells"),
        (lambda: Table("t", ["a"], [[1]], placement="side"), "placement must be one of"),
        (lambda: Section("s", "S", kind="chapter"), "kind must be one of"),
    ],
)
def test_model_refusals_are_report_input_errors(build, match) -> None:
    with pytest.raises(ReportInputError, match=match):
        build()


def test_the_pdf_fetchers_refusal_names_the_scheme_never_the_address() -> None:
    from auditkit.reports._pdf import _refuse

    with pytest.raises(ReportInputError, match="a 'https' URL") as info:
        _refuse("https://evil.example/zoe.sentinel@example.org.png")
    assert "evil" not in str(info.value) and "zoe" not in str(info.value)
    with pytest.raises(ValueError, match="a URL that is not inline data"):
        _refuse(None)
