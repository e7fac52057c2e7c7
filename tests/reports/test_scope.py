"""Legal scope: every (domain, jurisdiction) cites what it must and nothing outside its scope.

The scope rule is restated here independently of the catalogue's code (``_expected_scope``): a
provision applies when its jurisdiction is configured, is the country of a configured
sub-jurisdiction, or is ``INTL``; and its domains are ``*`` or include the audit's domain.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from auditkit.reports import Finding, Severity, Status
from auditkit.reports.catalogue import (
    DOMAINS,
    JURISDICTIONS,
    TOPICS,
    Provision,
    Scope,
    get_catalogue,
    load_catalogue,
)
from auditkit.reports.errors import ReportInputError

CAT = get_catalogue()
PAIRS = list(itertools.product(DOMAINS, JURISDICTIONS))
# Multi-jurisdiction configurations as users write them (the default is EU + US).
COMBOS = [
    ("general", ("EU", "US")),
    ("credit", ("EU", "US", "US-CA")),
    ("employment", ("EU", "UK", "US-NYC")),
    ("housing", ("US-CO", "UK")),
    ("criminal_justice", ("EU", "US", "US-CA")),
]
SCOPES = [(d, (j,)) for d, j in PAIRS] + COMBOS


def _expected_scope(p: Provision, domain: str, jurisdictions: tuple[str, ...]) -> bool:
    covered = set(jurisdictions) | {j.split("-")[0] for j in jurisdictions} | {"INTL"}
    return p.jurisdiction in covered and (p.domains == ("*",) or domain in p.domains)


def _ids(scope: tuple[str, tuple[str, ...]], *topics: str) -> tuple[str, ...]:
    domain, jurisdictions = scope
    return CAT.cite(topics, domain=domain, jurisdictions=jurisdictions)


# -- nothing outside the scope, everything inside it --------------------------------------------


@pytest.mark.parametrize(("domain", "jurisdictions"), SCOPES)
def test_cite_returns_exactly_the_in_scope_provisions_on_each_topic(
    domain: str, jurisdictions: tuple[str, ...]
) -> None:
    for topic in TOPICS:
        got = CAT.cite([topic], domain=domain, jurisdictions=jurisdictions)
        want = tuple(
            p.id for p in CAT if topic in p.topics and _expected_scope(p, domain, jurisdictions)
        )
        assert got == want, (topic, domain, jurisdictions)
        assert len(set(got)) == len(got)


@pytest.mark.parametrize(("domain", "jurisdictions"), SCOPES)
def test_cite_of_several_topics_is_the_union_in_catalogue_order(
    domain: str, jurisdictions: tuple[str, ...]
) -> None:
    topics = ("outcome-disparity", "adverse-action", "high-risk-system")
    got = CAT.cite(topics, domain=domain, jurisdictions=jurisdictions)
    union = set().union(*(CAT.cite([t], domain=domain, jurisdictions=jurisdictions) for t in topics))
    assert set(got) == union
    assert list(got) == sorted(got, key=CAT.sort_key)


@pytest.mark.parametrize(("domain", "jurisdictions"), SCOPES)
def test_safety_net_drops_every_out_of_scope_id_from_every_finding(
    domain: str, jurisdictions: tuple[str, ...]
) -> None:
    from auditkit._scope import scope_result
    from auditkit.checks._registry import CheckResult

    everything = (*CAT.ids(), "not-in-the-catalogue")
    finding = Finding(check_id="zz.scope", title="t", status=Status.PASS, severity=Severity.INFO,
                      summary="s", regulations=everything)
    ctx = SimpleNamespace(
        config=SimpleNamespace(audit=SimpleNamespace(domain=domain, jurisdictions=list(jurisdictions)))
    )
    out = scope_result(ctx, CheckResult(findings=[finding, finding]))
    want = (*(p.id for p in CAT if _expected_scope(p, domain, jurisdictions)), "not-in-the-catalogue")
    assert [f.regulations for f in out.findings] == [want, want]
    assert finding.regulations == everything  # the check's own finding is not mutated


def test_safety_net_returns_the_result_unchanged_when_nothing_is_out_of_scope() -> None:
    from auditkit._scope import scope_result
    from auditkit.checks._registry import CheckResult

    ctx = SimpleNamespace(config=SimpleNamespace(audit=SimpleNamespace(domain="credit",
                                                                       jurisdictions=["EU"])))
    finding = Finding(check_id="zz.scope", title="t", status=Status.PASS, severity=Severity.INFO,
                      summary="s", regulations=("gdpr-art-22-3",))
    result = CheckResult(findings=[finding])
    assert scope_result(ctx, result) is result


# -- what each scope must cite ------------------------------------------------------------------

MUST = [
    ("credit", ("US",), ("adverse-action", "outcome-disparity"),
     {"reg-b-1002-4-a", "reg-b-1002-9-a", "reg-b-1002-9-b-2", "fcra-15-usc-1681m-a",
      "ecoa-15-usc-1691-a", "reg-b-1002-6-a"}),
    ("credit", ("US",), ("adverse-action",), {"reg-b-1002-9-a", "reg-b-1002-9-b-2",
                                               "fcra-15-usc-1681m-a"}),
    ("housing", ("US",), ("outcome-disparity",), {"hud-24-cfr-100-500", "fha-42-usc-3604",
                                                  "fha-42-usc-3605"}),
    ("employment", ("US",), ("outcome-disparity",), {"us-ugesp-1607-4-d", "title-vii-42-usc-2000e-2-a",
                                                    "title-vii-42-usc-2000e-2-k-1-a"}),
    # Title VI reaches every federally funded program in these domains (its statute, not the
    # rescinded DOJ effects rule 28 CFR 42.104(b)(2)).
    *[(d, ("US",), ("outcome-disparity",), {"title-vi-42-usc-2000d"})
      for d in ("criminal_justice", "education", "healthcare", "housing")],
    ("criminal_justice", ("US",), ("error-disparity",), {"title-vi-42-usc-2000d"}),
    ("healthcare", ("US",), ("outcome-disparity",), {"aca-1557-42-usc-18116-a", "hhs-45-cfr-92-210"}),
    ("healthcare", ("US-CA",), ("error-disparity", "proxy"), {"aca-1557-42-usc-18116-a",
                                                             "hhs-45-cfr-92-210"}),
    ("insurance", ("US",), ("outcome-disparity",), {"aca-1557-42-usc-18116-a"}),
    ("insurance", ("US-CO",), ("outcome-disparity", "proxy"), {"colorado-ins-10-3-1104-9-1",
                                                              "aca-1557-42-usc-18116-a"}),
    ("employment", ("US-NYC",), ("outcome-disparity",), {"us-ugesp-1607-4-d", "nyc-rcny-5-300",
                                                         "nyc-rcny-5-301-b"}),
    ("employment", ("US-NYC",), ("group-coverage",), {"nyc-rcny-5-301-d"}),
    ("employment", ("EU",), ("high-risk-system",), {"euaiact-art-6-2",
                                                    "euaiact-annex-iii-point-4"}),
    ("credit", ("EU",), ("high-risk-system",), {"euaiact-art-6-2", "euaiact-annex-iii-point-5-b"}),
    ("insurance", ("EU",), ("high-risk-system",), {"euaiact-annex-iii-point-5-c"}),
    ("education", ("EU",), ("high-risk-system",), {"euaiact-annex-iii-point-3"}),
    ("healthcare", ("EU",), ("high-risk-system",), {"euaiact-annex-iii-point-5-a"}),
    ("criminal_justice", ("EU",), ("high-risk-system",), {"euaiact-annex-iii-point-6-d",
                                                          "euaiact-annex-iii-point-8-a"}),
    ("credit", ("US-CO",), ("outcome-disparity", "high-risk-system"),
     {"colorado-ai-act-6-1-1702-1", "colorado-ai-act-6-1-1703-1", "reg-b-1002-4-a"}),
    ("credit", ("EU",), ("adverse-action",), {"gdpr-art-22-3", "gdpr-art-15-1-h"}),
    ("general", ("EU",), ("special-category",), {"gdpr-art-9-1"}),
    ("general", ("US-CA",), ("special-category", "personal-data"), {"ccpa-1798-140-ae",
                                                                    "ccpa-1798-140-v"}),
    *[(d, ("UK",), ("outcome-disparity",), {"uk-equality-act-s-19", "uk-equality-act-s-4"})
      for d in DOMAINS],
    *[(d, ("EU",), ("outcome-disparity",), {"gdpr-art-5-1-a", "euaiact-art-10-2-f"})
      for d in DOMAINS],
    *[(d, ("UK",), ("automated-decision",), {"uk-gdpr-art-22a", "uk-gdpr-art-22b", "uk-gdpr-art-22c"})
      for d in DOMAINS],
    *[(d, ("UK",), ("special-category",), {"uk-gdpr-art-9-1", "uk-dpa-2018-sch-1-para-8"})
      for d in DOMAINS],
    *[(d, ("UK",), ("adverse-action",), {"uk-gdpr-art-22c"}) for d in DOMAINS],
    *[(d, (j,), ("outcome-disparity",), {"nist-ai-rmf-measure-2-11"}) for d, j in PAIRS],
]


@pytest.mark.parametrize(("domain", "jurisdictions", "topics", "must"), MUST)
def test_each_scope_cites_the_provisions_it_must(
    domain: str, jurisdictions: tuple[str, ...], topics: tuple[str, ...], must: set[str]
) -> None:
    got = set(CAT.cite(topics, domain=domain, jurisdictions=jurisdictions))
    assert must <= got, f"{domain} + {jurisdictions} misses {sorted(must - got)}"


EMPLOYMENT_ONLY = {"us-ugesp-1607-4-d", "nyc-rcny-5-300", "nyc-rcny-5-301-b", "nyc-rcny-5-301-d",
                   "nyc-admin-code-20-870", "nyc-admin-code-20-871", "euaiact-annex-iii-point-4",
                   "title-vii-42-usc-2000e-2-a", "title-vii-42-usc-2000e-2-k-1-a"}
HEALTH_ONLY = {"hhs-45-cfr-92-210"}
INSURANCE_ONLY = {"colorado-ins-10-3-1104-9-1"}
# Title VI binds federally funded programs; it never reaches insurance contracts, credit or hiring.
TITLE_VI_DOMAINS = {"criminal_justice", "education", "healthcare", "housing"}
CREDIT_ONLY = {"ecoa-15-usc-1691-a", "reg-b-1002-4-a", "reg-b-1002-6-a", "reg-b-1002-9-a",
               "reg-b-1002-9-b-2", "euaiact-annex-iii-point-5-b"}


@pytest.mark.parametrize(("domain", "jurisdictions"), SCOPES)
def test_domain_specific_law_stays_in_its_domain(domain: str, jurisdictions: tuple[str, ...]) -> None:
    got = set(CAT.cite(TOPICS, domain=domain, jurisdictions=jurisdictions))
    if domain != "employment":
        assert not got & EMPLOYMENT_ONLY, sorted(got & EMPLOYMENT_ONLY)
    if domain != "credit":
        assert not got & CREDIT_ONLY, sorted(got & CREDIT_ONLY)
    if domain not in ("housing", "credit"):
        assert not got & {"fha-42-usc-3605", "hud-24-cfr-100-500"}
    if domain != "healthcare":
        assert not got & HEALTH_ONLY, sorted(got & HEALTH_ONLY)
    if domain != "insurance":
        assert not got & INSURANCE_ONLY, sorted(got & INSURANCE_ONLY)
    if domain not in ("healthcare", "insurance"):
        assert "aca-1557-42-usc-18116-a" not in got
    if domain not in TITLE_VI_DOMAINS:
        assert "title-vi-42-usc-2000d" not in got
    if domain == "general":
        assert not any(p.startswith("euaiact-annex-iii") or p == "euaiact-art-6-2" for p in got)


@pytest.mark.parametrize(("domain", "jurisdictions"), SCOPES)
def test_one_jurisdictions_law_is_not_cited_in_another(
    domain: str, jurisdictions: tuple[str, ...]
) -> None:
    got = set(CAT.cite(TOPICS, domain=domain, jurisdictions=jurisdictions))
    prefixes = {"EU": ("gdpr-", "euaiact-"), "UK": ("uk-",), "US-CA": ("ccpa-",),
                "US-CO": ("colorado-",), "US-NYC": ("nyc-",),
                "US": ("ecoa-", "reg-b-", "fcra-", "fha-", "hud-", "us-ugesp-", "title-vi-",
                       "title-vii-", "aca-", "hhs-")}
    covered = set(jurisdictions) | {j.split("-")[0] for j in jurisdictions}
    for jurisdiction, starts in prefixes.items():
        if jurisdiction not in covered:
            assert not [i for i in got if i.startswith(starts)], (jurisdiction, jurisdictions)


def test_criminal_justice_in_the_us_cites_no_employment_rule_and_no_regulation_b() -> None:
    got = CAT.cite(TOPICS, domain="criminal_justice", jurisdictions=["US", "US-NYC"])
    assert not [i for i in got if i.startswith(("us-ugesp", "nyc-", "reg-b", "ecoa", "title-vii"))]
    assert "nist-ai-rmf-measure-2-11" in got


@pytest.mark.parametrize(("domain", "jurisdiction"), PAIRS)
def test_no_us_fairness_finding_rests_on_nist_alone(domain: str, jurisdiction: str) -> None:
    """Every US domain a model may decide about cites at least one binding provision on outcome
    disparities; only ``general`` (no domain law) is left to the voluntary NIST AI RMF."""
    if not jurisdiction.startswith("US") or domain == "general":
        return
    got = CAT.cite(["outcome-disparity"], domain=domain, jurisdictions=[jurisdiction])
    binding = [i for i in got if CAT[i].jurisdiction != "INTL"]
    assert binding, (domain, jurisdiction)


def test_uk_automated_decisions_cite_the_recast_articles_not_the_old_article_22() -> None:
    got = set(CAT.cite(TOPICS, domain="credit", jurisdictions=["UK"]))
    assert {"uk-gdpr-art-22a", "uk-gdpr-art-22b", "uk-gdpr-art-22c"} <= got
    assert not [i for i in got if i.startswith("uk-gdpr-art-22-")]
    assert not [i for i in got if i.startswith("gdpr-")]  # the EU GDPR is not UK law


def test_sub_jurisdiction_implies_its_country() -> None:
    only_ca = set(CAT.cite(["outcome-disparity"], domain="credit", jurisdictions=["US-CA"]))
    assert "reg-b-1002-4-a" in only_ca
    assert not set(CAT.cite(TOPICS, domain="credit", jurisdictions=["US"])) & {
        p.id for p in CAT if p.jurisdiction == "US-CA"
    }


# -- the catalogue's annotations and the loader ---------------------------------------------------


def test_every_provision_is_annotated_and_every_topic_is_used() -> None:
    used: set[str] = set()
    for p in CAT:
        assert p.jurisdiction in (*JURISDICTIONS, "INTL"), p.id
        assert p.domains and (p.domains == ("*",) or set(p.domains) <= set(DOMAINS)), p.id
        assert p.topics and set(p.topics) <= set(TOPICS), p.id
        used.update(p.topics)
    assert used == set(TOPICS), sorted(set(TOPICS) - used)


def test_scope_lists_match_the_config_lists() -> None:
    from auditkit import config

    assert tuple(config.DOMAINS) == DOMAINS
    assert tuple(config.JURISDICTIONS) == JURISDICTIONS


_ENTRY = ('[[provision]]\nid = "a-1"\nlaw = "x"\ncitation = "c"\ntitle = "t"\n'
          'url = "https://eur-lex.europa.eu/"\nstatus = "verified"\n')


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ('jurisdiction = "FR"\ndomains = ["*"]\ntopics = ["security"]\n', "jurisdiction 'FR'"),
        ('jurisdiction = "EU"\ndomains = ["banking"]\ntopics = ["security"]\n', "domain 'banking'"),
        ('jurisdiction = "EU"\ndomains = ["*"]\ntopics = ["securty"]\n', "Did you mean 'security'"),
        ('jurisdiction = "EU"\ndomains = ["*", "credit"]\ntopics = ["security"]\n', "either"),
        ('jurisdiction = "EU"\ndomains = []\ntopics = ["security"]\n', "non-empty list"),
        ('jurisdiction = "EU"\ndomains = ["*"]\n', "'topics'"),
        ('domains = ["*"]\ntopics = ["security"]\n', "'jurisdiction'"),
        ('jurisdiction = "EU"\ndomains = "credit"\ntopics = ["security"]\n', "non-empty list"),
        ('jurisdiction = "EU"\ndomains = ["*"]\ntopics = ["security", "security"]\n', "repeats"),
    ],
)
def test_loader_refuses_bad_scope_fields(tmp_path: Path, fields: str, match: str) -> None:
    p = tmp_path / "cat.toml"
    p.write_text('[laws.x]\nname = "X"\nurl = "https://eur-lex.europa.eu/x"\nnature = "law"\n'
                 + _ENTRY + fields)
    with pytest.raises(ReportInputError, match=match):
        load_catalogue(p)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"topics": ["outcome-disparty"], "domain": "credit", "jurisdictions": ["US"]},
         "Did you mean 'outcome-disparity'"),
        ({"topics": ["security"], "domain": "lending", "jurisdictions": ["US"]}, "domain 'lending'"),
        ({"topics": ["security"], "domain": "credit", "jurisdictions": ["USA"]}, "jurisdiction 'USA'"),
        ({"topics": ["security"], "domain": "credit", "jurisdictions": []}, "non-empty"),
        ({"topics": ["security"], "domain": "credit", "jurisdictions": "US"}, "non-empty list"),
    ],
)
def test_cite_refuses_unknown_names(kwargs: dict, match: str) -> None:
    topics = kwargs.pop("topics")
    with pytest.raises(ReportInputError, match=match):
        CAT.cite(topics, **kwargs)


def test_scope_value_object() -> None:
    s = Scope("credit", ("US-CO",))
    assert s.covered == frozenset({"US-CO", "US", "INTL"})
    assert s.covers(CAT["colorado-ai-act-6-1-1703-1"]) and not s.covers(CAT["gdpr-art-9-1"])
    assert Scope("credit", ("US-CO",)) == s


# -- the checks this module owns keep their old citations where they applied ----------------------

OLD = {  # the ids each finding kind cited before topics, all in scope for a general EU+US-CA audit
    "transparency.LOCAL": (("adverse-action",), {"gdpr-art-15-1-h", "gdpr-art-22-3",
                                                 "gdpr-recital-71"}),
    "transparency.TRUST": (("explanation-quality",), {"nist-ai-rmf-measure-2-9", "gdpr-recital-71"}),
    "transparency.BIAS": (("proxy",), {"gdpr-recital-71", "gdpr-art-22-4",
                                       "nist-ai-rmf-measure-2-11"}),
    "transparency.EXPLAIN": (("transparency",), {"gdpr-art-13-2-f", "gdpr-art-14-2-g",
                                                 "euaiact-art-13-1", "gdpr-art-15-1-h"}),
    "private_training.BUDGET": (("privacy-training",), {"gdpr-art-25-1", "gdpr-art-32-1-a",
                                                        "nist-ai-rmf-measure-2-10"}),
    "private_training.ATTACK": (("privacy-attack",), {"nist-ai-rmf-measure-2-10",
                                                      "euaiact-art-15-5"}),
    "private_training.DEID": (("de-identification",), {"gdpr-recital-26", "gdpr-art-25-1"}),
}


@pytest.mark.parametrize("kind", sorted(OLD))
def test_topic_citations_keep_the_old_provisions(kind: str) -> None:
    import auditkit.checks._transparency_findings as tf
    import auditkit.checks.private_training as pt
    import auditkit.checks.transparency as tr

    module, name = kind.split(".")
    mod = {"transparency": (tr, tf), "private_training": (pt,)}[module]
    topics = next(getattr(m, f"{name}_TOPICS") for m in mod if hasattr(m, f"{name}_TOPICS"))
    want_topics, old = OLD[kind]
    assert topics == want_topics
    assert old <= set(CAT.cite(topics, domain="general", jurisdictions=["EU", "US-CA"]))


# -- end to end through the runner ---------------------------------------------------------------


@pytest.fixture(scope="module")
def credit_us_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import tomli_w

    from auditkit.demo import (
        FEATURES,
        LABEL,
        PERSONAL,
        PROTECTED,
        build_model,
        generate_applications,
    )
    from auditkit.runner import run_audit

    d = tmp_path_factory.mktemp("scope_e2e")
    df = generate_applications(600, seed=5)
    model = build_model(0).fit(df[FEATURES], df[LABEL])
    df["predicted"] = model.predict(df[FEATURES])
    df.to_csv(d / "data.csv", index=False)
    cfg = {
        "audit": {"title": "Scope test", "system": "loans", "random_state": 1,
                  "domain": "credit", "jurisdictions": ["US"]},
        "data": {"path": "data.csv", "label": LABEL, "prediction": "predicted",
                 "protected": list(PROTECTED), "personal": list(PERSONAL),
                 "id_column": "applicant_id", "favourable_label": 1},
        "report": {"out": "out", "formats": ["json"]},
    }
    (d / "audit.toml").write_text(tomli_w.dumps(cfg))
    run = run_audit(d / "audit.toml", only=["dataset", "data_protection", "fairness"],
                    formats=["json"])
    return json.loads(run.paths["json"].read_text())


def test_a_us_credit_audit_cites_no_provision_outside_its_scope(credit_us_report: dict) -> None:
    cited = {r for s in credit_us_report["sections"] for f in s["findings"] for r in f["regulations"]}
    assert cited, "the audit cites nothing"
    outside = sorted(i for i in cited if i in CAT and not _expected_scope(CAT[i], "credit", ("US",)))
    assert not outside
    assert not [i for i in cited if i.startswith(("us-ugesp", "nyc-", "gdpr-", "ccpa-", "euaiact-"))]


def test_a_us_credit_audit_cites_regulation_b_in_its_fairness_findings(credit_us_report: dict) -> None:
    fairness = [f for s in credit_us_report["sections"] for f in s["findings"]
                if f["check_id"].startswith("fairness.")]
    cited = {r for f in fairness for r in f["regulations"]}
    assert fairness
    assert "reg-b-1002-4-a" in cited
    assert "us-ugesp-1607-4-d" not in cited
