"""Plots for reports: global importance bar, beeswarm-like summary, per-individual waterfall.

matplotlib is imported inside each function and drives a bare ``Figure`` with the Agg/SVG
canvases, so nothing needs a display and no global pyplot state is touched.

Each plot has one return type. ``plot_importance``, ``plot_summary`` and ``plot_waterfall``
return the SVG text (and write it to ``path`` when given). ``importance_chart``,
``summary_chart`` and ``waterfall_chart`` take the same arguments and return a :class:`Chart`,
rendered with :meth:`Chart.svg` (text) or :meth:`Chart.png` (bytes). SVG output is
deterministic (no date, fixed id salt) and keeps text as text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from auditkit.explain._local import LocalExplanation
from auditkit.explain._result import ExplanationResult, GlobalImportance

__all__ = [
    "Chart",
    "importance_chart",
    "plot_importance",
    "plot_summary",
    "plot_waterfall",
    "summary_chart",
    "waterfall_chart",
]

_BLUE, _RED, _GREY = "#1f6fb4", "#c8553d", "#8a8a8a"


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


class Chart:
    """A drawn plot, not yet rendered: :meth:`svg` gives text, :meth:`png` gives bytes."""

    def __init__(self, figure: Any) -> None:
        self.figure = figure

    def __repr__(self) -> str:
        return f"Chart({self.figure.get_axes()[0].get_title()!r})"

    def svg(self, path: str | Path | None = None) -> str:
        """The chart as SVG text (deterministic: no date, fixed id salt), also written to
        ``path`` when given."""
        from matplotlib.backends.backend_svg import FigureCanvasSVG

        return self._render(FigureCanvasSVG, "svg", {"Date": None}, path).decode("utf-8")

    def png(self, path: str | Path | None = None) -> bytes:
        """The chart as PNG bytes, also written to ``path`` when given."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        return self._render(FigureCanvasAgg, "png", {"Software": None}, path)

    def _render(self, canvas: Any, fmt: str, metadata: dict[str, Any],
                path: str | Path | None) -> bytes:
        import matplotlib

        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "auditkit", "svg.fonttype": "none"}):
            canvas(self.figure)
            self.figure.savefig(buf, format=fmt, metadata=metadata)
        data = buf.getvalue()
        if path is not None:
            Path(path).write_bytes(data)
        return data


def plot_importance(
    result: ExplanationResult | GlobalImportance,
    *,
    path: str | Path | None = None,
    top: int = 20,
    title: str | None = None,
) -> str:
    """:func:`importance_chart` as SVG text, also written to ``path`` when given."""
    return importance_chart(result, top=top, title=title).svg(path)


