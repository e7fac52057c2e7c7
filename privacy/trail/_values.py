"""The trail's vocabulary and the checks on what callers record (actions, params, resources)."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from auditkit.hints import did_you_mean
from auditkit.privacy.errors import TrailError

__all__ = [
    "ACTIONS",
    "OUTCOMES",
    "Signer",
    "check_action",
    "check_outcome",
    "check_params",
    "check_resource",
    "check_signer",
    "file_sha256",
]

#: Every action a trail event may name (``command`` is a seal's implicit action).
ACTIONS: frozenset[str] = frozenset(
    """encrypt decrypt rewrap rotate keys.init keys.trust scan mask tokenise detokenise pseudonymise
    train.start train.stop train.cap ledger.settle ledger.record audit.run report.sign report.verify
    gate monitor compare access.grant access.revoke access.policy access.identity access.migrate
    access.check trail.verify trail.export trail.checkpoint command""".split()
)
#: The outcome of an event or a command.
OUTCOMES = ("ok", "denied", "error")

MAX_PARAMS = 16
MAX_TEXT = 120
MAX_RESOURCE = 4096
_KEY = re.compile(r"[a-z_][a-z0-9_]{0,39}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")


@runtime_checkable
class Signer(Protocol):
    """What signs seals and checkpoints (``auditkit.privacy.access.Identity`` is one)."""

    name: str
    key_id: str

    def public_key_raw(self) -> bytes:
        """The 32 raw bytes of the Ed25519 public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of ``message``."""
        ...


def check_action(action: Any, where: str = "record") -> str:
    """``action`` when it is in :data:`ACTIONS`, else TrailError with the closest name."""
    if not isinstance(action, str) or action not in ACTIONS:
        shown = repr(action[:40]) if isinstance(action, str) and action.isprintable() else "that value"
        raise TrailError(
            f"The 'action' of {where}() must be one of the trail's actions "
            f"({', '.join(sorted(ACTIONS))}); got {shown}.{did_you_mean(str(action), ACTIONS)}"
        )
    return action


_COMMAND_NAME = re.compile(r"[a-z][a-z0-9._-]{0,39}( [a-z][a-z0-9._-]{0,39}){0,3}")


def is_command_name(name: Any) -> bool:
    """Whether ``name`` can name a command: an action, or up to 4 lower-case CLI words."""
    return isinstance(name, str) and (name in ACTIONS or bool(_COMMAND_NAME.fullmatch(name)))


def check_command_name(name: Any) -> str:
    """``name`` for a command seal (e.g. ``"keys rotate"`` or ``"audit.run"``), else TrailError."""
    if not is_command_name(name):
        shown = repr(name[:40]) if isinstance(name, str) and name.isprintable() else "that value"
        raise TrailError(
            "The name of command() must be an action of the trail or up to 4 lower-case words "
            f"of letters, digits, '.', '_' or '-' (e.g. 'keys rotate'); got {shown}."
        )
    return name


def check_outcome(outcome: Any, where: str = "record") -> str:
    """``outcome`` when it is one of :data:`OUTCOMES`."""
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        shown = repr(outcome[:20]) if isinstance(outcome, str) and outcome.isprintable() else "that value"
        raise TrailError(
            f"The 'outcome' of {where}() must be one of {', '.join(OUTCOMES)}; got "
            f"{shown}.{did_you_mean(str(outcome), OUTCOMES)}"
        )
    return outcome


def _check_value(key: str, value: Any, where: str) -> None:
    if value is None or isinstance(value, bool) or (isinstance(value, int) and -(2**63) <= value < 2**63):
        return
    if isinstance(value, int):
        problem = "an int outside the 64-bit range"
    elif isinstance(value, float):
        if math.isfinite(value):
            return
        problem = "a float that is not finite"
    elif isinstance(value, str):
        if len(value) <= MAX_TEXT and value.isprintable():
            return
        problem = (f"a str of {len(value)} characters" if len(value) > MAX_TEXT
                   else "a str with non-printable characters")
    else:
        problem = f"a {type(value).__name__}"
    raise TrailError(
        f"The trail parameter {key!r} of {where}() must be a bool, int, finite float, None or "
        f"printable text of at most {MAX_TEXT} characters; got {problem}. Record a count, a "
        "name or a flag — never a data value, a secret or a passphrase."
    )


def check_params(params: Any, where: str = "record") -> dict[str, Any]:
    """A copy of ``params`` after checking keys, count and values (messages never show a value)."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TrailError(
            f"The 'params' of {where}() must be a mapping of names to plain values; got a "
            f"{type(params).__name__}."
        )
    if len(params) > MAX_PARAMS:
        raise TrailError(
            f"The 'params' of {where}() may hold at most {MAX_PARAMS} entries; got {len(params)}. "
            "Record only the parameters that explain the operation."
        )
    out: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            shown = repr(key) if isinstance(key, str) and key.isprintable() and len(key) <= 60 else "a key"
            raise TrailError(
                f"The 'params' of {where}() has {shown} that is not a parameter name: expected "
                "lower-case letters, digits and '_', starting with a letter or '_', at most 40."
            )
        _check_value(key, value, where)
        out[key] = value
    return out


