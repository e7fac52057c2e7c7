"""Signed report manifests: detect any change to a report or to its input fingerprints.

:func:`write_manifest` records the SHA-256 and size of the audit's inputs (data, model, config)
and of every report file in ``manifest.json``, and signs the exact bytes of that file with
Ed25519 into ``manifest.sig``. :func:`verify` re-hashes everything and checks the signature; its
:class:`VerifyResult` names each file that no longer matches.

Keys: a signing key file (PEM, PKCS#8, unencrypted) that only its owner may read (mode 0600; a
file readable by group or others is refused), raw 32-byte private key bytes handed in by the
caller (the runner may take them from the key ring), or an ``Ed25519PrivateKey``.

>>> from auditkit.reports.signing import generate_signing_key, write_manifest, verify  # doctest: +SKIP
>>> keys = generate_signing_key("signing.pem")                                 # doctest: +SKIP
>>> write_manifest("out", {"data": "loans.csv"}, ["out/report.html"], "signing.pem")  # doctest: +SKIP
>>> verify("out", keys.public).ok                                              # doctest: +SKIP
True

Without ``public_key`` the key embedded in the manifest is used: that proves the files match the
manifest, not who signed it. Pass the signer's public key to pin the signer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from auditkit.atomic import atomic_write_bytes
from auditkit.reports._model import sha256_file
from auditkit.reports.errors import ReportInputError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "SIGNATURE_NAME",
    "SigningKeyFiles",
    "VerifyResult",
    "generate_signing_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "verify",
    "verify_manifest",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
MANIFEST_VERSION = 1

KeySource = Any  # Ed25519PrivateKey | bytes | str | os.PathLike


# -- keys --------------------------------------------------------------------------------------


def _ed():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def _raw_public(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


def _check_key_file_mode(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ReportInputError(
            f"The signing key file {path} does not exist. Create one with "
            "`auditkit.reports.signing.generate_signing_key(path)` or point the config at an existing key."
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ReportInputError(
            f"The signing key {path} is not a regular file; give a PEM key file."
        )
    if st.st_mode & 0o077:
        raise ReportInputError(
            f"The signing key file {path} is readable or writable by other users "
            f"(mode {stat.S_IMODE(st.st_mode):o}); a private key must be mode 600. "
            f"Run: chmod 600 {path}"
        )


def load_private_key(source: KeySource) -> Ed25519PrivateKey:
    """An Ed25519 private key from a key object, raw 32 bytes, PEM bytes, or a key file path.

    A key file must not be readable by group or others (mode 0600).
    """
    ed = _ed()
    if isinstance(source, ed.Ed25519PrivateKey):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        where = "the signing key bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        _check_key_file_mode(path)
        data = path.read_bytes()
        where = f"the signing key file {path}"
    else:
        raise ReportInputError(
            f"The 'private_key' parameter must be a key file path, raw 32-byte key or an "
            f"Ed25519PrivateKey; got {type(source).__name__}."
        )
    if len(data) == 32 and not data.startswith(b"-----"):
        return ed.Ed25519PrivateKey.from_private_bytes(data)
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ReportInputError(
            f"Could not read {where} as an unencrypted PEM Ed25519 private key (or 32 raw bytes). "
            "Generate one with `auditkit.reports.signing.generate_signing_key(path)`."
        ) from None
    if not isinstance(key, ed.Ed25519PrivateKey):
        raise ReportInputError(
            f"{where[0].upper()}{where[1:]} holds a {type(key).__name__}; reports are signed with "
            "Ed25519 keys. Generate one with `auditkit.reports.signing.generate_signing_key(path)`."
        )
    return key


def load_public_key(source: Any) -> Ed25519PublicKey:
    """An Ed25519 public key from a key object, raw 32 bytes, PEM, base64 text, or a file path."""
    ed = _ed()
    if isinstance(source, ed.Ed25519PublicKey):
        return source
    if isinstance(source, ed.Ed25519PrivateKey):
        return source.public_key()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, where = bytes(source), "the public key bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ReportInputError(
                f"Cannot read the public key file {path}: {exc.strerror}. Give the path of the "
                "signer's public key (the .pub file written next to the signing key)."
            ) from None
        where = f"the public key file {path}"
    else:
        raise ReportInputError(
            f"The 'public_key' parameter must be a path, bytes or an Ed25519PublicKey; got "
            f"{type(source).__name__}."
        )
    if len(data) == 32 and not data.startswith(b"-----"):
        return ed.Ed25519PublicKey.from_public_bytes(data)
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        from cryptography.hazmat.primitives import serialization

        try:
            key = serialization.load_pem_public_key(stripped)
        except (ValueError, TypeError):
            key = None
        if isinstance(key, ed.Ed25519PublicKey):
            return key
    else:
        try:
            raw = base64.b64decode(stripped, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == 32:
            return ed.Ed25519PublicKey.from_public_bytes(raw)
    raise ReportInputError(
        f"Could not read {where} as an Ed25519 public key (PEM, base64 or 32 raw bytes)."
    )


@dataclass(frozen=True)
class SigningKeyFiles:
    """What :func:`generate_signing_key` wrote."""

    private: Path
    public: Path
    key_id: str


def generate_signing_key(path: str | os.PathLike) -> SigningKeyFiles:
    """Create a new Ed25519 signing key at ``path`` (PEM, mode 0600) and its public key at
    ``path + '.pub'``. Refuses to overwrite an existing key."""
    from cryptography.hazmat.primitives import serialization

    priv_path = Path(path)
    pub_path = priv_path.with_name(priv_path.name + ".pub")
    key = _ed().Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    priv_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ReportInputError(
            f"A file already exists at {priv_path}; refusing to overwrite a signing key. "
            "Choose another path or remove the old key deliberately."
        ) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(priv_path, 0o600)
    public = key.public_key()
    atomic_write_bytes(
        pub_path,
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return SigningKeyFiles(priv_path, pub_path, key_id(public))


# -- writing -----------------------------------------------------------------------------------


def _entry(path: Path) -> dict[str, Any]:
    digest, size = sha256_file(path)
    return {"sha256": digest, "size": size}


def _relative_inside(path: Path, root: Path) -> str:
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        raise ReportInputError(
            f"The report file {path} is not inside the report directory {root}; only files in "
            "that directory can be listed in its manifest."
        ) from None
    return rel.as_posix()


def write_manifest(
    out_dir: str | os.PathLike,
    files: Mapping[str, str | os.PathLike],
    report_files: Iterable[str | os.PathLike],
    private_key: KeySource,
    *,
    created_at: str | None = None,
) -> Path:
    """Write ``manifest.json`` and ``manifest.sig`` in ``out_dir``; return the manifest's path.

    Parameters
    ----------
    out_dir:
        The report directory.
    files:
        The audit's inputs by role, e.g. ``{"data": ..., "model": ..., "config": ...}``. Their
        paths are recorded relative to ``out_dir``.
    report_files:
        Every file the run wrote in ``out_dir`` (reports, artifacts). Paths may be relative to
        ``out_dir`` or absolute inside it.
    private_key:
        A signing key file path (mode 0600), raw 32 private-key bytes, or an Ed25519PrivateKey.
    """
    key = load_private_key(private_key)
    root = Path(out_dir)
    if not root.is_dir():
        raise ReportInputError(
            f"The report directory {root} does not exist; write the reports first."
        )

    inputs: dict[str, Any] = {}
    for role, p in files.items():
        path = Path(p)
        if not path.is_file():
            raise ReportInputError(
                f"The {role} input {path} is not a readable file; pass the file the audit read."
            )
        entry = {
            "name": path.name,
            "path": Path(os.path.relpath(path.resolve(), root.resolve())).as_posix(),
        }
        entry.update(_entry(path))
        inputs[str(role)] = entry

    listed: dict[str, Any] = {}
    for p in report_files:
        path = Path(p)
        if not path.is_absolute() and not path.exists():
            path = root / path
        rel = _relative_inside(path, root)
        if rel in (MANIFEST_NAME, SIGNATURE_NAME):
            continue
        if not path.is_file():
            raise ReportInputError(
                f"The report file {path} does not exist; list only files the run wrote."
            )
        listed[rel] = _entry(path)

    public = key.public_key()
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "algorithm": "ed25519",
        "hash": "sha256",
        "created_at": created_at or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "key_id": key_id(public),
        "public_key": base64.b64encode(_raw_public(public)).decode("ascii"),
        "inputs": inputs,
        "files": dict(sorted(listed.items())),
    }
    data = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode(
        "ascii"
    )
    signature = key.sign(data)
    manifest_path = atomic_write_bytes(root / MANIFEST_NAME, data)
    atomic_write_bytes(root / SIGNATURE_NAME, base64.b64encode(signature) + b"\n")
    return manifest_path


# -- verifying ---------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`.

    ``ok`` is True only when the signature is valid and every listed file and every input that
    is present matches. ``problems`` names each alteration; ``notes`` are facts that do not fail
    the check (an input not present on this machine, a signer that was not pinned).
    """

    ok: bool
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key_id: str | None = None
    signer_pinned: bool = False
    files_checked: int = 0
    inputs_checked: int = 0

    def __bool__(self) -> bool:
        return self.ok

    def summary(self) -> str:
        head = (
            f"OK: signature valid (key {self.key_id}); {self.files_checked} report files and "
            f"{self.inputs_checked} inputs match."
            if self.ok
            else f"ALTERED: {len(self.problems)} problem(s) found."
        )
        lines = [head, *(f"  - {p}" for p in self.problems), *(f"  note: {n}" for n in self.notes)]
        return "\n".join(lines)


