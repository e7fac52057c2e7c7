"""No residue: what a killed writer leaves is removed by the next command in that directory.

The attack (issue 12, #10): ``kill -9`` during ``auditkit encrypt`` / ``decrypt`` leaves the
atomic writer's temporary file behind (ciphertext, or for decrypt *plaintext*), and nothing
ever removes it. Outcomes asserted: the temporary file existed after the kill (and for decrypt
held plaintext), the next command removed it, no byte of the plaintext marker is left in the
directory, and nothing that is not a dead writer's temporary file is ever touched (live
writers, look-alike names, symlinks and their targets, directories).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.atomic import TEMP_SUFFIX, atomic_write, parse_temp_name, sweep_stale
from auditkit.privacy.crypto import KeyRing, encrypt_file

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pid probing is POSIX-only")

PASS = "residue passphrase"
MARKER = b"PLAINTEXT-MARKER-4f1c9a"
ENV = {"AUDITKIT_KEYRING_PASSPHRASE": PASS, "NO_COLOR": "1", "COLUMNS": "200"}
RAND = "abcdefghijklmnopqrstuvwxyz0123456789_"

# A real `auditkit` CLI process whose segment writes block after the first one has reached the
# temporary file: the command is then deterministically "mid-write" when the test kills it.
_PAUSED_CLI = textwrap.dedent(
    """
    import os, sys, threading, time
    import auditkit.privacy.crypto._parallel as par
    orig, lock, done = par._pwrite_all, threading.Lock(), []
    def paused(fd, view, offset):
        orig(fd, view, offset)
        os.fsync(fd)
        with lock:
            done.append(1)
            if len(done) == 1:
                os.write(1, b"W")
        time.sleep(3600)
    par._pwrite_all = paused
    from auditkit.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)

