"""Tables and the chart of the fairness check (:mod:`auditkit.checks.fairness`).

Each rate is shown with its Wilson interval and its denominator (``n`` rows for the favourable
rate, ``n+`` actual positives for the false negative rate, ``n−`` actual negatives for the false
positive rate); a value whose denominator is under the evidence bar is marked ``(below bar)``.
Ratios to the reference group follow Aequitas. With ``suppress_small``, groups under
``min_group_size`` rows show ``< min_group_size`` and no value (small cells can re-identify
people).

A group of one attribute is shown by its level; a group of an intersection by the tuple of its
levels, one per attribute (a tuple cell of the report, schema 1.2), so that no level is merged
with another whatever it contains. The reference group of an intersection is marked in the
``intersection`` column, which leaves the tuple whole.
"""

from __future__ import annotations

import math
from typing import Any

from auditkit.reports import Figure, Table

# (grouping, group): a group of an intersection is a tuple of levels
_Key = tuple[str, Any]

__all__ = ["coverage_rows", "fmt", "group_tables", "selection_chart"]

# metric -> (column title, denominator symbol, ratio column title)
_RATES = (("favourable_rate", "favourable rate", "n", "favourable ÷ ref."),
          ("false_positive_rate", "false positive rate", "n−", "FPR ÷ ref."),
          ("false_negative_rate", "false negative rate", "n+", "FNR ÷ ref."))
_WORST_K = 5


def fmt(x: Any) -> str:
    """Three decimals, or ``n/a`` for a missing or undefined value."""
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"


def _rates(result: Any) -> list[tuple[str, str, str, str]]:
    return [r for r in _RATES if r[0] in result.by_group.columns]


def _cell(result: Any, key: _Key, metric: str, symbol: str) -> str:
    v = float(result.by_group.loc[key, metric])
    lo = float(result.by_group_ci_low.loc[key, metric])
    hi = float(result.by_group_ci_high.loc[key, metric])
    den = result.denominators.loc[key, metric] if metric in result.denominators.columns else math.nan
    text = fmt(v) if not math.isfinite(lo) else f"{fmt(v)} [{fmt(lo)}, {fmt(hi)}]"
    if den == den:
        text += f" {symbol}={int(den)}"
        if den < result.min_denominator:
            text += " (below bar)"
    return text


def _row(result: Any, key: _Key, ratios: dict[str, Any], suppress: bool,
         rates: list[tuple[str, str, str, str]]) -> list[Any]:
    r = result.by_group.loc[key, :]
    if suppress and bool(r["small"]):
        return [f"< {result.min_group_size}"] + [None] * (2 * len(rates))
    cells: list[Any] = [int(r["n"])]
    for metric, _, symbol, _ in rates:
        cells.append(_cell(result, key, metric, symbol))
        cells.append(fmt(float(ratios[metric].get(key, math.nan))))
    return cells


def _head(rates: list[tuple[str, str, str, str]]) -> list[str]:
    return [c for _, title, _, ratio in rates for c in (title, ratio)]


def _note(result: Any, suppress: bool) -> str:
    return (f"Rates with {result.ci:.0%} Wilson score intervals and their denominators: n rows, "
            "n+ actual positives, n− actual negatives; a rate whose denominator is under the "
            f"evidence bar of {result.min_denominator} is marked (below bar) and judged in no "
            "disparity. ÷ ref.: the group's rate over its reference group's (marked; "
            "configurable with [checks.fairness] reference_group)."
            + (f" Groups under {result.min_group_size} rows are suppressed." if suppress else ""))


def _is_intersection(grouping: str) -> bool:
    return " × " in grouping


def group_tables(result: Any, suppress: bool, worst_k: int = _WORST_K) -> list[Table]:
    """One table per attribute; for intersections the ``worst_k`` groups with the lowest
    favourable rate in the body and every intersection group in the appendix."""
    rates = _rates(result)
    ratios = {m: result.ratio_to_reference(m) for m, _, _, _ in rates}
    note = _note(result, suppress)
    singles: dict[str, list[list[Any]]] = {}
    inter: list[tuple[_Key, list[Any]]] = []
    for grouping in result.groupings:
        if grouping == "overall":
            continue
        ref = result.reference.get(grouping)
        for g in result.by_group.xs(grouping, level="grouping").index:
            cells = _row(result, (grouping, g), ratios, suppress, rates)
            if _is_intersection(grouping):
                inter.append(((grouping, g), [grouping + (" (reference)" if g == ref else ""), g, *cells]))
            else:
                singles.setdefault(grouping, []).append([g + (" (reference)" if g == ref else ""), *cells])
    out = [Table(f"Metrics by {grouping}", ["group", "rows", *_head(rates)], rows, note=note)
           for grouping, rows in singles.items()]
    if inter:
        out += _intersection_tables(result, inter, rates, worst_k, note)
    return out


