"""Plots render without a display; importing explain stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from sklearn.linear_model import LinearRegression

from auditkit import explain


@pytest.fixture(scope="module")
def explained(numeric_data):
    X, y = numeric_data
    model = LinearRegression().fit(X, y)
    res = explain.explain(model, X, random_state=0)
    local = explain.explain_individuals(model, X, [3], lime=False, explainer=None, random_state=0)
    return res, local[0]


def test_svg_plots_are_well_formed_and_deterministic(explained) -> None:
    res, loc = explained
    for draw in (
        lambda: explain.plot_importance(res),
        lambda: explain.plot_summary(res),
        lambda: explain.plot_waterfall(loc),
    ):
        svg = draw()
        assert isinstance(svg, str)
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
        assert draw() == svg


def test_png_and_path(explained, tmp_path) -> None:
    res, loc = explained
    for name, chart in (("imp", explain.importance_chart(res)),
                        ("sum", explain.summary_chart(res)),
                        ("wf", explain.waterfall_chart(loc))):
        target = tmp_path / f"{name}.png"
        png = chart.png(target)
        assert isinstance(png, bytes)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and target.read_bytes() == png


def test_each_plot_has_one_return_type(explained, tmp_path) -> None:
    """The plot functions return SVG text whatever they are given; a chart renders the same
    SVG as the plot function, and writes what it returns."""
    res, loc = explained
    target = tmp_path / "imp.svg"
    svg = explain.plot_importance(res, path=target)
    assert isinstance(svg, str) and target.read_text(encoding="utf-8") == svg
    assert explain.importance_chart(res).svg() == svg
    assert explain.waterfall_chart(loc, top=3).svg() == explain.plot_waterfall(loc, top=3)
    with pytest.raises(TypeError):
        explain.plot_importance(res, fmt="png")  # type: ignore[call-arg]


def test_waterfall_withholds_values(explained) -> None:
    _, loc = explained
    value = f"{loc.values['a']:.4g}"
    assert value in explain.plot_waterfall(loc)
    assert value not in explain.plot_waterfall(loc, hide_values=["a"])


def test_import_explain_does_not_load_heavy_libraries() -> None:
    code = (
        "import json, sys; from auditkit import explain; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'shap', 'lime', 'matplotlib', 'torch'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_public_surface() -> None:
    assert sorted(explain.__all__) == sorted(set(explain.__all__))
    for name in explain.__all__:
        assert hasattr(explain, name)
    assert explain.available_methods()[:4] == ("tree", "linear", "gradient", "permutation")
