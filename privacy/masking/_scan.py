"""Discovery: which columns hold personal data, of which types, and how sure we are.

:func:`scan` reads a sample of rows, matches every cell against each recogniser's value
pattern with Arrow's vectorised regex engine, confirms the candidates with the recogniser's
validator (once per distinct value), weighs column-name hints, and looks for entity spans in
the text of every column no whole-cell type claims. The result, an :class:`Inventory`, holds
counts and shares only: never a value.

A column's type is its validated whole-cell majority (a few outliers cannot relabel it);
a column no type claims is personal when enough of its cells embed validated spans, of any
types, and is then masked span by span. Outside prose a text finder's names count only as
full names, corroborated by the gazetteers (``_scan_text``). The thresholds are the constants
below; the classification section of docs/masking.md explains them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.privacy.masking._arrow_text import arrow_strings, object_strings
from auditkit.privacy.masking._inventory import ColumnInventory, EntityShare, Inventory
from auditkit.privacy.masking._recognisers import Recogniser, entity_category, iter_recognisers
from auditkit.privacy.masking._scan_input import as_declared, columns_to_scan, sample_rows_of
from auditkit.privacy.masking._scan_text import (
    cell_formats,
    dominant_format,
    format_explains,
    name_values,
    text_name_cells,
)
from auditkit.privacy.masking._span_engine import find_spans_batch
from auditkit.privacy.masking._spans import Span, text_recognisers
from auditkit.privacy.masking._trail import recorded, scan_params

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["column_hints", "scan"]

_MAX_VALIDATE = 500  # distinct candidates validated per recogniser and column (a sample)
_MAX_TEXT_ROWS = 2_000  # cells searched for spans per column (a sample)

#: Share of non-empty cells a validated pattern type must confirm to be a column's type
#: (``scan``'s ``min_share``): a clear majority; a half-e-mail column is judged by its spans.
WHOLE_CELL_SHARE = 0.6
#: The same when the column name hints at the type (``ssn``, ``customer_email``).
WHOLE_CELL_SHARE_HINTED = 0.5
#: Share a name-only type (names, addresses, ZIP codes: no validator) needs, with its hint.
NAME_TYPE_SHARE = 0.5
#: Qualifying whole-cell types within this share (or one cell) of the largest explain the same
#: cells: the most specific (highest priority) wins, so an SSN column holding a published
#: sample number (the SSN validator rejects it, the phone validator does not) stays US_SSN.
OUTLIER_SHARE = 0.05
#: Share of searched cells that must hold a validated span for short text (codes, labels,
#: comments) to count as personal: a stray match among digit-bearing codes is not evidence.
SPAN_SHARE = 0.05
#: The same for prose, or when the column name hints at a type found (corroboration).
SPAN_SHARE_LOW = 0.01
#: Fewest cells that must hold a span (all cells of a smaller column).
SPAN_MIN_CELLS = 3
#: When one format (``_scan_text.cell_formats``) covers this share of the searched cells, the
#: spans in its cells count only if at least :data:`FORMAT_CONSISTENT` of them hold a span of
#: one type: a code that passes a validator by chance (card expiry ``12/2024``) is not data.
FORMAT_SHARE = 0.8
FORMAT_CONSISTENT = 0.9
#: Share of a column's distinct values a text finder must read as one full name, whole (with a
#: gazetteer name among its words: ``_scan_text``), for the column's type to be ``PERSON``.
FINDER_NAME_SHARE = 0.6

# --------------------------------------------------------------------------------------------
# Column-name hints.

def _name_tokens(name: str) -> list[str]:
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", str(name))
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", s)
    return [t for t in re.split(r"[^0-9a-zA-Z]+", s.lower()) if t]


def _hint_matches(hint: str, tokens: list[str]) -> bool:
    anchored = hint.endswith("$")
    words = hint.rstrip("$").split()
    n = len(words)
    compact = "".join(words)
    if anchored:
        return tokens[-n:] == words or (bool(tokens) and tokens[-1] == compact)
    for i in range(len(tokens) - n + 1):
        if tokens[i:i + n] == words:
            return True
    return compact in tokens or (n > 1 and "".join(tokens) == compact)


def column_hints(name: str, recognisers: Iterable[Recogniser] | None = None) -> set[str]:
    """Names of the recognisers whose column-name hints match ``name``.

    >>> sorted(column_hints("customer_email"))
    ['email']
    """
    tokens = _name_tokens(name)
    if not tokens:
        return set()
    recs = iter_recognisers() if recognisers is None else recognisers
    return {r.name for r in recs if any(_hint_matches(h, tokens) for h in r.hints)}


# --------------------------------------------------------------------------------------------
# Scanning.

def _as_strings(series: pd.Series, rows: np.ndarray | None = None) -> pa.Array:
    """Non-null cells as a stripped Arrow string array; ``rows``: the row number of each cell
    of ``series`` (default: its position), for the error a cell Arrow cannot hold raises."""
    import pandas as pd

    present = series.notna().to_numpy()
    s = series[present]
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = s.dt.strftime("%Y-%m-%d")
    elif pd.api.types.is_float_dtype(s.dtype):
        # 1982.0 -> "1982": integer-valued floats (ZIP codes read as numbers) lose the ".0".
        vals = s.to_numpy()
        as_int = np.isfinite(vals) & (np.mod(vals, 1) == 0)
        if as_int.all():
            s = pd.Series(vals.astype(np.int64), index=s.index)
    rows = np.arange(len(series)) if rows is None else np.asarray(rows)
    arr = arrow_strings(object_strings(s), series.name, rows[present])
    return pc.utf8_trim_whitespace(arr)


def _is_free_text(values: pa.Array) -> bool:
    """Prose: long cells of several words, most of whose tokens hold no digit or slash (user
    agents, log lines and paths are not prose)."""
    if len(values) == 0:
        return False
    lengths = pc.utf8_length(values)
    mean_len = pc.mean(lengths).as_py() or 0.0
    words = pc.count_substring_regex(values, r"\pL{2,}")
    mean_words = pc.mean(words).as_py() or 0.0
    spaces = pc.mean(pc.count_substring_regex(values, r"\s+")).as_py() or 0.0
    if not (mean_len >= 24 and mean_words >= 4 and spaces >= 3):
        return False
    tokens = pc.count_substring_regex(values, r"\S+")
    technical = pc.count_substring_regex(values, r"\S*[0-9/\\=_{}<>|]\S*")
    return (pc.mean(pc.divide(pc.cast(technical, pa.float64()), tokens)).as_py() or 0.0) <= 0.4


def _confirmed_share(
    rec: Recogniser, uniques: pa.Array, counts: np.ndarray, total: int, hinted: bool,
    rng: np.random.Generator,
) -> float:
    assert rec.value_pattern is not None
    try:
        mask = pc.match_substring_regex(uniques, rec.value_pattern).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        rx = re.compile(rec.value_pattern)
        mask = np.array([rx.search(u) is not None for u in uniques.to_pylist()], dtype=bool)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return 0.0
    if rec.bare_digits_need_hint and not hinted:
        # Bare digits only: a leading '+' (E.164) declares a phone number.
        all_digits = pc.match_substring_regex(uniques.take(pa.array(idx)), r"^\d+$")
        idx = idx[~all_digits.to_numpy(zero_copy_only=False)]
        if idx.size == 0:
            return 0.0
    cand_counts = counts[idx]
    if cand_counts.sum() < 0.02 * total:
        return 0.0  # too few candidates to matter: skip the (possibly slow) validator
    if idx.size > _MAX_VALIDATE:
        pick = rng.choice(idx.size, size=_MAX_VALIDATE, replace=False)
        values = uniques.take(pa.array(idx[pick])).to_pylist()
        ok = np.array([bool(rec.validator(x)) for x in values])
        # Estimate the confirmed weight among all candidates from the validated subsample.
        w = cand_counts[pick]
        rate = float((w * ok).sum() / w.sum()) if w.sum() else 0.0
        return rate * float(cand_counts.sum()) / total
    values = uniques.take(pa.array(idx)).to_pylist()
    ok = np.array([bool(rec.validator(x)) for x in values])
    return float(cand_counts[ok].sum()) / total


class _Verdict(NamedTuple):
    """A recogniser whose confirmed share reached its bar, with its confidence."""

    rec: Recogniser
    share: float
    confidence: float
    hinted: bool = False


class _Spans(NamedTuple):
    """What a span search of (a sample of) a column's cells found: counts only."""

    rows: int = 0  # cells searched
    hits: int = 0  # cells holding at least one counted span
    entities: tuple[tuple[str, int], ...] = ()  # (entity, cells holding a span of it)
    names: float = 0.0  # share of the distinct values that are a full name (FINDER_NAME_SHARE)


