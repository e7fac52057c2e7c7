"""Shared pieces of the access-by-role tests: identities (fast: env KEKs), a trust store, a policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditkit.privacy.access import Identity, sign_policy
from auditkit.privacy.crypto import new_kek
from auditkit.reports.trust import ACCESS_ADMIN, REPORT_SIGNER, TrustStore

KEK_ENV = "AUDITKIT_TEST_IDENTITY_KEK"


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test has its own record of policy serials and its own audit trail."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("AUDITKIT_TRAIL", str(tmp_path / "trail"))
    monkeypatch.delenv("AUDITKIT_ACCESS_POLICY", raising=False)
    monkeypatch.setenv(KEK_ENV, new_kek())


@pytest.fixture
def admin() -> Identity:
    return Identity.generate("admin")


@pytest.fixture
def alice() -> Identity:
    return Identity.generate("alice")


@pytest.fixture
def bob() -> Identity:
    return Identity.generate("bob")


@pytest.fixture
def store(tmp_path: Path, admin: Identity, alice: Identity, bob: Identity) -> TrustStore:
    """A saved trust store: admin holds access-admin; alice and bob are known with encryption keys."""
    s = TrustStore()
    s.add("admin", admin.public_key_pem(), [ACCESS_ADMIN], encryption_key=admin.encryption_key)
    s.add("alice", alice.public_key_pem(), [REPORT_SIGNER], encryption_key=alice.encryption_key)
    s.add("bob", bob.public_key_pem(), [REPORT_SIGNER], encryption_key=bob.encryption_key)
    s.save(tmp_path / "trusted_keys.toml")
    return s


def body(admin: Identity, *others: tuple[Identity, list[str]], root: str = ".") -> dict:
    """A policy body: roles auditor (decrypt data/*), officer (detokenise), admin (*)."""
    principals = [{**admin.public_entry(), "roles": ["admin"]}]
    principals += [{**who.public_entry(), "roles": roles} for who, roles in others]
    return {
        "policy_id": "ab" * 16,
        "root": root,
        "roles": {
            "auditor": {"permissions": ["audit", "decrypt:data/*"]},
            "officer": {"permissions": ["detokenise", "decrypt"]},
            "admin": {"permissions": ["*"]},
        },
        "principals": principals,
    }


@pytest.fixture
def signed(tmp_path: Path, admin: Identity, alice: Identity, bob: Identity, store: TrustStore):
    """A signed policy file in tmp_path: admin (admin), alice (auditor); bob holds nothing."""
    path = tmp_path / "access-policy.json"
    sign_policy(body(admin, (alice, ["auditor"])), admin, out=path)
    return path
