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

The signature is checked with the key the manifest names; that proves the files match the
manifest, not who signed it. The result is ``ok`` only when that key is also pinned
(``public_key``) or held by a principal of a :class:`~auditkit.reports.trust.TrustStore` with the
``report-signer`` role. The exact bytes are specified in docs/reports.md.
"""

from __future__ import annotations

import base64
import binascii
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
from auditkit.reports.trust import (
    REPORT_SIGNER,
    TrustStore,
    key_id,
    load_public_key,
    public_key_pem,
)
from auditkit.reports.trust import raw_public as _raw_public

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
    atomic_write_bytes(pub_path, public_key_pem(public).encode("ascii"))
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

    ``intact`` is True when the manifest's signature is valid under the key it names and every
    listed file (and every input present) matches, with nothing added. ``trusted`` is True when
    that key is pinned or held by a trust-store principal with the role checked. ``ok`` is both.
    ``problems`` names each alteration; ``untrusted`` says why the signer is not trusted;
    ``notes`` are facts that do not fail the check (an input not present on this machine).
    """

    ok: bool
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key_id: str | None = None
    signer_pinned: bool = False
    files_checked: int = 0
    inputs_checked: int = 0
    intact: bool = False
    trusted: bool = False
    signer: str | None = None
    untrusted: str | None = None

    def __bool__(self) -> bool:
        return self.ok

    @property
    def exit_code(self) -> int:
        """0 verified and trusted, 1 altered, 4 intact but signed by a key that is not trusted."""
        return 0 if self.ok else 1 if not self.intact else 4

    def summary(self) -> str:
        if self.ok:
            head = (
                f"OK: signature valid, signed by {self.signer} (key {self.key_id}); "
                f"{self.files_checked} report files and {self.inputs_checked} inputs match."
            )
        elif self.intact:
            head = f"UNTRUSTED: the files match the manifest, but {self.untrusted}"
        else:
            head = f"ALTERED: {len(self.problems)} problem(s) found."
        lines = [head, *(f"  - {p}" for p in self.problems)]
        if self.untrusted and not self.intact:
            lines.append(f"  note: {self.untrusted}")
        return "\n".join([*lines, *(f"  note: {n}" for n in self.notes)])


