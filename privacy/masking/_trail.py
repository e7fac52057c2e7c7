"""Recording masking operations in the audit trail (:mod:`auditkit.privacy.trail`).

Each public call (:func:`~auditkit.privacy.masking.scan`, ``mask``, ``scan_file``,
``mask_file``, ``scan_dask``, ``mask_dask``) appends one event: action ``scan`` or ``mask``, the
input file as resource for the ``*_file`` calls, and counts only as parameters — rows, columns,
columns masked, entity types found — never a cell, and never a column's name. A public call
that uses another one internally calls its unrecorded private twin (``_scan``), so one call is
one event. A call that fails records outcome ``error`` (the exception's class name in
``params["error"]``) and re-raises.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from auditkit.privacy import trail
from auditkit.privacy.errors import TrailError

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.masking._inventory import Inventory
    from auditkit.privacy.masking._mask import MaskSummary

__all__ = ["Recording", "mask_params", "recorded", "recorded_mask", "scan_params"]


class Recording:
    """The event of one masking call: ``params`` filled in as the call learns its counts;
    :meth:`ok` records it at once (e.g. before an output file appears), else it is recorded
    when the call returns."""

    def __init__(self, action: str, resource: str | os.PathLike[str] | None,
                 params: dict[str, Any]) -> None:
        self.action = action
        self.resource = resource
        self.params = params
        self.done = False

    def ok(self, **params: Any) -> None:
        """Record the successful call now, with ``params`` added (counts only)."""
        if self.done:
            return
        self.params.update(params)
        trail.record(self.action, resource=self.resource, params=self.params)
        self.done = True

    def error(self, exc: BaseException) -> None:
        """Record the failed call (outcome ``error``), unless it was recorded already."""
        if self.done:
            return
        self.done = True
        self.params["error"] = type(exc).__name__
        trail.record(self.action, resource=self.resource, outcome="error", params=self.params)


@contextlib.contextmanager
def recorded(action: str, *, resource: str | os.PathLike[str] | None = None,
             **params: Any) -> Iterator[Recording]:
    """One trail event for the masking call in the block: ``ok`` when it returns (unless
    :meth:`Recording.ok` recorded it already), ``error`` when it raises (re-raised, never
    swallowed). A failure to write the trail itself propagates as it is."""
    rec = Recording(action, resource, dict(params))
    try:
        yield rec
    except TrailError:
        raise
    except Exception as exc:
        rec.error(exc)
        raise
    rec.ok()


def _keyed_calls() -> contextlib.AbstractContextManager[None]:
    """Keyed operators inside a ``mask`` call are part of its one event: the pseudonyms they
    make are not recorded again as ``pseudonymise`` events."""
    from auditkit.privacy.crypto import recorded_by_caller

    return recorded_by_caller()


@contextlib.contextmanager
def recorded_mask(*, resource: str | os.PathLike[str] | None = None,
                  **params: Any) -> Iterator[Recording]:
    """:func:`recorded` for a ``mask`` call, whose keyed operators it records (see
    :func:`_keyed_calls`)."""
    trail.enforce("mask", resource)  # an access policy in force must grant it (no-op without one)
    with recorded("mask", resource=resource, **params) as rec, _keyed_calls():
        yield rec


def scan_params(inv: Inventory) -> dict[str, Any]:
    """What a scan records: counts of rows, columns, personal columns and entity types."""
    return {
        "rows": int(inv.n_rows),
        "rows_scanned": int(inv.n_scanned),
        "sampled": bool(inv.sampled),
        "columns": len(inv),
        "personal_columns": len(inv.personal_columns),
        "entities": len(inv.entity_counts()),
    }


def mask_params(summary: MaskSummary | None, columns: int) -> dict[str, Any]:
    """What a mask records: counts of rows, columns, columns masked and dropped, cells changed."""
    if summary is None:
        return {"rows": 0, "columns": columns, "columns_masked": 0, "columns_dropped": 0,
                "cells_changed": 0, "unmasked_personal": 0}
    return {
        "rows": int(summary.n_rows),
        "chunks": int(summary.chunks),
        "columns": columns,
        "columns_masked": sum(1 for c in summary.changes if c.operator != "keep"),
        "columns_dropped": len(summary.dropped),
        "cells_changed": sum(int(c.cells_changed) for c in summary.changes),
        "unmasked_personal": len(summary.unmasked_personal),
    }
