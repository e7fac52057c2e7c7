"""``compare``: is a new model worse than the old one for some group, beyond the evidence?

Two binary classifiers scored on the same rows (before/after mitigation, a compressed or
quantised model against the original, a retrained model against the one in production) are
compared group by group, metric by metric.

The paired bootstrap
--------------------
Per group, the rows are summarised by the 8-cell joint table of (true label, baseline
prediction, candidate prediction) counts; both models' confusion matrices are sums of its
cells. One bootstrap draw resamples the group's rows with replacement, which is one multinomial
draw of that table (the group's row count, its cell shares), so the two models always see the
same resampled rows and the pairing (the rows on which they agree cancel) is kept exactly.
Every metric of both models is derived from each draw. Groups are resampled independently of
each other, so the draws of a grouping's groups together are also a draw of the whole grouping,
which gives the change of each disparity its interval. The draws are generated and reduced batch
by batch, so that the bootstrap's arrays stay under
:data:`~auditkit.fairness._compare_boot.BOOTSTRAP_MEMORY_BYTES` (512 MiB) whatever the number of
groups; only the tails of each difference's draws, its running moments and the disparities'
spreads are kept, and the results are those of holding every draw (:mod:`auditkit.fairness._compare_boot`).

The groups are those of each protected attribute and, with ``intersectional``, of every
intersection (the audit's groupings, less the whole population: the question is which group a
change harms).

For a group and a metric:

- ``difference`` = candidate − baseline (the point values of the full data);
- ``ci_low``/``ci_high``: the equal-tailed percentile interval of the bootstrap differences at
  level ``ci`` (per comparison, not adjusted for multiplicity);
- ``p_value``: the one-sided test of "the candidate is worse by more than ``tolerance``".
  With ``h`` the harm-oriented difference (the difference times the metric's harm sign,
  :func:`~auditkit.fairness._evidence.harm_sign`, so a positive ``h`` is worse) and ``se`` the
  standard deviation of the bootstrap draws of ``h``, z = (h − tolerance) / se and
  p = 1 − Φ(z): the studentised (Wald) form with a bootstrap standard error. It is used rather
  than the percentile p-value (the share of draws with ``h ≤ tolerance``) because that share
  cannot go below 1/``n_boot``: over a family of ``m`` tests Holm needs p < alpha/m for the
  smallest one (0.05/150 ≈ 3e-4), which 2,000 draws could never show, whatever the evidence.
  The difference of two proportions that share their rows is close to normal once the
  denominators clear the evidence bar; for accuracy, z is McNemar's statistic with the
  bootstrap's estimate of its variance (tests/fairness/test_compare.py checks it). The p-value is
  never below McNemar's exact one-sided p-value from the discordant rows for the rates that pair
  the two models on the same rows, and the other metrics are judged only with at least 10
  discordant rows in the group (:mod:`auditkit.fairness._compare_exact`).
- ``p_adjusted``: the p-values of the family (every group × metric that has a direction of harm
  and clears the evidence bar) adjusted by Holm (default; family-wise error rate) or
  Benjamini–Hochberg (false discovery rate) (:mod:`auditkit.fairness._multiplicity`);
- ``worse``: ``p_adjusted < alpha``. The evidence bar is the audit's: the group has at least
  ``min_group_size`` rows, and the metric's denominator (actual positives for a true positive
  rate, predicted positives for a precision, rows for an accuracy, the smaller of actual
  positives and negatives for balanced accuracy) has at least ``min_denominator`` rows for both
  models. Metrics without a direction of harm (``base_rate``) are reported, never judged.

The disparities with a direction (larger is worse: ``demographic_parity_difference``,
``equalized_odds_difference``, ``equal_opportunity_difference``) are compared per grouping over
the groups that clear the bar for both models, with the percentile interval of the paired draws;
they are descriptive and do not enter the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness import _compare_formats as _formats
from auditkit.fairness import _metrics as M
from auditkit.fairness._compare_boot import Bootstrap, Spec, _confusions, bootstrap
from auditkit.fairness._compare_exact import MIN_DISCORDANT, discordant_rows, exact_floor
from auditkit.fairness._compare_inputs import (
    DEFAULT_METRICS,
    MIN_BOOT,
    Groups,
    check_params,
    groups,
    joint_codes,
    make_rng,
    resolve_metrics,
)
from auditkit.fairness._evaluate import disparity_value
from auditkit.fairness._evidence import harm_sign
from auditkit.fairness._intervals import proportion_table, quantile_interval
from auditkit.fairness._multiplicity import adjust

__all__ = ["DEFAULT_METRICS", "DISPARITIES", "MIN_BOOT", "P_VALUE_METHOD", "ComparisonResult", "WorseGroup", "compare"]

#: The disparities whose change is reported (larger is worse), with their base metrics.
DISPARITIES: dict[str, tuple[str, ...]] = {
    name: M.DISPARITY_ALIASES[name][0]
    for name in ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference")
}
P_VALUE_METHOD = ("one-sided Wald test with the paired-bootstrap standard error: "
                  "z = (harm-oriented difference - tolerance) / SE, p = 1 - Phi(z)")
INTERVAL_METHOD = "equal-tailed percentile interval of the paired bootstrap (per comparison)"
_DIRECTION = {1: "higher is worse", -1: "lower is worse", 0: "none"}
# denominators of the metrics that are not single proportions (the rest count rows)
_OTHER_DENOMINATORS = {
    "balanced_accuracy": (lambda c: np.minimum(c[0] + c[3], c[1] + c[2]), "actual positives or negatives"),
}
TABLE_COLUMNS = ["grouping", "group", "metric", "direction", "baseline", "candidate", "difference", "ci_low",
                 "ci_high", "se", "p_value", "p_adjusted", "n", "worse", "reason"]


@dataclass(frozen=True)
class WorseGroup:
    """A group for which the candidate is worse on one metric, beyond the evidence bar."""

    grouping: str
    group: M.GroupLabel
    metric: str
    baseline: float
    candidate: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    n: int

    def describe(self, ci: float) -> str:
        """One line for people: the metric, the group, both values, the interval and the p-value."""
        return (f"{self.metric} for {self.grouping} = {M.group_text(self.group)}: "
                f"{self.baseline:.3f} -> {self.candidate:.3f} (difference {self.difference:+.3f}, "
                f"{ci:.0%} interval [{self.ci_low:+.3f}, {self.ci_high:+.3f}]; "
                f"adjusted p = {self.p_adjusted:.2g}; {self.n:,} rows)")


@dataclass(frozen=True, eq=False)
class ComparisonResult:
    """The paired comparison of two models on the same rows (:func:`compare`).

    ``table`` has one row per grouping, group and metric (columns ``grouping``, ``group``,
    ``metric``, ``direction``, ``baseline``, ``candidate``, ``difference``, ``ci_low``,
    ``ci_high``, ``se``, ``p_value``, ``p_adjusted``, ``n``, ``worse``, ``reason``: why a row
    was not judged, empty when it was). ``disparities`` has one row per grouping and disparity
    (``baseline``, ``candidate``, ``change``, ``ci_low``, ``ci_high``, ``n_groups``, ``reason``).
    """

    table: pd.DataFrame
    disparities: pd.DataFrame
    names: tuple[str, str]
    correction: str
    alpha: float
    tolerance: float
    n_boot: int
    ci: float
    seed: int | None
    min_group_size: int
    min_denominator: int
    n_rows: int
    pos_label: Any
    favourable_label: Any
    p_value_method: str = P_VALUE_METHOD
    interval_method: str = INTERVAL_METHOD

    @property
    def n_tests(self) -> int:
        """The size of the family the correction is applied over."""
        return int(self.table["p_value"].notna().sum())

    @property
    def worse(self) -> tuple[WorseGroup, ...]:
        """Every (group, metric) for which the candidate is worse, in table order."""
        rows = self.table[self.table["worse"]]
        keys = [f for f in WorseGroup.__dataclass_fields__]
        return tuple(WorseGroup(**{k: (int(r[k]) if k == "n" else r[k]) for k in keys})
                     for r in rows.to_dict("records"))

    @property
    def passed(self) -> bool:
        """No group is worse."""
        return not bool(self.table["worse"].any())

    @property
    def exit_code(self) -> int:
        """0 when no group is worse, 1 otherwise (as ``auditkit gate``)."""
        return 0 if self.passed else 1

    def settings(self) -> dict[str, Any]:
        """What decided the verdict: correction, alpha, tolerance, draws, seed, evidence bar."""
        return _formats.settings(self)

    def settings_line(self) -> str:
        """The settings in one sentence, as every format states them."""
        return _formats.settings_line(self)

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON types (non-finite numbers as ``None``)."""
        return _formats.to_dict(self)

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return _formats.to_json(self)

    def to_junit(self, suite: str = "auditkit.fairness.compare") -> str:
        """JUnit XML: one test case per group and metric; a failure where the candidate is worse."""
        return _formats.to_junit(self, suite)

    def to_markdown(self) -> str:
        """A Markdown summary for ``$GITHUB_STEP_SUMMARY`` or a pull-request comment."""
        return _formats.to_markdown(self)

    def github_annotations(self) -> list[str]:
        """GitHub Actions workflow commands: a notice with the settings, an error per worse group."""
        return _formats.github_annotations(self)


