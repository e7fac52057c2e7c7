"""Files larger than memory (CSV and Parquet, in chunks) and Dask DataFrames (per partition).

:func:`mask_file` validates the policy against the file's header before reading any row,
scans the first rows when the policy needs an inventory, counts values over the whole file
for operators that need global counts (``suppress``), then streams chunk by chunk into a
temporary file beside the output that replaces it atomically at the end. It never writes
over its input. Memory is bounded by the chunk size (plus the value counts ``suppress`` and
the equivalence classes of the risk figures need).

Files are read through :class:`auditkit.privacy.tabular.TableFile`: a file that cannot be
parsed (binary, not UTF-8, ragged rows, duplicate or nested columns, a header without rows,
damaged Parquet) raises one :class:`PrivacyInputError` naming lines, rows and columns, never
quoting the data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._mask import Masker, MaskSummary, _risk_after_columns
from auditkit.privacy.masking._policy import Policy, load_policy
from auditkit.privacy.masking._risk import ClassCounts
from auditkit.privacy.masking._trail import (
    Recording,
    mask_params,
    recorded,
    recorded_mask,
    scan_params,
)
from auditkit.privacy.tabular import TableFile, table_format

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.crypto import KeyRing
    from auditkit.privacy.masking._inventory import Inventory

__all__ = ["mask_dask", "mask_file", "read_frame", "scan_dask", "scan_file"]

def _table(path: Path, fmt: str) -> TableFile:
    """The file as a table whose parser failures are described, never quoted."""
    return TableFile(path, fmt, name=str(path), what="input file")


_STR = pd.StringDtype("pyarrow", na_value=float("nan"))


def _to_pandas(table: Any) -> pd.DataFrame:
    import pyarrow as pa

    return table.to_pandas(types_mapper={pa.string(): _STR, pa.large_string(): _STR}.get)


def _chunks(path: Path, fmt: str, chunk_rows: int, columns: list[str] | None = None
            ) -> Iterator[pd.DataFrame]:
    """The file as DataFrames of exactly ``chunk_rows`` rows (the last may be shorter)."""
    import pyarrow as pa

    # CSV: Arrow's streaming reader, every cell as text as written ("NA" and "007" stay),
    # empty cells missing; Parquet: row batches.
    batches: Iterator[Any] = iter(_table(path, fmt).batches(columns, chunk_rows))
    pending: list[Any] = []
    have = 0
    for batch in batches:
        pending.append(batch)
        have += batch.num_rows
        while have >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield _to_pandas(table.slice(0, chunk_rows))
            rest = table.slice(chunk_rows)
            pending = rest.to_batches() if rest.num_rows else []
            have = rest.num_rows
    if have:
        yield _to_pandas(pa.Table.from_batches(pending))


def _resource(path: Any) -> str | None:
    """The input as the trail's resource: its absolute path, control characters escaped
    (anything else, e.g. a file object, is left for the call to refuse: no resource)."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        return None
    text = os.path.abspath(os.fsdecode(os.fspath(path)))
    return text if text.isprintable() else ascii(text)[1:-1]


def _check_input(src: str | os.PathLike[str]) -> Path:
    p = Path(src)
    if not p.is_file():
        raise PrivacyInputError(
            f"The input file {str(p)!r} does not exist or is not a file. Check the path."
        )
    return p


def read_frame(path: str | os.PathLike[str], *, nrows: int | None = None,
               format: str | None = None) -> pd.DataFrame:
    """Read a CSV (every cell as text) or Parquet file, optionally only its first rows.

    Raises
    ------
    PrivacyInputError
        The file is missing, empty, binary, not UTF-8, ragged, has duplicate or nested columns,
        or is damaged; the message names lines, rows and columns, never a value.
    """
    p = _check_input(path)
    fmt = table_format(p, format, "input")
    table = _table(p, fmt)
    table.sniff()
    names = table.columns()
    if nrows is None:
        if fmt == "csv":
            import pyarrow as pa

            batches = list(table.batches(batch_rows=1 << 16))
            schema = pa.schema([(c, pa.string()) for c in names])
            return _to_pandas(pa.Table.from_batches(batches, schema=None if batches else schema))
        with table.reading():
            return pd.read_parquet(p)
    parts, have = [], 0
    for chunk in _chunks(p, fmt, min(nrows, 65_536)):
        parts.append(chunk)
        have += len(chunk)
        if have >= nrows:
            break
    return pd.concat(parts, ignore_index=True).head(nrows) if parts else pd.DataFrame()