def _scan_column(
    name: str, series: pd.Series, n_scanned: int, *, min_share: float, hints: bool,
    rng: np.random.Generator, recs: list[Recogniser], rows: np.ndarray | None = None,
) -> ColumnInventory:
    """What one column holds: its whole-cell type, or the entity spans in its cells."""
    values = _as_strings(series, rows)
    values = values.filter(pc.greater(pc.utf8_length(values), 0))
    n = len(values)
    if n == 0:
        return ColumnInventory(str(name), n_scanned, 0)
    hinted = column_hints(str(name), recs) if hints else set()
    candidates, best = _judge(_pattern_shares(values, recs, hinted, rng), min_share, n)
    free_text = _is_free_text(values)
    found = _Spans()
    if (best is None and _can_hold_text(series)) or (
        best is not None and free_text and best.rec.needs_hint
    ):
        found = _search_spans(values, rng, recs, hinted, free_text)
    hinted_entities = {r.entity for r in recs if r.name in hinted}
    embedded = _embedded(found, free_text or any(e in hinted_entities for e, _ in found.entities))
    if best is not None and embedded and best.rec.category != "special":
        best = None  # prose under an "address"/"name" header: its spans are what counts
    elif best is None and found.names >= FINDER_NAME_SHARE - 1e-9:
        best = _finder_names(found.names, recs)
        candidates = tuple(sorted(candidates + (EntityShare(
            "PERSON", round(best.share, 4), round(best.confidence, 4)),), key=lambda c: -c.share))
    common = {
        "free_text": free_text, "text_entities": found.entities, "text_rows": found.rows,
        "text_share": round(found.hits / found.rows, 4) if found.rows else 0.0,
        "embedded": embedded, "candidates": candidates,
    }
    if best is None:
        category = _text_category(found.entities) if embedded else None
        return ColumnInventory(str(name), n_scanned, n, category=category, **common)
    return ColumnInventory(
        str(name), n_scanned, n, entity=best.rec.entity, share=round(best.share, 4),
        confidence=round(best.confidence, 4), category=best.rec.category, **common,
    )


