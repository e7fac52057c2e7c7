"""What :func:`~auditkit.privacy.masking.scan` reads: its arguments checked (before any cell
is), the rows it samples, and the verdicts the user declares."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._inventory import ColumnInventory
from auditkit.privacy.masking._recognisers import entity_category

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["as_declared", "columns_to_scan", "sample_rows_of"]


def columns_to_scan(
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


def sample_rows_of(
    df: pd.DataFrame, sample_rows: int | None, rng: np.random.Generator,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """(the rows to scan, their row numbers in ``df`` or ``None`` when they are all of them):
    ``sample_rows`` uniform rows, in order."""
    if sample_rows is None or len(df) <= sample_rows:
        return df, None
    pos = np.sort(rng.choice(len(df), size=sample_rows, replace=False))
    return df.iloc[pos], pos


def as_declared(inv: ColumnInventory, entity: str) -> ColumnInventory:
    """``inv`` with the entity type the user declared (full confidence, its category)."""
    return replace(inv, entity=entity, confidence=1.0, category=entity_category(entity))