def _safe_rel(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name


def _shown(name: str) -> str:
    """A file name as it may be printed: control characters escaped."""
    return name if name.isprintable() else ascii(name)[1:-1]


def verify(
    report_dir: str | os.PathLike,
    public_key: Any = None,
    *,
    trust_store: TrustStore | str | os.PathLike | None = None,
    role: str = REPORT_SIGNER,
    check_inputs: bool = True,
) -> VerifyResult:
    """Check the signature of ``report_dir``'s manifest, every file it lists, and its signer.

    Parameters
    ----------
    report_dir:
        A directory written by ``auditkit run`` with signing enabled.
    public_key:
        The signer's public key, or a list of acceptable keys (each a path, PEM/base64/raw bytes,
        or key object): the manifest must be signed by one of them.
    trust_store:
        A :class:`~auditkit.reports.trust.TrustStore` (or its path) whose principals holding
        ``role`` are also accepted. With neither ``public_key`` nor ``trust_store`` no signer is
        trusted: the result can be ``intact`` but never ``ok``.
    role:
        The role a trust-store principal needs (default ``report-signer``).
    check_inputs:
        Also re-hash the data, model and config files when they are present at their recorded
        paths (relative to the report directory).

    Returns
    -------
    VerifyResult
        ``ok`` only when intact and trusted; ``exit_code`` is 0, 1 (altered) or 4 (untrusted).
    """
    root = Path(report_dir)
    if not root.is_dir():
        raise ReportInputError(
            f"The report directory {root} does not exist or is not a directory; give the "
            "directory that holds manifest.json."
        )
    sources = [] if public_key is None else public_key
    pinned = [
        load_public_key(k) for k in (sources if isinstance(sources, (list, tuple)) else [sources])
    ]
    store = (
        TrustStore.load(trust_store) if isinstance(trust_store, (str, os.PathLike)) else trust_store
    )
    res = VerifyResult(ok=False, signer_pinned=bool(pinned))

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
    except (UnicodeDecodeError, ValueError, RecursionError):
        res.problems.append(f"{MANIFEST_NAME} was altered: it is no longer a valid manifest.")
        return res

    signer = _check_signature(res, manifest, data, sig_path)
    if signer is not None:
        res.key_id = key_id(signer)
        _check_trust(res, signer, pinned, store, role)
    listed = _check_files(res, root, manifest)
    inputs = manifest.get("inputs")
    if not isinstance(inputs, dict):
        res.problems.append(f"{MANIFEST_NAME} was altered: it has no input list.")
        inputs = {}
    covered = set(listed) | {MANIFEST_NAME, SIGNATURE_NAME}
    for entry in inputs.values():  # inputs kept inside the report directory are covered too
        if isinstance(entry, dict) and _safe_rel(str(entry.get("path", ""))):
            covered.add(PurePosixPath(str(entry["path"])).as_posix())
    for rel, kind in _unlisted(root, covered):
        res.problems.append(f"{_shown(rel)} is not in the manifest: {kind} added after signing.")
    # An unauthenticated manifest's input paths are not followed outside the report directory.
    _check_inputs(res, root, inputs, check_inputs and signer is not None)

    res.intact = not res.problems
    res.ok = res.intact and res.trusted
    return res


def _check_signature(
    res: VerifyResult, manifest: dict, data: bytes, sig_path: Path
) -> Ed25519PublicKey | None:
    """The key the manifest names, when its signature over ``data`` is valid under that key."""
    try:
        raw_pub = base64.b64decode(str(manifest.get("public_key", "")), validate=True)
        embedded = _ed().Ed25519PublicKey.from_public_bytes(raw_pub)
    except (binascii.Error, ValueError):
        res.problems.append(f"{MANIFEST_NAME} was altered: its public key is unreadable.")
        return None
    if not sig_path.is_file():
        res.problems.append(f"{SIGNATURE_NAME} is missing: the manifest cannot be authenticated.")
        return None
    sig = _decode_signature(sig_path.read_bytes())
    if sig is not None:
        from cryptography.exceptions import InvalidSignature

        try:
            embedded.verify(sig, data)
            return embedded
        except InvalidSignature:
            pass
    res.problems.append(
        f"The signature in {SIGNATURE_NAME} does not match {MANIFEST_NAME}: the manifest or the "
        "signature was altered."
    )
    return None


def _check_trust(
    res: VerifyResult,
    signer: Ed25519PublicKey,
    pinned: list[Ed25519PublicKey],
    store: TrustStore | None,
    role: str,
) -> None:
    raw, kid = _raw_public(signer), key_id(signer)
    if any(_raw_public(k) == raw for k in pinned):
        res.trusted, res.signer = True, "the pinned key"
        return
    if store is not None and store.trusts(signer, role):
        res.trusted = True
        res.signer = repr(store.find(kid).name)  # type: ignore[union-attr]
        return
    why = []
    if pinned:
        ids = ", ".join(key_id(k) for k in pinned)
        why.append(f"it is not the pinned key{'s' if len(pinned) > 1 else ''} ({ids})")
    if store is not None:
        known = store.find(kid)
        where = f"the trust store {store.path}" if store.path else "the trust store"
        if known is not None and raw == _raw_public(known.key()):
            why.append(f"{where} lists it as {known.name!r} without the role {role!r}")
        else:
            why.append(f"it is not in {where}" + ("" if len(store) else ", which lists no keys"))
    if not why:
        why.append("no key was pinned and no trust store was given")
    res.untrusted = (
        f"its signer, key {kid}, is not trusted: {'; '.join(why)}. If you expect this signer, "
        "get their public key from them (never from the manifest) and pass it with "
        "--public-key, or add it with `auditkit keys trust PEM --name NAME`."
    )


def _check_files(res: VerifyResult, root: Path, manifest: dict) -> dict:
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        res.problems.append(f"{MANIFEST_NAME} was altered: it has no file list.")
        return {}
    for name, entry in listed.items():
        if not _safe_rel(str(name)) or not isinstance(entry, dict):
            res.problems.append(f"{MANIFEST_NAME} lists an invalid file entry {name!r}.")
            continue
        if not (root / name).is_file():
            res.problems.append(f"{_shown(name)} is missing.")
            continue
        res.files_checked += 1
        _compare(res, root / name, entry, f"{_shown(name)} was altered")
    return listed


def _compare(res: VerifyResult, path: Path, entry: dict, what: str) -> None:
    digest, size = sha256_file(path)
    if digest != entry.get("sha256") or size != entry.get("size"):
        res.problems.append(
            f"{what} (SHA-256 {digest[:16]}…, {size} bytes; the manifest records "
            f"{str(entry.get('sha256'))[:16]}…, {entry.get('size')} bytes)."
        )


def _unlisted(root: Path, covered: set[str]) -> list[tuple[str, str]]:
    """Entries under ``root`` the manifest does not cover: (relative path, what it is).

    A directory holding no covered file is reported once, as ``name/``; symbolic links are
    never followed.
    """
    needed = {str(p) for c in covered for p in PurePosixPath(c).parents if str(p) != "."}
    found: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = PurePosixPath(Path(dirpath).relative_to(root).as_posix())
        keep = []
        for d in dirnames:
            rel = str(here / d) if str(here) != "." else d
            if os.path.islink(os.path.join(dirpath, d)):
                found.append((rel, "a symbolic link"))
            elif rel in needed:
                keep.append(d)
            else:
                found.append((rel + "/", "a directory"))
        dirnames[:] = keep
        for f in filenames:
            rel = str(here / f) if str(here) != "." else f
            if os.path.islink(os.path.join(dirpath, f)) and rel not in covered:
                found.append((rel, "a symbolic link"))
            elif rel not in covered:
                found.append((rel, "a file"))
    return sorted(found)


def _check_inputs(res: VerifyResult, root: Path, inputs: dict, check: bool) -> None:
    for role, entry in inputs.items():
        if not isinstance(entry, dict):
            res.problems.append(f"{MANIFEST_NAME} lists an invalid input entry {role!r}.")
            continue
        if not check:
            continue
        path = root / str(entry.get("path", ""))
        what = f"The {_shown(str(role))} input {_shown(str(entry.get('name')))}"
        if not path.is_file():
            res.notes.append(
                f"{what} is not at {_shown(str(entry.get('path')))}; its fingerprint was checked "
                "against the signature only."
            )
            continue
        res.inputs_checked += 1
        _compare(res, path, entry, f"{what} has changed since the audit")


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