def _finder_names(share: float, recs: list[Recogniser]) -> _Verdict:
    """The verdict for a column of full names found by a text finder (``share``: of its
    distinct values), as the name recogniser's would be."""
    rec = next((r for r in recs if r.entity == "PERSON" and r.value_pattern is not None),
               Recogniser("person", "PERSON", lambda _: True, category="direct", score=0.8))
    return _Verdict(rec, share, min(1.0, rec.score * share))


def _can_hold_text(series: pd.Series) -> bool:
    """Whether a column's cells can embed entity spans (numbers and timestamps cannot)."""
    from pandas.api import types as t

    d = series.dtype
    return not (t.is_numeric_dtype(d) or t.is_datetime64_any_dtype(d) or t.is_timedelta64_dtype(d))


def _pattern_shares(
    values: pa.Array, recs: list[Recogniser], hinted: set[str], rng: np.random.Generator,
) -> list[tuple[Recogniser, float, bool]]:
    """(recogniser, confirmed share, name-hinted) for each recogniser confirming any cell."""
    vc = pc.value_counts(values)
    uniques = vc.field("values")
    counts = vc.field("counts").to_numpy()
    shares = []
    for rec in recs:
        if rec.value_pattern is None or (rec.needs_hint and rec.name not in hinted):
            continue
        share = _confirmed_share(rec, uniques, counts, len(values), rec.name in hinted, rng)
        if share > 0:
            shares.append((rec, share, rec.name in hinted))
    return shares


