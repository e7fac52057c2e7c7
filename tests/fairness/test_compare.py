"""``compare``: paired differences of group metrics, paired-bootstrap intervals, corrected verdicts."""

from __future__ import annotations

import json
import math
from statistics import NormalDist
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.fairness._compare import DEFAULT_METRICS, ComparisonResult, WorseGroup, compare
from auditkit.fairness._compare_inputs import groups, joint_codes
from auditkit.fairness._metrics import BINARY_DEFAULT, group_text
from auditkit.fairness._multiplicity import benjamini_hochberg
from auditkit.fairness.errors import FairnessInputError

ALL_BINARY = [m for m in BINARY_DEFAULT if m != "base_rate"]


def _models(n: int, seed: int, *, swap: float = 0.1) -> pd.DataFrame:
    """Labels, a baseline, and a candidate exchangeable with it (the null: no model is worse).

    The baseline is right with a group-dependent probability; with probability ``swap`` a row's
    candidate prediction is a fresh draw from the same conditional law (else the baseline's), so
    (baseline, candidate) is exchangeable given the label and the group.
    """
    rng = np.random.default_rng(seed)
    a = rng.choice(["a", "b"], n, p=[0.7, 0.3])
    b = rng.choice(["x", "y", "z"], n)
    y = (rng.random(n) < np.where(a == "a", 0.4, 0.3)).astype(int)
    p_right = np.where(a == "a", 0.85, 0.75)

    def draw() -> np.ndarray:
        return np.where(rng.random(n) < p_right, y, 1 - y)

    base = draw()
    fresh = draw()
    cand = np.where(rng.random(n) < swap, fresh, base)
    return pd.DataFrame({"a": a, "b": b, "y": y, "base": base, "cand": cand})


# -- point values against fairlearn -----------------------------------------------------------
@pytest.mark.parametrize("favourable", [None, 0])
def test_point_values_equal_fairlearn_per_group(ref, favourable) -> None:
    df = _models(3000, 0, swap=0.3)
    res = compare(df["y"], df["base"], df["cand"], df[["a", "b"]], metrics=ALL_BINARY, n_boot=100,
                  random_state=0, favourable_label=favourable)
    t = res.table.set_index(["grouping", "group", "metric"])
    for grouping, cols in (("a", ["a"]), ("b", ["b"]), ("a × b", ["a", "b"])):
        for role, column in (("baseline", "base"), ("candidate", "cand")):
            frame = ref.fairlearn_frame(df["y"], df[column], df[cols], ref.BINARY)
            for group, row in frame.iterrows():
                for m in ALL_BINARY:
                    if m == "favourable_rate":
                        expected = row["selection_rate"] if favourable is None else 1 - row["selection_rate"]
                    else:
                        expected = row[m]
                    assert t.loc[(grouping, group, m), role] == pytest.approx(expected, abs=1e-12)
    assert (res.table["difference"] == res.table["candidate"] - res.table["baseline"]).all()
    # the harm directions follow the favourable label
    sel = res.table[res.table["metric"] == "selection_rate"]["direction"].unique().tolist()
    assert sel == (["lower is worse"] if favourable is None else ["higher is worse"])


def test_disparities_equal_fairlearn(ref) -> None:
    from fairlearn.metrics import (
        demographic_parity_difference,
        equal_opportunity_difference,
        equalized_odds_difference,
    )

    df = _models(4000, 1, swap=0.4)
    res = compare(df["y"], df["base"], df["cand"], df[["a", "b"]], n_boot=200, random_state=0)
    d = res.disparities.set_index(["grouping", "disparity"])
    fns = {"demographic_parity_difference": demographic_parity_difference,
           "equalized_odds_difference": equalized_odds_difference,
           "equal_opportunity_difference": equal_opportunity_difference}
    for grouping, cols in (("a", ["a"]), ("b", ["b"]), ("a × b", ["a", "b"])):
        for name, fn in fns.items():
            row = d.loc[(grouping, name)]
            for role, column in (("baseline", "base"), ("candidate", "cand")):
                expected = fn(df["y"], df[column], sensitive_features=df[cols])
                assert row[role] == pytest.approx(expected, abs=1e-12)
            assert row["change"] == pytest.approx(row["candidate"] - row["baseline"])
            assert row["ci_low"] <= row["change"] + 1e-9 or row["ci_high"] >= row["change"] - 1e-9