def scan_file(path: str | os.PathLike[str], *, sample_rows: int = 20_000,
              format: str | None = None, **kwargs: Any) -> Inventory:
    """:func:`scan` of the first ``sample_rows`` rows of a CSV or Parquet file.

    A file with a header and no data rows is refused (:class:`PrivacyInputError`), as is any
    file :func:`read_frame` refuses. The call is recorded in the audit trail (action ``scan``,
    the file as resource, counts only).
    """
    from auditkit.privacy.masking._scan import _scan

    with recorded("scan", resource=_resource(path)) as rec:
        df = read_frame(path, nrows=sample_rows, format=format)
        if len(df) == 0:
            p = Path(path)
            table = _table(p, table_format(p, format, "input"))
            raise table.no_rows(len(table.columns()))
        inv = _scan(df, sample_rows=None, **kwargs)
        rec.ok(**scan_params(inv))
    return inv


def mask_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    policy: Policy | Mapping[str, Any] | str | os.PathLike[str],
    *,
    key_ring: KeyRing | None = None,
    chunk_rows: int = 100_000,
    scan_rows: int = 20_000,
    overwrite: bool = False,
    input_format: str | None = None,
    output_format: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> MaskSummary:
    """Mask a CSV or Parquet file chunk by chunk into ``dst`` (atomically).

    Parameters
    ----------
    src, dst:
        Input and output paths; formats from the extensions (``.csv``, ``.tsv``,
        ``.parquet``). ``dst`` may not be ``src``; an existing ``dst`` is only replaced with
        ``overwrite=True``.
    policy:
        Policy, mapping or TOML path; validated against the header before any row is read.
    chunk_rows:
        Rows per chunk: peak memory grows with it, not with the file.
    scan_rows:
        Rows read from the start of the file to find free-text and unlisted personal columns
        when the policy needs an inventory.
    progress:
        Called with the number of rows done after each chunk (counts only).

    Returns
    -------
    MaskSummary
        Counts per column, dropped columns and, with ``[risk]`` quasi-identifiers, k-anonymity
        before and after, computed over the whole file.

    The call is recorded in the audit trail (action ``mask``, the input file as resource,
    counts only) before the output file appears; a refused call with outcome ``error``.
    """
    with recorded_mask(resource=_resource(src)) as rec:
        return _mask_file(src, dst, policy, rec, key_ring=key_ring, chunk_rows=chunk_rows,
                          scan_rows=scan_rows, overwrite=overwrite, input_format=input_format,
                          output_format=output_format, progress=progress)


def _mask_file(
    src: str | os.PathLike[str], dst: str | os.PathLike[str],
    policy: Policy | Mapping[str, Any] | str | os.PathLike[str], rec: Recording, *,
    key_ring: KeyRing | None, chunk_rows: int, scan_rows: int, overwrite: bool,
    input_format: str | None, output_format: str | None, progress: Callable[[int], None] | None,
) -> MaskSummary:
    """:func:`mask_file`; its event (``rec``) is recorded before the output appears."""
    from auditkit.atomic import atomic_write

    pol = load_policy(policy)
    s = _check_input(src)
    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise PrivacyInputError(
            f"The 'chunk_rows' parameter of mask_file must be a positive integer; got "
            f"{chunk_rows!r}."
        )
    d = _check_output(Path(dst), s, overwrite)
    in_fmt = table_format(s, input_format, "input")
    out_fmt = table_format(d, output_format, "output")
    columns = _checked_header(s, in_fmt, pol)  # before any row is read
    inventory = None
    if _needs_inventory(pol):
        from auditkit.privacy.masking._scan import _scan

        inventory = _scan(read_frame(s, nrows=scan_rows, format=in_fmt), sample_rows=None)
    masker = _masker(pol, columns, inventory, key_ring,
                     lambda need: _file_counts(_chunks(s, in_fmt, chunk_rows, columns=need)))
    risk = _risk_counters(pol, masker)
    with atomic_write(d) as fh:
        writer = _TableWriter(fh, out_fmt, "\t" if d.suffix.lower() == ".tsv" else ",")
        summary = _mask_chunks(_chunks(s, in_fmt, chunk_rows), masker, writer, risk, progress)
        writer.close()
        rec.ok(**mask_params(summary, len(columns)))  # no masked file without its trail event
    if risk is not None and summary is not None:
        before, after = risk
        summary = summary.with_risk(before.report(pol.k, pol.l), after.report(pol.k, pol.l))
    return summary


