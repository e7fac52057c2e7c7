"""Discovery: which columns hold personal data, of which types, and how sure we are.

:func:`scan` reads a sample of rows, matches every cell against each recogniser's value
pattern with Arrow's vectorised regex engine, confirms the candidates with the recogniser's
validator (once per distinct value), weighs column-name hints, and looks for entity spans in
free-text columns. The result, an :class:`Inventory`, holds counts and shares only: never a
value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._recognisers import Recogniser, entity_category, iter_recognisers
from auditkit.privacy.masking._spans import _find, text_recognisers

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ColumnInventory", "EntityShare", "Inventory", "column_hints", "scan"]

_MAX_VALIDATE = 500  # distinct candidates validated per recogniser and column (a sample)
_MAX_TEXT_ROWS = 2_000  # free-text cells searched for spans per column
_NON_DIGITS = re.compile(r"\D")


@dataclass(frozen=True)
class EntityShare:
    """Share of scanned non-null cells of a column that are confirmed instances of ``entity``."""

    entity: str
    share: float
    confidence: float
    hinted: bool = False


@dataclass(frozen=True)
class ColumnInventory:
    """What the scan found in one column: counts and shares, never values.

    Attributes
    ----------
    entity:
        The entity type the column holds as a whole (``None`` when none reached the
        threshold; a free-text column reports its embedded entities in ``text_entities``).
    share:
        Share of scanned non-null cells confirmed as ``entity``.
    confidence:
        0-1 confidence in ``entity`` (validator share, recogniser score, name hint).
    free_text:
        Whether the column is prose that may embed entities anywhere.
    text_entities:
        ``(entity, rows)`` pairs: scanned free-text rows holding at least one span of the type.
    category:
        ``direct``, ``quasi``, ``special``, ``credential``, ``financial`` or ``None``.
    """

    column: str
    n_scanned: int
    n_non_null: int
    entity: str | None = None
    share: float = 0.0
    confidence: float = 0.0
    free_text: bool = False
    text_entities: tuple[tuple[str, int], ...] = ()
    candidates: tuple[EntityShare, ...] = ()
    category: str | None = None

    @property
    def personal(self) -> bool:
        """Whether the column holds personal data (an entity, or entities in its text)."""
        return self.entity is not None or bool(self.text_entities)

    @property
    def entities(self) -> tuple[str, ...]:
        """Every entity type found: the column's own and those embedded in its text."""
        own = (self.entity,) if self.entity else ()
        return own + tuple(e for e, _ in self.text_entities if e not in own)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["text_entities"] = {e: n for e, n in self.text_entities}
        d["candidates"] = [asdict(c) for c in self.candidates]
        d["personal"] = self.personal
        return d


@dataclass(frozen=True)
class Inventory:
    """Result of :func:`scan`: one :class:`ColumnInventory` per column, in column order."""

    columns: tuple[ColumnInventory, ...]
    n_rows: int
    n_scanned: int
    sampled: bool = False
    _by_name: dict[str, ColumnInventory] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({c.column: c for c in self.columns})

    def __getitem__(self, column: str) -> ColumnInventory:
        try:
            return self._by_name[column]
        except KeyError:
            raise KeyError(f"The inventory has no column {column!r}.") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def personal_columns(self) -> tuple[str, ...]:
        """Columns holding any personal data (identifiers, quasi-identifiers, special data)."""
        return tuple(c.column for c in self.columns if c.personal)

    @property
    def identifier_columns(self) -> tuple[str, ...]:
        """Columns holding direct identifiers, credentials, financial data or free text with
        embedded entities: the values that must never appear in the toolkit's output."""
        strong = {"direct", "credential", "financial"}
        return tuple(
            c.column for c in self.columns
            if (c.entity is not None and c.category in strong) or c.text_entities
        )

    @property
    def quasi_identifiers(self) -> tuple[str, ...]:
        """Columns classified as quasi-identifiers (ZIP, date of birth, sex, age, location)."""
        return tuple(c.column for c in self.columns if c.category == "quasi")

    @property
    def special_category_columns(self) -> tuple[str, ...]:
        """Columns of GDPR Art. 9 special categories (health, ethnic origin, religion, ...)."""
        return tuple(c.column for c in self.columns if c.category == "special")

    def entity_counts(self) -> dict[str, int]:
        """Number of columns per entity type (column-level and embedded)."""
        counts: dict[str, int] = {}
        for c in self.columns:
            for e in c.entities:
                counts[e] = counts.get(e, 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "n_scanned": self.n_scanned,
            "sampled": self.sampled,
            "columns": [c.to_dict() for c in self.columns],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def to_rows(self) -> list[tuple[Any, ...]]:
        """Rows for a table: column, entity, share, confidence, free text, category."""
        rows = []
        for c in self.columns:
            embedded = ", ".join(f"{e} ({n})" for e, n in c.text_entities)
            rows.append((
                c.column, c.entity or ("free text" if c.free_text else "-"),
                round(c.share, 3), round(c.confidence, 3), c.free_text, embedded,
                c.category or "-",
            ))
        return rows

    ROW_HEADERS = ("column", "entity", "share", "confidence", "free_text", "embedded",
                   "category")

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.to_rows(), columns=list(self.ROW_HEADERS))


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


