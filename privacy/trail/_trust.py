"""Trusting the legacy key ring's principal when verifying (the one-ring model)."""

from __future__ import annotations

from typing import Any

__all__ = ["trust_key_ring"]


def trust_key_ring(store: Any, ring: Any) -> Any:
    """Add to ``store`` (in memory) the trail principals of ``ring``'s keys, and return it.

    In the legacy one-ring model whoever holds the ring signs as ``keyring:<key id>`` with a key
    derived from the ring (:meth:`KeyRing.trail_signer`); holding the ring is what vouches for
    those seals, so a verifier that opened the ring trusts them (role ``principal``).
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from auditkit.reports.trust import PRINCIPAL

    for kid in ring.key_ids:
        signer = ring.trail_signer(kid)
        if store.find(signer.key_id) is None:
            store.add(signer.name, Ed25519PublicKey.from_public_bytes(signer.public_key_raw()), [PRINCIPAL])
    return store
