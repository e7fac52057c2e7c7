"""Findings of the transparency check for individuals, stability and protected attributes.

Split from :mod:`auditkit.checks.transparency` to keep modules small; only that module uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from auditkit.reports import Figure, Finding, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.checks.transparency import TransparencyOptions

# Catalogue topics each kind of finding cites (auditkit.reports.catalogue.TOPICS); the ids come
# from ctx.cite, so only provisions in the audit's domain and jurisdictions are cited.
LOCAL_TOPICS = ("adverse-action",)
TRUST_TOPICS = ("explanation-quality",)
BIAS_TOPICS = ("proxy",)
Cite = Callable[..., tuple[str, ...]]


def _r(x: Any, nd: int = 4) -> Any:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return x
    return round(v, nd) if v == v else None


def _figure(title: str, svg: str | bytes, alt: str) -> Figure:
    return Figure(title, svg if isinstance(svg, str) else svg.decode("utf-8"), alt)


def local_findings(
    rep: Any, options: TransparencyOptions, personal: set[str], naming: str, cite: Cite
) -> list[Finding]:
    from auditkit import explain

    out: list[Finding] = []
    if not rep.local:
        return out
    tables, figures = [], []
    weak = [
        loc
        for loc in rep.local
        if loc.lime is not None and loc.lime.fidelity_r2 < options.min_lime_fidelity
    ]
    for loc in rep.local:
        frame = loc.table(hide_values=sorted(personal))
        cols = [
            "feature",
            "value",
            "shap",
            "shap_rank",
            "lime_contribution",
            "lime_rank",
            "lime_weight",
        ]
        cols = [c for c in cols if c in frame.columns]
        fid = f"{loc.lime.fidelity_r2:.2f}" if loc.lime is not None else "n/a"
        tables.append(
            Table(
                f"Individual {loc.individual}: output {loc.output:.3f} vs base {loc.base_value:.3f}",
                cols,
                [[_r(v) for v in row] for row in frame[cols].itertuples(index=False, name=None)],
                note=f"SHAP and LIME attributions of the {loc.output_name}; LIME surrogate "
                f"fidelity R^2 = {fid}. Values of personal-data columns are withheld.",
            )
        )
        if options.plots:
            figures.append(
                _figure(
                    f"Individual {loc.individual}",
                    explain.plot_waterfall(
                        loc,
                        hide_values=sorted(personal),
                        top=8,
                        label=f"Individual {loc.individual}",
                    ),
                    "Waterfall from the base value to this individual's output.",
                )
            )
    out.append(
        Finding(
            check_id="transparency.local_explanations",
            title="Explanations for individual decisions",
            status=Status.WARN if weak else Status.PASS,
            severity=Severity.MEDIUM if weak else Severity.INFO,
            summary=(
                f"{len(rep.local)} individual(s), named {naming}, explained with SHAP and LIME "
                f"side by side."
                + (
                    f" The LIME surrogate fits poorly (R^2 < {options.min_lime_fidelity}) for "
                    + ", ".join(str(loc.individual) for loc in weak)
                    + ": rely on SHAP for them."
                    if weak
                    else ""
                )
            ),
            metrics={
                "individuals": len(rep.local),
                "min_lime_fidelity_r2": _r(
                    min(
                        (loc.lime.fidelity_r2 for loc in rep.local if loc.lime),
                        default=float("nan"),
                    )
                ),
            },
            tables=tuple(tables),
            figures=tuple(figures),
            regulations=cite(*LOCAL_TOPICS),
        )
    )
    if rep.agreement is not None:
        ag = rep.agreement
        frame = ag.to_frame()
        bad = ag.disagreeing
        out.append(
            Finding(
                check_id="transparency.agreement",
                title="Do SHAP and LIME tell the same story?",
                status=Status.WARN if bad else Status.PASS,
                severity=Severity.MEDIUM if bad else Severity.INFO,
                summary=(
                    f"SHAP and LIME disagree for {len(bad)} of {len(ag.rows)} individual(s) ("
                    + ", ".join(str(a.individual) for a in bad)
                    + f"): Spearman below {ag.min_spearman} or top-{ag.top_k} overlap below "
                    f"{ag.min_overlap:.0%}. Treat their explanations with caution."
                    if bad
                    else f"SHAP and LIME agree for all {len(ag.rows)} individual(s) (Spearman >= "
                    f"{ag.min_spearman}, top-{ag.top_k} overlap >= {ag.min_overlap:.0%})."
                ),
                metrics={"disagreeing": len(bad), "individuals": len(ag.rows)},
                tables=(
                    Table(
                        "SHAP vs LIME agreement per individual",
                        [
                            "individual",
                            "Spearman",
                            f"top-{ag.top_k} overlap",
                            "sign agreement",
                            "agrees",
                        ],
                        [
                            [
                                str(r.individual),
                                _r(r.spearman),
                                _r(r.top_k_overlap),
                                _r(r.sign_agreement),
                                bool(r.agrees),
                            ]
                            for r in frame.itertuples()
                        ],
                    ),
                ),
                regulations=cite(*TRUST_TOPICS),
                remediation="Report both methods for these individuals and prefer the one with "
                "the better fidelity; investigate interactions the linear surrogate misses."
                if bad
                else None,
            )
        )
    return out


def stability_findings(rep: Any, cite: Cite) -> list[Finding]:
    st = rep.stability
    if st is None:
        return []
    frame = st.to_frame()
    unstable = st.unstable
    return [
        Finding(
            check_id="transparency.stability",
            title="Are the importance ranks stable across seeds and samples?",
            status=Status.WARN if unstable else Status.PASS,
            severity=Severity.MEDIUM if unstable else Severity.INFO,
            summary=(
                f"Over {st.repeats} repeats ({st.rows_per_repeat:,} rows each, new seed, row "
                f"sample and background each time) "
                + (
                    f"{', '.join(unstable)} move by more than {st.max_rank_spread} places while in "
                    f"the top {st.top_k}: do not rely on their exact rank."
                    if unstable
                    else f"no top-{st.top_k} feature moved by more than {st.max_rank_spread} "
                    f"places (mean rank correlation {st.mean_pairwise_spearman:.2f})."
                )
            ),
            metrics={
                "repeats": st.repeats,
                "unstable_features": len(unstable),
                "mean_pairwise_spearman": _r(st.mean_pairwise_spearman),
                "min_top_k_jaccard": _r(st.top_k_jaccard),
            },
            tables=(
                Table(
                    "Importance rank across repeats",
                    [
                        "feature",
                        "median rank",
                        "min rank",
                        "max rank",
                        "spread",
                        "mean |SHAP|",
                        "CV",
                        "unstable",
                    ],
                    [
                        [
                            r.feature,
                            _r(r.median_rank),
                            int(r.min_rank),
                            int(r.max_rank),
                            int(r.rank_spread),
                            _r(r.mean_importance),
                            _r(r.importance_cv),
                            bool(r.unstable),
                        ]
                        for r in frame.itertuples()
                    ],
                ),
            ),
            regulations=cite(*TRUST_TOPICS),
            remediation="Explain more rows (sample_rows) or report importance as a band, not a "
            "rank."
            if unstable
            else None,
        )
    ]


def protected_findings(rep: Any, cite: Cite) -> list[Finding]:
    px = rep.proxies
    if px is None:
        return [
            Finding(
                check_id="transparency.proxies",
                title="Features standing in for protected attributes",
                status=Status.NOT_APPLICABLE,
                severity=Severity.INFO,
                summary="No protected attributes are configured ([data] protected), so reliance "
                "on them and on proxies could not be examined.",
                regulations=cite(*BIAS_TOPICS),
            )
        ]
    out: list[Finding] = []
    direct = {p.feature: p for p in px.direct}
    if direct:
        relied = [p for p in direct.values() if p.flagged]
        out.append(
            Finding(
                check_id="transparency.protected_reliance",
                title="Attribution carried by protected attributes used as features",
                status=Status.FAIL if relied else Status.WARN,
                severity=Severity.HIGH,
                summary=(
                    "The model uses protected attribute(s) "
                    + ", ".join(
                        f"{p.feature} ({p.share:.1%} of attribution)" for p in direct.values()
                    )
                    + (
                        f"; at or above the {px.share_threshold:.0%} threshold the decision "
                        f"materially depends on them."
                        if relied
                        else "; below the reliance threshold, but present."
                    )
                ),
                metrics={"protected_attribution_share": _r(px.protected_share)},
                regulations=cite(*BIAS_TOPICS),
                remediation="Remove protected attributes from the inputs unless a legal basis "
                "allows their use, and re-check proxies afterwards.",
            )
        )
    else:
        out.append(
            Finding(
                check_id="transparency.protected_reliance",
                title="Attribution carried by protected attributes used as features",
                status=Status.PASS,
                severity=Severity.INFO,
                summary="No protected attribute is a model feature, so none carries attribution "
                "directly; see the proxy finding for indirect reliance.",
                metrics={"protected_attribution_share": 0.0},
                regulations=cite(*BIAS_TOPICS),
            )
        )
    flagged = px.proxies
    assoc = px.associated
    rows = [
        [
            p.feature,
            p.protected,
            _r(p.cramers_v),
            _r(p.threshold),
            _r(p.nmi),
            _r(p.share),
            int(p.rank),
            bool(p.flagged),
        ]
        for p in px.pairs
        if not p.direct
    ]
    rows.sort(key=lambda r: (not r[7], -(r[2] or 0)))
    covered = {p.protected for p in flagged}
    weak: list[str] = []
    for p in assoc:
        if p.protected not in covered:
            covered.add(p.protected)
            weak.append(
                f"{p.feature} is associated with {p.protected} (Cramér's V {p.cramers_v:.2f} >= "
                f"{p.threshold:.2f}) but carries only {p.share:.1%} of the attribution, below the "
                f"{px.share_threshold:.0%} reliance threshold"
            )
    if flagged:
        summary = (
            "; ".join(
                f"{p.feature} stands in for {p.protected} (Cramér's V {p.cramers_v:.2f} >= "
                f"{p.threshold:.2f}) and carries {p.share:.1%} of the attribution"
                for p in flagged
            )
            + ". The model can reproduce these attributes' effect without seeing them."
            + (" Also: " + "; ".join(weak) + "." if weak else "")
        )
    elif weak:
        summary = (
            "No feature is both associated with a protected attribute and relied upon: "
            + "; ".join(weak)
            + "."
        )
    else:
        summary = "No feature is associated with a protected attribute beyond a medium effect."
    out.append(
        Finding(
            check_id="transparency.proxies",
            title="Features standing in for protected attributes",
            status=Status.WARN if flagged else Status.PASS,
            severity=Severity.HIGH if flagged else Severity.INFO,
            summary=summary,
            metrics={
                "proxies": len(flagged),
                "associated_pairs": len(assoc),
                "rows_used": px.rows_used,
            },
            tables=(
                Table(
                    "Association of each feature with each protected attribute, and its attribution",
                    [
                        "feature",
                        "protected attribute",
                        "Cramér's V",
                        "V threshold",
                        "NMI",
                        "attribution share",
                        "importance rank",
                        "proxy",
                    ],
                    rows,
                    note="Bias-corrected Cramér's V and normalised mutual information on up to "
                    f"{px.rows_used:,} rows (numeric features in 10 quantile bins). Default V "
                    "threshold: a medium effect (Cohen's w = 0.3) for the table's shape.",
                ),
            ),
            regulations=cite(*BIAS_TOPICS),
            remediation="Check whether these features are necessary for the purpose; if kept, "
            "test outcomes per protected group (fairness section) and document the "
            "justification."
            if flagged
            else None,
        )
    )
    return out