# -- judging --------------------------------------------------------------------------------
def _upper_tail(z: np.ndarray) -> np.ndarray:
    """1 − Φ(z), accurate far into the tail."""
    return np.array([0.5 * math.erfc(v / math.sqrt(2.0)) for v in z.ravel()]).reshape(z.shape)


def _p_values(h_point: np.ndarray, se: np.ndarray, tolerance: float) -> np.ndarray:
    """One-sided p-values of "harm > tolerance" from the bootstrap standard errors (module docstring)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = h_point - tolerance
        z = np.where(se > 0, excess / np.where(se > 0, se, 1.0), np.where(excess > 0, np.inf, -np.inf))
    return np.where(np.isfinite(se) & np.isfinite(h_point), _upper_tail(z), np.nan)


@dataclass(frozen=True)
class _Model:
    point: dict[str, np.ndarray]  # metric -> (G,)
    dens: dict[str, np.ndarray]  # metric -> (G,) rows in the denominator


def _model(conf: np.ndarray, names: list[str], fav_is_pos: bool) -> _Model:
    point = M.binary_metrics(conf, 1, tuple(names), favourable_is_positive=fav_is_pos)
    cells = M.confusion_binary(conf, 1)
    props = proportion_table(fav_is_pos)
    rows = cells[0] + cells[1] + cells[2] + cells[3]
    dens = {}
    for m in names:
        if m in props:
            dens[m] = props[m].denominator(cells)
        elif m in _OTHER_DENOMINATORS:
            dens[m] = _OTHER_DENOMINATORS[m][0](cells)
        else:
            dens[m] = rows
    return _Model(point, dens)


def _den_name(m: str, fav_is_pos: bool) -> str:
    props = proportion_table(fav_is_pos)
    if m in props:
        return props[m].denominator_name
    return _OTHER_DENOMINATORS[m][1] if m in _OTHER_DENOMINATORS else "rows"


def _reason(m: str, i: int, n: int, models: tuple[_Model, _Model], labels: tuple[str, str], sign: int,
            bar: tuple[int, int], fav_is_pos: bool) -> str:
    """Why the row of metric ``m`` and group ``i`` is not judged ("" when it is)."""
    min_group_size, min_denominator = bar
    if sign == 0:
        return "no direction of harm: reported, not judged"
    if n < max(min_group_size, 1):
        return f"fewer than {min_group_size} rows (min_group_size)"
    short = [lab for lab, mod in zip(labels, models, strict=True) if mod.dens[m][i] < min_denominator]
    if short:
        who = "both models" if len(short) == 2 else f"the {short[0]} model"
        return f"fewer than {min_denominator} {_den_name(m, fav_is_pos)} for {who} (min_denominator)"
    undefined = [lab for lab, mod in zip(labels, models, strict=True) if not np.isfinite(mod.point[m][i])]
    if undefined:
        return f"undefined for the {undefined[0]} model: {M.METRICS[m].undefined}"
    return ""


def _judge(grouped: Groups, models: tuple[_Model, _Model], boot: Bootstrap, adverse: bool,
           opts: dict[str, Any]) -> pd.DataFrame:
    """The table: per group and metric, the difference, its interval, p-values and the verdict."""
    fav_is_pos = not adverse
    n = grouped.tables.sum(axis=1)
    base, cand = models
    stats = {}
    metrics = list(boot.se)
    discordant = discordant_rows(grouped.tables)
    for m in metrics:
        sign = harm_sign(m, adverse)
        diff = cand.point[m] - base.point[m]
        p = _p_values(sign * diff, boot.se[m], opts["tolerance"])
        floor = exact_floor(grouped.tables, m, sign, fav_is_pos)
        if floor is not None:  # never below McNemar's exact p-value (few discordant rows)
            p = np.where(np.isfinite(p), np.maximum(p, floor), p)
        stats[m] = (sign, diff, boot.low[m], boot.high[m], boot.se[m], p, floor is None)
    rows = []
    for i in range(len(n)):  # groups are in grouping order
        for m in metrics:
            sign, diff, lo, hi, se, p, unpaired = stats[m]
            why = _reason(m, i, int(n[i]), models, ("baseline", "candidate"), sign,
                          (opts["min_group_size"], opts["min_denominator"]), fav_is_pos)
            if not why and unpaired and sign != 0 and discordant[i] < MIN_DISCORDANT:
                why = (f"fewer than {MIN_DISCORDANT} rows on which the two models' predictions differ "
                       "(too few for this metric's test)")
            if not why and not np.isfinite(p[i]):
                why = "undefined in most bootstrap draws"
            rows.append({
                "grouping": grouped.names[i], "group": grouped.labels[i], "metric": m,
                "direction": _DIRECTION[sign], "baseline": float(base.point[m][i]),
                "candidate": float(cand.point[m][i]), "difference": float(diff[i]),
                "ci_low": float(lo[i]), "ci_high": float(hi[i]), "se": float(se[i]),
                "p_value": math.nan if why else float(p[i]), "p_adjusted": math.nan,
                "n": int(n[i]), "worse": False, "reason": why,
            })
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["p_adjusted"] = adjust(table["p_value"].to_numpy(dtype=float), opts["correction"])
    table["worse"] = (table["p_adjusted"] < opts["alpha"]).to_numpy()
    return table


def _eligible(grouped: Groups, models: tuple[_Model, _Model], bar: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per disparity base metric, the groups that clear the evidence bar for both models."""
    n = grouped.tables.sum(axis=1)
    bases = {b for parts in DISPARITIES.values() for b in parts}
    return {b: (n >= max(bar[0], 1)) & (models[0].dens[b] >= bar[1]) & (models[1].dens[b] >= bar[1])
            for b in sorted(bases)}


