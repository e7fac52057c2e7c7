"""The legal-scope safety net: no finding cites a provision outside the audit's scope.

Checks ask the catalogue for provisions by topic (:meth:`auditkit.AuditContext.cite`), which
already returns only those in scope. This module is the net under every check, including ones
that still list ids by hand: the runner passes each check's result through :func:`scope_result`,
which drops from every finding any provision whose jurisdiction is not among the audit's
``[audit] jurisdictions`` (or implied by them) or whose domains exclude ``[audit] domain``.
Ids the catalogue lacks are kept so that the renderers can flag them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext
    from auditkit.checks._registry import CheckResult

__all__ = ["scope_result"]


def scope_result(ctx: AuditContext, result: CheckResult) -> CheckResult:
    """``result`` with every finding's ``regulations`` restricted to the audit's legal scope.

    Parameters
    ----------
    ctx:
        The audit context; its config's ``[audit] domain`` and ``jurisdictions`` set the scope.
    result:
        What a check returned. It is not modified; a new result is returned when a finding
        loses a citation, else ``result`` itself.
    """
    from auditkit.reports.catalogue import get_catalogue

    meta = ctx.config.audit
    catalogue = get_catalogue()
    changed = False
    findings = []
    for finding in result.findings:
        kept = catalogue.restrict(
            finding.regulations, domain=meta.domain, jurisdictions=meta.jurisdictions
        )
        if kept != tuple(finding.regulations):
            finding = replace(finding, regulations=kept)
            changed = True
        findings.append(finding)
    return replace(result, findings=findings) if changed else result