def check_resource(resource: Any, sha256: Any, where: str = "record") -> dict[str, Any] | None:
    """``{"path", "sha256"}`` for the event, or None. A path-like becomes an absolute path."""
    if sha256 is not None and (not isinstance(sha256, str) or not _HEX64.fullmatch(sha256)):
        raise TrailError(
            f"The 'sha256' of {where}() must be 64 lower-case hex digits (file_sha256(path) gives "
            "it) or None."
        )
    if resource is None:
        if sha256 is not None:
            raise TrailError(f"{where}() got a 'sha256' without a 'resource'; give the resource too.")
        return None
    if isinstance(resource, os.PathLike):
        text = os.path.abspath(os.fspath(resource))
    elif isinstance(resource, str):
        text = resource
    else:
        raise TrailError(
            f"The 'resource' of {where}() must be a path or a resource name (str); got a "
            f"{type(resource).__name__}."
        )
    if not text or len(text) > MAX_RESOURCE or not text.isprintable():
        raise TrailError(
            f"The 'resource' of {where}() must be non-empty printable text of at most "
            f"{MAX_RESOURCE} characters."
        )
    return {"path": text, "sha256": sha256}


def check_signer(signer: Any) -> Any:
    """``signer`` when it looks like a :class:`Signer` whose key id matches its key."""
    if not isinstance(signer, Signer):
        raise TrailError(
            "The 'signer' of bind() must have 'name', 'key_id', public_key_raw() and sign() "
            f"(e.g. an auditkit.privacy.access.Identity); got a {type(signer).__name__}."
        )
    name, kid = signer.name, signer.key_id
    if (not isinstance(name, str) or not name or len(name) > 100 or not name.isprintable()
            or name != name.strip() or name.startswith("os:")):
        raise TrailError(
            "The signer's 'name' must be printable text of 1-100 characters without surrounding "
            "spaces, not starting with 'os:' (which names unauthenticated users). Give the "
            "principal's trust-store name."
        )
    raw = signer.public_key_raw()
    if not isinstance(kid, str) or not _HEX16.fullmatch(kid) or not isinstance(raw, bytes) \
            or len(raw) != 32 or hashlib.sha256(raw).hexdigest()[:16] != kid:
        raise TrailError(
            f"The signer {name!r} has a key_id that is not the first 16 hex digits of SHA-256 of "
            "its 32-byte public key. Load the identity again."
        )
    return signer


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex of a file's bytes, read in 1 MiB chunks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    try:
        with open(Path(path), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise TrailError(
            f"Cannot read {path} to record its SHA-256 in the audit trail: {exc.strerror}."
        ) from None
    return digest.hexdigest()
