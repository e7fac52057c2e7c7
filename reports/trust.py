"""Public keys and the trust store: the one registry of who may sign (and, later, do) what.

A *principal* is a name, an Ed25519 public key and the roles it holds. The trust store is a
human-editable TOML file of principals (``[[signer]]`` tables with ``name``, ``key_id``,
``public_key`` in PEM, ``roles`` and, optionally, ``encryption_key``: the principal's X25519
public key as unpadded base64url of its 32 raw bytes, to which files and keys are wrapped under
access by role; the format is in docs/reports.md and docs/access.md). ``auditkit verify``
accepts a signed report only when its signer is pinned with ``--public-key`` or is a principal of
the store holding the role :data:`REPORT_SIGNER`. Other roles (access by role) register with
:func:`register_role` and live in the same file: there is one list of trusted keys.

Where it is: ``--trust-store FILE``, else ``$AUDITKIT_TRUST_STORE``, else
``$XDG_CONFIG_HOME/auditkit/trusted_keys.toml`` (``~/.config/...`` when unset). Every entry is
validated on load: the key must be an Ed25519 PEM public key, ``key_id`` must be that key's id,
unknown fields are refused with the closest valid name, and names and key ids are unique. A
store writable by group or others is refused (anyone could add a signer).

>>> store = TrustStore()                                                       # doctest: +SKIP
>>> store.add("ci", open("signing.pem.pub").read(), roles=[REPORT_SIGNER])     # doctest: +SKIP
>>> store.save("trusted_keys.toml")                                            # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.atomic import atomic_write_text
from auditkit.hints import did_you_mean
from auditkit.reports._keys import (
    _ed,
    key_id,
    load_public_key,
    pem_public_key,
    public_key_pem,
    raw_public,
)
from auditkit.reports.errors import ReportInputError
from auditkit.toml_files import read_toml_text

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "ACCESS_ADMIN",
    "REPORT_SIGNER",
    "PRINCIPAL",
    "TRAIL_ADMIN",
    "TRUST_STORE_ENV",
    "Principal",
    "TrustStore",
    "default_trust_store_path",
    "key_id",
    "known_roles",
    "load_public_key",
    "public_key_pem",
    "register_role",
]

#: The role a principal needs for ``auditkit verify`` to accept the reports it signs.
REPORT_SIGNER = "report-signer"
#: The role a principal needs for its signature on an access policy to be accepted.
ACCESS_ADMIN = "access-admin"
#: The role a principal needs for its countersignature on an audit-trail checkpoint to be accepted.
TRAIL_ADMIN = "trail-admin"
#: The role of a person or service that acts on data: it signs its own audit-trail seals and may
#: be a recipient of encrypted files. It grants no administration.
PRINCIPAL = "principal"
#: Environment variable naming the trust store when ``--trust-store`` is not given.
TRUST_STORE_ENV = "AUDITKIT_TRUST_STORE"
FORMAT_VERSION = 1
MAX_STORE_BYTES = 1 << 20

_TOP_FIELDS = ("version", "signer")
_ENTRY_FIELDS = ("name", "key_id", "public_key", "roles")
_OPTIONAL_FIELDS = ("encryption_key",)
_B64URL_32 = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")  # unpadded base64url of 32 bytes
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_ROLES: dict[str, str] = {
    REPORT_SIGNER: "signs audit report manifests; `auditkit verify` accepts its signatures",
    ACCESS_ADMIN: "signs access policies (who may decrypt, detokenise, mask, train, audit, sign)",
    TRAIL_ADMIN: "countersigns audit-trail checkpoints",
    PRINCIPAL: "acts on data: signs its own audit-trail seals; what it may do is the access policy's",
}


_pem_text = public_key_pem  # for methods whose parameter is named ``public_key_pem``


def register_role(name: str, description: str, *, force: bool = False) -> None:
    """Add a role principals may hold (e.g. a data-access role); refuses a silent overwrite."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9-]{0,63}", name):
        raise ReportInputError(
            f"A role name must be lower-case letters, digits and '-' (at most 64); got {name!r}."
        )
    if name in _ROLES and not force:
        raise ReportInputError(
            f"The role {name!r} is already registered; pass force=True to replace it."
        )
    _ROLES[name] = description


