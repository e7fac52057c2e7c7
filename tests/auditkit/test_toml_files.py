"""The one TOML reader (:mod:`auditkit.toml_files`): one parser, one set of refusals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.toml_files import PARSER, TOMLDecodeError, loads, read_toml, read_toml_text

tomli_w = pytest.importorskip("tomli_w")


class _Refused(Exception):
    """A caller's own error class: the reader raises it, never a builtin."""


FIX = "Pass the right path."


def _read(path: Path, **kw) -> dict:
    return read_toml(path, error=_Refused, what="test file", fix=FIX, **kw)


def test_known_document_parses() -> None:
    assert loads('version = 1\n[a]\nb = ["x", 2]\n') == {"version": 1, "a": {"b": ["x", 2]}}


def test_syntax_error_is_the_parsers_decode_error() -> None:
    with pytest.raises(TOMLDecodeError, match="line 1"):
        loads("a = \n")
    assert issubclass(TOMLDecodeError, ValueError)


def test_stdlib_parser_from_python_3_11() -> None:
    assert PARSER == ("tomllib" if sys.version_info >= (3, 11) else "tomli")


def test_known_file_and_its_text(tmp_path: Path) -> None:
    p = tmp_path / "a.toml"
    text = '# kept\n[[signer]]\nname = "ci"\nroles = ["report-signer"]\n'
    p.write_text(text, encoding="utf-8")
    assert _read(p) == {"signer": [{"name": "ci", "roles": ["report-signer"]}]}
    assert read_toml_text(p, error=_Refused, what="test file", fix=FIX) == (text, _read(p))


def _bad_file(tmp_path: Path, kind: str) -> Path:
    p = tmp_path / "bad.toml"
    if kind == "directory":
        p.mkdir()
    elif kind == "not UTF-8":
        p.write_bytes(b'a = 1\nname = "caf\xe9"\n')
    elif kind == "not TOML":
        p.write_text('[columns]\nsalary = "redact"\nsalary = "keep"\n', encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("kind", "said", "fix"),
    [
        ("missing", "does not exist", FIX),
        ("directory", "is a directory; expected a TOML file", FIX),
        ("not UTF-8", "is not UTF-8 text: line 2 (byte offset 17) holds", "Fix the syntax there."),
        ("not TOML", "is not valid TOML (at line 3, column", "Fix the syntax there."),
    ],
)
def test_each_refusal_names_the_file_what_went_wrong_and_the_fix(
    tmp_path: Path, kind: str, said: str, fix: str
) -> None:
    p = _bad_file(tmp_path, kind)
    with pytest.raises(_Refused) as exc:
        _read(p)
    msg = str(exc.value)
    assert msg.startswith(f"The test file {str(p)!r} {said}"), msg
    assert msg.endswith(fix), msg
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_the_syntax_fix_is_the_callers(tmp_path: Path) -> None:
    with pytest.raises(_Refused, match=r"\(at line 3, column \d+\)\. Re-create it\.$"):
        _read(_bad_file(tmp_path, "not TOML"), fix_syntax="Re-create it.")


@pytest.mark.parametrize(("kind", "content"), [("not TOML", "salary"), ("not UTF-8", "caf")])
def test_a_syntax_refusal_quotes_the_position_never_the_content(
    tmp_path: Path, kind: str, content: str
) -> None:
    # the parser's own message names the key: "Cannot declare ('columns', 'salary') twice"
    with pytest.raises(_Refused) as exc:
        _read(_bad_file(tmp_path, kind))
    assert content not in str(exc.value)


@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied"),
                                   OSError(5, "Input/output error")])
def test_an_unreadable_file_is_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError
) -> None:
    # The read itself fails (as for a file without read permission, which root could still
    # read, or a disk error): simulated, so the test runs under any user.
    p = tmp_path / "locked.toml"
    p.write_text("a = 1\n", encoding="utf-8")

    def refuse(self: Path) -> bytes:
        raise error

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(_Refused) as exc:
        _read(p)
    reason = error.strerror
    assert str(exc.value) == f"The test file {str(p)!r} cannot be read ({reason}). {FIX}"


_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
_SCALARS = (
    st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(doc=st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_round_trip_through_a_file(tmp_path_factory: pytest.TempPathFactory, doc: dict) -> None:
    p = tmp_path_factory.mktemp("rt") / "doc.toml"
    p.write_text(tomli_w.dumps(doc), encoding="utf-8")
    assert _read(p) == doc
