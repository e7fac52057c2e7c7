"""The report's narrative: executive summary, risk rating, actions, DPIA and model card."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit._narrative import (
    MAX_KEY_FINDINGS,
    OPEN,
    TO_ASSIGN,
    AuditFacts,
    key_findings,
    recommended_actions,
    risk_rating,
)
from auditkit._narrative_report import build_narrative
from auditkit._redact import PersonalValueIndex
from auditkit.config import AuditConfig
from auditkit.reports import Finding, Report, Section, Severity, Status, Table, render

FACTS = AuditFacts(
    dataset="applications.csv", rows=20_000, columns=25, generated_at="2026-12-01T08:00:00+00:00",
    model_file="model.skops", model_type="Pipeline", data_sha256="ab" * 32, label="approved",
    favourable_label=1, protected=("sex", "race"), groups={"sex": 2, "race": 5},
    personal_columns=("name", "sex", "race"), special_category_columns=("race",),
    quasi_identifiers=("sex",),
)


def _cfg(**tables: dict[str, Any]) -> AuditConfig:
    return AuditConfig.model_validate({"data": {"path": "applications.csv"}, **tables})


def _f(check_id: str, status: Status, severity: Severity = Severity.MEDIUM, **kw: Any) -> Finding:
    return Finding(check_id, kw.pop("title", check_id), status, severity,
                   summary=kw.pop("summary", f"{check_id} found something. More detail."),
                   remediation=kw.pop("remediation", f"Fix {check_id}."), **kw)


def _sections(findings: list[Finding]) -> list[Section]:
    by: dict[str, list[Finding]] = {}
    for f in findings:
        by.setdefault(f.check_id.split(".")[0], []).append(f)
    return [Section(k, k.title(), findings=v) for k, v in by.items()]


MIXED = [
    _f("dataset.profile", Status.PASS, Severity.INFO),
    _f("security.model_at_rest", Status.WARN, Severity.LOW),
    _f("transparency.proxies", Status.WARN, Severity.HIGH),
    _f("fairness.group_coverage", Status.INSUFFICIENT_EVIDENCE, Severity.MEDIUM),
    _f("fairness.demographic_parity_ratio", Status.FAIL, Severity.HIGH),
    _f("data_protection.k_anonymity", Status.WARN, Severity.MEDIUM),
    _f("performance.calibration", Status.FAIL, Severity.MEDIUM),
    _f("security.key_ring", Status.ERROR, Severity.HIGH),
]
_STATUS = [Status.FAIL, Status.ERROR, Status.WARN, Status.INSUFFICIENT_EVIDENCE]
_SEV = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]


@pytest.mark.parametrize("seed", range(6))
def test_key_findings_list_failing_first_then_by_severity(seed: int) -> None:
    findings = MIXED[:]
    random.Random(seed).shuffle(findings)
    key = key_findings(findings)
    assert len(key) == MAX_KEY_FINDINGS
    ranks = [(_STATUS.index(f.status), _SEV.index(f.severity)) for f in key]
    assert ranks == sorted(ranks)
    assert [f.check_id for f in key[:2]] == ["fairness.demographic_parity_ratio",
                                             "performance.calibration"]
    assert all(f.status is not Status.PASS for f in key)
    # brute force: no finding left out outranks one that is listed
    left_out = [f for f in findings if f not in key and f.status in _STATUS]
    worst_kept = max(ranks)
    assert all((_STATUS.index(f.status), _SEV.index(f.severity)) >= worst_kept for f in left_out)


def test_key_findings_show_each_fact_once() -> None:
    fact = {"value": 0.168, "ci_low": 0.09, "ci_high": 0.2}
    twins = [_f("fairness.demographic_parity_ratio", Status.FAIL, Severity.HIGH, metrics=fact),
             _f("fairness.impact_ratio", Status.FAIL, Severity.HIGH,
                metrics={**fact, "ci_low": 0.1})]
    key = key_findings(twins)
    assert [f.check_id for f in key] == ["fairness.demographic_parity_ratio"]
    assert len(recommended_actions(twins)) == 1


@pytest.mark.parametrize(("cases", "expected"), [
    ([(Status.PASS, Severity.CRITICAL)], "Low"),
    ([(Status.WARN, Severity.MEDIUM), (Status.INSUFFICIENT_EVIDENCE, Severity.LOW)], "Low"),
    ([(Status.WARN, Severity.HIGH)], "Medium"),
    ([(Status.INSUFFICIENT_EVIDENCE, Severity.CRITICAL)], "Medium"),
    ([(Status.ERROR, Severity.LOW)], "Medium"),
    ([(Status.FAIL, Severity.LOW)], "Medium"),
    ([(Status.FAIL, Severity.LOW), (Status.FAIL, Severity.MEDIUM)], "Medium"),
    ([(Status.FAIL, Severity.LOW)] * 3, "High"),
    ([(Status.FAIL, Severity.HIGH)], "High"),
    ([(Status.FAIL, Severity.CRITICAL), (Status.PASS, Severity.INFO)], "High"),
    ([], "Low"),
])
def test_risk_rating_follows_the_documented_scheme(cases, expected) -> None:
    findings = [_f(f"x.c{i}", st_, sev, metrics={"value": i + 0.5}) for i, (st_, sev)
                in enumerate(cases)]
    rating, reason = risk_rating(findings)
    assert rating == expected and reason


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(Status)), st.sampled_from(list(Severity))),
                max_size=8))
def test_risk_rating_matches_brute_force(cases) -> None:
    findings = [_f(f"x.c{i}", s, v, metrics={"value": i + 0.5}) for i, (s, v) in enumerate(cases)]
    fails = [v for s, v in cases if s is Status.FAIL]
    serious = {Severity.HIGH, Severity.CRITICAL}
    if any(v in serious for v in fails) or len(fails) >= 3:
        expected = "High"
    elif fails or any(s is Status.ERROR for s, _ in cases) or any(
            v in serious and s in (Status.WARN, Status.INSUFFICIENT_EVIDENCE) for s, v in cases):
        expected = "Medium"
    else:
        expected = "Low"
    assert risk_rating(findings)[0] == expected


def _summary_table(narrative, title: str) -> Table:
    summary = narrative.sections[0]
    return next(t for t in summary.tables if t.title == title)


@pytest.mark.parametrize(("owner", "due"), list(itertools.product(["", "Head of Credit Risk"],
                                                                  ["", "2027-03-31"])))
def test_actions_carry_the_configured_owner_and_due_date_or_to_assign(owner, due) -> None:
    cfg = _cfg(audit={"action_owner": owner, "action_due": due})
    narrative = build_narrative(cfg, FACTS, _sections(MIXED))
    actions = _summary_table(narrative, "Recommended actions")
    needing = [f for f in MIXED if f.status in _STATUS]
    assert len(actions.rows) == len(needing)
    for row in actions.rows:
        assert row[3] == (owner or TO_ASSIGN) and row[4] == (due or TO_ASSIGN)
    # failing findings' actions come first
    assert actions.rows[0][1] == "Fix fairness.demographic_parity_ratio."
    paragraphs = narrative.sections[0].summary
    assert f"owner: {owner or TO_ASSIGN}; due: {due or TO_ASSIGN}" in paragraphs


def test_executive_summary_says_what_was_audited_and_the_rating() -> None:
    cfg = _cfg(audit={"system": "Loan scoring", "version": "2.1", "domain": "credit",
                      "jurisdictions": ["EU", "US"]})
    narrative = build_narrative(cfg, FACTS, _sections(MIXED))
    text = narrative.sections[0].summary
    for fact in ("Loan scoring version 2.1", "model.skops", "applications.csv", "20,000 rows",
                 "25 columns", "credit domain", "EU, US", "approved = 1",
                 "Overall risk rating: High"):
        assert fact in text, fact
    assert narrative.metadata == {"risk_rating": "High"}
    matters = _summary_table(narrative, "Findings that matter")
    assert [r[1] for r in matters.rows][:2] == ["Fail", "Fail"]
    scheme = next(t for t in narrative.sections[0].tables if t.placement == "appendix")
    assert scheme.note and "High" in scheme.note and scheme.note.count(".") == 1


DPIA_KEYS = {
    "processing_description": "Scoring of loan applications",
    "purposes": "Pre-approve consumer loans",
    "legitimate_interest": "Responsible lending",
    "necessity_and_proportionality": "Only the listed features are used",
    "consultation": "Customer panel, 2026",
}


def _dpia(narrative) -> Section:
    return next(s for s in narrative.sections if s.id == "dpia")


@pytest.mark.parametrize("filled", [False, True])
def test_dpia_has_art_35_7_a_to_d_and_marks_open_items(filled: bool) -> None:
    tables: dict[str, Any] = {"dpia": {**DPIA_KEYS, "measures": ["Quarterly review"]}} if filled \
        else {}
    if filled:
        tables["audit"] = {"controller": "Example Bank plc", "dpo": "dpo@bank.example"}
    dpia = _dpia(build_narrative(_cfg(**tables), FACTS, _sections(MIXED)))
    assert [t.title[:3] for t in dpia.tables] == ["(a)", "(b)", "(c)", "(d)"]
    assert dpia.kind == "narrative"
    cells = [str(c) for t in dpia.tables for r in t.rows for c in r]
    for key, value in DPIA_KEYS.items():
        assert (value in cells) is filled, key
    assert ("Example Bank plc" in cells) is filled and ("Quarterly review" in cells) is filled
    n_open = sum(c == OPEN for c in cells)
    # always open: the lawful basis, likelihood and severity, the DPO's advice
    assert n_open == (3 if filled else 3 + 2 + len(DPIA_KEYS) + 1)
    assert f"{n_open} item" in dpia.summary
    risks = next(t for t in dpia.tables if t.title.startswith("(c)"))
    assert any(r[0].startswith("Discrimination") and r[2] == "Fail" for r in risks.rows)
    measures = next(t for t in dpia.tables if t.title.startswith("(d)"))
    assert any("Fix fairness.demographic_parity_ratio." in r for r in measures.rows)


@pytest.mark.parametrize("filled", [False, True])
def test_model_card_fields(filled: bool) -> None:
    card_cfg = {"intended_use": "Pre-approval of consumer loans", "intended_users": "Loan officers",
                "out_of_scope_use": "Employment screening", "training_data": "2019-2024 book",
                "ethical_considerations": "Reviewed by ethics board", "caveats": "Not for SMEs"}
    fair = _f("fairness.demographic_parity_ratio", Status.FAIL, Severity.HIGH,
              title="Demographic parity ratio", metrics={"value": 0.168, "grouping": "race"})
    coverage = _f("fairness.group_coverage", Status.WARN, title="Groups large enough",
                  summary="2 of 12 groups are below the evidence bar. They are left out.")
    narrative = build_narrative(_cfg(model_card=card_cfg if filled else {}), FACTS,
                                _sections([fair, coverage]))
    card = next(s for s in narrative.sections if s.id == "model_card")
    rows = {r[0]: r[1] for r in card.tables[0].rows}
    for field in ("Model details", "Intended use", "Intended users", "Out-of-scope use", "Factors",
                  "Metrics", "Evaluation data", "Training data", "Ethical considerations",
                  "Caveats and recommendations"):
        assert field in rows, field
    assert (rows["Intended use"] == OPEN) is not filled
    assert (rows["Out-of-scope use"] == "Employment screening") is filled
    assert "sex (2 groups)" in rows["Factors"] and "race (5 groups)" in rows["Factors"]
    assert "Demographic parity ratio: 0.168 by race (fail)" in rows["Metrics"]
    assert "applications.csv, 20,000 rows, evaluated 2026-12-01" in rows["Evaluation data"]
    assert "below the evidence bar" in rows["Caveats and recommendations"]
    assert ("Not for SMEs" in rows["Caveats and recommendations"]) is filled


def test_narrative_goes_through_the_personal_data_guard() -> None:
    """A personal value that reaches the narrative (here through [dpia]) is caught by the
    guard over the report model, in the narrative section, before anything is rendered."""
    data = pd.DataFrame({"name": ["Carrie Mathison", "Saul Berenson"],
                         "surname": ["Mathison", "Berenson"]})
    guard = PersonalValueIndex.from_frame(data, ["name", "surname"])
    cfg = _cfg(dpia={"purposes": "Scoring Carrie Mathison's loan"})
    narrative = build_narrative(cfg, FACTS, _sections(MIXED))
    report = Report(metadata={}, sections=[*narrative.sections, *_sections(MIXED)])
    leaks = guard.leaks_in_report(report)
    assert leaks and {leak.column for leak in leaks} == {"name"}
    assert any("'dpia'" in leak.place for leak in leaks)
    clean = build_narrative(_cfg(), FACTS, _sections(MIXED))
    assert guard.leaks_in_report(Report(metadata={}, sections=list(clean.sections))) == []


def test_narrative_renders_in_every_format() -> None:
    narrative = build_narrative(_cfg(), FACTS, _sections(MIXED))
    report = Report(metadata={"title": "T", **narrative.metadata},
                    sections=[narrative.sections[0], *_sections(MIXED), *narrative.sections[1:]])
    html = render(report, "html").decode()
    md = render(report, "md").decode()
    for text in ("Findings that matter", "Recommended actions",
                 "(a) Systematic description", "(d) Measures envisaged", "Model card",
                 "Overall risk rating"):
        assert text in html and text in md, text
    assert "How the overall risk rating is set" in html[html.index('id="appendix-h"'):]
    assert Report.from_dict(report.to_dict()).to_dict() == report.to_dict()
