"""The trust store's access-by-role extension: encryption keys per signer, access and trail roles."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditkit.reports.errors import ReportInputError
from auditkit.reports.trust import (
    ACCESS_ADMIN,
    REPORT_SIGNER,
    TRAIL_ADMIN,
    TrustStore,
    known_roles,
    public_key_pem,
)

X = bytes(range(32))
X_B64 = base64.urlsafe_b64encode(X).rstrip(b"=").decode()


def _pem() -> str:
    return public_key_pem(Ed25519PrivateKey.generate().public_key())


def test_access_and_trail_roles_are_registered() -> None:
    roles = known_roles()
    assert {ACCESS_ADMIN, TRAIL_ADMIN, REPORT_SIGNER} <= set(roles)
    assert ACCESS_ADMIN == "access-admin" and TRAIL_ADMIN == "trail-admin"
    assert "polic" in roles[ACCESS_ADMIN] and "checkpoint" in roles[TRAIL_ADMIN]


def test_encryption_key_round_trips_through_the_file(tmp_path: Path) -> None:
    store = TrustStore()
    store.add("alice", _pem(), [ACCESS_ADMIN, TRAIL_ADMIN], encryption_key=X)
    store.add("ci", _pem())
    path = store.save(tmp_path / "trusted_keys.toml")
    assert f'encryption_key = "{X_B64}"' in path.read_text()
    back = TrustStore.load(path)
    alice, ci = back.principals
    assert alice.encryption_key == X_B64 and alice.encryption_key_raw() == X
    assert alice.roles == (ACCESS_ADMIN, TRAIL_ADMIN)
    assert ci.encryption_key is None and ci.encryption_key_raw() is None
    assert back.find_name("ALICE") is alice and back.find_name("nobody") is None


def test_a_store_written_before_the_extension_loads_unchanged(tmp_path: Path) -> None:
    pem = _pem()
    old = tmp_path / "old.toml"
    old.write_text(
        '# my signers\nversion = 1\n\n[[signer]]\nname = "ci"\n'
        f'key_id = "{TrustStore().add("ci", pem).key_id}"\nroles = ["report-signer"]\n'
        f'public_key = """\n{pem.strip()}\n"""\n'
    )
    before = old.read_text()
    store = TrustStore.load(old)
    assert [(p.name, p.roles, p.encryption_key) for p in store] == [("ci", (REPORT_SIGNER,), None)]
    store.save()
    assert old.read_text() == before  # kept as written


@pytest.mark.parametrize(
    "bad",
    [X_B64 + "A", X_B64[:-1], X_B64[:-1] + "B", "=" + X_B64[1:], base64.b64encode(X).decode(), 42, X[:31]],
)
def test_malformed_encryption_keys_are_refused(bad) -> None:
    with pytest.raises(ReportInputError, match="encryption_key must be an X25519 public key"):
        TrustStore().add("alice", _pem(), encryption_key=bad)


def test_a_shared_encryption_key_is_refused() -> None:
    store = TrustStore()
    store.add("alice", _pem(), encryption_key=X_B64)
    with pytest.raises(ReportInputError, match="already that of 'alice'"):
        store.add("bob", _pem(), encryption_key=X)


def test_unknown_entry_fields_suggest_the_optional_one(tmp_path: Path) -> None:
    pem = _pem()
    kid = TrustStore().add("x", pem).key_id
    path = tmp_path / "t.toml"
    path.write_text(
        f'[[signer]]\nname = "a"\nkey_id = "{kid}"\nroles = ["report-signer"]\n'
        f'encryption_keys = "{X_B64}"\npublic_key = """\n{pem.strip()}\n"""\n'
    )
    with pytest.raises(ReportInputError, match="Did you mean 'encryption_key'"):
        TrustStore.load(path)
