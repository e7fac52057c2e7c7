"""The registry of audit checks.

A check is one area of the audit (fairness, data protection, ...). It declares an id, the
report section it fills, a pydantic model for its options (the ``[checks.<id>]`` table of
``audit.toml``), what it needs from the audit context, and a ``run(ctx, options)`` function that
returns a :class:`CheckResult`. Checks register themselves with :func:`register_check`; the
runner discovers every module in ``auditkit.checks`` at run time, so adding a check is adding
a module.

Heavy libraries (torch, opacus, shap, lime, weasyprint) must be imported inside ``run``, never at
module level: the CLI imports this package to build its help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from auditkit._context import requirement_test
from auditkit.errors import ConfigError, UnknownCheckError
from auditkit.hints import did_you_mean
from auditkit.registry import Registry, import_submodules
from auditkit.reports import Artifact, Figure, Finding, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext

__all__ = [
    "CheckOptions",
    "CheckResult",
    "CheckSpec",
    "get_check",
    "iter_checks",
    "register_check",
]

# The report's sections, in report order, with their titles: the one list the registry, the
# runner and the demo read.
SECTIONS: dict[str, str] = {
    "dataset": "Scope and data",
    "data_protection": "Data protection",
    "security": "Security: encryption at rest",
    "accountability": "Accountability: audit trail and access",
    "fairness": "Fairness",
    "performance": "Performance by group",
    "transparency": "Transparency and explanations",
    "private_training": "Private training",
}
SECTION_ORDER = tuple(SECTIONS)


class CheckOptions(BaseModel):
    """Base class for a check's options: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


@dataclass
class CheckResult:
    """What a check hands back to the runner."""

    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)


#: What a check may read of the data (:attr:`CheckSpec.data_needs`).
DATA_NEEDS = ("counts", "sample", "rows", "none")


@dataclass(frozen=True)
class CheckSpec:
    """Declaration of one check.

    Parameters
    ----------
    id:
        The key of its table in ``audit.toml`` (``[checks.<id>]``) and the prefix of the ids of
        its findings.
    title:
        What the check audits, in a few words.
    options:
        pydantic model (subclass of :class:`CheckOptions`) validating ``[checks.<id>]``.
    run:
        ``run(ctx, options) -> CheckResult``.
    section:
        Report section id, a key of :data:`SECTIONS` (whose value is the section's title);
        by default the check's id.
    requires:
        Names from :data:`auditkit._context.REQUIREMENTS` the check cannot run without (the
        runner turns a missing one into ``not_applicable``).
    regulations:
        Every catalogue id this check may cite (tests check them against the catalogue).
    default_enabled:
        Whether the check runs when ``audit.toml`` has no ``[checks.<id>]`` table.
    order:
        Position among checks of the same section.
    data_needs:
        What the check reads of the data, for audits at scale (:data:`DATA_NEEDS`,
        docs/scale.md): ``"counts"`` figures the streaming pass counts over every row
        (``ctx.scale``); ``"sample"`` a bounded sample, whose size and seed its findings state;
        ``"none"`` no data rows (files, the trail); ``"rows"`` (the default, for checks written
        before audits at scale) the whole table as ``ctx.data``: on the Dask engine such a check
        runs on the sample and the runner says so in its section.
    """

    id: str
    title: str
    options: type[CheckOptions]
    run: Callable[[AuditContext, Any], CheckResult]
    section: str = ""
    requires: tuple[str, ...] = ()
    regulations: tuple[str, ...] = ()
    default_enabled: bool = True
    order: int = 100
    description: str = ""
    data_needs: str = "rows"

    def __post_init__(self) -> None:
        if not self.section:
            object.__setattr__(self, "section", self.id)
        if self.data_needs not in DATA_NEEDS:
            raise ConfigError(
                f"Check {self.id!r} declares data_needs = {self.data_needs!r}; expected one of "
                f"{', '.join(DATA_NEEDS)}.{did_you_mean(self.data_needs, DATA_NEEDS)}"
            )
        for name in self.requires:
            requirement_test(name, declared_by=self.id)  # refuses an unknown name
        if self.section not in SECTION_ORDER:
            raise ConfigError(
                f"Check {self.id!r} names section {self.section!r}; expected one of "
                f"{', '.join(SECTION_ORDER)}.{did_you_mean(self.section, SECTION_ORDER)} Use "
                "one of these section ids in its CheckSpec."
            )

    @property
    def section_title(self) -> str:
        """The title of the check's report section (:data:`SECTIONS`)."""
        return SECTIONS[self.section]


_REGISTRY: Registry[CheckSpec] = Registry("check", ConfigError, unknown_error=UnknownCheckError)
_DISCOVERED = False


def register_check(spec: CheckSpec, *, force: bool = False) -> CheckSpec:
    """Add ``spec`` to the registry; refuses to replace an existing id unless ``force``."""
    return _REGISTRY.add(spec.id, spec, force=force)


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    import auditkit.checks as pkg

    import_submodules(pkg)
    _DISCOVERED = True


def iter_checks() -> list[CheckSpec]:
    """Every registered check, in report order (section, then ``order``, then id)."""
    _discover()
    rank = {s: i for i, s in enumerate(SECTION_ORDER)}
    return sorted(_REGISTRY.values(), key=lambda c: (rank[c.section], c.order, c.id))


def get_check(check_id: str) -> CheckSpec:
    """The registered check ``check_id``; an unknown id raises
    :class:`~auditkit.errors.UnknownCheckError` (a ``ConfigError`` and a ``KeyError``) with
    the known ids and the closest one."""
    _discover()
    return _REGISTRY.lookup(check_id)