# -- the paired bootstrap ---------------------------------------------------------------------
def test_joint_table_and_draws_keep_the_pairing() -> None:
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    b = np.array([1, 0, 1, 0, 1, 0, 0, 1])
    c = np.array([1, 1, 0, 0, 0, 1, 0, 1])
    codes, pos, fav = joint_codes(y, b, c, None, None)
    assert codes.tolist() == [7, 5, 2, 0, 6, 1, 4, 3] and (pos, fav) == (1, 1)
    g = groups(codes, {"s": ["p", "p", "p", "p", "q", "q", "q", "q"]}, True)
    assert g.labels == ("p", "q")
    assert g.tables.tolist() == [[1, 0, 1, 0, 0, 1, 0, 1], [0, 1, 0, 1, 1, 0, 1, 0]]
    from auditkit.fairness._compare_boot import _confusions, _draw

    base, cand = _confusions(g.tables)
    assert base[0].tolist() == [[1, 1], [1, 1]]  # group p: TN FP / FN TP of the baseline
    assert cand[0].tolist() == [[2, 0], [0, 2]]
    draws = _draw(g.tables, 500, np.random.default_rng(0))
    assert draws.shape == (500, 2, 8)
    assert (draws.sum(axis=2) == 4).all()  # every draw resamples each group's own rows
    assert (draws[..., g.tables == 0] == 0).all()  # and only joint cells that occur


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(40, 400))
def test_result_depends_on_the_joint_counts_only(seed: int, n: int) -> None:
    """Shuffling the rows changes nothing (same seed): the draws are of the joint tables."""
    df = _models(n, seed, swap=0.5)
    order = np.random.default_rng(seed).permutation(n)
    one = compare(df["y"], df["base"], df["cand"], df[["a", "b"]], n_boot=100, random_state=seed,
                  min_group_size=5, min_denominator=5)
    sh = df.iloc[order]
    two = compare(sh["y"], sh["base"], sh["cand"], sh[["a", "b"]], n_boot=100, random_state=seed,
                  min_group_size=5, min_denominator=5)
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.disparities, two.disparities)


def test_identical_models_have_no_difference_and_pass() -> None:
    df = _models(2000, 2)
    res = compare(df["y"], df["base"], df["base"], df[["a", "b"]], n_boot=200, random_state=0)
    judged = res.table[res.table["reason"] == ""]
    assert len(judged) > 0
    assert (res.table["difference"] == 0).all()
    assert (res.table[["ci_low", "ci_high"]].to_numpy() == 0).all()
    assert (judged["p_value"] == 1.0).all() and (judged["p_adjusted"] == 1.0).all()
    assert res.passed and res.exit_code == 0 and res.worse == ()
    assert (res.disparities["change"].dropna() == 0).all()


def test_accuracy_test_is_mcnemar_with_the_bootstrap_variance() -> None:
    """For accuracy, the Wald z is McNemar's: (c - b) / sqrt(b + c - (b - c)²/n) with b, c the
    discordant counts; the bootstrap SE must match that closed form."""
    rng = np.random.default_rng(3)
    n = 1500
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.8, y, 1 - y)
    cand = np.where(rng.random(n) < 0.12, 1 - base, base)
    res = compare(y, base, cand, {"s": np.zeros(n, dtype=int)}, metrics=["accuracy"], n_boot=20000,
                  random_state=0)
    row = res.table.iloc[0]
    right_b, right_c = base == y, cand == y
    lost = int((right_b & ~right_c).sum())  # the candidate got wrong what the baseline got right
    won = int((~right_b & right_c).sum())
    se = math.sqrt(lost + won - (won - lost) ** 2 / n) / n
    assert row["difference"] == pytest.approx((won - lost) / n)
    assert row["se"] == pytest.approx(se, rel=0.03)
    z = ((lost - won) / n) / se  # harm-oriented: accuracy falling is worse
    assert row["p_value"] == pytest.approx(1 - NormalDist().cdf(z), abs=0.01)


def test_tolerance_shifts_the_test() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.85, y, 1 - y)
    cand = np.where((base == y) & (rng.random(n) < 0.06), 1 - base, base)  # ~5 points worse
    strict = compare(y, base, cand, {"s": np.zeros(n)}, metrics=["accuracy"], n_boot=1000, random_state=0)
    loose = compare(y, base, cand, {"s": np.zeros(n)}, metrics=["accuracy"], n_boot=1000, random_state=0,
                    tolerance=0.1)
    assert not strict.passed and loose.passed
    s, lo = strict.table.iloc[0], loose.table.iloc[0]
    h = -s["difference"]
    assert lo["p_value"] == pytest.approx(1 - NormalDist().cdf((h - 0.1) / s["se"]), abs=1e-9)
    assert lo["p_value"] > 0.5


