"""Fairness gates: thresholds on disparities, decided on the point value or the interval.

Thresholds read ``"<disparity> <op> <number>"`` (``"demographic_parity_ratio >= 0.8"``,
``"equalized_odds_difference <= 0.1"``); ``op`` is one of ``>=``, ``>``, ``<=``, ``<``.

Decision per threshold and grouping (each attribute alone and every intersection, or the
groupings listed in the configuration):

- ``point`` mode: ``fail`` when the point value violates the threshold, else ``pass``.
- ``ci`` mode: ``fail`` only when the whole interval is on the wrong side, ``warn`` when it
  straddles the threshold, ``pass`` when it is entirely on the right side. The bootstrap uses a
  fixed seed (``random_state``, default 0), so the same data always gives the same verdict.
- ``insufficient_evidence`` when the disparity is undefined (fewer than two groups of at least
  ``min_group_size`` rows with a defined value), or when the verdict would be pass/warn but some
  groups were left out for being too small (they cannot be vouched for). With
  ``fail_on_insufficient_evidence = true`` it counts as a failure.

A threshold's status is the worst over its groupings (fail > warn > insufficient_evidence > pass).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.fairness.errors import FairnessInputError, UnfairError, closest

__all__ = [
    "GateConfig",
    "GateOutcome",
    "GateReport",
    "Threshold",
    "assert_fair",
    "evaluate_gate",
    "load_thresholds",
    "parse_threshold",
]

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_RANK = {"pass": 0, "insufficient_evidence": 1, "warn": 2, "fail": 3}
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_\[\]\-. ]*?)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")
MODES = ("point", "ci")


@dataclass(frozen=True)
class Threshold:
    """``disparity op value``, e.g. ``Threshold("demographic_parity_ratio", ">=", 0.8)``."""

    disparity: str
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise FairnessInputError(
                f"Threshold operator {self.op!r} is not one of {list(_OPS)}."
            )

    def __str__(self) -> str:
        return f"{self.disparity} {self.op} {self.value:g}"

    @property
    def lower_bound(self) -> bool:
        """Whether the threshold is a lower bound (``>=``/``>``)."""
        return self.op.startswith(">")

    def holds(self, x: float) -> bool:
        return bool(_OPS[self.op](x, self.value))


def parse_threshold(spec: str | Threshold | tuple[str, str]) -> Threshold:
    """Parse ``"demographic_parity_ratio >= 0.8"`` (or ``("name", ">= 0.8")``)."""
    if isinstance(spec, Threshold):
        return spec
    text = f"{spec[0]} {spec[1]}" if isinstance(spec, tuple) else str(spec)
    m = _PATTERN.match(text)
    if not m:
        raise FairnessInputError(
            f"Cannot read the threshold {text!r}: expected '<disparity> <op> <number>' with op one "
            "of >=, >, <=, <, e.g. 'demographic_parity_ratio >= 0.8'."
        )
    try:
        value = float(m.group(3))
    except ValueError:
        raise FairnessInputError(f"The threshold {text!r} does not end in a number.") from None
    if not math.isfinite(value):
        raise FairnessInputError(f"The threshold {text!r} must end in a finite number.")
    name = m.group(1).strip()
    known = known_disparities()
    if name not in known:
        raise FairnessInputError(
            f"The threshold {text!r} names no known disparity.{closest(name, known)} Known: "
            "the names of DISPARITY_ALIASES, and <metric>_difference / <metric>_ratio for every "
            "metric in METRICS (docs/fairness.md)."
        )
    return Threshold(name, m.group(2), value)


def known_disparities() -> tuple[str, ...]:
    """Every disparity name a threshold may use (whether an audit computes it depends on its
    metrics: a score-based one needs ``y_score``)."""
    from auditkit.fairness._metrics import DISPARITY_ALIASES, METRICS

    per_metric = [f"{m}_{kind}" for m in METRICS if m != "impact_ratio"
                  for kind in ("difference", "ratio")]
    return (*DISPARITY_ALIASES, *per_metric)


def _parse_many(raw: Any) -> list[Threshold]:
    if raw is None:
        return []
    if isinstance(raw, (str, Threshold)):
        raw = [raw]
    if isinstance(raw, Mapping):
        return [parse_threshold((k, v if isinstance(v, str) else f">= {v}")) for k, v in raw.items()]
    return [parse_threshold(t) for t in raw]


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

    KEYS = ("thresholds", "mode", "ci", "n_boot", "min_group_size", "intersectional", "groupings",
            "fail_on_insufficient_evidence", "random_state", "pos_label")

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise FairnessInputError(
                f"The gate 'mode' must be one of {list(MODES)}; got {self.mode!r}.{closest(self.mode, MODES)}"
            )

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, source: str = "configuration") -> GateConfig:
        unknown = [k for k in table if k not in cls.KEYS]
        if unknown:
            k = unknown[0]
            raise FairnessInputError(
                f"Unknown key {k!r} in the fairness {source}.{closest(k, cls.KEYS)} "
                f"Known keys: {', '.join(cls.KEYS)}."
            )
        kw = dict(table)
        kw["thresholds"] = tuple(_parse_many(kw.get("thresholds")))
        if kw.get("groupings") is not None:
            g = kw["groupings"]
            kw["groupings"] = (g,) if isinstance(g, str) else tuple(g)
        return cls(**kw)


def load_thresholds(path: str | Path | None = None) -> GateConfig:
    """The gate configuration from ``pyproject.toml`` or ``audit.toml``.

    ``pyproject.toml``: the ``[tool.auditkit.fairness]`` table. ``audit.toml``: the
    ``[checks.fairness]`` table. With no path, ``./pyproject.toml`` is read.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    p = Path(path) if path is not None else Path("pyproject.toml")
    if not p.is_file():
        raise FairnessInputError(
            f"The gate configuration file {str(p)!r} does not exist. Pass --config with a "
            "pyproject.toml ([tool.auditkit.fairness]) or an audit.toml ([checks.fairness])."
        )
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FairnessInputError(f"{str(p)!r} is not valid TOML: {exc}.") from None
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

    # The CI formats live in _gate_formats (it imports this module, hence the late imports).
    def to_junit(self, suite: str = "auditkit.fairness") -> str:
        """JUnit XML: one test case per threshold; failures carry the offending groups."""
        from auditkit.fairness._gate_formats import to_junit

        return to_junit(self, suite)

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON (non-finite numbers as ``null``)."""
        from auditkit.fairness._gate_formats import to_json

        return to_json(self)

    def to_markdown(self) -> str:
        """A Markdown table for a CI job summary or a pull-request comment."""
        from auditkit.fairness._gate_formats import to_markdown

        return to_markdown(self)

    def github_annotations(self) -> list[str]:
        """GitHub Actions workflow commands (``::error``/``::warning``), one per threshold."""
        from auditkit.fairness._gate_formats import github_annotations

        return github_annotations(self)

    def to_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return x if isinstance(x, float) and math.isfinite(x) else None

        return {
            "status": self.status,
            "passed": self.passed,
            "mode": self.mode,
            "ci": self.ci,
            "n_rows": self.n_rows,
            "thresholds": [
                {"threshold": o.name, "status": o.status, "grouping": o.grouping,
                 "value": num(o.value), "ci_low": num(o.ci_low), "ci_high": num(o.ci_high),
                 "message": o.message,
                 "groupings": [{k: (num(v) if isinstance(v, float) else v) for k, v in d.items()}
                               for d in o.details]}
                for o in self.outcomes
            ],
        }


def _decide(t: Threshold, value: float, lo: float, hi: float, mode: str) -> str:
    if mode == "point" or not (math.isfinite(lo) and math.isfinite(hi)):
        return "pass" if t.holds(value) else "fail"
    good_lo, good_hi = t.holds(lo), t.holds(hi)
    if good_lo and good_hi:
        return "pass"
    if not good_lo and not good_hi:
        return "fail"
    return "warn"


def evaluate_gate(result: Any, config: GateConfig | Sequence[str | Threshold]) -> GateReport:
    """Decide every threshold of ``config`` on a :class:`~auditkit.fairness.FairnessResult`."""
    from auditkit.fairness._metrics import DISPARITY_ALIASES, METRICS

    if not isinstance(config, GateConfig):
        config = GateConfig(thresholds=tuple(_parse_many(config)))
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
                f"{closest(g, result.groupings)} Groupings: {', '.join(result.groupings)}."
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
                f"{closest(t.disparity, possible)}"
            )
        details = []
        for g in groupings:
            row = result.disparities.loc[(g, t.disparity)]
            value, lo, hi = float(row["value"]), float(row["ci_low"]), float(row["ci_high"])
            if math.isnan(value):
                status, why = "insufficient_evidence", row["reason"]
            else:
                status = _decide(t, value, lo, hi, config.mode)
                why = ""
                if status != "fail" and row["n_small"] > 0:
                    status = "insufficient_evidence"
                    why = (f"{int(row['n_small'])} group(s) below min_group_size={result.min_group_size} "
                           "could not be assessed")
            details.append({"grouping": g, "status": status, "value": value, "ci_low": lo,
                            "ci_high": hi, "max_group": row["max_group"], "min_group": row["min_group"],
                            "n_groups": int(row["n_groups"]), "n_small": int(row["n_small"]),
                            "reason": why})
        worst = max(details, key=lambda d: (_RANK[d["status"]], _badness(t, d["value"])))
        outcomes.append(GateOutcome(
            threshold=t, status=worst["status"], grouping=worst["grouping"], value=worst["value"],
            ci_low=worst["ci_low"], ci_high=worst["ci_high"], message=_message(t, worst, config),
            details=tuple(details), offenders=tuple(_offenders(result, t, details)),
        ))
    return GateReport(tuple(outcomes), config.mode, result.ci, config.fail_on_insufficient_evidence,
                      int(result.counts.n_rows))


def _badness(t: Threshold, value: float) -> float:
    if math.isnan(value):
        return -math.inf
    return t.value - value if t.lower_bound else value - t.value


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def _message(t: Threshold, d: dict[str, Any], config: GateConfig) -> str:
    where = f"by {d['grouping']}"
    if d["status"] == "insufficient_evidence":
        return f"{t.disparity} {where}: insufficient evidence ({d['reason']})."
    ci = f" [{_fmt(d['ci_low'])}, {_fmt(d['ci_high'])}]" if math.isfinite(d["ci_low"]) else ""
    verdict = {"pass": "meets", "warn": "interval straddles", "fail": "violates"}[d["status"]]
    extremes = f" (max: {d['max_group']}, min: {d['min_group']})"
    return f"{t.disparity} {where} = {_fmt(d['value'])}{ci} {verdict} {t.op} {t.value:g}{extremes}."


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
            if grp is None:
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


def offenders_table(report: GateReport) -> str:
    """Plain-text table of the failing thresholds and their offending groups."""
    lines = []
    for o in report.outcomes:
        if o.status == "pass":
            continue
        lines.append(f"{o.status.upper()}: {o.message}")
        if o.offenders:
            lines.append(f"  {'grouping':<20} {'group':<24} {'metric':<28} {'n':>8} {'value':>7}  interval")
            for r in o.offenders:
                lines.append(
                    f"  {r['grouping'][:20]:<20} {str(r['group'])[:24]:<24} {r['metric'][:28]:<28} "
                    f"{r['n']:>8} {_fmt(r['value']):>7}  [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
                )
    return "\n".join(lines)


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
        config = GateConfig(thresholds=tuple(_parse_many(thresholds)), mode=mode,
                            fail_on_insufficient_evidence=fail_on_insufficient_evidence)
    audit_kwargs.setdefault("random_state", config.random_state)
    audit_kwargs.setdefault("n_boot", config.n_boot)
    audit_kwargs.setdefault("min_group_size", config.min_group_size)
    audit_kwargs.setdefault("intersectional", config.intersectional)
    audit_kwargs.setdefault("ci", config.ci)
    if config.pos_label is not None:
        audit_kwargs.setdefault("pos_label", config.pos_label)
    result = audit(y_true, y_pred, sensitive_features, **audit_kwargs)
    report = evaluate_gate(result, config)
    if not report.passed:
        raise UnfairError("Fairness thresholds failed:\n" + offenders_table(report))
    return report
