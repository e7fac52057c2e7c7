"""Pieces of benchmarks/bench_trail.py that its writer processes import: a minimal trail Signer,
a trust store for it, a typical event, and the two writer bodies (ours and the plain write+fsync anchor)."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import time
from collections.abc import Callable

__all__ = ["Key", "event_args", "plain_writer", "run_children", "trail_writer", "trust_store"]


class Key:
    """A minimal trail Signer: an Ed25519 key with a name (what an access Identity provides)."""

    def __init__(self, name: str, private_raw: bytes | None = None) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.name = name
        self.private = (Ed25519PrivateKey.from_private_bytes(private_raw) if private_raw
                        else Ed25519PrivateKey.generate())
        raw = serialization.Encoding.Raw
        self.raw = self.private.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
        self.private_raw = self.private.private_bytes(raw, serialization.PrivateFormat.Raw,
                                                      serialization.NoEncryption())
        self.key_id = hashlib.sha256(self.raw).hexdigest()[:16]

    def public_key_raw(self) -> bytes:
        return self.raw

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def trust_store(keys: list[Key], admin: Key):
    """A trust store holding ``keys`` as principals and ``admin`` with the trail-admin role."""
    from auditkit.reports.trust import TrustStore, known_roles, register_role

    if "trail-admin" not in known_roles():
        register_role("trail-admin", "countersigns audit trail checkpoints")
    store = TrustStore()
    for k in keys:
        store.add(k.name, k.private.public_key(), roles=["report-signer"])
    store.add(admin.name, admin.private.public_key(), roles=["trail-admin"])
    return store


def event_args(i: int) -> dict:
    """A typical event: an encrypted file, its SHA-256 and four parameters."""
    return {"resource": f"/srv/data/customers/2026-11/part-{i % 64:04d}.csv.enc",
            "sha256": hashlib.sha256(b"part-%d" % (i % 64)).hexdigest(),
            "params": {"rows": 250_000 + i, "columns": 24, "workers": 2, "format": "csv"}}


def trail_writer(directory: str, index: int, name: str, private_raw: bytes, n: int, barrier, queue) -> None:
    """Child process: one signed command of ``n`` events appended to the shared trail."""
    from auditkit.privacy import trail

    trail.bind(location=directory, signer=Key(name, private_raw))
    barrier.wait()
    t0 = time.time()
    with trail.command("decrypt", params={"writer": index}):
        for i in range(n):
            args = event_args(i)
            args["params"] = {**args["params"], "writer": index, "i": i}
            trail.record("decrypt", **args)
    queue.put((index, t0, time.time()))


def plain_writer(path: str, index: int, lines: list[bytes], barrier, queue) -> None:
    """Child process: the anchor, write+fsync of each line to one plain O_APPEND file, no lock."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    barrier.wait()
    t0 = time.time()
    for line in lines:
        os.write(fd, line)
        os.fsync(fd)
    os.close(fd)
    queue.put((index, t0, time.time()))


def run_children(target: Callable, per_child: list[tuple]) -> float:
    """Start one spawned process per argument tuple, release them together, return the wall
    seconds from the first start to the last finish."""
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(len(per_child)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, queue)) for a in per_child]
    for p in procs:
        p.start()
    spans = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a writer process failed with exit code {p.exitcode}")
    return max(s[2] for s in spans) - min(s[1] for s in spans)
