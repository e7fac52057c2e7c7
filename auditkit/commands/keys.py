"""Key management and file encryption commands.

``auditkit keys init|rotate|list|public-key|trust|trusted``, ``auditkit encrypt IN OUT``,
``auditkit decrypt IN OUT`` and ``auditkit rewrap FILE...``. The key ring's passphrase comes from
the environment variable named by ``--passphrase-env`` (default ``AUDITKIT_KEYRING_PASSPHRASE``)
or, when that is unset, from a hidden prompt. For a ring protected by a key-encryption key
(``keys init --kek-env NAME``), that variable holds the key instead. Nothing here ever prints key
material: only key ids, versions and dates.

Each command is a function of this module; :func:`register` adds them to the application.
``keys init``, ``keys rotate`` and ``keys trust`` record one audit-trail event each
(``keys.init``, ``rotate``, ``keys.trust``: the ring or trust-store file with its SHA-256, key
ids, never key material; a refusal with outcome ``error``); ``encrypt``, ``decrypt`` and
``rewrap`` are recorded by :mod:`auditkit.privacy.crypto` itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditkit.commands import _common
from auditkit.commands._keyring import (
    DEFAULT_KEYRING,
    DEFAULT_PASSPHRASE_ENV,
    bind_trail,
    open_ring,
    prompt_passphrase,
    unlock,
)

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.crypto import KeyRing

_KEYRING_HELP = "Key ring file (default: $AUDITKIT_KEYRING, else ./keyring.json)."
_PASS_ENV_HELP = (
    "Environment variable holding the key ring's passphrase (or its key-encryption key); when "
    "unset, the passphrase is asked for with a hidden prompt."
)


KeyringOpt = Annotated[
    Path,
    typer.Option(
        "--keyring", "-k", envvar="AUDITKIT_KEYRING", help=_KEYRING_HELP, show_default=False
    ),
]
PassEnvOpt = Annotated[str, typer.Option("--passphrase-env", help=_PASS_ENV_HELP)]
KekEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--kek-env",
        help="Protect the ring with a key-encryption key held in this environment variable "
        "(32 random bytes, base64) instead of a passphrase; for services.",
    ),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]


@contextlib.contextmanager
def _recorded(action: str, resource: Path) -> Iterator[dict[str, Any]]:
    """One audit-trail event for a key command: ``ok`` with the params the block fills in (key
    ids and counts only) and the resource's SHA-256, or ``error`` with the exception's class
    when the block raises (re-raised)."""
    from auditkit.privacy import trail
    from auditkit.privacy.errors import TrailError

    params: dict[str, Any] = {}
    try:
        yield params
    except TrailError:
        raise
    except Exception as exc:
        trail.record(action, resource=resource, outcome="error",
                     params={**params, "error": type(exc).__name__})
        raise
    sha = trail.file_sha256(resource) if resource.is_file() else None
    trail.record(action, resource=resource, sha256=sha, params=params)


def _refuse_overwrite(dst: Path, force: bool) -> None:
    if dst.exists() and not force:
        from auditkit.privacy.errors import PrivacyInputError

        raise PrivacyInputError(
            f"The output file '{dst}' already exists; choose another path or pass --force."
        )


def _ring_for_output(dst: Path, force: bool, keyring: Path, passphrase_env: str) -> KeyRing:
    """Sweep leftovers beside ``dst``, refuse to replace it without ``force``, open the ring."""
    _common.sweep_leftovers(dst)
    _refuse_overwrite(dst, force)
    return open_ring(keyring, passphrase_env)


# -- keys init | rotate | public-key | list ----------------------------------------------------


def keys_init(
    keyring: KeyringOpt = Path(DEFAULT_KEYRING),
    passphrase_env: PassEnvOpt = DEFAULT_PASSPHRASE_ENV,
    kek_env: KekEnvOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing key ring file.")
    ] = False,
) -> int:
    """Create a key ring with one fresh key, saved encrypted in a 0600 file."""
    from auditkit.privacy.crypto import KeyRing
    from auditkit.privacy.errors import PrivacyInputError

    bind_trail(None, keyring)
    with _recorded("keys.init", keyring) as params:
        _common.sweep_leftovers(keyring)
        if keyring.exists() and not force:
            raise PrivacyInputError(
                f"The key ring file '{keyring}' already exists; replacing it would make every "
                "file encrypted under it unreadable. Use `auditkit keys rotate`, or --force."
            )
        ring = KeyRing.generate()
        # `--keyring keys/ring.json` on a fresh checkout: create the directory (owner only).
        keyring.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if kek_env is not None:
            ring.save(keyring, kek_env=kek_env)
        elif os.environ.get(passphrase_env):
            ring.save(keyring, passphrase=os.environ[passphrase_env])
        else:
            ring.save(keyring, passphrase=prompt_passphrase(confirm=True))
        bind_trail(ring, keyring)
        params.update(key_id=ring.primary_id, protection="env" if kek_env else "scrypt",
                      replaced=bool(force))
    con = _common.console()
    con.print(f"Created key ring {keyring} (mode 0600) with key {ring.primary_id} (primary).")
    con.print(
        "Keep its passphrase (or key-encryption key) in a secret store: without it, data "
        "encrypted under this ring cannot be recovered."
    )
    return 0


def keys_rotate(
    keyring: KeyringOpt = Path(DEFAULT_KEYRING),
    passphrase_env: PassEnvOpt = DEFAULT_PASSPHRASE_ENV,
) -> int:
    """Add a new primary key; older keys stay in the ring to decrypt existing data."""
    with _recorded("rotate", keyring) as params:
        _common.sweep_leftovers(keyring)
        ring, protection = unlock(keyring, passphrase_env)
        from auditkit.privacy import trail

        trail.enforce("administer-keys", keyring)  # a policy in force must grant it
        old = ring.primary_id
        new = ring.rotate()
        ring.save(keyring, **protection)
        params.update(old_key_id=old, new_key_id=new, keys=len(ring.key_ids))
    con = _common.console()
    con.print(f"Rotated {keyring}: new primary key {new} (was {old}).")
    con.print("Move existing files to the new key with: auditkit rewrap FILE...")
    return 0


def keys_public_key(
    keyring: KeyringOpt = Path(DEFAULT_KEYRING),
    passphrase_env: PassEnvOpt = DEFAULT_PASSPHRASE_ENV,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the PEM here instead of printing it.")
    ] = None,
) -> int:
    """Print the public key that verifies reports signed with this ring ([keys] sign = true)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from auditkit.atomic import atomic_write_bytes

    if out is not None:
        _common.sweep_leftovers(out)
    ring = open_ring(keyring, passphrase_env)
    public = Ed25519PrivateKey.from_private_bytes(ring.signing_key()).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if out is None:
        typer.echo(pem.decode("ascii"), nl=False)
    else:
        atomic_write_bytes(out, pem)
        _common.console().print(
            f"Wrote the signing public key of key {ring.primary_id} to {out}. Check reports "
            f"with: auditkit verify REPORT_DIR --public-key {out}"
        )
    return 0


