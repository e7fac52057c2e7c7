"""Access by role: ``auditkit access identity|policy|grant|revoke|check|migrate|encrypt|decrypt``.

An identity's passphrase comes from the environment variable named by ``--passphrase-env``
(default ``AUDITKIT_IDENTITY_PASSPHRASE``) or, when that is unset, from a hidden prompt; for an
identity protected by a key-encryption key (``identity new --kek-env NAME``) that variable holds
the key. Secrets and private keys are never printed: only names, key ids and public keys.
``auditkit.privacy.access`` is imported inside the commands, so ``auditkit --help`` stays light.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditkit.commands import _common

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.access import Identity, Policy

DEFAULT_IDENTITY_PASSPHRASE_ENV = "AUDITKIT_IDENTITY_PASSPHRASE"

PassEnvOpt = Annotated[str, typer.Option(
    "--passphrase-env",
    help="Environment variable holding the identity's passphrase (or key-encryption key); when "
    "unset, the passphrase is asked for with a hidden prompt.",
)]
IdentityOpt = Annotated[Path, typer.Option(
    "--identity", "-i", help="Identity file (NAME.identity.json) of the administrator who signs.",
    show_default=False,
)]
PolicyOpt = Annotated[Path | None, typer.Option(
    "--policy", "-p", help="Signed access policy (default: $AUDITKIT_ACCESS_POLICY).", show_default=False,
)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]
FilesArg = Annotated[list[Path] | None, typer.Argument(
    help="Version-2 encrypted files whose headers to rewrap to the new policy.", show_default=False,
)]


def _refuse_overwrite(dst: Path, force: bool) -> None:
    _common.sweep_leftovers(dst)
    if dst.exists() and not force:
        from auditkit.privacy.errors import PrivacyInputError

        raise PrivacyInputError(f"The output file '{dst}' already exists; choose another path or pass --force.")


def _load_identity(path: Path, passphrase_env: str, *, bind: bool = True) -> Identity:
    """The identity at ``path``, opened with ``$passphrase_env`` or a hidden prompt; it signs the
    command's trail seal when ``bind``."""
    from auditkit.privacy.access import Identity, kek_kind_of

    if kek_kind_of(path) == "env":
        identity = Identity.load(path, kek_env=passphrase_env)
    elif os.environ.get(passphrase_env):
        identity = Identity.load(path, passphrase=os.environ[passphrase_env])
    else:
        secret = typer.prompt(f"Passphrase of the identity {path}", hide_input=True, show_default=False)
        identity = Identity.load(path, passphrase=secret)
    if bind:
        from auditkit.privacy import trail

        trail.bind(signer=identity)
    return identity


def _policy(path: Path | None, trust_store: Path | None) -> Policy:
    from auditkit.privacy.access import POLICY_ENV, load_policy
    from auditkit.privacy.errors import PolicyError

    policy = load_policy(path, trust_store=trust_store)
    if policy is None:
        raise PolicyError(
            f"No access policy given: pass --policy FILE or set {POLICY_ENV}. Create one with "
            "`auditkit access policy init` and `auditkit access policy sign`, or `auditkit access migrate`."
        )
    return policy


# -- identity new ----------------------------------------------------------------------------------


def identity_new(
    name: Annotated[str, typer.Argument(help="The principal's name, e.g. alice.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Identity file to write (mode 0600).",
                                      show_default=False)],
    passphrase_env: PassEnvOpt = DEFAULT_IDENTITY_PASSPHRASE_ENV,
    kek_env: Annotated[str | None, typer.Option(
        "--kek-env", help="Protect it with a key-encryption key in this environment variable (services).",
    )] = None,
    trust_store: _common.TrustStoreOption = None,
    role: Annotated[list[str] | None, typer.Option(
        "--role", help="With --trust-store: trust-store role to give it (repeatable; default principal; "
        "access-admin to sign policies, trail-admin to countersign trail checkpoints).",
    )] = None,
    force: ForceOpt = False,
) -> int:
    """Create a principal's key pairs (Ed25519 signing, X25519 wrapping); print the public keys."""
    from rich.markup import escape

    from auditkit.privacy.access import Identity

    _refuse_overwrite(out, force)
    identity = Identity.generate(name)
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if kek_env is not None:
        identity.save(out, kek_env=kek_env)
    elif os.environ.get(passphrase_env):
        identity.save(out, passphrase=os.environ[passphrase_env])
    else:
        secret = typer.prompt("New identity passphrase", hide_input=True, confirmation_prompt=True,
                              show_default=False)
        identity.save(out, passphrase=secret)
    from auditkit.privacy import trail

    trail.record("access.identity", resource=out,
                 params={"principal": name, "trusted": trust_store is not None})
    con = _common.console()
    entry = identity.public_entry()
    con.print(escape(f"Created identity {name!r} in {out} (mode 0600)."))
    for key in ("key_id", "signing_key", "encryption_key"):
        con.print(f"{key} = {entry[key]}")
    if trust_store is not None:
        from auditkit.reports.trust import TrustStore

        store = TrustStore.load(trust_store, missing_ok=True)
        added = store.add(name, identity.public_key_pem(), role or ["principal"],
                          encryption_key=identity.encryption_key)
        store.save(trust_store)
        con.print(escape(f"Trusted it in {trust_store} with roles: {', '.join(added.roles)}."))
    return 0