def _judge(
    shares: list[tuple[Recogniser, float, bool]], min_share: float, n: int = 0,
) -> tuple[tuple[EntityShare, ...], _Verdict | None]:
    """(every candidate, largest share first; the column's whole-cell type or ``None``).

    A type qualifies at its bar (:func:`_whole_cell_bar`). Among those that do, pattern types
    beat name-only types, a name-hinted type beats an unhinted one, and among the types within
    :data:`OUTLIER_SHARE` (or one of the ``n`` cells) of the largest share the highest priority
    wins: a few outliers that a less specific recogniser accepts cannot relabel the column.
    """
    candidates = []
    eligible = []
    for rec, share, hinted in shares:
        conf = min(1.0, rec.score * share + (0.1 if hinted else 0.0))
        candidates.append(EntityShare(rec.entity, round(share, 4), round(conf, 4), hinted))
        if share >= _whole_cell_bar(rec, hinted, min_share) - 1e-9:
            eligible.append(_Verdict(rec, share, conf, hinted))
    candidates.sort(key=lambda c: -c.share)
    if not eligible:
        return tuple(candidates), None
    tier = max((not v.rec.needs_hint, v.hinted) for v in eligible)
    pool = [v for v in eligible if (not v.rec.needs_hint, v.hinted) == tier]
    tolerance = max(OUTLIER_SHARE, 1.0 / n if n else 0.0)
    top = max(v.share for v in pool)
    close = [v for v in pool if v.share >= top - tolerance - 1e-9]
    return tuple(candidates), max(close, key=lambda v: (v.rec.priority, v.share))


def _whole_cell_bar(rec: Recogniser, hinted: bool, min_share: float) -> float:
    """The share of cells a type must confirm to be a column's type."""
    if rec.needs_hint:
        return NAME_TYPE_SHARE
    return min(min_share, WHOLE_CELL_SHARE_HINTED) if hinted else min_share


_BARE_DIGITS = re.compile(r"\d+")


def _search_spans(
    values: pa.Array, rng: np.random.Generator, recs: list[Recogniser], hinted: set[str],
    prose: bool,
) -> _Spans:
    """Which cells (a sample of :data:`_MAX_TEXT_ROWS`) hold a span of which entity types.

    Every type :func:`find_spans` reports counts (new span types need no change here), except
    spans that are no evidence (:func:`_counts`) or that the column's format explains
    (``_scan_text.format_explains``).
    """
    n = len(values)
    take = values if n <= _MAX_TEXT_ROWS else values.take(
        pa.array(np.sort(rng.choice(n, size=_MAX_TEXT_ROWS, replace=False)))
    )
    # Prose: every type (pattern recognisers and text finders). Elsewhere the pattern types;
    # a text finder's PERSON spans count there only as full names (_scan_text).
    batch = find_spans_batch(take, recognisers=None if prose else text_recognisers())
    formats = cell_formats(take)
    has = pa.array(np.flatnonzero(np.diff(batch.offsets)), type=pa.int64())
    by_name = {r.name: r for r in recs}
    per_cell = {
        i: (fmt, {s.entity for s in batch.spans(i) if _counts(s, text, by_name, hinted, prose)})
        for i, text, fmt in zip(has.to_pylist(), take.take(has).to_pylist(),
                                formats.take(has).to_pylist(), strict=True)
    }
    dominant = dominant_format(formats, FORMAT_SHARE)
    if dominant is not None and format_explains(
            [e for f, e in per_cell.values() if f == dominant[0]], dominant[1],
            FORMAT_CONSISTENT):
        per_cell = {i: fe for i, fe in per_cell.items() if fe[0] != dominant[0]}
    cells = {i: ents for i, (_, ents) in per_cell.items()}
    names = 0.0
    if not prose:
        for i in text_name_cells(take, batch):
            cells.setdefault(i, set()).add("PERSON")
        names = name_values(take, FINDER_NAME_SHARE)
    found = Counter(e for ents in cells.values() for e in ents)
    hits = sum(1 for ents in cells.values() if ents)
    return _Spans(len(take), hits, tuple(sorted(found.items())), names)


