"""Granting and revoking roles: the next signed policy, and the files' headers rewrapped to it.

A change signs a new policy (serial + 1, ``previous`` = the current policy's hash), writes it over
the current one, then rewraps the headers of the files named so that their recipients are the
new policy's (the data is not re-encrypted). Revocation thereby removes the principal's stanza
from those files and from every file written afterwards; it cannot recall what the principal
already decrypted, nor an old copy of a header they kept (docs/access.md).

When the principal already holds (or lacks) the role, no new policy is signed and the files are
only brought in line with the current policy, so a change interrupted midway is finished by
running it again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.hints import did_you_mean
from auditkit.privacy.access._policy import Policy, sign_policy
from auditkit.privacy.access._ring import RING_ENVELOPE, RING_RESOURCE
from auditkit.privacy.errors import PolicyError

__all__ = ["AccessChange", "grant", "revoke", "rewrap_to_policy"]


@dataclass(frozen=True)
class AccessChange:
    """What a grant or revoke did: the policy now in force and the files whose headers changed."""

    policy: Policy
    changed_policy: bool
    rewrapped: tuple[Path, ...] = field(default=())
    unchanged: tuple[Path, ...] = field(default=())


def _current(policy: Policy | str | os.PathLike, trust_store: Any) -> Policy:
    if isinstance(policy, Policy):
        if policy.is_legacy or policy.path is None:
            raise PolicyError(
                "grant and revoke change a signed policy file; migrate a key ring first with "
                "`auditkit access migrate`, or sign a draft with `auditkit access policy sign`."
            )
        return policy
    return Policy.load(policy, trust_store=trust_store)


def check_admin(admin: Any, trust_store: Any) -> None:
    """Refuse before anything is written when ``admin``'s signature would not be accepted."""
    from auditkit.privacy.access._signed import check_trusted_admin
    from auditkit.privacy.crypto import b64e
    from auditkit.reports.errors import ReportInputError
    from auditkit.reports.trust import TrustStore

    try:
        store = trust_store if isinstance(trust_store, TrustStore) else TrustStore.load_default(trust_store)
    except ReportInputError as exc:
        raise PolicyError(f"The administrator cannot be checked: {exc}") from None
    sig = {"key_id": admin.key_id, "name": admin.name, "public_key": b64e(admin.public_key_raw())}
    check_trusted_admin(sig, store, "The new access policy")


def _check_role(policy: Policy, role: str) -> None:
    if role not in policy.roles:
        raise PolicyError(
            f"The access policy defines no role {str(role)[:60]!r}; its roles: "
            f"{', '.join(sorted(policy.roles))}.{did_you_mean(role, policy.roles)} Add it to the draft "
            "and sign it, or choose one of these."
        )


def _new_entry(policy: Policy, name: str, public: Any, trust_store: Any) -> dict[str, Any]:
    """The entry of ``name``: the policy's, else from ``public`` keys or the trust store."""
    entry = policy.principal(name)
    if entry is not None:
        return entry
    if public is None:
        from auditkit.privacy.access._draft import body_from_draft

        draft = {"policy_id": policy.policy_id, "roles": policy.body["roles"],
                 "principals": [{"name": name, "roles": []}]}
        return body_from_draft(draft, trust_store=_store(trust_store), where="The grant")["principals"][0]
    if public.name != name:
        raise PolicyError(f"The public keys given for {name!r} belong to {public.name!r}; give that principal's keys.")
    return {**public.public_entry(), "roles": []}


def _store(trust_store: Any) -> Any:
    from auditkit.reports.trust import TrustStore

    return trust_store if isinstance(trust_store, TrustStore) else TrustStore.load_default(trust_store)