def known_roles() -> dict[str, str]:
    """The registered roles and what each allows."""
    return dict(_ROLES)


# -- principals and the store ------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """One trusted key: who it is (``name``), its fingerprint, its PEM key and its roles.

    ``encryption_key`` is the principal's X25519 public key (unpadded base64url of the 32 raw
    bytes) when it has one, else ``None``: files and keys are wrapped to it under access by role.
    """

    name: str
    key_id: str
    public_key: str
    roles: tuple[str, ...]
    encryption_key: str | None = None

    def key(self) -> Ed25519PublicKey:
        """The Ed25519 public key object."""
        return pem_public_key(self.public_key, f"The public key of {self.name!r}")

    def __repr__(self) -> str:
        return f"Principal(name={self.name!r}, key_id={self.key_id!r}, roles={list(self.roles)!r})"

    def encryption_key_raw(self) -> bytes | None:
        """The 32 raw bytes of the X25519 encryption key, or ``None`` when it has none."""
        if self.encryption_key is None:
            return None
        import base64

        return base64.urlsafe_b64decode(self.encryption_key + "=")


def default_trust_store_path() -> Path:
    """``$AUDITKIT_TRUST_STORE``, else ``$XDG_CONFIG_HOME/auditkit/trusted_keys.toml``."""
    env = os.environ.get(TRUST_STORE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "auditkit" / "trusted_keys.toml"


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ReportInputError(f"{where} needs a non-empty 'name' string (who holds the key).")
    if not name.isprintable() or name != name.strip() or len(name) > 100:
        raise ReportInputError(
            f"{where} has a 'name' with control characters, surrounding spaces or more than 100 "
            "characters; use a short plain name such as 'ci-pipeline'."
        )
    return name


def _check_encryption_key(value: Any, where: str) -> str | None:
    """``value`` when it is unpadded base64url of 32 bytes (an X25519 public key), else refused."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)) and len(value) == 32:
        import base64

        return base64.urlsafe_b64encode(bytes(value)).rstrip(b"=").decode("ascii")
    if not isinstance(value, str) or not _B64URL_32.fullmatch(value):
        raise ReportInputError(
            f"{where}: encryption_key must be an X25519 public key as unpadded base64url of its "
            "32 raw bytes (43 characters of A-Z, a-z, 0-9, '-' and '_'), as `auditkit access "
            "identity new` prints it. Copy it again from there."
        )
    return value


def _check_roles(roles: Any, where: str) -> tuple[str, ...]:
    if isinstance(roles, str) or not isinstance(roles, (list, tuple)) or not roles:
        raise ReportInputError(
            f"{where} needs 'roles', a non-empty list such as [{REPORT_SIGNER!r}]."
        )
    for role in roles:
        if not isinstance(role, str) or role not in _ROLES:
            ok = isinstance(role, str) and role.isprintable()
            shown = f"the unknown role {role[:60]!r}" if ok else "a role that is not plain text"
            raise ReportInputError(
                f"{where} lists {shown}; known roles: "
                f"{', '.join(sorted(_ROLES))}.{did_you_mean(str(role), _ROLES)}"
            )
    if len(set(roles)) != len(roles):
        raise ReportInputError(f"{where} lists a role twice in 'roles'; list each role once.")
    return tuple(roles)


