"""Key-derivation cost read from a ring file is bounded before anything is derived.

The attack: a ring file whose scrypt section demands N=2^20, r=32, p=16 (4 GiB per unlock), or
smuggles a bool, float or string where scrypt wants an int. The scrypt parameters are read
before the file can be authenticated, so the limits must hold before any derivation runs.

Rings here are written with a cheap stand-in for scrypt (patched in for both save and load), so
a file carries exactly the parameters under test with a *valid* authentication tag: a refusal
then comes from the limit, not from a broken tag, and an acceptance proves the boundary value
loads. The stand-in records its calls, which shows that a refused ring derived nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import auditkit.privacy.crypto._kek as kek
from auditkit.privacy.crypto import KeyRing
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

PASS = "limits passphrase"
MiB = 2**20


@pytest.fixture
def fake_scrypt(monkeypatch) -> list[tuple[Any, Any, Any]]:
    """Replace scrypt with HKDF over (passphrase, salt, parameters); record every call."""
    calls: list[tuple[Any, Any, Any]] = []

    def fake(passphrase: str, salt: bytes, n: Any, r: Any, p: Any) -> bytes:
        calls.append((n, r, p))
        info = f"fake-scrypt {n!r} {r!r} {p!r}".encode()
        return HKDF(hashes.SHA256(), 32, salt, info).derive(passphrase.encode())

    monkeypatch.setattr(kek, "_scrypt", fake)
    return calls


def _ring_with(tmp_path: Path, monkeypatch, calls: list, **params: Any) -> Path:
    """A ring file whose scrypt section holds ``params`` (a name left out is deleted).

    With every parameter given, the file is correctly authenticated under those parameters.
    """
    for name in ("n", "r", "p"):
        monkeypatch.setattr(kek, f"SCRYPT_{name.upper()}", params.get(name, 1))
    path = tmp_path / "ring.json"
    KeyRing.generate().save(path, passphrase=PASS)
    if len(params) < 3:
        doc = json.loads(path.read_text())
        for name in {"n", "r", "p"} - set(params):
            del doc["kek"][name]
        path.write_text(json.dumps(doc))
        os.chmod(path, 0o600)
    calls.clear()
    return path


# (n, r, p) accepted at the edges of the limits: 2^14 <= n <= 2^21 power of two,
# 128 * n * r <= 256 MiB, 1 <= p <= 4.
ACCEPTED = [
    (2**14, 8, 1),
    (2**15, 8, 1),  # what auditkit writes
    (2**14, 128, 1),  # 128 * 2^14 * 128 = 256 MiB exactly
    (2**21, 1, 1),  # 256 MiB exactly
    (2**18, 8, 1),  # 256 MiB exactly
    (2**15, 8, 4),
]

# (n, r, p, the parameter the message must name)
REFUSED = [
    (2**20, 32, 16, "r"),  # the ring: 4 GiB
    (2**13, 8, 1, "n"),  # below the floor
    (2**22, 1, 1, "n"),  # 512 MiB even at r = 1
    (2**40, 1, 1, "n"),
    (3 * 2**14, 8, 1, "n"),  # not a power of two
    (2**15 + 1, 8, 1, "n"),
    (0, 8, 1, "n"),
    (-(2**15), 8, 1, "n"),
    (2**14, 129, 1, "r"),  # 128 * n * r = 258 MiB
    (2**18, 9, 1, "r"),
    (2**21, 2, 1, "r"),
    (2**15, 0, 1, "r"),
    (2**15, -8, 1, "r"),
    (2**15, 8, 5, "p"),
    (2**15, 8, 16, "p"),
    (2**15, 8, 0, "p"),
    (2**15, 8, -1, "p"),
    # not ints: bool, float, str, null
    (True, 8, 1, "n"),
    (float(2**15), 8, 1, "n"),
    ("32768", 8, 1, "n"),
    (None, 8, 1, "n"),
    (2**15, True, 1, "r"),
    (2**15, 8.0, 1, "r"),
    (2**15, "8", 1, "r"),
    (2**15, 8, True, "p"),
    (2**15, 8, 1.0, "p"),
    (2**15, 8, "1", "p"),
    (2**15, 8, [1], "p"),
]


@pytest.mark.parametrize(("n", "r", "p"), ACCEPTED)
def test_boundary_values_load(tmp_path, monkeypatch, fake_scrypt, n, r, p) -> None:
    path = _ring_with(tmp_path, monkeypatch, fake_scrypt, n=n, r=r, p=p)
    assert json.loads(path.read_text())["kek"] | {"salt": None} == {
        "kind": "scrypt", "salt": None, "n": n, "r": r, "p": p
    }
    assert isinstance(KeyRing.load(path, passphrase=PASS), KeyRing)
    assert fake_scrypt == [(n, r, p)]
    assert 128 * n * r <= 256 * MiB


@pytest.mark.parametrize(("n", "r", "p", "named"), REFUSED)
@pytest.mark.parametrize("secret", ["right", "wrong"])
def test_out_of_bounds_refused_before_derivation(
    tmp_path, monkeypatch, fake_scrypt, n, r, p, named, secret
) -> None:
    path = _ring_with(tmp_path, monkeypatch, fake_scrypt, n=n, r=r, p=p)
    with pytest.raises(PrivacyInputError) as info:
        KeyRing.load(path, passphrase=PASS if secret == "right" else "wrong")
    msg = str(info.value)
    assert str(path) in msg and f"scrypt parameter {named!r}" in msg
    assert PASS not in msg and "\n" not in msg
    assert fake_scrypt == []  # nothing derived


@pytest.mark.parametrize("named", ["n", "r", "p"])
def test_missing_parameter_refused_before_derivation(
    tmp_path, monkeypatch, fake_scrypt, named
) -> None:
    params = {"n": 2**15, "r": 8, "p": 1}
    del params[named]
    path = _ring_with(tmp_path, monkeypatch, fake_scrypt, **params)
    assert named not in json.loads(path.read_text())["kek"]
    with pytest.raises(PrivacyInputError, match=f"scrypt parameter '{named}' = missing"):
        KeyRing.load(path, passphrase=PASS)
    assert fake_scrypt == []


@pytest.mark.parametrize(("n", "r", "p"), [(2**20, 32, 16), (2**15, 8, 5), (2**13, 8, 1)])
def test_load_from_env_refuses_too(tmp_path, monkeypatch, fake_scrypt, n, r, p) -> None:
    path = _ring_with(tmp_path, monkeypatch, fake_scrypt, n=n, r=r, p=p)
    monkeypatch.setenv("LIMITS_PASS", PASS)
    with pytest.raises(PrivacyInputError, match="scrypt parameter"):
        KeyRing.load_from_env(path, "LIMITS_PASS")
    assert fake_scrypt == []


def test_real_scrypt_default_ring_still_loads(tmp_path) -> None:
    """No fake: a ring auditkit writes (n=2^15, r=8, p=1) unlocks, and a wrong passphrase fails."""
    ring = KeyRing.generate()
    ring.save(tmp_path / "ring.json", passphrase=PASS)
    kek = json.loads((tmp_path / "ring.json").read_text())["kek"]
    assert (kek["n"], kek["r"], kek["p"]) == (2**15, 8, 1)
    assert KeyRing.load(tmp_path / "ring.json", passphrase=PASS) == ring
    with pytest.raises(DecryptionError):
        KeyRing.load(tmp_path / "ring.json", passphrase="not it")


@pytest.mark.parametrize("command", [["keys", "list"], ["keys", "rotate"]])
def test_cli_refuses_planted_ring_with_exit_2(tmp_path, command) -> None:
    """The issue's ring through the CLI: one line, exit 2, no traceback, ring untouched."""
    ring = KeyRing.generate()
    path = tmp_path / "ring.json"
    ring.save(path, passphrase=PASS)
    doc = json.loads(path.read_text())
    doc["kek"].update(n=2**20, r=32, p=16)
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    before = path.read_bytes()
    env = {**os.environ, "AUDITKIT_KEYRING_PASSPHRASE": PASS, "NO_COLOR": "1", "COLUMNS": "300"}
    proc = subprocess.run(
        [sys.executable, "-m", "auditkit", *command, "--keyring", str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "scrypt parameter 'r'" in proc.stderr
    assert PASS not in proc.stdout + proc.stderr
    assert path.read_bytes() == before
