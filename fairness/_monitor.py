"""Monitoring over time: per-window statistics, sequential change detection, and alerts.

:func:`evaluate_monitor` turns the mergeable tables of a monitor's state (the counts table and
the features table, :mod:`auditkit.fairness._monitor_counts`) into a :class:`MonitorResult`:

- every stream of :func:`~auditkit.fairness._monitor_streams.stream_table` (group gaps of the
  monitored rates, calibration per group, the overall prediction rate) is run through the
  self-starting CUSUM of :mod:`auditkit.fairness._sequential`, with the family-wise false-alarm
  probability of each kind of stream controlled over the detector's horizon;
- feature and score drift (PSI and Jensen-Shannon against the reference windows,
  :mod:`auditkit.fairness._drift`);
- alerts, carried from run to run: an alarm first seen is ``new``; seen again, ``open``; one
  that later data (late labels, late rows of a window) no longer supports is ``retracted`` and
  kept, never dropped; ``acknowledged`` once a person has said so. An alert of a stream the
  current settings no longer follow (a metric, grouping, feature or kind removed) is not judged:
  it keeps its status and says so, so a configuration change never turns a failing run green.

A window is judged only once it is closed (a later window has rows, or its end has passed, or a
row window is full); label-based rates of a window only once the share of its rows with a label
reaches ``label_completeness``. A group enters a stream in a window only with the audit's
evidence: ``min_group_size`` rows and ``min_denominator`` rows in the rate's denominator, for
the group and for the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness._drift import ReferenceSpec, drift_table
from auditkit.fairness._monitor_audit import window_disparities
from auditkit.fairness._monitor_streams import RATES, binary_labels, stream_table
from auditkit.fairness._sequential import DetectorSpec, detect
from auditkit.fairness._sequential_counts import MIN_EXPECTED, detect_rate
from auditkit.fairness.errors import FairnessInputError

__all__ = ["ALERT_KINDS", "ALERT_STATUSES", "Alert", "MonitorResult", "MonitorSpec", "WindowSummary",
           "evaluate_monitor"]

#: The kinds of alert, each with its own family-wise false-alarm budget.
ALERT_KINDS = ("fairness", "calibration", "drift")
#: An alert's life: new (raised by this run), open (raised before, still supported), retracted
#: (no longer supported by the data), acknowledged (a person has taken note; kept).
ALERT_STATUSES = ("new", "open", "retracted", "acknowledged")
_DEFAULT_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate")


@dataclass(frozen=True)
class MonitorSpec:
    """What the monitor follows and how it decides.

    Parameters
    ----------
    metrics:
        Rates followed per group, as gaps to the rest of the grouping (names of
        :data:`~auditkit.fairness._monitor_streams.RATES`). Label-based ones are judged per
        window once its labels are complete enough.
    positive_label, favourable_label:
        The positive prediction (default ``"1"``/``"True"`` for 0/1 predictions) and the
        favourable one (default: the positive one).
    detector:
        The change detector: horizon, family-wise ``alpha`` per kind of stream, ``k``, warmup.
    reference, drift_alpha, psi_threshold, drift_min_rows:
        Drift: reference windows, family-wise level of the PSI critical value, the PSI a
        change must also exceed, and the rows each side needs.
    label_completeness:
        Share of a window's rows that must carry a label before its label-based rates are judged.
    min_group_size, min_denominator:
        The audit's evidence rule, per group and window.
    intersectional:
        Also follow the intersection of the protected attributes.
    fail_on:
        Kinds of alert that fail the run (exit 1) while not acknowledged or retracted.
    n_boot, disparities:
        Bootstrap draws behind the intervals of each window's audit disparities, and whether to
        compute them (they inform the report; alerts do not depend on them).
    """

    metrics: tuple[str, ...] = _DEFAULT_METRICS
    positive_label: str | None = None
    favourable_label: str | None = None
    detector: DetectorSpec = field(default_factory=DetectorSpec)
    reference: ReferenceSpec = field(default_factory=ReferenceSpec)
    drift_alpha: float = 0.05
    psi_threshold: float = 0.2
    drift_min_rows: int = 100
    label_completeness: float = 0.9
    min_group_size: int = 30
    min_denominator: int = 30
    intersectional: bool = False
    calibration: bool = True
    fail_on: tuple[str, ...] = ("fairness",)
    n_boot: int = 500
    disparities: bool = True

    def __post_init__(self) -> None:
        bad = [m for m in self.metrics if m not in RATES]
        if bad or not self.metrics:
            raise FairnessInputError(
                f"metrics must name rates the monitor follows ({', '.join(RATES)}); got "
                f"{', '.join(map(repr, bad)) or 'none'}.")
        wrong = [k for k in self.fail_on if k not in ALERT_KINDS]
        if wrong:
            raise FairnessInputError(
                f"fail_on takes {', '.join(ALERT_KINDS)}; got {', '.join(map(repr, wrong))}.")
        if not 0.0 < self.label_completeness <= 1.0:
            raise FairnessInputError(
                f"label_completeness is a share in (0, 1]; got {self.label_completeness!r}.")
        for name in ("min_group_size", "min_denominator", "drift_min_rows"):
            if int(getattr(self, name)) < 1:
                raise FairnessInputError(f"{name} must be at least 1; got {getattr(self, name)!r}.")
        if not 100 <= int(self.n_boot) <= 100_000:
            raise FairnessInputError(f"n_boot (bootstrap draws of each window's disparities) must be 100 to "
                                     f"100,000; got {self.n_boot!r}.")


@dataclass(frozen=True)
class WindowSummary:
    """One window: its index and label, rows, the share with a label, and whether it is judged."""

    index: int
    label: str
    rows: int
    labelled_share: float
    closed: bool
    labels_judged: bool


@dataclass(frozen=True)
class Alert:
    """An alarm of the change detector (or a drift test) on one stream in one window."""

    id: str
    kind: str
    metric: str
    grouping: str
    group: str
    window: int
    window_label: str
    statistic: float
    threshold: float
    direction: str
    estimate: float
    baseline: float
    evidence: str
    status: str = "new"
    raised_run: int = 0
    changed_run: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        """Inverse of :meth:`to_dict`; a dict of another form is refused (:class:`FairnessInputError`)."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in d.items() if k in known}
        text = ("id", "kind", "metric", "grouping", "group", "window_label", "direction", "evidence", "status", "note")
        ok = (all(isinstance(values.get(k, ""), str) for k in text) and values.get("kind") in ALERT_KINDS
              and values.get("status", "new") in ALERT_STATUSES
              and all(isinstance(values.get(k, 0), int) and not isinstance(values.get(k, 0), bool)
                      for k in ("window", "raised_run"))
              and isinstance(values.get("changed_run"), (int, type(None))))
        try:
            for k in ("statistic", "threshold", "estimate", "baseline"):
                values[k] = float("nan") if values.get(k) is None else float(values[k])
            alert = cls(**values) if ok else None
        except (TypeError, ValueError):
            alert = None
        if alert is None:
            raise FairnessInputError("An alert of the monitor's history has the wrong form.")
        return alert

    def describe(self) -> str:
        """One line: what moved, where, when, and the evidence."""
        where = f"group {self.group!r} of {self.grouping}" if self.grouping else "all rows"
        return f"{self.metric} of {where} in {self.window_label}: {self.evidence}"

    @property
    def active(self) -> bool:
        """Raised and neither retracted nor acknowledged."""
        return self.status in ("new", "open")