def _counts(span: Span, text: str, by_name: Mapping[str, Recogniser], hinted: set[str],
            prose: bool) -> bool:
    """Whether a span is evidence for the column: not a piece of a longer run of digit groups
    (``1Z 789 686 82 8979 914 6``); from a text finder (no validator) only in prose (outside
    it a finder's full names count by the rules of ``_scan_text``, not here: countries,
    companies and car models are not people); and not a whole cell of bare digits the
    whole-cell scan would not count (no name hint where needed)."""
    start, end = span.start, span.end
    if (start >= 2 and text[start].isdigit() and text[start - 1] == " "
            and text[start - 2].isdigit()) or (
            end + 1 < len(text) and text[end - 1].isdigit() and text[end] == " "
            and text[end + 1].isdigit()):
        return False
    rec = by_name.get(span.recogniser)
    if rec is None:
        return prose
    if not rec.bare_digits_need_hint or rec.name in hinted:
        return True
    whole = start == 0 and end == len(text)
    return not (whole and _BARE_DIGITS.fullmatch(text) is not None)


def _embedded(found: _Spans, low_bar: bool) -> bool:
    """Whether enough searched cells hold a span for the column to count as personal."""
    if found.hits == 0:
        return False
    share = SPAN_SHARE_LOW if low_bar else SPAN_SHARE
    return (found.hits >= min(SPAN_MIN_CELLS, found.rows)
            and found.hits >= share * found.rows - 1e-9)


def _text_category(text_entities: tuple[tuple[str, int], ...]) -> str | None:
    """The category of a free-text column: its most sensitive embedded entity's."""
    if not text_entities:
        return None
    cats = {entity_category(e) for e, _ in text_entities}
    return next((c for c in ("special", "financial", "direct") if c in cats), "direct")


def scan(
    df: pd.DataFrame,
    *,
    columns: Iterable[str] | None = None,
    sample_rows: int | None = 20_000,
    min_share: float = WHOLE_CELL_SHARE,
    hints: bool = True,
    seed: int = 0,
    declared: Mapping[str, str] | None = None,
) -> Inventory:
    """Inventory of the personal data in ``df``: entity types per column, counts only.

    Parameters
    ----------
    df:
        A pandas DataFrame (a Dask DataFrame: use :func:`auditkit.privacy.masking.scan_dask`).
    columns:
        Scan only these columns (default: all).
    sample_rows:
        Scan a uniform random sample of this many rows (``None``: every row). Shares and
        confidences are then estimates; the inventory says how many rows it read.
    min_share:
        Share of non-null cells that must be confirmed instances for a pattern entity to be
        the column's type (:data:`WHOLE_CELL_SHARE`); with a column-name hint for the type a
        majority (:data:`WHOLE_CELL_SHARE_HINTED`) suffices. Columns no type claims are
        searched for entity spans (see the module docstring).
    hints:
        Use column names as evidence (person names, addresses, ZIP codes, dates of birth).
    seed:
        Seed of the sampling.
    declared:
        ``{column: entity}`` the user asserts; these override the scan's verdict.

    Returns
    -------
    Inventory

    Examples
    --------
    >>> import pandas as pd
    >>> inv = scan(pd.DataFrame({"email": ["a@example.org", "b@example.com"], "n": [1, 2]}))
    >>> inv["email"].entity, inv["n"].entity
    ('EMAIL_ADDRESS', None)

    The call is recorded in the audit trail (action ``scan``; counts only).
    """
    with recorded("scan") as rec:
        inv = _scan(df, columns=columns, sample_rows=sample_rows, min_share=min_share,
                    hints=hints, seed=seed, declared=declared)
        rec.ok(**scan_params(inv))
    return inv


def _scan(
    df: pd.DataFrame, *, columns: Iterable[str] | None = None, sample_rows: int | None = 20_000,
    min_share: float = WHOLE_CELL_SHARE, hints: bool = True, seed: int = 0,
    declared: Mapping[str, str] | None = None,
) -> Inventory:
    """:func:`scan`, unrecorded: for the public calls that record their own event."""
    cols = columns_to_scan(df, columns, sample_rows, min_share)
    rng = np.random.default_rng(seed)
    frame, rows = sample_rows_of(df, sample_rows, rng)
    recs = iter_recognisers()
    declared = dict(declared or {})
    out = []
    for col in cols:
        inv = _scan_column(col, frame[col], len(frame), min_share=min_share, hints=hints,
                           rng=rng, recs=recs, rows=rows)
        if str(col) in declared:
            inv = as_declared(inv, declared[str(col)])
        out.append(inv)
    return Inventory(tuple(out), n_rows=len(df), n_scanned=len(frame), sampled=rows is not None)