def keys_list(
    keyring: KeyringOpt = Path(DEFAULT_KEYRING),
    passphrase_env: PassEnvOpt = DEFAULT_PASSPHRASE_ENV,
) -> int:
    """List key ids, versions, creation dates and the primary key."""
    from rich.table import Table

    from auditkit.privacy.crypto import kek_kind

    ring = open_ring(keyring, passphrase_env)
    table = Table(title=f"Key ring {keyring}")
    for col in ("key id", "version", "created (UTC)", "primary"):
        table.add_column(col)
    for info in ring.keys_info():
        table.add_row(
            info.key_id, str(info.version), info.created, "yes" if info.primary else ""
        )
    con = _common.console()
    con.print(table)
    protection = {"scrypt": "passphrase (scrypt)", "env": "key-encryption key from env"}
    con.print(f"Protected by: {protection.get(kek_kind(keyring) or '', 'unknown')}.")
    return 0


# -- encrypt | decrypt | rewrap ------------------------------------------------------------------


def encrypt_command(
    src: Annotated[Path, typer.Argument(help="File to encrypt.", show_default=False)],
    dst: Annotated[
        Path, typer.Argument(help="Encrypted output (e.g. data.csv.enc).", show_default=False)
    ],
    keyring: KeyringOpt = Path(DEFAULT_KEYRING),
    passphrase_env: PassEnvOpt = DEFAULT_PASSPHRASE_ENV,
    segment_size: Annotated[
        int,
        typer.Option(
            "--segment-size",
            help="Plaintext bytes per authenticated segment, 65536 to 1048576.",
        ),
    ] = 1024 * 1024,
    force: ForceOpt = False,
) -> int:
    """Encrypt a file (AES-256-GCM, streaming) under the key ring's primary key."""
    from auditkit.privacy.crypto import encrypt_file

    ring = _ring_for_output(dst, force, keyring, passphrase_env)
    info = encrypt_file(src, dst, ring, segment_size=segment_size)
    _common.console().print(f"Encrypted {src} -> {dst} under key {info.key_id}.")
    return 0


