"""Bootstrap by resampling the count tensor, so the cost does not grow with the number of rows.

Unweighted data
    A row-level bootstrap draws N rows with replacement. The number of draws that land in each
    cell of the count tensor — (group cell, true class, predicted class) for classification,
    (group cell, true class, score bin) for score histograms — is then Multinomial(N, n_k / N).
    Drawing that multinomial directly is *exactly* the row-level bootstrap of every statistic
    derived from the counts: group sizes vary from replicate to replicate, as they should.

Weighted data
    Rows are still drawn uniformly (the multinomial above on *row counts*). A cell drawn m times
    receives the sum of m weights drawn with replacement from the weights of its n rows. That sum
    is replaced by its normal approximation m·w̄ + √m·s·Z (w̄, s: mean and standard deviation of
    the cell's weights, from the stored sums of weights and squared weights; Z standard normal),
    truncated at zero. With equal weights s = 0 and this is the exact bootstrap again; otherwise it
    is a central-limit approximation within each cell, accurate when cells are not tiny.
    The weighted score sums of a histogram bin are taken as m times their mean (bins are 1/200
    of the score range wide, so the within-bin spread is negligible).

Regression
    Cells are drawn as above (multinomial on row counts). Within a cell drawn m times, the
    bootstrap distribution of each weighted mean (prediction, absolute error, squared error) is
    replaced by its normal approximation: mean ± √(V·n/m)·Z, where V is the linearised
    (ratio-estimator) variance Σw²(q − q̄)² / (Σw)² of the cell's n rows.

ROC AUC intervals come from the score histograms (ties within a bin count one half); each
replicate is shifted by the difference between the exact and the binned AUC of the data.
Classification counts, score histograms and regression sums are drawn independently of one
another; each metric's interval depends on one family only, so its marginal distribution is
the bootstrap's.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from auditkit.fairness._counts import Counts

__all__ = ["resample"]


def _weights(m: np.ndarray, n: np.ndarray, w: np.ndarray, w2: np.ndarray, weighted: bool,
             rng: np.random.Generator) -> np.ndarray:
    """Resampled weight totals for cells drawn ``m`` times (``m``: ``(b, K)``)."""
    if not weighted:
        return m.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        wbar = np.where(n > 0, w / np.where(n > 0, n, 1), 0.0)
        var = np.where(n > 0, w2 / np.where(n > 0, n, 1), 0.0) - wbar * wbar
    sd = np.sqrt(np.maximum(var, 0.0))
    out = m * wbar + np.sqrt(m) * sd * rng.standard_normal(m.shape)
    return np.maximum(out, 0.0)


def _draw(n_flat: np.ndarray, b: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial draws over the non-empty entries of ``n_flat``: (indices, (b, K) counts)."""
    nz = np.flatnonzero(n_flat)
    total = int(n_flat.sum())
    if total == 0:
        return nz, np.zeros((b, len(nz)), dtype=np.int64)
    return nz, rng.multinomial(total, n_flat[nz] / total, size=b)


def _scatter(nz: np.ndarray, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros((values.shape[0], int(np.prod(shape))))
    out[:, nz] = values
    return out.reshape((values.shape[0],) + shape)


BATCH = 250
"""Replicates drawn at once, at most."""
BATCH_BYTES = 32 << 20
"""About the working memory of one batch, its evaluation included: tensors with many cells
(several protected attributes crossed, with score histograms) get smaller batches."""
_COPIES = 10  # arrays of the tensor's size a replicate's evaluation holds, measured


def batch_size(counts: Counts, batch: int | None = None) -> int:
    """Replicates per batch: ``batch`` if given, else :data:`BATCH` or fewer, so that a batch
    holds about :data:`BATCH_BYTES`. The replicates do not depend on it (see :func:`resample`)."""
    if batch is not None:
        return batch
    entries = max(counts.n.size, counts.scores.hist_n.size if counts.scores is not None else 0)
    return int(max(1, min(BATCH, BATCH_BYTES // max(1, entries * 8 * _COPIES))))


def resample(counts: Counts, n_boot: int, rng: np.random.Generator,
             batch: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Yield batches of resampled count arrays, each with a leading replicate axis (of
    :func:`batch_size` replicates).

    Keys: ``conf`` (classification), ``hist_w`` and ``hist_ws`` (scores), ``w``, ``w_pred``,
    ``w_abs``, ``w_sq`` (regression).

    Each kind of draw has its own stream, spawned from ``rng``: the cells' multinomial, the
    normal approximation of their weights, the histograms' multinomial and weights, and each
    regression mean. A stream's draws come one replicate after another, so the replicates are
    the same whatever the batch size.
    """
    batch = batch_size(counts, batch)
    cells, cell_w, hist, hist_w, *means = rng.spawn(7)
    done = 0
    while done < n_boot:
        b = min(batch, n_boot - done)
        done += b
        out: dict[str, np.ndarray] = {}
        if counts.task == "classification":
            n = counts.n.ravel()
            nz, m = _draw(n, b, cells)
            wt = _weights(m, n[nz], counts.w.ravel()[nz], counts.w2.ravel()[nz], counts.weighted, cell_w)
            out["conf"] = _scatter(nz, wt, counts.n.shape)
            s = counts.scores
            if s is not None:
                hn = s.hist_n.ravel()
                nz, m = _draw(hn, b, hist)
                hw = s.hist_w.ravel()[nz]
                wt = _weights(m, hn[nz], hw, s.hist_w2.ravel()[nz], counts.weighted, hist_w)
                mean_ws = np.where(hw > 0, s.hist_ws.ravel()[nz] / np.where(hw > 0, hw, 1.0), 0.0)
                out["hist_w"] = _scatter(nz, wt, s.hist_n.shape)
                out["hist_ws"] = _scatter(nz, wt * mean_ws, s.hist_n.shape)
        else:
            n = counts.n.ravel()
            nz, m = _draw(n, b, cells)
            nn = n[nz].astype(float)
            wt = _weights(m, nn, counts.w.ravel()[nz], counts.w2.ravel()[nz], counts.weighted, cell_w)
            out["w"] = _scatter(nz, wt, counts.n.shape)
            big_w = counts.w.ravel()[nz]
            sum_w2 = counts.w2.ravel()[nz]
            safe_w = np.where(big_w > 0, big_w, 1.0)
            for q, q_rng in zip(("pred", "abs", "sq"), means, strict=True):
                mu = counts.reg[f"w_{q}"].ravel()[nz] / safe_w
                v = (counts.reg[f"w2_{q}2"].ravel()[nz] - 2 * mu * counts.reg[f"w2_{q}"].ravel()[nz]
                     + mu * mu * sum_w2) / (safe_w * safe_w)
                with np.errstate(divide="ignore", invalid="ignore"):
                    scale = np.where(m > 0, np.sqrt(np.maximum(v, 0.0) * nn / np.maximum(m, 1)), 0.0)
                mean = mu + scale * q_rng.standard_normal(m.shape)
                if q != "pred":
                    mean = np.maximum(mean, 0.0)
                out[f"w_{q}"] = _scatter(nz, wt * mean, counts.n.shape)
        yield out
