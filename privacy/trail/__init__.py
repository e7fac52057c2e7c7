"""The tamper-evident audit trail: who did what to which data, when, with what result.

Every operation on data, keys, budgets and reports appends one event (:func:`record`) to a
hash-chained, append-only trail; each command's events are closed by a seal signed with the
acting principal's key (:func:`command`, :func:`bind`), and an administrator countersigns
checkpoints (:meth:`Trail.checkpoint`). :meth:`Trail.verify` names the first edited, missing,
inserted, reordered or truncated line. The format is specified in docs/trail.md.

>>> from auditkit.privacy.trail import command, record          # doctest: +SKIP
>>> with command("decrypt"):                                     # doctest: +SKIP
...     record("decrypt", resource=Path("data.enc"), params={"rows": 1000})

Errors: :class:`~auditkit.privacy.errors.TrailError` (bad argument, or the trail cannot be
written or read) and :class:`~auditkit.privacy.errors.TrailIntegrityError` (for callers that
need a verified trail; :meth:`Trail.verify` itself returns a result).
"""

from auditkit.privacy.errors import TrailError, TrailIntegrityError
from auditkit.privacy.trail._guard import (
    POLICY_ENV,
    current_signer,
    enforce,
    enforcer,
    in_command,
    set_enforcer,
)
from auditkit.privacy.trail._session import (
    TRAIL_ENV,
    CommandSession,
    bind,
    command,
    current_principal,
    record,
    trail_location,
)
from auditkit.privacy.trail._store import DEFAULT_SEGMENT_BYTES
from auditkit.privacy.trail._trail import Checkpoint, Event, Trail
from auditkit.privacy.trail._trust import trust_key_ring
from auditkit.privacy.trail._values import ACTIONS, OUTCOMES, Signer, file_sha256
from auditkit.privacy.trail._verify import BadEvent, UnverifiedTail, VerifyResult

__all__ = [
    "ACTIONS",
    "DEFAULT_SEGMENT_BYTES",
    "OUTCOMES",
    "POLICY_ENV",
    "TRAIL_ENV",
    "BadEvent",
    "Checkpoint",
    "CommandSession",
    "Event",
    "Signer",
    "Trail",
    "TrailError",
    "TrailIntegrityError",
    "UnverifiedTail",
    "VerifyResult",
    "bind",
    "command",
    "current_principal",
    "current_signer",
    "enforce",
    "enforcer",
    "in_command",
    "file_sha256",
    "record",
    "set_enforcer",
    "trail_location",
    "trust_key_ring",
]
