"""One classification of personal data: scope, data protection and security agree; Art. 9
is claimed exactly for the Art. 9 kinds."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit._context import AuditContext
from auditkit._personal import PersonalDataClassification, classify_personal_data
from auditkit.checks import data_protection, dataset, security
from auditkit.config import AuditConfig

N = 120
_rng = np.random.default_rng(7)


def _pick(values: list[str]) -> list[str]:
    return list(_rng.choice(values, N))


#: Column name -> values; the Art. 9 kinds and the personal-but-not-Art. 9 kinds.
ART9 = {
    "race": _pick(["White", "Black", "Asian"]),
    "ethnicity": _pick(["Hispanic", "Not Hispanic"]),
    "religion": _pick(["Christian", "Muslim", "None"]),
    "health_status": _pick(["good", "fair", "poor"]),
    "diagnosis": _pick(["asthma", "diabetes", "none"]),
    "sexual_orientation": _pick(["heterosexual", "gay", "bisexual"]),
}
NOT_ART9 = {
    "sex": _pick(["Male", "Female"]),
    "gender": _pick(["Man", "Woman", "Non-binary"]),
    "age": list(_rng.integers(18, 90, N)),
    "marital_status": _pick(["Married", "Single", "Divorced"]),
    "zip": [f"{z:05d}" for z in _rng.integers(1000, 99999, N)],
}
OTHER = {
    "email": [f"person{i}@example.org" for i in range(N)],
    "income": list(_rng.normal(50_000, 10_000, N).round(2)),
    "loan_amount": list(_rng.integers(1_000, 50_000, N)),
}
POOL = {**ART9, **NOT_ART9, **OTHER}


def _frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: POOL[c] for c in columns})


@pytest.mark.parametrize("column", sorted(ART9))
@pytest.mark.parametrize("as_protected", [True, False])
def test_art9_kinds_are_special_category(column, as_protected):
    pc = classify_personal_data(_frame([column, "income"]),
                                protected=[column] if as_protected else [])
    assert pc[column].personal and pc[column].special_category
    assert pc[column].special_kinds
    assert pc.special_category_columns == (column,)
    assert "income" not in pc.personal_columns


@pytest.mark.parametrize("column", sorted(NOT_ART9))
def test_other_protected_kinds_are_personal_but_not_art9(column):
    pc = classify_personal_data(_frame([column, "income"]), protected=[column])
    assert pc[column].personal and not pc[column].special_category
    assert "protected_attribute" in pc[column].categories
    assert pc.special_category_columns == ()
    assert pc.personal_columns == (column,)


def _context(tmp_path, columns: list[str], protected: list[str]) -> AuditContext:
    df = _frame(columns)
    df.to_csv(tmp_path / "data.csv", index=False)
    cfg = AuditConfig.model_validate({
        "audit": {"title": "t", "jurisdictions": ["EU", "US"]},
        "data": {"path": "data.csv", "protected": protected},
        "model": {"features": columns},
    })
    pc = PersonalDataClassification.classify(df, protected=protected, sample_rows=None)
    return AuditContext(config=cfg, base_dir=tmp_path, out_dir=tmp_path / "out", data=df,
                        protected=protected, features=columns, personal_data=pc,
                        personal_columns=pc.identifying_columns)


def _art9_named(summary: str) -> set[str]:
    """The columns a special-categories summary names as Art. 9 data."""
    if "Art. 9(1)) in: " not in summary:
        return set()
    listing = summary.split("Art. 9(1)) in: ")[1].split(". ")[0]
    return set(re.findall(r"(\w+) \(", listing))


def _by_id(result) -> dict:
    return {f.check_id: f for f in result.findings}


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_scope_inventory_and_security_count_the_same_columns(tmp_path_factory, data):
    columns = data.draw(st.lists(st.sampled_from(sorted(POOL)), min_size=1, max_size=6,
                                 unique=True), label="columns")
    protected = data.draw(st.lists(st.sampled_from(columns), unique=True), label="protected")
    ctx = _context(tmp_path_factory.mktemp("pd"), columns, protected)
    pc = ctx.personal_data

    scope = _by_id(dataset.run(ctx, dataset.DatasetOptions()))
    dp = _by_id(data_protection.run(ctx, data_protection.DataProtectionOptions()))
    sec = _by_id(security.run(ctx, security.SecurityOptions()))

    n = len(pc.personal_columns)
    assert scope["dataset.profile"].metrics["personal_columns"] == n
    assert dp["data_protection.inventory"].metrics["personal_columns"] == n
    assert len(dp["data_protection.inventory"].tables[0].rows) == n
    at_rest = sec["security.dataset_at_rest"]
    assert at_rest.metrics["personal_columns"] == n
    assert (at_rest.status.value == "warn") == (n > 0)

    # Every protected attribute counts; Art. 9 exactly for the Art. 9 kinds.
    assert set(protected) <= set(pc.personal_columns)
    art9 = {c for c in columns if c in ART9}
    assert set(pc.special_category_columns) == art9
    special = dp["data_protection.special_categories"]
    assert special.metrics["special_category_columns"] == len(art9)
    assert ("Art. 9(1)) in:" in special.summary) == bool(art9)
    named = _art9_named(special.summary)
    assert named == art9
    used = scope["dataset.protected_in_features"]
    assert ("gdpr-art-9-1" in used.regulations) == bool(art9 & set(protected))


def test_the_runner_reports_one_count_everywhere(audit_dir, base_config, write_config):
    from auditkit.runner import run_audit

    cfg = base_config()
    cfg["report"]["formats"] = ["json"]
    run = run_audit(write_config(audit_dir, cfg),
                    only=["dataset", "data_protection", "security"])
    found = {f.check_id: f for f in run.report.findings}
    n = run.report.metadata["personal_columns"]
    assert n == found["dataset.profile"].metrics["personal_columns"]
    assert n == found["data_protection.inventory"].metrics["personal_columns"]
    assert n == found["security.dataset_at_rest"].metrics["personal_columns"]
    # the declared identifiers and the protected attributes (sex, race, age_group) all count
    assert n >= len(cfg["data"]["personal"]) + len(cfg["data"]["protected"])
    assert found["security.dataset_at_rest"].status.value == "warn"
    special = found["data_protection.special_categories"].summary
    assert "race (racial or ethnic origin)" in special
    assert "race" in _art9_named(special) and not {"sex", "age_group"} & _art9_named(special)


def test_the_masking_policy_in_the_audit_redacts_every_classified_column(tmp_path):
    """unlisted = "redact" in the data-protection check covers the audit's classification:
    a protected attribute the scan does not recognise (marital status) included."""
    columns = ["email", "race", "marital_status", "zip", "age", "income", "loan_amount"]
    ctx = _context(tmp_path, columns, protected=["race", "marital_status"])
    (tmp_path / "policy.toml").write_text('[policy]\nunlisted = "redact"\n')
    res = data_protection.run(ctx, data_protection.DataProtectionOptions(policy="policy.toml"))
    changed, in_clear = res.tables
    assert {r[0] for r in changed.rows} == set(ctx.personal_data.personal_columns)
    assert {r[0] for r in changed.rows} == {"email", "race", "marital_status", "zip", "age"}
    assert {r[0]: r[1] for r in in_clear.rows} == {"income": "not personal data",
                                                   "loan_amount": "not personal data"}


@pytest.mark.parametrize("labels, art9", [
    (["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"], True),
    (["Caucasian", "African-American", "Hispanic"], True),
    (["Male", "Female"], False),
    (["Married-civ-spouse", "Never-married", "Divorced"], False),
    (["<25", "25-45", ">45"], False),
])
def test_labels_give_art9_away_when_the_name_does_not(labels, art9) -> None:
    """A headerless file names its columns column_1..k: a protected column of race labels is
    still GDPR Art. 9 data, a column of sex, marital-status or age labels is not."""
    import pandas as pd

    from auditkit._personal import classify_personal_data

    df = pd.DataFrame({"column_9": labels * 20, "column_2": range(20 * len(labels))})
    pc = classify_personal_data(df, protected=["column_9"])
    assert ("column_9" in pc.special_category_columns) == art9
    assert "column_9" in pc.personal_columns


def test_an_unclassified_column_is_a_data_error_that_quotes_no_value() -> None:
    from auditkit.errors import DataError

    frame = pd.DataFrame({"surname": ["Zebedee-Quayle", "Smithers"], "age": [31, 47]})
    pc = PersonalDataClassification.classify(frame, sample_rows=None)
    assert pc["surname"].column == "surname"
    with pytest.raises(DataError) as exc:
        pc["surnme"]
    assert "Did you mean 'surname'?" in str(exc.value)
    assert isinstance(exc.value, KeyError) and str(exc.value).startswith("The classification")
    assert "Zebedee" not in str(exc.value) and "Smithers" not in str(exc.value)
