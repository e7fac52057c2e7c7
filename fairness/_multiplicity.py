"""Adjusted p-values for a family of tests: Holm (family-wise error) and Benjamini–Hochberg (FDR).

Both take a 1-D array of p-values and return the adjusted p-values in the same order; a test is
rejected at level ``alpha`` when its adjusted p-value is below ``alpha``. A NaN p-value is not a
test: it stays NaN and does not count in the family size ``m``.

- **Holm** (1979), step-down: with the p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎,
  p̃₍ᵢ₎ = maxⱼ≤ᵢ min(1, (m − j + 1)·p₍ⱼ₎). It controls the family-wise error rate (the chance of
  any false rejection) at ``alpha`` under any dependence between the tests, and is uniformly more
  powerful than Bonferroni.
- **Benjamini–Hochberg** (1995), step-up: p̃₍ᵢ₎ = minⱼ≥ᵢ min(1, m·p₍ⱼ₎ / j). It controls the false
  discovery rate (the expected share of false rejections among the rejections) at ``alpha`` for
  independent or positively dependent tests (Benjamini & Yekutieli 2001); it rejects at least as
  much as Holm.

These equal ``statsmodels.stats.multitest.multipletests(p, method="holm")`` and
``method="fdr_bh"`` (tests/fairness/test_multiplicity.py checks it).

>>> holm([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
[0.03, 0.06, 0.06, 0.02]
>>> benjamini_hochberg([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
[0.02, 0.04, 0.04, 0.02]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from auditkit.fairness.errors import FairnessInputError
from auditkit.hints import did_you_mean

__all__ = ["CORRECTIONS", "CORRECTION_TITLES", "adjust", "benjamini_hochberg", "holm"]


def _pvalues(pvalues: Any, name: str) -> np.ndarray:
    try:
        p = np.asarray(pvalues, dtype=float)
    except (TypeError, ValueError):
        raise FairnessInputError(f"The 'pvalues' argument of {name} must be numbers in [0, 1].") from None
    if p.ndim != 1:
        raise FairnessInputError(
            f"The 'pvalues' argument of {name} must be one-dimensional; got shape {p.shape}."
        )
    finite = p[~np.isnan(p)]
    if ((finite < 0) | (finite > 1)).any():
        bad = int(((finite < 0) | (finite > 1)).sum())
        raise FairnessInputError(
            f"The 'pvalues' argument of {name} must hold probabilities in [0, 1] (NaN for no test); "
            f"{bad} value(s) are outside."
        )
    return p


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate), NaN-aware.

    Parameters
    ----------
    pvalues:
        Raw p-values in [0, 1]; NaN marks an entry that is not a test.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, in the input's order; NaN where the input is NaN.
    """
    p = _pvalues(pvalues, "holm")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    factors = m - np.arange(m)  # m, m - 1, ..., 1
    out[order] = np.minimum(np.maximum.accumulate(factors * p[order]), 1.0)
    return out


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (false discovery rate), NaN-aware.

    Parameters
    ----------
    pvalues:
        Raw p-values in [0, 1]; NaN marks an entry that is not a test.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values ("q-values"), in the input's order; NaN where the input is NaN.
    """
    p = _pvalues(pvalues, "benjamini_hochberg")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


#: The corrections by the name ``compare(correction=...)`` and ``auditkit compare --correction`` take.
CORRECTIONS: dict[str, Callable[[Any], np.ndarray]] = {"holm": holm, "bh": benjamini_hochberg}

#: How each correction is named in the outputs.
CORRECTION_TITLES = {"holm": "Holm (family-wise error rate)",
                     "bh": "Benjamini-Hochberg (false discovery rate)"}


def adjust(pvalues: Sequence[float] | np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values by ``method`` (``"holm"`` or ``"bh"``)."""
    if method not in CORRECTIONS:
        raise FairnessInputError(
            f"The 'correction' parameter must be one of {list(CORRECTIONS)}; got {method!r}."
            f"{did_you_mean(str(method), CORRECTIONS)}"
        )
    return CORRECTIONS[method](pvalues)
