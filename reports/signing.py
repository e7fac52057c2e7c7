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

This module writes manifests and is the public face of the feature; the format lives in
``_manifest``, key handling in ``_keys``, verification in ``_verify``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from auditkit.atomic import atomic_write_bytes
from auditkit.reports._keys import (
    KeySource,
    SigningKeyFiles,
    generate_signing_key,
    key_id,
    load_private_key,
    load_public_key,
)
from auditkit.reports._manifest import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    SIGNATURE_NAME,
    encode_signature,
    fingerprint,
    manifest_bytes,
)
from auditkit.reports._verify import VerifyResult, verify, verify_manifest
from auditkit.reports.errors import ReportInputError

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


# -- writing -----------------------------------------------------------------------------------


def _relative_inside(path: Path, root: Path) -> str:
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        raise ReportInputError(
            f"The report file {path} is not inside the report directory {root}; only files in "
            "that directory can be listed in its manifest."
        ) from None
    return rel.as_posix()


def _input_entries(files: Mapping[str, str | os.PathLike], root: Path) -> dict[str, Any]:
    """The manifest's ``inputs``: each input's name, path relative to ``root`` and fingerprint."""
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
        entry.update(fingerprint(path))
        inputs[str(role)] = entry
    return inputs


def _report_entries(report_files: Iterable[str | os.PathLike], root: Path) -> dict[str, Any]:
    """The manifest's ``files``: each report file's fingerprint by path inside ``root``, sorted."""
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
        listed[rel] = fingerprint(path)
    return dict(sorted(listed.items()))


_HEX = frozenset("0123456789abcdef")


def _trail_entry(trail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The manifest's ``"trail"`` entry, checked: 32-hex trail id, seq >= 0, 64-hex hash."""
    if trail is None:
        return None
    trail_id, seq, digest = trail.get("trail_id"), trail.get("seq"), trail.get("hash")
    ok = (isinstance(trail_id, str) and len(trail_id) == 32 and set(trail_id) <= _HEX
          and type(seq) is int and seq >= 0
          and isinstance(digest, str) and len(digest) == 64 and set(digest) <= _HEX
          and set(trail) == {"trail_id", "seq", "hash"})
    if not ok:
        raise ReportInputError(
            "The manifest's trail head must be {\"trail_id\": 32 lower-case hex, \"seq\": an int >= 0, "
            "\"hash\": 64 lower-case hex} and nothing else; pass the "
            "trail's head (Trail.head) with its trail_id (Trail.verify().trail_id)."
        )
    return {"trail_id": trail_id, "seq": seq, "hash": digest}


def write_manifest(
    out_dir: str | os.PathLike,
    files: Mapping[str, str | os.PathLike],
    report_files: Iterable[str | os.PathLike],
    private_key: KeySource,
    *,
    created_at: str | None = None,
    trail: Mapping[str, Any] | None = None,
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
    trail:
        The audit trail's head when the report is signed, ``{"trail_id": 32 hex, "seq": int,
        "hash": 64 hex}``, recorded as the manifest's ``"trail"`` entry: with the signature, it
        proves that the trail held that line when the report was written, so a later
        truncation or rewrite below it is detectable (``Trail.verify(anchor=(seq, hash))``).
    """
    key = load_private_key(private_key)
    root = Path(out_dir)
    if not root.is_dir():
        raise ReportInputError(
            f"The report directory {root} does not exist; write the reports first."
        )
    data = manifest_bytes(
        key.public_key(),
        _input_entries(files, root),
        _report_entries(report_files, root),
        created_at or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        _trail_entry(trail),
    )
    signature = key.sign(data)
    manifest_path = atomic_write_bytes(root / MANIFEST_NAME, data)
    atomic_write_bytes(root / SIGNATURE_NAME, encode_signature(signature))
    return manifest_path