def _safe_rel(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name


def verify(
    report_dir: str | os.PathLike,
    public_key: Any = None,
    *,
    check_inputs: bool = True,
) -> VerifyResult:
    """Check the signature of ``report_dir``'s manifest and every file it lists.

    Parameters
    ----------
    report_dir:
        A directory written by ``auditkit run`` with signing enabled.
    public_key:
        The signer's public key (path, PEM/base64/raw bytes, or key object). Without it, the key
        embedded in the manifest is used and the result notes that the signer was not pinned.
    check_inputs:
        Also re-hash the data, model and config files when they are present at their recorded
        paths (relative to the report directory).
    """
    root = Path(report_dir)
    if not root.is_dir():
        raise ReportInputError(
            f"The report directory {root} does not exist or is not a directory; give the "
            "directory that holds manifest.json."
        )
    pinned = load_public_key(public_key) if public_key is not None else None
    res = VerifyResult(ok=False, signer_pinned=pinned is not None)

    man_path, sig_path = root / MANIFEST_NAME, root / SIGNATURE_NAME
    if not man_path.is_file():
        res.problems.append(
            f"{MANIFEST_NAME} is missing: the report is unsigned or its manifest was removed."
        )
        return res
    data = man_path.read_bytes()
    try:
        manifest = json.loads(data.decode("ascii"))
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except (UnicodeDecodeError, ValueError):
        res.problems.append(f"{MANIFEST_NAME} was altered: it is no longer a valid manifest.")
        return res

    # The signature.
    embedded = None
    try:
        raw_pub = base64.b64decode(str(manifest.get("public_key", "")), validate=True)
        embedded = _ed().Ed25519PublicKey.from_public_bytes(raw_pub)
    except (binascii.Error, ValueError):
        if pinned is None:
            res.problems.append(
                f"{MANIFEST_NAME} was altered: its public key is unreadable. Pass --public-key "
                "to check the signature."
            )
    key = pinned or embedded
    if key is not None:
        res.key_id = key_id(key)
        if (
            pinned is not None
            and embedded is not None
            and _raw_public(pinned) != _raw_public(embedded)
        ):
            res.problems.append(
                f"{MANIFEST_NAME} names signing key {key_id(embedded)}, not the expected key "
                f"{key_id(pinned)}."
            )
        if not sig_path.is_file():
            res.problems.append(
                f"{SIGNATURE_NAME} is missing: the manifest cannot be authenticated."
            )
        else:
            sig_text = sig_path.read_bytes()
            sig = _decode_signature(sig_text)
            valid = False
            if sig is not None:
                from cryptography.exceptions import InvalidSignature

                try:
                    key.verify(sig, data)
                    valid = True
                except InvalidSignature:
                    valid = False
            if not valid:
                res.problems.append(
                    f"The signature in {SIGNATURE_NAME} does not match {MANIFEST_NAME}: the "
                    "manifest or the signature was altered"
                    + (", or another key signed it." if pinned is not None else ".")
                )
    if pinned is None:
        res.notes.append(
            "The signer was not pinned: the signature was checked with the key inside the "
            "manifest. Pass --public-key with the signer's public key to check who signed it."
        )

    # The report files.
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        res.problems.append(f"{MANIFEST_NAME} was altered: it has no file list.")
        listed = {}
    for name, entry in listed.items():
        if not _safe_rel(str(name)) or not isinstance(entry, dict):
            res.problems.append(f"{MANIFEST_NAME} lists an invalid file entry {name!r}.")
            continue
        path = root / name
        if not path.is_file():
            res.problems.append(f"{name} is missing.")
            continue
        digest, size = sha256_file(path)
        res.files_checked += 1
        if digest != entry.get("sha256") or size != entry.get("size"):
            res.problems.append(
                f"{name} was altered (SHA-256 {digest[:16]}…, {size} bytes; the manifest "
                f"records {str(entry.get('sha256'))[:16]}…, {entry.get('size')} bytes)."
            )
    # The inputs.
    inputs = manifest.get("inputs")
    if not isinstance(inputs, dict):
        res.problems.append(f"{MANIFEST_NAME} was altered: it has no input list.")
        inputs = {}

    covered = set(listed) | {MANIFEST_NAME, SIGNATURE_NAME}
    for entry in inputs.values():  # inputs kept inside the report directory are covered too
        if isinstance(entry, dict) and _safe_rel(str(entry.get("path", ""))):
            covered.add(PurePosixPath(str(entry["path"])).as_posix())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel not in covered:
            res.problems.append(f"{rel} is not in the manifest: it was added after signing.")

    for role, entry in inputs.items():
        if not isinstance(entry, dict):
            res.problems.append(f"{MANIFEST_NAME} lists an invalid input entry {role!r}.")
            continue
        if not check_inputs:
            continue
        path = root / str(entry.get("path", ""))
        if not path.is_file():
            res.notes.append(
                f"The {role} input {entry.get('name')} is not at {entry.get('path')}; its "
                "fingerprint was checked against the signature only."
            )
            continue
        digest, size = sha256_file(path)
        res.inputs_checked += 1
        if digest != entry.get("sha256") or size != entry.get("size"):
            res.problems.append(
                f"The {role} input {entry.get('name')} has changed since the audit (SHA-256 "
                f"{digest[:16]}…; the manifest records {str(entry.get('sha256'))[:16]}…)."
            )

    res.ok = not res.problems
    return res


def _decode_signature(text: bytes) -> bytes | None:
    """The 64 signature bytes, only when ``text`` is exactly their base64 plus a newline."""
    try:
        sig = base64.b64decode(text.rstrip(b"\n"), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(sig) != 64 or base64.b64encode(sig) + b"\n" != text:
        return None
    return sig


#: Alias for the runner: ``verify_manifest(out_dir, public_key=None) -> VerifyResult``.
verify_manifest = verify
