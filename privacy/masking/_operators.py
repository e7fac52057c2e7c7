"""Masking operators: small classes in a registry, each with a validate-then-apply contract.

An operator declares a ``name``, a frozen dataclass ``Params`` and two methods:

- ``validate(params)`` turns the policy's table (a mapping) into a ``Params`` instance, or
  raises :class:`~auditkit.privacy.errors.PrivacyInputError` naming the key, what was expected and what
  was received. It never sees data.
- ``apply(values, params, ctx)`` transforms a pandas Series of one column (or of the entity
  spans found in a free-text column) and returns the new Series, or ``None`` to drop the
  column. Error messages name rows and columns, never values.

Register a new operator with :func:`register_operator` (a decorator); names are unique.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.privacy.errors import PrivacyInputError

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.crypto import KeyRing

__all__ = [
    "Operator",
    "OperatorContext",
    "get_operator",
    "operator_names",
    "register_operator",
]


@dataclass
class OperatorContext:
    """What an operator may know besides the values: never the other columns' data.

    Attributes
    ----------
    column:
        Column name (for messages).
    entity:
        The column's entity type from the scan or the rule, if any.
    entities:
        Per-value entity types when the values are spans found in free text.
    key_ring:
        The key ring for keyed operators.
    counts:
        Global counts of each value (for ``suppress`` on chunked or partitioned data).
    row_offset:
        Position of the first value in the whole input (chunked processing), for messages.
    """

    column: str
    entity: str | None = None
    entities: np.ndarray | None = None
    key_ring: KeyRing | None = None
    counts: pd.Series | None = None
    row_offset: int = 0


class Operator:
    """Base class. Subclasses set ``name``, ``Params`` and implement :meth:`apply`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Params: ClassVar[type] = type(None)
    spans: ClassVar[bool] = True  # usable on entity spans inside free text
    needs_key: ClassVar[bool] = False
    needs_counts: ClassVar[bool] = False
    changes_values: ClassVar[bool] = True

    @classmethod
    def validate(cls, params: Mapping[str, Any] | None = None, *, where: str = "") -> Any:
        """Build ``Params`` from a mapping; raise a :class:`PrivacyInputError` when invalid."""
        params = dict(params or {})
        where = where or f"operator {cls.name!r}"
        fields = {f.name: f for f in dataclasses.fields(cls.Params)}
        for key in params:
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                known = ", ".join(fields) or "none"
                raise PrivacyInputError(
                    f"Unknown parameter {key!r} for {where}.{hint} Its parameters are: {known}."
                )
        clean: dict[str, Any] = {}
        for name, f in fields.items():
            if name not in params:
                continue
            clean[name] = _coerce(params[name], f, where)
        try:
            p = cls.Params(**clean)
        except TypeError as exc:
            raise PrivacyInputError(f"Invalid parameters for {where}: {exc}.") from None
        cls.check(p, where)
        return p

    @classmethod
    def check(cls, params: Any, where: str) -> None:
        """Cross-field checks of validated params (override)."""

    def apply(self, values: pd.Series, params: Any, ctx: OperatorContext) -> pd.Series | None:
        raise NotImplementedError


def _coerce(value: Any, f: dataclasses.Field[Any], where: str) -> Any:
    meta = f.metadata
    kind = meta.get("kind", "str")
    optional = meta.get("optional", False)
    bad = (
        f"The {f.name!r} parameter of {where} must be {meta.get('expect', kind)}; "
        f"got {value!r}."
    )
    if value is None:
        if optional:
            return None
        raise PrivacyInputError(bad)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise PrivacyInputError(bad)
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PrivacyInputError(bad)
        value = float(value)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise PrivacyInputError(bad)
    elif kind == "str":
        if not isinstance(value, str):
            raise PrivacyInputError(bad)
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PrivacyInputError(
            f"The {f.name!r} parameter of {where} must be one of {list(choices)}; "
            f"got {value!r}.{hint}"
        )
    lo = meta.get("min")
    if lo is not None and value < lo:
        raise PrivacyInputError(bad)
    return value


def param(default: Any, kind: str, expect: str, **meta: Any) -> Any:
    """A dataclass field with validation metadata."""
    return dataclasses.field(default=default, metadata={"kind": kind, "expect": expect, **meta})


_REGISTRY: dict[str, type[Operator]] = {}


