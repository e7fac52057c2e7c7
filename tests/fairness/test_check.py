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
    for cid in ("fairness.demographic_parity_ratio", "fairness.impact_ratio"):
        f = by_id[cid]
        assert f["status"] == "fail", f["summary"]
        assert f["metrics"]["value"] < 0.8 and f["metrics"]["ci_high"] < 0.8
        assert {"us-ugesp-1607-4-d", "nyc-rcny-5-301-b", "gdpr-art-22-3"} <= set(f["regulations"])
    assert "fairness.group_coverage" in by_id


@pytest.mark.slow
def test_section_has_group_tables_with_intervals_and_a_chart(section) -> None:
    titles = [t["title"] for t in section["tables"]]
    assert "Metrics by sex" in titles and any(" × " in t for t in titles)
    sex = next(t for t in section["tables"] if t["title"] == "Metrics by sex")
    assert sex["columns"][:3] == ["group", "rows", "selection_rate"]
    assert all("[" in row[2] for row in sex["rows"])  # value [low, high]
    svg = section["figures"][0]["svg"]
    assert svg.lstrip().startswith("<svg") and "</svg>" in svg


@pytest.mark.slow
def test_small_cells_are_suppressed(section) -> None:
    rows = [r for t in section["tables"] for r in t["rows"]]
    hidden = [r for r in rows if isinstance(r[1], str) and r[1].startswith("<")]
    for r in hidden:
        assert all(v is None for v in r[2:])


def test_check_is_registered_with_its_requirements() -> None:
    from auditkit.checks._registry import get_check

    spec = get_check("fairness")
    assert spec.section == "fairness" and spec.demo is not None
    assert set(spec.requires) == {"label", "prediction", "protected"}
    # the catalogue test (tests/reports/test_catalogue.py) checks these ids exist
    assert {"gdpr-art-5-1-a", "euaiact-art-10-2-f", "nist-ai-rmf-measure-2-11"} <= set(spec.regulations)
