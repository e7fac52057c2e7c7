"""Key and report commands in the trail (keys.init, rotate, keys.trust, report.verify), and the
key ring's principal bound as the signer of a command that opens a ring."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auditkit.commands import verify as verify_cmd
from auditkit.commands._keyring import open_ring
from auditkit.commands.keys import keys_init, keys_rotate, keys_trust
from auditkit.privacy import trail
from auditkit.privacy.crypto import KeyRing
from auditkit.privacy.errors import PrivacyInputError
from auditkit.reports.signing import generate_signing_key, write_manifest

from .conftest import TrailReader

KEK = "AUDITKIT_WIRING_TEST_KEK"


@pytest.fixture
def kek(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEK, base64.b64encode(os.urandom(32)).decode())
    return KEK


def _init(ring: Path, kek: str) -> None:
    keys_init(keyring=ring, passphrase_env=kek, kek_env=kek, force=False)


def test_keys_init_and_rotate(trail_dir: TrailReader, tmp_path: Path, kek: str) -> None:
    ring_path = tmp_path / "keys" / "ring.json"
    with trail.command("keys.init"):
        _init(ring_path, kek)
    ring = KeyRing.load(ring_path, kek_env=kek)
    first = ring.primary_id
    ev = trail_dir.one("keys.init")
    assert (ev.outcome, ev.resource) == ("ok", str(ring_path))
    assert ev.params == {"key_id": first, "protection": "env", "replaced": False}
    assert ev.sha256 == trail.file_sha256(ring_path)
    with trail.command("rotate"):
        keys_rotate(keyring=ring_path, passphrase_env=kek)
    rot = trail_dir.one("rotate")
    new = KeyRing.load(ring_path, kek_env=kek).primary_id
    assert rot.params == {"old_key_id": first, "new_key_id": new, "keys": 2}
    assert rot.sha256 == trail.file_sha256(ring_path)
    # Both commands are signed by the ring's principal (no identity was bound).
    assert [(s.principal, s.auth) for s in trail_dir.seals()] == [(f"keyring:{first}", "key")] * 2
    assert ev.principal == f"keyring:{first}" and ev.auth == "key"
    trail_dir.assert_verifies(KeyRing.load(ring_path, kek_env=kek))


def test_keys_init_refusal_records_error(trail_dir: TrailReader, tmp_path: Path, kek: str) -> None:
    ring_path = tmp_path / "ring.json"
    _init(ring_path, kek)
    with pytest.raises(PrivacyInputError):
        _init(ring_path, kek)
    ok, refused = trail_dir.events("keys.init")
    assert ok.outcome == "ok"
    assert (refused.outcome, refused.params) == ("error", {"error": "PrivacyInputError"})


def test_keys_trust(trail_dir: TrailReader, tmp_path: Path) -> None:
    keys = generate_signing_key(tmp_path / "k" / "signer.pem")
    store = tmp_path / "trusted.toml"
    keys_trust(pem=keys.public, name="auditor", role=None, trust_store=store)
    ev = trail_dir.one("keys.trust")
    assert (ev.outcome, ev.resource, ev.sha256) == ("ok", str(store), trail.file_sha256(store))
    assert ev.params["roles"] == "report-signer" and ev.params["role_count"] == 1
    assert len(ev.params["key_id"]) == 16


def test_opening_a_ring_keeps_the_trail_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  kek: str) -> None:
    monkeypatch.delenv(trail.TRAIL_ENV, raising=False)
    monkeypatch.delenv("AUDITKIT_KEYRING", raising=False)
    ring_path = tmp_path / "vault" / "ring.json"
    ring_path.parent.mkdir()
    KeyRing.generate().save(ring_path, kek_env=kek)
    with trail.command("rotate"):
        keys_rotate(keyring=ring_path, passphrase_env=kek)
    beside = TrailReader(ring_path.parent / "auditkit-trail")
    assert [e.action for e in beside.events()] == ["rotate"]
    beside.assert_verifies(KeyRing.load(ring_path, kek_env=kek))


def test_a_bound_signer_is_kept(trail_dir: TrailReader, tmp_path: Path, kek: str) -> None:
    ring_path = tmp_path / "ring.json"
    KeyRing.generate().save(ring_path, kek_env=kek)
    identity = KeyRing.generate().trail_signer()  # stands for an identity bound by the CLI
    with trail.command("decrypt"):
        trail.bind(signer=identity)
        ring = open_ring(ring_path, kek)
        assert trail.current_principal() == (identity.name, "key")
    assert ring.trail_signer().name != identity.name
    (seal,) = trail_dir.seals()
    assert (seal.principal, seal.key_id) == (identity.name, identity.key_id)


def _signed_report(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("# report\n")
    keys = generate_signing_key(tmp_path / "sign" / "key.pem")
    write_manifest(out, {}, [out / "report.md"], keys.private)
    return out, keys.public


def _verify(*args: str) -> None:
    app = typer.Typer()
    verify_cmd.register(app)
    app.command("unused")(lambda: None)  # two commands: `verify` stays a sub-command
    CliRunner().invoke(app, ["verify", *args])


def test_report_verify(trail_dir: TrailReader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    out, public = _signed_report(tmp_path)
    _verify(str(out), "--public-key", str(public))
    (out / "report.md").write_text("# edited\n")
    _verify(str(out), "--public-key", str(public))
    _verify(str(tmp_path / "no-such-report"))
    ok, altered, bad = trail_dir.events("report.verify")
    manifest = str(out / "manifest.json")
    assert (ok.outcome, ok.resource, ok.sha256) == ("ok", manifest, trail.file_sha256(manifest))
    assert ok.params["intact"] is True and ok.params["trusted"] is True
    assert ok.params["files_checked"] == 1 and ok.params["exit_code"] == 0
    assert len(ok.params["signer_key_id"]) == 16
    assert (altered.outcome, altered.params["exit_code"]) == ("error", 1)
    assert altered.params["problems"] >= 1 and altered.params["intact"] is False
    assert (bad.outcome, bad.params) == ("error", {"error": "ReportInputError"})
    trail_dir.assert_verifies()
