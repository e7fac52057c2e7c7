"""Audit trail: append cost against a bare write+fsync, verification speed, concurrent writers.

One process (the concurrent writers are child processes), three parts, each printing the
anchor, ours and the ratio:

1. Append cost per call, fsync included, p50 / p99: ``trail.record(...)`` inside one
   ``trail.command`` session (an event of typical size: action, resource path + SHA-256,
   4 params) on a fresh trail against a plain ``os.write(line) + os.fsync`` of the *same bytes*
   (ours' lines read back from the segment and re-written, one per call, to a plain O_APPEND
   file in the same directory). Ours and the anchor alternate call by call so that both see
   the same disk (it is shared with other work, whose fsyncs come and go). Also a one-shot
   ``record()`` (event + signed seal per call, against a write+fsync of those two lines), the
   seal alone (leaving a ``command`` block: Ed25519 signature, write, fsync, HEAD rewrite,
   against a write+fsync of the seal line) and the Ed25519 signature alone. Run on the temp directory's file system and on /dev/shm (tmpfs,
   where fsync is nearly free, so what is left is the CPU cost of ours).
2. Verification: a trail of ``--verify-events`` events from ``--verify-commands`` signed
   commands (4 principals) and an admin checkpoint, built with the trail's own writer API
   (``record()`` in ``command`` sessions) on tmpfs, copied to the temp directory; then
   ``Trail.open(dir).verify(trust=...)`` best of 3, and ``full=True``. Against the floor:
   reading and splitting the segments, ``hashlib.sha256`` over each line's hashed bytes and
   Ed25519 verification of each signature, each measured alone on the same lines.
3. ``--writers`` processes x ``--writer-events`` events appending to one trail at once: events/s
   and a check that the trail verifies with every event present; anchor: as many processes
   appending the same bytes with write+fsync (no lock) to one plain file.

Usage::

    python benchmarks/bench_trail.py            # writes benchmarks/results/trail.txt
    python benchmarks/bench_trail.py --quick    # small sizes, nothing saved
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _common import machine  # noqa: E402
from _trail_writers import Key, event_args, plain_writer, run_children, trail_writer, trust_store  # noqa: E402

BLOCK = 1
GOAL_APPEND = 1.5
GOAL_VERIFY_S = 5.0
US = 1e6
Say = Callable[..., None]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` % of the values <= it."""
    ordered = sorted(values)
    k = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[k - 1]


def filesystem(path: str | os.PathLike) -> str:
    """``"<type> (<mount point>)"`` of the file system holding ``path`` (from /proc/mounts)."""
    real = os.path.realpath(path)
    best = ("", "unknown")
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown file system"
    for row in mounts:
        parts = row.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[0]):
            best = (mount, parts[2])
    return f"{best[1]} ({best[0] or '?'})"


def tmpfs_dir() -> str | None:
    """/dev/shm when it is a writable tmpfs, else None."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) and filesystem("/dev/shm").startswith("tmpfs"):
        return "/dev/shm"
    return None


def commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def fresh_trail(base: str) -> Path:
    """A new, empty trail (genesis written) in a new directory under ``base``."""
    from auditkit.privacy.trail import Trail

    directory = Path(tempfile.mkdtemp(prefix="bench-trail-", dir=base)) / "trail"
    Trail.open(directory, create=True)
    return directory


# -- 1. append cost ------------------------------------------------------------------------------


class _Tail:
    """Reads what a trail's (single) segment gained since the last call."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "000001.jsonl"
        self.fh = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        self.fh.seek(0, os.SEEK_END)

    def new_lines(self) -> list[bytes]:
        return self.fh.read().splitlines(keepends=True)

    def close(self) -> None:
        self.fh.close()


