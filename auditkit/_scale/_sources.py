"""What ``[data] path`` names (a file, a glob, a directory of partitions) and which engine reads it.

:func:`resolve_sources` gives :class:`Sources`: the :class:`Partition` files in sorted path
order (the order of the rows), each with its format, whether it is encrypted (told from its
first bytes), its size on disk and its estimated size in memory, which :func:`choose_engine`
compares with the memory budget. The estimate (what the pandas engine needs while it audits):

- CSV: bytes on disk x 8 (the demo's audit peaks at about 7.6x its CSV);
- Parquet: the uncompressed size its footer records x 12 (the in-memory audit of 2M demo rows
  peaked at 3.28-3.37 GiB against 0.286 GiB uncompressed: 11.5-11.8x);
- encrypted: the ciphertext's size x 8 for CSV, x 24 for Parquet (the footer cannot be read
  without the key; Parquet's compression is taken as 2:1).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from auditkit._formats import AUTO, DATA_FORMATS, choice_problem, format_from_suffix
from auditkit._io import detect_format
from auditkit.errors import ConfigError, DataError
from auditkit.hints import did_you_mean

__all__ = [
    "ENGINES", "EngineChoice", "Partition", "Sources", "choose_engine", "default_budget_bytes",
    "resolve_sources",
]

#: The values of ``[data] engine``.
ENGINES = ("auto", "pandas", "dask")
#: The names a directory is searched for (each also with ``.enc`` appended).
DATA_SUFFIXES = (".parquet", ".csv", ".tsv")
_ENCRYPTED_SUFFIX = ".enc"
_CSV_FACTOR = 8
_PARQUET_FACTOR = 12
_ENCRYPTED_FACTOR = {"csv": 8, "parquet": 24}
_LABEL = {"csv": "CSV", "parquet": "Parquet"}
_FALLBACK_MEMORY = 8 << 30  # physical memory where the system does not tell it
_ACCEPTED = ("a file, a glob such as 'parts/*.parquet' ('**' for any depth), or a directory "
             "holding *.parquet, *.csv or *.tsv files (or the same names ending in .enc, "
             "encrypted with `auditkit encrypt`); names starting with '_' or '.' are skipped")


@dataclass(frozen=True)
class Partition:
    """One file of the dataset: its ``format`` (``"csv"`` or ``"parquet"``, of the plaintext
    when ``encrypted``: the file starts with ``auditkit encrypt``'s magic bytes), its
    ``size_bytes`` on disk, its ``rows`` (a plain Parquet footer's count, else ``None``) and its
    estimated ``memory_bytes`` (see the module's docstring)."""

    path: Path
    format: str
    encrypted: bool
    size_bytes: int
    rows: int | None
    memory_bytes: int


@dataclass(frozen=True)
class Sources:
    """The partitions (at least one, all of one format) that ``spec``, ``[data] path`` as
    written, names, in sorted path order (the order of the rows); their ``format``, and their
    ``size_bytes``, ``rows`` (``None`` when a partition's is unknown) and ``memory_bytes``
    added up."""

    spec: str
    partitions: tuple[Partition, ...]

    @property
    def format(self) -> str:
        return self.partitions[0].format

    @property
    def size_bytes(self) -> int:
        return sum(p.size_bytes for p in self.partitions)

    @property
    def rows(self) -> int | None:
        counts = [p.rows for p in self.partitions]
        return None if any(n is None for n in counts) else sum(counts)  # type: ignore[misc]

    @property
    def memory_bytes(self) -> int:
        return sum(p.memory_bytes for p in self.partitions)

    @property
    def display(self) -> str:
        """How reports name the data: ``"loans/ (12 Parquet partitions)"``, or the file."""
        n = len(self.partitions)
        if n == 1 and self.partitions[0].path.name == Path(self.spec).name:
            return self.spec
        enc = ", encrypted" if any(p.encrypted for p in self.partitions) else ""
        return f"{self.spec} ({n} {_LABEL[self.format]} partition{'s' if n != 1 else ''}{enc})"


def resolve_sources(spec: str, base_dir: Path, fmt: str = AUTO) -> Sources:
    """The partitions that ``[data] path`` names.

    Parameters
    ----------
    spec:
        A file, a glob (``parts/*.parquet``; ``**`` for any depth) or a directory, searched
        recursively for :data:`DATA_SUFFIXES` files (plain, or with ``.enc`` appended); relative
        to ``base_dir`` (the config's directory), ``~`` expanded. Globs and directories skip
        names starting with ``_`` or ``.`` (``_SUCCESS``, ``.part-0.crc``, ``_temporary/``).
    fmt:
        ``[data] format``: ``"auto"`` tells each file's format from its name (``.enc`` passed
        over); ``"csv"`` or ``"parquet"`` sets it (one of several files named otherwise is
        refused).

    Raises
    ------
    DataError
        Nothing matches; a directory holds no data file; a file is missing, unreadable,
        damaged or of a format that cannot be told; files of two formats.
    ConfigError
        ``fmt`` is not a known format.
    """
    if problem := choice_problem(fmt, DATA_FORMATS):
        raise ConfigError(f"[data] format {problem}.")
    text = str(spec).strip()
    if not text:
        raise DataError(f"[data] path is empty; expected {_ACCEPTED}. Set it in audit.toml.")
    base = Path(base_dir).expanduser()
    expanded = os.path.expanduser(text)
    target = Path(expanded) if Path(expanded).is_absolute() else base / expanded
    if glob.has_magic(expanded):
        paths = _glob(text, expanded, base)
    elif target.is_dir():
        paths = _walk(text, target)
    elif target.exists() or target.is_symlink():
        paths = [target]
    else:
        raise DataError(f"[data] path '{text}' does not exist (looked for '{target}'). Expected "
                        f"{_ACCEPTED}. Check [data] path in audit.toml.")
    parts = tuple(_partition(p, fmt, paths == [target]) for p in paths)
    other = next((p for p in parts if p.format != parts[0].format), None)
    if other is not None:
        example = "" if glob.has_magic(text) else f" such as '{text.rstrip('/')}/**/*.parquet'"
        raise DataError(
            f"[data] path '{text}' names files of two formats: '{parts[0].path}' is "
            f"{_LABEL[parts[0].format]} and '{other.path}' is {_LABEL[other.format]}. Every "
            "partition must have the same format: keep one format there, or narrow [data] path "
            f"with a glob{example}.")
    return Sources(text, parts)


def _glob(text: str, expanded: str, base: Path) -> list[Path]:
    """The files a glob matches, sorted, without skipped names below its fixed prefix."""
    absolute = os.path.isabs(expanded)
    pattern = expanded if absolute else os.path.join(glob.escape(str(base)), expanded)
    fixed = next(i for i, p in enumerate(Path(expanded).parts) if glob.has_magic(p))
    fixed += 0 if absolute else len(base.parts)
    files = [Path(m) for m in glob.glob(pattern, recursive=True) if os.path.isfile(m)]
    kept = sorted(p for p in files if not any(
        part.startswith(("_", ".")) for part in p.parts[min(fixed, len(p.parts) - 1):]))
    if not kept:
        where = "" if absolute else f", searched from '{base}'"
        if skipped := len(files):
            where += (f" ({skipped} file{'s' if skipped != 1 else ''} whose names start with '_' "
                      "or '.' were skipped)")
        raise DataError(f"[data] path '{text}' matches no file{where}. Expected {_ACCEPTED}."
                        " Check the pattern in audit.toml.")
    return kept


def _walk(text: str, root: Path) -> list[Path]:
    """The data files anywhere below ``root``, sorted, skipped names left out."""
    found: list[Path] = []
    others = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(("_", "."))]
        names = [n for n in filenames if not n.startswith(("_", "."))]
        data = [n for n in names
                if n.lower().removesuffix(_ENCRYPTED_SUFFIX).endswith(DATA_SUFFIXES)]
        found += [Path(dirpath) / n for n in data]
        others += len(names) - len(data)
    if not found:
        held = f"it holds {others} other file{'s' * (others != 1)}" if others else "it is empty"
        raise DataError(f"The directory '{root}' ([data] path '{text}') holds no data file "
                        f"({held}). Expected {_ACCEPTED}. Put the partitions there, or point "
                        "[data] path at them.")
    return sorted(found)


def _partition(path: Path, fmt: str, single: bool) -> Partition:
    """One file checked and measured: readable, its format told, its footer read (Parquet)."""
    from auditkit.privacy.crypto import is_encrypted
    if not os.access(path, os.R_OK) or not path.is_file():
        raise DataError(f"The data file '{path}' cannot be read: it is missing, not a regular "
                        "file, or this user lacks permission. Check the file and [data] path.")
    named = format_from_suffix(DATA_FORMATS, path, skip=(_ENCRYPTED_SUFFIX,))
    if fmt != AUTO and not single and named is not None and named.name != fmt:
        raise DataError(f"The data file '{path}' is named as {_LABEL[named.name]} but [data] "
                        f"format is \"{fmt}\". Every partition must have the same format: "
                        "remove or rename the file, or set [data] format = \"auto\".")
    kind = detect_format(path, fmt)
    size = path.stat().st_size
    if is_encrypted(path):
        return Partition(path, kind, True, size, None, size * _ENCRYPTED_FACTOR[kind])
    rows, uncompressed = _checked(path, kind)
    if kind == "csv":
        return Partition(path, kind, False, size, None, size * _CSV_FACTOR)
    return Partition(path, kind, False, size, rows, uncompressed * _PARQUET_FACTOR)


def _checked(path: Path, kind: str) -> tuple[int, int]:
    """Refuse a file that cannot be the table it claims (empty, binary, damaged footer); a
    Parquet file's rows and uncompressed bytes from its footer (CSV: zeros)."""
    import pyarrow.parquet as pq

    from auditkit.privacy.errors import PrivacyInputError
    from auditkit.privacy.tabular import TableFile

    table = TableFile(path, kind, name=str(path), what="data file")
    try:
        table.sniff()
        if kind == "csv":
            return 0, 0
        with table.reading():
            meta = pq.ParquetFile(str(path)).metadata
        return meta.num_rows, sum(meta.row_group(i).total_byte_size
                                  for i in range(meta.num_row_groups))
    except PrivacyInputError as exc:  # written by TableFile: positions and counts only
        raise DataError(str(exc)) from None


@dataclass(frozen=True)
class EngineChoice:
    """Which ``engine`` audits the data (``"pandas"``: everything in memory; ``"dask"``: one
    streaming pass), the ``reason`` in one sentence for the report, and the memory budget
    compared with the estimate."""

    engine: str
    reason: str
    budget_bytes: int


def choose_engine(engine: str, sources: Sources, budget_mib: int | None) -> EngineChoice:
    """The engine for ``[data] engine`` (one of :data:`ENGINES`): kept when ``"pandas"`` or
    ``"dask"``; for ``"auto"``, ``"dask"`` when ``sources.memory_bytes`` exceeds the budget
    (``[data] memory_budget_mib``; ``None``: :func:`default_budget_bytes`), else ``"pandas"``.

    Raises
    ------
    ConfigError
        An unknown engine, or a budget that is not a positive whole number.
    """
    if engine not in ENGINES:
        raise ConfigError(f"[data] engine names unknown engine {engine!r}."
                          f"{did_you_mean(str(engine), ENGINES)} Expected one of: "
                          f"{', '.join(ENGINES)}.")
    if budget_mib is None:
        budget = default_budget_bytes()
    elif isinstance(budget_mib, bool) or not isinstance(budget_mib, int) or budget_mib < 1:
        raise ConfigError(f"[data] memory_budget_mib must be a whole number of MiB of at least "
                          f"64, or left out (a quarter of physical memory); got {budget_mib!r}.")
    else:
        budget = budget_mib << 20
    if engine != "auto":
        return EngineChoice(engine, f"{engine}, set in [data] engine", budget)
    over = sources.memory_bytes > budget
    return EngineChoice("dask" if over else "pandas",
                        f"estimated {_size(sources.memory_bytes)} in memory, "
                        f"{'over' if over else 'within'} the {_size(budget)} budget", budget)


def default_budget_bytes() -> int:
    """A quarter of the memory this process may use: the physical memory
    (``os.sysconf``), or a container's cgroup limit when that is lower; 8 GiB is assumed
    where the system tells neither."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        total = 0
    total = total if total > 0 else _FALLBACK_MEMORY
    limit = _cgroup_limit()
    return (min(total, limit) if limit else total) // 4


def _cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (v2, then v1), or ``None`` when unlimited."""
    for name in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            value = Path(name).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if value.isdigit() and 0 < int(value) < 1 << 60:
            return int(value)
    return None


def _size(n: int) -> str:
    """``"3.1 GiB"``, ``"512 MiB"``, ``"12 KiB"``."""
    for unit, shift, digits in (("GiB", 30, 1), ("MiB", 20, 0), ("KiB", 10, 0)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.{digits}f} {unit}"
    return f"{n} bytes"