def test_intervals_cover_the_true_difference_at_the_nominal_rate() -> None:
    """One group, rows drawn from a known joint law of (y, baseline, candidate): the 95% paired
    bootstrap interval of each difference holds the population difference ~95% of the time."""
    # cell probabilities of the code 4y + 2b + c
    p = np.array([0.30, 0.04, 0.06, 0.05, 0.05, 0.05, 0.03, 0.42])
    y, b, c = (np.arange(8) >> 2) & 1, (np.arange(8) >> 1) & 1, np.arange(8) & 1
    truth = {
        "accuracy": p[c == y].sum() - p[b == y].sum(),
        "true_positive_rate": (p[(y == 1) & (c == 1)].sum() - p[(y == 1) & (b == 1)].sum()) / p[y == 1].sum(),
        "positive_predictive_value": (p[(y == 1) & (c == 1)].sum() / p[c == 1].sum()
                                      - p[(y == 1) & (b == 1)].sum() / p[b == 1].sum()),
    }
    rng = np.random.default_rng(5)
    reps, n = 200, 400
    hits = dict.fromkeys(truth, 0)
    for k in range(reps):
        code = rng.choice(8, n, p=p)
        res = compare((code >> 2) & 1, (code >> 1) & 1, code & 1, {"s": np.zeros(n)}, metrics=list(truth),
                      n_boot=400, random_state=k)
        for _, row in res.table.iterrows():
            hits[row["metric"]] += row["ci_low"] <= truth[row["metric"]] <= row["ci_high"]
    for m, h in hits.items():
        # 95% nominal; 200 replications -> MC sd 1.5 points; allow the percentile method's small bias
        assert 0.90 <= h / reps <= 0.99, (m, h / reps)


def test_false_alarms_under_the_null_stay_at_alpha() -> None:
    """Exchangeable models (no model worse): the chance of any "worse" verdict over the family
    of 11 groups x 8 metrics is at most alpha (+ Monte Carlo error), Holm and BH alike."""
    reps = 200
    any_holm = any_bh = 0
    raw_rejections = raw_tests = 0
    for k in range(reps):
        df = _models(3000, 100 + k, swap=0.15)
        res = compare(df["y"], df["base"], df["cand"], df[["a", "b"]], n_boot=200, random_state=k)
        p = res.table["p_value"].to_numpy()
        any_holm += not res.passed
        any_bh += bool((benjamini_hochberg(p) < 0.05).any())
        raw_rejections += int((p < 0.05).sum())
        raw_tests += int(np.isfinite(p).sum())
    bound = 0.05 + 2.33 * math.sqrt(0.05 * 0.95 / reps)  # one-sided 99% Monte Carlo allowance
    assert any_holm / reps <= bound
    assert any_bh / reps <= bound
    # the single tests are calibrated too: about alpha of them reject before any correction
    assert 0.02 <= raw_rejections / raw_tests <= 0.08


def _planted(seed: int) -> pd.DataFrame:
    """A large group A and a small group B (300 rows); the candidate (a compressed model) gets
    15% of B's right answers wrong, and only exchangeable noise elsewhere."""
    rng = np.random.default_rng(seed)
    n_a, n_b = 4000, 300
    race = np.array(["A"] * n_a + ["B"] * n_b)
    sex = rng.choice(["F", "M"], n_a + n_b)
    y = rng.integers(0, 2, n_a + n_b)
    base = np.where(rng.random(n_a + n_b) < 0.85, y, 1 - y)
    noise = np.where(rng.random(n_a + n_b) < 0.85, y, 1 - y)
    cand = np.where((race == "A") & (rng.random(n_a + n_b) < 0.1), noise, base)
    cand = np.where((race == "B") & (base == y) & (rng.random(n_a + n_b) < 0.15), 1 - base, cand)
    return pd.DataFrame({"race": race, "sex": sex, "y": y, "base": base, "cand": cand})


def test_a_degradation_in_one_small_group_is_named_and_only_that_group() -> None:
    df = _planted(6)
    res = compare(df["y"], df["base"], df["cand"], df[["race"]], random_state=0)
    named = {(w.grouping, w.group) for w in res.worse}
    assert named == {("race", "B")}
    assert "accuracy" in {w.metric for w in res.worse}
    assert res.exit_code == 1
    both = compare(df["y"], df["base"], df["cand"], df[["race", "sex"]], random_state=0)
    assert not any(w.group == "A" or (isinstance(w.group, tuple) and w.group[0] == "A") for w in both.worse)
    assert ("race", "B") in {(w.grouping, w.group) for w in both.worse}