def _check_output(d: Path, src: Path, overwrite: bool) -> Path:
    """``d``, once it is known not to be the input, not to exist (unless ``overwrite``) and to
    lie in an existing directory."""
    if d.resolve() == src.resolve() or (d.exists() and os.path.samefile(d, src)):
        raise PrivacyInputError(
            f"The output path {str(d)!r} is the input file; mask never overwrites its input. "
            "Choose another output path."
        )
    if d.exists() and not overwrite:
        raise PrivacyInputError(
            f"The output file {str(d)!r} already exists. Choose another path or pass "
            "overwrite=True (--overwrite)."
        )
    if not d.parent.is_dir():
        raise PrivacyInputError(
            f"The output directory {str(d.parent)!r} does not exist. Create it first."
        )
    return d


def _checked_header(path: Path, fmt: str, pol: Policy) -> list[str]:
    """The file's column names, once the policy is checked against them and the file is known
    to hold a row (no other row is read)."""
    table = _table(path, fmt)
    table.sniff()
    columns = table.columns()
    pol.check_columns(columns)
    if table.count_rows(limit=1) == 0:
        raise table.no_rows(len(columns))
    return columns


def _needs_inventory(pol: Policy) -> bool:
    """Whether masking needs a scan: unlisted personal columns to treat, or rules that leave
    it to the scan whether their column is free text."""
    return pol.unlisted != "keep" or any(r.free_text is None for r in pol.rules)


def _masker(
    pol: Policy, columns: list[str], inventory: Inventory | None, key_ring: KeyRing | None,
    count: Callable[[list[str]], dict[str, pd.Series]],
) -> Masker:
    """The masker for ``columns``, with the global value counts its operators need (``suppress``
    judges rarity over the whole input), counted by ``count`` over those columns only."""
    probe = Masker(pol, columns, inventory=inventory, key_ring=key_ring)
    need = probe.needs_counts()
    counts = count(need) if need else {}
    return Masker(pol, columns, inventory=inventory, key_ring=probe.key_ring, counts=counts)


def _file_counts(chunks: Iterator[pd.DataFrame]) -> dict[str, pd.Series]:
    """How often each value occurs in each column, over every chunk."""
    counts: dict[str, pd.Series] = {}
    for chunk in chunks:
        for c in chunk.columns:
            vc = chunk[c].dropna().astype(str).value_counts()
            counts[c] = vc if c not in counts else counts[c].add(vc, fill_value=0)
    return counts


def _risk_counters(pol: Policy, masker: Masker) -> tuple[ClassCounts, ClassCounts] | None:
    """Equivalence classes before and after masking, when the policy names quasi-identifiers."""
    if not pol.quasi_identifiers:
        return None
    out = masker.output_columns()
    before = ClassCounts(pol.quasi_identifiers, pol.sensitive)
    after = ClassCounts(_risk_after_columns(pol, out), pol.sensitive if pol.sensitive in out else None)
    return before, after


