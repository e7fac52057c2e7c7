"""Working memory of the count-tensor bootstrap and of the exact ROC AUC, with their figures
unchanged: the batch of replicates shrinks for tensors with many cells and the replicates do
not depend on it, and the exact AUC is the Mann-Whitney statistic whatever the layout of the
cells."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from auditkit.fairness import audit
from auditkit.fairness._bootstrap import BATCH, BATCH_BYTES, batch_size, resample
from auditkit.fairness._counts import Counts
from auditkit.fairness._metrics import Grouping, auc_exact


def _counts(n_cells: int, bins: bool) -> Counts:
    rng = np.random.default_rng(0)
    n = 2_000
    levels = [f"g{i}" for i in range(n_cells)]
    import pandas as pd

    frame = pd.DataFrame({"g": rng.choice(levels, n)})
    y = rng.integers(0, 2, n)
    res = audit(y, rng.integers(0, 2, n), frame, y_score=rng.random(n) if bins else None,
                n_boot=10, random_state=0, intersectional=False)
    return res.counts


def test_small_tensors_keep_the_full_batch() -> None:
    assert batch_size(_counts(3, bins=True)) == BATCH
    assert batch_size(_counts(3, bins=False)) == BATCH
    assert batch_size(_counts(3, bins=True), 7) == 7


@pytest.mark.parametrize("cells", [20, 200, 2_000])
def test_large_tensors_get_bounded_batches(cells: int) -> None:
    counts = _counts(cells, bins=True)
    b = batch_size(counts)
    entries = counts.scores.hist_n.size
    assert 1 <= b <= BATCH
    if b < BATCH:
        assert b * entries * 8 <= BATCH_BYTES
    total = 0
    for batch in resample(counts, 1_000, np.random.default_rng(1)):
        assert batch["conf"].shape[0] <= b
        # every replicate redraws all rows
        assert np.allclose(batch["conf"].reshape(batch["conf"].shape[0], -1).sum(axis=1),
                           counts.n.sum())
        total += batch["conf"].shape[0]
    assert total == 1_000


def _weighted_counts(task: str) -> Counts:
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 1_500
    frame = pd.DataFrame({"g": rng.choice(list("abcdefgh"), n), "h": rng.choice(list("xyz"), n)})
    w = rng.choice([0.5, 1.0, 3.0], n)
    if task == "regression":
        y, pred, score = rng.normal(size=n), rng.normal(size=n), None
    else:
        y, pred, score = rng.integers(0, 2, n), rng.integers(0, 2, n), rng.random(n)
    return audit(y, pred, frame, y_score=score, sample_weight=w, n_boot=10, random_state=0).counts


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_replicates_do_not_depend_on_the_batch_size(task: str) -> None:
    """Each kind of draw has its own stream: the same replicates in batches of any size, so a
    smaller batch for a larger tensor changes no interval."""
    counts = _weighted_counts(task)
    assert counts.task == task and counts.weighted

    def replicates(batch: int) -> dict[str, np.ndarray]:
        parts = list(resample(counts, 60, np.random.default_rng(5), batch=batch))
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    whole = replicates(60)
    assert set(whole) == ({"conf", "hist_w", "hist_ws"} if task == "classification"
                          else {"w", "w_pred", "w_abs", "w_sq"})
    for batch in (1, 7, 25):
        other = replicates(batch)
        for key, value in whole.items():
            np.testing.assert_array_equal(other[key], value, err_msg=f"{key}, batch {batch}")


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), n=st.integers(2, 300),
       decimals=st.integers(0, 3), weighted=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_exact_auc_is_mann_whitney_per_group(shape, n, decimals, weighted, seed) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    cell = rng.integers(0, int(np.prod(shape)), n).astype(np.int64)
    cls = rng.integers(0, 2, n).astype(np.int64)
    score = np.round(rng.random(n), decimals)  # ties
    w = rng.choice([0.5, 1.0, 2.5], n) if weighted else np.ones(n)
    groupings = [Grouping(str(axes), axes, tuple(range(int(np.prod([shape[a] for a in axes])))))
                 for r in range(len(shape) + 1) for axes in itertools.combinations(range(len(shape)), r)]
    got = auc_exact(cell, cls, score, w, 1, shape, groupings)
    multi = np.unravel_index(cell, shape)
    k = 0
    for g in groupings:
        gid = (np.ravel_multi_index(tuple(multi[a] for a in g.axes), tuple(shape[a] for a in g.axes))
               if g.axes else np.zeros(n, dtype=np.int64))
        for level in range(g.size):
            rows = gid == level
            if len(set(cls[rows])) < 2:
                assert np.isnan(got[k])
            else:
                want = roc_auc_score(cls[rows], score[rows], sample_weight=w[rows])
                assert got[k] == pytest.approx(want, rel=1e-12, abs=1e-12)
            k += 1
    assert k == len(got)
