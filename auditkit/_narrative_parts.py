"""The DPIA (GDPR Art. 35(7)(a)-(d)) and model-card sections of the report's narrative.

Written from the configuration, :class:`~auditkit._narrative.AuditFacts` and the findings; what
only the controller can supply and the configuration lacks is :data:`~auditkit._narrative.OPEN`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from auditkit._narrative import (
    OPEN,
    AuditFacts,
    distinct,
    first_sentence,
    recommended_actions,
)
from auditkit.reports import Finding, Section, Status, Table, worst_status

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.config import AuditConfig

__all__ = ["DPIA_RISKS", "dpia_section", "model_card_section"]

#: The risks to rights and freedoms the DPIA's point (c) reports, each with the check ids (or
#: id prefixes, ending in ``.``) whose findings are its evidence.
DPIA_RISKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Discrimination: outcomes or errors that differ between groups",
     ("fairness.", "performance.", "transparency.proxies", "transparency.protected_reliance",
      "dataset.protected_in_features")),
    ("Processing of personal data beyond need, including special categories (Art. 9)",
     ("data_protection.inventory", "data_protection.special_categories",
      "data_protection.minimisation", "dataset.identifiers_in_features")),
    ("Re-identification of individuals from the data or the model",
     ("data_protection.k_anonymity", "data_protection.reidentification", "private_training.")),
    ("Loss of confidentiality: data, model or keys readable by others", ("security.",)),
    ("Opacity: decisions that cannot be explained or contested",
     ("transparency.method", "transparency.global_importance", "transparency.local_explanations",
      "transparency.agreement", "transparency.stability", "transparency.efficiency")),
)
_COLUMNS = ["Item", "Content", "Source"]
_FROM_AUDIT = "this audit"
_CONTROLLER = "to be supplied by the controller"


def _matches(check_id: str, patterns: Sequence[str]) -> bool:
    return any(check_id.startswith(p) if p.endswith(".") else
               check_id == p or check_id.startswith(p + ".") for p in patterns)


def _given(value: str, key: str) -> list[str]:
    """A row's content and source: the configured text, or :data:`OPEN`."""
    return [value.strip(), key] if value.strip() else [OPEN, _CONTROLLER]


def _names(columns: Sequence[str]) -> str:
    return ", ".join(columns) if columns else "none"


def _evidence(findings: Sequence[Finding], patterns: Sequence[str], limit: int = 1) -> str:
    """The findings bearing on a topic in a few words: counts per status and the worst ones."""
    fs = [f for f in findings if _matches(f.check_id, patterns)]
    if not fs:
        return "No check of this audit examined it."
    counts = {s: sum(f.status is s for f in fs) for s in Status}
    tally = ", ".join(f"{n} {s.label.lower()}" for s, n in counts.items() if n)
    worst = sorted(fs, key=lambda f: -[Status.NOT_APPLICABLE, Status.PASS,
                                       Status.INSUFFICIENT_EVIDENCE, Status.WARN,
                                       Status.ERROR, Status.FAIL].index(f.status))[:limit]
    detail = " ".join(f"Worst: {f.title} ({f.status.label.lower()}): "
                      f"{first_sentence(f.summary, 180)}" for f in worst)
    return f"{len(fs)} finding{'s' if len(fs) != 1 else ''} ({tally}). {detail}"


