"""Fixtures for the report tests: a report built by hand that exercises every part of the model."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from auditkit.reports import Artifact, Figure, Finding, Report, Section, Severity, Status, Table

HOSTILE = (
    "<script>alert(1)</script>",
    "{{ x }}",
    "{% raw %}",
    "| --- |",
    "a|b",
    "`code` ```fence```",
    "line one\nline two\r\nline three",
    "<img src=x onerror=alert(2)>",
    "\"quoted\" & 'single' &amp;",
    "[link](javascript:alert(3))",
    "**bold** _it_ # heading",
    "@everyone ~~strike~~ $x$",
    "right\u202eto-left",
    "nul\x00byte",
    "x" * 5000,
)


def matplotlib_svg(title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.bar(["group <a>", "group {{b}}", "| c |"], [0.62, 0.48, 0.55], color="#4c72b0")
    ax.axhline(0.5, color="#cf222e", linestyle="--")
    ax.set_title(title)
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()


HOSTILE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'width="100" height="50" onload="alert(4)"><script>alert(5)</script>'
    "<style>@import url(https://evil.example/x.css);</style>"
    '<image href="https://evil.example/p.png" width="10" height="10"/>'
    '<a href="javascript:alert(6)"><text x="1" y="20">click</text></a>'
    '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">html</div></foreignObject>'
    '<rect width="10" height="10" style="fill:url(https://evil.example/f)"/>'
    '<rect id="ok" width="20" height="20" fill="#4c72b0"/></svg>'
)


def build_report(*, hostile: bool = True, artifacts_dir: Path | None = None) -> Report:
    """A report with every status, tables, figures, regulations and (optionally) hostile text."""
    h = HOSTILE if hostile else tuple(f"plain {i}" for i in range(len(HOSTILE)))
    bad = " ".join(h[:12]) if hostile else "plain"
    long = h[-1]
    groups = Table(
        "Selection rate by group " + (h[0] if hostile else ""),
        [
            "group " + h[1] if hostile else "group",
            "n",
            "selection rate",
            "note " + h[3] if hostile else "note",
        ],
        [
            [g, 1000 + i, 0.5 - i / 10, note]
            for i, (g, note) in enumerate(zip(h[:6], h[6:12] or h, strict=False))
        ]
        + [[long, 3, None, True]],
        note="Groups under 30 rows are reported as insufficient evidence. "
        + (h[2] if hostile else ""),
    )
    findings_fair = [
        Finding(
            "fairness.demographic_parity_ratio",
            "Selection-rate ratio below four-fifths",
            Status.FAIL,
            Severity.HIGH,
            summary="The lowest group's selection rate is 0.71 of the highest. " + bad,
            metrics={
                "ratio": 0.7143,
                "threshold": 0.8,
                "n": 20000,
                "label " + h[0]: h[1],
                "bidi": h[12 % len(h)],
                "nul": h[13 % len(h)],
            },
            tables=(groups,),
            figures=(
                Figure("Selection rate by group", matplotlib_svg("rates"), alt="Bar chart " + h[0]),
            ),
            regulations=(
                "us-ugesp-1607-4-d",
                "euaiact-art-10-2-f",
                "gdpr-recital-71",
                "nist-ai-rmf-measure-2-11",
            ),
            remediation="Review the features that act as proxies; consider mitigation. " + h[6],
        ),
        Finding(
            "fairness.equalized_odds",
            "True-positive rates differ slightly",
            Status.WARN,
            Severity.MEDIUM,
            summary="Gap of 0.06 in true-positive rate.",
            metrics={"tpr_gap": 0.06},
            regulations=("euaiact-art-10-2-g",),
        ),
        Finding(
            "fairness.small_groups",
            "Too few rows for some intersections",
            Status.INSUFFICIENT_EVIDENCE,
            Severity.LOW,
            summary="3 intersectional groups have fewer than 30 rows.",
            regulations=(
                "euaiact-art-10-2-h",
                "nyc-rcny-5-301-b",
                "not-a-real-id" + ("<b>" if hostile else ""),
            ),
        ),
    ]
    findings_dp = [
        Finding(
            "data_protection.pii_scan",
            "Direct identifiers found in 4 columns",
            Status.PASS,
            Severity.INFO,
            summary="email, phone, ssn and card number are masked in outputs.",
            metrics={"columns_scanned": 14, "personal_columns": 4},
            tables=(Table("Columns", ["column", "entity"], [["email", "EMAIL"], [h[4], h[5]]]),),
            regulations=("gdpr-art-4-1", "gdpr-art-5-1-c", "ccpa-1798-140-v"),
        ),
        Finding(
            "data_protection.k_anonymity",
            "k-anonymity check crashed",
            Status.ERROR,
            Severity.MEDIUM,
            summary="ValueError: boom " + bad,
            regulations=("gdpr-recital-26",),
        ),
    ]
    findings_tr = [
        Finding(
            "transparency.shap",
            "No model to explain",
            Status.NOT_APPLICABLE,
            Severity.INFO,
            summary="The audit has predictions only.",
            regulations=("gdpr-art-13-2-f", "gdpr-art-15-1-h"),
        )
    ]
    sections = (
        Section(
            "data_protection",
            "Data protection " + (h[0] if hostile else ""),
            "PII discovery and masking.",
            findings_dp,
        ),
        Section("security", "Security", "", (), tables=(Table("Empty", ["a"], []),)),
        Section(
            "fairness",
            "Fairness",
            "Group metrics on the planted disparity.",
            findings_fair,
            figures=(Figure("Hostile figure", HOSTILE_SVG, alt=h[0]),),
        ),
        Section("transparency", "Transparency", "", findings_tr),
    )
    artifacts = (
        Artifact("loans.csv", "data", "a" * 64, 1234567, note=h[0] if hostile else None),
        Artifact("model.skops", "model", "b" * 64, 4321),
        Artifact("audit.toml", "config", "c" * 64, 321),
        Artifact("ledger.json", "ledger", "d" * 64, 99, note="DP budget ledger"),
    )
    return Report(
        metadata={
            "title": "Loan model audit " + (h[1] if hostile else ""),
            "system": "loan-scoring " + (h[0] if hostile else ""),
            "version": "2.3.1",
            "owner": "Risk team",
            "generated_at": "2026-11-23T08:00:00Z",
            "tool_version": "auditkit 0.1.0",
            "purpose": "Credit decisions on loan applications " + (h[3] if hostile else ""),
            "extra " + (h[0] if hostile else ""): h[1],
        },
        sections=sections,
        artifacts=artifacts,
        environment={
            "python": "3.11.2",
            "platform": "Linux " + (h[0] if hostile else ""),
            "packages": {"numpy": "2.0", h[0]: h[1]},
        },
        config={
            "data": {"path": "loans.csv", "label": h[0]},
            "checks": {"fairness": {"threshold": 0.8}},
            "odd": h[5],
        },
        limitations=("Synthetic data. " + (h[6] if hostile else ""),),
    )


@pytest.fixture
def hostile_report() -> Report:
    return build_report(hostile=True)


@pytest.fixture
def plain_report() -> Report:
    return build_report(hostile=False)