def _intersection_tables(result: Any, keyed: list[tuple[_Key, list[Any]]],
                         rates: list[tuple[str, str, str, str]], worst_k: int, note: str) -> list[Table]:
    cols = ["intersection", "group", "rows", *_head(rates)]
    fav = "favourable_rate" if "favourable_rate" in result.by_group.columns else None
    ranked = []
    if fav is not None:
        ev = result.evidenced[fav] if fav in result.evidenced.columns else None
        for key, row in keyed:
            r = result.by_group.loc[key, :]
            if bool(r["small"]) or (ev is not None and not bool(ev.loc[key])):
                continue
            if math.isfinite(float(r[fav])):
                ranked.append((float(r[fav]), row))
    ranked.sort(key=lambda t: t[0])
    worst = [row for _, row in ranked[:worst_k]]
    rows = [row for _, row in keyed]
    return [
        Table(f"Intersections: the {len(worst)} groups with the lowest favourable rate", cols,
              worst, note=f"Of {len(ranked)} intersection groups that clear the evidence bar "
                          f"({len(rows)} in all); every group is in the appendix. " + note),
        Table("Intersections: metrics of every group", cols, rows, note=note,
              placement="appendix"),
    ]


def coverage_rows(result: Any, disparities: list[str], suppress: bool) -> list[list[Any]]:
    """The groups left out of the thresholds' disparities: one row per group and base metric."""
    ex = result.excluded
    if ex is None or ex.empty:
        return []
    ex = ex[ex["disparity"].isin(disparities)]
    out = []
    for r in ex.itertuples(index=False):
        small = bool(result.by_group.loc[(r.grouping, r.group), "small"])
        den = f"< {result.min_group_size} rows" if suppress and small else int(r.denominator)
        out.append([r.grouping, r.disparity, r.group, r.metric, den, int(r.bar), r.reason])
    return out


def selection_chart(result: Any, suppress: bool) -> Figure | None:
    """Favourable rate by group with Wilson intervals and the four-fifths line per attribute."""
    metric = next((m for m in ("favourable_rate", "selection_rate") if m in result.by_group.columns), None)
    if metric is None:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    df = result.by_group
    keep = ~df["small"] if suppress else df["n"] >= 0
    singles = [g for g in result.groupings if not _is_intersection(g) and g != "overall"]
    labels, vals, los, his, colors = [], [], [], [], []
    palette = plt.get_cmap("tab10")
    for i, g in enumerate(singles):
        sub = df.xs(g, level="grouping")
        k = keep.xs(g, level="grouping")
        for group in sub.index[k.to_numpy()]:
            labels.append(f"{g}: {group}")
            vals.append(float(sub.loc[group, metric]))
            los.append(float(result.by_group_ci_low.loc[(g, group), metric]))
            his.append(float(result.by_group_ci_high.loc[(g, group), metric]))
            colors.append(palette(i % 10))
    if not labels:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.2))
    y = list(range(len(labels)))[::-1]
    err = [[max(v - lo, 0) if lo == lo else 0 for v, lo in zip(vals, los, strict=True)],
           [max(hi - v, 0) if hi == hi else 0 for v, hi in zip(vals, his, strict=True)]]
    ax.barh(y, vals, xerr=err, color=colors, alpha=0.85, capsize=3)
    ax.set_yticks(y, labels, fontsize=8)
    for i, g in enumerate(singles):
        top = df.xs(g, level="grouping").loc[keep.xs(g, level="grouping").to_numpy(), metric].max()
        if top == top:
            ax.axvline(0.8 * top, color=palette(i % 10), linestyle="--", linewidth=0.8)
    word = "Favourable" if metric == "favourable_rate" else "Selection"
    ax.set_xlabel(f"{word} rate (dashed: four-fifths of the highest group of the attribute)")
    finite = [v for v in his + vals if v == v]
    ax.set_xlim(0, min(1.0, max(finite) * 1.15) if finite and max(finite) > 0 else 1.0)
    fig.tight_layout()
    return Figure.from_matplotlib(f"{word} rate by group", fig,
                  alt=f"Horizontal bars of the {word.lower()} rate of each group with Wilson "
                      "intervals, and the four-fifths line per attribute.")