def _disparities(grouped: Groups, models: tuple[_Model, _Model], eligible: dict[str, np.ndarray],
                 boot: Bootstrap, ci: float) -> pd.DataFrame:
    """The change of each directed disparity per grouping, over the groups evidenced for both."""
    rows = []
    for grouping, sl in grouped.slices:
        for name, bases in DISPARITIES.items():
            point = [float(disparity_value(mod.point, eligible, bases, "difference", sl)) for mod in models]
            lo, hi = quantile_interval(boot.changes[(grouping, name)][:, None], ci)
            n_groups = int(np.logical_and.reduce([eligible[b][sl] for b in bases]).sum())
            defined = all(math.isfinite(x) for x in point)
            rows.append({
                "grouping": grouping, "disparity": name, "direction": "higher is worse",
                "baseline": point[0], "candidate": point[1], "change": point[1] - point[0],
                "ci_low": float(lo[0]) if defined else math.nan,
                "ci_high": float(hi[0]) if defined else math.nan, "n_groups": n_groups,
                "reason": "" if defined else "fewer than two groups clear the evidence bar for both models",
            })
    return pd.DataFrame(rows, columns=["grouping", "disparity", "direction", "baseline", "candidate",
                                       "change", "ci_low", "ci_high", "n_groups", "reason"])