def decrypt_command(
    src: Annotated[
        Path, typer.Argument(help="File written by `auditkit encrypt`.", show_default=False)
    ],
    dst: Annotated[
        Path, typer.Argument(help="Plaintext output (mode 0600).", show_default=False)
    ],
    keyring: KeyringOpt = Path(DEFAULT_KEYRING),
    passphrase_env: PassEnvOpt = DEFAULT_PASSPHRASE_ENV,
    force: ForceOpt = False,
) -> int:
    """Decrypt and authenticate a file; nothing is written unless all of it authenticates."""
    from auditkit.privacy.crypto import decrypt_file

    ring = _ring_for_output(dst, force, keyring, passphrase_env)
    info = decrypt_file(src, dst, ring)
    _common.console().print(f"Decrypted {src} -> {dst} (key {info.key_id}).")
    return 0


def rewrap_command(
    files: Annotated[list[Path], typer.Argument(help="Encrypted files.", show_default=False)],
    keyring: KeyringOpt = Path(DEFAULT_KEYRING),
    passphrase_env: PassEnvOpt = DEFAULT_PASSPHRASE_ENV,
) -> int:
    """Re-wrap encrypted files' data keys under the ring's primary key (data not re-encrypted)."""
    from auditkit.privacy.crypto import file_info, rewrap

    _common.sweep_leftovers(*files)
    ring = open_ring(keyring, passphrase_env)
    con = _common.console()
    for f in files:
        old = file_info(f).key_id
        if rewrap(f, ring):
            con.print(f"Rewrapped {f}: key {old} -> {ring.primary_id}.")
        else:
            con.print(f"{f} already uses the primary key {old}.")
    return 0


# -- trusted signers (auditkit.reports.trust): `keys trust PEM --name NAME`, `keys trusted` ------


def _read_public_key(pem: Path) -> bytes:
    from auditkit.reports.errors import ReportInputError

    try:
        with pem.open("rb") as fh:
            return fh.read(1 << 16)  # a PEM public key is ~113 bytes
    except OSError as exc:
        raise ReportInputError(
            f"Cannot read the public key file {pem}: {exc.strerror}. Give the signer's PEM "
            "public key (e.g. written by `auditkit keys public-key --out FILE`)."
        ) from None


def keys_trust(
    pem: Annotated[
        Path,
        typer.Argument(
            help="The signer's PEM public key file (from `keys public-key`).",
            show_default=False,
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Who holds the key.", show_default=False)],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="Role to grant (repeatable; default report-signer)."),
    ] = None,
    trust_store: _common.TrustStoreOption = None,
) -> int:
    """Trust a public key: `auditkit verify` then accepts reports it signed (exit 0)."""
    from rich.markup import escape

    from auditkit.reports.trust import REPORT_SIGNER, TrustStore, default_trust_store_path

    path = trust_store if trust_store is not None else default_trust_store_path()
    with _recorded("keys.trust", path) as params:
        store = TrustStore.load(path, missing_ok=True)
        added = store.add(name, _read_public_key(pem), role or [REPORT_SIGNER])
        store.save(path)
        roles = ",".join(added.roles)
        params.update(key_id=added.key_id, roles=roles if len(roles) <= 120 else None,
                      role_count=len(added.roles))
    _common.console().print(
        escape(
            f"Trusted key {added.key_id} as {added.name!r} (roles: {', '.join(added.roles)}) "
            f"in {path}."
        )
    )
    return 0


def keys_trusted(
    trust_store: _common.TrustStoreOption = None,
) -> int:
    """List the trusted keys: name, key id and roles."""
    from rich.markup import escape
    from rich.table import Table

    from auditkit.reports.trust import TrustStore, default_trust_store_path

    store = TrustStore.load_default(trust_store)
    path = trust_store if trust_store is not None else default_trust_store_path()
    con = _common.console()
    if not len(store):
        con.print(
            escape(
                f"No trusted keys in {path}. Add one with: auditkit keys trust PEM --name NAME"
            )
        )
        return 0
    table = Table(title=escape(f"Trusted keys ({path})"))
    for col in ("name", "key id", "roles"):
        table.add_column(col)
    for p in store:
        table.add_row(escape(p.name), p.key_id, ", ".join(p.roles))
    con.print(table)
    return 0


def register(app: typer.Typer) -> None:
    """Add ``keys`` (a group) and ``encrypt``, ``decrypt``, ``rewrap`` to ``app``."""
    keys_app = typer.Typer(
        name="keys",
        help="Create, rotate and list the keys of a key ring (key material is never shown).",
        no_args_is_help=True,
    )
    app.add_typer(keys_app, name="keys")
    for name, command in (("init", keys_init), ("rotate", keys_rotate),
                          ("public-key", keys_public_key), ("list", keys_list),
                          ("trust", keys_trust), ("trusted", keys_trusted)):
        keys_app.command(name)(command)
    for name, command in (("encrypt", encrypt_command), ("decrypt", decrypt_command),
                          ("rewrap", rewrap_command)):
        app.command(name)(command)
