"""The regulation catalogue: well-formed, complete, and covering every id the checks cite."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from auditkit.reports.catalogue import (
    ALLOWED_HOSTS,
    STATUSES,
    get_catalogue,
    load_catalogue,
    provision_id,
)
from auditkit.reports.errors import ReportInputError

REQUIRED = """gdpr-art-4-5 gdpr-art-5-1-a gdpr-art-5-1-c gdpr-art-5-1-f gdpr-art-5-2 gdpr-art-9-1
gdpr-art-13-2-f gdpr-art-14-2-g gdpr-art-15-1-h gdpr-art-22-1 gdpr-art-22-3 gdpr-art-22-4
gdpr-art-25-1 gdpr-art-25-2 gdpr-art-30-1 gdpr-art-32-1-a gdpr-art-32-1-d gdpr-art-34-3-a
gdpr-art-35-1 gdpr-art-35-7 gdpr-recital-26 gdpr-recital-71 gdpr-recital-78 gdpr-recital-83
ccpa-1798-100-e ccpa-1798-81-5-b ccpa-1798-140-m ccpa-1798-140-v ccpa-1798-140-aa
ccpa-1798-140-ae ccpa-1798-121-a ccpa-1798-150-a-1 euaiact-art-10-2-f euaiact-art-10-2-g
euaiact-art-10-2-h euaiact-art-10-3 euaiact-art-10-5 euaiact-art-12-1 euaiact-art-13-1
euaiact-art-15-1 euaiact-art-15-4 nist-ai-rmf-map-1-1 nist-ai-rmf-measure-2-1
nist-ai-rmf-measure-2-7 nist-ai-rmf-measure-2-9 nist-ai-rmf-measure-2-10
nist-ai-rmf-measure-2-11 us-ugesp-1607-4-d nyc-rcny-5-300 nyc-rcny-5-301-b
euaiact-art-6-2 euaiact-annex-iii-point-3 euaiact-annex-iii-point-4 euaiact-annex-iii-point-5-a
euaiact-annex-iii-point-5-b euaiact-annex-iii-point-5-c euaiact-annex-iii-point-6-d
euaiact-annex-iii-point-8-a ecoa-15-usc-1691-a reg-b-1002-4-a reg-b-1002-6-a reg-b-1002-9-a
reg-b-1002-9-b-2 fcra-15-usc-1681m-a fha-42-usc-3604 fha-42-usc-3605 hud-24-cfr-100-500
colorado-ai-act-6-1-1702-1 colorado-ai-act-6-1-1703-1 uk-equality-act-s-4
uk-equality-act-s-19 title-vi-42-usc-2000d title-vii-42-usc-2000e-2-a
title-vii-42-usc-2000e-2-k-1-a aca-1557-42-usc-18116-a hhs-45-cfr-92-210
colorado-ins-10-3-1104-9-1 uk-gdpr-art-9-1 uk-gdpr-art-22a uk-gdpr-art-22b uk-gdpr-art-22c
uk-dpa-2018-sch-1-para-8""".split()

# Marked UNVERIFIED or PARTIAL in ../shared/reference/regulations.md: must not be cited.
NOT_VERIFIED = [
    "ccpa-regs-7221",
    "ccpa-regs-7120",
    "ccpa-1798-185-a-15",
    "ccpa-1798-185-a-16",
    "ccpa-1798-185-a-14",
    "gdpr-art-14-2-f",
    # Not read in the official text, and announced for rescission under Executive Order 14281.
    "ed-34-cfr-100-3-b-2",
    "hhs-45-cfr-80-3-b-2",
]

# No longer law: must never be cited as if it were.
REPEALED = [
    "doj-28-cfr-42-104-b-2",  # rescinded by DOJ final rule, 90 FR 57141, effective 10 Dec 2025
    "uk-gdpr-art-22-1",  # UK GDPR Art. 22 replaced by Arts. 22A-22D from 5 Feb 2026
    "uk-gdpr-art-22-3",
    "uk-dpa-2018-s-14",  # safeguards for the old Art. 22(2)(b), superseded by Art. 22C
]


def test_required_provisions_present_and_unverified_ones_absent() -> None:
    cat = get_catalogue()
    assert cat.unknown(REQUIRED) == []
    for pid in (*NOT_VERIFIED, *REPEALED):
        assert pid not in cat
    cited = {p.citation for p in cat}
    assert not {"28 CFR §42.104(b)(2)", "UK GDPR Art. 22(1)", "UK GDPR Art. 22(3)"} & cited


def test_every_entry_is_well_formed() -> None:
    cat = get_catalogue()
    assert len(cat) >= len(REQUIRED)
    for p in cat:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", p.id)
        assert p.status in STATUSES
        assert p.url.startswith("https://")
        assert p.law in cat.laws
        assert p.title and p.citation and len(p.title) <= 120, p.id
        # The id follows the citation (scheme of docs/CONTRIBUTING.md): the pinpoint digits and
        # letters of the citation appear, in order, at the end of the id.
        pin = provision_id(
            re.sub(
                r"^(GDPR|AI Act|NIST AI RMF|Cal\. Civ\. Code|Cal\. Code Regs\. tit\. 11,"
                r"|\d+ CFR|\d+ U\.S\.C\.|C\.R\.S\.|Equality Act 2010|Data Protection Act 2018|6 RCNY"
                r"|NYC Admin\. Code)\s*",
                "",
                p.citation,
            )
        )
        assert p.id.endswith(pin), (p.id, p.citation)
    assert {law.key for law in cat.laws.values()} >= {
        "gdpr",
        "ccpa",
        "euaiact",
        "nist-ai-rmf",
        "us-ugesp",
        "ecoa",
        "reg-b",
        "fcra",
        "fha",
        "hud-fha",
        "colorado-ai-act",
        "uk-equality-act",
        "title-vi",
        "title-vii",
        "aca-1557",
        "hhs-1557",
        "colorado-ecdis",
        "uk-gdpr",
        "uk-dpa-2018",
    }


def test_every_check_cites_only_catalogue_ids() -> None:
    from auditkit.checks._registry import iter_checks

    cat = get_catalogue()
    checks = iter_checks()
    assert checks, "no checks registered"
    missing = {c.id: cat.unknown(c.regulations) for c in checks if cat.unknown(c.regulations)}
    assert not missing, f"checks cite ids absent from reports/data/regulations.toml: {missing}"


@pytest.mark.slow
def test_every_id_cited_in_the_demo_report_is_in_the_catalogue(demo_run: Path) -> None:
    doc = json.loads((demo_run / "report" / "report.json").read_text())
    cited = {r for s in doc["sections"] for f in s["findings"] for r in f["regulations"]}
    assert cited, "the demo report cites no provision"
    assert get_catalogue().unknown(sorted(cited)) == []
    html = (demo_run / "report" / "report.html").read_text()
    assert "not in the regulation catalogue" not in html


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "cat.toml"
    p.write_text(
        '[laws.x]\nname = "X"\nurl = "https://eur-lex.europa.eu/x"\nnature = "law"\n' + body
    )
    return p


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            '[[provision]]\nid = "Bad Id"\nlaw = "x"\ncitation = "c"\ntitle = "t"\nurl = "https://eur-lex.europa.eu/"\nstatus = "verified"\n',
            "lower-case",
        ),
        (
            '[[provision]]\nid = "a-1"\nlaw = "x"\ncitation = "c"\ntitle = "t"\nurl = "https://example.com/"\nstatus = "verified"\n',
            "official portal",
        ),
        (
            '[[provision]]\nid = "a-1"\nlaw = "x"\ncitation = "c"\ntitle = "t"\nurl = "https://eur-lex.europa.eu/"\nstatus = "unverified"\n',
            "status",
        ),
        (
            '[[provision]]\nid = "a-1"\nlaw = "y"\ncitation = "c"\ntitle = "t"\nurl = "https://eur-lex.europa.eu/"\nstatus = "verified"\n',
            "names law",
        ),
        (
            '[[provision]]\nid = "a-1"\nlaw = "x"\ncitation = "c"\nurl = "https://eur-lex.europa.eu/"\nstatus = "verified"\n',
            "title",
        ),
        (
            '[[provision]]\nid = "a-1"\nlaw = "x"\ncitation = "c"\ntitle = "t"\nurl = "https://eur-lex.europa.eu/"\nstatus = "verified"\n'
            'jurisdiction = "EU"\ndomains = ["*"]\ntopics = ["security"]\n' * 2,
            "twice",
        ),
    ],
)
def test_malformed_catalogues_are_refused(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(ReportInputError, match=match):
        load_catalogue(_write(tmp_path, body))


def test_allowed_hosts_are_official_portals() -> None:
    assert all(
        h.endswith(
            (".europa.eu", ".ca.gov", ".gov", ".gov.uk", "law.cornell.edu", "amlegal.com",
             "cityofnewyork.us")
        )
        for h in ALLOWED_HOSTS
    )
