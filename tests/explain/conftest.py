"""Shared fixtures for the explain tests: small deterministic datasets and models."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import shap  # noqa: F401 - the test command installs it: missing, the run fails (never skips)


def brute_force_shapley(value, p: int) -> np.ndarray:
    """Exact Shapley values of the set function ``value(frozenset) -> float`` over ``p`` players."""
    phi = np.zeros(p)
    cache = {}

    def v(s):
        if s not in cache:
            cache[s] = value(s)
        return cache[s]

    for i in range(p):
        others = [j for j in range(p) if j != i]
        for size in range(p):
            w = math.factorial(size) * math.factorial(p - size - 1) / math.factorial(p)
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                phi[i] += w * (v(s | {i}) - v(s))
    return phi


def interventional_value(predict, x: np.ndarray, background: np.ndarray):
    """v(S) = mean over background rows b of f(x_S, b_rest)."""

    def value(s):
        hybrid = background.copy()
        idx = list(s)
        hybrid[:, idx] = x[idx]
        return float(np.mean(predict(hybrid)))

    return value


def path_dependent_value(trees, x: np.ndarray, scale: float = 1.0):
    """v(S) = sum over trees of E[tree(x) | x_S] under the trees' own cover (TreeSHAP's game)."""

    def tree_expect(t, s):
        def rec(node):
            left, right = t.children_left[node], t.children_right[node]
            if left == -1:
                return float(t.value[node].reshape(-1)[0])
            f = t.feature[node]
            if f in s:
                return rec(left if x[f] <= t.threshold[node] else right)
            wl, wr = t.weighted_n_node_samples[left], t.weighted_n_node_samples[right]
            return (wl * rec(left) + wr * rec(right)) / (wl + wr)

        return rec(0)

    def value(s):
        return scale * sum(tree_expect(t, s) for t in trees)

    return value


@pytest.fixture(scope="module")
def numeric_data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "c", "d"])
    y = 2.0 * X["a"] - 1.0 * X["b"] + 0.5 * X["c"] * X["a"] + 0.1 * rng.normal(size=400)
    return X, y


@pytest.fixture(scope="module")
def mixed_data():
    rng = np.random.default_rng(1)
    n = 600
    region = rng.choice(["north", "south", "east"], size=n)
    income = rng.lognormal(10.8, 0.4, size=n)
    debt = rng.beta(2, 5, size=n)
    logit = (
        1.5 * (np.log(income) - 10.8) / 0.4
        - 3 * (debt - 0.3)
        + np.where(region == "south", -0.8, 0.2)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"income": income, "debt": debt, "region": region})
    return X, y
