"""The one TOML reader every auditkit package reads its files with.

``audit.toml``, a ``pyproject.toml`` gate table, a masking policy, the trust store and the
regulation catalogue are all TOML. They are parsed here, by one parser: :mod:`tomllib` from
Python 3.11, the ``tomli`` backport (the same code, declared in ``pyproject.toml`` for 3.10 only)
before. :func:`read_toml` writes the refusals once: a file that is missing, a directory,
unreadable, not UTF-8 or not valid TOML is refused with the *caller's* error class (each package
keeps its own error vocabulary) and a message that names the file, says what was expected and
what to do. Where the parser stopped (line and column) is quoted; the parser's wording is not,
as it can quote the file's content (a key, a character), and a message never does.

Like :mod:`auditkit.atomic`, this module imports nothing else of auditkit and only the standard
library, bar ``tomli`` on Python 3.10, so every package may use it without breaking the
direction of imports.

>>> loads('version = 1\\n[a]\\nb = ["x", 2]\\n')
{'version': 1, 'a': {'b': ['x', 2]}}
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib as _parser
else:  # pragma: no cover - Python 3.10
    import tomli as _parser

__all__ = ["FIX_SYNTAX", "PARSER", "TOMLDecodeError", "loads", "read_toml", "read_toml_text"]

TOMLDecodeError = _parser.TOMLDecodeError
"""What :func:`loads` raises for a document that is not valid TOML (a :class:`ValueError`)."""

FIX_SYNTAX = "Fix the syntax there."
"""What to do about a file that is there but not UTF-8 or not valid TOML, unless the caller says."""

PARSER = _parser.__name__
"""The parser in use: ``"tomllib"`` (Python 3.11+) or ``"tomli"`` (3.10)."""


def loads(text: str) -> dict[str, Any]:
    """The TOML document ``text`` as a dict; :data:`TOMLDecodeError` when it is not valid TOML."""
    return _parser.loads(text)


def read_toml(
    path: str | os.PathLike[str],
    *,
    error: type[Exception],
    what: str,
    fix: str,
    fix_syntax: str = FIX_SYNTAX,
) -> dict[str, Any]:
    """The TOML file at ``path`` as a dict, or ``error(message)`` saying why it cannot be read.

    Parameters
    ----------
    error
        The caller's error class, raised with one argument, the message.
    what
        What the file is, as it reads after "The": ``"masking policy file"``.
    fix
        What to do when the file is missing, a directory or unreadable: ``"Pass the path of an
        audit.toml, or create one with 'auditkit init DATA_FILE'."``.
    fix_syntax
        What to do when the file is there but not UTF-8 or not valid TOML.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "gate.toml"
    >>> read_toml(p, error=LookupError, what="gate file", fix="Pass --config.")
    Traceback (most recent call last):
    ...
    LookupError: The gate file '...gate.toml' does not exist. Pass --config.
    >>> _ = p.write_text('thresholds = ["x >= 1"]\\n')
    >>> read_toml(p, error=LookupError, what="gate file", fix="Pass --config.")
    {'thresholds': ['x >= 1']}
    """
    return read_toml_text(path, error=error, what=what, fix=fix, fix_syntax=fix_syntax)[1]


def read_toml_text(
    path: str | os.PathLike[str],
    *,
    error: type[Exception],
    what: str,
    fix: str,
    fix_syntax: str = FIX_SYNTAX,
) -> tuple[str, dict[str, Any]]:
    """``(text, document)``: :func:`read_toml`, with the file's text for a writer that keeps it
    (comments included) when it saves the file again. Refuses as :func:`read_toml` does."""
    p = Path(path)
    where = f"The {what} {str(p)!r}"
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise error(f"{where} does not exist. {fix}") from None
    except OSError as exc:
        if p.is_dir():
            raise error(f"{where} is a directory; expected a TOML file. {fix}") from None
        raise error(f"{where} cannot be read ({exc.strerror or type(exc).__name__}). {fix}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{where} is not UTF-8 text: line {line} (byte offset {exc.start:,}) holds a byte "
            f"sequence UTF-8 does not allow, and TOML is UTF-8. {fix_syntax}"
        ) from None
    try:
        return text, _parser.loads(text)
    except _parser.TOMLDecodeError as exc:
        raise error(f"{where} is not valid TOML ({_position(exc)}). {fix_syntax}") from None


def _position(exc: Exception) -> str:
    """Where the parser stopped, ``"at line 3, column 9"``, without its wording (it may quote
    the file: ``Cannot declare ('salary',) twice``)."""
    at = re.search(r"line \d+, column \d+", str(exc))
    return f"at {at.group(0)}" if at else "a syntax error"