def alert_id(kind: str, metric: str, grouping: str, group: str, window: int, key: str = "") -> str:
    """A stable id of an alert: the same stream and window give the same id in every run.

    With ``key`` (the state's random key) it is a keyed hash (HMAC-SHA-256), so a published id
    does not let anyone test guesses of a hidden group's label against it.
    """
    import hmac

    text = "\x1f".join([kind, metric, grouping, group, str(int(window))])
    return hmac.new(key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()[:12]


@dataclass
class MonitorResult:
    """What one evaluation of the monitor found (see the module docstring).

    ``series`` has one row per stream and window (the columns of ``stream_table`` plus ``ci_low``
    and ``ci_high`` of the group's rate, ``usable``, ``z``, ``upper``, ``lower``, ``baseline``,
    ``threshold`` and ``alarm``); ``drift`` one row per window, feature, grouping and group.
    """

    windows: list[WindowSummary]
    series: pd.DataFrame
    drift: pd.DataFrame
    alerts: list[Alert]
    spec: MonitorSpec
    run: int = 0
    n_streams: dict[str, int] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    #: The levels of each protected attribute seen in the log, and the categories kept for each
    #: categorical feature (for the caller's decisions on what outputs may show).
    levels: dict[str, list[str]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    #: The audit's disparities of every closed window, with its bootstrap intervals
    #: (:func:`~auditkit.fairness._monitor_audit.window_disparities`).
    disparities: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def failing(self) -> list[Alert]:
        """Active alerts of the kinds in ``fail_on``."""
        return [a for a in self.alerts if a.active and a.kind in self.spec.fail_on]

    @property
    def passed(self) -> bool:
        return not self.failing

    @property
    def exit_code(self) -> int:
        """0 no active alert of a failing kind, 1 otherwise (the gate's scheme)."""
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        from auditkit.fairness._monitor_formats import to_dict

        return to_dict(self)

    def to_json(self) -> str:
        from auditkit.fairness._monitor_formats import to_json

        return to_json(self)

    def to_junit(self, suite: str = "auditkit.monitor") -> str:
        from auditkit.fairness._monitor_formats import to_junit

        return to_junit(self, suite)

    def to_markdown(self) -> str:
        from auditkit.fairness._monitor_formats import to_markdown

        return to_markdown(self)

    def github_annotations(self) -> list[str]:
        from auditkit.fairness._monitor_formats import github_annotations

        return github_annotations(self)


def _wilson_band(x: np.ndarray, d: np.ndarray, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    from auditkit.fairness._intervals import wilson

    lo, hi = wilson(np.nan_to_num(x), np.nan_to_num(d), ci)
    return np.where(d > 0, lo, np.nan), np.where(d > 0, hi, np.nan)


def _usable(series: pd.DataFrame, spec: MonitorSpec, judged: Mapping[int, tuple[bool, bool]]) -> np.ndarray:
    closed = series["window"].map(lambda w: judged.get(int(w), (False, False))[0]).to_numpy(bool)
    labels_ok = series["window"].map(lambda w: judged.get(int(w), (False, False))[1]).to_numpy(bool)
    needs = series["metric"].map(lambda m: RATES[m].needs_labels if m in RATES else m == "calibration_gap")
    enough = (series["n"].to_numpy(float) >= spec.min_group_size) & (
        series["denominator"].to_numpy(float) >= spec.min_denominator)
    rest = series["rest_denominator"].to_numpy(float)
    enough &= np.isnan(rest) | (rest >= spec.min_denominator)
    # calibration: the mean of (score - label) is near normal only with enough of each outcome
    pos, n = series["positives"].to_numpy(float), series["denominator"].to_numpy(float)
    enough &= np.isnan(pos) | (np.minimum(pos, n - pos) >= MIN_EXPECTED)
    return closed & (labels_ok | ~needs.to_numpy(bool)) & enough & np.isfinite(series["estimate"].to_numpy(float))


def _trace(rows: pd.DataFrame, spec: MonitorSpec, n_streams: int) -> Any:
    """The detector on one stream: counts-based for rates and rate gaps (pooled null variances,
    minimum expected counts: :func:`detect_rate`), plug-in errors for the calibration gap."""
    usable = rows["usable"].to_numpy(bool)
    kind = rows["kind"].iloc[0]
    if kind == "fairness":
        return detect_rate(rows["numerator"].to_numpy(float), rows["denominator"].to_numpy(float),
                           rows["rest_numerator"].to_numpy(float), rows["rest_denominator"].to_numpy(float),
                           usable, spec.detector, n_streams=n_streams)
    if kind == "drift":
        return detect_rate(rows["numerator"].to_numpy(float), rows["denominator"].to_numpy(float), usable=usable,
                           spec=spec.detector, n_streams=n_streams)
    return detect(rows["estimate"].to_numpy(float), rows["se"].to_numpy(float), usable, spec.detector,
                  n_streams=n_streams)


def _detect_all(series: pd.DataFrame, spec: MonitorSpec,
                min_streams: Mapping[str, int]) -> tuple[pd.DataFrame, dict[str, int], dict[str, float]]:
    """Every stream through the detector. The family of a kind (Bonferroni) is its streams that
    have a usable window: a group that never clears the evidence rule can raise nothing."""
    keys = ["kind", "metric", "grouping", "group"]
    live = series[series["usable"]]
    n_streams = {k: max(int(live.loc[live["kind"] == k, keys].drop_duplicates().shape[0]), int(min_streams.get(k, 0)))
                 for k in ALERT_KINDS}
    extra = {c: np.full(len(series), np.nan) for c in ("z", "upper", "lower", "baseline", "threshold")}
    extra["alarm"] = np.zeros(len(series), dtype=bool)
    thresholds: dict[str, float] = {}
    for key, idx in series.groupby(keys, sort=False).indices.items():
        rows = series.iloc[idx]
        if not rows["usable"].any():
            continue
        trace = _trace(rows, spec, max(n_streams[key[0]], 1))
        for c in ("z", "upper", "lower", "baseline"):
            extra[c][idx] = getattr(trace, c)
        extra["threshold"][idx] = trace.threshold
        extra["alarm"][idx] = trace.alarm
        thresholds[key[0]] = float(trace.threshold)
    return series.assign(**extra), n_streams, thresholds


def _fmt(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.3f}"


def _stream_alerts(series: pd.DataFrame, label_of: Mapping[int, str], key: str = "") -> list[Alert]:
    out = []
    for r in series[series["alarm"]].itertuples(index=False):
        up = r.upper >= r.lower
        what = {"fairness": "gap to the rest", "calibration": "mean score minus positive rate",
                "drift": "rate"}[r.kind]
        stat = r.upper if up else r.lower
        evidence = (f"{what} moved {'up' if up else 'down'} from {_fmt(r.baseline)} (baseline) to "
                    f"{_fmt(r.estimate)} (CUSUM {stat:.2f} > {r.threshold:.2f}; n={int(r.n)})")
        out.append(Alert(alert_id(r.kind, r.metric, r.grouping, r.group, r.window, key), r.kind, r.metric, r.grouping,
                         r.group, int(r.window), label_of[int(r.window)], float(stat), float(r.threshold),
                         "up" if up else "down", float(r.estimate), float(r.baseline), evidence))
    return out


def _drift_alerts(drift: pd.DataFrame, label_of: Mapping[int, str], key: str = "") -> list[Alert]:
    out = []
    if drift.empty:
        return out
    for r in drift[drift["alarm"].astype(bool)].itertuples(index=False):
        limit = float(r.threshold)
        evidence = (f"PSI {r.psi:.3f} > {limit:.3f}, Jensen-Shannon {r.js:.3f} ({int(r.n_current)} rows "
                    f"against {int(r.n_reference)} in the reference)")
        out.append(Alert(alert_id("drift", str(r.feature), str(r.grouping), str(r.group), r.window, key), "drift",
                         f"psi:{r.feature}", str(r.grouping), str(r.group), int(r.window),
                         label_of.get(int(r.window), str(r.window)), float(r.psi), limit, "up", float(r.psi),
                         float("nan"), evidence))
    return out


_RETRACTED = ("no longer supported by the data (late labels or late rows changed the windows it was raised "
              "on)")
_RETRACTED_SETTINGS = ("no longer raised under this run's settings, which differ from the previous run's (or "
                       "late data changed the windows it was raised on)")
_NOT_FOLLOWED = ("its stream is not followed under this run's settings (metric, grouping, feature or kind "
                 "removed); kept as it was: acknowledge it to stop it failing")


def merge_alerts(current: Sequence[Alert], previous: Sequence[Alert], run: int,
                 followed: frozenset[tuple[str, str, str]] | None = None, settings_changed: bool = False) -> list[Alert]:
    """Carry alerts across runs: new, open, retracted (kept) or acknowledged (kept).

    An earlier alert whose stream (kind, metric, grouping) is not in ``followed`` (when given) is
    not judged by this run: it keeps its status (a new one becomes open) and says why. Changing
    the configuration never turns an alert green by itself.
    """
    now = {a.id: a for a in current}
    out: list[Alert] = []
    for p in previous:
        c = now.pop(p.id, None)
        if p.status == "acknowledged":
            out.append(p if c is None else replace(c, status="acknowledged", raised_run=p.raised_run,
                                                   changed_run=p.changed_run, note=p.note))
        elif c is not None:
            out.append(replace(c, status="open", raised_run=p.raised_run,
                               changed_run=run if p.status == "retracted" else p.changed_run))
        elif followed is not None and (p.kind, p.metric, p.grouping) not in followed:
            out.append(replace(p, status="open" if p.status == "new" else p.status,
                               note=_NOT_FOLLOWED if p.active else p.note))
        elif p.status == "retracted":
            out.append(p)
        else:
            out.append(replace(p, status="retracted", changed_run=run,
                               note=_RETRACTED_SETTINGS if settings_changed else _RETRACTED))
    out.extend(replace(c, status="new", raised_run=run) for c in now.values())
    return sorted(out, key=lambda a: (a.window, a.kind, a.metric, a.grouping, a.group))


def _followed(series: pd.DataFrame, drift: pd.DataFrame) -> frozenset[tuple[str, str, str]]:
    """The (kind, metric, grouping) of every stream this evaluation follows."""
    keys = {(str(k), str(m), str(g)) for k, m, g in series[["kind", "metric", "grouping"]].drop_duplicates()
            .itertuples(index=False)}
    if not drift.empty:
        keys |= {("drift", f"psi:{f}", str(g)) for f, g in drift[["feature", "grouping"]].drop_duplicates()
                 .itertuples(index=False)}
    return frozenset(keys)


def evaluate_monitor(counts: pd.DataFrame, features: pd.DataFrame, *, attributes: Sequence[str],
                     windows: Sequence[WindowSummary], spec: MonitorSpec | None = None,
                     previous_alerts: Sequence[Alert] = (), run: int = 0,
                     score_features: pd.DataFrame | None = None, settings_changed: bool = False,
                     id_key: str = "", min_streams: Mapping[str, int] | None = None) -> MonitorResult:
    """Evaluate the monitor on the state's tables (see the module docstring).

    ``windows`` says which windows are closed and which have labels complete enough to judge
    (the run layer builds them from the state: :func:`window_summaries`). ``settings_changed``
    says that the decision settings differ from the previous run's (named in retraction notes).
    ``id_key`` keys the alert ids (:func:`alert_id`). ``min_streams`` is the largest family of
    each kind an earlier run used: a family never shrinks between runs, so a later run never
    judges with a lower threshold than an earlier one did.
    """
    spec = spec or MonitorSpec()
    if counts.empty:
        return MonitorResult(list(windows), pd.DataFrame(), pd.DataFrame(), list(previous_alerts), spec, run)
    positive, favourable = binary_labels(counts, spec.positive_label, spec.favourable_label)
    series = stream_table(counts, attributes, spec.metrics, positive=positive, favourable=favourable,
                          intersectional=spec.intersectional, calibration=spec.calibration)
    judged = {w.index: (w.closed, w.labels_judged) for w in windows}
    label_of = {w.index: w.label for w in windows}
    series["usable"] = _usable(series, spec, judged)
    series["ci_low"], series["ci_high"] = _wilson_band(series["numerator"].to_numpy(float),
                                                       series["denominator"].to_numpy(float))
    cal = series["kind"] == "calibration"
    series.loc[cal, "ci_low"] = series.loc[cal, "value"] - 1.96 * series.loc[cal, "se"]
    series.loc[cal, "ci_high"] = series.loc[cal, "value"] + 1.96 * series.loc[cal, "se"]
    series, n_streams, thresholds = _detect_all(series, spec, min_streams or {})
    drift = _drift(features, score_features, spec, [w.index for w in windows if w.closed])
    current = _stream_alerts(series, label_of, id_key) + _drift_alerts(drift, label_of, id_key)
    alerts = merge_alerts(current, previous_alerts, run, _followed(series, drift), settings_changed)
    levels = {a: sorted({str(v) for v in counts[a].dropna().unique()}) for a in attributes}
    disparities = (window_disparities(counts, attributes, windows, spec, positive=positive, favourable=favourable)
                   if spec.disparities else pd.DataFrame())
    return MonitorResult(list(windows), series, drift, alerts, spec, run, n_streams, thresholds, levels,
                         disparities=disparities)


def _drift(features: pd.DataFrame, score_features: pd.DataFrame | None, spec: MonitorSpec,
           closed: Sequence[int]) -> pd.DataFrame:
    tables = [t for t in (features, score_features) if t is not None and not t.empty]
    if not tables or not closed:
        return pd.DataFrame()
    table = pd.concat(tables, ignore_index=True)
    table = table[table["window"].isin(list(closed))]
    if table.empty:
        return pd.DataFrame()
    # drift_table holds its level per window; over the horizon's windows (Bonferroni) it is per horizon,
    # like the fairness streams
    return drift_table(table, np.asarray(sorted(closed), dtype=np.int64), spec.reference,
                       alpha=spec.drift_alpha / spec.detector.horizon, psi_threshold=spec.psi_threshold,
                       min_rows=spec.drift_min_rows)


def score_feature_table(counts: pd.DataFrame, attributes: Sequence[str]) -> pd.DataFrame:
    """The score histogram as a features table (feature ``"score"``), for score drift."""
    scored = counts[counts["score_bin"] >= 0]
    if scored.empty:
        return pd.DataFrame(columns=["window", "feature", "grouping", "group", "bin", "n"])
    parts = [scored.groupby(["window", "score_bin"])["n"].sum().reset_index().assign(grouping="", group="")]
    for a in attributes:
        g = scored.groupby(["window", a, "score_bin"])["n"].sum().reset_index()
        parts.append(g.rename(columns={a: "group"}).assign(grouping=a))
    out = pd.concat(parts, ignore_index=True).rename(columns={"score_bin": "bin"})
    out["feature"] = "score"
    out["group"] = out["group"].astype(str)
    return out[["window", "feature", "grouping", "group", "bin", "n"]]