def _part_a(cfg: AuditConfig, facts: AuditFacts) -> Table:
    a, d = cfg.audit, cfg.dpia
    model = (f"{facts.model_file} ({facts.model_type})" if facts.model_file
             else "predictions supplied with the data")
    outcome = (f"{facts.label}; favourable to the person: {facts.favourable_label!r}"
               if facts.label and facts.favourable_label is not None
               else f"{facts.label or 'not stated'}; favourable outcome not set")
    rows = [
        ["Controller", *_given(a.controller, "[audit] controller")],
        ["Data protection officer", *_given(a.dpo, "[audit] dpo")],
        ["Nature of the processing", *_given(d.processing_description,
                                             "[dpia] processing_description")],
        ["Purposes", *_given(d.purposes, "[dpia] purposes")],
        ["Legitimate interest pursued (where Art. 6(1)(f) is the basis)",
         *_given(d.legitimate_interest, "[dpia] legitimate_interest")],
        ["Automated decision system",
         f"{a.system or 'not stated'} {a.version}".strip() + f"; model {model}; domain "
         f"{a.domain.replace('_', ' ')}; jurisdictions {', '.join(a.jurisdictions)}",
         "[audit], [model]"],
        ["Data processed",
         f"{facts.dataset}: {facts.rows:,} records, {facts.columns} columns. Personal data: "
         f"{_names(facts.personal_columns)}. Special categories (Art. 9): "
         f"{_names(facts.special_category_columns)}. Quasi-identifiers: "
         f"{_names(facts.quasi_identifiers)}.", _FROM_AUDIT],
        ["Decision and its outcome", outcome, "[data]"],
    ]
    return Table("(a) Systematic description of the processing and its purposes", _COLUMNS, rows)


def _part_b(cfg: AuditConfig, findings: Sequence[Finding]) -> Table:
    rows = [
        ["Controller's assessment of necessity and proportionality",
         *_given(cfg.dpia.necessity_and_proportionality, "[dpia] necessity_and_proportionality")],
        ["Lawful basis (Art. 6) and, for special categories, the Art. 9(2) condition", OPEN,
         _CONTROLLER],
        ["Data minimisation", _evidence(findings, ("data_protection.minimisation",
                                                   "dataset.identifiers_in_features")),
         _FROM_AUDIT],
        ["Protected attributes among the model's inputs",
         _evidence(findings, ("dataset.protected_in_features",
                              "transparency.protected_reliance")), _FROM_AUDIT],
    ]
    return Table("(b) Necessity and proportionality of the processing", _COLUMNS, rows)


def _part_c(findings: Sequence[Finding]) -> Table:
    rows = []
    for risk, patterns in DPIA_RISKS:
        fs = [f for f in findings if _matches(f.check_id, patterns)]
        rows.append([risk, _evidence(findings, patterns),
                     worst_status(f.status for f in fs).label if fs else "not examined"])
    rows.append(["Likelihood and severity of each risk for the people concerned", OPEN,
                 _CONTROLLER])
    return Table("(c) Risks to the rights and freedoms of data subjects",
                 ["Risk", "What the audit found", "Worst status"], rows)


def _part_d(cfg: AuditConfig, findings: Sequence[Finding]) -> Table:
    rows = [[act.text, act.finding.title, f"remediation of {act.finding.check_id}"]
            for act in recommended_actions(findings)]
    rows += [[m, "named by the controller", "[dpia] measures"] for m in cfg.dpia.measures
             if m.strip()]
    if not cfg.dpia.measures:
        rows.append(["Safeguards, security measures and mechanisms the controller decides on",
                     OPEN, _CONTROLLER])
    consult = cfg.dpia.consultation.strip()
    rows.append(["Views of data subjects or their representatives (Art. 35(9))",
                  consult or OPEN, "[dpia] consultation" if consult else _CONTROLLER])
    dpo = cfg.audit.dpo.strip()
    rows.append([f"Advice of the data protection officer{' (' + dpo + ')' if dpo else ''} "
                 "(Art. 35(2))", OPEN, _CONTROLLER])
    return Table("(d) Measures envisaged to address the risks",
                 ["#", "Measure", "Addresses", "Source"],
                 [[i, *row] for i, row in enumerate(rows, 1)])


def dpia_section(cfg: AuditConfig, facts: AuditFacts, findings: Sequence[Finding]) -> Section:
    """The DPIA section in the structure of GDPR Art. 35(7)(a)-(d)."""
    fs = distinct(findings)
    n_open = sum(1 for t in (_part_a(cfg, facts), _part_b(cfg, fs), _part_c(fs), _part_d(cfg, fs))
                 for row in t.rows if OPEN in row)
    summary = (
        "The points of a data protection impact assessment under GDPR Art. 35(7): (a) the "
        "processing and its purposes, (b) its necessity and proportionality, (c) the risks to "
        "the rights and freedoms of the people concerned and (d) the measures envisaged. This "
        "audit fills in what it measured and what the configuration states; it supports the "
        "controller's assessment and does not replace it."
        f"\n\n{n_open} item{'s are' if n_open != 1 else ' is'} marked \u201c{OPEN}\u201d: "
        "only the controller can supply them ([dpia] and [audit] in audit.toml)."
    )
    tables = [_part_a(cfg, facts), _part_b(cfg, fs), _part_c(fs), _part_d(cfg, fs)]
    return Section(id="dpia", title="Data protection impact assessment (GDPR Art. 35(7))",
                   summary=summary, tables=tables, kind="narrative")


