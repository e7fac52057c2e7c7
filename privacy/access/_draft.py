"""The editable TOML draft of an access policy, turned into a policy body ready to sign.

A draft has the body's fields in TOML (``[roles.NAME]`` tables and ``[[principals]]`` tables).
A principal gives its public keys (``signing_key`` and ``encryption_key``, as ``auditkit access
identity new`` prints them) or only a ``key_id`` (or only its ``name``) that the trust store
lists with an ``encryption_key``. ``serial``, ``previous`` and ``created`` are set when signing.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from auditkit.privacy.access._body import BODY_FIELDS, PERMISSIONS, PRINCIPAL_FIELDS, check_fields
from auditkit.privacy.errors import PolicyError

__all__ = ["draft_template", "read_draft"]

_DRAFT_FIELDS = tuple(f for f in BODY_FIELDS if f not in ("created",))


def draft_template(policy_id: str | None = None) -> str:
    """A commented TOML draft with example roles (``auditor``, ``engineer``, ``officer``, ``admin``)."""
    pid = policy_id or secrets.token_hex(16)
    perms = "\n".join(f"#   {name:<16} {desc}" for name, desc in PERMISSIONS.items())
    return f'''# auditkit access policy (draft). Edit, then sign it:
#   auditkit access policy sign THIS_FILE --identity ADMIN.identity.json --out access-policy.json
# Only the signed JSON counts; editing it after signing makes it invalid.
#
# Permissions (each may be limited to resources, e.g. "decrypt:data/*.enc"; "*" is every one):
{perms}
# Resources are paths relative to `root` (relative to the signed policy's directory) or names.
version = 1
policy_id = "{pid}"
root = "."

[roles.auditor]
description = "runs audits on the encrypted data"
permissions = ["audit", "decrypt"]

[roles.engineer]
description = "trains models and masks data"
permissions = ["train", "mask", "decrypt:data/*"]

[roles.officer]
description = "data protection officer: may unmask tokens"
permissions = ["detokenise", "decrypt", "audit"]

[roles.admin]
description = "every permission"
permissions = ["*"]

# One table per principal: its public keys (from `auditkit access identity new`), or a
# key_id / name that the trust store lists with an encryption_key.
# [[principals]]
# name = "alice"
# signing_key = "..."
# encryption_key = "..."
# roles = ["auditor"]
'''


def _from_trust_store(entry: dict[str, Any], store: Any, where: str) -> dict[str, Any]:
    found = store.find(entry["key_id"]) if "key_id" in entry else store.find_name(entry.get("name", ""))
    if found is None:
        raise PolicyError(
            f"{where} has no public keys and the trust store does not list it; every principal needs "
            "signing_key and encryption_key (from `auditkit access identity new`), or a key_id the trust "
            "store lists with an encryption_key."
        )
    named = entry.get("name", found.name)
    if not isinstance(named, str) or named.casefold() != found.name.casefold():
        raise PolicyError(
            f"{where}: the trust store lists key {found.key_id} under the name {found.name!r}, not "
            f"{str(named)[:60]!r}; one principal's grant would go to another's key. Give the name the "
            "trust store shows, or that principal's own key_id."
        )
    if found.encryption_key is None:
        raise PolicyError(
            f"{where}: the trust store lists {found.name!r} without an encryption_key, so nothing can be "
            "wrapped to it. Give signing_key and encryption_key in the draft, or re-add it to the trust "
            "store with `auditkit access identity new ... --trust-store`."
        )
    from auditkit.privacy.access._identity import PublicIdentity

    public = PublicIdentity(entry.get("name", found.name), _raw_pem(found.key()), found.encryption_key_raw())
    return {**public.public_entry(), "roles": entry.get("roles", [])}


def _raw_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def body_from_draft(raw: dict[str, Any], *, trust_store: Any = None, where: str = "The draft") -> dict[str, Any]:
    """A policy body from a parsed draft; keys missing from principals are taken from the trust store."""
    raw = check_fields(where, raw, _DRAFT_FIELDS, ("policy_id", "roles"))
    principals = raw.get("principals", [])
    if not isinstance(principals, list):
        raise PolicyError(f"{where}: 'principals' must be [[principals]] tables (note the double brackets).")
    out = []
    for i, entry in enumerate(principals, 1):
        at = f"{where}, principal {i}"
        entry = check_fields(at, entry, PRINCIPAL_FIELDS, ("roles",))
        if "signing_key" not in entry or "encryption_key" not in entry:
            if trust_store is None:
                from auditkit.reports.trust import TrustStore

                trust_store = TrustStore.load_default()
            entry = _from_trust_store(entry, trust_store, at)
        out.append(entry)
    body = {k: v for k, v in raw.items() if k != "principals"}
    body["principals"] = out
    body.setdefault("root", ".")
    return body


def read_draft(path: str | os.PathLike, *, trust_store: Any = None) -> dict[str, Any]:
    """The policy body of the TOML draft at ``path`` (not yet signed)."""
    from auditkit.toml_files import read_toml

    p = Path(path)
    raw = read_toml(p, error=PolicyError, what="access policy draft",
                    fix="Create one with `auditkit access policy init --out FILE`.")
    return body_from_draft(raw, trust_store=trust_store, where=f"The draft {str(p)!r}")
