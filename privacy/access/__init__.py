"""Access by role: principals with key pairs, a signed policy of roles, keys wrapped by entitlement.

- :class:`Identity` — a principal's Ed25519 (signing) and X25519 (key wrapping) key pairs, kept
  encrypted at rest like the key ring (``NAME.identity.json``, mode 0600). It signs audit-trail
  seals (:class:`auditkit.privacy.trail.Signer`) and opens version-2 files wrapped to it.
- :class:`Policy` — roles (``auditor``, ``engineer``, ...) mapping to :data:`PERMISSIONS` on
  resources, and principals holding roles. Written as a TOML draft (:func:`draft_template`,
  :func:`read_draft`), signed by an administrator (:func:`sign_policy`) and accepted by
  :meth:`Policy.load` only when the signature verifies, the signer holds the trust-store role
  ``access-admin`` and the serial is not older than one seen on this machine: editing the file
  grants nothing. :meth:`Policy.require` enforces the checks that cannot be cryptographic and
  records refusals in the audit trail; :meth:`Policy.recipients_for` says to whom a file's data
  key is wrapped, so that a principal without a grant cannot decrypt at all.
- :func:`grant` / :func:`revoke` — the next signed policy and the files' headers rewrapped
  without re-encrypting data. Revocation cannot recall what was already decrypted.
- :func:`seal_ring` / :func:`open_ring` — the key ring (detokenisation keys) wrapped to the
  holders of ``detokenise`` or ``administer-keys``.
- :func:`migrate` — a single-passphrase key ring moved into the role model; without a policy
  the ring holder stays one principal (``keyring:<id>``) with every permission
  (:meth:`Policy.legacy`).

Errors (:mod:`auditkit.privacy.errors`): :class:`~auditkit.privacy.errors.PolicyError` for a
policy that is unsigned, edited, untrusted, malformed or rolled back;
:class:`~auditkit.privacy.errors.AccessDenied` for a refused permission;
:class:`~auditkit.privacy.errors.DecryptionError` (opaque) when nothing is wrapped to a principal.
See docs/access.md.
"""

from auditkit.privacy.access._body import PERMISSIONS
from auditkit.privacy.access._changes import (
    AccessChange,
    check_admin,
    grant,
    revoke,
    rewrap_to_policy,
)
from auditkit.privacy.access._draft import draft_template, read_draft
from auditkit.privacy.access._enforce import activate, activate_from_env
from auditkit.privacy.access._identity import Identity, PublicIdentity, kek_kind_of, read_public
from auditkit.privacy.access._migrate import ADMIN_ROLE, Migration, migrate
from auditkit.privacy.access._policy import (
    POLICY_ENV,
    POLICY_FILE,
    Policy,
    find_policy,
    load_policy,
    sign_policy,
)
from auditkit.privacy.access._ring import RING_ENVELOPE, open_ring, seal_ring
from auditkit.privacy.access._signed import serials_path

__all__ = [
    "ADMIN_ROLE",
    "PERMISSIONS",
    "POLICY_ENV",
    "POLICY_FILE",
    "RING_ENVELOPE",
    "AccessChange",
    "activate",
    "activate_from_env",
    "check_admin",
    "kek_kind_of",
    "Identity",
    "Migration",
    "Policy",
    "PublicIdentity",
    "draft_template",
    "find_policy",
    "grant",
    "load_policy",
    "migrate",
    "open_ring",
    "read_draft",
    "read_public",
    "revoke",
    "rewrap_to_policy",
    "seal_ring",
    "serials_path",
    "sign_policy",
]