# -- policy init | sign | show -------------------------------------------------------------------


def policy_init(
    out: Annotated[Path, typer.Option("--out", "-o", help="Draft to write.")] = Path("access-policy.toml"),
    force: ForceOpt = False,
) -> int:
    """Write a commented TOML draft of an access policy to edit and then sign."""
    from auditkit.atomic import atomic_write_text
    from auditkit.privacy.access import draft_template

    _refuse_overwrite(out, force)
    atomic_write_text(out, draft_template(), mode=0o644)
    _common.console().print(
        _common.escape(f"Wrote the draft {out}. Add principals, then: auditkit access policy sign {out} "
                       "--identity ADMIN.identity.json --out access-policy.json")
    )
    return 0


def policy_sign(
    draft: Annotated[Path, typer.Argument(help="The TOML draft.", show_default=False)],
    identity: IdentityOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Signed policy to write.")] = Path("access-policy.json"),
    passphrase_env: PassEnvOpt = DEFAULT_IDENTITY_PASSPHRASE_ENV,
    trust_store: _common.TrustStoreOption = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing policy of another policy_id (instead of chaining to it).",
    )] = False,
) -> int:
    """Sign a draft; when OUT holds this policy already, the new one follows it (serial + 1)."""
    from auditkit.privacy import trail
    from auditkit.privacy.access import Policy, check_admin, read_draft, sign_policy
    from auditkit.privacy.errors import PolicyError

    _common.sweep_leftovers(out)
    body = read_draft(draft, trust_store=_store(trust_store))
    admin = _load_identity(identity, passphrase_env)
    check_admin(admin, trust_store)
    previous = Policy.load(out, trust_store=trust_store) if out.exists() else None
    if previous is not None and previous.policy_id != body["policy_id"] and not force:
        raise PolicyError(
            f"'{out}' holds another policy (policy_id {previous.policy_id}); replacing it would drop its "
            "history. Choose another --out, or pass --force."
        )
    if previous is not None and previous.policy_id != body["policy_id"]:
        previous = None
    policy = sign_policy(body, admin, previous=previous, out=out)
    trail.record("access.policy", resource=out, params={"serial": policy.serial, "principals": len(policy.grants())})
    _common.console().print(_common.escape(
        f"Signed {out}: policy {policy.policy_id} serial {policy.serial} by {admin.name!r} "
        f"(key {admin.key_id}); {len(policy.grants())} principal(s)."
    ))
    return 0


def _store(trust_store: Path | None):
    from auditkit.reports.trust import TrustStore

    return TrustStore.load_default(trust_store)


def policy_show(
    policy: PolicyOpt = None,
    trust_store: _common.TrustStoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verified policy body as JSON.")] = False,
) -> int:
    """Verify a signed policy and show its roles and who holds them."""
    import json

    from rich.markup import escape
    from rich.table import Table

    found = _policy(policy, trust_store)
    if as_json:
        typer.echo(json.dumps({"policy": found.body, "signer": found.signer, "hash": found.hash}, indent=1))
        return 0
    con = _common.console()
    con.print(escape(
        f"Access policy {found.path}: id {found.policy_id}, serial {found.serial}, signed by "
        f"{found.signer.get('name')!r} (key {found.signer.get('key_id')}); verified."
    ))
    roles = Table(title="Roles")
    for col in ("role", "permissions"):
        roles.add_column(col)
    for name, perms in found.roles.items():
        roles.add_row(escape(name), escape(", ".join(perms)))
    con.print(roles)
    people = Table(title="Principals")
    for col in ("name", "key id", "roles"):
        people.add_column(col)
    for g in found.grants():
        people.add_row(escape(g["name"]), g["key_id"] or "", escape(", ".join(g["roles"])))
    con.print(people)
    return 0


# -- grant | revoke | check ----------------------------------------------------------------------


