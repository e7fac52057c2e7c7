"""Findings of the transparency check on protected attributes: the attribution they carry as
model features, and the features that stand in for them (proxies).

Both read :class:`auditkit.explain.ProxyReport` (``None`` when no protected attribute is
configured) and the audit's scope (``ctx``, for citations).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditkit.checks._findings import Cites, FindingSpec, rounded
from auditkit.reports import Finding, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.explain import ProxyReport

#: Catalogue topics both findings cite (auditkit.reports.catalogue.TOPICS).
BIAS_TOPICS = ("proxy",)

RELIANCE = FindingSpec(
    "transparency.protected_reliance",
    "Attribution carried by protected attributes used as features",
    topics=BIAS_TOPICS, severity=Severity.HIGH,
    remediation="Remove protected attributes from the inputs unless a legal basis allows their "
    "use, and re-check proxies afterwards.",
)
PROXIES = FindingSpec(
    "transparency.proxies", "Features standing in for protected attributes",
    topics=BIAS_TOPICS, severity=Severity.HIGH, pass_severity=Severity.INFO,
    problem_status=Status.WARN,
    remediation="Check whether these features are necessary for the purpose; if kept, test "
    "outcomes per protected group (fairness section) and document the justification.",
)

PROXY_COLUMNS = ("feature", "protected attribute", "Cramér's V", "V threshold", "NMI",
                 "attribution share", "importance rank", "proxy")


def protected_findings(ctx: Cites, proxies: ProxyReport | None) -> list[Finding]:
    """Reliance on protected attributes and on their proxies; without protected attributes,
    one "not applicable" finding."""
    if proxies is None:
        return [PROXIES.make(
            ctx, Status.NOT_APPLICABLE,
            "No protected attributes are configured ([data] protected), so reliance on them "
            "and on proxies could not be examined.",
            severity=Severity.INFO,
        )]
    return [reliance_finding(ctx, proxies), proxies_finding(ctx, proxies)]


def reliance_finding(ctx: Cites, px: ProxyReport) -> Finding:
    """``fail`` when a protected attribute used as a feature carries at least the threshold's
    share of attribution, ``warn`` when one is used below it, ``pass`` when none is used."""
    direct = {p.feature: p for p in px.direct}
    if not direct:
        return RELIANCE.make(
            ctx, Status.PASS,
            "No protected attribute is a model feature, so none carries attribution directly; "
            "see the proxy finding for indirect reliance.",
            severity=Severity.INFO,
            metrics={"protected_attribution_share": 0.0},
        )
    relied = any(p.flagged for p in direct.values())
    summary = (
        "The model uses protected attribute(s) "
        + ", ".join(f"{p.feature} ({p.share:.1%} of attribution)" for p in direct.values())
        + (
            f"; at or above the {px.share_threshold:.0%} threshold the decision materially "
            f"depends on them."
            if relied
            else "; below the reliance threshold, but present."
        )
    )
    return RELIANCE.make(
        ctx, Status.FAIL if relied else Status.WARN, summary,
        metrics={"protected_attribution_share": rounded(px.protected_share)},
    )


def _proxy_rows(px: ProxyReport) -> list[list[Any]]:
    """One row per (feature, protected attribute) pair, not for direct use; proxies first,
    then by association."""
    rows = [
        [p.feature, p.protected, rounded(p.cramers_v), rounded(p.threshold), rounded(p.nmi),
         rounded(p.share), int(p.rank), bool(p.flagged)]
        for p in px.pairs
        if not p.direct
    ]
    rows.sort(key=lambda r: (not r[7], -(r[2] or 0)))
    return rows


def _associated_only(px: ProxyReport) -> list[str]:
    """Sentences for protected attributes with an associated feature but no proxy (the first
    such feature for each)."""
    covered = {p.protected for p in px.proxies}
    out: list[str] = []
    for p in px.associated:
        if p.protected not in covered:
            covered.add(p.protected)
            out.append(
                f"{p.feature} is associated with {p.protected} (Cramér's V {p.cramers_v:.2f} >= "
                f"{p.threshold:.2f}) but carries only {p.share:.1%} of the attribution, below the "
                f"{px.share_threshold:.0%} reliance threshold"
            )
    return out


def _proxy_summary(px: ProxyReport) -> str:
    weak = _associated_only(px)
    if px.proxies:
        return (
            "; ".join(
                f"{p.feature} stands in for {p.protected} (Cramér's V {p.cramers_v:.2f} >= "
                f"{p.threshold:.2f}) and carries {p.share:.1%} of the attribution"
                for p in px.proxies
            )
            + ". The model can reproduce these attributes' effect without seeing them."
            + (" Also: " + "; ".join(weak) + "." if weak else "")
        )
    if weak:
        return (
            "No feature is both associated with a protected attribute and relied upon: "
            + "; ".join(weak) + "."
        )
    return "No feature is associated with a protected attribute beyond a medium effect."


def proxies_finding(ctx: Cites, px: ProxyReport) -> Finding:
    """``warn`` for each feature both associated with a protected attribute and relied upon."""
    table = Table(
        "Association of each feature with each protected attribute, and its attribution",
        PROXY_COLUMNS,
        _proxy_rows(px),
        note="Bias-corrected Cramér's V and normalised mutual information on up to "
        f"{px.rows_used:,} rows (numeric features in 10 quantile bins). Default V threshold: a "
        "medium effect (Cohen's w = 0.3) for the table's shape.",
    )
    return PROXIES.judge(
        ctx, problem=bool(px.proxies), summary=_proxy_summary(px),
        metrics={"proxies": len(px.proxies), "associated_pairs": len(px.associated),
                 "rows_used": px.rows_used},
        tables=(table,),
    )
