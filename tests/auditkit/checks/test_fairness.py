"""The runner's fairness check on small known-answer data: the favourable outcome and the
direction of harm, one finding per distinct fact, and no verdict below the evidence bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from auditkit.checks._registry import get_check

ASSUMED = "Assumed: [data] favourable_label is not set"


def _ctx(tmp_path: Path, df: pd.DataFrame, *, favourable=None, audit: dict | None = None):
    from auditkit._context import AuditContext
    from auditkit.config import parse_config

    data = {"path": "x.csv", "label": "y", "prediction": "p", "protected": ["grp"],
            "positive_label": 1}
    if favourable is not None:
        data["favourable_label"] = favourable
    cfg = parse_config({"audit": audit or {"title": "t"}, "data": data})
    return AuditContext(config=cfg, base_dir=tmp_path, out_dir=tmp_path, data=df, label="y",
                        prediction="p", protected=["grp"])


def _run(ctx, **options):
    spec = get_check("fairness")
    return spec.run(ctx, spec.options(**{"n_boot": 200, "intersectional": False, **options}))


def _known(n: int = 80) -> pd.DataFrame:
    """Group A gets the positive prediction 3 times in 4, group B once in 4."""
    y = np.tile([1, 0], 2 * n)
    p = np.concatenate([np.tile([1, 1, 1, 0], n // 2), np.tile([1, 0, 0, 0], n // 2)])
    return pd.DataFrame({"grp": ["A"] * (2 * n) + ["B"] * (2 * n), "y": y, "p": p})


@pytest.mark.parametrize(("favourable", "disadvantaged", "harm"), [
    (1, "B", "receives the favourable outcome least often"),
    (0, "A", "receives the favourable outcome least often"),
])
def test_favourable_label_flips_the_disadvantaged_group(tmp_path, favourable, disadvantaged,
                                                        harm) -> None:
    res = _run(_ctx(tmp_path, _known(), favourable=favourable),
               thresholds=["impact_ratio >= 0.8"])
    f = {x.check_id: x for x in res.findings}["fairness.impact_ratio"]
    assert f.metrics["value"] == pytest.approx(1 / 3)  # 0.25 / 0.75 either way
    assert f.metrics["disadvantaged_group"] == disadvantaged
    assert f.metrics["favourable_label"] == str(favourable)
    assert f"Disadvantaged group: {disadvantaged}, which {harm}" in f.summary
    if favourable == 0:
        assert "the adverse outcome is a positive prediction (label 1)" in f.summary.lower()
    assert ASSUMED not in f.summary and f.status.value == "fail"


def test_unset_favourable_label_is_stated_as_assumed(tmp_path) -> None:
    res = _run(_ctx(tmp_path, _known()), thresholds=["impact_ratio >= 0.8"])
    assert ASSUMED in res.summary
    assert all(ASSUMED in f.summary for f in res.findings if f.check_id != "fairness.group_coverage")


def test_coinciding_thresholds_give_one_finding(tmp_path) -> None:
    th = ["demographic_parity_ratio >= 0.8", "impact_ratio >= 0.8"]
    res = _run(_ctx(tmp_path, _known(), favourable=1), thresholds=th)
    ids = [f.check_id for f in res.findings]
    assert ids == ["fairness.demographic_parity_ratio", "fairness.group_coverage"]
    f = res.findings[0]
    assert "impact ratio" in f.title and "demographic parity ratio" in f.title.lower()
    assert f.metrics["also_decides"] == "impact_ratio >= 0.8"
    # with the negative prediction favourable they are different quantities: two findings
    res = _run(_ctx(tmp_path, _known(), favourable=0), thresholds=th)
    assert [f.check_id for f in res.findings][:2] == ["fairness.demographic_parity_ratio",
                                                      "fairness.impact_ratio"]


def test_excluded_groups_are_listed_with_their_denominators(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 600
    grp = rng.choice(["A", "B", "C"], n, p=[0.45, 0.45, 0.10])
    y = np.where(grp == "C", (rng.random(n) < 0.15).astype(int), rng.integers(0, 2, n))
    df = pd.DataFrame({"grp": grp, "y": y, "p": rng.integers(0, 2, n)})
    res = _run(_ctx(tmp_path, df, favourable=1), thresholds=["equalized_odds_difference <= 0.1"])
    cov = {f.check_id: f for f in res.findings}["fairness.group_coverage"]
    assert cov.status.value == "warn" and cov.tables
    rows = cov.tables[0].rows
    c_rows = [r for r in rows if r[2] == "C"]
    assert c_rows and all(r[3] == "true_positive_rate" and r[4] < 30 and r[5] == 30 for r in c_rows)
    assert "actual positives" in c_rows[0][6]
    table = next(t for t in res.tables if t.title == "Metrics by grp")
    c = next(r for r in table.rows if r[0] == "C")
    assert "(below bar)" in c[6] and "n+=" in c[6]  # false negative rate on actual positives


@given(seed=hs.integers(0, 5000), bar=hs.integers(5, 40))
@settings(max_examples=25, deadline=None)
def test_no_verdict_rests_on_a_denominator_below_the_bar(seed: int, bar: int) -> None:
    from auditkit.fairness import audit

    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 300))
    grp = rng.choice(list("ABCD"), n, p=[0.4, 0.3, 0.2, 0.1])
    df = pd.DataFrame({"grp": grp, "y": (rng.random(n) < rng.uniform(0.1, 0.6)).astype(int),
                       "p": (rng.random(n) < 0.5).astype(int)})
    th = ["demographic_parity_ratio >= 0.8", "equalized_odds_difference <= 0.1",
          "equal_opportunity_difference <= 0.1"]
    ref = audit(df["y"], df["p"], df[["grp"]], n_boot=0, min_denominator=bar, min_group_size=5,
                intersectional=False)
    res = _run(_ctx(Path("."), df, favourable=1), thresholds=th, min_denominator=bar,
               min_group_size=5, n_boot=50)
    for f in res.findings:
        if f.check_id == "fairness.group_coverage":
            continue
        name = f.check_id.removeprefix("fairness.")
        metric = str(ref.disparities.loc[("grp", name), "metric"])
        for row in f.tables[0].rows:
            if row[1] == "insufficient evidence":
                continue
            named = [g for g in (row[5], row[6]) if g not in (None, "—")]
            assert len(named) == 2, row
            # the part of the metric that sets the value (equalized odds: TPR or FPR)
            parts = [m for m in metric.split("+")
                     if _sets_value(ref, m, named, float(row[2]), f.check_id)]
            assert parts, (name, row)
            assert any(all(ref.denominators.loc[("grp", g), m] >= bar for g in named)
                       for m in parts), (name, named, parts)


def test_an_undecidable_disparity_does_not_crash_the_check(tmp_path) -> None:
    rng = np.random.default_rng(0)  # hypothesis's counterexample (seed 0, bar 31)
    n = int(rng.integers(60, 300))
    grp = rng.choice(list("ABCD"), n, p=[0.4, 0.3, 0.2, 0.1])
    df = pd.DataFrame({"grp": grp, "y": (rng.random(n) < rng.uniform(0.1, 0.6)).astype(int),
                       "p": (rng.random(n) < 0.5).astype(int)})
    res = _run(_ctx(tmp_path, df, favourable=1),
               thresholds=["equal_opportunity_difference <= 0.1"], min_denominator=31,
               min_group_size=5)
    f = {x.check_id: x for x in res.findings}["fairness.equal_opportunity_difference"]
    assert f.status.value == "insufficient_evidence"


def _sets_value(ref, m: str, named: list[str], value: float, cid: str) -> bool:
    a, b = (float(ref.by_group.loc[("grp", g), m]) for g in named)
    if cid.endswith("ratio"):
        return bool(np.isclose(min(a, b) / max(a, b), value)) if max(a, b) > 0 else False
    return bool(np.isclose(abs(a - b), value))


@pytest.mark.parametrize(("domain", "jurisdictions"), [("credit", ["US"]), ("employment", ["US"]),
                                                        ("general", ["EU"])])
def test_citations_follow_the_scope_and_the_topic(tmp_path, domain, jurisdictions) -> None:
    from auditkit.reports.catalogue import get_catalogue

    cat = get_catalogue()
    ctx = _ctx(tmp_path, _known(), favourable=1,
               audit={"title": "t", "domain": domain, "jurisdictions": jurisdictions})
    res = _run(ctx, thresholds=["impact_ratio >= 0.8", "equalized_odds_difference <= 0.1"])
    by_id = {f.check_id: f for f in res.findings}
    scope = {"domain": domain, "jurisdictions": jurisdictions}
    assert by_id["fairness.impact_ratio"].regulations == cat.cite(["outcome-disparity"], **scope)
    assert by_id["fairness.equalized_odds_difference"].regulations == cat.cite(
        ["error-disparity"], **scope)
    assert by_id["fairness.group_coverage"].regulations == cat.cite(["group-coverage"], **scope)
    spec = get_check("fairness")
    for f in res.findings:
        assert set(f.regulations) <= set(spec.regulations)
    cites = set(by_id["fairness.impact_ratio"].regulations)
    if domain == "credit":
        assert any(r.startswith("reg-b") for r in cites)
    if domain != "employment":
        assert "us-ugesp-1607-4-d" not in cites


def test_declared_regulations_cover_every_scope() -> None:
    from auditkit.reports.catalogue import get_catalogue

    cat = get_catalogue()
    wanted = cat.on_topics(["outcome-disparity", "error-disparity", "group-coverage"])
    assert set(wanted) <= set(get_check("fairness").regulations)


def test_reference_group_and_ratios(tmp_path) -> None:
    res = _run(_ctx(tmp_path, _known(), favourable=1), thresholds=["impact_ratio >= 0.8"],
               reference_group={"grp": "B"})
    table = next(t for t in res.tables if t.title == "Metrics by grp")
    rows = {r[0]: r for r in table.rows}
    assert "B (reference)" in rows and rows["B (reference)"][3] == "1.000"
    assert rows["A"][3] == "3.000"  # 0.75 / 0.25