def rewrap_to_policy(policy: Policy, files: Iterable[str | os.PathLike], opener: Any, *,
                     ring: Any = None) -> tuple[list[Path], list[Path]]:
    """Set each version-2 file's recipients to ``policy.recipients_for(its resource)``.

    The resource is the name in the file's header, else its path relative to the policy's root;
    the sealed key ring (resource ``keyring``) goes to the ``detokenise`` and
    ``administer-keys`` holders.
    ``opener`` (an identity or a key ring) must be able to open each file. Returns the files
    rewrapped and those already in line.
    """
    from auditkit.privacy.crypto import file_info, set_recipients

    done, same = [], []
    for f in files:
        path = Path(f)
        info = file_info(path)
        if info.format_version < 2:
            raise PolicyError(
                f"The file {str(path)!r} is a version-1 encrypted file (wrapped to the key ring only); "
                "upgrade it first with `auditkit access migrate --upgrade FILE`."
            )
        if info.resource == RING_RESOURCE:  # the sealed key ring: detokenisation keys
            recipients = policy.holders_of("detokenise", "administer-keys")
        else:
            recipients = policy.recipients_for(info.resource if info.resource else path)
        if set_recipients(path, opener, recipients, ring=ring, policy=policy.ref()):
            done.append(path)
        else:
            same.append(path)
    return done, same


def _change(policy: Any, name: str, role: str, adding: bool, *, admin: Any, files: Iterable[Any],
            opener: Any, ring: Any, trust_store: Any, public: Any) -> AccessChange:
    from auditkit.privacy import trail
    from auditkit.privacy.access._identity import check_principal_name

    current = _current(policy, trust_store)
    check_principal_name(name)
    _check_role(current, role)
    if adding:
        entry = _new_entry(current, name, public, trust_store)
    else:
        entry = current.principal(name)
        if entry is None:
            raise PolicyError(
                f"{name!r} is not a principal of the access policy {str(current.path)!r}; nothing to "
                f"revoke. Its principals: {', '.join(current.principal_names) or 'none'}."
                f"{did_you_mean(name, current.principal_names)}"
            )
    roles = list(entry["roles"])
    needed = (role not in roles) if adding else (role in roles)
    new = current
    if needed:
        check_admin(admin, trust_store)
        roles = [*roles, role] if adding else [r for r in roles if r != role]
        body = current.body
        others = [p for p in body["principals"] if p["name"] != entry["name"]]
        body["principals"] = [*others, {**entry, "roles": roles}]
        new = sign_policy(body, admin, previous=current, out=current.path)
    action = "access.grant" if adding else "access.revoke"
    trail.record(action, resource=new.path, params={
        "principal": name, "role": role, "serial": new.serial, "changed": needed})
    files = [Path(f) for f in files]
    envelope = new.path.parent / RING_ENVELOPE
    if envelope.exists() and not any(f.resolve() == envelope.resolve() for f in files):
        files.append(envelope)  # the detokenisation keys follow the same rule
    done, same = rewrap_to_policy(new, files, opener if opener is not None else admin, ring=ring)
    return AccessChange(new, needed, tuple(done), tuple(same))


def grant(policy: Policy | str | os.PathLike, name: str, role: str, *, admin: Any,
          files: Iterable[str | os.PathLike] = (), opener: Any = None, ring: Any = None,
          trust_store: Any = None, public: Any = None) -> AccessChange:
    """Give principal ``name`` the ``role``: sign the next policy and rewrap ``files`` to it.

    Parameters
    ----------
    policy:
        The current signed policy (a loaded :class:`Policy` or its path); it is replaced.
    admin:
        The :class:`Identity` that signs; it must hold ``access-admin`` in the trust store.
    files:
        Version-2 encrypted files whose headers to rewrap to the new recipients.
    opener:
        What opens those files (default ``admin``): an identity or a key ring.
    ring:
        A key ring to keep (or add) as a recipient of the files, for legacy holders.
    public:
        The principal's public keys (a :class:`PublicIdentity`) when it is new to the policy;
        by default they come from the trust store entry of that name.
    """
    return _change(policy, name, role, True, admin=admin, files=files, opener=opener, ring=ring,
                   trust_store=trust_store, public=public)


def revoke(policy: Policy | str | os.PathLike, name: str, role: str, *, admin: Any,
           files: Iterable[str | os.PathLike] = (), opener: Any = None, ring: Any = None,
           trust_store: Any = None) -> AccessChange:
    """Take ``role`` from principal ``name``: sign the next policy and rewrap ``files`` without them.

    Future writes take their recipients from the new policy, so the principal is excluded from
    them; see :func:`grant` for the parameters.
    """
    return _change(policy, name, role, False, admin=admin, files=files, opener=opener, ring=ring,
                   trust_store=trust_store, public=None)