def test_evidence_bar_and_no_direction_rows_are_reported_not_judged() -> None:
    df = _planted(7)
    res = compare(df["y"], df["base"], df["cand"], df[["race"]], metrics=["accuracy", "base_rate"],
                  min_group_size=500, random_state=0)
    t = res.table.set_index(["group", "metric"])
    assert t.loc[("B", "accuracy"), "reason"] == "fewer than 500 rows (min_group_size)"
    assert math.isnan(t.loc[("B", "accuracy"), "p_value"]) and not t.loc[("B", "accuracy"), "worse"]
    assert t.loc[("A", "base_rate"), "reason"].startswith("no direction of harm")
    assert t.loc[("A", "base_rate"), "difference"] == 0
    assert res.n_tests == 1 and res.passed  # only A's accuracy is judged, and A is not worse
    den = compare(df["y"], df["base"], df["cand"], df[["race"]], metrics=["true_positive_rate"],
                  min_denominator=200, random_state=0).table.set_index("group")
    assert den.loc["B", "reason"] == "fewer than 200 actual positives for both models (min_denominator)"


def test_reproducible_with_a_seed_and_the_seed_is_stated() -> None:
    df = _models(1500, 8, swap=0.3)
    args = (df["y"], df["base"], df["cand"], df[["a"]])
    one, two = compare(*args, n_boot=300, random_state=11), compare(*args, n_boot=300, random_state=11)
    pd.testing.assert_frame_equal(one.table, two.table)
    fresh = compare(*args, n_boot=300)
    assert isinstance(fresh.seed, int)
    pd.testing.assert_frame_equal(fresh.table, compare(*args, n_boot=300, random_state=fresh.seed).table)
    assert compare(*args, n_boot=300, random_state=np.random.default_rng(1)).seed is None


def test_text_labels_with_pos_and_favourable_label() -> None:
    df = _models(2000, 9, swap=0.3)
    word = np.array(["deny", "grant"])
    res = compare(word[df["y"]], word[df["base"]], word[df["cand"]], df[["a"]], pos_label="grant",
                  n_boot=200, random_state=0)
    num = compare(df["y"], df["base"], df["cand"], df[["a"]], n_boot=200, random_state=0)
    pd.testing.assert_frame_equal(res.table, num.table)
    assert res.pos_label == "grant" and res.favourable_label == "grant"


# -- outputs ----------------------------------------------------------------------------------
def test_every_format_states_the_settings_and_the_verdict() -> None:
    df = _planted(10)
    res = compare(df["y"], df["base"], df["cand"], df[["race", "sex"]], n_boot=500, random_state=3,
                  correction="bh", names=("fp32", "int8"))
    assert isinstance(res, ComparisonResult) and not res.passed
    doc = json.loads(res.to_json())
    assert doc["passed"] is False and doc["exit_code"] == 1
    assert {k: doc["settings"][k] for k in ("correction", "alpha", "tolerance", "n_boot", "seed")} == {
        "correction": "bh", "alpha": 0.05, "tolerance": 0.0, "n_boot": 500, "seed": 3}
    assert doc["settings"]["n_tests"] == res.n_tests
    assert doc["models"] == {"baseline": "fp32", "candidate": "int8"}
    assert len(doc["worse"]) == len(res.worse)
    assert any(isinstance(g["group"], list) for g in doc["groups"])  # intersections as lists
    root = ET.fromstring(res.to_junit())
    suite = root.find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["correction"] == "bh" and props["seed"] == "3" and props["n_boot"] == "500"
    assert int(suite.get("failures")) == len(res.worse) == len(suite.findall(".//failure"))
    md = res.to_markdown()
    assert md.startswith("### Model comparison failed: `int8` vs `fp32`")
    assert "bh correction over" in md and "seed 3" in md and "500 paired-bootstrap draws" in md
    notes = res.github_annotations()
    assert notes[0].startswith("::notice title=Model comparison failed")
    assert len(notes) == 1 + len(res.worse) and all(n.startswith("::error") for n in notes[1:])
    assert "seed 3" in notes[1]


