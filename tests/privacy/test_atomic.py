"""Tests for privacy._atomic: all or nothing, no temp files left behind."""

from __future__ import annotations

import os
import stat

import pytest

from privacy._atomic import atomic_write, atomic_write_bytes, atomic_write_text


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
