"""The body of an access policy: roles, permissions and principals, validated field by field.

One vocabulary of permissions (:data:`PERMISSIONS`) serves the policy files, the API, the CLI
help and the docs. A permission is ``ACTION`` or ``ACTION:GLOB`` where ``ACTION`` is one of
:data:`PERMISSIONS` or ``*`` (every action) and ``GLOB`` an :func:`fnmatch.fnmatchcase` pattern
over resource names (``decrypt:data/*.enc``). Every refusal is a
:class:`~auditkit.privacy.errors.PolicyError` naming the field, the expectation and the fix.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping
from typing import Any

from auditkit.hints import did_you_mean
from auditkit.privacy.access._identity import PublicIdentity
from auditkit.privacy.crypto import b64d
from auditkit.privacy.errors import PolicyError, PrivacyInputError

__all__ = ["BODY_FIELDS", "PERMISSIONS", "check_body", "check_permission", "split_permission"]

POLICY_VERSION = 1
#: What a role can grant: one name per kind of operation on personal data or keys.
PERMISSIONS: dict[str, str] = {
    "decrypt": "open encrypted files (the file's data key is wrapped to the principal)",
    "detokenise": "turn column tokens back into values (the key ring is wrapped to the principal)",
    "mask": "mask, tokenise or pseudonymise personal columns",
    "train": "train models on the data (differentially private training included)",
    "audit": "run fairness and privacy audits on the data",
    "sign": "sign audit reports",
    "administer-keys": "rotate and rewrap keys; holds the key ring",
}
ANY = "*"
BODY_FIELDS = ("version", "policy_id", "serial", "previous", "created", "root", "roles", "principals")
_ROLE_FIELDS = ("permissions", "description")
PRINCIPAL_FIELDS = ("name", "key_id", "signing_key", "encryption_key", "roles")
_ROLE = re.compile(r"[a-z][a-z0-9-]{0,63}")
_HEX = re.compile(r"[0-9a-f]+")
MAX_GLOB = 200
# X25519 public keys of small order (libsodium's blocklist, top bit cleared as RFC 7748 decodes):
# the shared secret with any of them is fixed, so nothing wrapped to one would be secret.
_LOW_ORDER = frozenset(bytes.fromhex(h) for h in (
    "00" * 32, "01" + "00" * 31,
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ec" + "ff" * 30 + "7f", "ed" + "ff" * 30 + "7f", "ee" + "ff" * 30 + "7f",
))


def _unknown(where: str, key: Any, fields: tuple[str, ...]) -> PolicyError:
    shown = repr(key[:60]) if isinstance(key, str) and key.isprintable() else "a field that is not plain text"
    return PolicyError(
        f"{where} has an unknown field {shown}; expected {', '.join(fields)}.{did_you_mean(key, fields)}"
    )


def check_fields(where: str, table: Any, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict:
    """``table`` when it is a dict with only ``allowed`` keys and every ``required`` one."""
    if not isinstance(table, Mapping):
        raise PolicyError(f"{where} must be a table (an object with named fields).")
    for key in table:
        if key not in allowed:
            raise _unknown(where, key, allowed)
    for key in required:
        if key not in table:
            raise PolicyError(f"{where} lacks the field {key!r}; add it.")
    return dict(table)


def split_permission(text: str) -> tuple[str, str | None]:
    """``("decrypt", "data/*.enc")`` for ``"decrypt:data/*.enc"``, ``("audit", None)`` for ``"audit"``."""
    action, sep, glob = text.partition(":")
    return action, (glob if sep else None)


def check_permission(text: Any, where: str) -> str:
    """``text`` when it is ``ACTION`` or ``ACTION:GLOB`` with a known action; else PolicyError."""
    if not isinstance(text, str) or not text.isprintable():
        raise PolicyError(f"{where} lists a permission that is not plain text; write e.g. 'decrypt'.")
    action, glob = split_permission(text)
    if action != ANY and action not in PERMISSIONS:
        raise PolicyError(
            f"{where} lists the unknown permission {action[:60]!r}; known permissions: "
            f"{', '.join(PERMISSIONS)} and '*' (all), each optionally limited to resources "
            f"as 'decrypt:data/*.enc'.{did_you_mean(action, [*PERMISSIONS, ANY])}"
        )
    if glob is not None and (not glob or len(glob) > MAX_GLOB):
        raise PolicyError(
            f"{where} has the permission {action!r} with an empty or over-long resource pattern "
            f"after ':'; give a pattern of 1 to {MAX_GLOB} characters such as 'data/*.enc'."
        )
    return text


def _check_roles(roles: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(roles, Mapping):
        raise PolicyError("The policy's 'roles' must be a table of role name -> {permissions = [...]}.")
    out: dict[str, dict[str, Any]] = {}
    for name, role in roles.items():
        if not isinstance(name, str) or not _ROLE.fullmatch(name):
            raise PolicyError(
                "A role name of the policy is not lower-case letters, digits and '-' (at most 64, "
                "starting with a letter); rename it, e.g. 'auditor'."
            )
        where = f"The policy's role {name!r}"
        role = check_fields(where, role, _ROLE_FIELDS, ("permissions",))
        perms = role["permissions"]
        if isinstance(perms, str) or not isinstance(perms, (list, tuple)):
            raise PolicyError(f"{where}: 'permissions' must be a list such as ['decrypt', 'audit'].")
        clean = [check_permission(p, where) for p in perms]
        if len(set(clean)) != len(clean):
            raise PolicyError(f"{where} lists a permission twice; list each once.")
        entry: dict[str, Any] = {"permissions": clean}
        if "description" in role:
            desc = role["description"]
            if not isinstance(desc, str) or not desc.isprintable() or len(desc) > 200:
                raise PolicyError(f"{where}: 'description' must be one line of text (at most 200 characters).")
            entry["description"] = desc
        out[name] = entry
    return out


def _key32(value: Any, where: str, field: str) -> bytes:
    try:
        raw = b64d(value) if isinstance(value, str) else b""
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 32 or not isinstance(value, str) or len(value) != 43:
        raise PolicyError(
            f"{where}: {field!r} must be a public key as unpadded base64url of 32 bytes (43 "
            "characters), as `auditkit access identity new` prints it."
        )
    return raw


def check_principal(entry: Any, roles: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One principal entry of a policy body (all keys present and consistent)."""
    entry = check_fields(where, entry, PRINCIPAL_FIELDS, ())
    for key in ("signing_key", "encryption_key"):
        if key not in entry:
            raise PolicyError(
                f"{where} has no {key!r}: every principal needs its public keys (signing_key and "
                "encryption_key, or a key_id the trust store knows with an encryption_key)."
            )
    for key in ("name", "roles"):
        if key not in entry:
            raise PolicyError(f"{where} lacks the field {key!r}; add it.")
    try:
        public = PublicIdentity(
            entry["name"], _key32(entry["signing_key"], where, "signing_key"),
            _key32(entry["encryption_key"], where, "encryption_key"),
        )
    except PrivacyInputError as exc:
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError(f"{where}: {exc}") from None
    if public.encryption_key[:31] + bytes([public.encryption_key[31] & 0x7F]) in _LOW_ORDER:
        raise PolicyError(
            f"{where}: 'encryption_key' is not a usable X25519 key (a point of small order, so "
            "nothing wrapped to it would be secret). Copy the key `auditkit access identity new` printed."
        )
    if "key_id" in entry and entry["key_id"] != public.key_id:
        raise PolicyError(
            f"{where}: key_id does not match its signing_key (whose key id is {public.key_id}); "
            "check which key you meant, then fix key_id or the key."
        )
    held = entry["roles"]
    if isinstance(held, str) or not isinstance(held, (list, tuple)):
        raise PolicyError(f"{where}: 'roles' must be a list of role names such as ['auditor'].")
    for role in held:
        if role not in roles:
            raise PolicyError(
                f"{where} holds the role {str(role)[:60]!r}, which the policy does not define; defined "
                f"roles: {', '.join(sorted(roles)) or 'none'}.{did_you_mean(role, roles)}"
            )
    if len(set(held)) != len(held):
        raise PolicyError(f"{where} lists a role twice; list each once.")
    return {**public.public_entry(), "roles": list(held)}


