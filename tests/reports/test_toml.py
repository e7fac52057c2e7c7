"""The one TOML reader of ``auditkit.reports`` (catalogue and trust store)."""

from __future__ import annotations

import sys

import pytest

from auditkit.reports import catalogue, trust
from auditkit.reports._toml import tomllib


def test_known_document_parses() -> None:
    assert tomllib.loads('version = 1\n[a]\nb = ["x", 2]\n') == {"version": 1, "a": {"b": ["x", 2]}}


def test_syntax_error_is_the_decode_error_the_readers_catch() -> None:
    with pytest.raises(tomllib.TOMLDecodeError, match="line 1"):
        tomllib.loads("a = \n")


def test_stdlib_parser_from_python_3_11() -> None:
    expected = "tomllib" if sys.version_info >= (3, 11) else "tomli"
    assert tomllib.__name__ == expected


def test_catalogue_and_trust_store_read_with_the_same_parser() -> None:
    assert catalogue.tomllib is tomllib
    assert trust.tomllib is tomllib
