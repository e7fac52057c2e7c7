"""Tests for auditkit.atomic: all or nothing, no temp files left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.atomic import TEMP_SUFFIX, atomic_write, atomic_write_bytes, atomic_write_text


def test_writes_complete_file(tmp_path):
    p = tmp_path / "out.bin"
    atomic_write_bytes(p, b"hello")
    assert p.read_bytes() == b"hello"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_text_mode(tmp_path):
    p = tmp_path / "out.txt"
    atomic_write_text(p, "héllo\n")
    assert p.read_text(encoding="utf-8") == "héllo\n"


def test_exception_leaves_no_file(tmp_path):
    p = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_write(p) as fh:
            fh.write(b"partial")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_exception_keeps_previous_content(tmp_path):
    p = tmp_path / "out.bin"
    p.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(p) as fh:
            fh.write(b"new")
            raise KeyboardInterrupt
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_mode_applied(tmp_path):
    p = tmp_path / "secret"
    atomic_write_bytes(p, b"k", mode=0o600)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_default_mode_follows_umask(tmp_path):
    p = tmp_path / "plain"
    old = os.umask(0o022)
    try:
        atomic_write_bytes(p, b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


# -- the one contract, as properties ----------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(first=st.binary(max_size=4096), second=st.binary(max_size=4096))
def test_bytes_round_trip_and_replace(tmp_path_factory, first: bytes, second: bytes) -> None:
    d = tmp_path_factory.mktemp("rt")
    p = d / "f.bin"
    assert atomic_write_bytes(p, first) == p
    assert p.read_bytes() == first
    assert atomic_write_bytes(p, second) == p
    assert p.read_bytes() == second
    assert os.listdir(d) == ["f.bin"]


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=500))
def test_text_round_trip(tmp_path_factory, text: str) -> None:
    d = tmp_path_factory.mktemp("txt")
    p = atomic_write_text(d / "f.txt", text)
    assert p.read_bytes() == text.encode("utf-8")


def test_temporary_file_is_recognisable_while_writing(tmp_path) -> None:
    with atomic_write(tmp_path / "report.html") as fh:
        fh.write(b"x")
        (tmp,) = [n for n in os.listdir(tmp_path)]
        assert tmp.startswith(f".report.html.{os.getpid()}.") and tmp.endswith(TEMP_SUFFIX)
        assert not (tmp_path / "report.html").exists()
    assert os.listdir(tmp_path) == ["report.html"]


def test_temporary_name_is_the_one_sweep_stale_recognises(tmp_path) -> None:
    import auditkit.atomic as atomic

    assert {"parse_temp_name", "sweep_stale"} <= set(atomic.__all__)
    with atomic_write(tmp_path / "a.b.123.csv") as fh:
        (tmp,) = os.listdir(tmp_path)
        assert atomic.parse_temp_name(tmp) == os.getpid()
        assert atomic.sweep_stale(tmp_path) == []  # a live writer (this one) keeps its file
        fh.write(b"x")
    assert os.listdir(tmp_path) == ["a.b.123.csv"]


def test_private_file_is_never_readable_by_others(tmp_path) -> None:
    with atomic_write(tmp_path / "key", mode=0o600) as fh:
        (tmp,) = os.listdir(tmp_path)
        assert stat.S_IMODE(os.stat(tmp_path / tmp).st_mode) == 0o600
        fh.write(b"secret")


def test_missing_directory_is_not_created(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "absent" / "f", b"x")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("mode", ["w", "0o600", 1.5, True])
def test_mode_must_be_permission_bits(tmp_path, mode) -> None:
    with pytest.raises(TypeError, match="permission bits"):
        atomic_write_bytes(tmp_path / "f", b"x", mode=mode)
    assert os.listdir(tmp_path) == []


def test_every_package_writes_through_this_one_module() -> None:
    """No package keeps a second atomic-write helper of its own."""
    import auditkit.privacy
    import auditkit.reports

    for pkg in (auditkit.privacy, auditkit.reports):
        for base in pkg.__path__:
            assert not list(Path(base).rglob("_atomic.py"))
