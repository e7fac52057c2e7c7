"""Discovery: which columns hold personal data, of which types, and how sure we are.

:func:`scan` reads a sample of rows, matches every cell against each recogniser's value
pattern with Arrow's vectorised regex engine, confirms the candidates with the recogniser's
validator (once per distinct value), weighs column-name hints, and looks for entity spans in
free-text columns. The result, an :class:`Inventory`, holds counts and shares only: never a
value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._inventory import ColumnInventory, EntityShare, Inventory
from auditkit.privacy.masking._recognisers import Recogniser, entity_category, iter_recognisers
from auditkit.privacy.masking._spans import _find, text_recognisers

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["column_hints", "scan"]

_MAX_VALIDATE = 500  # distinct candidates validated per recogniser and column (a sample)
_MAX_TEXT_ROWS = 2_000  # free-text cells searched for spans per column


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

def _as_strings(series: pd.Series) -> pa.Array:
    """Non-null cells as a stripped Arrow string array."""
    import pandas as pd

    s = series.dropna()
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = s.dt.strftime("%Y-%m-%d")
    elif pd.api.types.is_float_dtype(s.dtype):
        # 1982.0 -> "1982": integer-valued floats (ZIP codes read as numbers) lose the ".0".
        vals = s.to_numpy()
        as_int = np.isfinite(vals) & (np.mod(vals, 1) == 0)
        if as_int.all():
            s = pd.Series(vals.astype(np.int64), index=s.index)
    arr = pa.array(s.astype(str).to_numpy(dtype=object), type=pa.string())
    return pc.utf8_trim_whitespace(arr)


def _is_free_text(values: pa.Array) -> bool:
    if len(values) == 0:
        return False
    lengths = pc.utf8_length(values)
    mean_len = pc.mean(lengths).as_py() or 0.0
    words = pc.count_substring_regex(values, r"\pL{2,}")
    mean_words = pc.mean(words).as_py() or 0.0
    spaces = pc.mean(pc.count_substring_regex(values, r"\s+")).as_py() or 0.0
    return mean_len >= 24 and mean_words >= 4 and spaces >= 3


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
        all_digits = pc.match_substring_regex(uniques.take(pa.array(idx)), r"^\+?\d+$")
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
    """A recogniser whose confirmed share reached its threshold, with its confidence."""

    rec: Recogniser
    share: float
    confidence: float


def _scan_column(
    name: str, series: pd.Series, n_scanned: int, *, min_share: float, hints: bool,
    rng: np.random.Generator, recs: list[Recogniser],
) -> ColumnInventory:
    """What one column holds: its entity type by pattern and name, or the spans in its text."""
    values = _as_strings(series)
    values = values.filter(pc.greater(pc.utf8_length(values), 0))
    n = len(values)
    if n == 0:
        return ColumnInventory(str(name), n_scanned, 0)
    hinted = column_hints(str(name), recs) if hints else set()
    candidates, best = _judge(_pattern_shares(values, recs, hinted, rng), min_share)
    free_text = _is_free_text(values)
    text_entities: tuple[tuple[str, int], ...] = ()
    if free_text and (best is None or best.rec.needs_hint):
        text_entities = _text_entities(values, rng)
        if best is not None and best.rec.category != "special":
            best = None  # prose under an "address"/"name" header: its spans are what counts
    if best is None:
        return ColumnInventory(
            str(name), n_scanned, n, free_text=free_text, text_entities=text_entities,
            candidates=candidates, category=_text_category(text_entities),
        )
    return ColumnInventory(
        str(name), n_scanned, n, entity=best.rec.entity, share=round(best.share, 4),
        confidence=round(best.confidence, 4), free_text=free_text, text_entities=text_entities,
        candidates=candidates, category=best.rec.category,
    )


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
    shares: list[tuple[Recogniser, float, bool]], min_share: float,
) -> tuple[tuple[EntityShare, ...], _Verdict | None]:
    """(every candidate, largest share first; the column's entity or ``None``).

    Pattern-validated types beat name-hint types; then the larger share, then the priority.
    A name-hint type needs a share of 0.5, a pattern type ``min_share``.
    """
    candidates = []
    best: tuple[tuple[float, float, int], _Verdict] | None = None
    for rec, share, hinted in shares:
        conf = min(1.0, rec.score * share + (0.1 if hinted else 0.0))
        candidates.append(EntityShare(rec.entity, round(share, 4), round(conf, 4), hinted))
        if share < (0.5 if rec.needs_hint else min_share):
            continue
        key = (0.0 if rec.needs_hint else 1.0, share, rec.priority)
        if best is None or key > best[0]:
            best = (key, _Verdict(rec, share, conf))
    candidates.sort(key=lambda c: -c.share)
    return tuple(candidates), None if best is None else best[1]


def _text_entities(values: pa.Array, rng: np.random.Generator) -> tuple[tuple[str, int], ...]:
    """``(entity, rows)``: how many free-text cells (a sample of them) hold a span of each."""
    n = len(values)
    take = values if n <= _MAX_TEXT_ROWS else values.take(
        pa.array(np.sort(rng.choice(n, size=_MAX_TEXT_ROWS, replace=False)))
    )
    trecs = text_recognisers()
    found: dict[str, int] = {}
    for text in take.to_pylist():
        for ent in {s.entity for s in _find(text, trecs)}:
            found[ent] = found.get(ent, 0) + 1
    return tuple(sorted(found.items()))


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
    min_share: float = 0.6,
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
        the column's type (name-hinted types need 0.5).
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
    """
    cols = _columns_to_scan(df, columns, sample_rows, min_share)
    rng = np.random.default_rng(seed)
    frame, sampled = _sample(df, sample_rows, rng)
    recs = iter_recognisers()
    declared = dict(declared or {})
    out = []
    for col in cols:
        inv = _scan_column(col, frame[col], len(frame), min_share=min_share, hints=hints,
                           rng=rng, recs=recs)
        if str(col) in declared:
            inv = _as_declared(inv, declared[str(col)])
        out.append(inv)
    return Inventory(tuple(out), n_rows=len(df), n_scanned=len(frame), sampled=sampled)


def _columns_to_scan(
    df: pd.DataFrame, columns: Iterable[str] | None, sample_rows: int | None, min_share: float,
) -> list[str]:
    """The columns :func:`scan` reads, once its arguments are checked (before any cell is)."""
    if not hasattr(df, "columns") or not hasattr(df, "iloc"):
        raise PrivacyInputError(
            f"The 'df' parameter of scan must be a pandas DataFrame; got {type(df).__name__}. "
            "For Dask use auditkit.privacy.masking.scan_dask; for files use auditkit.privacy.masking.scan_file."
        )
    if sample_rows is not None and (not isinstance(sample_rows, int) or sample_rows < 1):
        raise PrivacyInputError(
            f"The 'sample_rows' parameter of scan must be a positive integer or None; got "
            f"{sample_rows!r}."
        )
    if not 0 < min_share <= 1:
        raise PrivacyInputError(
            f"The 'min_share' parameter of scan must be in (0, 1]; got {min_share!r}."
        )
    cols = list(df.columns) if columns is None else list(columns)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise PrivacyInputError(
            f"The 'columns' parameter of scan names columns the data lacks: {missing}. "
            f"Available: {[str(c) for c in df.columns]}."
        )
    return cols


def _sample(
    df: pd.DataFrame, sample_rows: int | None, rng: np.random.Generator,
) -> tuple[pd.DataFrame, bool]:
    """(the rows to scan, whether they are a sample): ``sample_rows`` uniform rows, in order."""
    if sample_rows is None or len(df) <= sample_rows:
        return df, False
    pos = np.sort(rng.choice(len(df), size=sample_rows, replace=False))
    return df.iloc[pos], True


def _as_declared(inv: ColumnInventory, entity: str) -> ColumnInventory:
    """``inv`` with the entity type the user declared (full confidence, its category)."""
    return replace(inv, entity=entity, confidence=1.0, category=entity_category(entity))
