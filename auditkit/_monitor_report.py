"""The monitor's trend report: a :class:`~auditkit.reports.Report` built from a MonitorResult.

One area section, "Monitoring over time": a finding per kind of stream (fairness, calibration,
drift) with its verdict, a chart per alerting stream (the group's rate per window with its 95%
band, the rest of its grouping beside it, the alarm windows marked), the alerts table (window,
group, evidence, status) and the decision rules. Rendered by the report renderers like an audit
(HTML, Markdown, JSON, PDF).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from auditkit import __version__
from auditkit.reports import Figure, Finding, Report, Section, Table

__all__ = ["monitor_report"]

_MAX_CHARTS = 12
_KIND_TITLE = {"fairness": "Fairness over time", "calibration": "Calibration over time",
               "drift": "Drift of the predictions and features"}


def _chart(series: Any, key: tuple[str, str, str, str], labels: dict[int, str]) -> Figure:
    import matplotlib

    matplotlib.use("Agg", force=False)
    # Group labels are data: a "$" in one must print as a dollar sign, not start TeX mathtext
    # (which fails on anything it cannot parse).
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _draw(series, key, labels)


def _draw(series: Any, key: tuple[str, str, str, str], labels: dict[int, str]) -> Figure:
    import matplotlib.pyplot as plt

    kind, metric, grouping, group = key
    rows = series[(series["kind"] == kind) & (series["metric"] == metric) & (series["grouping"] == grouping)
                  & (series["group"] == group)].sort_values("window")
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    ax.plot(x, rows["value"].to_numpy(float), marker="o", markersize=3, label=f"{group}")
    ax.fill_between(x, rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float), alpha=0.25,
                    label="95% interval")
    if kind == "fairness":
        ax.plot(x, rows["rest_value"].to_numpy(float), linestyle="--", color="grey", label="rest of the grouping")
    alarm = rows["alarm"].to_numpy(bool)
    if alarm.any():
        ax.scatter(x[alarm], rows["value"].to_numpy(float)[alarm], color="red", zorder=3, s=30, label="alarm")
    ticks = x[:: max(1, len(x) // 8)]
    ax.set_xticks(ticks, [labels.get(int(w), str(w)) for w in rows["window"].to_numpy()[ticks]], fontsize=7)
    ax.set_ylabel(metric.replace("_", " "), fontsize=8)
    ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    where = f"group {group} of {grouping}" if grouping else "all rows"
    title = f"{metric.replace('_', ' ')}: {where}"
    alt = (f"{metric} per window for {where}, with its 95% interval band"
           + (" and the rate of the rest of the grouping" if kind == "fairness" else "")
           + f"; {int(alarm.sum())} alarm window(s) marked in red.")
    return Figure.from_matplotlib(title, fig, alt=alt)


def _alerts_table(result: Any) -> Table:
    rows = [(a.status, a.kind, a.window_label, a.grouping or "", a.group, a.metric, round(a.statistic, 3),
             round(a.threshold, 3), a.evidence) for a in result.alerts]
    return Table("Alerts", ("status", "kind", "window", "grouping", "group", "metric", "statistic",
                            "threshold", "evidence"), rows,
                 note="Retracted alerts are kept: later data (late labels or rows) no longer supports them.")


def _disparities_table(result: Any) -> Table | None:
    d = getattr(result, "disparities", None)
    if d is None or d.empty:
        return None
    labels = {w.index: w.label for w in result.windows}

    def num(x: Any) -> Any:
        return None if x is None or x != x else round(float(x), 4)

    rows = [(labels.get(int(r.window), str(r.window)), r.grouping, r.disparity, num(r.value), num(r.ci_low),
             num(r.ci_high), "" if r.reason != r.reason else str(r.reason))
            for r in d.itertuples(index=False)]
    return Table("The audit's disparities per window", ("window", "grouping", "disparity", "value", "ci_low",
                                                        "ci_high", "note"), rows,
                 note=f"As auditkit run computes them ({result.spec.n_boot} bootstrap draws per window); "
                      "label-based disparities only for windows whose labels are judged.",
                 placement="appendix")


def _windows_table(result: Any) -> Table:
    rows = [(w.label, w.rows, round(w.labelled_share, 3), "yes" if w.closed else "no",
             "yes" if w.labels_judged else "no") for w in result.windows]
    return Table("Windows", ("window", "rows", "labelled share", "closed", "labels judged"), rows,
                 placement="appendix")


def _decision_table(result: Any) -> Table:
    spec, det = result.spec, result.spec.detector
    rows = [
        ("change detector", "two-sided self-starting CUSUM on standardised recursive residuals "
                            "(Page 1954; Hawkins 1987)"),
        ("false alarms", f"family-wise probability <= {det.alpha} per kind of stream over {det.horizon} "
                         "windows (Bonferroni over the streams); feature and score drift (PSI) have their "
                         f"own level {spec.drift_alpha} over the horizon"),
        ("reference value k / warmup", f"{det.k} / {det.warmup} windows"),
        ("evidence rule", f"{spec.min_group_size} rows per group and {spec.min_denominator} in the "
                          "rate's denominator, per window"),
        ("labels", f"label-based rates judged once {spec.label_completeness:.0%} of a window's rows have a label"),
        ("drift", f"PSI > max({spec.psi_threshold}, chi-square critical value at {spec.drift_alpha} "
                  "family-wise); Jensen-Shannon distance reported"),
    ]
    rows += [(f"threshold ({k})", f"{v:.3f} for {result.n_streams.get(k, 0)} streams")
             for k, v in result.thresholds.items()]
    return Table("How alerts are decided", ("rule", "setting"), rows)


def _finding(result: Any, kind: str, labels: dict[int, str]) -> Finding:
    alerts = [a for a in result.alerts if a.kind == kind]
    active = [a for a in alerts if a.active]
    failing = kind in result.spec.fail_on
    status = ("fail" if failing else "warn") if active else "pass"
    keys = list(dict.fromkeys((a.kind, a.metric, a.grouping, a.group) for a in active if not a.metric.startswith("psi:")))
    figures = tuple(_chart(result.series, k, labels) for k in keys[:_MAX_CHARTS])
    n = result.n_streams.get(kind, 0)
    summary = (f"{n} stream(s) followed; {len(active)} active alert(s), "
               f"{sum(a.status == 'retracted' for a in alerts)} retracted.")
    if len(keys) > _MAX_CHARTS:
        summary += f" Charts for the first {_MAX_CHARTS} alerting streams; the JSON output holds every series."
    return Finding(f"monitor.{kind}", _KIND_TITLE[kind], status, summary=summary,
                   metrics={"streams": n, "active_alerts": len(active)}, figures=figures,
                   regulations=("euaiact-art-12-2", "euaiact-art-15-1"))


def monitor_report(result: Any, *, title: str = "Fairness monitoring", config: dict[str, Any] | None = None,
                   regulations: bool = True) -> Report:
    """The trend report of ``result`` (a :class:`~auditkit.fairness.MonitorResult`)."""
    labels = {w.index: w.label for w in result.windows}
    findings = tuple(_finding(result, k, labels) for k in ("fairness", "calibration", "drift")
                     if result.n_streams.get(k, 0) or any(a.kind == k for a in result.alerts))
    if not regulations:
        findings = tuple(Finding(f.check_id, f.title, f.status, summary=f.summary, metrics=f.metrics,
                                 figures=f.figures) for f in findings)
    section = Section("monitoring", "Monitoring over time",
                      summary=("Each window's rates by group, followed by a sequential change detector whose "
                               "false alarms are controlled over the horizon, and drift against the "
                               "reference windows."),
                      findings=findings, tables=(_alerts_table(result), _decision_table(result),
                                                 _windows_table(result),
                                                 *[t for t in (_disparities_table(result),) if t is not None]))
    meta = {"title": title, "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "tool_version": __version__, "run": result.run, "windows": len(result.windows)}
    return Report(metadata=meta, sections=(section,), config=dict(config or {}),
                  limitations=("The false-alarm guarantee rests on the normal approximation to each window's counts "
                               "(pooled null variances for rates, plug-in errors for the calibration gap); "
                               "windows with fewer than 10 expected rows of an outcome, and groups below the "
                               "evidence rule, are not judged.",))
