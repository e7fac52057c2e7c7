"""Masking policies: which operator treats which column, validated before any data is read.

A policy is written in TOML (or built in Python)::

    [policy]
    key_ring = "keys.ring"        # for pseudonymize / tokenize (relative to the policy file)
    passphrase_env = "AUDITKIT_KEYRING_PASSPHRASE"   # env var with the ring's passphrase or
                                  # key-encryption key (kek_env is a synonym)
    unlisted = "keep"             # personal columns the policy does not name: keep | error |
                                  # or an operator name applied to them (redact, replace, drop)

    [columns.email]
    operator = "pseudonymize"
    context = "crm"

    [columns.notes]               # free text: every entity span is replaced, not the cell
    operator = "replace"
    free_text = true
    entities = ["EMAIL_ADDRESS", "PHONE_NUMBER"]

    [risk]
    quasi_identifiers = ["zip", "birth_date", "sex"]
    sensitive = "diagnosis"
    k = 5

:func:`load_policy` parses and validates the whole document (operators, parameters, risk
settings); :meth:`Policy.check_columns` checks it against a schema (column names only). The
caller's mapping is never modified; rules are frozen.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.hints import did_you_mean
from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._operator_registry import (
    OPERATOR_ALIASES,
    get_operator,
    operator_names,
)
from auditkit.toml_files import read_toml

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.crypto import KeyRing

__all__ = ["Policy", "Rule", "load_policy"]

#: Environment variable holding the key ring's passphrase (or key-encryption key) by default;
#: the same as the ``auditkit keys`` commands.
DEFAULT_SECRET_ENV = "AUDITKIT_KEYRING_PASSPHRASE"

_RULE_KEYS = ("operator", "free_text", "entities")
_POLICY_KEYS = ("key_ring", "kek_env", "passphrase_env", "unlisted")
_RISK_KEYS = ("quasi_identifiers", "sensitive", "k", "l")
_TOP_KEYS = ("policy", "columns", "risk", "version")


@dataclass(frozen=True)
class Rule:
    """One column's treatment. Build with :meth:`Rule.of` so the parameters are validated."""

    column: str
    operator: str
    params: Any
    free_text: bool | None = None
    entities: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        column: str,
        operator: str,
        *,
        free_text: bool | None = None,
        entities: Iterable[str] | None = None,
        **params: Any,
    ) -> Rule:
        """A validated rule: ``Rule.of("phone", "mask", keep_last=2)``."""
        op = get_operator(operator)
        where = f"column {column!r} (operator {op.name!r})"
        p = op.validate(params, where=where)
        if free_text and not op.spans:
            raise PrivacyInputError(
                f"Operator {op.name!r} cannot treat entity spans in free text (column "
                f"{column!r}). Use one of: "
                f"{', '.join(n for n in operator_names() if get_operator(n).spans)}."
            )
        ents = None
        if entities is not None:
            if isinstance(entities, str):
                raise PrivacyInputError(
                    f"The 'entities' of column {column!r} must be a list of entity types; got a "
                    f"string. Write entities = [{entities!r}]."
                )
            ents = tuple(str(e) for e in entities)
        return cls(str(column), op.name, p, free_text, ents)

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        d: dict[str, Any] = {"operator": self.operator}
        defaults = type(self.params)()
        d.update({
            f.name: getattr(self.params, f.name) for f in dataclasses.fields(self.params)
            if getattr(self.params, f.name) is not None
            and (f.metadata.get("always") or getattr(self.params, f.name) != getattr(defaults, f.name))
        })
        if self.free_text is not None:
            d["free_text"] = self.free_text
        if self.entities is not None:
            d["entities"] = list(self.entities)
        return d


