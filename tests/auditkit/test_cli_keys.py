"""`auditkit keys init|rotate|list`, `encrypt`, `decrypt`, `rewrap` end to end (subprocesses)."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.privacy.crypto import KeyRing, file_info, new_kek

PASS = "cli test passphrase"


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None):
    full = {k: v for k, v in os.environ.items() if k != "AUDITKIT_KEYRING_PASSPHRASE"}
    full.update({"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "auditkit", *args],
        cwd=cwd,
        env=full,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


ENV = {"AUDITKIT_KEYRING_PASSPHRASE": PASS}


def _materials(ring: KeyRing) -> list[str]:
    out = []
    for k in ring._keys.values():
        out += [k.material.hex(), base64.urlsafe_b64encode(k.material).decode().rstrip("=")]
    return out


def test_full_cycle(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n" * 1000)
    outputs = []
    p = _run("keys", "init", cwd=tmp_path, env=ENV)
    assert p.returncode == 0, p.stderr
    outputs.append(p.stdout + p.stderr)
    ring_path = tmp_path / "keyring.json"
    assert stat.S_IMODE(ring_path.stat().st_mode) == 0o600
    first = KeyRing.load(ring_path, passphrase=PASS).primary_id
    assert first in p.stdout

    p = _run("encrypt", "data.csv", "data.csv.enc", cwd=tmp_path, env=ENV)
    assert p.returncode == 0, p.stderr
    outputs.append(p.stdout + p.stderr)
    assert file_info(tmp_path / "data.csv.enc").key_id == first

    p = _run("keys", "rotate", cwd=tmp_path, env=ENV)
    assert p.returncode == 0, p.stderr
    outputs.append(p.stdout + p.stderr)
    ring = KeyRing.load(ring_path, passphrase=PASS)
    second = ring.primary_id
    assert second != first and ring.key_ids == (first, second)

    p = _run("keys", "list", cwd=tmp_path, env=ENV)
    assert p.returncode == 0, p.stderr
    outputs.append(p.stdout + p.stderr)
    assert first in p.stdout and second in p.stdout and "passphrase (scrypt)" in p.stdout

    p = _run("rewrap", "data.csv.enc", cwd=tmp_path, env=ENV)
    assert p.returncode == 0, p.stderr
    outputs.append(p.stdout + p.stderr)
    assert f"{first} -> {second}" in p.stdout
    assert file_info(tmp_path / "data.csv.enc").key_id == second

    p = _run("decrypt", "data.csv.enc", "back.csv", cwd=tmp_path, env=ENV)
    assert p.returncode == 0, p.stderr
    outputs.append(p.stdout + p.stderr)
    assert (tmp_path / "back.csv").read_bytes() == (tmp_path / "data.csv").read_bytes()

    text = "\n".join(outputs)
    assert PASS not in text
    for secret in _materials(ring):
        assert secret not in text


def test_prompted_passphrase(tmp_path: Path) -> None:
    p = _run("keys", "init", "-k", "r.json", cwd=tmp_path, stdin=f"{PASS}\n{PASS}\n")
    assert p.returncode == 0, p.stderr
    assert PASS not in p.stdout + p.stderr  # hidden
    assert KeyRing.load(tmp_path / "r.json", passphrase=PASS)
    p = _run("keys", "list", "-k", "r.json", cwd=tmp_path, stdin="wrong\n")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "wrong passphrase" in p.stderr


def test_kek_env_ring(tmp_path: Path, monkeypatch) -> None:
    env = {"SVC_KEK": new_kek()}
    monkeypatch.setenv("SVC_KEK", env["SVC_KEK"])
    p = _run("keys", "init", "--kek-env", "SVC_KEK", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    p = _run("keys", "rotate", "--passphrase-env", "SVC_KEK", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert len(KeyRing.load(tmp_path / "keyring.json", kek_env="SVC_KEK").key_ids) == 2
    p = _run("keys", "list", "--passphrase-env", "SVC_KEK", cwd=tmp_path, env=env)
    assert p.returncode == 0 and "key-encryption key from env" in p.stdout
    assert env["SVC_KEK"] not in p.stdout + p.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["keys", "list", "-k", "missing.json"], "does not exist"),
        (["encrypt", "nope.csv", "x.enc"], "does not exist"),
        (["decrypt", "plain.txt", "x.out"], "not an auditkit encrypted file"),
        (["encrypt", "plain.txt", "plain.txt"], "already exists"),
        (["encrypt", "plain.txt", "y.enc", "--segment-size", "10"], "segment_size"),
        (["keys", "init"], "already exists"),
    ],
)
def test_user_errors_exit_2(tmp_path: Path, args, needle) -> None:
    (tmp_path / "plain.txt").write_text("hello")
    KeyRing.generate().save(tmp_path / "keyring.json", passphrase=PASS)
    p = _run(*args, cwd=tmp_path, env=ENV)
    assert p.returncode == 2, p.stdout + p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "x.enc").exists() and not (tmp_path / "y.enc").exists()


def test_wrong_ring_decrypt_exit_2_and_no_output(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("hello")
    ring = KeyRing.generate()
    ring.save(tmp_path / "keyring.json", passphrase=PASS)
    other = KeyRing.generate()
    from auditkit.privacy.crypto import encrypt_file

    encrypt_file(tmp_path / "plain.txt", tmp_path / "c.enc", other)
    p = _run("decrypt", "c.enc", "out.txt", cwd=tmp_path, env=ENV)
    assert p.returncode == 2 and "Decryption failed" in p.stderr
    assert not (tmp_path / "out.txt").exists()


def test_loose_permissions_refused(tmp_path: Path) -> None:
    KeyRing.generate().save(tmp_path / "keyring.json", passphrase=PASS)
    os.chmod(tmp_path / "keyring.json", 0o644)
    p = _run("keys", "list", cwd=tmp_path, env=ENV)
    assert p.returncode == 2 and "chmod 600" in p.stderr