def check_body(body: Any) -> dict[str, Any]:
    """A copy of ``body`` when it is a valid policy body; PolicyError naming the first problem."""
    body = check_fields("The access policy", body, BODY_FIELDS, BODY_FIELDS)
    if type(body["version"]) is not int or body["version"] != POLICY_VERSION:
        raise PolicyError(
            f"The access policy has version {str(body['version'])[:20]!r}; this auditkit reads "
            f"version {POLICY_VERSION}. Upgrade auditkit."
        )
    pid = body["policy_id"]
    if not isinstance(pid, str) or len(pid) != 32 or not _HEX.fullmatch(pid):
        raise PolicyError("The access policy's 'policy_id' must be 32 lower-case hex digits.")
    if type(body["serial"]) is not int or not 1 <= body["serial"] < 2**53:
        raise PolicyError("The access policy's 'serial' must be a whole number from 1.")
    prev = body["previous"]
    if prev is not None and (not isinstance(prev, str) or len(prev) != 64 or not _HEX.fullmatch(prev)):
        raise PolicyError("The access policy's 'previous' must be null or 64 lower-case hex digits.")
    for key in ("created", "root"):
        value = body[key]
        if not isinstance(value, str) or not value.isprintable() or len(value) > 1000:
            raise PolicyError(f"The access policy's {key!r} must be one line of text.")
    roles = _check_roles(body["roles"])
    principals = body["principals"]
    if not isinstance(principals, list):
        raise PolicyError("The access policy's 'principals' must be a list of principal tables.")
    clean = [check_principal(p, roles, f"The policy's principal {i}") for i, p in enumerate(principals, 1)]
    for field in ("name", "key_id", "encryption_key"):
        values = [p[field].casefold() if field == "name" else p[field] for p in clean]
        if len(set(values)) != len(values):
            raise PolicyError(
                f"Two principals of the access policy share a {field}; each principal needs its own "
                "name and key pair. Remove or rename the duplicate."
            )
    return {**body, "roles": roles, "principals": clean}
