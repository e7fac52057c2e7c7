"""The transparency check end to end through the runner, on the small synthetic audit."""

from __future__ import annotations

import re

import lime  # noqa: F401 - the test command installs it: missing, the run fails (never skips)
import pytest
import shap  # noqa: F401 - the test command installs it: missing, the run fails (never skips)

from auditkit.checks._registry import get_check
from auditkit.runner import run_audit

FAST = {
    "sample_rows": 300,
    "n_bootstrap": 50,
    "lime_samples": 300,
    "stability_repeats": 2,
    "stability_rows": 200,
}


def _run(audit_dir, base_config, write_config, **options):
    cfg = base_config(checks={"transparency": {**FAST, **options}})
    write_config(audit_dir, cfg)
    run = run_audit(audit_dir / "audit.toml", only=["transparency"], formats=["json", "md"])
    return run, {f.check_id: f for f in run.report.findings}


def test_transparency_section_findings(audit_dir, base_config, write_config, small_data) -> None:
    run, by_id = _run(audit_dir, base_config, write_config)
    expected = {
        "transparency.method",
        "transparency.global_importance",
        "transparency.efficiency",
        "transparency.local_explanations",
        "transparency.agreement",
        "transparency.stability",
        "transparency.protected_reliance",
        "transparency.proxies",
    }
    assert expected <= set(by_id), sorted(by_id)
    assert by_id["transparency.efficiency"].status.value == "pass"
    assert by_id["transparency.method"].metrics["explainer"] == "tree"
    imp = by_id["transparency.global_importance"]
    assert imp.figures and imp.figures[0].svg.lstrip().startswith("<?xml")
    assert {r[1] for r in imp.tables[0].rows} == set(run.report.config["model"]["features"])
    local = by_id["transparency.local_explanations"]
    assert len(local.tables) == 3
    # Individuals are named by the configured id column (not personal data here).
    _, df = small_data
    ids = set(df["applicant_id"])
    assert all(t.title.split(":")[0].removeprefix("Individual ") in ids for t in local.tables)
    for fid in expected:
        assert set(by_id[fid].regulations) <= set(get_check("transparency").regulations)


def test_no_personal_value_appears_anywhere(
    audit_dir, base_config, write_config, small_data
) -> None:
    _, df = small_data
    run, _ = _run(audit_dir, base_config, write_config)
    text = (audit_dir / "out" / "report.json").read_text() + (
        audit_dir / "out" / "report.md"
    ).read_text()
    personal = ["name", "email", "phone", "ssn", "card_number", "street_address", "zip"]
    sample = df[personal].head(200).astype(str).to_numpy().ravel()
    # as a whole token: a 5-digit ZIP may occur by chance inside a SHA-256 digest or a long
    # number (a wheel-suite run found '11993' so), which is not the value
    leaked = [v for v in sample if len(v) > 4
              and re.search(rf"(?<![0-9A-Za-z]){re.escape(v)}(?![0-9A-Za-z])", text)]
    assert leaked == []


def test_individuals_by_id_and_unknown_ones(
    audit_dir, base_config, write_config, small_data
) -> None:
    _, df = small_data
    wanted = list(df["applicant_id"].iloc[[5, 9]])
    _, by_id = _run(audit_dir, base_config, write_config, individuals=wanted, n_individuals=2)
    titles = [t.title for t in by_id["transparency.local_explanations"].tables]
    assert [t.split(":")[0] for t in titles] == [f"Individual {w}" for w in wanted]
    _, by_id = _run(audit_dir, base_config, write_config, individuals=["NOPE-1"])
    err = by_id["transparency.individuals"]
    assert err.status.value == "error" and "NOPE-1" in err.summary
    assert "transparency.local_explanations" in by_id  # picked automatically instead


def test_efficiency_violation_fails(audit_dir, base_config, write_config) -> None:
    run, by_id = _run(audit_dir, base_config, write_config, efficiency_tolerance=1e-300)
    assert by_id["transparency.efficiency"].status.value == "fail"
    assert run.exit_code == 1


def test_options_are_validated(audit_dir, base_config, write_config) -> None:
    from auditkit.checks.transparency import TransparencyOptions

    with pytest.raises(ValueError, match="Did you mean 'kernel'"):
        TransparencyOptions(method="kernal")
    with pytest.raises(ValueError, match="at least 2"):
        TransparencyOptions(stability_repeats=1)
    assert TransparencyOptions().method == "auto"


@pytest.mark.parametrize("kind", ["logistic", pytest.param("knn", marks=pytest.mark.slow)])
def test_any_sklearn_classifier_pipeline(
    audit_dir, base_config, write_config, small_data, kind
) -> None:
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from auditkit.demo import CATEGORICAL_FEATURES, FEATURES, LABEL, NUMERIC_FEATURES

    _, df = small_data
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL_FEATURES),
            ("num", StandardScaler(), NUMERIC_FEATURES),
        ]
    )
    est = LogisticRegression(max_iter=1000) if kind == "logistic" else KNeighborsClassifier(25)
    model = Pipeline([("pre", pre), ("clf", est)]).fit(df[FEATURES], df[LABEL])
    sio.dump(model, audit_dir / "model.skops")
    cfg = base_config(
        checks={
            "transparency": {
                **FAST,
                "sample_rows": 20 if kind == "knn" else 300,
                "stability_rows": 10 if kind == "knn" else 200,
            }
        },
        model={"trusted_types": sio.get_untrusted_types(file=audit_dir / "model.skops")},
    )
    write_config(audit_dir, cfg)
    run = run_audit(audit_dir / "audit.toml", only=["transparency"], formats=["json"])
    by_id = {f.check_id: f for f in run.report.findings}
    assert "transparency.error" not in by_id, by_id.get("transparency.error")
    assert by_id["transparency.method"].metrics["explainer"] == (
        "linear" if kind == "logistic" else "permutation"
    )
    assert by_id["transparency.efficiency"].status.value == "pass"
    features = {r[1] for r in by_id["transparency.global_importance"].tables[0].rows}
    assert features == set(FEATURES)