def register_operator(cls: type[Operator] | None = None, *, force: bool = False) -> Any:
    """Class decorator adding an operator to the registry (refuses silent replacement)."""

    def add(c: type[Operator]) -> type[Operator]:
        if not c.name:
            raise PrivacyInputError(f"Operator class {c.__name__} must set a 'name'.")
        if not (dataclasses.is_dataclass(c.Params) and c.Params.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            raise PrivacyInputError(
                f"Operator {c.name!r} must declare Params as a frozen dataclass."
            )
        if c.name in _REGISTRY and _REGISTRY[c.name] is not c and not force:
            raise PrivacyInputError(
                f"An operator named {c.name!r} is already registered; pass force=True to "
                "replace it or choose another name."
            )
        _REGISTRY[c.name] = c
        return c

    return add(cls) if cls is not None else add


def get_operator(name: str) -> Operator:
    """An instance of the operator registered as ``name``."""
    try:
        return _REGISTRY[OPERATOR_ALIASES.get(name, name)]()
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PrivacyInputError(
            f"Unknown masking operator {name!r}.{hint} Known operators: "
            f"{', '.join(sorted(_REGISTRY))}."
        ) from None


def operator_names() -> tuple[str, ...]:
    """Names of every registered operator, sorted."""
    return tuple(sorted(_REGISTRY))


# --------------------------------------------------------------------------------------------
# Helpers.

_STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def _strings(values: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """(Arrow string array of the non-null cells, boolean mask of non-null cells)."""
    mask = values.notna().to_numpy()
    nonnull = values if mask.all() else values[mask]
    if pd.api.types.is_string_dtype(nonnull.dtype):
        try:
            arr = pa.array(nonnull, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array(nonnull.astype(str).to_numpy(dtype=object), type=pa.string())
    else:
        arr = pa.array(nonnull.astype(str).to_numpy(dtype=object), type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr, mask


def _constant(value: str, n: int) -> pa.Array:
    """``n`` copies of ``value`` as an Arrow string array."""
    return pa.array([value], type=pa.string()).take(pa.array(np.zeros(n, dtype=np.int64)))


def _rebuild(values: pd.Series, new: pa.Array | np.ndarray | list[Any], mask: np.ndarray) -> pd.Series:
    """An Arrow-backed string Series like ``values`` with the non-null cells replaced by ``new``."""
    if not isinstance(new, (pa.Array, pa.ChunkedArray)):
        new = pa.array(np.asarray(new, dtype=object), type=pa.string(), from_pandas=True)
    if isinstance(new, pa.ChunkedArray):
        new = new.combine_chunks()
    if new.type != pa.string():
        new = new.cast(pa.string())
    if not mask.all():
        pos = np.full(len(values), 0, dtype=np.int64)
        pos[mask] = np.arange(int(mask.sum()))
        new = new.take(pa.array(pos, mask=~mask))
    series = new.to_pandas(types_mapper={pa.string(): _STR_DTYPE}.get)
    series.index = values.index
    series.name = values.name
    return series


_ASCII_ALNUM = np.zeros(256, dtype=bool)
for _lo, _hi in ((48, 57), (65, 90), (97, 122)):
    _ASCII_ALNUM[_lo:_hi + 1] = True


def _mask_all(arr: pa.Array, char: str, keep_separators: bool) -> pa.Array:
    """Every character of ``arr`` replaced by ``char`` (letters and digits only when
    ``keep_separators``), vectorised over the UTF-8 bytes: one ``char`` per code point."""
    if len(char.encode("utf-8")) != 1:
        pattern = r"[\pL\pN]" if keep_separators else r"."
        return pc.replace_substring_regex(arr, pattern, char)
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    if arr.offset or arr.null_count:
        arr = pa.concat_arrays([arr])  # normalise offset
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    data_buf = arr.buffers()[2]
    if data_buf is None or offsets[-1] == offsets[0]:
        return arr
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]]
    code = ord(char)
    if keep_separators:
        # ASCII letters and digits, and every non-ASCII code point (letters of other scripts,
        # to be safe), become ``char``; ASCII punctuation and spaces stay.
        lut = np.arange(256, dtype=np.uint8)
        lut[_ASCII_ALNUM] = code
        lut[0xC0:] = code
    else:
        lut = np.full(256, code, dtype=np.uint8)
    out = lut[data]
    # One output byte per code point: drop UTF-8 continuation bytes (10xxxxxx).
    cont = np.flatnonzero((data & 0xC0) == 0x80)
    rel = offsets - offsets[0]
    if cont.size:
        keep = np.ones(data.shape, dtype=bool)
        keep[cont] = False
        out = out[keep]
        rel = rel - np.searchsorted(cont, rel)
    new_offsets = rel.astype(np.int32)
    return pa.StringArray.from_buffers(len(arr), pa.py_buffer(new_offsets), pa.py_buffer(out))


def _tag(ctx: OperatorContext, n: int) -> np.ndarray | str:
    if ctx.entities is not None:
        return np.array([f"<{e}>" for e in ctx.entities], dtype=object)
    return f"<{ctx.entity or 'PERSONAL_DATA'}>"


# --------------------------------------------------------------------------------------------
# Operators.

@dataclass(frozen=True)
class NoParams:
    """An operator without parameters."""


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
        return _rebuild(values, _constant("", int(mask.sum())), mask)


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
            new: Any = _constant(params.value, n)
        else:
            tag = _tag(ctx, n)
            new = tag[mask] if isinstance(tag, np.ndarray) else _constant(tag, n)
        return _rebuild(values, new, mask)


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
        arr, mask = _strings(values)
        if len(arr) == 0:
            return _rebuild(values, arr, mask)
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
            head = _mask_all(head, params.char, params.keep_separators)
            joined = pc.binary_join_element_wise(head, pc.utf8_slice_codeunits(sub, -k), "") \
                if k else head
            if out is None:
                return _rebuild(values, joined, mask)
            pieces.append((idx, joined))
        order = np.concatenate([i for i, _ in pieces])
        combined = pa.concat_arrays([j for _, j in pieces])
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return _rebuild(values, combined.take(pa.array(inverse)), mask)


@dataclass(frozen=True)
class PseudonymizeParams:
    context: str = param("", "str", "a string")
    key_id: str | None = param(None, "str", "a key id of the ring", optional=True)


def _need_ring(ctx: OperatorContext, op: str) -> KeyRing:
    if ctx.key_ring is None:
        raise PrivacyInputError(
            f"Operator {op!r} on column {ctx.column!r} needs a key ring. Name one in the policy "
            "(key_ring = 'keys.ring' with kek_env or passphrase_env) or pass key_ring=... to mask."
        )
    return ctx.key_ring


@register_operator
class Pseudonymize(Operator):
    name = "pseudonymize"
    summary = "Keyed pseudonym: HMAC-SHA-256 under the key ring (stable, not reversible)."
    Params = PseudonymizeParams
    needs_key = True

    def apply(self, values: pd.Series, params: PseudonymizeParams, ctx: OperatorContext) -> pd.Series:
        from auditkit.privacy.crypto import Pseudonymizer

        ring = _need_ring(ctx, self.name)
        p = Pseudonymizer(ring, context=params.context or ctx.column, key_id=params.key_id)
        arr, mask = _strings(values)
        return _rebuild(values, p.pseudonymize(pd.Series(arr.to_numpy(zero_copy_only=False))).to_numpy(), mask)


@dataclass(frozen=True)
class TokenizeParams:
    pass


@register_operator
class Tokenize(Operator):
    name = "tokenize"
    summary = "Reversible deterministic token: AES-SIV under the key ring (joinable)."
    Params = TokenizeParams
    needs_key = True

    def apply(self, values: pd.Series, params: TokenizeParams, ctx: OperatorContext) -> pd.Series:
        from auditkit.privacy.crypto import DeterministicCipher

        ring = _need_ring(ctx, self.name)
        arr, mask = _strings(values)
        toks = DeterministicCipher(ring).encrypt(pd.Series(arr.to_numpy(zero_copy_only=False)))
        return _rebuild(values, toks.to_numpy(), mask)


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
        arr, mask = _strings(values)
        counts = ctx.counts
        if counts is None:
            vc = pc.value_counts(arr)
            counts = pd.Series(vc.field("counts").to_numpy(), index=vc.field("values").to_pylist())
        rare = pa.array(counts.index[counts.to_numpy() < params.min_count].astype(str).tolist(),
                        type=pa.string())
        is_rare = pc.is_in(arr, value_set=rare)
        out = pc.if_else(is_rare, pa.scalar(params.value), arr)
        return _rebuild(values, out, mask)


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
        arr, mask = _strings(values)
        arr = pc.utf8_trim_whitespace(arr)
        head = pc.utf8_slice_codeunits(arr, 0, params.keep)
        pad = pc.subtract(pc.utf8_length(arr), pc.utf8_length(head))
        fill = pc.binary_repeat(pa.scalar(params.fill), pc.max_element_wise(pad, 0))
        return _rebuild(values, pc.binary_join_element_wise(head, fill, ""), mask)

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
        return _rebuild(values, np.asarray(new, dtype=object), mask)

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
        return _rebuild(values, np.asarray(new, dtype=object), mask)


OPERATOR_ALIASES: Mapping[str, str] = {
    "hash": "pseudonymize", "hmac": "pseudonymize", "pseudonymise": "pseudonymize",
    "encrypt": "tokenize", "token": "tokenize", "generalize": "generalise",
    "mask_partial": "mask", "partial_mask": "mask", "remove": "drop",
}
