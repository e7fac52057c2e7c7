"""Comma-separated option values (``--format html,md``, ``--only fairness,performance``)."""

from __future__ import annotations

__all__ = ["parse_list"]


def parse_list(value: str | None) -> list[str] | None:
    """Split a comma-separated option; ``None`` when absent or empty.

    >>> parse_list(" html, md ,,")
    ['html', 'md']
    >>> parse_list(" , ") is None
    True
    """
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None
