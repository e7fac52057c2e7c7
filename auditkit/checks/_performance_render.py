"""Tables and figures of the performance-by-group check (:mod:`auditkit.checks.performance`).

Small cells are suppressed as the fairness check does: with ``suppress_small``, a group (or a
group at one score level) with fewer than ``min_group_size`` rows shows ``< min_group_size`` and
no value. A value whose denominator is under the evidence bar is marked ``(below bar)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditkit.checks._performance_eval import GroupPerf, LevelCell, PerfData
from auditkit.reports import Figure, Table

__all__ = ["Layout", "group_tables", "level_figure", "level_tables", "reliability_figure"]


@dataclass(frozen=True)
class Layout:
    """The report settings the tables need."""

    bar: int
    min_group_size: int
    suppress: bool
    worst_k: int
    ci: float
    n_boot: int

    def hidden(self, n: int) -> bool:
        return self.suppress and n < self.min_group_size


def fmt(x: Any) -> str:
    """Three decimals, or ``n/a`` for a missing or undefined value."""
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"


def _interval(v: float, lo: float, hi: float) -> str:
    return fmt(v) if not math.isfinite(v) else f"{fmt(v)} [{fmt(lo)}, {fmt(hi)}]"


def _cells(p: GroupPerf, layout: Layout, probability: bool) -> list[Any]:
    if layout.hidden(p.rows):
        return [f"< {layout.min_group_size}", None, None, None] + ([None] if probability else [])
    auc = _interval(p.auc.value, p.auc.ci_low, p.auc.ci_high)
    if not p.auc_evidenced:
        auc += " (below bar)"
    cells: list[Any] = [p.rows, p.auc.n_pos, p.auc.n_neg, auc]
    if probability:
        ece = _interval(p.ece, p.ece_low, p.ece_high)
        cells.append(ece + ("" if p.ece_evidenced else " (below bar)"))
    return cells


def _note(layout: Layout, probability: bool) -> str:
    parts = [f"AUC with DeLong {layout.ci:.0%} intervals (logit scale); it is judged only where "
             f"the group has at least {layout.bar} positives and {layout.bar} negatives."]
    if probability:
        parts.append(f"ECE over 10 equal-width score bins, corrected for the upward bias of "
                     f"small groups with a row bootstrap ({layout.n_boot} resamples; basic "
                     f"{layout.ci:.0%} intervals); judged where the group has at least "
                     f"{layout.bar} rows.")
    if layout.suppress:
        parts.append(f"Groups under {layout.min_group_size} rows are suppressed.")
    return " ".join(parts)


def group_tables(perf: list[GroupPerf], data: PerfData, layout: Layout) -> list[Table]:
    """One table per attribute; for intersections the worst ``k`` groups by AUC in the body and
    every group in the appendix."""
    probability = data.kind == "probability"
    head = ["rows", "positives", "negatives", "AUC"] + (["ECE"] if probability else [])
    note = _note(layout, probability)
    tables = []
    for name in data.singles:
        rows = [[p.group, *_cells(p, layout, probability)] for p in perf if p.grouping == name]
        tables.append(Table(f"AUC and calibration by {name}" if probability else f"AUC by {name}",
                            ["group", *head], rows, note=note))
    inter = [p for p in perf if p.grouping not in data.singles]
    if inter:
        ranked = sorted((p for p in inter if p.auc_evidenced and not layout.hidden(p.rows)
                         and math.isfinite(p.auc.value)), key=lambda p: p.auc.value)
        worst = ranked[: layout.worst_k]
        tables.append(Table(
            f"Intersections: the {len(worst)} groups with the lowest AUC",
            ["intersection", "group", *head],
            [[p.grouping, p.group, *_cells(p, layout, probability)] for p in worst],
            note=f"Of {len(ranked)} intersection groups that clear the bar "
                 f"({len(inter)} in all); every group is in the appendix. " + note))
        tables.append(Table(
            "Intersections: AUC" + (" and calibration" if probability else "") + " of every group",
            ["intersection", "group", *head],
            [[p.grouping, p.group, *_cells(p, layout, probability)] for p in inter],
            note=note, placement="appendix"))
    return tables


def _level_cell(c: LevelCell | None, layout: Layout) -> Any:
    if c is None or c.n == 0:
        return None
    if layout.hidden(c.n):
        return f"n < {layout.min_group_size}"
    text = f"{fmt(c.rate)} [{fmt(c.low)}, {fmt(c.high)}] n={c.n}"
    return text + (" (below bar)" if c.n < layout.bar else "")


def level_tables(cells: list[LevelCell], data: PerfData, layout: Layout) -> list[Table]:
    """Per attribute: the observed positive-outcome rate at each score level, by group."""
    tables = []
    for name in data.singles:
        here = [c for c in cells if c.grouping == name]
        groups = list(dict.fromkeys(c.group for c in here))
        at = {(c.level, c.group): c for c in here}
        rows = [[label, *(_level_cell(at.get((lv, g)), layout) for g in groups)]
                for lv, label in enumerate(data.level_labels)]
        tables.append(Table(
            f"Observed outcome rate by score level and {name}", ["score level", *groups], rows,
            note=f"Share of actual positives among the rows at each score level, with "
                 f"{layout.ci:.0%} Wilson intervals. A calibrated score gives every group the "
                 f"same rate at the same level; levels are compared where at least two groups "
                 f"have {layout.bar} rows or more."
                 + (f" Cells under {layout.min_group_size} rows are suppressed."
                    if layout.suppress else "")))
    return tables


def _axes(n: int) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.0 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def reliability_figure(data: PerfData, layout: Layout) -> Figure | None:
    """Reliability curves (observed rate against mean score per bin), one panel per attribute;
    only groups and bins with enough rows are drawn."""
    floor = max(layout.bar, layout.min_group_size if layout.suppress else 0)
    bins = np.minimum((data.score * 10).astype(int), 9)
    fig, axes = _axes(len(data.singles))
    drawn = 0
    for ax, name in zip(axes, data.singles, strict=True):
        for group, m in data.groupings[name].each():
            if m.sum() < floor:
                continue
            n = np.bincount(bins[m], minlength=10)
            ok = n >= floor
            if ok.sum() < 2:
                continue
            mean_s = np.bincount(bins[m], weights=data.score[m], minlength=10)[ok] / n[ok]
            rate = np.bincount(bins[m], weights=data.positive[m].astype(float), minlength=10)[ok] / n[ok]
            ax.plot(mean_s, rate, marker="o", markersize=3, linewidth=1, label=group)
            drawn += 1
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean score in bin", title=name)
        _rate_axis(ax)
    return _figure(fig, drawn, "Reliability curves by group",
                   alt="For each protected attribute, the observed positive rate against the mean "
                       "score in ten equal-width score bins, one line per group; the dashed "
                       f"diagonal is perfect calibration. Bins under {floor} rows are not drawn.")


def _rate_axis(ax: Any) -> None:
    """Label a panel's y axis (the observed positive rate) and add its groups' legend."""
    ax.set_ylabel("observed positive rate")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="upper left")


def _figure(fig: Any, drawn: int, title: str, *, alt: str) -> Figure | None:
    """The finished figure, or ``None`` (the figure closed) when no line was drawn."""
    if not drawn:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return None
    fig.tight_layout()
    return Figure.from_matplotlib(title, fig, alt=alt)


def level_figure(cells: list[LevelCell], data: PerfData, layout: Layout) -> Figure | None:
    """Observed outcome rate per score level with Wilson intervals, one panel per attribute."""
    floor = max(layout.bar, layout.min_group_size if layout.suppress else 0)
    fig, axes = _axes(len(data.singles))
    drawn = 0
    for ax, name in zip(axes, data.singles, strict=True):
        here = [c for c in cells if c.grouping == name and c.n >= floor]
        for group in dict.fromkeys(c.group for c in here):
            pts = [c for c in here if c.group == group]
            if len(pts) < 2:
                continue
            x = [c.level + 1 for c in pts]
            y = [c.rate for c in pts]
            err = [[c.rate - c.low for c in pts], [c.high - c.rate for c in pts]]
            ax.errorbar(x, y, yerr=err, marker="o", markersize=3, linewidth=1, capsize=2,
                        label=group)
            drawn += 1
        ticks = list(range(1, len(data.level_labels) + 1))
        ax.set_xticks(ticks, list(data.level_labels), fontsize=6,
                      rotation=0 if len(ticks) <= 10 and max(map(len, data.level_labels)) <= 3
                      else 45)
        ax.set(ylim=(0, 1), xlabel="score level", title=name)
        _rate_axis(ax)
    return _figure(fig, drawn, "Observed outcome rate by score level and group",
                   alt="For each protected attribute, the share of actual positives at each score "
                       "level, one line per group with Wilson intervals; cells under "
                       f"{floor} rows are not drawn.")
