"""The operator registry: one name per operator, no silent replacement, aliases for old names.

:func:`register_operator` (a class decorator) adds an operator after checking the contract of
:mod:`auditkit.privacy.masking._operator_contract` (a ``name``, a frozen-dataclass
``Params``); :func:`get_operator` returns an instance by name or alias and refuses an unknown
name with the closest one. The built-in operators register themselves when
:mod:`auditkit.privacy.masking._operators` is imported (the package does so).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._operator_contract import Operator
from auditkit.registry import Registry

__all__ = ["OPERATOR_ALIASES", "get_operator", "operator_names", "register_operator"]

_REGISTRY: Registry[type[Operator]] = Registry("masking operator", PrivacyInputError)

#: Other spellings a policy may use for a built-in operator.
OPERATOR_ALIASES: Mapping[str, str] = {
    "hash": "pseudonymize", "hmac": "pseudonymize", "pseudonymise": "pseudonymize",
    "encrypt": "tokenize", "token": "tokenize", "generalize": "generalise",
    "mask_partial": "mask", "partial_mask": "mask", "remove": "drop",
}


def register_operator(cls: type[Operator] | None = None, *, force: bool = False) -> Any:
    """Class decorator adding an operator to the registry (refuses silent replacement)."""

    def add(c: type[Operator]) -> type[Operator]:
        if not c.name:
            raise PrivacyInputError(f"Operator class {c.__name__} must set a 'name'.")
        if not (dataclasses.is_dataclass(c.Params) and c.Params.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            raise PrivacyInputError(
                f"Operator {c.name!r} must declare Params as a frozen dataclass."
            )
        return _REGISTRY.add(c.name, c, force=force)

    return add(cls) if cls is not None else add


def get_operator(name: str) -> Operator:
    """An instance of the operator registered as ``name`` (or one of its aliases)."""
    return _REGISTRY.lookup(OPERATOR_ALIASES.get(name, name))()


def operator_names() -> tuple[str, ...]:
    """Names of every registered operator, sorted."""
    return tuple(sorted(_REGISTRY))
