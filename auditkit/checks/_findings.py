"""How checks build findings: each check declares its findings once, then states outcomes.

A check's findings are a table of :class:`FindingSpec` at the top of its module: the stable
id CI tooling keys on, the title, the catalogue topics it cites, the severity of a problem and
the remediation. At run time the check only says what it measured::

    MISSING = FindingSpec(
        "dataset.missing_values", "Completeness of the columns the audit relies on",
        topics=("group-coverage",), severity=Severity.MEDIUM, problem_status=Status.WARN,
        remediation="Find out why values are missing ...",
    )
    ...
    MISSING.judge(ctx, problem=bool(high), summary=..., metrics={...})

so the wording of a finding lives in one place, the citation always goes through the audit's
legal scope (``ctx.cite``), and no check writes a ``Finding(...)`` by hand.

:func:`rounded` is the one rounding rule for numbers placed in findings and tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from auditkit.reports import Figure, Finding, Severity, Status, Table

__all__ = ["Cites", "FindingSpec", "rounded"]


class Cites(Protocol):
    """Anything that maps catalogue topics to the provisions in the audit's scope
    (:meth:`auditkit._context.AuditContext.cite`)."""

    def cite(self, *topics: str) -> tuple[str, ...]: ...


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` rounded to ``digits`` decimals for a finding or a table cell.

    ``None`` and non-finite numbers (NaN, ±infinity) become ``None`` ("not measured": the
    report model stores no non-finite number); a value that is not a number is returned as
    it is; ``bool`` stays ``bool``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return value
    return round(v, digits) if math.isfinite(v) else None


@dataclass(frozen=True)
class FindingSpec:
    """One kind of finding a check can state.

    Parameters
    ----------
    check_id:
        Stable dotted id (``"<check>.<what>"``); never reused for another meaning.
    title:
        The finding's title.
    topics:
        Catalogue topics (:data:`auditkit.reports.catalogue.TOPICS`) it cites; the ids come from
        ``ctx.cite`` so only provisions in the audit's scope appear.
    severity:
        Severity of the finding (when :meth:`judge` finds a problem).
    pass_severity:
        Severity when :meth:`judge` finds no problem; by default the same as ``severity``.
    problem_status:
        Status :meth:`judge` gives a problem (``FAIL`` or ``WARN``).
    remediation:
        What to do; attached when the finding reports a problem (``FAIL`` or ``WARN``). A pass
        carries none unless :meth:`make` is given one.
    provisions:
        When given, the finding cites only these catalogue ids among the in-scope provisions
        of its ``topics`` (a finding that rests on two of a topic's ten provisions), in this
        order.
    """

    check_id: str
    title: str
    topics: tuple[str, ...] = ()
    severity: Severity = Severity.MEDIUM
    pass_severity: Severity | None = None
    problem_status: Status = Status.FAIL
    remediation: str | None = None
    provisions: tuple[str, ...] = ()

    def make(
        self,
        ctx: Cites,
        status: Status,
        summary: str,
        *,
        severity: Severity | None = None,
        metrics: Mapping[str, Any] | None = None,
        tables: Iterable[Table] = (),
        figures: Iterable[Figure] = (),
        title: str | None = None,
        remediation: str | None = None,
    ) -> Finding:
        """The finding with this status; ``severity``, ``title`` and ``remediation`` override
        the declared ones for this one finding. The declared remediation goes only on a
        ``FAIL`` or ``WARN``."""
        if remediation is None and Status(status) in (Status.FAIL, Status.WARN):
            remediation = self.remediation
        return Finding(
            check_id=self.check_id,
            title=title if title is not None else self.title,
            status=status,
            severity=severity if severity is not None else self.severity,
            summary=summary,
            metrics=dict(metrics or {}),
            tables=tuple(tables),
            figures=tuple(figures),
            regulations=self.cited(ctx),
            remediation=remediation,
        )

    def cited(self, ctx: Cites) -> tuple[str, ...]:
        """The catalogue ids the finding cites in ``ctx``'s scope."""
        in_scope = ctx.cite(*self.topics) if self.topics else ()
        if not self.provisions:
            return in_scope
        return tuple(i for i in self.provisions if i in in_scope)

    def judge(self, ctx: Cites, *, problem: bool, summary: str, **rest: Any) -> Finding:
        """``problem_status`` at the declared severity when ``problem``, else a pass (at
        ``pass_severity`` when one is declared). ``rest`` as for :meth:`make`."""
        if problem:
            return self.make(ctx, self.problem_status, summary, **rest)
        rest.setdefault("severity", self.pass_severity)
        return self.make(ctx, Status.PASS, summary, **rest)