def interleaved(directory: Path, n: int, op: Callable[[int], float],
                pick: Callable[[list[bytes]], list[bytes]]) -> tuple[list[float], list[float], float]:
    """Seconds per call of ``op`` (ours) and of a write+fsync of the bytes each call wrote, and
    the mean bytes per call.

    Blocks of ``BLOCK`` calls of ours alternate with blocks of the anchor (1: call by call, so
    that both see the same disk): after each block of ours, ``pick`` turns the lines it appended
    into one payload per call, which the anchor writes (one write, one fsync per payload) to a
    plain O_APPEND file next to the trail.
    """
    tail = _Tail(directory)
    fd = os.open(directory.parent / "plain.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    ours: list[float] = []
    anchor: list[float] = []
    nbytes = 0
    try:
        for start in range(0, n, BLOCK):
            count = min(BLOCK, n - start)
            ours.extend(op(start + i) for i in range(count))
            payloads = pick(tail.new_lines())
            if len(payloads) != count:
                raise SystemExit(f"expected {count} payloads read back from the trail, got {len(payloads)}")
            for data in payloads:
                nbytes += len(data)
                t0 = time.perf_counter()
                os.write(fd, data)
                os.fsync(fd)
                anchor.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        tail.close()
    return ours, anchor, nbytes / max(1, n)


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def append_costs(base: str, n: int, n_oneshot: int, n_seals: int, key: Key) -> dict[str, tuple]:
    """Per-call seconds (ours, anchor) of events in a session, one-shot records and seals."""
    from auditkit.privacy import trail

    out = {}
    directory = fresh_trail(base)
    try:
        trail.bind(location=directory, signer=key)
        with trail.command("decrypt"):  # warm-up: appender, file, caches
            for i in range(10):
                trail.record("decrypt", **event_args(i))
        with trail.command("decrypt", params={"files": n}):
            out["event in a command session"] = interleaved(
                directory, n, lambda i: _timed(lambda: trail.record("decrypt", **event_args(i))),
                lambda lines: lines)
        out["one-shot record (event + seal)"] = interleaved(
            directory, n_oneshot, lambda i: _timed(lambda: trail.record("decrypt", **event_args(i))),
            lambda lines: [a + b for a, b in zip(lines[::2], lines[1::2], strict=True)])

        def seal(i: int) -> float:
            block = trail.command("decrypt")
            block.__enter__()
            trail.record("decrypt", **event_args(i))
            return _timed(lambda: block.__exit__(None, None, None))

        out["seal (sign + write + fsync + HEAD)"] = interleaved(
            directory, n_seals, seal, lambda lines: [x for x in lines if x[124:125] == b"s"])
        seal_line = next(x for x in reversed((directory / "000001.jsonl").read_bytes().splitlines())
                         if x[124:125] == b"s")
        message = seal_line[:seal_line.rfind(b',"sig":"')]
        out["Ed25519 signature alone"] = ([_timed(lambda: key.sign(message)) for _ in range(2000)], None,
                                          len(message))
    finally:
        shutil.rmtree(directory.parent, ignore_errors=True)
    return out


def append_section(say: Say, args: argparse.Namespace, key: Key) -> list[str]:
    """Part 1; returns the goals missed."""
    places = [(args.workdir, "temp directory, fsync reaches the disk")]
    if args.tmpfs:
        places.append((args.tmpfs, "tmpfs: fsync nearly free, so this shows ours' CPU cost"))
    say(f"1. append cost per call, fsync included; {args.events:,} events in one command session, "
        f"{args.oneshot:,} one-shot records, {args.seals:,} seals; ours and the anchor alternate "
        f"{'call by call' if BLOCK == 1 else f'in blocks of {BLOCK}'}; the anchor is os.write + os.fsync "
        "of the same bytes to a plain O_APPEND file")
    missed = []
    for base, label in places:
        res = append_costs(base, args.events, args.oneshot, args.seals, key)
        say(f"  {filesystem(base)}: {label}")
        say(f"    {'what':<36}{'bytes':>6}{'anchor p50':>12}{'ours p50':>10}{'ratio':>9} |{'anchor p99':>11}"
            f"{'ours p99':>10}{'ratio':>9}")
        for what, (ours, anchor, nbytes) in res.items():
            o50, o99 = percentile(ours, 50) * US, percentile(ours, 99) * US
            if anchor is None:
                say(f"    {what:<36}{nbytes:>6.0f}{'':>12}{o50:>8.1f}us{'':>9} |{'':>11}{o99:>8.1f}us")
                continue
            a50, a99 = percentile(anchor, 50) * US, percentile(anchor, 99) * US
            say(f"    {what:<36}{nbytes:>6.0f}{a50:>10.1f}us{o50:>8.1f}us{o50 / a50:>8.2f}x |{a99:>9.1f}us"
                f"{o99:>8.1f}us{o99 / a99:>8.2f}x")
            if base == args.workdir and what.startswith("event"):
                ok = o50 / a50 <= GOAL_APPEND and o99 / a99 <= GOAL_APPEND
                say(f"    goal for an event, fsync included: <= {GOAL_APPEND}x at p50 and p99: "
                    f"{'met' if ok else 'MISSED'}")
                if not ok:
                    missed.append(f"append cost {o50 / a50:.2f}x p50 / {o99 / a99:.2f}x p99 > {GOAL_APPEND}x")
    say("  (one-shot records and seals also sign, and rewrite HEAD in place: a 128-byte pwrite and "
        "fdatasync; no goal is set for them)")
    return missed


# -- 2. verification --------------------------------------------------------------------------------


def build_trail(base: str, events: int, commands: int, signers: list[Key], admin: Key) -> tuple[Path, float]:
    """A trail of ``events`` events in ``commands`` signed commands and an admin checkpoint, made
    with the writer API; returns its directory and the seconds taken."""
    from auditkit.privacy import trail
    from auditkit.privacy.trail import Trail

    directory = fresh_trail(base)
    per, extra = divmod(events, commands)
    t0 = time.perf_counter()
    done = 0
    for c in range(commands):
        trail.bind(location=directory, signer=signers[c % len(signers)])
        with trail.command("audit.run", params={"checks": 5}):
            for _ in range(per + (c < extra)):
                trail.record("decrypt", **event_args(done))
                done += 1
    Trail.open(directory).checkpoint(admin)
    return directory, time.perf_counter() - t0


def read_lines(directory: Path) -> list[bytes]:
    lines: list[bytes] = []
    for seg in sorted(directory.glob("[0-9]" * 6 + ".jsonl")):
        lines.extend(seg.read_bytes().split(b"\n")[:-1])
    return lines


def floor_costs(directory: Path, repeat: int = 3) -> dict[str, float]:
    """Best-of-``repeat`` seconds of the verification floor: read + split, hashes, signatures."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    read_s = min(_timed(lambda: read_lines(directory)) for _ in range(repeat))
    lines = read_lines(directory)
    sha = hashlib.sha256

    def hashes() -> None:
        for line in lines:
            sha(line[:-75]).hexdigest()

    hash_s = min(_timed(hashes) for _ in range(repeat))
    signed = []
    keys: dict[str, Ed25519PublicKey] = {}
    for line in lines:
        if line[124:125] in (b"s", b"c") and b',"sig":"' in line:
            body = line[:-75]
            at = body.rfind(b',"sig":"')
            pub = json.loads(line)["public_key"]
            if pub not in keys:
                keys[pub] = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(pub + "=" * (-len(pub) % 4)))
            signed.append((keys[pub], bytes.fromhex(body[at + 8:-1].decode()), body[:at]))

    def signatures() -> None:
        for key, sig, message in signed:
            key.verify(sig, message)

    sig_s = min(_timed(signatures) for _ in range(repeat))
    return {"lines": len(lines), "bytes": sum(map(len, lines)) + len(lines), "signatures": len(signed),
            "read": read_s, "hash": hash_s, "sig": sig_s}


def verify_section(say: Say, args: argparse.Namespace, signers: list[Key], admin: Key, store) -> list[str]:
    """Part 2; returns the goals missed."""
    from auditkit.privacy.trail import Trail

    build_base = args.tmpfs or args.workdir
    say(f"2. verification: {args.verify_events:,} events in {args.verify_commands:,} signed commands "
        f"({len(signers)} principals) + 1 admin checkpoint")
    directory, build_s = build_trail(build_base, args.verify_events, args.verify_commands, signers, admin)
    copy = Path(tempfile.mkdtemp(prefix="bench-trail-verify-", dir=args.workdir)) / "trail"
    try:
        shutil.copytree(directory, copy)
        say(f"  built with the trail's own writer API (record() in command sessions, fsync each) on "
            f"{filesystem(build_base)} in {build_s:.1f} s ({args.verify_events / build_s:,.0f} events/s), "
            f"then copied to {filesystem(args.workdir)}, where it is verified (warm page cache)")
        trail = Trail.open(copy)
        results = {}
        for full in (False, True):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                res = trail.verify(trust=store, full=full)
                times.append(time.perf_counter() - t0)
            results[full] = (min(times), res)
        fl = floor_costs(copy)
    finally:
        shutil.rmtree(directory.parent, ignore_errors=True)
        shutil.rmtree(copy.parent, ignore_errors=True)
    res = results[False][1]
    say(f"  trail: {fl['lines']:,} lines, {fl['bytes'] / 2**20:,.0f} MiB in {res.segments} segment(s), "
        f"{fl['signatures']:,} signatures; verify ok={res.ok}, verified_seq={res.verified_seq}, "
        f"head_seq={res.head_seq}, commands={res.commands}, first_bad={res.first_bad}")
    n = fl["lines"]
    floor = fl["read"] + fl["hash"] + fl["sig"]
    say(f"  cost per hash (sha256 of a line's hashed bytes, alone): {fl['hash'] / n * US:.2f} us "
        f"({fl['hash']:.2f} s for all lines, {fl['bytes'] / fl['hash'] / 2**20:,.0f} MiB/s)")
    say(f"  cost per signature verification (Ed25519, alone): {fl['sig'] / fl['signatures'] * US:.1f} us "
        f"({fl['sig']:.3f} s for all)")
    say(f"  reading and splitting the segments alone: {fl['read']:.2f} s")
    say(f"  {'':<44}{'anchor (floor)':>15}{'ours':>9}{'ratio':>7}{'per line':>11}")
    missed = []
    for full, label in ((False, "Trail.verify(trust=...), best of 3"), (True, "Trail.verify(full=True), best of 3")):
        secs, r = results[full]
        say(f"  {label:<44}{floor:>13.2f} s{secs:>7.2f} s{secs / floor:>6.2f}x{secs / n * US:>8.2f} us"
            f"   ok={r.ok}")
    secs = results[False][0]
    met = secs <= GOAL_VERIFY_S and res.ok
    say("  (floor = read + split + one sha256 per line + one Ed25519 verification per signature)")
    say(f"  goal: {args.verify_events:,} events verified in <= {GOAL_VERIFY_S:.0f} s: "
        f"{'met' if met else 'MISSED'} ({secs:.2f} s)")
    if not met:
        missed.append(f"verification {secs:.2f} s (ok={res.ok}) > {GOAL_VERIFY_S} s")
    if not results[True][1].ok:
        missed.append("full verification did not pass")
    return missed


# -- 3. concurrent writers ----------------------------------------------------------------------------


def concurrent_run(base: str, writers: int, n: int, store, keys: list[Key]) -> dict:
    """Ours and the anchor with ``writers`` processes x ``n`` events; the trail's checks."""
    from auditkit.privacy.trail import Trail

    directory = fresh_trail(base)
    try:
        ours_s = run_children(trail_writer, [(str(directory), w, keys[w].name, keys[w].private_raw, n)
                                               for w in range(writers)])
        trail = Trail.open(directory)
        res = trail.verify(trust=store)
        seen = Counter()
        for e in trail.events(action="decrypt"):
            seen[(e.principal, e.params.get("writer"), e.params.get("i"))] += 1
        expected = {(keys[w].name, w, i) for w in range(writers) for i in range(n)}
        lines = read_lines(directory)
        events = [x for x in lines if x[124:125] == b"e"]
        switches = sum(a[82:114] != b[82:114] for a, b in zip(events, events[1:], strict=False))
        by_cmd: dict[bytes, list[bytes]] = {}
        for x in events:
            by_cmd.setdefault(x[82:114], []).append(x + b"\n")
        plain = directory.parent / "plain.jsonl"
        anchor_s = run_children(plain_writer, [(str(plain), w, chunk) for w, chunk in enumerate(by_cmd.values())])
        plain_ok = os.path.getsize(plain) == sum(len(x) + 1 for x in events)
    finally:
        shutil.rmtree(directory.parent, ignore_errors=True)
    return {"ours": ours_s, "anchor": anchor_s, "ok": res.ok, "lines": res.lines, "commands": res.commands,
            "complete": set(seen) == expected and all(c == 1 for c in seen.values()),
            "switches": switches, "plain_ok": plain_ok, "first_bad": res.first_bad}


def concurrent_section(say: Say, args: argparse.Namespace, store, keys: list[Key]) -> list[str]:
    """Part 3; returns the goals missed."""
    total = args.writers * args.writer_events
    say(f"3. {args.writers} writer processes x {args.writer_events:,} events at once, one signed command each "
        "(spawned processes released together by a barrier; wall time from the first start to the last end)")
    say(f"  {'file system':<24}{'anchor ev/s':>13}{'ours ev/s':>11}{'ratio':>7}   trail checks")
    missed = []
    for base in [args.workdir, *([args.tmpfs] if args.tmpfs else [])]:
        r = concurrent_run(base, args.writers, args.writer_events, store, keys)
        a_rate, o_rate = total / r["anchor"], total / r["ours"]
        good = r["ok"] and r["complete"] and r["lines"] == 1 + total + args.writers
        say(f"  {filesystem(base):<24}{a_rate:>13,.0f}{o_rate:>11,.0f}{a_rate / o_rate:>6.2f}x   "
            f"verifies: {'yes' if r['ok'] else 'NO'}; lines {r['lines']:,} (= 1 + {total:,} + {args.writers} "
            f"seals: {'yes' if r['lines'] == 1 + total + args.writers else 'NO'}); every (writer, i) once: "
            f"{'yes' if r['complete'] else 'NO'}; commands {r['commands']}; writer changes between "
            f"consecutive events {r['switches']:,}; anchor bytes all there: {'yes' if r['plain_ok'] else 'NO'}")
        if not good:
            missed.append(f"concurrent writers on {filesystem(base)}: trail incomplete or not verified "
                          f"({r['first_bad']})")
    say("  (ratio = anchor events/s / ours: how many times slower ours is; the anchor takes no lock, so "
        "its lines may interleave but are not chained)")
    return missed


# -- main -------------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--events", type=int, default=5_000, help="events per append-cost run")
    ap.add_argument("--oneshot", type=int, default=1_000, help="one-shot records per run")
    ap.add_argument("--seals", type=int, default=500, help="seals per run")
    ap.add_argument("--verify-events", type=int, default=1_000_000)
    ap.add_argument("--verify-commands", type=int, default=1_000)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--writer-events", type=int, default=1_000)
    ap.add_argument("--workdir", default=tempfile.gettempdir(), help="where the trails go (default: %(default)s)")
    ap.add_argument("--no-tmpfs", action="store_true", help="skip the /dev/shm runs")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run); saves nothing")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "trail.txt")
    ap.add_argument("--no-save", action="store_true", help="print only; write no file")
    args = ap.parse_args(argv)
    if args.quick:
        args.events, args.oneshot, args.seals = 300, 100, 50
        args.verify_events, args.verify_commands, args.writer_events = 20_000, 20, 100
        args.no_save = True
    args.tmpfs = None if args.no_tmpfs else tmpfs_dir()
    args.workdir = os.path.abspath(args.workdir)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    from importlib.metadata import version

    from cryptography.hazmat.backends.openssl import backend

    started = time.perf_counter()
    say(f"bench_trail  {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}  commit {commit()}")
    say(f"machine: {machine(memory=True)}")
    say(f"temp directory {args.workdir}: {filesystem(args.workdir)}; tmpfs: "
        f"{filesystem(args.tmpfs) if args.tmpfs else 'none (skipped)'}")
    say(f"Python {platform.python_version()}, cryptography {version('cryptography')} "
        f"({backend.openssl_version_text()})")
    say(f"command: bench_trail.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    signers = [Key(n) for n in ("alice", "bob", "carol", "dave")]
    writers = [Key(f"writer{w}") for w in range(args.writers)]
    admin = Key("admin")
    store = trust_store([*signers, *writers], admin)
    missed: list[str] = []
    say()
    missed += append_section(say, args, signers[0])
    say()
    missed += verify_section(say, args, signers, admin, store)
    say()
    missed += concurrent_section(say, args, store, writers)
    say()
    say("goals missed: " + ("; ".join(missed) if missed else "none"))
    say(f"total run time {time.perf_counter() - started:.0f} s")
    if not args.no_save:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"saved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
