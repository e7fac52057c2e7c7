"""benchmarks/bench_trail.py: its helpers, and a --quick run end to end in a subprocess."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
if not (_DIR / "bench_trail.py").is_file():  # the wheel run copies tests/ without the benchmarks
    pytest.skip("reads the checkout's benchmarks/", allow_module_level=True)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, _DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bench = _load("bench_trail")

from auditkit.privacy import trail  # noqa: E402
from auditkit.privacy.trail import Trail  # noqa: E402


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        (list(range(1, 101)), 50, 50),
        (list(range(1, 101)), 99, 99),
        (list(range(100, 0, -1)), 99, 99),  # order of the input does not matter
        (list(range(1, 101)), 100, 100),
        ([7.0], 50, 7.0),
        ([7.0], 99, 7.0),
        ([1, 2, 3, 4], 50, 2),  # nearest rank: ceil(0.5 * 4) = 2nd value
        ([1, 2, 3, 4], 51, 3),
    ],
)
def test_percentile_is_the_nearest_rank(values, q, expected) -> None:
    assert bench.percentile(values, q) == expected


@pytest.mark.skipif(not Path("/proc/mounts").is_file(), reason="reads /proc/mounts")
def test_filesystem_names_the_mount_holding_the_path(tmp_path: Path) -> None:
    mounts = {row.split()[1]: row.split()[2] for row in Path("/proc/mounts").read_text().splitlines()}
    assert bench.filesystem("/") == f"{mounts['/']} (/)"
    assert bench.filesystem(tmp_path).split(" (")[0] in mounts.values()
    if "/dev/shm" in mounts:
        assert bench.filesystem("/dev/shm/x/y") == f"{mounts['/dev/shm']} (/dev/shm)"


def test_bench_signers_and_floor_parse_what_the_trail_writes(tmp_path: Path) -> None:
    """The benchmark's Key, trust store and typical event make a trail that verifies, and its
    floor measurement finds and checks exactly the trail's signatures."""
    alice, admin = bench.Key("alice"), bench.Key("admin")
    store = bench.trust_store([alice], admin)
    directory = tmp_path / "trail"
    with trail.command("decrypt"):
        trail.bind(signer=alice, location=directory)  # this session only
        trail.record("decrypt", **bench.event_args(3))
    Trail.open(directory).checkpoint(admin)
    result = Trail.open(directory).verify(trust=store)
    assert result.ok and result.commands == {"key": 1, "none": 0} and result.checkpoints == 1
    [event] = Trail.open(directory).events(action="decrypt")
    args = bench.event_args(3)
    assert (event.resource, event.sha256, event.params) == (args["resource"], args["sha256"], args["params"])
    floor = bench.floor_costs(directory, repeat=1)
    assert (floor["lines"], floor["signatures"]) == (4, 2)  # genesis, event, seal, checkpoint
    assert floor["bytes"] == sum(p.stat().st_size for p in directory.glob("*.jsonl"))


def test_quick_run_measures_every_part_and_the_trails_verify(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_DIR.parent), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(
        [sys.executable, str(_DIR / "bench_trail.py"), "--quick", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "saved to" not in text  # --quick saves nothing
    for what in ("event in a command session", "one-shot record (event + seal)",
                 "seal (sign + write + fsync + HEAD)", "Ed25519 signature alone"):
        assert what in text
    assert "verify ok=True" in text and "commands={'key': 20, 'none': 0}" in text
    assert "trail: 20,022 lines" in text  # genesis + 20,000 events + 20 seals + 1 checkpoint
    runs = 2 if bench.tmpfs_dir() else 1  # the temp directory, and /dev/shm when it is a tmpfs
    assert text.count("verifies: yes; lines 809 (= 1 + 800 + 8 seals: yes); every (writer, i) once: yes") == runs
    assert ": NO" not in text and "verifies: NO" not in text
    assert not list(tmp_path.iterdir())  # every trail it made is removed