@dataclass(frozen=True)
class Policy:
    """A validated masking policy (see the module docstring for the TOML form)."""

    rules: tuple[Rule, ...] = ()
    key_ring: str | None = None
    kek_env: str | None = None
    passphrase_env: str | None = None
    unlisted: str = "keep"
    quasi_identifiers: tuple[str, ...] = ()
    sensitive: str | None = None
    k: int = 5
    l: int = 2  # noqa: E741 - the l of l-diversity
    base_dir: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for r in self.rules:
            if r.column in seen:
                raise PrivacyInputError(
                    f"The policy has two rules for column {r.column!r}; keep one."
                )
            seen.add(r.column)
        if self.unlisted not in ("keep", "error"):
            op = get_operator(self.unlisted)
            if not op.spans and op.name != "drop":
                raise PrivacyInputError(
                    f"The 'unlisted' setting of the policy must be 'keep', 'error', 'drop' or an "
                    f"operator that can treat spans; got {self.unlisted!r}."
                )
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 2:
            raise PrivacyInputError(
                f"The 'k' setting of the policy's [risk] table must be an integer >= 2; got "
                f"{self.k!r}."
            )
        if not isinstance(self.l, int) or isinstance(self.l, bool) or self.l < 1:
            raise PrivacyInputError(
                f"The 'l' setting of the policy's [risk] table must be an integer >= 1; got "
                f"{self.l!r}."
            )

    # -- access ------------------------------------------------------------------------------
    def rule_for(self, column: str) -> Rule | None:
        for r in self.rules:
            if r.column == column:
                return r
        return None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(r.column for r in self.rules)

    @property
    def needs_key(self) -> bool:
        ops = [r.operator for r in self.rules] + [self.unlisted]
        return any(o not in ("keep", "error") and get_operator(o).needs_key for o in ops)

    # -- validation against a schema ---------------------------------------------------------
    def check_columns(self, columns: Sequence[str]) -> None:
        """Refuse rules or risk settings naming columns the data does not have (names only)."""
        have = [str(c) for c in columns]
        names = set(have)
        for where, col in (
            [("a rule", r.column) for r in self.rules]
            + [("[risk] quasi_identifiers", q) for q in self.quasi_identifiers]
            + ([("[risk] sensitive", self.sensitive)] if self.sensitive else [])
        ):
            if col not in names:
                raise PrivacyInputError(
                    f"The policy's {where} names column {col!r}, which the data does not have."
                    f"{did_you_mean(col, have)} Columns: {have[:30]}"
                    f"{' ...' if len(have) > 30 else ''}."
                )

    def load_key_ring(self) -> KeyRing | None:
        """The key ring named by the policy, or ``None`` when it names none."""
        if self.key_ring is None:
            return None
        from auditkit.privacy.crypto import KeyRing

        path = Path(self.key_ring)
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        env = self.passphrase_env or self.kek_env or DEFAULT_SECRET_ENV
        return KeyRing.load_from_env(path, env)

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        pol = {k: getattr(self, k) for k in _POLICY_KEYS if getattr(self, k) not in (None,)}
        d: dict[str, Any] = {"policy": pol, "columns": {r.column: r.to_dict() for r in self.rules}}
        risk: dict[str, Any] = {}
        if self.quasi_identifiers:
            risk["quasi_identifiers"] = list(self.quasi_identifiers)
            risk["k"] = self.k
            risk["l"] = self.l
        if self.sensitive:
            risk["sensitive"] = self.sensitive
        if risk:
            d["risk"] = risk
        return d

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, base_dir: Path | None = None,
                  source: str = "the policy") -> Policy:
        """Validate a policy document (the TOML tables as a mapping)."""
        if not isinstance(doc, Mapping):
            raise PrivacyInputError(
                f"{source} must be a table (mapping); got {type(doc).__name__}."
            )
        _no_unknown(doc, _TOP_KEYS, f"{source} (top level)")
        pol = _table(doc, "policy", source)
        _no_unknown(pol, _POLICY_KEYS, f"the [policy] table of {source}")
        cols = _table(doc, "columns", source)
        risk = _table(doc, "risk", source)
        _no_unknown(risk, _RISK_KEYS, f"the [risk] table of {source}")
        rules = []
        for column, spec in cols.items():
            if isinstance(spec, str):
                spec = {"operator": spec}
            if not isinstance(spec, Mapping) or "operator" not in spec:
                raise PrivacyInputError(
                    f"The rule for column {column!r} in {source} must be a table with an "
                    f"'operator' key (one of {', '.join(operator_names())}); got "
                    f"{type(spec).__name__}."
                )
            params = {k: v for k, v in spec.items() if k not in _RULE_KEYS}
            free_text = spec.get("free_text")
            if free_text is not None and not isinstance(free_text, bool):
                raise PrivacyInputError(
                    f"The 'free_text' of column {column!r} must be true or false; got "
                    f"{free_text!r}."
                )
            op_name = spec["operator"]
            if not isinstance(op_name, str):
                raise PrivacyInputError(
                    f"The 'operator' of column {column!r} must be a string; got {op_name!r}."
                )
            rules.append(Rule.of(str(column), OPERATOR_ALIASES.get(op_name, op_name),
                                 free_text=free_text, entities=spec.get("entities"), **params))
        for key in ("key_ring", "kek_env", "passphrase_env", "unlisted"):
            if key in pol and not isinstance(pol[key], str):
                raise PrivacyInputError(
                    f"The {key!r} setting of the [policy] table must be a string; got "
                    f"{pol[key]!r}."
                )
        qis = risk.get("quasi_identifiers", ())
        if isinstance(qis, str) or not all(isinstance(q, str) for q in qis):
            raise PrivacyInputError(
                "The 'quasi_identifiers' of the [risk] table must be a list of column names; "
                f"got {qis!r}."
            )
        sensitive = risk.get("sensitive")
        if sensitive is not None and not isinstance(sensitive, str):
            raise PrivacyInputError(
                f"The 'sensitive' of the [risk] table must be a column name; got {sensitive!r}."
            )
        return cls(
            rules=tuple(rules),
            key_ring=pol.get("key_ring"),
            kek_env=pol.get("kek_env"),
            passphrase_env=pol.get("passphrase_env"),
            unlisted=OPERATOR_ALIASES.get(pol.get("unlisted", "keep"), pol.get("unlisted", "keep")),
            quasi_identifiers=tuple(qis),
            sensitive=sensitive,
            k=risk.get("k", 5),
            l=risk.get("l", 2),
            base_dir=base_dir,
        )

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Policy:
        """Read and validate a TOML policy file."""
        p = Path(path)
        doc = read_toml(p, error=PrivacyInputError, what="masking policy file",
                        fix="Write one (see docs/masking.md) or pass the right path.")
        return cls.from_dict(doc, base_dir=p.parent, source=f"policy file {p.name!r}")


def load_policy(policy: Policy | Mapping[str, Any] | str | os.PathLike[str]) -> Policy:
    """A validated :class:`Policy` from a policy, a mapping or a TOML file path."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Mapping):
        return Policy.from_dict(policy)
    if isinstance(policy, (str, os.PathLike)):
        return Policy.from_toml(policy)
    raise PrivacyInputError(
        f"The 'policy' parameter must be a Policy, a mapping or a path to a TOML file; got "
        f"{type(policy).__name__}."
    )


def _table(doc: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, Mapping):
        raise PrivacyInputError(
            f"The {key!r} entry of {source} must be a table ([{key}]); got "
            f"{type(value).__name__}."
        )
    return value


def _no_unknown(d: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in d:
        if key not in allowed:
            raise PrivacyInputError(
                f"Unknown key {key!r} in {where}.{did_you_mean(key, allowed)} Allowed keys: "
                f"{', '.join(allowed)}."
            )
