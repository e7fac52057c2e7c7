"""What a scan found: per column, the entity type, its share and confidence: never a value.

:class:`Inventory` is the result of :func:`~auditkit.privacy.masking.scan`: one
:class:`ColumnInventory` per column, in column order, with the column lists the rest of the
toolkit asks for (personal, identifier, quasi-identifier and special-category columns) and
its forms for JSON, tables and DataFrames.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from auditkit.hints import did_you_mean
from auditkit.privacy.errors import UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ColumnInventory", "EntityShare", "Inventory"]


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
        The entity type the column holds as a whole: the validated majority type (``None``
        when no type reached its share; see :mod:`auditkit.privacy.masking._scan`).
    share:
        Share of scanned non-null cells confirmed as ``entity``; for a ``PERSON`` column found
        by a text finder's full names (no name hint), the share of its distinct values that
        read as one (see ``FINDER_NAME_SHARE`` in :mod:`auditkit.privacy.masking._scan`).
    confidence:
        0-1 confidence in ``entity`` (validator share, recogniser score, name hint).
    free_text:
        Whether the column is prose (long, several words per cell).
    text_entities:
        ``(entity, rows)`` pairs: of the ``text_rows`` cells searched for spans, how many hold
        at least one validated span of each type. Every type found is listed, however few.
    text_rows:
        Cells searched for spans (a sample; 0 when the column was not searched: a whole-cell
        type claimed it, or it holds numbers).
    text_share:
        Share of the searched cells that hold at least one validated span of any type.
    embedded:
        Whether enough cells hold spans (``text_share`` and the count at or above the scan's
        thresholds) for the column to count as personal: such a column with no ``entity`` is
        masked span by span, every entity type in it.
    candidates:
        Every whole-cell type that confirmed any cell, with its share, largest first.
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
    text_rows: int = 0
    text_share: float = 0.0
    embedded: bool = False

    @property
    def personal(self) -> bool:
        """Whether the column holds personal data (a whole-cell type, or enough embedded
        entities)."""
        return self.entity is not None or self.embedded

    @property
    def spans(self) -> bool:
        """Whether masking treats the column span by span (prose, or cells embedding
        entities, with no whole-cell type)."""
        return self.entity is None and (self.free_text or self.embedded)

    @property
    def entities(self) -> tuple[str, ...]:
        """Every entity type the column counts as holding: its own and, when it is personal by
        its spans, those embedded in its cells."""
        own = (self.entity,) if self.entity else ()
        if not self.embedded:
            return own
        return own + tuple(e for e, _ in self.text_entities if e not in own)

    @property
    def text_shares(self) -> dict[str, float]:
        """``{entity: share of the searched cells holding a span of it}``."""
        if not self.text_rows:
            return {}
        return {e: round(n / self.text_rows, 4) for e, n in self.text_entities}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["text_entities"] = {e: n for e, n in self.text_entities}
        d["text_shares"] = self.text_shares
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
            raise UnknownNameError(
                f"The inventory has no column {column!r}.{did_you_mean(column, self._by_name)} "
                f"It holds the scanned columns: {list(self._by_name)[:30]}. Scan that column "
                "(scan(df, columns=[...])) or use a column it holds."
            ) from None

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
            if (c.entity is not None and c.category in strong) or c.embedded
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
        """Rows for a table: column, entity, share, confidence, free text, embedded entity
        types (cells holding one of the cells searched), category. A column personal by its
        spans shows ``embedded`` as its entity and the share of searched cells holding one."""
        rows = []
        for c in self.columns:
            embedded = ", ".join(f"{e} ({n}/{c.text_rows})" for e, n in c.text_entities)
            label = c.entity or ("embedded" if c.embedded else
                                 "free text" if c.free_text else "-")
            share = c.share if c.entity else c.text_share if c.embedded else 0.0
            rows.append((
                c.column, label, round(share, 3), round(c.confidence, 3), c.free_text,
                embedded, c.category or "-",
            ))
        return rows

    ROW_HEADERS = ("column", "entity", "share", "confidence", "free_text", "embedded",
                   "category")

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.to_rows(), columns=list(self.ROW_HEADERS))
