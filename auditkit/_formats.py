"""The file formats the runner reads, each named once with the suffixes that identify it.

Datasets (:data:`DATA_FORMATS`) and models (:data:`MODEL_FORMATS`) are tables of
:class:`FileFormat`. Config validation (``[data] format``, ``[model] format``), the dataset
reader (:mod:`auditkit._io`), the model loader (:mod:`auditkit._models`), ``auditkit init`` and
the messages they write all read these tables: a format is added here, and its reader or loader
is keyed by its name (a test checks that every format has one).

>>> [f.name for f in DATA_FORMATS]
['csv', 'parquet']
>>> format_named(MODEL_FORMATS, "pickle").runs_code
True
>>> suffix_list(MODEL_FORMATS)
'.skops, .pkl, .pickle or .joblib'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from auditkit.hints import did_you_mean
from auditkit.privacy.tabular import TABLE_FORMATS

__all__ = [
    "AUTO",
    "DATA_FORMATS",
    "MODEL_FORMATS",
    "FileFormat",
    "choice_problem",
    "choices",
    "format_from_suffix",
    "format_named",
    "suffix_list",
]

AUTO = "auto"
"""The ``format`` value that means: tell the format from the file's name."""


@dataclass(frozen=True)
class FileFormat:
    """One file format: its name in ``audit.toml`` and the suffixes that identify it.

    Attributes
    ----------
    name:
        The value of ``[data] format`` / ``[model] format`` (``"csv"``, ``"skops"``).
    suffixes:
        Lower-case file suffixes, the first being the usual one.
    runs_code:
        Loading the file runs code it holds (pickle, joblib): allowed only when trusted.
    """

    name: str
    suffixes: tuple[str, ...]
    runs_code: bool = False


#: The table formats of :data:`auditkit.privacy.tabular.TABLE_FORMATS`, the one list (the
#: masking streams read the same formats).
DATA_FORMATS: tuple[FileFormat, ...] = tuple(
    FileFormat(name, suffixes) for name, suffixes in TABLE_FORMATS.items()
)
MODEL_FORMATS: tuple[FileFormat, ...] = (
    FileFormat("skops", (".skops",)),
    FileFormat("pickle", (".pkl", ".pickle"), runs_code=True),
    FileFormat("joblib", (".joblib",), runs_code=True),
)


def choices(formats: Sequence[FileFormat]) -> tuple[str, ...]:
    """The values a ``format`` key accepts: ``"auto"`` and every format's name."""
    return (AUTO, *(f.name for f in formats))


def format_named(formats: Sequence[FileFormat], name: str) -> FileFormat:
    """The format called ``name`` (a name :func:`choices` accepted, ``"auto"`` excluded)."""
    return next(f for f in formats if f.name == name)


def format_from_suffix(formats: Sequence[FileFormat], path: Path,
                       *, skip: tuple[str, ...] = ()) -> FileFormat | None:
    """The format the last suffix of ``path`` names (suffixes in ``skip``, such as ``.enc``,
    are passed over), or ``None`` when it names none."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in skip]
    suffix = suffixes[-1] if suffixes else ""
    return next((f for f in formats if suffix in f.suffixes), None)


def suffix_list(formats: Sequence[FileFormat]) -> str:
    """The suffixes of ``formats`` for a message: ``".csv, .tsv, .txt, .parquet or .pq"``."""
    found = [s for f in formats for s in f.suffixes]
    return found[0] if len(found) == 1 else f"{', '.join(found[:-1])} or {found[-1]}"


def choice_problem(value: str, formats: Sequence[FileFormat]) -> str | None:
    """What is wrong with a ``format`` value, as the end of a sentence that names the key, or
    ``None``: ``"names unknown format 'cvs'. Did you mean 'csv'? Expected one of: auto, csv,
    parquet"``."""
    allowed = choices(formats)
    if value in allowed:
        return None
    return (f"names unknown format {value!r}.{did_you_mean(value, allowed)} Expected one of: "
            f"{', '.join(allowed)}")
