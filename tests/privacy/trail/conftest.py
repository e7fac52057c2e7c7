"""Fixtures of the trail tests: Ed25519 signers, a trust store, a per-test trail directory."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditkit.privacy.trail import _session
from auditkit.reports.trust import TrustStore, known_roles, register_role

TRAIL_ADMIN = "trail-admin"


class Key:
    """A minimal trail Signer (what auditkit.privacy.access.Identity provides)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.private = Ed25519PrivateKey.generate()
        self.raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = hashlib.sha256(self.raw).hexdigest()[:16]

    def public_key_raw(self) -> bytes:
        return self.raw

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


@pytest.fixture(scope="session")
def keys() -> dict[str, Key]:
    return {name: Key(name) for name in ("alice", "bob", "admin", "mallory")}


@pytest.fixture(scope="session")
def trust(keys) -> TrustStore:
    """alice and bob as principals, admin holding trail-admin; mallory is not trusted."""
    if TRAIL_ADMIN not in known_roles():  # ACCESS registers it in reports/trust.py
        register_role(TRAIL_ADMIN, "countersigns audit trail checkpoints", force=True)
    store = TrustStore()
    store.add("alice", keys["alice"].private.public_key(), roles=["report-signer"])
    store.add("bob", keys["bob"].private.public_key(), roles=["report-signer"])
    store.add("admin", keys["admin"].private.public_key(), roles=[TRAIL_ADMIN])
    return store


@pytest.fixture(autouse=True)
def _fresh_binding(monkeypatch):
    """Every test starts with no process-wide signer, location or key ring bound."""
    monkeypatch.setattr(_session, "_DEFAULT", _session._Binding())


@pytest.fixture
def trail_dir(tmp_path, monkeypatch):
    """A fresh trail location for this test (AUDITKIT_TRAIL points at it)."""
    path = tmp_path / "trail"
    monkeypatch.setenv("AUDITKIT_TRAIL", str(path))
    return path