class TrustStore:
    """The trusted public keys (principals with roles), loaded from and saved to a TOML file.

    Parameters
    ----------
    path:
        Where the store was read from (shown in messages); ``None`` for a store built in memory.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._principals: list[Principal] = []
        self._source = ""  # the loaded file's text, kept (comments included) when saving
        self._saved = 0  # principals already in ``_source``

    # reading -----------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike, *, missing_ok: bool = False) -> TrustStore:
        """Read and validate a trust store file.

        Parameters
        ----------
        path:
            The TOML file.
        missing_ok:
            Return an empty store when the file does not exist (instead of an error).

        Raises
        ------
        ReportInputError
            The file is unreadable, writable by other users, not TOML, or an entry is invalid.
        """
        store = cls(path)
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            if missing_ok:
                return store
            raise ReportInputError(
                f"The trust store {p} does not exist. Create it with `auditkit keys trust PEM "
                f"--name NAME --trust-store {p}`, or give the path of an existing one."
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise ReportInputError(f"The trust store {p} is not a regular file; give a TOML file.")
        if st.st_mode & 0o022:
            raise ReportInputError(
                f"The trust store {p} is writable by other users (mode "
                f"{stat.S_IMODE(st.st_mode):o}), so anyone could add a signer. Run: chmod go-w {p}"
            )
        if st.st_size > MAX_STORE_BYTES:
            raise ReportInputError(
                f"The trust store {p} is larger than {MAX_STORE_BYTES} bytes; a trust store "
                "holds a few public keys. Give the right file."
            )
        store._parse(*read_toml_text(
            p, error=ReportInputError, what="trust store",
            fix="Give the path of a readable one, or re-create it with `auditkit keys trust`.",
            fix_syntax="Fix the file or re-create it with `auditkit keys trust`.",
        ))
        return store

    @classmethod
    def load_default(cls, path: str | os.PathLike | None = None) -> TrustStore:
        """The store ``auditkit`` uses: ``path``, else ``$AUDITKIT_TRUST_STORE``, else the
        per-user file. A missing per-user file is an empty store; a missing named one is an error.
        """
        if path is not None:
            return cls.load(path)
        named = bool(os.environ.get(TRUST_STORE_ENV))
        return cls.load(default_trust_store_path(), missing_ok=not named)

    def _parse(self, text: str, raw: dict[str, Any]) -> None:
        where_file = f"The trust store {self.path}"
        for key in raw:
            if key not in _TOP_FIELDS:
                raise ReportInputError(
                    f"{where_file} has an unknown top-level field {key!r}; expected "
                    f"{' and '.join(_TOP_FIELDS)}.{did_you_mean(key, _TOP_FIELDS)}"
                )
        version = raw.get("version", FORMAT_VERSION)
        if type(version) is not int or version != FORMAT_VERSION:
            raise ReportInputError(
                f"{where_file} has version {str(version)[:20]!r}; this auditkit reads version "
                f"{FORMAT_VERSION}. Upgrade auditkit or fix the version."
            )
        entries = raw.get("signer", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ReportInputError(
                f"{where_file}: 'signer' must be a list of [[signer]] tables (note the double "
                "brackets), one per trusted key."
            )
        for i, entry in enumerate(entries, start=1):
            where = f"{where_file}, [[signer]] entry {i}"
            fields = _ENTRY_FIELDS + _OPTIONAL_FIELDS
            for key in entry:
                if key not in fields:
                    raise ReportInputError(
                        f"{where} has an unknown field {key!r}; expected "
                        f"{', '.join(_ENTRY_FIELDS)} (and optionally "
                        f"{', '.join(_OPTIONAL_FIELDS)}).{did_you_mean(key, fields)}"
                    )
            for key in _ENTRY_FIELDS:
                if key not in entry:
                    raise ReportInputError(f"{where} lacks the field {key!r}; add it.")
            self._add(
                entry["name"], entry["public_key"], entry["roles"], entry["key_id"], where,
                entry.get("encryption_key"),
            )
        self._source, self._saved = text, len(self._principals)

    # editing -----------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        public_key_pem: str | bytes | Ed25519PublicKey,
        roles: Iterable[str] = (REPORT_SIGNER,),
        *,
        encryption_key: str | bytes | None = None,
    ) -> Principal:
        """Trust a new key under ``name`` with ``roles``; return the new principal.

        ``encryption_key`` is the principal's X25519 public key (32 raw bytes, or unpadded
        base64url of them) for access by role. Refuses a name or key already in the store
        (remove the old entry from the file first).
        """
        where = "The new trusted key"
        pem = public_key_pem
        if isinstance(pem, _ed().Ed25519PublicKey):
            pem = _pem_text(pem)
        if isinstance(roles, str):
            roles = [roles]
        return self._add(name, pem, list(roles), None, where, encryption_key)

    def _add(
        self, name: Any, pem: Any, roles: Any, listed_id: Any, where: str, encryption: Any = None
    ) -> Principal:
        name = _check_name(name, where)
        where = f"{where} ({name!r})"
        key = pem_public_key(pem, f"{where}: its public_key")
        kid = key_id(key)
        if listed_id is not None:
            if not isinstance(listed_id, str) or not _KEY_ID.fullmatch(listed_id):
                raise ReportInputError(
                    f"{where}: key_id must be 16 lower-case hex digits; this key's id is {kid}."
                )
            if listed_id != kid:
                raise ReportInputError(
                    f"{where}: key_id {listed_id} does not match its public key (whose key id is "
                    f"{kid}). Check which key you meant to trust, then fix key_id or the key."
                )
        roles = _check_roles(roles, where)
        encryption = _check_encryption_key(encryption, where)
        for other in self._principals:
            if other.name.casefold() == name.casefold():
                raise ReportInputError(
                    f"{where}: the name {name!r} is already used by key {other.key_id}; names "
                    "must be unique. Choose another name or remove the old entry."
                )
            if other.key_id == kid:
                raise ReportInputError(
                    f"{where}: key {kid} is already trusted as {other.name!r}; list each key "
                    "once (give that entry every role it needs)."
                )
            if encryption is not None and other.encryption_key == encryption:
                raise ReportInputError(
                    f"{where}: its encryption_key is already that of {other.name!r}; every "
                    "principal needs its own key pair (`auditkit access identity new`)."
                )
        principal = Principal(name, kid, _pem_text(key), roles, encryption)
        self._principals.append(principal)
        return principal

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the store atomically (mode 0644) to ``path`` (default: where it was loaded).

        Entries loaded from a file are kept as written, comments included; added ones are
        appended. The parent directory is created (mode 0700) when missing.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ReportInputError(
                "TrustStore.save needs a path: this store was not loaded from a file."
            )
        text = (
            self._source
            if self._source
            else f"# auditkit trust store\nversion = {FORMAT_VERSION}\n"
        )
        if text and not text.endswith("\n"):
            text += "\n"
        for principal in self._principals[self._saved :]:
            text += "\n" + _render(principal)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_text(target, text, mode=0o644)
        self._source, self._saved, self.path = text, len(self._principals), target
        return target

    # reading -----------------------------------------------------------------------------------

    def find(self, kid: str) -> Principal | None:
        """The principal whose key id is ``kid``, or None."""
        return next((p for p in self._principals if p.key_id == kid), None)

    def find_name(self, name: str) -> Principal | None:
        """The principal called ``name`` (compared case-insensitively), or None."""
        folded = name.casefold() if isinstance(name, str) else None
        return next((p for p in self._principals if p.name.casefold() == folded), None)

    def trusts(self, key: str | Ed25519PublicKey, role: str = REPORT_SIGNER) -> bool:
        """Whether ``key`` (a key id, or a public key compared in full) holds ``role``."""
        if isinstance(key, str):
            principal = self.find(key)
            return principal is not None and role in principal.roles
        principal = self.find(key_id(key))
        return (
            principal is not None
            and role in principal.roles
            and raw_public(principal.key()) == raw_public(key)
        )

    @property
    def principals(self) -> tuple[Principal, ...]:
        """Every trusted key, in file order."""
        return tuple(self._principals)

    def __iter__(self) -> Iterator[Principal]:
        return iter(self.principals)

    def __len__(self) -> int:
        return len(self._principals)

    def __repr__(self) -> str:
        return f"TrustStore(path={str(self.path) if self.path else None!r}, principals={len(self)})"


def _render(p: Principal) -> str:
    return (
        "[[signer]]\n"
        f"name = {json.dumps(p.name, ensure_ascii=False)}\n"
        f'key_id = "{p.key_id}"\n'
        f"roles = [{', '.join(json.dumps(r) for r in p.roles)}]\n"
        + (f'encryption_key = "{p.encryption_key}"\n' if p.encryption_key else "")
        + f'public_key = """\n{p.public_key.strip()}\n"""\n'
    )
