"""Field checks of parsed trail lines (one table per kind) and Ed25519 signature checks."""

from __future__ import annotations

import binascii
import hashlib
import re
from typing import Any

from auditkit.privacy.trail import _format as fmt
from auditkit.privacy.trail._values import ACTIONS, OUTCOMES, is_command_name

__all__ = ["check_fields", "signature_problem"]

_HEX = {n: re.compile(f"[0-9a-f]{{{n}}}") for n in (16, 32, 64)}
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_COMMON = ("prev", "cmd", "kind", "seq", "time", "hash")
_WHO = ("principal", "auth", "key_id")


def _hex(n: int):
    return lambda v: isinstance(v, str) and bool(_HEX[n].fullmatch(v))


def _int(low: int = 0):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _text(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 4096 and v.isprintable()


def _resource(v: Any) -> bool:
    return v is None or (isinstance(v, dict) and set(v) == {"path", "sha256"} and _text(v["path"])
                         and (v["sha256"] is None or _hex(64)(v["sha256"])))


def _ranges(v: Any) -> bool:
    if not isinstance(v, list):
        return False
    last = -1
    for pair in v:
        if (not isinstance(pair, list) or len(pair) != 2 or not all(map(_int(), pair))
                or pair[0] > pair[1] or pair[0] <= last):
            return False
        last = pair[1]
    return True


_FIELDS: dict[str, dict[str, Any]] = {
    "g": {"format": lambda v: v == fmt.FORMAT, "version": lambda v: v == fmt.VERSION,
          "trail_id": _hex(32), "segment_bytes": _int(1)},
    "n": {"segment": _int(2)},
    "r": {"segment": _int(1), "cut_bytes": _int(1), "cut_sha256": _hex(64)},
    "e": {"principal": _text, "auth": lambda v: v in ("key", "none"),
          "key_id": lambda v: v is None or _hex(16)(v), "action": lambda v: v in ACTIONS,
          "resource": _resource, "outcome": lambda v: v in OUTCOMES,
          "params": lambda v: isinstance(v, dict) and len(v) <= 16},
    "s": {"principal": _text, "auth": lambda v: v in ("key", "none"),
          "key_id": lambda v: v is None or _hex(16)(v),
          "public_key": lambda v: v is None or isinstance(v, str),
          "command": is_command_name, "params": lambda v: isinstance(v, dict),
          "outcome": lambda v: v in OUTCOMES,
          "exit_code": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
          "events": _ranges},
    "c": {"principal": _text, "auth": lambda v: v == "key", "key_id": _hex(16),
          "public_key": lambda v: isinstance(v, str), "trail_id": _hex(32), "head_seq": _int()},
}


def check_fields(obj: dict[str, Any] | None, kind: str) -> str | None:
    """What is wrong with a parsed line of ``kind`` (a sentence without values), or None."""
    if obj is None:
        return "the line is not a JSON object"
    table = _FIELDS.get(kind)
    if table is None or obj.get("kind") != kind:
        return "the line has an unknown kind"
    signed = kind == "c" or (kind == "s" and obj.get("auth") == "key")
    expected = {*_COMMON, *table, *(("sig",) if signed else ())}
    if set(obj) != expected:
        return f"the {kind!r} line's fields are not the format's fields"
    if not (_hex(64)(obj["prev"]) and _hex(32)(obj["cmd"]) and _int()(obj["seq"])
            and isinstance(obj["time"], str) and _TIME.fullmatch(obj["time"])):
        return "a fixed field (prev, cmd, seq or time) is malformed"
    for name, ok in table.items():
        if not ok(obj[name]):
            return f"the field {name!r} of a {kind!r} line is malformed"
    if kind in "esc" and (obj["auth"] == "key") == obj["principal"].startswith("os:"):
        return "an unauthenticated line must name an 'os:' principal, and a signed one must not"
    if kind in "es" and (obj["auth"] == "key") != (obj["key_id"] is not None):
        return "the fields 'auth' and 'key_id' disagree"
    if kind == "s" and (obj["auth"] == "key") != (obj["public_key"] is not None):
        return "the fields 'auth' and 'public_key' disagree"
    return None


def signature_problem(line: bytes, obj: dict[str, Any], cache: dict[str, Any]) -> str | None:
    """What is wrong with the Ed25519 signature of a signed line (without newline), or None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    split = fmt.split_signed(line)
    if split is None:
        return "the signature is missing or malformed"
    message, sig = split
    key = cache.get((obj["public_key"], obj["key_id"]))
    if key is None:
        try:
            raw = fmt.b64d(obj["public_key"])
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            return "the public key is not 32 bytes of base64url"
        if hashlib.sha256(raw).hexdigest()[:16] != obj["key_id"]:
            return "the key id is not the public key's id"
        key = cache[(obj["public_key"], obj["key_id"])] = Ed25519PublicKey.from_public_bytes(raw)
    try:
        key.verify(sig, message)
    except InvalidSignature:
        return "the signature does not verify"
    return None
