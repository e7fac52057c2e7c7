"""The performance-by-group check: known answers for its statistics, the evidence bar as a
property, ordinal scores never read as probabilities, and the check end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from auditkit.checks import _performance_eval as ev
from auditkit.checks import _performance_stats as st
from auditkit.checks._registry import get_check

# -- statistics: known answers and brute force ------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_auc_matches_sklearn_and_delong_matches_brute_force(seed: int) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 60))
    y = rng.random(n) < 0.4
    y[:2] = [True, False]
    s = np.round(rng.random(n) + 0.3 * y, 1)  # rounded: ties between and within classes
    est = st.auc_delong(y, s)
    assert est.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    # DeLong's structural components by brute force over every (positive, negative) pair
    xp, xn = s[y], s[~y]
    psi = (xp[:, None] > xn[None, :]) + 0.5 * (xp[:, None] == xn[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = (v10.var(ddof=1) / len(xp) if len(xp) > 1 else 0) + (v01.var(ddof=1) / len(xn) if len(xn) > 1 else 0)
    assert est.se == pytest.approx(math.sqrt(var), abs=1e-12)
    if 0 < est.value < 1:
        assert est.ci_low < est.value < est.ci_high


def test_auc_of_one_class_is_undefined() -> None:
    est = st.auc_delong(np.ones(5, bool), np.arange(5.0))
    assert math.isnan(est.value) and est.n_neg == 0


@pytest.mark.parametrize("seed", range(5))
def test_ece_matches_its_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = rng.random(300)
    y = (rng.random(300) < s ** 1.5).astype(float)
    expected = 0.0
    for b in range(10):
        m = (s >= b / 10) & ((s < (b + 1) / 10) if b < 9 else (s <= 1))
        if m.any():
            expected += m.mean() * abs(y[m].mean() - s[m].mean())
    assert st.ece(y, s) == pytest.approx(expected, abs=1e-12)


def test_wilson_and_newcombe_known_answers() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II: 56/70 - 48/80 -> 0.0524, 0.3339
    d, lo, hi = st.newcombe(56, 70, 48, 80)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (0.2, 0.0524, 0.3339)
    # Wilson at 0/10 and 10/10 does not collapse; 81/263 (Wilson 1927 style check)
    assert st.wilson(0, 10)[2] == pytest.approx(0.2775, abs=1e-4)
    assert st.wilson(10, 10)[1] == pytest.approx(0.7225, abs=1e-4)
    p, lo, hi = st.wilson(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


@given(hs.lists(hs.floats(0.5, 0.99), min_size=2, max_size=6),
       hs.lists(hs.floats(0.001, 0.1), min_size=6, max_size=6))
@settings(max_examples=60, deadline=None)
def test_range_interval_contains_the_range_and_widens_with_more_groups(vals, ses) -> None:
    v, s = np.array(vals), np.array(ses[: len(vals)])
    value, lo, hi = st.range_interval(v, s)
    assert value == pytest.approx(v.max() - v.min())
    assert 0 <= lo <= value + 1e-12 and hi >= value
    if len(v) == 2:  # two groups: the plain normal interval of their difference
        half = st.z_value(0.95) * math.sqrt((s ** 2).sum())
        assert hi == pytest.approx(value + half) and lo == pytest.approx(max(0.0, value - half))


def test_equal_groups_are_not_reported_as_a_shown_gap() -> None:
    """Ten groups with the same true AUC: the spread of their estimates is large, but the
    simultaneous interval of the gap reaches 0, so the verdict is never fail."""
    rng = np.random.default_rng(0)
    fails = 0
    for _ in range(20):
        perf = []
        for g in range(10):
            y = rng.random(120) < 0.5
            s = rng.normal(y * 1.0, 1.0)
            perf.append(ev.GroupPerf("g", str(g), 120, st.auc_delong(y, s), auc_evidenced=True))
        (gap,) = ev.auc_gaps(perf, budget=0.05, ci=0.95, reason=lambda p, k: "")
        fails += gap.status == "fail"
    assert fails == 0


@pytest.mark.parametrize(
    ("score", "kind"),
    [
        (np.linspace(0.01, 0.99, 50), "probability"),
        (np.tile(np.arange(1, 11), 5).astype(float), "ordinal"),  # a 1-10 decile score
        (np.tile([0.0, 1.0], 25), "ordinal"),  # hard 0/1 scores are not probabilities
        (np.linspace(-3, 3, 50), "ordinal"),  # a logit or any score outside [0, 1]
        (np.linspace(0, 250, 50), "ordinal"),
    ],
)
def test_score_kind(score: np.ndarray, kind: str) -> None:
    assert ev.score_kind(score, "auto", "s") == kind


def test_a_score_outside_0_1_is_never_taken_as_a_probability() -> None:
    with pytest.raises(ValueError, match=r"score_kind = 'probability'.*outside \[0, 1\]"):
        ev.score_kind(np.arange(1.0, 11.0), "probability", "decile_score")


def test_score_levels() -> None:
    codes, labels = st.score_levels(np.tile(np.arange(1, 11), 3).astype(float))
    assert labels == [str(i) for i in range(1, 11)] and codes.max() == 9
    rng = np.random.default_rng(1)
    codes, labels = st.score_levels(rng.normal(0, 5, 1000))
    assert len(labels) == 10 and np.bincount(codes).min() >= 90  # deciles of the pooled score


# -- the evidence bar, as a property ----------------------------------------------------------


@given(seed=hs.integers(0, 10_000), bar=hs.integers(1, 15))
@settings(max_examples=40, deadline=None)
def test_no_verdict_rests_on_a_group_below_the_bar(seed: int, bar: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 120))
    frame = pd.DataFrame({"a": rng.choice(list("pqrs"), n, p=[0.5, 0.3, 0.15, 0.05]),
                          "b": rng.choice(list("xy"), n)})
    y = (rng.random(n) < 0.4).astype(int)
    s = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    data = ev.prepare(y, s, frame, pos_label=1, requested_kind="auto", intersectional=True,
                      score_column="s")
    perf = ev.group_performance(data, bar=bar, ci=0.95, n_boot=20, rng=rng)
    by = {(p.grouping, p.group): p for p in perf}
    for gap in ev.auc_gaps(perf, budget=0.05, ci=0.95, reason=lambda p, k: "below"):
        for named in (gap.high_group, gap.low_group):
            if named:
                p = by[(gap.grouping, named)]
                assert p.auc.n_pos >= bar and p.auc.n_neg >= bar
        left = {g for g, _ in gap.excluded}
        below = {p.group for p in perf if p.grouping == gap.grouping
                 and min(p.auc.n_pos, p.auc.n_neg) < bar}
        assert left == below
        assert gap.n_groups + len(left) == len([p for p in perf if p.grouping == gap.grouping])
    for gap in ev.ece_gaps(perf, budget=0.05, ci=0.95, reason=lambda p, k: "below"):
        for named in (gap.high_group, gap.low_group):
            if named:
                assert by[(gap.grouping, named)].rows >= bar


# -- the check through an audit context ------------------------------------------------------


def _ctx(tmp_path: Path, df: pd.DataFrame, *, score: str = "score", protected=("grp",),
         audit: dict | None = None):
    from auditkit._context import AuditContext
    from auditkit.config import parse_config

    cfg = parse_config({"audit": audit or {"title": "t"},
                        "data": {"path": "x.csv", "label": "y", "score": score,
                                 "protected": list(protected), "positive_label": 1}})
    return AuditContext(config=cfg, base_dir=tmp_path, out_dir=tmp_path, data=df, label="y",
                        score=score, protected=list(protected))


def _run(ctx, **options):
    spec = get_check("performance")
    return spec.run(ctx, spec.options(**options))


def _ordinal_data(gap: float, n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """A 1-10 score; at each level group B reoffends ``gap`` more often than group A."""
    rng = np.random.default_rng(seed)
    grp = rng.choice(["A", "B"], n)
    score = rng.integers(1, 11, n)
    p = 0.05 + 0.08 * score + np.where(grp == "B", gap, 0.0)
    return pd.DataFrame({"grp": grp, "score": score, "y": (rng.random(n) < p).astype(int)})


def test_ordinal_score_calibration_names_the_group_and_level(tmp_path: Path) -> None:
    res = _run(_ctx(tmp_path, _ordinal_data(0.2)), intersectional=False, max_outcome_rate_gap=0.05)
    f = {x.check_id: x for x in res.findings}["performance.calibration"]
    assert f.status.value == "fail" and f.metrics["score_kind"] == "ordinal"
    assert "not read as a probability" in f.summary and "B" in f.summary
    rows = f.tables[0].rows
    failing = [r for r in rows if r[2] == "fail"]
    assert failing and all(r[6] == "B" and r[7] == "A" for r in failing)  # highest, lowest
    level = next(t for t in res.tables if t.title.startswith("Observed outcome rate"))
    assert [r[0] for r in level.rows] == [str(i) for i in range(1, 11)]
    assert res.figures and res.figures[0].svg.lstrip().startswith("<svg")


def test_ordinal_score_equal_rates_pass(tmp_path: Path) -> None:
    res = _run(_ctx(tmp_path, _ordinal_data(0.0, n=40_000)), intersectional=False,
               max_outcome_rate_gap=0.1)
    f = {x.check_id: x for x in res.findings}["performance.calibration"]
    assert f.status.value == "pass", f.summary


@pytest.mark.parametrize("worse", ["A", "B"])
def test_auc_gap_names_the_group_the_score_serves_worst(tmp_path: Path, worse: str) -> None:
    rng = np.random.default_rng(3)
    n = 4000
    grp = rng.choice(["A", "B"], n)
    y = (rng.random(n) < 0.5).astype(int)
    noise = np.where(grp == worse, 3.0, 0.5)
    score = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, noise))))
    df = pd.DataFrame({"grp": grp, "y": y, "score": score})
    res = _run(_ctx(tmp_path, df), intersectional=False, n_boot=50)
    f = {x.check_id: x for x in res.findings}["performance.auc_gap"]
    assert f.status.value == "fail"
    row = f.tables[0].rows[0]
    assert row[6] == worse and row[5] == ({"A", "B"} - {worse}).pop()


def test_small_groups_are_left_out_listed_and_suppressed(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    grp = np.where(rng.random(n) < 0.006, "tiny", rng.choice(["A", "B"], n))
    y = (rng.random(n) < 0.5).astype(int)
    score = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1)
    res = _run(_ctx(tmp_path, pd.DataFrame({"grp": grp, "y": y, "score": score})),
               intersectional=False, n_boot=30)
    f = {x.check_id: x for x in res.findings}["performance.auc_gap"]
    excluded = next(t for t in f.tables if t.title.startswith("Groups left out"))
    assert [r[1] for r in excluded.rows] == ["tiny"]
    assert "fewer than 30 rows" in excluded.rows[0][2]
    table = next(t for t in res.tables if t.title == "AUC and calibration by grp")
    tiny = next(r for r in table.rows if r[0] == "tiny")
    assert tiny[1] == "< 30" and all(v is None for v in tiny[2:])


def test_intersections_worst_k_in_body_and_every_group_in_the_appendix(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 6000
    df = pd.DataFrame({"a": rng.choice(list("pqr"), n), "b": rng.choice(list("xyz"), n)})
    df["y"] = (rng.random(n) < 0.5).astype(int)
    df["score"] = np.clip(0.3 + 0.4 * df["y"] + rng.normal(0, 0.3, n), 0, 1)
    res = _run(_ctx(tmp_path, df, protected=("a", "b")), n_boot=20, worst_k=4)
    worst = next(t for t in res.tables if t.title.startswith("Intersections: the"))
    full = next(t for t in res.tables if t.title.startswith("Intersections: AUC"))
    assert worst.placement == "body" and full.placement == "appendix"
    assert len(worst.rows) == 4 and len(full.rows) == 9
    aucs = [float(r[5].split()[0]) for r in worst.rows]
    all_aucs = sorted(float(r[5].split()[0]) for r in full.rows)
    assert aucs == all_aucs[:4]


def test_identifying_group_labels_are_pseudonymised(tmp_path: Path) -> None:
    """A protected column whose values are not category labels (here, 60 distinct names) is
    shown as ``group k``, as the fairness check shows it."""
    rng = np.random.default_rng(2)
    names = [f"Person{i:03d} Surname" for i in range(60)]
    n = 6000
    df = pd.DataFrame({"who": rng.choice(names, n), "y": (rng.random(n) < 0.5).astype(int)})
    df["score"] = np.clip(0.3 + 0.4 * df["y"] + rng.normal(0, 0.3, n), 0, 1)
    res = _run(_ctx(tmp_path, df, protected=("who",)), n_boot=10)
    text = json.dumps([t.to_dict() for t in res.tables]) + json.dumps(
        [f.to_dict() for f in res.findings])
    assert not any(name in text for name in names)


def test_mitigation_needs_a_model(tmp_path: Path) -> None:
    res = _run(_ctx(tmp_path, _ordinal_data(0.0, n=2000)), intersectional=False, mitigation=True)
    assert "not run" in res.summary


def test_options_refuse_unknown_mitigation_names() -> None:
    from pydantic import ValidationError

    opts = get_check("performance").options
    with pytest.raises(ValidationError, match="threshold_optimizer"):
        opts(mitigation_method="thresholds")
    with pytest.raises(ValidationError, match="demographic_parity"):
        opts(mitigation_constraint="parity")


def test_check_is_registered_with_its_requirements() -> None:
    spec = get_check("performance")
    assert spec.section == "performance" and spec.section_title == "Performance by group"
    assert set(spec.requires) == {"label", "score", "protected"}
    from auditkit.reports.catalogue import get_catalogue

    # every provision ctx.cite("error-disparity") can return, in any scope, is declared
    assert set(get_catalogue().on_topics(["error-disparity"])) <= set(spec.regulations)


@pytest.mark.parametrize(("domain", "jurisdictions"), [("credit", ["US"]), ("general", ["EU"]),
                                                        ("employment", ["UK"])])
def test_citations_follow_the_audit_scope(tmp_path: Path, domain, jurisdictions) -> None:
    from auditkit.reports.catalogue import get_catalogue

    ctx = _ctx(tmp_path, _ordinal_data(0.0, n=1500),
               audit={"title": "t", "domain": domain, "jurisdictions": jurisdictions})
    res = _run(ctx, intersectional=False)
    want = get_catalogue().cite(["error-disparity"], domain=domain, jurisdictions=jurisdictions)
    assert want and all(f.regulations == want for f in res.findings)


def test_end_to_end_with_the_model_and_mitigation(audit_dir, base_config, write_config) -> None:
    from auditkit.runner import run_audit

    cfg = base_config(checks={"performance": {"n_boot": 50, "mitigation": True,
                                              "mitigation_attribute": "race"}})
    write_config(audit_dir, cfg)
    run = run_audit(audit_dir / "audit.toml", only=["performance"], formats=["json"])
    section = next(s for s in run.report.sections if s.id == "performance")
    by_id = {f.check_id: f for f in section.findings}
    assert set(by_id) == {"performance.auc_gap", "performance.calibration"}
    spec = get_check("performance")
    for f in by_id.values():
        assert f.status.value != "error", f.summary
        assert set(f.regulations) <= set(spec.regulations)
    trade = next(t for t in section.tables if t.title.startswith("Mitigation trade-off"))
    assert trade.rows[0][0] == "accuracy" and {r[1] for r in trade.rows[1:]} == {"race"}
    assert any(f.title == "Reliability curves by group" for f in section.figures)


def test_intersection_groups_are_tuples_that_no_separator_can_merge() -> None:
    """"x, p" × "q" and "x" × "p, q" joined with ", " would both read "x, p, q"."""
    from auditkit.checks._performance_eval import RowGroups

    a = np.array(["x, p", "x", "x, p", "x"], dtype=object)
    b = np.array(["q", "p, q", "q", "p, q"], dtype=object)
    groups = RowGroups.of(a, b)
    assert groups.labels == (("x", "p, q"), ("x, p", "q"))
    masks = dict(groups.each())
    assert masks[("x, p", "q")].tolist() == [True, False, True, False]
    single = RowGroups.of(a)
    assert single.labels == ("x", "x, p") and dict(single.each())["x"].tolist() == [False, True, False, True]