def importance_chart(
    result: ExplanationResult | GlobalImportance, *, top: int = 20, title: str | None = None
) -> Chart:
    """Horizontal bars of mean |SHAP| per feature with the bootstrap interval as error bars."""
    imp = result.importance if isinstance(result, ExplanationResult) else result
    order = np.argsort(-imp.mean_abs, kind="stable")[:top][::-1]
    names = [imp.features[i] for i in order]
    vals = imp.mean_abs[order]
    lo, hi = imp.ci_low[order], imp.ci_high[order]
    fig = _new_figure(6.4, 0.9 + 0.32 * len(names))
    ax = fig.add_subplot()
    xerr = None
    if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
        xerr = np.vstack([np.maximum(vals - lo, 0), np.maximum(hi - vals, 0)])
    ax.barh(range(len(names)), vals, xerr=xerr, color=_BLUE, ecolor="#333333", capsize=3)
    ax.set_yticks(range(len(names)), names)
    label = "mean |SHAP value|"
    if isinstance(result, ExplanationResult):
        label += f" ({result.choice.output})"
    ax.set_xlabel(label)
    if xerr is not None:
        ax.set_title(
            title or f"Global importance with {imp.confidence:.0%} bootstrap intervals", fontsize=10
        )
    else:
        ax.set_title(title or "Global importance", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return Chart(fig)


def _colour_values(column: Any) -> np.ndarray:
    """Feature values as 0..1 percentiles (NaN for non-numeric, which are drawn grey)."""
    import pandas as pd

    s = pd.Series(column)
    if not pd.api.types.is_numeric_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
        return np.full(len(s), np.nan)
    return s.rank(pct=True).to_numpy(dtype=float)


def plot_summary(
    result: ExplanationResult,
    *,
    path: str | Path | None = None,
    top: int = 15,
    max_points: int = 600,
    hide_values: Sequence[str] = (),
    random_state: int = 0,
) -> str:
    """:func:`summary_chart` as SVG text, also written to ``path`` when given."""
    return summary_chart(result, top=top, max_points=max_points, hide_values=hide_values,
                         random_state=random_state).svg(path)


def summary_chart(
    result: ExplanationResult,
    *,
    top: int = 15,
    max_points: int = 600,
    hide_values: Sequence[str] = (),
    random_state: int = 0,
) -> Chart:
    """Beeswarm-like summary: one row per feature, one dot per explained row at its SHAP value,
    coloured from low (blue) to high (red) feature value; non-numeric and withheld features grey."""
    n = len(result.values)
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
    order = np.argsort(-result.importance.mean_abs, kind="stable")[:top][::-1]
    fig = _new_figure(6.8, 1.0 + 0.36 * len(order))
    ax = fig.add_subplot()
    hidden = set(hide_values)
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("lowhigh", [_BLUE, "#b9a3c9", _RED])
    for y, j in enumerate(order):
        name = result.feature_names[j]
        x = result.values[rows, j]
        colour = (
            np.full(len(rows), np.nan)
            if name in hidden
            else _colour_values(result.data.iloc[rows, j].to_numpy())
        )
        # Jitter grows with local density so the cloud shows where values pile up.
        if len(x) > 1 and np.ptp(x) > 0:
            hist, edges = np.histogram(x, bins=40)
            dens = hist[np.clip(np.digitize(x, edges[1:-1]), 0, 39)] / max(hist.max(), 1)
        else:
            dens = np.ones(len(x))
        jitter = (rng.random(len(x)) - 0.5) * 0.7 * dens
        grey = np.isnan(colour)
        if grey.any():
            ax.scatter(
                x[grey],
                y + jitter[grey],
                s=6,
                color=_GREY,
                alpha=0.6,
                linewidths=0,
                rasterized=True,
            )
        if (~grey).any():
            ax.scatter(
                x[~grey],
                y + jitter[~grey],
                s=6,
                c=colour[~grey],
                cmap=cmap,
                vmin=0,
                vmax=1,
                alpha=0.8,
                linewidths=0,
                rasterized=True,
            )
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(range(len(order)), [result.feature_names[j] for j in order])
    ax.set_xlabel(f"SHAP value ({result.choice.output})")
    ax.set_title(
        "How each feature moves the output (blue: low value, red: high value)", fontsize=10
    )
    ax.spines[["top", "right"]].set_visible(False)
    return Chart(fig)


def plot_waterfall(
    local: LocalExplanation,
    *,
    path: str | Path | None = None,
    top: int = 10,
    hide_values: Sequence[str] = (),
    label: str | None = None,
) -> str:
    """:func:`waterfall_chart` as SVG text, also written to ``path`` when given."""
    return waterfall_chart(local, top=top, hide_values=hide_values, label=label).svg(path)


def waterfall_chart(
    local: LocalExplanation,
    *,
    top: int = 10,
    hide_values: Sequence[str] = (),
    label: str | None = None,
) -> Chart:
    """From the base value to this individual's output, one step per feature (largest first;
    the rest pooled). Feature values named in ``hide_values`` are not shown."""
    shap = local.shap
    order = list(shap.abs().sort_values(ascending=False, kind="stable").index)
    shown, rest = order[:top], order[top:]
    steps = [(f, float(shap[f])) for f in shown]
    if rest:
        steps.append((f"{len(rest)} other features", float(shap[rest].sum())))
    hidden = set(hide_values)
    labels = []
    for name, _ in steps:
        if name in local.values.index and name not in hidden:
            value = local.values[name]
            text = f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
            labels.append(f"{name} = {text}"[:60])
        else:
            labels.append(name)
    fig = _new_figure(6.8, 1.2 + 0.36 * len(steps))
    ax = fig.add_subplot()
    start = local.base_value
    for y, (_, v) in enumerate(steps):
        ax.barh(len(steps) - 1 - y, v, left=start, color=_RED if v > 0 else _BLUE, height=0.6)
        start += v
    ax.set_yticks(range(len(steps)), labels[::-1])
    ax.margins(x=0.08)
    ax.axvline(local.base_value, color="#555555", linewidth=0.8, linestyle="--")
    ax.axvline(local.output, color="#111111", linewidth=0.8)
    who = label if label is not None else f"individual {local.individual}"
    ax.set_title(
        f"{who}: from E[f] = {local.base_value:.3g} to f(x) = {local.output:.3g}", fontsize=10
    )
    ax.set_xlabel(local.output_name)
    ax.spines[["top", "right"]].set_visible(False)
    return Chart(fig)
