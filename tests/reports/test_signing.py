"""Signed manifests: verify passes on fresh output and fails on any single-byte change."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.reports._html import render_html
from auditkit.reports._markdown import render_markdown
from auditkit.reports.errors import ReportInputError
from auditkit.reports.signing import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    generate_signing_key,
    load_private_key,
    verify,
    write_manifest,
)

from .conftest import build_report


@pytest.fixture
def signed(tmp_path: Path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    data = inputs / "loans.csv"
    data.write_text("a,b\n1,2\n")
    model = inputs / "model.skops"
    model.write_bytes(bytes(range(256)) * 4)
    config = inputs / "audit.toml"
    config.write_text('[data]\npath = "loans.csv"\n')
    out = tmp_path / "out"
    (out / "artifacts").mkdir(parents=True)
    report = build_report(hostile=True)
    files = {
        "report.html": render_html(report),
        "report.md": render_markdown(report),
        "report.json": b'{"schema_version": "1.0"}\n',
        "artifacts/ledger.json": b"{}\n",
    }
    for name, blob in files.items():
        (out / name).write_bytes(blob)
    keys = generate_signing_key(tmp_path / "keys" / "signing.pem")
    write_manifest(
        out,
        {"data": data, "model": model, "config": config},
        [out / n for n in files],
        keys.private,
    )
    return out, keys, {"data": data, "model": model, "config": config}


def test_fresh_output_verifies(signed) -> None:
    out, keys, _ = signed
    res = verify(out, keys.public)
    assert res.ok, res.problems
    assert res.files_checked == 4 and res.inputs_checked == 3 and res.signer_pinned
    # Without a pinned key or a trust store the report is intact but its signer is not trusted.
    unpinned = verify(out)
    assert unpinned.intact and not unpinned.ok and not unpinned.signer_pinned
    assert unpinned.exit_code == 4 and keys.key_id in (unpinned.untrusted or "")
    assert res.exit_code == 0 and res.trusted


def _flip(path: Path, pos: int) -> bytes:
    original = path.read_bytes()
    b = bytearray(original)
    b[pos] = (b[pos] + 1) % 256
    path.write_bytes(bytes(b))
    return original


def test_any_single_byte_change_to_any_file_is_detected(signed) -> None:
    out, keys, inputs = signed
    rng = random.Random(0)
    targets = sorted(p for p in out.rglob("*") if p.is_file()) + list(inputs.values())
    for path in targets:
        size = path.stat().st_size
        small = path.name in (MANIFEST_NAME, SIGNATURE_NAME)
        positions = (
            range(size)
            if small
            else sorted({0, size - 1, size // 2, *rng.sample(range(size), min(size, 12))})
        )
        for pos in positions:
            original = _flip(path, pos)
            try:
                res = verify(out, keys.public)
                assert not res.ok, (path.name, pos)
                named = path.name if path.parent == out or path.parent.name == "artifacts" else None
                if path.name not in (MANIFEST_NAME, SIGNATURE_NAME) and named:
                    assert any(path.name in p for p in res.problems), res.problems
            finally:
                path.write_bytes(original)
    assert verify(out, keys.public).ok


def test_editing_a_file_and_its_manifest_hash_together_is_detected(signed) -> None:
    import hashlib
    import json

    out, _, _ = signed
    (out / "report.md").write_text("tampered")
    man = out / MANIFEST_NAME
    manifest = json.loads(man.read_text())
    manifest["files"]["report.md"] = {
        "sha256": hashlib.sha256(b"tampered").hexdigest(),
        "size": len(b"tampered"),
    }
    man.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for res in (verify(out), verify(out, signed[1].public)):
        assert not res.ok and any("signature" in p for p in res.problems)


def test_added_removed_and_resigned_by_another_key(signed, tmp_path: Path) -> None:
    out, keys, inputs = signed
    (out / "extra.html").write_text("forged")
    res = verify(out, keys.public)
    assert not res.ok and any(
        "extra.html" in p and "not in the manifest" in p for p in res.problems
    )
    (out / "extra.html").unlink()
    (out / "report.md").rename(tmp_path / "moved.md")
    res = verify(out, keys.public)
    assert not res.ok and any("report.md is missing" in p for p in res.problems)
    (tmp_path / "moved.md").rename(out / "report.md")
    assert verify(out, keys.public).ok
    # someone re-signs altered output with their own key: intact, but never trusted
    (out / "report.md").write_text("tampered")
    other = generate_signing_key(tmp_path / "other.pem")
    write_manifest(
        out,
        inputs,
        [
            out / "report.html",
            out / "report.md",
            out / "report.json",
            out / "artifacts/ledger.json",
        ],
        other.private,
    )
    unpinned = verify(out)
    assert unpinned.intact and not unpinned.ok and unpinned.exit_code == 4
    res = verify(out, keys.public)
    assert res.intact and not res.ok and res.exit_code == 4
    assert other.key_id in res.untrusted and keys.key_id in res.untrusted


def test_missing_input_is_a_note_and_changed_input_a_problem(signed) -> None:
    out, keys, inputs = signed
    original = inputs["data"].read_bytes()
    inputs["data"].unlink()
    res = verify(out, keys.public)
    assert res.ok and any("data input" in n for n in res.notes)
    inputs["data"].write_bytes(original + b"3,4\n")
    res = verify(out, keys.public)
    assert not res.ok and any("data input loans.csv has changed" in p for p in res.problems)


def test_missing_manifest_or_signature(signed) -> None:
    out, keys, _ = signed
    (out / SIGNATURE_NAME).unlink()
    assert not verify(out, keys.public).ok
    (out / MANIFEST_NAME).unlink()
    res = verify(out, keys.public)
    assert not res.ok and "missing" in res.problems[0]
    with pytest.raises(ReportInputError):
        verify(out / "nope")


def test_key_file_permissions_and_sources(tmp_path: Path) -> None:
    keys = generate_signing_key(tmp_path / "k.pem")
    assert (keys.private.stat().st_mode & 0o777) == 0o600
    with pytest.raises(ReportInputError, match="refusing to overwrite"):
        generate_signing_key(tmp_path / "k.pem")
    os.chmod(keys.private, 0o640)
    with pytest.raises(ReportInputError, match="chmod 600"):
        load_private_key(keys.private)
    os.chmod(keys.private, 0o600)
    key = load_private_key(keys.private)
    from cryptography.hazmat.primitives import serialization

    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert (
        load_private_key(raw).public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    )
    with pytest.raises(ReportInputError):
        load_private_key(b"not a key at all")
    with pytest.raises(ReportInputError, match="does not exist"):
        load_private_key(tmp_path / "missing.pem")


def test_report_file_outside_the_directory_is_refused(signed, tmp_path: Path) -> None:
    out, keys, inputs = signed
    stray = tmp_path / "stray.html"
    stray.write_text("x")
    with pytest.raises(ReportInputError, match="not inside the report directory"):
        write_manifest(out, inputs, [stray], keys.private)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "auditkit", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_verify_exit_codes(signed) -> None:
    out, keys, _ = signed
    ok = _cli("verify", str(out), "--public-key", str(keys.public))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    original = _flip(out / "report.html", 100)
    try:
        bad = _cli("verify", str(out), "--public-key", str(keys.public))
        assert bad.returncode == 1
        assert "report.html was altered" in bad.stderr
    finally:
        (out / "report.html").write_bytes(original)
    usage = _cli("verify", str(out / "missing-dir"))
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    assert _cli("verify").returncode == 2
