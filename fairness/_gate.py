"""Fairness gates: thresholds on disparities, decided on the point value or the interval.

Thresholds read ``"<disparity> <op> <number>"`` (``"demographic_parity_ratio >= 0.8"``,
``"equalized_odds_difference <= 0.1"``; :mod:`auditkit.fairness._thresholds`).

Decision per threshold and grouping (each attribute alone and every intersection, or the
groupings listed in the configuration):

- ``point`` mode: ``fail`` when the point value violates the threshold, else ``pass``.
- ``ci`` mode: ``fail`` only when the point and the whole interval are on the wrong side,
  ``pass`` when they are all on the right side, ``warn`` otherwise (the interval straddles the
  threshold, or the max − min bias puts it past the threshold while the point is not). The bootstrap uses a
  fixed seed (``random_state``, default 0), so the same data always gives the same verdict.
- Verdicts are taken over the evidenced groups only: each rate a disparity compares counts a
  group only when the rate's denominator (actual positives for a true positive rate, actual
  negatives for a false positive rate, rows for a selection rate, ...) has at least
  ``min_denominator`` rows, and the group at least ``min_group_size`` rows. A grouping with
  fewer than two such groups has no verdict (``insufficient_evidence``); the groups left out
  are counted in every message.
- A threshold's status is the worst verdict over the groupings that have one (fail > warn >
  pass); a threshold with no verdict in any grouping is ``insufficient_evidence``. With
  ``fail_on_insufficient_evidence = true`` that counts as a failure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.fairness import _gate_formats as _formats
from auditkit.fairness._metrics import group_text
from auditkit.fairness._thresholds import Threshold, parse_thresholds
from auditkit.fairness.errors import FairnessInputError, UnfairError
from auditkit.hints import did_you_mean
from auditkit.toml_files import read_toml

__all__ = [
    "GateConfig",
    "GateOutcome",
    "GateReport",
    "assert_fair",
    "evaluate_gate",
    "load_thresholds",
]

_RANK = {"pass": 0, "insufficient_evidence": 1, "warn": 2, "fail": 3}
MODES = ("point", "ci")


@dataclass(frozen=True)
class GateConfig:
    """Everything a gate needs besides the data. Built from a TOML table with :meth:`from_mapping`."""

    thresholds: tuple[Threshold, ...] = ()
    mode: str = "ci"
    ci: float = 0.95
    n_boot: int = 1000
    min_group_size: int = 30
    intersectional: bool = True
    groupings: tuple[str, ...] | None = None
    fail_on_insufficient_evidence: bool = False
    random_state: int = 0
    pos_label: Any = None
    min_denominator: int = 30
    favourable_label: Any = None
    reference_group: Mapping[str, str] | None = None

    KEYS = ("thresholds", "mode", "ci", "n_boot", "min_group_size", "intersectional", "groupings",
            "fail_on_insufficient_evidence", "random_state", "pos_label", "min_denominator",
            "favourable_label", "reference_group")

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise FairnessInputError(
                f"The gate 'mode' must be one of {list(MODES)}; got {self.mode!r}.{did_you_mean(self.mode, MODES)}"
            )
        for key in ("min_group_size", "min_denominator"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise FairnessInputError(
                    f"The gate {key!r} must be a non-negative integer; got {v!r}, e.g. {key} = 30."
                )
        if self.reference_group is not None and not isinstance(self.reference_group, Mapping):
            raise FairnessInputError(
                "The gate 'reference_group' must be a table of grouping name to group label, e.g. "
                f"reference_group = {{ race = \"White\" }}; got a {type(self.reference_group).__name__}."
            )

    def audit_kwargs(self) -> dict[str, Any]:
        """The keywords of :func:`auditkit.fairness.audit` this configuration sets."""
        kw: dict[str, Any] = {
            "random_state": self.random_state, "n_boot": self.n_boot if self.mode == "ci" else 0,
            "min_group_size": self.min_group_size, "min_denominator": self.min_denominator,
            "intersectional": self.intersectional, "ci": self.ci,
        }
        for key in ("pos_label", "favourable_label", "reference_group"):
            if getattr(self, key) is not None:
                kw[key] = dict(self.reference_group) if key == "reference_group" else getattr(self, key)
        return kw

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, source: str = "configuration") -> GateConfig:
        unknown = [k for k in table if k not in cls.KEYS]
        if unknown:
            k = unknown[0]
            raise FairnessInputError(
                f"Unknown key {k!r} in the fairness {source}.{did_you_mean(k, cls.KEYS)} "
                f"Known keys: {', '.join(cls.KEYS)}."
            )
        kw = dict(table)
        kw["thresholds"] = tuple(parse_thresholds(kw.get("thresholds")))
        if kw.get("groupings") is not None:
            g = kw["groupings"]
            kw["groupings"] = (g,) if isinstance(g, str) else tuple(g)
        return cls(**kw)


def load_thresholds(path: str | Path | None = None) -> GateConfig:
    """The gate configuration from ``pyproject.toml`` or ``audit.toml``.

    ``pyproject.toml``: the ``[tool.auditkit.fairness]`` table. ``audit.toml``: the
    ``[checks.fairness]`` table. With no path, ``./pyproject.toml`` is read.
    """
    p = Path(path) if path is not None else Path("pyproject.toml")
    data = read_toml(p, error=FairnessInputError, what="gate configuration file",
                     fix="Pass --config with a pyproject.toml ([tool.auditkit.fairness]) or an "
                         "audit.toml ([checks.fairness]).")
    table = data.get("tool", {}).get("auditkit", {}).get("fairness")
    source = f"[tool.auditkit.fairness] table of {p.name}"
    if table is None:
        table = data.get("checks", {}).get("fairness")
        source = f"[checks.fairness] table of {p.name}"
        if table is not None:
            # the runner's check options share the file; keep the gate's keys only
            table = {k: v for k, v in table.items() if k in GateConfig.KEYS}
    if table is None:
        raise FairnessInputError(
            f"{str(p)!r} has neither a [tool.auditkit.fairness] nor a [checks.fairness] table. "
            "Add one with thresholds = [\"demographic_parity_ratio >= 0.8\"]."
        )
    return GateConfig.from_mapping(table, source=source)


@dataclass(frozen=True)
class GateOutcome:
    """The verdict on one threshold."""

    threshold: Threshold
    status: str
    grouping: str | None  # the grouping that decided the status
    value: float
    ci_low: float
    ci_high: float
    message: str
    details: tuple[dict[str, Any], ...] = ()
    offenders: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    n_excluded: int = 0  # groups left out below the evidence bar, in the deciding grouping

    @property
    def name(self) -> str:
        return str(self.threshold)


@dataclass(frozen=True)
class GateReport:
    """All threshold outcomes of one gate run."""

    outcomes: tuple[GateOutcome, ...]
    mode: str
    ci: float
    fail_on_insufficient_evidence: bool
    n_rows: int

    @property
    def status(self) -> str:
        return max((o.status for o in self.outcomes), key=_RANK.__getitem__, default="pass")

    @property
    def failed(self) -> list[GateOutcome]:
        bad = {"fail"} | ({"insufficient_evidence"} if self.fail_on_insufficient_evidence else set())
        return [o for o in self.outcomes if o.status in bad]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    # The CI formats are written by _gate_formats.
    def to_junit(self, suite: str = "auditkit.fairness") -> str:
        """JUnit XML: one test case per threshold; failures carry the offending groups."""
        return _formats.to_junit(self, suite)

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON (non-finite numbers as ``null``)."""
        return _formats.to_json(self)

    def to_markdown(self) -> str:
        """A Markdown table for a CI job summary or a pull-request comment."""
        return _formats.to_markdown(self)

    def github_annotations(self) -> list[str]:
        """GitHub Actions workflow commands (``::error``/``::warning``), one per threshold."""
        return _formats.github_annotations(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "passed": self.passed,
            "mode": self.mode,
            "ci": self.ci,
            "n_rows": self.n_rows,
            "thresholds": [
                {"threshold": o.name, "status": o.status, "grouping": o.grouping,
                 "value": _json_value(o.value), "ci_low": _json_value(o.ci_low),
                 "ci_high": _json_value(o.ci_high),
                 "n_excluded": o.n_excluded, "message": o.message,
                 "groupings": [{k: _json_value(v) for k, v in d.items()} for d in o.details]}
                for o in self.outcomes
            ],
        }


