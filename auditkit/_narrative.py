"""The report's narrative: executive summary, risk rating, actions, DPIA and model card.

Everything here is written from three sources only: the configuration (``[audit]``,
``[dpia]``, ``[model_card]``), the facts of the audited data and model (:class:`AuditFacts`:
names, counts and digests, never a value of a column) and the findings the checks produced.
What only the controller can supply and the configuration does not hold is written as
:data:`OPEN`, never guessed.

The result is a set of :class:`~auditkit.reports.Section` objects of kind ``narrative``, part of
the one :class:`~auditkit.reports.Report` every format is rendered from, so the runner's
personal-data guard (:meth:`auditkit._redact.PersonalValueIndex.leaks_in_report`) checks them
like any finding.

Risk rating (:data:`RISK_SCHEME`): **High** when a finding fails at high or critical severity,
or three or more findings fail; **Medium** when any other finding fails, a check errored, or a
high- or critical-severity finding warns or lacks evidence; **Low** otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditkit.reports import Finding, Section, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext
    from auditkit.config import AuditConfig
    from auditkit.reports import Artifact

__all__ = [
    "MAX_KEY_FINDINGS",
    "OPEN",
    "RISK_SCHEME",
    "TO_ASSIGN",
    "Action",
    "AuditFacts",
    "facts_from_context",
    "key_findings",
    "recommended_actions",
    "risk_rating",
]

#: What the report says where only the controller can supply the content.
OPEN = "Open — to be supplied by the controller"
#: Owner or due date of an action when ``[audit] action_owner`` / ``action_due`` is unset.
TO_ASSIGN = "to assign"
#: Most findings named in the executive summary.
MAX_KEY_FINDINGS = 5
#: The risk-rating scheme, in one sentence (the executive summary's appendix table repeats it).
RISK_SCHEME = (
    "The overall risk rating is High when any finding fails at high or critical severity or "
    "three or more findings fail; Medium when any other finding fails, a check errored, or a "
    "finding of high or critical severity warns or lacks evidence; Low otherwise."
)

_STATUS_ORDER = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2,
                 Status.INSUFFICIENT_EVIDENCE: 3, Status.PASS: 4, Status.NOT_APPLICABLE: 5}
_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2,
                   Severity.LOW: 3, Severity.INFO: 4}
_SERIOUS = (Severity.HIGH, Severity.CRITICAL)
# Words after which a full stop does not end a sentence ("GDPR Art. 9", "e.g. 3").
_ABBREVIATIONS = frozenset({"art", "arts", "no", "nos", "e.g", "i.e", "cf", "vs", "sec",
                            "para", "reg", "rec", "ch", "fig", "approx", "incl", "u.s", "u.k"})
_ATTENTION = (Status.FAIL, Status.ERROR, Status.WARN, Status.INSUFFICIENT_EVIDENCE)

# Why a finding of each area matters, in plain words (keyed by the check id's first part).
_WHY = {
    "fairness": "Outcomes or error rates that differ between groups of a protected attribute "
    "are a risk of discrimination.",
    "performance": "Errors that fall more on some groups than others harm those groups.",
    "data_protection": "Personal data beyond what the purpose needs raises the duties under "
    "data protection law and the harm of any breach.",
    "security": "Files kept in clear can be read by anyone who obtains them.",
    "transparency": "A decision that cannot be explained cannot be checked or contested.",
    "private_training": "A model can reveal whether a person's record was used to train it.",
    "dataset": "The audit's conclusions are only as sound as the data they rest on.",
}


@dataclass(frozen=True)
class AuditFacts:
    """What the narrative may say about the audited data and model: names, counts, digests.

    Never a value of a column: ``groups`` counts the distinct values of each protected
    attribute, it does not list them.
    """

    dataset: str
    rows: int
    columns: int
    generated_at: str = ""
    model_file: str = ""
    model_type: str = ""
    data_sha256: str = ""
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    favourable_label: Any = None
    protected: tuple[str, ...] = ()
    groups: Mapping[str, int] = field(default_factory=dict)
    personal_columns: tuple[str, ...] = ()
    special_category_columns: tuple[str, ...] = ()
    quasi_identifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    """A recommended action: what to do, the finding it answers, who and by when."""

    text: str
    finding: Finding
    owner: str
    due: str


def facts_from_context(
    ctx: AuditContext, inputs: Iterable[Artifact] = (), generated_at: str = ""
) -> AuditFacts:
    """The :class:`AuditFacts` of an audit context (no value of any column is read out)."""
    from pathlib import Path

    cfg = ctx.config
    artifacts = {a.kind: a for a in inputs}
    pd_ = ctx.personal_data
    scale = ctx.scale
    if scale is None:
        groups = {c: int(ctx.data[c].nunique(dropna=False)) for c in ctx.protected
                  if c in ctx.data.columns}
    else:  # distinct values of every row, the missing value counting as one
        groups = {c: (scale.distinct_cap if (n := scale.distinct_count(c)) is None else n)
                  + (1 if scale.missing.get(c) else 0)
                  for c in ctx.protected if c in scale.columns}
    return AuditFacts(
        dataset=Path(cfg.data.path).name if scale is None else scale.source,
        rows=int(ctx.data.shape[0]) if scale is None else scale.n_rows,
        columns=int(ctx.data.shape[1]),
        generated_at=generated_at,
        model_file=artifacts["model"].name if "model" in artifacts else "",
        model_type=type(ctx.model).__name__ if ctx.model is not None else "",
        data_sha256=artifacts["data"].sha256 if "data" in artifacts else "",
        label=ctx.label,
        prediction=ctx.prediction,
        score=ctx.score,
        favourable_label=cfg.data.favourable_label,
        protected=tuple(ctx.protected),
        groups=groups,
        personal_columns=tuple(pd_.personal_columns),
        special_category_columns=tuple(pd_.special_category_columns),
        quasi_identifiers=tuple(pd_.quasi_identifiers),
    )


# -- ranking, risk and actions ----------------------------------------------------------------
def _rank(f: Finding) -> tuple[int, int]:
    return _STATUS_ORDER[f.status], _SEVERITY_ORDER[f.severity]


def distinct(findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` with each fact once (:meth:`Finding.fact_key`), first occurrence kept."""
    seen: set[Any] = set()
    out = []
    for f in findings:
        key = f.fact_key()
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        out.append(f)
    return out


