"""Verifying a signed report directory: are the files intact, and is the signer trusted?

:func:`verify` reads ``manifest.json`` and ``manifest.sig`` (format in ``_manifest``), checks
the signature under the key the manifest names, decides whether that key is trusted (pinned, or
a trust-store principal holding the role), re-hashes every listed file and input, and looks for
anything added after signing. Each step records what it found on one :class:`VerifyResult`;
alterations are results, never exceptions. Public names are re-exported by
:mod:`auditkit.reports.signing`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from auditkit.reports._keys import _ed, key_id, load_public_key, raw_public
from auditkit.reports._manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    decode_signature,
    safe_relative,
)
from auditkit.reports._model import sha256_file
from auditkit.reports.errors import ReportInputError
from auditkit.reports.trust import REPORT_SIGNER, TrustStore

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["VerifyResult", "verify", "verify_manifest"]


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
    pinned = _pinned_keys(public_key)
    store = (
        TrustStore.load(trust_store) if isinstance(trust_store, (str, os.PathLike)) else trust_store
    )
    res = VerifyResult(ok=False, signer_pinned=bool(pinned))
    read = _read_manifest(res, root)
    if read is None:
        return res
    manifest, data = read
    signer = _check_signature(res, manifest, data, root / SIGNATURE_NAME)
    if signer is not None:
        res.key_id = key_id(signer)
        _check_trust(res, signer, pinned, store, role)
    listed = _check_files(res, root, manifest)
    inputs = _input_list(res, manifest)
    for rel, kind in _unlisted(root, _covered(listed, inputs)):
        res.problems.append(f"{_shown(rel)} is not in the manifest: {kind} added after signing.")
    # An unauthenticated manifest's input paths are not followed outside the report directory.
    _check_inputs(res, root, inputs, check_inputs and signer is not None)
    res.intact = not res.problems
    res.ok = res.intact and res.trusted
    return res


def _pinned_keys(public_key: Any) -> list[Ed25519PublicKey]:
    """The keys ``verify`` was handed: none, one, or a list or tuple of them."""
    if public_key is None:
        return []
    sources = public_key if isinstance(public_key, (list, tuple)) else [public_key]
    return [load_public_key(k) for k in sources]


def _read_manifest(res: VerifyResult, root: Path) -> tuple[dict, bytes] | None:
    """``(the parsed manifest, its exact bytes)``, or None with the problem recorded."""
    man_path = root / MANIFEST_NAME
    if not man_path.is_file():
        res.problems.append(
            f"{MANIFEST_NAME} is missing: the report is unsigned or its manifest was removed."
        )
        return None
    data = man_path.read_bytes()
    try:
        manifest = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        manifest = None
    if not isinstance(manifest, dict):
        res.problems.append(f"{MANIFEST_NAME} was altered: it is no longer a valid manifest.")
        return None
    return manifest, data


def _input_list(res: VerifyResult, manifest: dict) -> dict:
    """The manifest's ``inputs`` table; ``{}`` with the problem recorded when it is not one."""
    inputs = manifest.get("inputs")
    if isinstance(inputs, dict):
        return inputs
    res.problems.append(f"{MANIFEST_NAME} was altered: it has no input list.")
    return {}


def _covered(listed: dict, inputs: dict) -> set[str]:
    """Paths under the report directory the manifest accounts for: its files, itself, its
    signature and the inputs kept inside the directory."""
    covered = set(listed) | {MANIFEST_NAME, SIGNATURE_NAME}
    for entry in inputs.values():
        if isinstance(entry, dict) and safe_relative(str(entry.get("path", ""))):
            covered.add(PurePosixPath(str(entry["path"])).as_posix())
    return covered


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
    sig = decode_signature(sig_path.read_bytes())
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
    raw, kid = raw_public(signer), key_id(signer)
    if any(raw_public(k) == raw for k in pinned):
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
        if known is not None and raw == raw_public(known.key()):
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
        if not safe_relative(str(name)) or not isinstance(entry, dict):
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


#: Alias for the runner: ``verify_manifest(out_dir, public_key=None) -> VerifyResult``.
verify_manifest = verify
