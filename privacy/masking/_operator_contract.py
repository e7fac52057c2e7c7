"""The contract every masking operator keeps: validate its parameters, then operate.

An operator declares a ``name``, a frozen dataclass ``Params`` and two methods:

- ``validate(params)`` turns the policy's table (a mapping) into a ``Params`` instance, or
  raises :class:`~auditkit.privacy.errors.PrivacyInputError` naming the key, what was expected and what
  was received. It never sees data.
- ``apply(values, params, ctx)`` transforms a pandas Series of one column (or of the entity
  spans found in a free-text column) and returns the new Series, or ``None`` to drop the
  column. Error messages name rows and columns, never values.

A ``Params`` field is declared with :func:`param`: its default, its kind (``"int"``,
``"float"``, ``"bool"`` or ``"str"``), the phrase a message uses for what is expected, and
optional ``choices``, ``min``, ``optional`` and ``always`` (written out by ``Rule.to_dict``
even when it holds the default). The operators themselves are in
:mod:`auditkit.privacy.masking._operators`; the registry that names them is in
:mod:`auditkit.privacy.masking._operator_registry`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from auditkit.hints import did_you_mean
from auditkit.privacy.errors import PrivacyInputError

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.crypto import KeyRing

__all__ = ["NoParams", "Operator", "OperatorContext", "param"]


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
                known = ", ".join(fields) or "none"
                raise PrivacyInputError(
                    f"Unknown parameter {key!r} for {where}.{did_you_mean(key, fields)} "
                    f"Its parameters are: {known}."
                )
        clean = {name: _coerce(params[name], f, where) for name, f in fields.items()
                 if name in params}
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


@dataclass(frozen=True)
class NoParams:
    """An operator without parameters."""


def param(default: Any, kind: str, expect: str, **meta: Any) -> Any:
    """A dataclass field with validation metadata."""
    return dataclasses.field(default=default, metadata={"kind": kind, "expect": expect, **meta})


# The Python types each parameter kind accepts (a bool is never an int or a float here).
_KIND_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "int": int, "float": (int, float), "bool": bool, "str": str,
}


def _is_kind(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind != "bool":
        return False
    return isinstance(value, _KIND_TYPES.get(kind, object))


def _coerce(value: Any, f: dataclasses.Field[Any], where: str) -> Any:
    """``value`` checked against the field's metadata (and a ``float`` made a float)."""
    meta = f.metadata
    kind = meta.get("kind", "str")
    bad = (
        f"The {f.name!r} parameter of {where} must be {meta.get('expect', kind)}; "
        f"got {value!r}."
    )
    if value is None:
        if meta.get("optional", False):
            return None
        raise PrivacyInputError(bad)
    if not _is_kind(value, kind):
        raise PrivacyInputError(bad)
    if kind == "float":
        value = float(value)
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise PrivacyInputError(
            f"The {f.name!r} parameter of {where} must be one of {list(choices)}; "
            f"got {value!r}.{did_you_mean(value, choices)}"
        )
    lo = meta.get("min")
    if lo is not None and value < lo:
        raise PrivacyInputError(bad)
    return value
