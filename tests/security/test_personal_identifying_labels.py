"""Protected columns whose labels identify people are never shown, and the guard never exempts
them (issue 13 review, leaks 1, 2 and 5).

The one decision (:func:`auditkit._personal.labels_to_pseudonymise`): a protected column's labels
are shown only when they are category labels — at most 50 values, not classed identifying by
the PII scan (names, ids, contacts, date of birth, ZIP code), not shaped like people's names
(any case, "Last, First", middle initials, one capitalised word in a column named for a person
role, even one or two values), not shaped like ids. Every consumer (fairness, performance,
``auditkit gate``, the guard) takes it; declaring a category column personal does not hide it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit._context import AuditContext
from auditkit._personal import (
    PersonalDataClassification,
    category_label_columns,
    is_person_role,
    labels_to_pseudonymise,
)
from auditkit._redact import PersonalValueIndex
from auditkit.config import parse_config
from auditkit.errors import ExitCode
from tests.security.conftest import run_main

FIRST = ["Alice", "Bartholomew", "Cornelius", "Desdemona", "Evangeline", "Ferdinand"]
LAST = ["Johnson", "Smithers", "Okafor", "Whitfield", "Tanaka", "Haddad"]

# column name -> its distinct labels, for every way labels can identify people
IDENTIFYING: dict[str, list[str]] = {
    "officer": FIRST,  # one capitalised word, column named for a person role
    "loan_officer": FIRST[:2],  # ... and only two of them
    "reviewerName": FIRST[:3],
    "reviewer": ["Alice Johnson", "Robert Smithers"],  # full names, fewer than three
    "assessor": [f"{f.lower()} {la.lower()}" for f, la in zip(FIRST, LAST, strict=True)],  # lower case
    "handled_by": [f"{la}, {f}" for f, la in zip(FIRST, LAST, strict=True)],  # "Last, First"
    "approved_by": [f"{f} {f[0]}. {la}" for f, la in zip(FIRST, LAST, strict=True)],  # middle initial
    "shouted": [f"{f} {la}".upper() for f, la in zip(FIRST, LAST, strict=True)],  # capitals
    "employee_code": [f"E-{48392 + 17 * i}" for i in range(8)],  # ids mixing letters, digits
    "branch": [str(10_000 + 37 * i) for i in range(6)],  # digit strings of 5+ digits
    "date_of_birth": [f"19{60 + i}-0{1 + i % 9}-1{i % 9}" for i in range(20)],  # scan: DOB
    "email": [f"person{i}@example.com" for i in range(12)],  # scan: contact
    "region": [f"area-{i:03d}" for i in range(80)],  # more than 50 values
}
# category labels, shown as they are
CATEGORIES: dict[str, list[str]] = {
    "sex": ["Female", "Male"],
    "race": ["African-American", "Caucasian", "Hispanic", "Other", "Asian", "Native American"],
    "age_cat": ["Less than 25", "25 - 45", "Greater than 45"],
    "marital_status": ["Married-civ-spouse", "Never-married", "Divorced", "Separated", "Widowed"],
    "education": ["Bachelors", "HS-grad", "Some-college", "10th", "11th", "1st-4th", "Masters"],
    "age_band": ["18-24", "25-34", "35-44", "45-54", "55+"],
    "employment": ["Never married", "Some college", "Full time"],
    "user_type": ["Gold", "Silver", "Bronze"],  # "user" is not the column's last word
}


def _frame(columns: dict[str, list[str]], n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = {c: rng.choice(values, n) for c, values in columns.items()}
    for c, values in columns.items():  # every label occurs
        out[c][: len(values)] = values
    return pd.DataFrame(out)


def _raw_labels_in(text: str, column: str, values: list[str]) -> list[str]:
    """The labels of ``column`` that stand in ``text`` (as themselves or after "column: ")."""
    return [v for v in values if v in text]


# -- the decision -----------------------------------------------------------------------------
@pytest.mark.parametrize("column", sorted(IDENTIFYING))
def test_identifying_labels_are_pseudonymised(column: str) -> None:
    frame = _frame({column: IDENTIFYING[column]})
    assert column in labels_to_pseudonymise(frame)
    assert column not in category_label_columns(frame)


@pytest.mark.parametrize("column", sorted(CATEGORIES))
def test_category_labels_are_shown(column: str) -> None:
    frame = _frame({column: CATEGORIES[column]})
    assert column in category_label_columns(frame)


@pytest.mark.parametrize("column", sorted(CATEGORIES))
def test_declaring_a_category_column_personal_keeps_its_labels(column: str) -> None:
    frame = _frame({column: CATEGORIES[column]})
    pc = PersonalDataClassification.classify(frame, declared=[column], protected=[column])
    assert column in pc.identifying_columns  # declared: its values are guarded ...
    assert column in category_label_columns(frame, pc)  # ... but category labels are shown


@pytest.mark.parametrize("column", sorted(IDENTIFYING))
def test_declaring_an_identifying_column_personal_still_pseudonymises(column: str) -> None:
    frame = _frame({column: IDENTIFYING[column]})
    pc = PersonalDataClassification.classify(frame, declared=[column], protected=[column])
    assert column in labels_to_pseudonymise(frame, pc)


def test_the_classification_s_scan_counts_even_when_the_frame_s_does_not() -> None:
    # a column the audit's scan found identifying (here: said so by hand) is never shown
    frame = _frame({"sex": CATEGORIES["sex"]})
    pc = PersonalDataClassification.classify(frame, protected=["sex"])
    from dataclasses import replace

    marked = PersonalDataClassification(
        tuple(replace(c, categories=c.categories | {"identifier"}) for c in pc.columns))
    assert "sex" in labels_to_pseudonymise(frame, marked)


# letters that have a capital form (names are written capitalised, in lower case or in capitals)
# (function words such as "an", "of" mark category labels, "Less than 25", never names)
from auditkit._label_shapes import _FUNCTION_WORDS  # noqa: E402

name_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèäöüñçøåłšž", min_size=2,
                     max_size=10).filter(lambda w: w not in _FUNCTION_WORDS)


@settings(max_examples=60, deadline=None)
@given(first=st.lists(name_words, min_size=1, max_size=6, unique=True), last=name_words,
       style=st.sampled_from(["title", "lower", "upper", "comma", "initial"]),
       role=st.sampled_from(sorted({"officer", "agent", "customer", "judge", "teacher", "owner",
                                    "first_name", "Staff", "doctors"})))
def test_any_names_in_any_style_are_pseudonymised(first, last, style, role) -> None:
    def styled(f: str) -> str:
        f, la = f.capitalize(), last.capitalize()
        return {"title": f"{f} {la}", "lower": f"{f} {la}".lower(), "upper": f"{f} {la}".upper(),
                "comma": f"{la}, {f}", "initial": f"{f} {la[0]}. {la}"}[style]

    assert "holder" in labels_to_pseudonymise(_frame({"holder": [styled(f) for f in first]}))
    assert is_person_role(role)  # one capitalised first name, in a column named for a role
    assert role in labels_to_pseudonymise(_frame({role: [f.capitalize() for f in first]}))


# -- the context: one decision, and the guard never exempts what it hides -----------------------
def _context(df: pd.DataFrame, protected: list[str], personal: list[str] = ()) -> AuditContext:
    cfg = parse_config({"audit": {"title": "t"},
                        "data": {"path": "x.csv", "protected": protected,
                                 "personal": list(personal)}})
    pc = PersonalDataClassification.classify(df, declared=personal, protected=protected)
    return AuditContext(config=cfg, base_dir=Path("."), out_dir=Path("."), data=df,
                        protected=protected, personal_columns=pc.identifying_columns,
                        personal_data=pc)


@pytest.mark.parametrize("declared", [False, True])
def test_guard_never_exempts_an_identifying_protected_column(declared: bool) -> None:
    columns = {**IDENTIFYING, **CATEGORIES}
    df = _frame(columns)
    ctx = _context(df, list(columns), list(columns) if declared else [])
    assert ctx.category_label_columns == frozenset(CATEGORIES)
    from auditkit.checks.fairness import _protected_frame

    shown = _protected_frame(ctx)
    for column, values in IDENTIFYING.items():
        assert not set(values) & set(shown[column].dropna()), column
        assert set(shown[column].dropna()) <= {f"group {i}" for i in range(1, len(values) + 1)}
        # the guard indexes its values (numbers under 7 digits never: they collide with counts)
        distinctive = [v for v in values if len(v) >= 6 and not v.isdigit()]
        assert all(column in ctx.guard.find(v) for v in distinctive), column
    for column, values in CATEGORIES.items():
        assert set(shown[column]) == set(values)


# -- end to end: the audit report and the gate ------------------------------------------------
def _dataset(tmp_path: Path, n: int = 400) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    rng = np.random.default_rng(1)
    protected = {"sex": CATEGORIES["sex"], "officer": FIRST, "reviewer": IDENTIFYING["reviewer"],
                 "date_of_birth": IDENTIFYING["date_of_birth"][:8],
                 "employee_code": IDENTIFYING["employee_code"][:4]}
    df = _frame(protected, n)
    y = rng.integers(0, 2, n)
    df["label"] = y
    df["pred"] = np.where(rng.random(n) < 0.8, y, 1 - y)
    df["score"] = np.clip(df["pred"] * 0.6 + rng.random(n) * 0.4, 0, 1)
    df.to_csv(tmp_path / "data.csv", index=False)
    return df, protected


def _config(tmp_path: Path, protected: list[str], personal: list[str]) -> Path:
    cfg = {"audit": {"title": "t"},
           "data": {"path": "data.csv", "label": "label", "prediction": "pred", "score": "score",
                    "protected": protected, "personal": personal},
           "report": {"out": "out", "formats": ["json", "md", "html"]},
           "checks": {"fairness": {"n_boot": 0, "intersectional": True, "min_group_size": 5,
                                   "min_denominator": 5},
                      "performance": {"n_boot": 0, "min_denominator": 5, "min_group_size": 5}}}
    path = tmp_path / "audit.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


@pytest.mark.parametrize("personal", [[], ["officer", "sex"]], ids=["undeclared", "declared"])
def test_report_never_shows_identifying_protected_labels(tmp_path: Path, personal) -> None:
    _, protected = _dataset(tmp_path)
    cfg = _config(tmp_path, list(protected), personal)
    code, text = run_main("run", str(cfg), "--quiet", "--only", "fairness,performance")
    assert code in (ExitCode.OK, ExitCode.FAILED), text
    written = text + "".join(p.read_text() for p in (tmp_path / "out").glob("report.*"))
    for column, values in protected.items():
        if column != "sex":
            assert not _raw_labels_in(written, column, values), column
    assert "Female" in written and "group 1" in written  # categories named, the rest numbered


@pytest.mark.parametrize("column", ["officer", "reviewer", "employee_code", "date_of_birth"])
def test_gate_with_config_never_shows_identifying_labels(tmp_path: Path, column, monkeypatch):
    _, protected = _dataset(tmp_path)
    _config(tmp_path, ["sex", column], [column])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    code, text = run_main("gate", "data.csv", "--config", "audit.toml", "--mode", "point",
                          "--junit", "g.xml", "--json", "g.json")
    assert code in (ExitCode.OK, ExitCode.FAILED), text
    written = text + "".join((tmp_path / n).read_text() for n in ("g.xml", "g.json", "summary.md"))
    assert not _raw_labels_in(written, column, protected[column])
    assert "group " in json.dumps(json.loads((tmp_path / "g.json").read_text()))


# -- figures: matplotlib's label comments -----------------------------------------------------
comment_text = st.text(alphabet=st.characters(blacklist_characters="-<>", categories=("L", "N",
                                                                                       "Zs", "P")),
                       max_size=30)


@settings(max_examples=100, deadline=None)
@given(labels=st.lists(comment_text, min_size=1, max_size=5))
def test_figures_keep_no_comment(labels: list[str]) -> None:
    from auditkit.reports import Figure

    svg = "<svg>" + "".join(f"<!-- {t} --><path d='M0 0'/>" for t in labels) + "</svg>"
    fig = Figure("t", svg)
    assert "<!--" not in fig.svg and fig.svg.count("<path") == len(labels)
    assert "<!--" not in Figure.from_dict({"title": "t", "svg": svg}).svg


class _Doc:  # a findings model whose figure still holds comments (built around Figure)
    def __init__(self, svg: str) -> None:
        self._svg = svg

    def to_dict(self) -> dict:
        return {"sections": [{"id": "s", "figures": [{"title": "f", "svg": self._svg}]}]}


@pytest.mark.parametrize("label", ["officer: {v}", "{v}", "{v} (reference)", "sex: Female & {v}",
                                   "reviewer = {v}"])
@pytest.mark.parametrize("value", ["Ferdinand", "Robert Smithers", "E-48392"])
def test_guard_reads_figure_comments(label: str, value: str) -> None:
    index = PersonalValueIndex.from_frame(pd.DataFrame({"who": [value, "Desdemona"]}), ["who"])
    svg = f"<svg><!-- {label.format(v=value)} --><path d='M0 0'/></svg>"
    assert [leak.column for leak in index.leaks_in_report(_Doc(svg))] == ["who"]
    clean = "<svg><!-- officer: group 2 --><!-- mean score in bin --></svg>"
    assert index.leaks_in_report(_Doc(clean)) == []
