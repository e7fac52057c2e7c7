"""An access policy: who (principals with key pairs) may do what (roles of permissions) to which data.

:meth:`Policy.load` accepts a policy only when its signature verifies, the signer holds the trust
store role ``access-admin``, the body is valid and its serial is not older than one already seen
on this machine; :meth:`Policy.legacy` is the one-principal model of a key ring without a policy.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from auditkit.hints import did_you_mean
from auditkit.privacy.access._body import ANY, PERMISSIONS, check_body, split_permission
from auditkit.privacy.access._signed import (
    MAX_POLICY_BYTES,
    canonical,
    check_serial,
    check_trusted_admin,
    document_hash,
    parse_document,
    sign_document,
    verify_document,
)
from auditkit.privacy.crypto import b64d
from auditkit.privacy.errors import AccessDenied, PolicyError, PrivacyInputError

__all__ = ["POLICY_ENV", "POLICY_FILE", "Policy", "find_policy", "load_policy", "sign_policy"]

#: Environment variable naming the access policy when no path is given.
POLICY_ENV = "AUDITKIT_ACCESS_POLICY"
#: The policy's file name beside the key ring.
POLICY_FILE = "access-policy.json"
LEGACY_ROLE = "keyring-holder"

Resource = str | os.PathLike | None


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Policy:
    """A verified access policy (or the legacy one-principal policy of a key ring).

    Use :meth:`load` (or :func:`load_policy`) for a signed file; build a new one with
    :func:`sign_policy`. Resources are named by a path relative to the policy's ``root`` (a
    :class:`os.PathLike` is made relative to it) or by the name given (a ``str`` is used as is);
    a permission ``ACTION:GLOB`` matches names by :func:`fnmatch.fnmatchcase` (``*`` also matches
    ``/``).
    """

    def __init__(self, doc: Mapping[str, Any], *, path: str | os.PathLike | None = None,
                 _legacy: str | None = None) -> None:
        self._doc = {"policy": check_body(doc["policy"]), "signature": dict(doc["signature"])}
        self.path = Path(path) if path is not None else None
        self._legacy = _legacy
        body = self._doc["policy"]
        base = self.path.parent if self.path is not None else Path.cwd()
        self.root = (base / body["root"]).absolute()
        self._real_root = Path(os.path.realpath(self.root))
        self.hash = document_hash(self._doc) if _legacy is None else None
        self._by_name = {p["name"]: p for p in body["principals"]}

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, *, trust_store: Any = None) -> Policy:
        """Read a signed policy and verify it.

        Parameters
        ----------
        path:
            The signed JSON written by :func:`sign_policy` / ``auditkit access policy sign``.
        trust_store:
            A :class:`~auditkit.reports.trust.TrustStore` or its path (default: the per-user one).

        Raises
        ------
        PolicyError
            Unsigned, edited, badly signed, signed by a key not holding ``access-admin``,
            malformed, or older than a policy already seen here.
        """
        from auditkit.reports.errors import ReportInputError
        from auditkit.reports.trust import TrustStore

        p = Path(path)
        where = f"The access policy {str(p)!r}"
        try:
            with p.open("rb") as fh:
                data = fh.read(MAX_POLICY_BYTES + 1)
        except OSError as exc:
            raise PolicyError(
                f"{where} cannot be read ({exc.strerror or type(exc).__name__}). Give the signed "
                "access-policy.json, or set AUDITKIT_ACCESS_POLICY."
            ) from None
        doc = parse_document(data, where)
        sig = verify_document(doc, where)
        try:
            store = trust_store if isinstance(trust_store, TrustStore) else TrustStore.load_default(trust_store)
        except ReportInputError as exc:
            raise PolicyError(f"{where} cannot be checked: {exc}") from None
        check_trusted_admin(sig, store, where)
        policy = cls(doc, path=p)
        check_serial(policy.policy_id, policy.serial, policy.hash, where)
        return policy

    @classmethod
    def legacy(cls, ring: Any) -> Policy:
        """The policy of a key ring without an access policy: one principal, ``keyring:<primary
        id>``, holding every permission (and no key pair: files are wrapped to the ring)."""
        name = f"keyring:{ring.primary_id}"
        body = {"version": 1, "policy_id": "0" * 32, "serial": 1, "previous": None, "created": _now(),
                "root": ".", "roles": {LEGACY_ROLE: {"permissions": [ANY]}}, "principals": []}
        policy = cls({"policy": body, "signature": {}}, _legacy=name)
        policy._by_name[name] = {"name": name, "key_id": None, "roles": [LEGACY_ROLE]}
        return policy

    # -- facts ---------------------------------------------------------------------------------
    @property
    def body(self) -> dict[str, Any]:
        """A copy of the policy body (``version``, ``policy_id``, ``serial``, ``roles``, ...)."""
        import copy

        return copy.deepcopy(self._doc["policy"])

    @property
    def document(self) -> dict[str, Any]:
        """A copy of the signed document ``{"policy": ..., "signature": ...}``."""
        import copy

        return copy.deepcopy(self._doc)

    @property
    def is_legacy(self) -> bool:
        """Whether this is the one-principal policy of a key ring (no signed file)."""
        return self._legacy is not None

    @property
    def policy_id(self) -> str:
        return self._doc["policy"]["policy_id"]

    @property
    def serial(self) -> int:
        return self._doc["policy"]["serial"]

    @property
    def signer(self) -> dict[str, str]:
        """``{"name", "key_id", ...}`` of the administrator who signed it (empty for legacy)."""
        return dict(self._doc["signature"])

    @property
    def roles(self) -> dict[str, list[str]]:
        """Role name -> its permissions."""
        return {name: list(r["permissions"]) for name, r in self._doc["policy"]["roles"].items()}

    @property
    def principal_names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def ref(self) -> dict[str, Any] | None:
        """``{"serial": n, "hash": hex}`` as a version-2 file header names its policy (None for legacy)."""
        return None if self.is_legacy else {"serial": self.serial, "hash": self.hash}

    def principal(self, name: str) -> dict[str, Any] | None:
        """The policy's entry for ``name`` (a copy), or None."""
        entry = self._by_name.get(name)
        return dict(entry) if entry is not None else None

    def roles_of(self, principal: Any) -> tuple[str, ...]:
        """The roles ``principal`` (a name or an identity) holds; empty when it is not a principal."""
        entry = self._entry(principal)
        return tuple(entry["roles"]) if entry else ()

    # -- decisions -----------------------------------------------------------------------------
    def resource_name(self, resource: Resource) -> str | None:
        """How ``resource`` is named: a path relative to ``root`` (posix), or the name as given,
        with ``.``, ``..`` and repeated ``/`` collapsed (``data/../hr/x`` is ``hr/x``)."""
        if resource is None:
            return None
        if isinstance(resource, str):
            return posixpath.normpath(resource) if resource else resource
        return _relative(Path(os.path.abspath(os.fspath(resource))), self.root)

    def _match_names(self, resource: Resource) -> tuple[str, ...]:
        """The names a permission's pattern must match: the path as given and, when symbolic
        links lead elsewhere, the file it reaches (a link planted in ``data/`` pointing at
        ``hr/`` needs a grant on both)."""
        name = self.resource_name(resource)
        if name is None or isinstance(resource, str):
            return (name,) if name is not None else ()
        real = _relative(Path(os.path.realpath(os.fspath(resource))), self._real_root)
        return (name,) if real == name else (name, real)

    def _entry(self, principal: Any) -> dict[str, Any] | None:
        if isinstance(principal, str):
            return self._by_name.get(principal)
        entry = self._by_name.get(getattr(principal, "name", None))
        if entry is None or (entry["key_id"] is not None and entry["key_id"] != getattr(principal, "key_id", None)):
            return None
        return entry

    def _granting_roles(self, action: str, names: tuple[str, ...]) -> list[str]:
        if action not in PERMISSIONS:
            raise PrivacyInputError(
                f"The action {str(action)[:60]!r} is not a permission; known: "
                f"{', '.join(PERMISSIONS)}.{did_you_mean(action, PERMISSIONS)}"
            )
        out = []
        for role, perms in self.roles.items():
            for perm in perms:
                act, glob = split_permission(perm)
                if act in (ANY, action) and (glob is None or (names and all(fnmatchcase(n, glob) for n in names))):
                    out.append(role)
                    break
        return out

    def allows(self, principal: Any, action: str, resource: Resource = None) -> bool:
        """Whether ``principal`` (a name, or an identity matched by name and key id) may ``action``
        ``resource``; ``action`` is one of :data:`PERMISSIONS`."""
        granting = self._granting_roles(action, self._match_names(resource))
        entry = self._entry(principal)
        return entry is not None and any(r in granting for r in entry["roles"])

    def require(self, principal: Any, action: str, resource: Resource = None) -> None:
        """Return when :meth:`allows`; else record the refusal in the audit trail (action
        ``access.check``, outcome ``denied``) and raise :class:`AccessDenied`."""
        if self.allows(principal, action, resource):
            return
        name = principal if isinstance(principal, str) else getattr(principal, "name", "?")
        name = str(name)[:100] if str(name).isprintable() else "(a name that is not plain text)"
        shown = self.resource_name(resource)
        from auditkit.privacy import trail

        trail.record("access.check", resource=resource, outcome="denied",
                     params={"principal": name, "permission": action})
        granting = self._granting_roles(action, self._match_names(resource))
        known = self._entry(principal) is not None
        who = f"{name!r}" + ("" if known else " (not a principal of this access policy)")
        what = f" on {shown!r}" if shown is not None else ""
        fix = (f"a role that grants it: {', '.join(granting)}" if granting
               else "no role of the policy grants it; an administrator must add one")
        raise AccessDenied(
            f"Access denied: {who} may not {action}{what}. The refusal is recorded in the audit trail; "
            f"{fix}. Ask an access administrator (`auditkit access grant NAME ROLE`)."
        )

    def recipients_for(self, resource: Resource) -> list[Any]:
        """The principals whose roles grant ``decrypt`` on ``resource``, as crypto Recipients."""
        from auditkit.privacy.crypto import Recipient

        granting = self._granting_roles("decrypt", self._match_names(resource))
        return [
            Recipient(p["name"], p["key_id"], b64d(p["encryption_key"]))
            for p in sorted(self._doc["policy"]["principals"], key=lambda p: p["name"])
            if any(r in granting for r in p["roles"])
        ]

    def holders_of(self, *actions: str) -> list[Any]:
        """Recipients for every principal granted any of ``actions`` on any resource."""
        from auditkit.privacy.crypto import Recipient

        out = []
        for p in sorted(self._doc["policy"]["principals"], key=lambda p: p["name"]):
            perms = [split_permission(x)[0] for r in p["roles"] for x in self.roles[r]]
            if any(a in perms or ANY in perms for a in actions):
                out.append(Recipient(p["name"], p["key_id"], b64d(p["encryption_key"])))
        return out

    def grants(self) -> list[dict[str, Any]]:
        """Who holds what, for a report: name, key id, roles and the permissions they give."""
        return [
            {"name": e["name"], "key_id": e["key_id"], "roles": list(e["roles"]),
             "permissions": sorted({perm for r in e["roles"] for perm in self.roles[r]})}
            for e in sorted(self._by_name.values(), key=lambda e: e["name"])
        ]

    def to_bytes(self) -> bytes:
        """The signed file's bytes (canonical JSON and a newline)."""
        if self.is_legacy:
            raise PolicyError("The legacy key-ring policy has no signed form; migrate with `auditkit access migrate`.")
        return canonical(self._doc) + b"\n"

    def __repr__(self) -> str:
        if self.is_legacy:
            return f"Policy(legacy principal={self._legacy!r})"
        return f"Policy(policy_id={self.policy_id!r}, serial={self.serial}, principals={len(self._by_name)})"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def sign_policy(body: Mapping[str, Any], admin: Any, *, previous: Policy | None = None,
                out: str | os.PathLike | None = None) -> Policy:
    """Sign a policy body with ``admin`` (an :class:`Identity`); chain it to ``previous``.

    With ``previous`` the new policy takes its ``policy_id``, serial + 1 and ``previous`` = its
    hash; without, ``body`` keeps its own (serial 1 unless given). ``created`` is set to now.
    With ``out`` the file is written atomically (mode 0644) and its serial recorded as seen.
    """
    fresh = dict(body)
    fresh.setdefault("version", 1)
    fresh.setdefault("serial", 1)
    fresh.setdefault("previous", None)
    fresh.setdefault("root", ".")
    fresh["created"] = _now()
    if previous is not None:
        if previous.is_legacy:
            raise PolicyError("A policy cannot follow the legacy key-ring policy; use `auditkit access migrate`.")
        fresh.update(policy_id=previous.policy_id, serial=previous.serial + 1, previous=previous.hash)
    doc = sign_document(check_body(fresh), admin)
    policy = Policy(doc, path=out)
    if out is not None:
        from auditkit.atomic import atomic_write_bytes

        target = Path(out)
        # Written first, then recorded as seen: a failed write must not lock this machine out.
        atomic_write_bytes(target, policy.to_bytes(), mode=0o644)
        check_serial(policy.policy_id, policy.serial, policy.hash, f"The access policy {str(target)!r}")
    return policy


def find_policy(path: str | os.PathLike | None = None, *, keyring: str | os.PathLike | None = None) -> Path | None:
    """Where the access policy is: ``path`` > ``$AUDITKIT_ACCESS_POLICY`` > ``access-policy.json``
    beside ``keyring`` (when given and the file exists); None when there is none (legacy mode)."""
    if path is not None:
        return Path(path)
    env = os.environ.get(POLICY_ENV)
    if env:
        return Path(env).expanduser()
    if keyring is not None:
        beside = Path(keyring).parent / POLICY_FILE
        if beside.exists():
            return beside
    return None


def load_policy(path: str | os.PathLike | None = None, *, keyring: str | os.PathLike | None = None,
                trust_store: Any = None) -> Policy | None:
    """:meth:`Policy.load` of :func:`find_policy`'s answer, or None when there is no policy."""
    found = find_policy(path, keyring=keyring)
    return None if found is None else Policy.load(found, trust_store=trust_store)
