"""The built-in masking operators, each registered under its name.

keep, redact, replace, mask, pseudonymize (HMAC), tokenize (AES-SIV), drop, suppress and
generalise. Each keeps the contract of :mod:`auditkit.privacy.masking._operator_contract`
(frozen ``Params`` validated before ``apply`` sees a value) and registers itself with
:func:`~auditkit.privacy.masking._operator_registry.register_operator` when this module is
imported. Messages name rows and columns, never values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._arrow_text import mask_characters, rebuild, repeated, text_cells
from auditkit.privacy.masking._operator_contract import (
    NoParams,
    Operator,
    OperatorContext,
    param,
)
from auditkit.privacy.masking._operator_registry import register_operator

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.crypto import KeyRing

__all__ = ["Drop", "Generalise", "Keep", "Mask", "Pseudonymize", "Redact", "Replace",
           "Suppress", "Tokenize"]


def _tag(ctx: OperatorContext, n: int) -> np.ndarray | str:
    if ctx.entities is not None:
        return np.array([f"<{e}>" for e in ctx.entities], dtype=object)
    return f"<{ctx.entity or 'PERSONAL_DATA'}>"


@register_operator
class Keep(Operator):
    name = "keep"
    summary = "Leave the column as it is (states in the policy that keeping it is deliberate)."
    Params = NoParams
    spans = False
    changes_values = False

    def apply(self, values: pd.Series, params: Any, ctx: OperatorContext) -> pd.Series:
        return values


@register_operator
class Redact(Operator):
    name = "redact"
    summary = "Replace each value (or span) with an empty string."
    Params = NoParams

    def apply(self, values: pd.Series, params: Any, ctx: OperatorContext) -> pd.Series:
        mask = values.notna().to_numpy()
        return rebuild(values, repeated("", int(mask.sum())), mask)


@dataclass(frozen=True)
class ReplaceParams:
    value: str | None = param(None, "str", "a string", optional=True)


@register_operator
class Replace(Operator):
    name = "replace"
    summary = "Replace each value (or span) with a type tag such as <EMAIL_ADDRESS>, or 'value'."
    Params = ReplaceParams

    def apply(self, values: pd.Series, params: ReplaceParams, ctx: OperatorContext) -> pd.Series:
        mask = values.notna().to_numpy()
        n = int(mask.sum())
        if params.value is not None:
            new: Any = repeated(params.value, n)
        else:
            tag = _tag(ctx, n)
            new = tag[mask] if isinstance(tag, np.ndarray) else repeated(tag, n)
        return rebuild(values, new, mask)


@dataclass(frozen=True)
class MaskParams:
    keep_last: int = param(4, "int", "a non-negative integer", min=0, always=True)
    char: str = param("*", "str", "a single character")
    keep_separators: bool = param(True, "bool", "true or false")


@register_operator
class Mask(Operator):
    name = "mask"
    summary = "Partial mask: hide every character but the last 'keep_last' (separators kept)."
    Params = MaskParams

    @classmethod
    def check(cls, params: MaskParams, where: str) -> None:
        if len(params.char) != 1:
            raise PrivacyInputError(
                f"The 'char' parameter of {where} must be a single character; got "
                f"{params.char!r}."
            )

    def apply(self, values: pd.Series, params: MaskParams, ctx: OperatorContext) -> pd.Series:
        arr, mask = text_cells(values, row_offset=ctx.row_offset)
        if len(arr) == 0:
            return rebuild(values, arr, mask)
        length = pc.utf8_length(arr).to_numpy(zero_copy_only=False)
        # Never reveal more than half of a short value.
        keep = np.minimum(length // 2, params.keep_last)
        out = pa.array(np.full(len(arr), "", dtype=object), type=pa.string()) \
            if len(np.unique(keep)) > 1 else None
        pieces = []
        for k in np.unique(keep):
            k = int(k)
            idx = np.flatnonzero(keep == k)
            sub = arr if out is None else arr.take(pa.array(idx))
            head = pc.utf8_slice_codeunits(sub, 0, -k) if k else sub
            head = mask_characters(head, params.char, params.keep_separators)
            joined = pc.binary_join_element_wise(head, pc.utf8_slice_codeunits(sub, -k), "") \
                if k else head
            if out is None:
                return rebuild(values, joined, mask)
            pieces.append((idx, joined))
        order = np.concatenate([i for i, _ in pieces])
        combined = pa.concat_arrays([j for _, j in pieces])
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return rebuild(values, combined.take(pa.array(inverse)), mask)


@dataclass(frozen=True)
class PseudonymizeParams:
    context: str = param("", "str", "a string")
    key_id: str | None = param(None, "str", "a key id of the ring", optional=True)


class _Keyed(Operator):
    """An operator that transforms the text cells under the key ring (which it requires)."""

    needs_key = True

    def apply(self, values: pd.Series, params: Any, ctx: OperatorContext) -> pd.Series:
        if ctx.key_ring is None:
            raise PrivacyInputError(
                f"Operator {self.name!r} on column {ctx.column!r} needs a key ring. Name one in "
                "the policy (key_ring = 'keys.ring' with kek_env or passphrase_env) or pass "
                "key_ring=... to mask."
            )
        arr, mask = text_cells(values, row_offset=ctx.row_offset)
        cells = pd.Series(arr.to_numpy(zero_copy_only=False))
        return rebuild(values, self.transform(cells, params, ctx, ctx.key_ring).to_numpy(), mask)

    def transform(self, cells: pd.Series, params: Any, ctx: OperatorContext,
                  ring: KeyRing) -> pd.Series:
        """The keyed values of ``cells`` (non-null text, positionally indexed)."""
        raise NotImplementedError


@register_operator
class Pseudonymize(_Keyed):
    name = "pseudonymize"
    summary = "Keyed pseudonym: HMAC-SHA-256 under the key ring (stable, not reversible)."
    Params = PseudonymizeParams

    def transform(self, cells: pd.Series, params: PseudonymizeParams, ctx: OperatorContext,
                  ring: KeyRing) -> pd.Series:
        from auditkit.privacy.crypto import Pseudonymizer

        p = Pseudonymizer(ring, context=params.context or ctx.column, key_id=params.key_id)
        return p.pseudonymize(cells)


@dataclass(frozen=True)
class TokenizeParams:
    pass


@register_operator
class Tokenize(_Keyed):
    name = "tokenize"
    summary = "Reversible deterministic token: AES-SIV under the key ring (joinable)."
    Params = TokenizeParams

    def transform(self, cells: pd.Series, params: TokenizeParams, ctx: OperatorContext,
                  ring: KeyRing) -> pd.Series:
        from auditkit.privacy.crypto import DeterministicCipher

        return DeterministicCipher(ring).encrypt(cells)


@register_operator
class Drop(Operator):
    name = "drop"
    summary = "Remove the column from the output."
    Params = NoParams
    spans = False

    def apply(self, values: pd.Series, params: Any, ctx: OperatorContext) -> None:
        return None


@dataclass(frozen=True)
class SuppressParams:
    min_count: int = param(5, "int", "an integer >= 2", min=2)
    value: str = param("*", "str", "a string")


@register_operator
class Suppress(Operator):
    name = "suppress"
    summary = "Replace values seen fewer than 'min_count' times (in the whole input) with 'value'."
    Params = SuppressParams
    spans = False
    needs_counts = True

    def apply(self, values: pd.Series, params: SuppressParams, ctx: OperatorContext) -> pd.Series:
        arr, mask = text_cells(values, row_offset=ctx.row_offset)
        counts = ctx.counts
        if counts is None:
            vc = pc.value_counts(arr)
            counts = pd.Series(vc.field("counts").to_numpy(), index=vc.field("values").to_pylist())
        rare = pa.array(counts.index[counts.to_numpy() < params.min_count].astype(str).tolist(),
                        type=pa.string())
        is_rare = pc.is_in(arr, value_set=rare)
        out = pc.if_else(is_rare, pa.scalar(params.value), arr)
        return rebuild(values, out, mask)


_GENERALISE_TO = ("year", "month", "decade", "band", "prefix")


@dataclass(frozen=True)
class GeneraliseParams:
    to: str = param("year", "str", "one of " + ", ".join(_GENERALISE_TO), choices=_GENERALISE_TO,
                    always=True)
    width: float = param(10.0, "float", "a positive number", min=1e-12)
    keep: int = param(3, "int", "a positive integer", min=1)
    fill: str = param("*", "str", "a single character")
    format: str | None = param(None, "str", "a strptime format such as '%m/%d/%Y'", optional=True)


@register_operator
class Generalise(Operator):
    name = "generalise"
    summary = ("Coarsen: dates to 'year', 'month' or 'decade'; numbers to 'band's of 'width'; "
               "codes to a 'prefix' of 'keep' characters (ZIP 02139 -> 021**).")
    Params = GeneraliseParams
    spans = False

    @classmethod
    def check(cls, params: GeneraliseParams, where: str) -> None:
        if len(params.fill) != 1:
            raise PrivacyInputError(
                f"The 'fill' parameter of {where} must be a single character; got {params.fill!r}."
            )

    def apply(self, values: pd.Series, params: GeneraliseParams, ctx: OperatorContext) -> pd.Series:
        if params.to in ("year", "month", "decade"):
            return self._dates(values, params, ctx)
        if params.to == "band":
            return self._bands(values, params, ctx)
        arr, mask = text_cells(values, row_offset=ctx.row_offset)
        arr = pc.utf8_trim_whitespace(arr)
        head = pc.utf8_slice_codeunits(arr, 0, params.keep)
        pad = pc.subtract(pc.utf8_length(arr), pc.utf8_length(head))
        fill = pc.binary_repeat(pa.scalar(params.fill), pc.max_element_wise(pad, 0))
        return rebuild(values, pc.binary_join_element_wise(head, fill, ""), mask)

    def _dates(self, values: pd.Series, params: GeneraliseParams, ctx: OperatorContext) -> pd.Series:
        mask = values.notna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            dates = values[mask]
        else:
            raw = values[mask].astype(str)
            kw: dict[str, Any] = {"format": params.format} if params.format else {"format": "mixed"}
            dates = pd.to_datetime(raw, errors="coerce", **kw)
            bad = dates.isna().to_numpy()
            if bad.any():
                first = int(np.flatnonzero(mask)[np.flatnonzero(bad)[0]]) + ctx.row_offset
                raise PrivacyInputError(
                    f"Operator 'generalise' (to={params.to!r}) on column {ctx.column!r}: "
                    f"{int(bad.sum())} value(s) are not dates (first at row {first}). Give "
                    "'format' (e.g. '%m/%d/%Y') or clean the column."
                )
        years = dates.dt.year.to_numpy()
        if params.to == "year":
            new = years.astype(str)
        elif params.to == "decade":
            new = np.char.add((years // 10 * 10).astype(str), "s")
        else:
            new = dates.dt.strftime("%Y-%m").to_numpy(dtype=object)
        return rebuild(values, np.asarray(new, dtype=object), mask)

    def _bands(self, values: pd.Series, params: GeneraliseParams, ctx: OperatorContext) -> pd.Series:
        mask = values.notna().to_numpy()
        nums = pd.to_numeric(values[mask], errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(nums)
        if bad.any():
            first = int(np.flatnonzero(mask)[np.flatnonzero(bad)[0]]) + ctx.row_offset
            raise PrivacyInputError(
                f"Operator 'generalise' (to='band') on column {ctx.column!r}: {int(bad.sum())} "
                f"value(s) are not numbers (first at row {first}). Clean the column or use "
                "to='prefix'."
            )
        w = params.width
        lo = np.floor(nums / w) * w
        if float(w).is_integer() and np.all(np.mod(nums, 1) == 0):
            lo_i = lo.astype(np.int64)
            hi_i = lo_i + int(w) - 1
            new = np.char.add(np.char.add(lo_i.astype(str), "-"), hi_i.astype(str))
        else:
            new = np.array([f"[{a:g}, {a + w:g})" for a in lo], dtype=object)
        return rebuild(values, np.asarray(new, dtype=object), mask)
