"""`auditkit access ...` end to end (subprocesses): identities, signed policy, grants, encrypt/decrypt."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.privacy.crypto import KeyRing, encrypt_file, file_info, new_kek
from auditkit.reports.trust import TrustStore


def _run(*args: str, cwd: Path, env: dict[str, str]):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AUDITKIT_IDENTITY", "AUDITKIT_ACCESS"))}
    full.update({"COLUMNS": "200", "NO_COLOR": "1", **env})
    return subprocess.run([sys.executable, "-m", "auditkit", *args], cwd=cwd, env=full, input="",
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "AUDITKIT_TRAIL": str(tmp_path / "trail"),
            "ADMIN_KEK": new_kek(), "ALICE_KEK": new_kek(), "AUDITKIT_KEYRING_PASSPHRASE": "ring pass"}


def _ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout + p.stderr


def _setup(tmp_path: Path, env: dict[str, str]) -> list[str]:
    outs = [_ok(_run("access", "identity", "new", "admin", "--out", "admin.identity.json", "--kek-env",
                     "ADMIN_KEK", "--trust-store", "ts.toml", "--role", "access-admin", cwd=tmp_path, env=env))]
    outs.append(_ok(_run("access", "identity", "new", "alice", "--out", "alice.identity.json", "--kek-env",
                         "ALICE_KEK", "--trust-store", "ts.toml", cwd=tmp_path, env=env)))
    outs.append(_ok(_run("access", "policy", "init", "--out", "draft.toml", cwd=tmp_path, env=env)))
    with (tmp_path / "draft.toml").open("a") as fh:
        fh.write('\n[[principals]]\nname = "admin"\nroles = ["admin"]\n'
                 '\n[[principals]]\nname = "alice"\nroles = ["auditor"]\n')
    outs.append(_ok(_run("access", "policy", "sign", "draft.toml", "--identity", "admin.identity.json",
                         "--passphrase-env", "ADMIN_KEK", "--trust-store", "ts.toml", "--out",
                         "access-policy.json", cwd=tmp_path, env=env)))
    return outs


def test_identities_policy_and_crypto_by_role(tmp_path: Path, env: dict[str, str]) -> None:
    outs = _setup(tmp_path, env)
    assert stat.S_IMODE((tmp_path / "alice.identity.json").stat().st_mode) == 0o600
    alice = TrustStore.load(tmp_path / "ts.toml").find_name("alice")
    assert alice.encryption_key and alice.encryption_key in outs[1] and alice.key_id in outs[1]
    pol = ("--policy", "access-policy.json", "--trust-store", "ts.toml")
    shown = _ok(_run("access", "policy", "show", *pol, cwd=tmp_path, env=env))
    assert "serial 1" in shown and "alice" in shown and "auditor" in shown
    (tmp_path / "data").mkdir()
    (tmp_path / "data.csv").write_text("a,b\n1,2\n" * 100)
    outs.append(_ok(_run("access", "encrypt", "data.csv", "data/x.enc", *pol, cwd=tmp_path, env=env)))
    assert {r.name for r in file_info(tmp_path / "data" / "x.enc").recipients} == {"admin", "alice"}
    me = ("--identity", "alice.identity.json", "--passphrase-env", "ALICE_KEK")
    outs.append(_ok(_run("access", "decrypt", "data/x.enc", "out.csv", *me, cwd=tmp_path, env=env)))
    assert (tmp_path / "out.csv").read_text() == (tmp_path / "data.csv").read_text()
    outs.append(_ok(_run("access", "check", "alice", "decrypt", "data/x.enc", *pol, cwd=tmp_path, env=env)))
    denied = _run("access", "check", "alice", "detokenise", "data/x.enc", *pol, cwd=tmp_path, env=env)
    assert denied.returncode == 2 and "Access denied" in denied.stderr
    admin = ("--identity", "admin.identity.json", "--passphrase-env", "ADMIN_KEK")
    outs.append(_ok(_run("access", "revoke", "alice", "auditor", "data/x.enc", *admin, *pol, cwd=tmp_path, env=env)))
    assert "serial 2" in outs[-1] and "cannot recall" in outs[-1]
    again = _run("access", "decrypt", "data/x.enc", "again.csv", "--force", *me, cwd=tmp_path, env=env)
    assert again.returncode == 2 and not (tmp_path / "again.csv").exists()
    for out in outs:  # no secret is ever printed
        assert env["ADMIN_KEK"] not in out and env["ALICE_KEK"] not in out


def test_an_edited_policy_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    _setup(tmp_path, env)
    path = tmp_path / "access-policy.json"
    path.write_text(path.read_text().replace('"roles":["auditor"]', '"roles":["admin"]'))
    p = _run("access", "policy", "show", "--policy", str(path), "--trust-store", "ts.toml", cwd=tmp_path, env=env)
    assert p.returncode == 2 and "signature does not verify" in p.stderr


def test_migrate_moves_a_ring_into_the_role_model(tmp_path: Path, env: dict[str, str]) -> None:
    _ok(_run("access", "identity", "new", "admin", "--out", "admin.identity.json", "--kek-env", "ADMIN_KEK",
             "--trust-store", "ts.toml", "--role", "access-admin", cwd=tmp_path, env=env))
    ring = KeyRing.generate()
    ring.save(tmp_path / "keyring.json", passphrase="ring pass")
    (tmp_path / "d.csv").write_text("x\n1\n")
    encrypt_file(tmp_path / "d.csv", tmp_path / "d.enc", ring)
    out = _ok(_run("access", "migrate", "--keyring", "keyring.json", "--admin-identity", "admin.identity.json",
                   "--passphrase-env", "ADMIN_KEK", "--trust-store", "ts.toml", "--upgrade", "d.enc",
                   cwd=tmp_path, env=env))
    assert "Upgraded" in out and (tmp_path / "keyring.access").exists()
    assert file_info(tmp_path / "d.enc").format_version == 2
    assert "ring pass" not in out
