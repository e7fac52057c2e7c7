"""The signed manifest's format: its file names, the exact bytes signed, the signature encoding.

``manifest.json`` is the JSON below with sorted keys, two-space indents, ASCII only and one
trailing newline; ``manifest.sig`` is the base64 of the 64-byte Ed25519 signature over those
exact bytes, plus one newline. Writing (:mod:`auditkit.reports.signing`) and verifying
(:func:`auditkit.reports.signing.verify`) both read the format from here; docs/reports.md
specifies it byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from auditkit.reports._keys import key_id, raw_public
from auditkit.reports._model import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "SIGNATURE_NAME",
    "decode_signature",
    "encode_signature",
    "fingerprint",
    "manifest_bytes",
    "safe_relative",
]

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
MANIFEST_VERSION = 1


def fingerprint(path: Path) -> dict[str, Any]:
    """A file's manifest entry: ``{"sha256": hex digest, "size": bytes}``."""
    digest, size = sha256_file(path)
    return {"sha256": digest, "size": size}


def manifest_bytes(
    public: Ed25519PublicKey, inputs: dict[str, Any], files: dict[str, Any], created_at: str,
    trail: dict[str, Any] | None = None,
) -> bytes:
    """The exact bytes of ``manifest.json``: what the signature covers. ``trail`` (optional,
    ``{"trail_id", "seq", "hash"}``: the audit trail's head when the report was signed) is
    written under the key ``"trail"`` only when given."""
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "algorithm": "ed25519",
        "hash": "sha256",
        "created_at": created_at,
        "key_id": key_id(public),
        "public_key": base64.b64encode(raw_public(public)).decode("ascii"),
        "inputs": inputs,
        "files": files,
    }
    if trail is not None:
        manifest["trail"] = trail
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode(
        "ascii"
    )


def encode_signature(signature: bytes) -> bytes:
    """The content of ``manifest.sig``: the signature's base64 and one newline."""
    return base64.b64encode(signature) + b"\n"


def decode_signature(text: bytes) -> bytes | None:
    """The 64 signature bytes, only when ``text`` is exactly their base64 plus a newline."""
    try:
        sig = base64.b64decode(text.rstrip(b"\n"), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(sig) != 64 or encode_signature(sig) != text:
        return None
    return sig


def safe_relative(name: str) -> bool:
    """Whether a path the manifest names stays inside the report directory (relative, no
    ``..``, no backslash)."""
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name