def _json_value(v: Any) -> Any:
    """A detail as JSON: a non-finite number as None, an intersection's group as a list of levels."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return list(v) if isinstance(v, tuple) else v


def _decide(t: Threshold, value: float, lo: float, hi: float, mode: str) -> str:
    """``ci`` mode: ``pass``/``fail`` when the point and both bounds meet/violate, else ``warn``
    (an interval of max − min can lie past its own point: docs/fairness.md)."""
    if mode == "point" or not (math.isfinite(lo) and math.isfinite(hi)):
        return "pass" if t.holds(value) else "fail"
    held = (t.holds(value), t.holds(lo), t.holds(hi))
    if all(held):
        return "pass"
    if not any(held):
        return "fail"
    return "warn"


def evaluate_gate(result: Any, config: GateConfig | Sequence[str | Threshold]) -> GateReport:
    """Decide every threshold of ``config`` on a :class:`~auditkit.fairness.FairnessResult`."""
    from auditkit.fairness._metrics import DISPARITY_ALIASES, METRICS

    if not isinstance(config, GateConfig):
        config = GateConfig(thresholds=tuple(parse_thresholds(config)))
    if not config.thresholds:
        raise FairnessInputError(
            "The gate has no thresholds. Add e.g. thresholds = [\"demographic_parity_ratio >= 0.8\"]."
        )
    computed = result.disparity_names
    possible = list(DISPARITY_ALIASES) + [f"{m}_{k}" for m in METRICS for k in ("difference", "ratio")
                                          if "[" not in m]
    groupings = list(config.groupings) if config.groupings else result.groupings
    for g in groupings:
        if g not in result.groupings:
            raise FairnessInputError(
                f"The gate names grouping {g!r}, which the audit did not produce."
                f"{did_you_mean(g, result.groupings)} Groupings: {', '.join(result.groupings)}."
            )
    outcomes = []
    for t in config.thresholds:
        if t.disparity not in computed:
            if t.disparity in possible:
                raise FairnessInputError(
                    f"The threshold {str(t)!r} is on a metric that was not computed for this data "
                    "(ROC AUC and calibration need --score/y_score; regression and "
                    "classification have different metrics)."
                )
            raise FairnessInputError(
                f"Unknown disparity {t.disparity!r} in threshold {str(t)!r}."
                f"{did_you_mean(t.disparity, possible)}"
            )
        details = [_grouping_verdict(result, t, g, config) for g in groupings]
        decided = [d for d in details if d["status"] != "insufficient_evidence"] or details
        worst = max(decided, key=lambda d: (_RANK[d["status"]], _badness(t, d["value"])))
        outcomes.append(GateOutcome(
            threshold=t, status=worst["status"], grouping=worst["grouping"], value=worst["value"],
            ci_low=worst["ci_low"], ci_high=worst["ci_high"],
            message=_message(t, worst, details, result),
            details=tuple(details), offenders=tuple(_offenders(result, t, details)),
            n_excluded=int(worst["n_excluded"]),
        ))
    return GateReport(tuple(outcomes), config.mode, result.ci, config.fail_on_insufficient_evidence,
                      int(result.counts.n_rows))


def _grouping_verdict(result: Any, t: Threshold, g: str, config: GateConfig) -> dict[str, Any]:
    """The verdict on one grouping, over its evidenced groups."""
    row = result.disparities.loc[(g, t.disparity)]
    value, lo, hi = float(row["value"]), float(row["ci_low"]), float(row["ci_high"])
    n_excluded = int(row["n_excluded"]) if "n_excluded" in row.index else int(row["n_small"])
    if math.isnan(value):
        status, why = "insufficient_evidence", str(row["reason"])
    else:
        status, why = _decide(t, value, lo, hi, config.mode), ""
    return {"grouping": g, "status": status, "value": value, "ci_low": lo, "ci_high": hi,
            "max_group": row["max_group"], "min_group": row["min_group"],
            "disadvantaged_group": row.get("disadvantaged_group"),
            "n_groups": int(row["n_groups"]), "n_small": int(row["n_small"]),
            "n_excluded": n_excluded, "reason": why}


def _badness(t: Threshold, value: float) -> float:
    if math.isnan(value):
        return -math.inf
    return t.value - value if t.lower_bound else value - t.value


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def _bar(result: Any) -> str:
    return (f"the evidence bar of {getattr(result, 'min_denominator', 0)} per rate denominator and "
            f"{result.min_group_size} rows")


def _warn_words(t: Threshold, d: dict[str, Any]) -> str:
    """The interval straddles the threshold, or the point and the interval are on two sides."""
    if t.holds(d["ci_low"]) != t.holds(d["ci_high"]):
        return "interval straddles"
    return "point and interval disagree on"


def _message(t: Threshold, d: dict[str, Any], details: Sequence[dict[str, Any]], result: Any) -> str:
    if d["status"] == "insufficient_evidence":
        n_out = sum(x["n_excluded"] for x in details)
        return (f"{t.disparity}: insufficient evidence in every grouping ({d['reason']}); "
                f"{n_out} group(s) excluded in all, below {_bar(result)}.")
    where = f"by {d['grouping']}"
    ci = f" [{_fmt(d['ci_low'])}, {_fmt(d['ci_high'])}]" if math.isfinite(d["ci_low"]) else ""
    verdict = {"pass": "meets", "warn": _warn_words(t, d), "fail": "violates"}[d["status"]]
    extremes = f" (max: {group_text(d['max_group'])}, min: {group_text(d['min_group'])}"
    if d.get("disadvantaged_group") is not None:
        extremes += f"; disadvantaged: {group_text(d['disadvantaged_group'])}"
    extremes += ")"
    text = f"{t.disparity} {where} = {_fmt(d['value'])}{ci} {verdict} {t.op} {t.value:g}{extremes}."
    if d["n_excluded"]:
        text += f" {d['n_excluded']} group(s) excluded below {_bar(result)}."
    no_verdict = [x for x in details if x["status"] == "insufficient_evidence"]
    if no_verdict:
        text += f" {len(no_verdict)} grouping(s) without enough evidence for a verdict."
    return text


def _offenders(result: Any, t: Threshold, details: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The extreme groups behind each non-passing grouping, with their metric intervals."""
    from auditkit.fairness._metrics import DISPARITY_ALIASES

    bases = DISPARITY_ALIASES.get(t.disparity, ((t.disparity.rsplit("_", 1)[0],), ""))[0]
    rows = []
    for d in details:
        if d["status"] == "pass":
            continue
        for role in ("max_group", "min_group"):
            grp = d[role]
            if not isinstance(grp, (str, tuple)):  # no group decides an undecidable disparity
                continue
            for m in bases:
                key = (d["grouping"], grp)
                rows.append({
                    "grouping": d["grouping"], "group": grp, "role": role[:3], "metric": m,
                    "n": int(result.by_group.loc[key, "n"]),
                    "value": float(result.by_group.loc[key, m]),
                    "ci_low": float(result.by_group_ci_low.loc[key, m]),
                    "ci_high": float(result.by_group_ci_high.loc[key, m]),
                })
    return rows