class _TableWriter:
    """Masked chunks appended to one open CSV or Parquet file; the first chunk fixes the schema."""

    def __init__(self, fh: Any, fmt: str, delimiter: str) -> None:
        self._fh, self._fmt, self._delimiter = fh, fmt, delimiter
        self._writer: Any = None
        self._schema: Any = None

    def write(self, df: pd.DataFrame) -> None:
        import pyarrow as pa

        table = pa.Table.from_pandas(df, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = self._open(table.schema)
        self._writer.write_table(table.cast(self._schema))

    def _open(self, schema: Any) -> Any:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        if self._fmt == "csv":
            options = pacsv.WriteOptions(delimiter=self._delimiter, quoting_style="needed")
            return pacsv.CSVWriter(self._fh, schema, write_options=options)
        return pq.ParquetWriter(self._fh, schema)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _mask_chunks(
    chunks: Iterator[pd.DataFrame], masker: Masker, writer: _TableWriter,
    risk: tuple[ClassCounts, ClassCounts] | None, progress: Callable[[int], None] | None,
) -> MaskSummary | None:
    """Mask and write each chunk; count equivalence classes before and after; report progress."""
    summary: MaskSummary | None = None
    done = 0
    for chunk in chunks:
        out, part = masker.apply(chunk, row_offset=done)
        if risk is not None:
            risk[0].update(chunk)
            risk[1].update(out)
        writer.write(out)
        summary = part if summary is None else summary.merge(part)
        done += len(chunk)
        if progress is not None:
            progress(done)
    return summary


# --------------------------------------------------------------------------------------------
# Dask.

def _dask_head(ddf: Any, n: int) -> pd.DataFrame:
    parts, have = [], 0
    for i in range(ddf.npartitions):
        part = ddf.get_partition(i).compute()
        parts.append(part)
        have += len(part)
        if have >= n:
            break
    return pd.concat(parts).head(n) if parts else ddf._meta


def scan_dask(ddf: Any, *, sample_rows: int = 20_000, **kwargs: Any) -> Inventory:
    """:func:`scan` of the first ``sample_rows`` rows of a Dask DataFrame (recorded in the
    audit trail as one ``scan`` event, counts only)."""
    with recorded("scan", partitions=_partitions(ddf)) as rec:
        inv = _scan_dask(ddf, sample_rows, **kwargs)
        rec.ok(**scan_params(inv))
    return inv


def _scan_dask(ddf: Any, sample_rows: int, **kwargs: Any) -> Inventory:
    from auditkit.privacy.masking._scan import _scan

    return _scan(_dask_head(ddf, sample_rows), sample_rows=None, **kwargs)


def _partitions(ddf: Any) -> int | None:
    n = getattr(ddf, "npartitions", None)
    return n if isinstance(n, int) else None


def mask_dask(
    ddf: Any,
    policy: Policy | Mapping[str, Any] | str | os.PathLike[str],
    *,
    key_ring: KeyRing | None = None,
    inventory: Inventory | None = None,
    scan_rows: int = 20_000,
) -> Any:
    """Mask a Dask DataFrame partition by partition; returns a lazy Dask DataFrame.

    The policy is validated against the columns first. Value counts for ``suppress`` are
    computed over all partitions before masking, so rare values are judged globally.

    The call is recorded in the audit trail when the lazy frame is built (action ``mask``,
    ``lazy`` true, counts of partitions and columns only); a refused call with outcome ``error``.
    """
    with recorded_mask(lazy=True, partitions=_partitions(ddf)) as rec:
        pol = load_policy(policy)
        columns = [str(c) for c in ddf.columns]
        pol.check_columns(columns)
        if inventory is None and _needs_inventory(pol):
            inventory = _scan_dask(ddf, scan_rows)
        masker = _masker(pol, columns, inventory, key_ring, lambda need: {
            c: ddf[c].dropna().astype(str).value_counts().compute() for c in need})
        meta, _ = masker.apply(ddf._meta)
        rec.ok(columns=len(columns), columns_masked=sum(
            1 for p in masker.plans.values() if p.rule.operator != "keep"),
            columns_dropped=len(columns) - len(masker.output_columns()))

    def run(part: pd.DataFrame) -> pd.DataFrame:
        return masker.apply(part)[0]

    return ddf.map_partitions(run, meta=meta)
