"""The signed form of an access policy, its verification, and the serials seen on this machine.

A signed policy file is one line of canonical JSON (keys sorted, no spaces, ASCII only) and a
newline::

    {"policy":{...the body...},"signature":{"key_id":"<16 hex>","name":"<admin>",
     "public_key":"<b64url Ed25519 public>","sig":"<128 hex>"}}

``sig`` is Ed25519 over the canonical JSON of ``policy``. The policy's *hash* is the SHA-256 hex
of the canonical JSON of the whole document (what ``previous`` of the next serial and the
``policy`` field of a version-2 file header name). A file that is not byte for byte in this
form is refused, so no edit of any byte (even white space) goes unnoticed.

The serials seen are kept in ``$XDG_STATE_HOME/auditkit/policy-serials.json`` (``~/.local/state``
when unset; mode 0600, replaced atomically under a lock): a policy older than the newest seen
for its ``policy_id``, or a second policy with the same serial and other content, is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from auditkit.atomic import atomic_write_text
from auditkit.privacy.crypto import b64d, b64e
from auditkit.privacy.errors import PolicyError

__all__ = ["SERIALS_FILE", "canonical", "check_serial", "serials_path", "sign_document", "verify_document"]

MAX_POLICY_BYTES = 4 << 20
SERIALS_FILE = "policy-serials.json"
_SIG_FIELDS = ("key_id", "name", "public_key", "sig")


def canonical(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def document_hash(doc: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of a signed policy document."""
    return hashlib.sha256(canonical(doc)).hexdigest()


def sign_document(body: Mapping[str, Any], signer: Any) -> dict[str, Any]:
    """``{"policy": body, "signature": {...}}`` signed by ``signer`` (an access Identity)."""
    raw = signer.public_key_raw()
    return {
        "policy": dict(body),
        "signature": {
            "key_id": signer.key_id,
            "name": signer.name,
            "public_key": b64e(raw),
            "sig": signer.sign(canonical(body)).hex(),
        },
    }


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise PolicyError("duplicate key")
    return out


def parse_document(data: bytes, where: str) -> dict[str, Any]:
    """The signed document in ``data``, refused unless it is exactly in the canonical form."""
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, PolicyError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise PolicyError(
            f"{where} is not a signed access policy (not the JSON `auditkit access policy sign` "
            "writes). Sign the draft with `auditkit access policy sign DRAFT --identity ADMIN`."
        )
    if "signature" not in doc:
        raise PolicyError(
            f"{where} is not signed: it has no 'signature'. An unsigned policy grants nothing; sign "
            "it with `auditkit access policy sign DRAFT --identity ADMIN`."
        )
    if set(doc) != {"policy", "signature"} or canonical(doc) + b"\n" != data:
        raise PolicyError(
            f"{where} was edited after it was signed (it is not byte for byte what auditkit "
            "wrote). Edit the TOML draft instead and sign it again."
        )
    return doc


def verify_document(doc: Mapping[str, Any], where: str) -> dict[str, str]:
    """The signature block of ``doc`` after checking that it verifies over ``doc["policy"]``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = doc.get("signature")
    ok = isinstance(sig, dict) and set(sig) == set(_SIG_FIELDS) and all(isinstance(v, str) for v in sig.values())
    try:
        raw = b64d(sig["public_key"]) if ok else b""
        signature = bytes.fromhex(sig["sig"]) if ok else b""
    except ValueError:
        raw = signature = b""
    if len(raw) != 32 or len(signature) != 64 or hashlib.sha256(raw).hexdigest()[:16] != sig["key_id"]:
        raise PolicyError(
            f"{where} has a malformed signature block (it needs key_id, name, public_key and sig "
            "as auditkit writes them). Sign the draft again."
        )
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, canonical(doc["policy"]))
    except (InvalidSignature, ValueError):
        raise PolicyError(
            f"{where}: the signature does not verify; the policy was edited after it was signed. "
            "Edit the TOML draft instead and sign it again."
        ) from None
    return dict(sig)


def check_trusted_admin(sig: Mapping[str, str], store: Any, where: str) -> None:
    """Refuse unless the signer's key is in the trust store with ``access-admin`` under its name."""
    from auditkit.reports.trust import ACCESS_ADMIN

    principal = store.find(sig["key_id"])
    fix = (
        f"Have an administrator trusted with the role {ACCESS_ADMIN!r} sign it (`auditkit access "
        f"identity new ADMIN --out FILE --trust-store STORE --role {ACCESS_ADMIN}`)."
    )
    if principal is None:
        raise PolicyError(f"{where} is signed by key {sig['key_id']}, which the trust store does not list. {fix}")
    if ACCESS_ADMIN not in principal.roles:
        raise PolicyError(
            f"{where} is signed by {principal.name!r} (key {principal.key_id}), who does not hold the "
            f"role {ACCESS_ADMIN!r} in the trust store. {fix}"
        )
    if not store.trusts(_public(sig["public_key"]), ACCESS_ADMIN) or principal.name != sig["name"]:
        raise PolicyError(f"{where}: its signer does not match the trust store's entry for key {sig['key_id']}. {fix}")


def _public(b64: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(b64d(b64))


# -- serials seen on this machine -----------------------------------------------------------------


def serials_path() -> Path:
    """``$XDG_STATE_HOME/auditkit/policy-serials.json`` (``~/.local/state/...`` when unset)."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "auditkit" / SERIALS_FILE


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise PolicyError(
            f"Cannot write the record of access-policy serials in {str(path.parent)!r} "
            f"({exc.strerror}); it guards against rollback. Make the directory writable or set "
            "XDG_STATE_HOME to a writable directory."
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_serials(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    bad = f"The record of access-policy serials {str(path)!r}"
    if stat.S_IMODE(st.st_mode) & 0o022:
        raise PolicyError(f"{bad} is writable by other users, so a rollback could be hidden. Run: chmod 600 {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        table = doc["policies"]
    except (OSError, ValueError, KeyError, TypeError):
        table = None
    if not isinstance(table, dict) or doc.get("version") != 1:
        raise PolicyError(
            f"{bad} is unreadable or damaged; it guards against rollback. Restore it, or remove it "
            "deliberately to trust the next policy you load."
        )
    return table


def check_serial(policy_id: str, serial: int, digest: str, where: str) -> None:
    """Refuse a serial older than the newest seen for ``policy_id`` (or the same with other content);
    record a newer one."""
    path = serials_path()
    with _locked(path):
        table = _read_serials(path)
        seen = table.get(policy_id)
        if isinstance(seen, dict) and type(seen.get("serial")) is int:
            if serial < seen["serial"]:
                raise PolicyError(
                    f"{where} has serial {serial}, older than serial {seen['serial']} already seen on this "
                    "machine for the same policy: an old policy cannot come back (it may lack a revocation). "
                    "Use the newest signed policy."
                )
            if serial == seen["serial"]:
                if seen.get("hash") != digest:
                    raise PolicyError(
                        f"{where} has serial {serial} but differs from the policy with that serial seen "
                        "before; two policies were signed with one serial. Sign a new one (serial + 1)."
                    )
                return
        table[policy_id] = {"serial": serial, "hash": digest}
        atomic_write_text(path, json.dumps({"version": 1, "policies": table}, indent=1) + "\n", mode=0o600)


def highest_serial(policy_id: str) -> int | None:
    """The newest serial seen on this machine for ``policy_id``, or None."""
    seen = _read_serials(serials_path()).get(policy_id)
    return seen.get("serial") if isinstance(seen, dict) else None
