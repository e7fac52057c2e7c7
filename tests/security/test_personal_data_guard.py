"""One guard over the findings model (issue 12, class 2).

- A real data set whose surnames are ordinary words (COMPAS: "little", "long", "white", ...)
  produces its report: the guard reads the model, never the templates' fixed wording, and a
  one-word value is not matched as a word inside prose.
- A personal value planted anywhere in the model (table cell, label, summary, figure text, as a
  whole string or a phrase of whole words) blocks every format, the PDF included: exit 3, no
  file written, and the message names the column and the place, never the value.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit._redact import PersonalValueIndex
from auditkit.checks._registry import (
    _REGISTRY,
    CheckOptions,
    CheckResult,
    CheckSpec,
    register_check,
)
from auditkit.errors import ExitCode
from auditkit.reports import Figure, Finding, Report, Section, Severity, Status, Table
from tests.security.conftest import run_main

ROWS = 1500


@pytest.fixture(scope="module")
def compas(shared_datasets: Path, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    df = pd.read_csv(shared_datasets / "compas" / "compas-scores-two-years.csv")
    df = df[["id", "name", "first", "last", "dob", "sex", "race", "age_cat", "decile_score",
             "two_year_recid"]].head(ROWS).copy()
    df["predicted"] = (df["decile_score"] >= 5).astype(int)
    d = tmp_path_factory.mktemp("compas")
    df.to_csv(d / "compas.csv", index=False)
    return d, df


def _compas_config(d: Path, personal: tuple[str, ...] = ("name", "first", "last", "dob"),
                   **report) -> Path:
    cfg = {
        "audit": {"title": "COMPAS", "system": "recidivism score"},
        "data": {"path": "compas.csv", "label": "two_year_recid", "prediction": "predicted",
                 "protected": ["race", "sex", "age_cat"],
                 "personal": list(personal), "id_column": "id"},
        "report": {"out": "out", "formats": ["json", "md", "html"], **report},
        "checks": {"fairness": {"n_boot": 50}},
    }
    (d / "audit.toml").write_text(tomli_w.dumps(cfg))
    return d / "audit.toml"


def test_compas_with_ordinary_word_surnames_produces_its_report(compas) -> None:
    d, df = compas
    ordinary = {"little", "long", "white", "young", "brown", "black", "green", "king", "hill"}
    assert ordinary & set(df["last"].str.lower()), "the sample must hold word-like surnames"
    code, text = run_main("run", str(_compas_config(d)), "--quiet", "--only", "dataset,fairness")
    assert code in (ExitCode.OK, ExitCode.FAILED), text
    written = {p.name for p in (d / "out").iterdir()}
    assert {"report.json", "report.md", "report.html"} <= written
    everything = "".join((d / "out" / n).read_text() for n in ("report.json", "report.md",
                                                               "report.html"))
    for full_name in df["name"].head(200):
        assert full_name not in everything
    for dob in df["dob"].head(200):
        assert dob not in everything


# -- planted leaks ----------------------------------------------------------------------------
def _planting(where: str, value: str):
    def run(ctx, options) -> CheckResult:
        finding = Finding(check_id="plant.finding", title="Planted", status=Status.PASS,
                          severity=Severity.INFO,
                          summary=f"The reviewer {value} approved." if where == "summary" else "ok")
        tables = [Table("Planted", ["who", "n"], [[value if where == "cell" else "x", 1]])]
        figures = [Figure(title="Planted", svg=f'<svg xmlns="http://www.w3.org/2000/svg">'
                          f'<text x="1" y="1">{value}</text></svg>')] if where == "figure" else []
        return CheckResult(findings=[finding], tables=tables, figures=figures)

    return run


@pytest.fixture
def planted():
    added: list[str] = []

    def add(where: str, value: str) -> None:
        register_check(CheckSpec(id="plant", section="dataset",
                                 title="Planted", options=CheckOptions,
                                 run=_planting(where, value)))
        added.append("plant")

    yield add
    for check_id in added:
        _REGISTRY.pop(check_id, None)


@pytest.mark.parametrize("formats", [["json"], ["md"], ["html"], ["pdf"], ["html", "md", "json"]],
                         ids="+".join)
@pytest.mark.parametrize(
    ("where", "column"),
    [("cell", "name"), ("cell", "last"), ("cell", "dob"), ("summary", "name"),
     ("summary", "dob"), ("figure", "name"), ("figure", "first")],
)
def test_a_planted_value_blocks_every_format(compas, planted, tmp_path, formats, where, column):
    d, df = compas
    value = str(df[column].iloc[7])
    planted(where, value)
    (tmp_path / "compas.csv").write_bytes((d / "compas.csv").read_bytes())
    cfg = _compas_config(tmp_path, formats=formats)
    code, text = run_main("run", str(cfg), "--quiet", "--only", "plant")
    assert code == ExitCode.INCOMPLETE, text
    assert f"column {column!r}" in text and "section 'dataset'" in text
    assert value not in text
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.toml", "compas.csv"]


def test_protected_category_labels_are_not_identifiers(compas, tmp_path) -> None:
    """sex and race declared personal (special categories) still name their groups."""
    d, _ = compas
    (tmp_path / "compas.csv").write_bytes((d / "compas.csv").read_bytes())
    cfg = _compas_config(tmp_path, personal=("name", "first", "last", "dob", "sex", "race"))
    code, out = run_main("run", str(cfg), "--quiet", "--only", "fairness", "--format", "json")
    assert code in (ExitCode.OK, ExitCode.FAILED), out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "African-American" in json.dumps(report)


# -- the matcher, as properties ---------------------------------------------------------------
# Names in capitals, the prose around them in small letters: gluing can never form a name.
# (the toolkit's own words, "PASS", "HIGH", are exempt as whole cells: see the test below)
names = st.text(alphabet=st.characters(categories=("Lu",)), min_size=4, max_size=12).filter(
    lambda s: s.casefold() not in PersonalValueIndex().vocabulary)
prose_words = st.text(alphabet=st.characters(categories=("Ll",)), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(first=names, last=names, left=st.sampled_from(["", " ", "(", "'", "\n", ": "]),
       right=st.sampled_from(["", " ", ")", ".", ",", "\n"]), prose=prose_words)
def test_whole_words_match_and_fragments_do_not(first, last, left, right, prose) -> None:
    index = PersonalValueIndex()
    index.add("name", f"{first} {last}")
    index.add("last", last)
    report = Report(metadata={}, sections=[Section(id="s", title="S", findings=[Finding(
        check_id="c", title="t", status=Status.PASS, severity=Severity.INFO,
        summary=f"{prose}{left}{first} {last}{right}{prose}")],
        tables=[Table("t", ["a"], [[f"{left}{last}{right}"]])])])
    leaks = index.leaks_in_report(report)
    places = {(leak.column, leak.place.split(",")[-1].strip()) for leak in leaks}
    # the full name is found in the summary only where it stands as whole words
    glued = (left == "" and prose[-1:].isalnum()) or (right == "" and prose[:1].isalnum())
    assert (("name", "summary") in places) == (not glued)
    # the one-word value is found as the whole cell, never as a word inside prose
    assert ("last", "column 'a'") in places
    assert ("last", "summary") not in places


def test_report_structure_words_never_match() -> None:
    index = PersonalValueIndex()
    for surname in ("Little", "little", "Counts", "carrie", "Status", "report"):
        index.add("last", surname)
    report = Report(metadata={"title": "A little report"}, sections=[Section(
        id="s", title="Counts per status", summary="Values carried over; a little more.",
        findings=[Finding(check_id="c", title="Status of the report", status=Status.PASS,
                          severity=Severity.INFO, summary="The report counts 3 little groups.")])])
    assert index.leaks_in_report(report) == []


@pytest.mark.parametrize("word", ["pass", "Pass", "fail", "High", "warning", "n/a", "overall",
                                  "yes", "Race"])
def test_toolkit_words_as_whole_cells_never_match(word) -> None:
    """A surname that is one of the toolkit's own words ("Pass", "High") or a column name of the
    dataset is not a leak where the report writes that word as a whole cell; the same surname
    in a cell that is not a toolkit word, and a full name holding it, still are."""
    df = pd.DataFrame({"last": [word, "Zebulon"], "race": ["a", "b"], "full": [f"Ann {word}", "x"]})
    index = PersonalValueIndex.from_frame(df, ["last", "full"])
    cells = [[word.lower(), 1], [word, 2], ["Zebulon", 3], [f"Ann {word}", 4]]
    report = Report(metadata={}, sections=[Section(
        id="s", title="t", summary="", findings=[],
        tables=[Table("Gate", ["status", "n"], cells)])])
    places = {(leak.column, leak.place.rsplit(", ", 2)[-2]) for leak in index.leaks_in_report(report)}
    assert ("last", "row 3") in places
    assert ("full", "row 4") in places
    assert not any(row in ("row 1", "row 2") for _, row in places)


def test_an_index_of_phrases_only_still_guards() -> None:
    """A dataset whose only personal column holds full names (every value several words) is
    guarded too: the guard must not stand down because no one-word value was indexed."""
    index = PersonalValueIndex.from_frame(pd.DataFrame({"name": ["Ann Example", "Bo Sample"]}),
                                          ["name"])
    report = Report(metadata={}, sections=[Section(id="s", title="t", findings=[Finding(
        check_id="c", title="t", status=Status.PASS, severity=Severity.INFO,
        summary="Reviewed by Bo Sample today.")])])
    assert [leak.column for leak in index.leaks_in_report(report)] == ["name"]