def _scan_column(
    name: str, series: pd.Series, n_scanned: int, *, min_share: float, hints: bool,
    rng: np.random.Generator, recs: list[Recogniser],
) -> ColumnInventory:
    values = _as_strings(series)
    n = len(values)
    if n == 0:
        return ColumnInventory(str(name), n_scanned, 0)
    values = values.filter(pc.greater(pc.utf8_length(values), 0))
    n = len(values)
    if n == 0:
        return ColumnInventory(str(name), n_scanned, 0)
    vc = pc.value_counts(values)
    uniques = vc.field("values")
    counts = vc.field("counts").to_numpy()
    hinted_names = column_hints(str(name), recs) if hints else set()

    shares: list[tuple[Recogniser, float, bool]] = []
    for rec in recs:
        if rec.value_pattern is None:
            continue
        hinted = rec.name in hinted_names
        if rec.needs_hint and not hinted:
            continue
        share = _confirmed_share(rec, uniques, counts, n, hinted, rng)
        if share > 0:
            shares.append((rec, share, hinted))

    candidates = []
    best: tuple[float, int, Recogniser, float, bool] | None = None
    for rec, share, hinted in shares:
        conf = min(1.0, rec.score * share + (0.1 if hinted else 0.0))
        candidates.append(EntityShare(rec.entity, round(share, 4), round(conf, 4), hinted))
        threshold = min_share if not rec.needs_hint else 0.5
        if share < threshold:
            continue
        # Pattern-validated types beat name-hint types; then share, then priority.
        key = (0.0 if rec.needs_hint else 1.0, share, rec.priority)
        if best is None or key > (best[0], best[1], best[2].priority):
            best = (key[0], share, rec, conf, hinted)

    free_text = _is_free_text(values)
    text_entities: tuple[tuple[str, int], ...] = ()
    if free_text and (best is None or best[2].needs_hint):
        take = values if n <= _MAX_TEXT_ROWS else values.take(
            pa.array(np.sort(rng.choice(n, size=_MAX_TEXT_ROWS, replace=False)))
        )
        trecs = text_recognisers()
        found: dict[str, int] = {}
        for text in take.to_pylist():
            for ent in {s.entity for s in _find(text, trecs)}:
                found[ent] = found.get(ent, 0) + 1
        text_entities = tuple(sorted(found.items()))
        if best is not None and best[2].category != "special":
            best = None  # prose under an "address"/"name" header: its spans are what counts

    candidates.sort(key=lambda c: -c.share)
    if best is None:
        category = None
        if text_entities:
            cats = {entity_category(e) for e, _ in text_entities}
            category = next((c for c in ("special", "financial", "direct") if c in cats), "direct")
        return ColumnInventory(
            str(name), n_scanned, n, free_text=free_text, text_entities=text_entities,
            candidates=tuple(candidates), category=category,
        )
    _, share, rec, conf, _ = best
    return ColumnInventory(
        str(name), n_scanned, n, entity=rec.entity, share=round(share, 4),
        confidence=round(conf, 4), free_text=free_text, text_entities=text_entities,
        candidates=tuple(candidates), category=rec.category,
    )


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
    rng = np.random.default_rng(seed)
    n_rows = len(df)
    sampled = sample_rows is not None and n_rows > sample_rows
    if sampled:
        assert sample_rows is not None
        pos = np.sort(rng.choice(n_rows, size=sample_rows, replace=False))
        frame = df.iloc[pos]
    else:
        frame = df
    n_scanned = len(frame)
    recs = iter_recognisers()
    out = []
    declared = dict(declared or {})
    for col in cols:
        inv = _scan_column(col, frame[col], n_scanned, min_share=min_share, hints=hints,
                           rng=rng, recs=recs)
        if str(col) in declared:
            ent = declared[str(col)]
            inv = ColumnInventory(
                inv.column, inv.n_scanned, inv.n_non_null, entity=ent, share=inv.share,
                confidence=1.0, free_text=inv.free_text, text_entities=inv.text_entities,
                candidates=inv.candidates, category=entity_category(ent),
            )
        out.append(inv)
    return Inventory(tuple(out), n_rows=n_rows, n_scanned=n_scanned, sampled=sampled)