# -- the model card ---------------------------------------------------------------------------
def _factors(facts: AuditFacts) -> str:
    if not facts.protected:
        return "No protected attribute was named ([data] protected); no group was evaluated."
    per = "; ".join(f"{c} ({facts.groups.get(c, 0)} groups)" for c in facts.protected)
    inter = " and their intersections" if len(facts.protected) > 1 else ""
    return f"Protected attributes evaluated: {per}{inter}. The groups are named in the " \
           "Fairness section."


def _metrics(sections: Sequence[Section]) -> str:
    lines = []
    for f in distinct(f for s in sections if s.id in ("fairness", "performance")
                      for f in s.findings):
        value = f.metrics.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            where = f.metrics.get("grouping")
            lines.append(f"{f.title}: {value:.3g}{' by ' + str(where) if where else ''} "
                         f"({f.status.label.lower()})")
    return "; ".join(lines) + "." if lines else "No fairness or performance metric was measured."


def _caveats(cfg: AuditConfig, findings: Sequence[Finding]) -> tuple[str, str]:
    audit = [f"{f.title}: {first_sentence(f.summary, 200)}" for f in findings
             if f.status is Status.INSUFFICIENT_EVIDENCE
             or (f.check_id == "fairness.group_coverage" and f.status is not Status.PASS)]
    own = cfg.model_card.caveats.strip()
    parts = ([own] if own else []) + audit + [
        "The results hold for the evaluation data named here, as it was when the audit ran."]
    return " ".join(parts), ("[model_card] caveats and " if own else "") + _FROM_AUDIT


def model_card_section(
    cfg: AuditConfig, facts: AuditFacts, sections: Sequence[Section]
) -> Section:
    """The model card: intended use, out-of-scope use, factors, metrics, evaluation data,
    caveats (filled from the configuration and findings; open items marked)."""
    mc, a = cfg.model_card, cfg.audit
    findings = distinct(f for s in sections for f in s.findings)
    caveats, caveat_source = _caveats(cfg, findings)
    digest = f"; SHA-256 {facts.data_sha256[:16]}…" if facts.data_sha256 else ""
    rows = [
        ["Model details", f"{a.system or 'not stated'} {a.version}".strip()
         + (f"; {facts.model_file} ({facts.model_type})" if facts.model_file
            else "; predictions supplied with the data"), "[audit], [model]"],
        ["Intended use", *_given(mc.intended_use, "[model_card] intended_use")],
        ["Intended users", *_given(mc.intended_users, "[model_card] intended_users")],
        ["Out-of-scope use", *_given(mc.out_of_scope_use, "[model_card] out_of_scope_use")],
        ["Factors", _factors(facts), _FROM_AUDIT],
        ["Metrics", _metrics(sections), _FROM_AUDIT],
        ["Evaluation data", f"{facts.dataset}, {facts.rows:,} rows, evaluated "
         f"{facts.generated_at[:10] or 'at the audit'}{digest}", _FROM_AUDIT],
        ["Training data", *_given(mc.training_data, "[model_card] training_data")],
        ["Ethical considerations", *_given(mc.ethical_considerations,
                                           "[model_card] ethical_considerations")],
        ["Caveats and recommendations", caveats, caveat_source],
    ]
    n_open = sum(1 for r in rows if r[1] == OPEN)
    summary = (
        "What a model card records, filled from the configuration ([model_card]) and this "
        f"audit's findings. {n_open} field{'s are' if n_open != 1 else ' is'} open."
    )
    return Section(id="model_card", title="Model card", summary=summary,
                   tables=[Table("Model card", _COLUMNS, rows)], kind="narrative")