def key_findings(findings: Iterable[Finding], limit: int = MAX_KEY_FINDINGS) -> list[Finding]:
    """The findings that matter most: those that fail, errored, warn or lack evidence, one per
    fact, failing first, then by severity (the checks' order breaks ties)."""
    needing = [f for f in distinct(findings) if f.status in _ATTENTION]
    return sorted(needing, key=_rank)[:limit]


def risk_rating(findings: Iterable[Finding]) -> tuple[str, str]:
    """The overall rating (``"High"``, ``"Medium"``, ``"Low"``) by :data:`RISK_SCHEME`, and
    the reason in words."""
    fs = distinct(findings)
    fails = [f for f in fs if f.status is Status.FAIL]
    serious_fails = [f for f in fails if f.severity in _SERIOUS]
    if serious_fails:
        return "High", (f"{_count(serious_fails, 'finding')} failed at high or critical "
                        f"severity ({_titles(serious_fails)}).")
    if len(fails) >= 3:
        return "High", f"{len(fails)} findings failed ({_titles(fails)})."
    if fails:
        return "Medium", f"{_count(fails, 'finding')} failed at lower severity ({_titles(fails)})."
    errors = [f for f in fs if f.status is Status.ERROR]
    if errors:
        return "Medium", (f"{_count(errors, 'check')} could not complete, so the audit is "
                          f"incomplete ({_titles(errors)}).")
    doubtful = [f for f in fs if f.severity in _SERIOUS
                and f.status in (Status.WARN, Status.INSUFFICIENT_EVIDENCE)]
    if doubtful:
        return "Medium", (f"{_count(doubtful, 'high-severity finding')} warned or lacked "
                          f"evidence ({_titles(doubtful)}).")
    return "Low", "No finding failed or errored, and no high-severity finding warned."


def recommended_actions(
    findings: Iterable[Finding], owner: str = "", due: str = ""
) -> list[Action]:
    """One action per distinct remediation of the findings needing attention, in the order of
    :func:`key_findings`; owner and due date as configured, else :data:`TO_ASSIGN`."""
    needing = sorted((f for f in distinct(findings) if f.status in _ATTENTION), key=_rank)
    seen: set[str] = set()
    out = []
    for f in needing:
        text = (f.remediation or "").strip()
        if not text or text in seen:
            continue
        seen.add(text)
        out.append(Action(text, f, owner.strip() or TO_ASSIGN, due.strip() or TO_ASSIGN))
    return out


