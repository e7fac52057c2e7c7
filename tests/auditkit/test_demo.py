"""``auditkit demo`` end to end through the CLI: deterministic data, every report, every area."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from auditkit.demo import CHECK_SETUP, PERSONAL, DemoContext, generate_applications
from auditkit.demo._setup import DEMO_PASSPHRASE, DEMO_PASSPHRASE_ENV
from auditkit.reports._json import validate_report_json


def test_generator_is_deterministic_and_plants_a_disparity() -> None:
    a = generate_applications(3000, seed=11)
    b = generate_applications(3000, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(generate_applications(3000, seed=12))
    rates = a.groupby("race")["approved"].mean()
    assert rates["Black"] / rates.max() < 0.8  # the planted gap fails the four-fifths rule
    # ZIP prefix (region) carries information about race: the planted proxy.
    mix = pd.crosstab(a["region"], a["race"], normalize="index")
    assert mix.loc["south", "Black"] > 3 * mix.loc["north", "Black"]


def test_generated_identifiers_are_well_formed() -> None:
    df = generate_applications(500, seed=1)

    def luhn_ok(number: str) -> bool:
        digits = [int(c) for c in number][::-1]
        total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
        return total % 10 == 0

    assert df["card_number"].map(luhn_ok).all()
    area = df["ssn"].str.slice(0, 3).astype(int)
    assert ((area > 0) & (area < 900) & (area != 666)).all()
    assert df["zip"].str.fullmatch(r"\d{5}").all()
    assert df["email"].str.fullmatch(r"[a-z]+\.[a-z]+\d+@[a-z.]+").all()


def test_demo_writes_every_report_and_every_area(demo_run: Path) -> None:
    report_dir = demo_run / "report"
    for name in ("report.html", "report.md", "report.json"):
        assert (report_dir / name).stat().st_size > 0, name
    doc = json.loads((report_dir / "report.json").read_text())
    validate_report_json(doc)
    assert doc["metadata"]["rows"] == 4000

    from auditkit.checks._registry import iter_checks

    sections = {s["id"]: s for s in doc["sections"]}
    for spec in iter_checks():
        if spec.id in CHECK_SETUP or spec.id == "dataset":
            assert spec.section in sections, f"the demo shows no {spec.section} section"
    errors = [f["check_id"] for s in doc["sections"] for f in s["findings"] if f["status"] == "error"]
    assert errors == [], f"checks crashed in the demo: {errors}"


def test_demo_reports_carry_no_personal_values(demo_run: Path) -> None:
    df = pd.read_csv(demo_run / "applications.csv", dtype=str)
    texts = [(demo_run / "report" / n).read_text() for n in ("report.html", "report.md", "report.json")]
    for col in PERSONAL:
        for value in df[col].dropna().unique()[:300]:
            if len(value) >= 6:
                assert not any(value in t for t in texts), f"a value of {col} appears in a report"


def test_demo_report_is_signed_and_verifies(demo_run: Path, cli) -> None:
    assert (demo_run / "report" / "manifest.json").exists()
    proc = cli("verify", str(demo_run / "report"), "--public-key",
               str(demo_run / "keys" / "report-signing.pem.pub"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_demo_transparency_flags_region_as_a_proxy_for_race(demo_run: Path) -> None:
    doc = json.loads((demo_run / "report" / "report.json").read_text())
    findings = {f["check_id"]: f for s in doc["sections"] for f in s["findings"]}
    proxies = findings["transparency.proxies"]
    assert proxies["status"] == "warn"
    assert "region stands in for race" in proxies["summary"]


# -- each check's demo set-up (auditkit.demo.CHECK_SETUP) -----------------------------------------


def _demo_context(small_data, out_dir: Path) -> DemoContext:
    src, df = small_data
    shutil.copy(src / "data.csv", out_dir / "applications.csv")
    return DemoContext.for_applications(out_dir, df, data_path=out_dir / "applications.csv",
                                        model_path=src / "model.skops")


@pytest.mark.parametrize("check_id", sorted(set(CHECK_SETUP) - {"private_training"}))
def test_each_setup_returns_options_its_check_accepts(check_id, small_data, tmp_path, monkeypatch):
    from auditkit.checks._registry import get_check

    monkeypatch.delenv(DEMO_PASSPHRASE_ENV, raising=False)
    options = CHECK_SETUP[check_id](_demo_context(small_data, tmp_path))
    get_check(check_id).options.model_validate(options)
    assert json.loads(json.dumps(options)) == options  # what audit.toml holds


def test_every_setup_names_a_registered_check() -> None:
    from auditkit.checks._registry import iter_checks

    assert set(CHECK_SETUP) <= {spec.id for spec in iter_checks()}


def test_security_setup_creates_real_evidence(small_data, tmp_path, monkeypatch):
    from auditkit.privacy.crypto import KeyRing, decrypt_file, file_info

    monkeypatch.delenv(DEMO_PASSPHRASE_ENV, raising=False)
    options = CHECK_SETUP["security"](_demo_context(small_data, tmp_path))
    assert os.environ[DEMO_PASSPHRASE_ENV] == DEMO_PASSPHRASE
    ring = KeyRing.load(tmp_path / options["keyring"], passphrase=os.environ[DEMO_PASSPHRASE_ENV])
    assert len(ring.key_ids) == 2
    enc = tmp_path / options["artifacts"][0]
    assert file_info(enc).key_id == ring.primary_id  # rewrapped after the rotation
    decrypt_file(enc, tmp_path / "back.csv", ring)
    assert (tmp_path / "back.csv").read_bytes() == (tmp_path / "applications.csv").read_bytes()


def test_data_protection_setup_masks_only_the_declared_personal_columns(small_data, tmp_path):
    from auditkit.privacy.masking import load_policy

    ctx = dataclasses.replace(_demo_context(small_data, tmp_path), personal=["email", "zip"])
    options = CHECK_SETUP["data_protection"](ctx)
    policy = load_policy(tmp_path / options["policy"])
    assert sorted(rule.column for rule in policy.rules) == ["email", "zip"]
    assert options["quasi_identifiers"] == ["zip", "date_of_birth", "sex"]
    assert options["sensitive"] == "race" and options["k"] == 5


def test_demo_config_lists_the_checks_in_report_order(demo_run: Path) -> None:
    from auditkit.checks._registry import iter_checks
    from auditkit.toml_files import loads

    config = loads((demo_run / "audit.toml").read_text())
    assert list(config["checks"]) == [s.id for s in iter_checks() if s.id in CHECK_SETUP]
    assert config["checks"]["security"]["passphrase_env"] == DEMO_PASSPHRASE_ENV


def test_the_demo_passphrase_lives_only_in_the_demo_package() -> None:
    package = Path(__file__).resolve().parents[2] / "auditkit"
    if not package.is_dir():
        pytest.skip("reads the source tree; run it from the checkout")
    holders = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py")
                     if DEMO_PASSPHRASE in p.read_text(encoding="utf-8"))
    assert holders == ["demo/_setup.py"]


def test_fit_and_score_predicts_approval_at_half() -> None:
    from auditkit.demo._model import fit_and_score

    df = generate_applications(600, seed=2)
    fit_and_score(df, random_state=0, score="p_approved", prediction="decision")
    assert df["p_approved"].between(0, 1).all()
    assert (df["decision"] == (df["p_approved"] >= 0.5).astype(int)).all()
