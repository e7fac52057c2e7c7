"""Helpers shared by the commands that run audits."""

from __future__ import annotations


def parse_list(value: str | None) -> list[str] | None:
    """Split a comma-separated option; ``None`` when absent or empty."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None