@pytest.fixture(scope="module")
def awkward() -> ComparisonResult:
    """A worse group whose label holds a ``|``, a ``%`` and a line break, under an attribute whose
    name holds a ``:`` and a ``,`` (the characters each format must escape)."""
    df = _planted(12)
    label = np.where(df["race"] == "B", "B|50%\nx", "A")
    sf = pd.DataFrame({"race:eth,nic": label, "sex": df["sex"]})
    res = compare(df["y"], df["base"], df["cand"], sf, n_boot=300, random_state=1, names=("old", "new"),
                  metrics=[*DEFAULT_METRICS, "base_rate"])  # base_rate: reported, not judged
    assert len(res.worse) >= 2 and "B|50%\nx" in {w.group for w in res.worse}
    return res


def test_json_parses_and_holds_the_settings_and_the_worse_list(awkward: ComparisonResult) -> None:
    res = awkward

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    doc = json.loads(res.to_json(), parse_constant=refuse)
    assert doc["settings"] == json.loads(json.dumps(res.settings()))
    assert set(doc["settings"]) >= {"correction", "correction_method", "n_tests", "alpha", "tolerance",
                                    "n_boot", "seed", "ci", "min_group_size", "min_denominator",
                                    "p_value", "interval"}
    assert doc["settings"]["n_boot"] == 300 and doc["settings"]["seed"] == 1
    assert len(doc["groups"]) == len(res.table) and len(doc["disparities"]) == len(res.disparities)
    fields = list(WorseGroup.__dataclass_fields__)
    assert [list(w) for w in doc["worse"]] == [fields] * len(res.worse)
    for got, w in zip(doc["worse"], res.worse, strict=True):
        group = list(w.group) if isinstance(w.group, tuple) else w.group
        assert (got["grouping"], got["group"], got["metric"], got["n"]) == (w.grouping, group, w.metric, w.n)
        assert got["p_adjusted"] == pytest.approx(w.p_adjusted, rel=1e-12)
    not_judged = [g for g in doc["groups"] if g["reason"]]
    assert not_judged and all(g["p_value"] is None for g in not_judged)  # NaN as null


def test_junit_has_one_failing_case_per_worse_group_and_metric(awkward: ComparisonResult) -> None:
    res = awkward
    suite = ET.fromstring(res.to_junit()).find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == len(res.table)
    failing = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failing == [f"{w.grouping} = {group_text(w.group)}: {w.metric}" for w in res.worse]
    assert int(suite.get("failures")) == len(res.worse)
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert int(suite.get("skipped")) == len(skipped) == int((res.table["reason"] != "").sum()) > 0
    fail = next(c for c in cases if c.find("failure") is not None).find("failure")
    assert "seed 1" in fail.get("message") and "300 paired-bootstrap draws" in fail.get("message")


def _unescape(text: str) -> str:
    return (text.replace("%0A", "\n").replace("%0D", "\r").replace("%3A", ":").replace("%2C", ",")
            .replace("%25", "%"))


def test_github_annotations_escape_percent_and_line_breaks(awkward: ComparisonResult) -> None:
    res = awkward
    notes = res.github_annotations()
    assert len(notes) == 1 + len(res.worse)
    assert all("\n" not in n and "\r" not in n for n in notes)  # one workflow command per line
    for note, w in zip(notes[1:], res.worse, strict=True):
        head, _, message = note.partition("::error title=")[2].partition("::")
        assert ":" not in head and "," not in head  # a property escapes ':' and ','
        assert _unescape(head) == f"Model comparison: {w.metric} worse for {w.grouping}"
        assert _unescape(message) == f"{w.describe(res.ci)}. {res.settings_line()}."
    bad = next(n for n, w in zip(notes[1:], res.worse, strict=True) if w.group == "B|50%\nx")
    assert "B|50%25%0Ax" in bad


def test_markdown_table_has_a_row_per_worse_group_and_metric(awkward: ComparisonResult) -> None:
    import re

    res = awkward
    lines = res.to_markdown().splitlines()
    head = lines.index("| Grouping | Group | Metric | Baseline | Candidate | Difference | Interval | Adjusted p | Rows |")
    assert lines[head + 1] == "|---|---|---|---|---|---|---|---|---|"
    rows = lines[head + 2:head + 2 + len(res.worse)]
    for line, w in zip(rows, res.worse, strict=True):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == 9
        assert cells[0] == w.grouping and cells[1] == group_text(w.group).replace("|", "\\|").replace("\n", " ")
        assert cells[2] == w.metric and cells[3] == f"{w.baseline:.3f}" and cells[8] == f"{w.n:,}"
    assert lines[head + 2 + len(res.worse)] == ""
    n_disp = sum(1 for line in lines if line.startswith("| ") and "_difference |" in line)
    assert n_disp == len(res.disparities)