# A bare atomic_write writer that stops mid-write: a cheap real temporary file with a real pid.
_PAUSED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from auditkit.atomic import atomic_write
    with atomic_write(sys.argv[1], mode=0o600) as fh:
        fh.write(sys.argv[2].encode()); fh.flush()
        os.write(1, b"W")
        time.sleep(3600)
    """
)


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AUDITKIT_")}, **ENV}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditkit", *args],
        cwd=cwd, env=_env(), capture_output=True, text=True, timeout=180,
    )


def _start_paused(script: str, *args: str, cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    if proc.stdout.read(1) != b"W":  # blocks until the writer is mid-write (or has died)
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the writer never started writing: {err.decode(errors='replace')[-2000:]}")
    return proc


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _temps(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(TEMP_SUFFIX))


def _holds(directory: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file() and needle in p.read_bytes())


def _stale_temp(directory: Path, target: str = "old.bin") -> Path:
    """A temporary file left by a real atomic_write writer killed with SIGKILL."""
    proc = _start_paused(_PAUSED_WRITER, str(directory / target), MARKER.decode(), cwd=directory)
    _kill(proc)
    (name,) = [n for n in _temps(directory) if n.startswith(f".{target}.{proc.pid}.")]
    return directory / name


@pytest.fixture
def ring_path(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir()
    KeyRing.generate().save(keys / "ring.json", passphrase=PASS)
    return keys / "ring.json"


# -- the reported case: kill -9 mid-encrypt / mid-decrypt, then the next `auditkit encrypt` ------
@pytest.mark.parametrize("killed", ["encrypt", "decrypt"])
def test_killed_command_residue_removed_by_next_encrypt(tmp_path, ring_path, killed) -> None:
    src_dir, out = tmp_path / "src", tmp_path / "out"
    src_dir.mkdir()
    out.mkdir()
    ring = KeyRing.load(ring_path, passphrase=PASS)
    plain = (MARKER + os.urandom(4096)) * 2048  # 8 MiB, 8 segments, the marker in each
    (src_dir / "big.bin").write_bytes(plain)
    if killed == "encrypt":
        args = ["encrypt", str(src_dir / "big.bin"), str(out / "big.bin.enc")]
    else:
        encrypt_file(src_dir / "big.bin", src_dir / "big.bin.enc", ring)
        args = ["decrypt", str(src_dir / "big.bin.enc"), str(out / "big.bin")]
    proc = _start_paused(_PAUSED_CLI, *args, "--keyring", str(ring_path), cwd=tmp_path)
    _kill(proc)
    (residue,) = _temps(out)
    assert parse_temp_name(residue) == proc.pid
    assert os.path.getsize(out / residue) > 0
    if killed == "decrypt":  # the leak the issue describes: plaintext left on disk
        assert _holds(out, MARKER) == [residue]
    assert not (out / args[2].rsplit("/", 1)[-1]).exists()

    (src_dir / "next.csv").write_bytes(b"a,b\n1,2\n")
    p = _cli("encrypt", str(src_dir / "next.csv"), str(out / "next.csv.enc"),
             "--keyring", str(ring_path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert _temps(out) == []
    assert sorted(os.listdir(out)) == ["next.csv.enc"]
    assert _holds(out, MARKER) == []
    assert "Removed 1 temporary file" in p.stderr
    assert MARKER.decode() not in p.stdout + p.stderr and PASS not in p.stdout + p.stderr


# -- every command that writes into a directory sweeps it first ---------------------------------
def _setup_and_args(command: str, d: Path, ring_path: Path) -> list[str]:
    """Arguments that make ``command`` write into directory ``d`` (inputs prepared)."""
    ring = KeyRing.load(ring_path, passphrase=PASS)
    kr = ["--keyring", str(ring_path)]
    plain = d.parent / "plain.csv"
    plain.write_text("name,email\nAda,ada@example.org\nBob,bob@example.org\n")
    if command == "encrypt":
        return ["encrypt", str(plain), str(d / "x.enc"), *kr]
    if command == "decrypt":
        encrypt_file(plain, d.parent / "in.enc", ring)
        return ["decrypt", str(d.parent / "in.enc"), str(d / "x.csv"), *kr]
    if command == "rewrap":
        encrypt_file(plain, d / "f.enc", ring)
        ring.rotate()
        ring.save(ring_path, passphrase=PASS)
        return ["rewrap", str(d / "f.enc"), *kr]
    if command == "keys init":
        return ["keys", "init", "--keyring", str(d / "new-ring.json")]
    if command == "keys rotate":
        ring.save(d / "ring.json", passphrase=PASS)
        return ["keys", "rotate", "--keyring", str(d / "ring.json")]
    if command == "keys public-key":
        return ["keys", "public-key", *kr, "--out", str(d / "pub.pem")]
    if command == "mask":
        policy = d.parent / "policy.toml"
        policy.write_text('[policy]\nunlisted = "keep"\n\n[columns.email]\noperator = "replace"\n')
        return ["mask", str(plain), str(d / "masked.csv"), "--policy", str(policy),
                "--no-progress"]
    raise AssertionError(command)


COMMANDS = ["encrypt", "decrypt", "rewrap", "keys init", "keys rotate", "keys public-key", "mask"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_writing_command_sweeps_its_directory(tmp_path, ring_path, command) -> None:
    d = tmp_path / "work"
    d.mkdir()
    args = _setup_and_args(command, d, ring_path)
    stale = _stale_temp(d)
    assert MARKER in stale.read_bytes()
    live = _start_paused(_PAUSED_WRITER, str(d / "live.bin"), "live", cwd=d)
    try:
        (live_tmp,) = [n for n in _temps(d) if n.startswith(".live.bin.")]
        keep = {  # none of these is a dead writer's temporary file
            "lookalike": f".old.bin.{live.pid + 10**6}.abcdefgh.tmp",
            "no-dot": f"old.bin.{live.pid + 10**6}.abcdefgh{TEMP_SUFFIX}",
            "short-random": f".old.bin.{live.pid + 10**6}.abcdefg{TEMP_SUFFIX}",
        }
        for name in keep.values():
            (d / name).write_bytes(b"keep")
        before = {n: (d / n).read_bytes() for n in [*keep.values(), live_tmp]}
        p = _cli(*args, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert not stale.exists()
        assert {n: (d / n).read_bytes() for n in before} == before  # byte-identical, present
        assert _holds(d, MARKER) == []
    finally:
        _kill(live)


# -- the sweeper's own contract --------------------------------------------------------------------
def test_live_writers_including_self_are_left_alone(tmp_path) -> None:
    with atomic_write(tmp_path / "mine.bin") as fh:
        fh.write(b"in progress")
        (mine,) = _temps(tmp_path)
        init = tmp_path / f".x.1.abcdefgh{TEMP_SUFFIX}"  # pid 1 lives (EPERM or ours)
        init.write_bytes(b"x")
        assert sweep_stale(tmp_path) == []
        assert (tmp_path / mine).exists() and init.exists()
    assert (tmp_path / "mine.bin").read_bytes() == b"in progress"


def test_symlinks_and_directories_are_never_followed_or_removed(tmp_path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    stale = _stale_temp(d)
    pid = parse_temp_name(stale.name)
    outside = tmp_path / "precious.txt"
    outside.write_bytes(b"precious")
    link = d / f".link.{pid}.abcdefgh{TEMP_SUFFIX}"
    link.symlink_to(outside)
    dangling = d / f".dangling.{pid}.abcdefgh{TEMP_SUFFIX}"
    dangling.symlink_to(tmp_path / "absent")
    folder = d / f".folder.{pid}.abcdefgh{TEMP_SUFFIX}"
    folder.mkdir()
    (folder / "inside").write_bytes(b"x")
    assert sweep_stale(d) == [stale]
    assert outside.read_bytes() == b"precious" and link.is_symlink() and dangling.is_symlink()
    assert (folder / "inside").exists()


@pytest.mark.parametrize("where", ["missing", "file", "unreadable"])
def test_sweep_never_raises_on_odd_directories(tmp_path, where) -> None:
    target = tmp_path / "x"
    if where == "file":
        target.write_bytes(b"")
    elif where == "unreadable":
        target.mkdir()
        _stale_temp(target)
        os.chmod(target, 0)
    try:
        removed = sweep_stale(target)
        if where != "unreadable" or os.geteuid() != 0:
            assert removed == []
    finally:
        if where == "unreadable":
            os.chmod(target, 0o700)


def test_vanished_file_is_no_error(tmp_path, monkeypatch) -> None:
    """A race: the file disappears between listing and removal."""
    import auditkit.atomic as atomic

    stale = _stale_temp(tmp_path)
    real = atomic._is_plain_file

    def vanish(path: Path) -> bool:
        ok = real(path)
        path.unlink()
        return ok

    monkeypatch.setattr(atomic, "_is_plain_file", vanish)
    assert sweep_stale(tmp_path) == []
    assert not stale.exists()


# -- the name parser, as properties ----------------------------------------------------------------
_names = st.text(
    st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1,
    max_size=60,
).filter(lambda s: s not in (".", ".."))
_pids = st.integers(min_value=1, max_value=2**31 - 1)
_rand = st.text(st.sampled_from(RAND), min_size=8, max_size=8)


@given(target=_names, pid=_pids, rand=_rand)
def test_parser_reads_every_name_of_the_scheme(target, pid, rand) -> None:
    assert parse_temp_name(f".{target}.{pid}.{rand}{TEMP_SUFFIX}") == pid


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=_names.filter(lambda s: len(s.encode()) < 150))
def test_parser_reads_every_name_atomic_write_makes(tmp_path, target) -> None:
    d = tmp_path / "w"
    d.mkdir(exist_ok=True)
    with atomic_write(d / target) as fh:
        fh.write(b"x")
        names = [n for n in _temps(d)]
        assert [parse_temp_name(n) for n in names] == [os.getpid()]
    os.unlink(d / target)


def _mutations(target: str, pid: int, rand: str) -> list[str]:
    good = f".{target}.{pid}.{rand}"
    return [
        f"{target}.{pid}.{rand}{TEMP_SUFFIX}",  # no leading dot
        f"{good}.tmp",
        f"{good}{TEMP_SUFFIX}x",
        f"{good}{TEMP_SUFFIX[:-1]}",
        f"{good}{TEMP_SUFFIX.upper()}",
        f".{target}.{pid}.{rand[:7]}{TEMP_SUFFIX}",
        f".{target}.{pid}.{rand}a{TEMP_SUFFIX}",
        f".{target}.{pid}.{rand[:7]}A{TEMP_SUFFIX}",
        f".{target}.{pid}.{rand[:7]}-{TEMP_SUFFIX}",
        f".{target}.0{pid}.{rand}{TEMP_SUFFIX}",
        f".{target}.-{pid}.{rand}{TEMP_SUFFIX}",
        f".{target}.0.{rand}{TEMP_SUFFIX}",
        f".{target}.{pid}x.{rand}{TEMP_SUFFIX}",
        f".{target}.{pid}{rand}{TEMP_SUFFIX}",
        f".{target}.{rand}{TEMP_SUFFIX}",
        f"..{pid}.{rand}{TEMP_SUFFIX}",  # empty target
        f".{target}.{pid}0000000000.{rand}{TEMP_SUFFIX}",  # more digits than any pid
        f".{target}.{pid}.{rand}{TEMP_SUFFIX}.{pid}",
    ]


def _reference(name: str) -> int | None:
    """The scheme, re-implemented without a regex: ``.<target>.<pid>.<random>`` + suffix."""
    if not name.startswith(".") or not name.endswith(TEMP_SUFFIX):
        return None
    parts = name[1 : -len(TEMP_SUFFIX)].rsplit(".", 2)
    if len(parts) != 3:
        return None
    target, pid, rnd = parts
    if not target or not (pid.isascii() and pid.isdigit()) or pid[0] == "0" or len(pid) > 10:
        return None
    if len(rnd) != 8 or not set(rnd) <= set(RAND):
        return None
    return int(pid)


@given(target=_names, pid=_pids, rand=_rand, data=st.data())
def test_parser_refuses_near_misses(target, pid, rand, data) -> None:
    """Each mutation of a real name parses exactly as the independent reference says."""
    name = data.draw(st.sampled_from(_mutations(target, pid, rand)))
    assert parse_temp_name(name) == _reference(name)
    if "." not in target:  # nothing for a mutation to hide in: always refused
        assert parse_temp_name(name) is None


@given(name=st.text(min_size=1, max_size=80))
def test_parser_agrees_with_reference_on_any_text(name) -> None:
    assert parse_temp_name(name) == _reference(name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_names.filter(lambda s: len(s.encode()) < 200), min_size=1, max_size=8,
                      unique=True))
def test_names_not_made_by_atomic_write_are_never_removed(tmp_path_factory, names) -> None:
    d = tmp_path_factory.mktemp("prop")
    for n in names:
        try:
            (d / n).write_bytes(b"user file")
        except OSError:  # a name the file system refuses
            continue
    present = set(os.listdir(d))
    removed = {p.name for p in sweep_stale(d)}
    assert removed <= {n for n in present if parse_temp_name(n) is not None}
    for n in present - removed:
        assert (d / n).read_bytes() == b"user file"
    for n in removed:
        pid = parse_temp_name(n)
        assert pid is not None and pid != os.getpid()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
