"""A stranger can verify a signed report from docs/reports.md and ``cryptography`` alone.

Every constant the reader uses is parsed from the ``format-constants`` block of the signing section
of ``docs/reports.md``; :func:`stranger_verify` never imports auditkit. auditkit is used only to
*produce* signed report directories. If the docs and the code disagree (a field, the JSON layout,
the key id, the signature encoding), these tests fail. The docs' own by-hand snippet is run too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import literal_assignments

DOC = Path(__file__).resolve().parents[2] / "docs" / "reports.md"


def _block(marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(
        rf"<!-- {marker}:[^>]*test_manifest_spec[^>]*-->\s*```python\n(.*?)```", text, re.DOTALL
    )
    assert m, f"docs/reports.md lost its {marker} block"
    return m.group(1)


C = literal_assignments(_block("format-constants"))


def stranger_verify(out: Path, trusted_raw: bytes) -> dict[str, Any]:
    """Check ``out`` with only the documented constants; raise on any mismatch."""
    data = (out / C["MANIFEST_FILE"]).read_bytes()
    manifest = json.loads(data.decode(C["MANIFEST_ENCODING"]))
    canonical = (
        json.dumps(
            manifest,
            indent=C["JSON_INDENT"],
            separators=C["JSON_SEPARATORS"],
            sort_keys=C["JSON_SORT_KEYS"],
            ensure_ascii=C["JSON_ENSURE_ASCII"],
        ).encode(C["MANIFEST_ENCODING"])
        + C["MANIFEST_TRAILER"]
    )
    assert canonical == data, "manifest bytes are not in the documented canonical form"
    assert tuple(sorted(manifest)) == tuple(sorted(C["MANIFEST_FIELDS"]))
    assert manifest["manifest_version"] == C["MANIFEST_VERSION"]
    assert manifest["algorithm"] == C["ALGORITHM"] and manifest["hash"] == C["HASH"]

    raw = base64.b64decode(manifest["public_key"], validate=True)
    assert len(raw) == C["PUBLIC_KEY_BYTES"]
    assert raw == trusted_raw, "signed by a key other than the trusted one"
    digest = hashlib.new(C["KEY_ID_HASH"], raw).hexdigest()
    assert manifest["key_id"] == digest[: C["KEY_ID_HEX_DIGITS"]]

    sig_text = (out / C["SIGNATURE_FILE"]).read_bytes()
    trailer = C["SIGNATURE_TRAILER"]
    assert sig_text.endswith(trailer)
    signature = base64.b64decode(sig_text[: -len(trailer)], validate=True)
    assert len(signature) == C["SIGNATURE_BYTES"]
    assert base64.b64encode(signature) + trailer == sig_text
    Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)  # InvalidSignature

    for rel, entry in manifest["files"].items():
        p = PurePosixPath(rel)
        assert not p.is_absolute() and ".." not in p.parts
        assert tuple(sorted(entry)) == tuple(sorted(C["FILE_ENTRY_FIELDS"]))
        blob = (out / rel).read_bytes()
        assert hashlib.new(C["HASH"], blob).hexdigest() == entry["sha256"]
        assert len(blob) == entry["size"]
    for entry in manifest["inputs"].values():
        assert tuple(sorted(entry)) == tuple(sorted(C["INPUT_ENTRY_FIELDS"]))
        assert PurePosixPath(entry["path"]).name == entry["name"]
        blob = (out / entry["path"]).read_bytes()
        assert hashlib.new(C["HASH"], blob).hexdigest() == entry["sha256"]
        assert len(blob) == entry["size"]
    return manifest


# -- producing signed reports with auditkit ----------------------------------------------------


def _produce(root: Path, report_files: dict[str, bytes]) -> tuple[Path, Any]:
    from auditkit.reports.signing import generate_signing_key, write_manifest

    inputs = {"data": root / "in" / "loans.csv", "config": root / "in" / "audit.toml"}
    inputs["data"].parent.mkdir(parents=True)
    inputs["data"].write_bytes(b"id,approved\n1,0\n")
    inputs["config"].write_bytes(b"")
    out = root / "report"
    for rel, blob in report_files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(blob)
    keys = generate_signing_key(root / "keys" / "signing.pem")
    write_manifest(out, inputs, [out / rel for rel in report_files], keys.private)
    return out, keys


def _raw(pub_path: Path) -> bytes:
    return load_pem_public_key(pub_path.read_bytes()).public_bytes_raw()


FILES = {
    "report.html": b"<html>report</html>\n",
    "report.json": b'{"schema_version": "1.0"}\n',
    "artifacts/ledger.json": b"{}\n",
    "artifacts/figures/r\u00e9sum\u00e9.svg": b"<svg/>",  # non-ASCII: \\u escapes
    "\U0001f4ca chart.svg": b"<svg/>",  # above U+FFFF: a surrogate pair
    'a "quoted" name.md': b"# q\n",
    "empty.txt": b"",
}


def test_doc_constants_name_the_files_auditkit_writes() -> None:
    from auditkit.reports.signing import MANIFEST_NAME, MANIFEST_VERSION, SIGNATURE_NAME

    assert (C["MANIFEST_FILE"], C["SIGNATURE_FILE"]) == (MANIFEST_NAME, SIGNATURE_NAME)
    assert C["MANIFEST_VERSION"] == MANIFEST_VERSION


def test_stranger_verifies_a_manifest_written_by_write_manifest(tmp_path: Path) -> None:
    out, keys = _produce(tmp_path, FILES)
    manifest = stranger_verify(out, _raw(keys.public))
    assert set(manifest["files"]) == set(FILES)
    assert manifest["key_id"] == keys.key_id  # the id auditkit prints is the documented one
    assert (out / C["SIGNATURE_FILE"]).stat().st_size == 89


def test_strangers_check_fails_on_tampering(tmp_path: Path) -> None:
    """Negative controls: the reader above can fail."""
    from auditkit.reports.signing import generate_signing_key, write_manifest

    out, keys = _produce(tmp_path, FILES)
    trusted = _raw(keys.public)
    (out / "report.html").write_bytes(b"<html>edited</html>\n")
    with pytest.raises(AssertionError):
        stranger_verify(out, trusted)
    (out / "report.html").write_bytes(FILES["report.html"])
    manifest_path = out / C["MANIFEST_FILE"]
    original = manifest_path.read_bytes()
    manifest_path.write_bytes(original.replace(b'"size": 3', b'"size": 4', 1))
    with pytest.raises(InvalidSignature):
        stranger_verify(out, trusted)
    manifest_path.write_bytes(original)
    stranger_verify(out, trusted)
    other = generate_signing_key(tmp_path / "other.pem")
    inputs = {"data": tmp_path / "in" / "loans.csv", "config": tmp_path / "in" / "audit.toml"}
    write_manifest(out, inputs, [out / rel for rel in FILES], other.private)
    with pytest.raises(AssertionError, match="other than the trusted"):
        stranger_verify(out, trusted)
    stranger_verify(out, _raw(other.public))


_NAME = (
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"),
        min_size=1,
        max_size=12,
    )
    .filter(lambda n: n not in (".", "..", "manifest.json", "manifest.sig"))
    .filter(lambda n: len(n.encode("utf-8")) < 200)
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.dictionaries(
        st.lists(_NAME, min_size=1, max_size=3).map("/".join),
        st.binary(max_size=300),
        min_size=1,
        max_size=5,
    )
)
def test_any_written_manifest_verifies_from_the_docs(files: dict[str, bytes]) -> None:
    # A path may not be both a file and a directory.
    names = set(files)
    if any(
        PurePosixPath(n).parents and str(p) in names
        for n in names
        for p in PurePosixPath(n).parents
    ):
        return
    with tempfile.TemporaryDirectory() as d:
        out, keys = _produce(Path(d), files)
        manifest = stranger_verify(out, _raw(keys.public))
        assert set(manifest["files"]) == set(files)


def test_the_docs_by_hand_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snippet = _block("stranger-verifies")
    out, keys = _produce(tmp_path, FILES)
    (tmp_path / "signer.pub").write_bytes(keys.public.read_bytes())
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "docs/reports.md", "exec"), {})
    (out / "artifacts" / "ledger.json").write_bytes(b"{ }\n")
    with pytest.raises(AssertionError):
        exec(compile(snippet, "docs/reports.md", "exec"), {})
