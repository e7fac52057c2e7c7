"""Apply a validated policy to a DataFrame: whole columns, or entity spans in free text.

:class:`Masker` is prepared once (policy validated against the column names, key ring loaded,
free-text columns known) and then applied to a frame or to each chunk of a file. The summary
it returns says what changed, in counts only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._arrow_text import (
    rebuild,
    replace_spans,
    text_cells,
    unencodable_cells,
)
from auditkit.privacy.masking._operator_contract import OperatorContext
from auditkit.privacy.masking._operator_registry import get_operator
from auditkit.privacy.masking._policy import Policy, Rule, load_policy
from auditkit.privacy.masking._risk import ClassCounts, RiskReport
from auditkit.privacy.masking._scan import _scan
from auditkit.privacy.masking._span_engine import find_spans_batch
from auditkit.privacy.masking._trail import mask_params, recorded_mask

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.crypto import KeyRing
    from auditkit.privacy.masking._inventory import Inventory

__all__ = ["IN_CLEAR_REASONS", "ColumnChange", "MaskResult", "MaskSummary", "Masker", "mask"]

#: Why a column is in clear in the output (:attr:`MaskSummary.in_clear`).
NOT_PERSONAL = "not personal data"
KEPT_UNLISTED = 'personal data, not named in the policy, and unlisted = "keep"'
KEPT_BY_RULE = 'a rule of the policy says operator = "keep"'
NOT_CLASSIFIED = "not classified: no scan was made (unlisted = \"keep\")"
IN_CLEAR_REASONS = (NOT_PERSONAL, KEPT_UNLISTED, KEPT_BY_RULE, NOT_CLASSIFIED)

_T = TypeVar("_T")


@dataclass(frozen=True)
class ColumnChange:
    """What the policy did to one column (counts only)."""

    column: str
    operator: str
    mode: str  # "column", "spans" or "dropped"
    entity: str | None = None
    cells_changed: int = 0
    spans: tuple[tuple[str, int], ...] = ()

    def merge(self, other: ColumnChange) -> ColumnChange:
        spans: dict[str, int] = dict(self.spans)
        for e, n in other.spans:
            spans[e] = spans.get(e, 0) + n
        return dataclasses.replace(
            self, cells_changed=self.cells_changed + other.cells_changed,
            spans=tuple(sorted(spans.items())),
        )


@dataclass(frozen=True)
class MaskSummary:
    """Counts of what changed; safe to print, log and report."""

    n_rows: int
    changes: tuple[ColumnChange, ...]
    unmasked_personal: tuple[str, ...] = ()
    risk_before: RiskReport | None = None
    risk_after: RiskReport | None = None
    chunks: int = 1
    in_clear: tuple[tuple[str, str], ...] = ()
    """``(column, why)`` for every column the output holds as it was: why is one of
    :data:`IN_CLEAR_REASONS`."""

    @property
    def dropped(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.changes if c.mode == "dropped")

    def merge(self, other: MaskSummary) -> MaskSummary:
        by = {c.column: c for c in self.changes}
        for c in other.changes:
            by[c.column] = by[c.column].merge(c) if c.column in by else c
        return MaskSummary(self.n_rows + other.n_rows, tuple(by.values()),
                           self.unmasked_personal, self.risk_before, self.risk_after,
                           self.chunks + other.chunks, self.in_clear)

    def with_risk(self, before: RiskReport | None, after: RiskReport | None) -> MaskSummary:
        return dataclasses.replace(self, risk_before=before, risk_after=after)

    ROW_HEADERS = ("column", "operator", "mode", "entity", "cells_changed", "spans")

    def to_rows(self) -> list[tuple[Any, ...]]:
        return [
            (c.column, c.operator, c.mode, c.entity or "-", c.cells_changed,
             ", ".join(f"{e}: {n}" for e, n in c.spans))
            for c in self.changes
        ]

    IN_CLEAR_HEADERS = ("column", "why it is in clear")

    def in_clear_rows(self) -> list[tuple[str, str]]:
        """Rows for a table of the columns left as they were, and why (names only)."""
        return list(self.in_clear)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "chunks": self.chunks,
            "columns": [
                {"column": c.column, "operator": c.operator, "mode": c.mode, "entity": c.entity,
                 "cells_changed": c.cells_changed, "spans": dict(c.spans)}
                for c in self.changes
            ],
            "dropped": list(self.dropped),
            "unmasked_personal": list(self.unmasked_personal),
            "in_clear": [{"column": c, "why": w} for c, w in self.in_clear],
            "risk_before": self.risk_before.to_dict() if self.risk_before else None,
            "risk_after": self.risk_after.to_dict() if self.risk_after else None,
        }


@dataclass(frozen=True)
class MaskResult:
    """The masked frame and the summary of what changed."""

    frame: pd.DataFrame
    summary: MaskSummary


@dataclass
class _Plan:
    rule: Rule
    spans: bool
    entity: str | None


@dataclass
class Masker:
    """A policy prepared for data with the given columns.

    Parameters
    ----------
    policy:
        A :class:`Policy`, a mapping or a TOML path.
    columns:
        The data's column names: the policy is checked against them before any data is read.
    inventory:
        A scan of (a sample of) the data; needed to find free-text columns and personal columns
        the policy does not name. Without it, columns are treated whole unless a rule says
        ``free_text = true``.
    personal:
        The columns to treat as personal data for ``unlisted`` (default: every personal column
        of ``inventory``, whatever its category: identifiers, quasi-identifiers, locations,
        special categories). The audit runner passes its one classification of personal data.
    key_ring:
        Key ring for keyed operators (default: the one the policy names).
    counts:
        ``{column: value counts}`` over the whole input, for ``suppress`` on chunked data.
    """

    policy: Policy | Mapping[str, Any] | str
    columns: Sequence[str]
    inventory: Inventory | None = None
    key_ring: KeyRing | None = None
    counts: Mapping[str, pd.Series] = field(default_factory=dict)
    personal: Sequence[str] | None = None
    _plans: dict[str, _Plan] = field(default_factory=dict, init=False, repr=False)
    in_clear: tuple[tuple[str, str], ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        self.policy = load_policy(self.policy)
        pol = self.policy
        cols = [str(c) for c in self.columns]
        pol.check_columns(cols)
        inv = self.inventory
        for r in pol.rules:
            ci = inv[r.column] if inv is not None and r.column in set(c.column for c in inv) else None
            # A rule on prose treats its spans; on any other column, whole cells.
            spans = r.free_text if r.free_text is not None else bool(
                ci and ci.free_text and ci.entity is None)
            if spans and not get_operator(r.operator).spans:
                spans = False  # drop/keep/suppress/generalise act on the whole cell
            self._plans[r.column] = _Plan(r, spans, ci.entity if ci else None)
        personal = self._personal_columns(cols)
        unlisted = [c for c in cols
                    if personal is not None and c in personal and c not in self._plans]
        if unlisted and pol.unlisted == "error":
            raise PrivacyInputError(
                f"The policy does not say how to treat personal columns {unlisted}. Add a rule "
                "for each, or set unlisted = 'redact' (or 'keep') in the [policy] table."
            )
        self.unmasked = tuple(unlisted) if pol.unlisted == "keep" else ()
        if pol.unlisted not in ("keep", "error"):
            scanned = {c.column: c for c in inv} if inv is not None else {}
            for c in unlisted:
                ci = scanned.get(c)
                # Prose, or cells embedding entities: every entity span in it.
                spans = bool(ci is not None and ci.spans)
                if spans and not get_operator(pol.unlisted).spans:
                    spans = False
                rule = Rule.of(c, pol.unlisted, free_text=spans or None)
                self._plans[c] = _Plan(rule, spans, ci.entity if ci is not None else None)
        self.in_clear = self._in_clear(cols, personal)
        if self.key_ring is None and any(get_operator(p.rule.operator).needs_key
                                         for p in self._plans.values()):
            self.key_ring = pol.load_key_ring()
            if self.key_ring is None:
                needing = [c for c, p in self._plans.items()
                           if get_operator(p.rule.operator).needs_key]
                raise PrivacyInputError(
                    f"Columns {needing} use keyed operators but no key ring was given. Add "
                    "key_ring (and kek_env or passphrase_env) to the policy's [policy] table, "
                    "or pass key_ring=KeyRing.load(...)."
                )

    def _personal_columns(self, cols: Sequence[str]) -> frozenset[str] | None:
        """The personal columns among ``cols`` (``None`` when nothing classifies them)."""
        if self.personal is not None:
            return frozenset(str(c) for c in self.personal)
        if self.inventory is not None:
            return frozenset(self.inventory.personal_columns)
        return None

    def _in_clear(
        self, cols: Sequence[str], personal: frozenset[str] | None
    ) -> tuple[tuple[str, str], ...]:
        out = []
        for c in cols:
            plan = self._plans.get(c)
            if plan is not None and plan.rule.operator != "keep":
                continue
            if plan is not None:
                why = KEPT_BY_RULE
            elif personal is None:
                why = NOT_CLASSIFIED
            elif c in personal:
                why = KEPT_UNLISTED
            else:
                why = NOT_PERSONAL
            out.append((c, why))
        return tuple(out)

    @property
    def plans(self) -> Mapping[str, _Plan]:
        return self._plans

    def needs_counts(self) -> list[str]:
        """Columns whose operator needs value counts over the whole input."""
        return [c for c, p in self._plans.items() if get_operator(p.rule.operator).needs_counts]

    def output_columns(self) -> list[str]:
        return [str(c) for c in self.columns
                if not (str(c) in self._plans and self._plans[str(c)].rule.operator == "drop")]

    def apply(self, df: pd.DataFrame, *, row_offset: int = 0) -> tuple[pd.DataFrame, MaskSummary]:
        """Mask one frame (or chunk); ``row_offset`` numbers rows in messages."""
        out: dict[Any, Any] = {}
        changes: list[ColumnChange] = []
        for col in df.columns:
            plan = self._plans.get(str(col))
            if plan is None:
                out[col] = df[col]
                continue
            rule = plan.rule
            op = get_operator(rule.operator)
            ctx = OperatorContext(column=str(col), entity=plan.entity, key_ring=self.key_ring,
                                  counts=self.counts.get(str(col)), row_offset=row_offset)
            if plan.spans:
                new, cells, spans = _unicode_checked(
                    partial(_mask_spans, df[col], op, rule, ctx), df, [col], row_offset)
                out[col] = new
                changes.append(ColumnChange(str(col), rule.operator, "spans", plan.entity, cells,
                                            spans))
                continue
            new = _unicode_checked(partial(op.apply, df[col], rule.params, ctx), df, [col],
                                   row_offset)
            if new is None:
                changes.append(ColumnChange(str(col), rule.operator, "dropped", plan.entity,
                                            int(df[col].notna().sum())))
                continue
            out[col] = new
            changes.append(ColumnChange(str(col), rule.operator, "column", plan.entity,
                                        _changed(df[col], new, row_offset)))
        frame = pd.DataFrame(out, index=df.index)
        return frame, MaskSummary(len(df), tuple(changes), self.unmasked,
                                  in_clear=self.in_clear)


def _unicode_checked(apply: Callable[[], _T], df: pd.DataFrame, columns: Iterable[Any],
                     row_offset: int = 0) -> _T:
    """``apply()``; when it fails on a cell of ``columns`` that is not valid Unicode (a lone
    surrogate), one :class:`PrivacyInputError` naming the column and row instead of the codec's
    error, which quotes the whole cell (``exc.object``), chained to nothing."""
    try:
        return apply()
    except UnicodeError:
        rows = np.arange(len(df)) + row_offset
        error = next((e for e in (unencodable_cells(df[c].to_numpy(dtype=object), c, rows)
                                  for c in columns) if e is not None), None)
        if error is None:
            raise
    raise error


def _changed(old: pd.Series, new: pd.Series, row_offset: int = 0) -> int:
    """Number of cells whose value (or missingness) differs."""
    a, a_mask = text_cells(old, row_offset=row_offset)
    b, b_mask = text_cells(new, row_offset=row_offset)
    both = a_mask & b_mask
    n = int((a_mask != b_mask).sum())
    if not both.any():
        return n
    if not both.all():
        a = a.take(pa.array(np.flatnonzero(both[a_mask]), type=pa.int64()))
        b = b.take(pa.array(np.flatnonzero(both[b_mask]), type=pa.int64()))
    return n + int(pc.sum(pc.not_equal(a, b)).as_py() or 0)


def _mask_spans(
    values: pd.Series, op: Any, rule: Rule, ctx: OperatorContext
) -> tuple[pd.Series, int, tuple[tuple[str, int], ...]]:
    arr, mask = text_cells(values, row_offset=ctx.row_offset)
    if len(arr) == 0:
        return values, 0, ()
    # Every entity type (pattern recognisers and text finders) unless the rule names some.
    batch = find_spans_batch(arr, rule.entities)
    if len(batch) == 0:
        return values, 0, ()
    cells = arr.take(pa.array(batch.rows, type=pa.int64())).to_pylist()
    pieces = [t[s:e] for t, s, e in zip(cells, batch.starts.tolist(), batch.ends.tolist(),
                                        strict=True)]
    ents = batch.entities
    sctx = dataclasses.replace(ctx, entities=ents)
    repl = op.apply(pd.Series(pieces, dtype=object), rule.params, sctx)
    repl_list = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                 for v in repl.to_numpy(dtype=object)]
    new = replace_spans(arr, batch.rows, batch.starts, batch.ends, repl_list)
    out = new.to_numpy(zero_copy_only=False).astype(object)
    changed = int(np.unique(batch.rows).size)
    kinds, counts = np.unique(ents.astype(str), return_counts=True)
    return rebuild(values, out, mask), changed, tuple(
        (str(k), int(c)) for k, c in zip(kinds, counts, strict=True))


def _risk_after_columns(policy: Policy, out_columns: Iterable[str]) -> tuple[str, ...]:
    have = set(out_columns)
    return tuple(q for q in policy.quasi_identifiers if q in have)


def mask(
    df: pd.DataFrame,
    policy: Policy | Mapping[str, Any] | str,
    *,
    key_ring: KeyRing | None = None,
    inventory: Inventory | None = None,
    scan_rows: int | None = 20_000,
    personal: Iterable[str] | None = None,
) -> MaskResult:
    """Apply ``policy`` to ``df``; returns the masked copy and a summary of what changed.

    The policy is validated and checked against the column names before any value is read.
    ``df`` is not modified. When the policy names quasi-identifiers in its ``[risk]`` table the
    summary carries k-anonymity before and after.

    Parameters
    ----------
    df:
        The data.
    policy:
        A :class:`Policy`, a mapping or a path to a TOML policy.
    key_ring:
        Key ring for ``pseudonymize`` / ``tokenize`` (default: the policy's).
    inventory:
        A prior :func:`scan`; by default ``df`` is scanned (``scan_rows`` rows) when the policy
        needs it (free-text detection, unlisted personal columns).
    personal:
        The columns to treat as personal for the policy's ``unlisted`` setting (default: every
        personal column of the inventory). ``unlisted = "redact"`` redacts each of them the
        policy does not name; the summary's ``in_clear`` lists every column left as it was,
        and why.

    The call is recorded in the audit trail (action ``mask``; counts only), a refused one with
    outcome ``error``.
    """
    with recorded_mask() as rec:
        result = _mask(df, policy, key_ring=key_ring, inventory=inventory, scan_rows=scan_rows,
                       personal=personal)
        rec.ok(**mask_params(result.summary, len(df.columns)))
    return result


def _mask(df: pd.DataFrame, policy: Policy | Mapping[str, Any] | str, *, key_ring: KeyRing | None,
          inventory: Inventory | None, scan_rows: int | None, personal: Iterable[str] | None,
          ) -> MaskResult:
    """:func:`mask`, unrecorded."""
    pol = load_policy(policy)
    if not isinstance(df, pd.DataFrame):
        raise PrivacyInputError(
            f"The 'df' parameter of mask must be a pandas DataFrame; got {type(df).__name__}. "
            "For Dask use auditkit.privacy.masking.mask_dask; for files use auditkit.privacy.masking.mask_file."
        )
    pol.check_columns([str(c) for c in df.columns])
    needs_scan = pol.unlisted != "keep" or any(r.free_text is None for r in pol.rules)
    if inventory is None and needs_scan and len(df):
        inventory = _scan(df, sample_rows=scan_rows)
    masker = Masker(pol, [str(c) for c in df.columns], inventory=inventory, key_ring=key_ring,
                    personal=None if personal is None else tuple(personal))
    frame, summary = masker.apply(df)
    if pol.quasi_identifiers:
        risk_cols = [*pol.quasi_identifiers, *([pol.sensitive] if pol.sensitive else [])]
        before = _unicode_checked(
            lambda: ClassCounts(pol.quasi_identifiers, pol.sensitive).update(df), df, risk_cols
        ).report(pol.k, pol.l)
        qa = _risk_after_columns(pol, frame.columns)
        sens = pol.sensitive if pol.sensitive in frame.columns else None
        after = ClassCounts(qa, sens).update(frame).report(pol.k, pol.l)
        summary = summary.with_risk(before, after)
    return MaskResult(frame, summary)