def _change(adding: bool, name: str, role: str, files: list[Path] | None, identity: Path,
            policy: Path | None, passphrase_env: str, trust_store: Path | None) -> int:
    from auditkit.privacy.access import grant, revoke

    found = _policy(policy, trust_store)
    admin = _load_identity(identity, passphrase_env)
    _common.sweep_leftovers(*(files or []))
    change = (grant if adding else revoke)(found, name, role, admin=admin, files=files or [],
                                           trust_store=trust_store)
    con = _common.console()
    verb = "Granted" if adding else "Revoked"
    if change.changed_policy:
        con.print(_common.escape(
            f"{verb} role {role!r} {'to' if adding else 'from'} {name!r}: {change.policy.path} is now "
            f"serial {change.policy.serial}."
        ))
    else:
        con.print(_common.escape(f"{name!r} {'already holds' if adding else 'does not hold'} {role!r}; "
                                 "the policy is unchanged."))
    for f in change.rewrapped:
        con.print(_common.escape(f"Rewrapped {f} to the policy's recipients."))
    for f in change.unchanged:
        con.print(_common.escape(f"{f} already matches the policy."))
    if not adding:
        con.print("Revocation cannot recall what was already decrypted, nor an old copy of a header.")
        held = {perm.partition(":")[0] for perm in change.policy.roles.get(role, [])}
        if held & {"detokenise", "administer-keys", "*"}:
            con.print(_common.escape(
                f"{name!r} may have kept the key ring's keys: rotate the ring (auditkit keys rotate) and "
                "seal it again, so that new tokens use a key they never held."
            ))
    return 0


NameArg = Annotated[str, typer.Argument(help="The principal's name.", show_default=False)]
RoleArg = Annotated[str, typer.Argument(help="A role of the policy.", show_default=False)]


def grant_command(name: NameArg, role: RoleArg, identity: IdentityOpt, files: FilesArg = None,
                  policy: PolicyOpt = None, passphrase_env: PassEnvOpt = DEFAULT_IDENTITY_PASSPHRASE_ENV,
                  trust_store: _common.TrustStoreOption = None) -> int:
    """Give NAME the ROLE: sign the next policy and rewrap FILES (and keyring.access) to it."""
    return _change(True, name, role, files, identity, policy, passphrase_env, trust_store)


def revoke_command(name: NameArg, role: RoleArg, identity: IdentityOpt, files: FilesArg = None,
                   policy: PolicyOpt = None, passphrase_env: PassEnvOpt = DEFAULT_IDENTITY_PASSPHRASE_ENV,
                   trust_store: _common.TrustStoreOption = None) -> int:
    """Take ROLE from NAME: sign the next policy and rewrap FILES (and keyring.access) without them."""
    return _change(False, name, role, files, identity, policy, passphrase_env, trust_store)


def check_command(
    name: NameArg,
    action: Annotated[str, typer.Argument(help="A permission: decrypt, detokenise, mask, train, audit, "
                                          "sign, administer-keys.", show_default=False)],
    resource: Annotated[str | None, typer.Argument(help="Resource name or path relative to the policy's "
                                                   "root.", show_default=False)] = None,
    policy: PolicyOpt = None,
    trust_store: _common.TrustStoreOption = None,
) -> int:
    """Say whether NAME may ACTION RESOURCE (exit 0), or refuse and record it (exit 2)."""
    from auditkit.privacy import trail

    found = _policy(policy, trust_store)
    found.require(name, action, resource)  # a refusal is recorded (outcome denied) and exits 2
    trail.record("access.check", resource=resource, params={"principal": name[:100], "permission": action})
    shown = f" on {resource!r}" if resource is not None else ""
    _common.console().print(_common.escape(
        f"Allowed: {name!r} may {action}{shown} (roles: {', '.join(found.roles_of(name))})."
    ))
    return 0


# -- migrate | encrypt | decrypt -----------------------------------------------------------------


def migrate_command(
    keyring: Annotated[Path, typer.Option("--keyring", "-k", envvar="AUDITKIT_KEYRING",
                                          help="Key ring file to migrate.", show_default=False)],
    admin_identity: Annotated[Path, typer.Option("--admin-identity", help="The administrator's identity file.",
                                                 show_default=False)],
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Where access-policy.json and "
                                                 "keyring.access go (default: beside the ring).")] = None,
    upgrade: Annotated[list[Path] | None, typer.Option(
        "--upgrade", help="Version-1 encrypted file to upgrade to version 2 (repeatable).")] = None,
    passphrase_env: PassEnvOpt = DEFAULT_IDENTITY_PASSPHRASE_ENV,
    keyring_passphrase_env: Annotated[str, typer.Option(
        "--keyring-passphrase-env", help="Environment variable holding the ring's passphrase (or key).",
    )] = "AUDITKIT_KEYRING_PASSPHRASE",
    trust_store: _common.TrustStoreOption = None,
    force: ForceOpt = False,
) -> int:
    """Move a key ring into the role model: a signed policy with ADMIN holding every permission,
    the ring sealed to it (keyring.access), and optionally files upgraded to version 2."""
    from auditkit.commands._keyring import open_ring
    from auditkit.privacy.access import Policy, check_admin, migrate

    admin = _load_identity(admin_identity, passphrase_env)
    check_admin(admin, trust_store)
    ring = open_ring(keyring, keyring_passphrase_env)
    _common.sweep_leftovers(*(upgrade or []))
    done = migrate(keyring, admin=admin, ring=ring, out_dir=out_dir, upgrade=upgrade or [], force=force)
    Policy.load(done.policy_path, trust_store=trust_store)  # the policy written is accepted
    con = _common.console()
    con.print(_common.escape(
        f"Migrated {keyring}: signed {done.policy_path} (serial 1, {admin.name!r} holds role 'admin') and "
        f"sealed the ring's keys in {done.envelope_path}."
    ))
    for f in done.upgraded:
        con.print(_common.escape(f"Upgraded {f} to version 2."))
    con.print("The ring file still works for its passphrase holder (legacy mode) until you retire it.")
    return 0


