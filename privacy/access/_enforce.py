"""Putting a policy in force: the enforcer behind :func:`auditkit.privacy.trail.enforce`.

Operations on data ask the trail's guard before they act; with a policy active, this module's
enforcer answers from the signed policy and the identity that acts (the signer bound to the
command: ``$AUDITKIT_IDENTITY`` on the command line, :func:`activate`'s ``identity`` in Python).
An unauthenticated principal (the OS user) holds no role, so with a policy in force it may do
nothing the policy guards; every refusal is recorded in the trail.
"""

from __future__ import annotations

import os
from typing import Any

from auditkit.privacy.access._body import PERMISSIONS
from auditkit.privacy.access._policy import Policy
from auditkit.privacy.errors import AccessDenied, PrivacyInputError

__all__ = ["activate", "activate_from_env"]


def _check_permission(permission: Any) -> str:
    if not isinstance(permission, str) or permission not in PERMISSIONS:
        raise PrivacyInputError(
            f"The permission asked for must be one of {', '.join(PERMISSIONS)}; got "
            f"{permission!r:.40}."
        )
    return permission


def _enforcer(policy: Policy):
    from auditkit.privacy import trail

    def check(permission: str, resource: Any = None) -> None:
        _check_permission(permission)
        signer = trail.current_signer()
        if signer is None:
            name = trail.current_principal()[0]
            trail.record("access.check", resource=resource, outcome="denied",
                         params={"principal": name, "permission": permission})
            raise AccessDenied(
                f"Access denied: {permission} needs an identity under the access policy in force "
                f"({policy.path or 'in memory'}), and this process acts as the unauthenticated "
                f"{name!r}. Set $AUDITKIT_IDENTITY to your identity file (its passphrase in "
                "$AUDITKIT_IDENTITY_PASSPHRASE), or call auditkit.privacy.access.activate(policy, "
                "identity=...)."
            )
        policy.require(signer, permission, resource)

    return check


def activate(policy: Policy | None, *, identity: Any = None) -> None:
    """Enforce ``policy`` in this process from now on (``None``: back to the legacy model).

    ``identity`` (an :class:`~auditkit.privacy.access.Identity`) becomes who acts: it signs the
    trail seals and is the principal the policy is asked about.

    Examples
    --------
    >>> policy = Policy.load("access-policy.json")                          # doctest: +SKIP
    >>> activate(policy, identity=Identity.load_from_env("alice.identity.json",
    ...                                                   "AUDITKIT_IDENTITY_PASSPHRASE"))  # doctest: +SKIP
    """
    from auditkit.privacy import trail

    if policy is not None and not isinstance(policy, Policy):
        raise PrivacyInputError(
            f"activate() needs a signed access Policy (Policy.load(path)) or None; got "
            f"{type(policy).__name__}."
        )
    if identity is not None:
        trail.bind(signer=identity)
    trail.set_enforcer(None if policy is None else _enforcer(policy))


def activate_from_env() -> Any:
    """Activate the policy ``$AUDITKIT_ACCESS_POLICY`` names; return the enforcer now in force."""
    from auditkit.privacy import trail

    path = os.environ.get(trail.POLICY_ENV)
    if path and trail.enforcer() is None:
        activate(Policy.load(path))
    return trail.enforcer()
