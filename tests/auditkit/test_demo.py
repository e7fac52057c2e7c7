"""``auditkit demo`` end to end through the CLI: deterministic data, every report, every area."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from auditkit.demo import PERSONAL, generate_applications
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
        if spec.demo is not None or spec.id == "dataset":
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