def assert_fair(
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    thresholds: Sequence[str | Threshold] | GateConfig,
    *,
    mode: str = "ci",
    fail_on_insufficient_evidence: bool = False,
    **audit_kwargs: Any,
) -> GateReport:
    """Assert that every threshold holds; raise :class:`~auditkit.fairness.UnfairError` otherwise.

    The error message is the table of offending groups with their intervals. ``audit_kwargs``
    go to :func:`auditkit.fairness.audit` (``n_boot``, ``min_group_size``, ``y_score``, ...); the
    bootstrap seed defaults to 0 so that a test never flakes.

    >>> assert_fair(y, yhat, df[["sex"]], ["demographic_parity_ratio >= 0.8"])  # doctest: +SKIP
    """
    from auditkit.fairness._audit import audit

    if isinstance(thresholds, GateConfig):
        config = thresholds
    else:
        config = GateConfig(thresholds=tuple(parse_thresholds(thresholds)), mode=mode,
                            fail_on_insufficient_evidence=fail_on_insufficient_evidence)
    for key, value in config.audit_kwargs().items():
        if key == "n_boot":
            value = config.n_boot  # assert_fair draws in either mode, as before
        audit_kwargs.setdefault(key, value)
    result = audit(y_true, y_pred, sensitive_features, **audit_kwargs)
    report = evaluate_gate(result, config)
    if not report.passed:
        raise UnfairError("Fairness thresholds failed:\n" + _formats.offenders_table(report))
    return report