def test_default_metrics_leave_out_the_complements() -> None:
    assert "false_negative_rate" not in DEFAULT_METRICS and "accuracy" in DEFAULT_METRICS


# -- bad input --------------------------------------------------------------------------------
Y = np.array([0, 1] * 50)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"candidate": Y[:-1]}, "'candidate' has 99 rows but 'y_true' has 100"),
        ({"baseline": np.arange(100) % 3}, "'baseline' argument of compare has 3 distinct values"),
        ({"candidate": np.where(np.arange(100) == 5, np.nan, Y)}, "'candidate' argument has 1 missing"),
        ({"y_true": np.zeros(100, dtype=int)}, "'y_true' contains a single class"),
        ({"metrics": ["acuracy"]}, "Did you mean 'accuracy'"),
        ({"metrics": ["roc_auc"]}, "binary labels only"),
        ({"alpha": 1.5}, "'alpha' parameter of compare must be a number in \\(0, 1\\)"),
        ({"ci": 0}, "'ci' parameter"),
        ({"n_boot": 10}, "'n_boot' parameter"),
        ({"correction": "bonferroni"}, "'correction' parameter"),
        ({"tolerance": -0.1}, "'tolerance' parameter"),
        ({"names": ("m", "m")}, "'names' parameter"),
        ({"pos_label": 7}, "'pos_label' parameter"),
        ({"favourable_label": "yes"}, "'favourable_label' parameter"),
        ({"sensitive_features": {"s": [None] * 100}}, "missing in all 100 rows"),
        ({"sensitive_features": {"s": ["p"] * 99}}, "'sensitive_features' argument has 99 rows"),
        ({"random_state": -1}, "'random_state' parameter"),
    ],
)
def test_bad_input_names_the_input(kwargs, match) -> None:
    args = {"y_true": Y, "baseline": Y, "candidate": 1 - Y, "sensitive_features": {"s": ["p", "q"] * 50}}
    args.update(kwargs)
    with pytest.raises(FairnessInputError, match=match):
        compare(args.pop("y_true"), args.pop("baseline"), args.pop("candidate"), args.pop("sensitive_features"),
                n_boot=args.pop("n_boot", 100), **args)


def test_text_labels_need_a_pos_label() -> None:
    w = np.array(["no", "yes"])[Y]
    with pytest.raises(FairnessInputError, match="pass pos_label="):
        compare(w, w, w, {"s": ["p", "q"] * 50}, n_boot=100)


# -- real data --------------------------------------------------------------------------------
def test_adult_quantised_logistic_regression(adult, ref) -> None:
    """A logistic regression on Adult against the same model with coarsely quantised
    coefficients: per-group values equal fairlearn's, and every verdict is a real harm."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    feats = ["age", "education_num", "hours_per_week", "capital_gain", "capital_loss"]
    x = StandardScaler().fit_transform(adult[feats].to_numpy(dtype=float))
    model = LogisticRegression(max_iter=500).fit(x, adult["y"])
    base = model.predict(x)
    coef = np.round(model.coef_[0])  # quantised to whole numbers
    cand = ((x @ coef + np.round(model.intercept_[0])) > 0).astype(int)
    assert (base != cand).mean() > 0.05  # the quantisation changes predictions
    sf = adult[["sex", "race"]]
    res = compare(adult["y"], base, cand, sf, n_boot=500, random_state=0, names=("float", "quantised"))
    t = res.table.set_index(["grouping", "group", "metric"])
    checked = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
    for grouping, cols in (("race", ["race"]), ("sex × race", ["sex", "race"])):
        for role, pred in (("baseline", base), ("candidate", cand)):
            frame = ref.fairlearn_frame(adult["y"], pred, sf[cols], {m: ref.BINARY[m] for m in checked})
            for group, row in frame.iterrows():
                for m in checked:
                    got = t.loc[(grouping, group, m), role]
                    assert (math.isnan(got) and math.isnan(row[m])) or got == pytest.approx(row[m], abs=1e-12)
    assert res.n_tests > 100 and len(res.worse) > 0 and res.exit_code == 1
    for w in res.worse:  # a verdict always points towards harm, with an interval past zero
        sign = -1 if t.loc[(w.grouping, w.group, w.metric), "direction"] == "lower is worse" else 1
        assert sign * w.difference > 0
        assert (w.ci_high < 0) if sign < 0 else (w.ci_low > 0)