def compare(
    y_true: Any,
    baseline: Any,
    candidate: Any,
    sensitive_features: Any,
    *,
    metrics: Sequence[str] | None = None,
    n_boot: int = 2000,
    ci: float = 0.95,
    alpha: float = 0.05,
    correction: str = "holm",
    tolerance: float = 0.0,
    min_group_size: int = 30,
    min_denominator: int = 30,
    intersectional: bool = True,
    pos_label: Any = None,
    favourable_label: Any = None,
    random_state: int | np.random.Generator | None = None,
    names: tuple[str, str] = ("baseline", "candidate"),
) -> ComparisonResult:
    """Compare two binary classifiers on the same rows, group by group, with paired intervals.

    Parameters
    ----------
    y_true, baseline, candidate:
        True labels and both models' predictions for the same rows, in the same order (0/1, or
        two classes with ``pos_label``).
    sensitive_features:
        One or more protected attributes (Series, DataFrame, array, dict of arrays); missing
        values form the group ``"<missing>"``.
    metrics:
        Group metrics to compare (default :data:`DEFAULT_METRICS`: selection rate, true and
        false positive rates, positive and negative predictive values, accuracy, balanced
        accuracy and F1; any binary metric of the audit by name).
    n_boot, ci:
        Paired-bootstrap draws (at least 100) and the level of the intervals. The draws are
        generated and reduced in batches, so the bootstrap's arrays stay under 512 MiB whatever
        the number of groups (:data:`~auditkit.fairness._compare_boot.BOOTSTRAP_MEMORY_BYTES`).
    alpha, correction:
        The level of the verdict and the multiplicity correction over the family of group ×
        metric tests: ``"holm"`` (family-wise error rate) or ``"bh"`` (Benjamini–Hochberg, false
        discovery rate).
    tolerance:
        How much worse (in the metric's units, towards harm) the candidate may be before it
        counts: the test is of "worse by more than ``tolerance``".
    min_group_size, min_denominator:
        The evidence bar of the audit: a group is judged on a metric only with at least
        ``min_group_size`` rows and ``min_denominator`` rows in the metric's denominator for both
        models.
    intersectional:
        Also compare every intersection of the attributes.
    pos_label, favourable_label:
        The positive class (default 1 for 0/1 labels) and the favourable outcome (default the
        positive class); they set which direction of each rate is harmful.
    random_state:
        Seed of the bootstrap (None: a fresh one, stated in the result so it can be replayed).
    names:
        What to call the two models in messages and reports.

    Returns
    -------
    ComparisonResult
        ``table``, ``disparities``, ``worse``, ``passed`` and ``exit_code`` (0: no group worse,
        1: some group worse), with JSON, JUnit, Markdown and GitHub-annotation renderings.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = rng.choice(["a", "b"], 4000, p=[0.9, 0.1])
    >>> y = rng.integers(0, 2, 4000)
    >>> old = np.where(rng.random(4000) < 0.85, y, 1 - y)
    >>> new = np.where((g == "b") & (rng.random(4000) < 0.3), 1 - old, old)  # hurt group b
    >>> res = compare(y, old, new, {"g": g}, metrics=["accuracy"], n_boot=500, random_state=0)
    >>> [(w.group, w.metric) for w in res.worse], res.exit_code
    ([('b', 'accuracy')], 1)
    """
    check_params(n_boot, ci, alpha, correction, tolerance, min_group_size, min_denominator, names)
    chosen = resolve_metrics(metrics)
    codes, pos, fav = joint_codes(y_true, baseline, candidate, pos_label, favourable_label)
    grouped = groups(codes, sensitive_features, intersectional)
    rng, seed = make_rng(random_state)
    adverse = bool(fav != pos)
    needed = list(dict.fromkeys(chosen + [b for bases in DISPARITIES.values() for b in bases]))
    models = tuple(_model(c, needed, not adverse) for c in _confusions(grouped.tables))
    eligible = _eligible(grouped, models, (min_group_size, min_denominator))
    spec = Spec(signs={m: harm_sign(m, adverse) for m in chosen}, needed=tuple(needed),
                favourable_is_positive=not adverse, ci=float(ci),
                disparities=tuple((g, name, bases, sl) for g, sl in grouped.slices
                                  for name, bases in DISPARITIES.items()),
                eligible=eligible)
    boot = bootstrap(grouped.tables, n_boot, rng, spec)
    opts = {"ci": ci, "alpha": alpha, "correction": correction, "tolerance": float(tolerance),
            "min_group_size": min_group_size, "min_denominator": min_denominator}
    table = _judge(grouped, models, boot, adverse, opts)
    disp = _disparities(grouped, models, eligible, boot, ci)
    return ComparisonResult(
        table=table, disparities=disp, names=(str(names[0]), str(names[1])), correction=correction,
        alpha=float(alpha), tolerance=float(tolerance), n_boot=int(n_boot), ci=float(ci), seed=seed,
        min_group_size=int(min_group_size), min_denominator=int(min_denominator), n_rows=len(codes),
        pos_label=pos, favourable_label=fav,
    )