def _count(items: Sequence[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _titles(fs: Sequence[Finding], limit: int = 3) -> str:
    names = "; ".join(f.title for f in fs[:limit])
    return names + (f"; and {len(fs) - limit} more" if len(fs) > limit else "")


def first_sentence(text: str, limit: int = 240) -> str:
    """The first sentence of ``text`` (cut at ``limit`` characters, saying so)."""
    text = " ".join(str(text or "").split())
    out = text
    for m in re.finditer(r"(?<=[.!?])\s+(?=[A-Z0-9(])", text):
        word = text[: m.start()].rsplit(" ", 1)[-1].rstrip(".!?").lower()
        if m.start() >= 20 and word not in _ABBREVIATIONS and len(word) > 1:
            out = text[: m.start()]
            break
    return out if len(out) <= limit else out[: limit - 1].rstrip() + "…"


def why_it_matters(f: Finding) -> str:
    """The plain-language reason a finding of this area matters."""
    return _WHY.get(f.check_id.split(".", 1)[0], "See the finding's section for its evidence.")


# -- the executive summary --------------------------------------------------------------------
def _audited_text(cfg: AuditConfig, facts: AuditFacts) -> str:
    a = cfg.audit
    system = a.system or "the system named on the cover"
    version = f" version {a.version}" if a.version else ""
    model = (f"the model {facts.model_file} ({facts.model_type})" if facts.model_file
             else "predictions supplied with the data")
    special = len(facts.special_category_columns)
    return (
        f"This audit examined {system}{version}: {model}, evaluated on {facts.dataset} "
        f"({facts.rows:,} rows, {facts.columns} columns; {len(facts.personal_columns)} hold "
        f"personal data, {special} of them a special category under GDPR Art. 9). It serves "
        f"the {a.domain.replace('_', ' ')} domain and was assessed against the rules of "
        f"{', '.join(a.jurisdictions)}.{_outcome_text(facts)}"
    )


def _outcome_text(facts: AuditFacts) -> str:
    if facts.label is None:
        return ""
    if facts.favourable_label is None:
        return (f" Which value of {facts.label} is favourable to the person is not set "
                "([data] favourable_label).")
    return f" The outcome treated as favourable to the person is {facts.label} = " \
           f"{facts.favourable_label!r}."


def _findings_text(findings: Sequence[Finding], key: Sequence[Finding]) -> str:
    counts = {s: sum(f.status is s for f in findings) for s in Status}
    parts = [f"{counts[s]} {s.label.lower()}" for s in _STATUS_ORDER if counts[s]]
    repeated = len(findings) - len(distinct(findings))
    rep = (f" {repeated} of them repeat another finding's fact under a second name and are "
           "counted once below." if repeated else "")
    head = (f"The checks produced {len(findings)} findings ({', '.join(parts) or 'none'}).{rep}")
    if not key:
        return head + " None failed, warned, lacked evidence or errored."
    return head + (f" The {len(key)} that matter most are listed below, failing and "
                   "high-severity findings first.")


def _summary_tables(
    cfg: AuditConfig, facts: AuditFacts, key: Sequence[Finding], actions: Sequence[Action]
) -> list[Table]:
    a = cfg.audit
    audited = Table("What was audited", ["Item", "Detail"], [
        ["System", f"{a.system or 'not stated'}{' ' + a.version if a.version else ''}"],
        ["Model", f"{facts.model_file} ({facts.model_type})" if facts.model_file
         else "predictions supplied with the data"],
        ["Evaluation data", f"{facts.dataset}: {facts.rows:,} rows, {facts.columns} columns"],
        ["Domain", a.domain.replace("_", " ")],
        ["Jurisdictions", ", ".join(a.jurisdictions)],
        ["Controller", a.controller or OPEN],
        ["Data protection officer", a.dpo or OPEN],
    ])
    matters = Table(
        "Findings that matter", ["#", "Status", "Finding", "What was found", "Why it matters"],
        [[i, f.status.label, f"{f.title} ({f.severity.value})", first_sentence(f.summary),
          why_it_matters(f)] for i, f in enumerate(key, 1)],
        note="One row per distinct fact; every finding is in its section below.",
    )
    acts = Table(
        "Recommended actions", ["#", "Action", "Answers", "Owner", "Due"],
        [[i, act.text, act.finding.title, act.owner, act.due] for i, act in enumerate(actions, 1)],
        note=None if actions else "No finding that needs attention carries a remediation.",
    )
    scheme = Table(
        "How the overall risk rating is set", ["Rating", "When"],
        [["High", "A finding fails at high or critical severity, or three or more fail."],
         ["Medium", "Any other finding fails, a check errored, or a high- or critical-severity "
          "finding warns or lacks evidence."],
         ["Low", "Otherwise."]],
        note=RISK_SCHEME, placement="appendix",
    )
    return [audited, matters, acts, scheme]


def executive_summary(
    cfg: AuditConfig, facts: AuditFacts, findings: Sequence[Finding]
) -> tuple[Section, str]:
    """The executive summary section and the overall risk rating."""
    key = key_findings(findings)
    rating, reason = risk_rating(findings)
    actions = recommended_actions(findings, cfg.audit.action_owner, cfg.audit.action_due)
    owner = cfg.audit.action_owner or TO_ASSIGN
    due = cfg.audit.action_due or TO_ASSIGN
    paragraphs = [
        _audited_text(cfg, facts),
        _findings_text(findings, key),
        f"Overall risk rating: {rating}. {reason} (The scheme is in the appendix.)",
        f"{_count(actions, 'recommended action')}, each from a finding's remediation; owner: "
        f"{owner}; due: {due}.",
    ]
    section = Section(
        id="executive_summary", title="Executive summary", summary="\n\n".join(paragraphs),
        tables=_summary_tables(cfg, facts, key, actions), kind="narrative",
    )
    return section, rating
