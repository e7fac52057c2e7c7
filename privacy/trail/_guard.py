"""The access guard: an operation asks before it acts, and access by role answers.

Operations on data, keys and reports call :func:`enforce` with the permission they need
(``decrypt``, ``detokenise``, ``mask``, ``train``, ``audit``, ``sign``, ``administer-keys``) and
the resource. Without an access policy (the legacy one-ring model) it returns: whoever holds the
keys may act. With one, the enforcer that :func:`auditkit.privacy.access.activate` installs
decides, refusing with :class:`~auditkit.privacy.errors.AccessDenied` (recorded in the trail).

The guard lives here, at the bottom of ``auditkit.privacy``, so that crypto, masking and DP
training can ask without importing the access package. A policy named by
``$AUDITKIT_ACCESS_POLICY`` is activated on the first question, by loading the access package
as a plug-in (:func:`importlib.import_module`).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditkit.privacy.trail._session import _SESSION, _binding

__all__ = ["POLICY_ENV", "current_signer", "enforce", "enforcer", "in_command", "set_enforcer"]

#: The environment variable naming the signed access policy in force.
POLICY_ENV = "AUDITKIT_ACCESS_POLICY"

Enforcer = Callable[[str, "str | os.PathLike[str] | None"], None]

_LOCK = threading.Lock()
_ENFORCER: Enforcer | None = None


def set_enforcer(fn: Enforcer | None) -> Enforcer | None:
    """Install ``fn`` as the process's access enforcer (None: legacy); return the previous one."""
    global _ENFORCER
    with _LOCK:
        previous, _ENFORCER = _ENFORCER, fn
    return previous


def enforcer() -> Enforcer | None:
    """The installed enforcer, or None (no policy active)."""
    return _ENFORCER


def in_command() -> bool:
    """Whether a command session is active here (``bind`` then configures it, not the process)."""
    return _SESSION.get() is not None


def current_signer() -> Any:
    """The signer bound to the current command (or the process), or None: who acts, with keys."""
    return _binding().signer


def enforce(permission: str, resource: str | os.PathLike[str] | Path | None = None) -> None:
    """Return when the acting principal may use ``permission`` on ``resource``.

    Raises
    ------
    AccessDenied
        An access policy is active and does not grant it; the refusal is in the trail.
    """
    if isinstance(resource, str):
        # an operation's resource is a file: a string path means the same file as Path(string)
        # (relative to the working directory), never a bare name the policy would take as given
        resource = Path(resource)
    fn = _ENFORCER
    if fn is None and os.environ.get(POLICY_ENV):
        access = importlib.import_module("auditkit.privacy.access")
        fn = access.activate_from_env()
    if fn is not None:
        fn(permission, resource)
