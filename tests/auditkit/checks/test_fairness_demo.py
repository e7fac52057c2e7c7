"""The runner's fairness section, through the demo (its planted disparity must fail)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def section(demo_run: Path) -> dict:
    report = json.loads(next(demo_run.rglob("report.json")).read_text())
    return next(s for s in report["sections"] if s["id"] == "fairness")


@pytest.mark.slow
def test_demo_disparity_fails_demographic_parity_and_impact_ratio(section) -> None:
    by_id = {f["check_id"]: f for f in section["findings"]}
    # favourable = positive: the two thresholds are one quantity, decided by one finding
    f = by_id["fairness.demographic_parity_ratio"]
    assert "fairness.impact_ratio" not in by_id
    assert f["metrics"]["also_decides"] == "impact_ratio >= 0.8"
    assert f["status"] == "fail", f["summary"]
    assert f["metrics"]["value"] < 0.8 and f["metrics"]["ci_high"] < 0.8
    assert "gdpr-art-22-3" in f["regulations"]
    assert "Disadvantaged group:" in f["summary"] and "favourable outcome" in f["summary"]
    assert "fairness.group_coverage" in by_id


@pytest.mark.slow
def test_section_has_group_tables_with_intervals_and_a_chart(section) -> None:
    titles = [t["title"] for t in section["tables"]]
    assert "Metrics by sex" in titles and any(t.startswith("Intersections") for t in titles)
    sex = next(t for t in section["tables"] if t["title"] == "Metrics by sex")
    assert sex["columns"][:3] == ["group", "rows", "favourable rate"]
    assert all("[" in row[2] and "n=" in row[2] for row in sex["rows"])  # value [low, high] n=
    svg = section["figures"][0]["svg"]
    assert svg.lstrip().startswith("<svg") and "</svg>" in svg


@pytest.mark.slow
def test_small_cells_are_suppressed(section) -> None:
    for t in section["tables"]:
        at = t["columns"].index("rows")
        hidden = [r for r in t["rows"] if isinstance(r[at], str) and r[at].startswith("<")]
        for r in hidden:
            assert all(v is None for v in r[at + 1:])


def test_check_is_registered_with_its_requirements() -> None:
    from auditkit.checks._registry import get_check

    spec = get_check("fairness")
    assert spec.section == "fairness"
    assert set(spec.requires) == {"label", "prediction", "protected"}
    # the catalogue test (tests/reports/test_catalogue.py) checks these ids exist
    assert {"gdpr-art-5-1-a", "euaiact-art-10-2-f", "nist-ai-rmf-measure-2-11"} <= set(spec.regulations)
    assert spec.options().min_denominator == 30 and spec.options().reference_group == {}
