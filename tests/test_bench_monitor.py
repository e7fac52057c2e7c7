"""benchmarks/_monitor_sim.py and bench_monitor.py: the simulated tables behind the monitor's figures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
if not (_DIR / "_monitor_sim.py").is_file():  # the wheel run copies tests/ without the benchmarks
    pytest.skip("reads the checkout's benchmarks/", allow_module_level=True)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, _DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sim = _load("_monitor_sim")
bench = _load("bench_monitor")

from auditkit.fairness._monitor_counts import LogColumns, count_batch  # noqa: E402


@pytest.mark.parametrize("name", ["A", "B"])
def test_tables_of_a_window_equal_count_batch_of_its_rows(name: str) -> None:
    cfg = sim.CONFIGS[name]
    rng = np.random.default_rng(3)
    windows = np.arange(sim.first_window(), sim.first_window() + 4)
    cells = sim.draw_cells(rng, cfg, 4, shift_at=2)
    fcells = sim.draw_features(rng, cfg, 4)
    counts = sim.cells_to_counts(cfg, windows, cells)
    features = sim.features_table(cfg, windows, fcells)
    w = 2
    rows = sim.rows_from_cells(rng, cfg, int(windows[w]), cells[w], {f: h[w] for f, h in fcells.items()})
    assert len(rows) == sum(cfg.sizes)
    cols = LogColumns("timestamp", "y_pred", cfg.attributes, score="score", features=tuple(sim.FEATURES),
                      label="y_true")
    got = count_batch(rows, cols, sim.WEEK, sim.feature_bins())
    mine = counts[counts["window"] == windows[w]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.counts.reset_index(drop=True), mine, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(got.features.reset_index(drop=True),
                                  features[features["window"] == windows[w]].reset_index(drop=True))


def test_cell_probabilities_are_those_of_rows_drawn_one_by_one() -> None:
    base, tpr, fpr = sim.OUTCOME["g0"]
    p = sim.cell_probs(base, tpr, fpr)
    assert p.shape == (80,) and p.sum() == pytest.approx(1.0)
    n = 400_000
    cells = sim.rows_sequential(np.random.default_rng(8), n, base, tpr, fpr)
    freq = np.bincount(cells, minlength=80) / n
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) <= 5 * se + 1e-12)
    # positive predictions score >= 0.5, negative ones below
    assert p.reshape(2, 2, 20)[:, 1, :10].sum() == 0 and p.reshape(2, 2, 20)[:, 0, 10:].sum() == 0


def test_planted_shift_lowers_g0_selection_rate_by_the_shift_from_its_window() -> None:
    for group, (base, tpr, fpr) in sim.OUTCOME.items():
        before = sim.cell_probs(base, tpr, fpr).reshape(2, 2, 20)[:, 1].sum()
        after = sim.cell_probs(base, tpr - sim.SHIFT, fpr - sim.SHIFT).reshape(2, 2, 20)[:, 1].sum()
        assert before - after == pytest.approx(sim.SHIFT), group
    big = sim.SimConfig("big", ("attr1", "attr2"), (("g0", "g1"), ("h0", "h1")), (100_000,) * 4)
    windows = np.arange(10)
    counts = sim.cells_to_counts(big, windows, sim.draw_cells(np.random.default_rng(4), big, 10, shift_at=6))
    pos = counts.assign(pos=np.where(counts["y_pred"] == "1", counts["n"], 0))
    rate = pos.groupby(["attr1", "window"])[["pos", "n"]].sum()
    rate = (rate["pos"] / rate["n"]).unstack()
    se = np.sqrt(0.25 / 200_000)
    np.testing.assert_allclose(rate.loc["g0"].to_numpy(), np.where(windows >= 6, 0.30, 0.40), atol=5 * se)
    np.testing.assert_allclose(rate.loc["g1"].to_numpy(), 0.475, atol=5 * se)  # 0.45 * 0.75 + 0.55 * 0.25


def test_groups_have_the_rows_the_issue_asks_for() -> None:
    assert sim.CONFIGS["A"].group_rows() == {"attr1": {"g0": 500, "g1": 1500}}
    groups = sim.CONFIGS["B"].group_rows()
    assert set(groups) == {"attr1", "attr2"}
    assert all(v >= 500 for d in groups.values() for v in d.values())
    assert {sum(d.values()) for d in groups.values()} == {2000}


def test_features_table_groupings_add_up_to_all_rows() -> None:
    cfg = sim.CONFIGS["B"]
    windows = np.arange(3)
    table = sim.features_table(cfg, windows, sim.draw_features(np.random.default_rng(6), cfg, 3))
    per = table.groupby(["window", "feature", "grouping", "bin"])["n"].sum().unstack("grouping")
    assert (per["attr1"] == per[""]).all() and (per["attr2"] == per[""]).all()
    assert (table[table["grouping"] == ""].groupby(["window", "feature"])["n"].sum() == sum(cfg.sizes)).all()


def test_naive_anchor_counts_what_count_batch_counts() -> None:
    frame = sim.log_frame(np.random.default_rng(2), 20_000, sim.week_start(sim.first_window()), pd.Timedelta(weeks=2))
    cols = LogColumns("timestamp", "prediction", ("attr1", "attr2"), score="score")
    ours = count_batch(frame, cols, sim.WEEK, sim.feature_bins()).counts
    naive = bench._naive(frame).reset_index()
    assert ours["n"].sum() == naive["n"].sum() == 20_000
    keyed = ours.assign(prediction=ours["y_pred"].astype(int)).groupby(
        ["window", "attr1", "attr2", "prediction", "score_bin"])[["n", "score_sum"]].sum()
    naive = naive.astype({"attr1": str, "attr2": str, "score_bin": "int16"}).set_index(list(keyed.index.names))
    joined = keyed.merge(naive, left_index=True, right_index=True, how="outer", suffixes=("", "_naive"))
    assert (joined["n"] == joined["n_naive"]).all()
    np.testing.assert_allclose(joined["score_sum"], joined["score_sum_naive"])