def encrypt_command(
    src: Annotated[Path, typer.Argument(help="File to encrypt.", show_default=False)],
    dst: Annotated[Path, typer.Argument(help="Encrypted output (version 2).", show_default=False)],
    policy: PolicyOpt = None,
    resource: Annotated[str | None, typer.Option(
        "--resource", help="Resource name the policy matches (default: OUT relative to the policy's root).",
    )] = None,
    trust_store: _common.TrustStoreOption = None,
    force: ForceOpt = False,
) -> int:
    """Encrypt a file to the principals the policy lets decrypt it (no key ring needed)."""
    from auditkit.privacy.crypto import encrypt_file_to
    from auditkit.privacy.errors import PolicyError

    found = _policy(policy, trust_store)
    _refuse_overwrite(dst, force)
    name = resource if resource is not None else found.resource_name(dst)
    recipients = found.recipients_for(name)
    if not recipients:
        raise PolicyError(
            f"No principal of the access policy may decrypt {name!r}, so nobody could open the file. "
            "Grant a role with 'decrypt' on it first (`auditkit access grant NAME ROLE`)."
        )
    encrypt_file_to(src, dst, recipients, policy=found.ref(), resource=name)
    _common.console().print(_common.escape(
        f"Encrypted {src} -> {dst} for {', '.join(r.name for r in recipients)} (resource {name!r})."
    ))
    return 0


def decrypt_command(
    src: Annotated[Path, typer.Argument(help="Version-2 encrypted file.", show_default=False)],
    dst: Annotated[Path, typer.Argument(help="Plaintext output (mode 0600).", show_default=False)],
    identity: Annotated[Path, typer.Option("--identity", "-i", help="Your identity file.", show_default=False)],
    passphrase_env: PassEnvOpt = DEFAULT_IDENTITY_PASSPHRASE_ENV,
    force: ForceOpt = False,
) -> int:
    """Decrypt a file wrapped to your identity; nothing is written unless all of it authenticates."""
    from auditkit.privacy.crypto import decrypt_file
    from auditkit.privacy.errors import DecryptionError

    _refuse_overwrite(dst, force)
    me = _load_identity(identity, passphrase_env)
    try:
        decrypt_file(src, dst, me)
    except DecryptionError:
        _explain_refusal(src, me)
        raise
    _common.console().print(_common.escape(f"Decrypted {src} -> {dst} as {me.name!r}."))
    return 0


def _explain_refusal(src: Path, me: Any) -> None:
    """When the (public) header names no stanza for ``me``, say so: the cause is a missing grant."""
    from auditkit.privacy.crypto import file_info

    try:
        names = {r.key_id for r in file_info(src).recipients}
    except Exception:  # noqa: BLE001 - a hint only; the DecryptionError itself is reported
        return
    if me.key_id not in names:
        _common.err_console().print(_common.escape(
            f"{src} is not wrapped to {me.name!r} (key {me.key_id}): you hold no grant to decrypt it. "
            "Ask an access administrator (`auditkit access grant NAME ROLE FILE`)."
        ))


def register(app: typer.Typer) -> None:
    """Add the ``access`` group to ``app``."""
    access = typer.Typer(name="access", no_args_is_help=True,
                         help="Access by role: identities, the signed access policy, grants and revocations.")
    app.add_typer(access, name="access")
    identity = typer.Typer(name="identity", no_args_is_help=True, help="Principals' key pairs.")
    identity.command("new")(identity_new)
    access.add_typer(identity, name="identity")
    policy = typer.Typer(name="policy", no_args_is_help=True, help="Write, sign and show the access policy.")
    for name, command in (("init", policy_init), ("sign", policy_sign), ("show", policy_show)):
        policy.command(name)(command)
    access.add_typer(policy, name="policy")
    for name, command in (("grant", grant_command), ("revoke", revoke_command), ("check", check_command)):
        access.command(name)(command)
    for name, command in (("migrate", migrate_command), ("encrypt", encrypt_command),
                          ("decrypt", decrypt_command)):
        access.command(name)(command)
