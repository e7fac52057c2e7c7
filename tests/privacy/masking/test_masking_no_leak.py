"""Never leak: planted personal values must not appear anywhere the toolkit writes.

The plants include several entities in one cell, non-ASCII text and values on both sides of a
chunk boundary (and a multi-line cell straddling it). They are checked against masked output
columns, the inventory, summaries, logs, progress output, exception messages, the CLI and the
audit reports.
"""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import tomli_w

from auditkit.privacy.masking import load_policy, mask, mask_file, scan

NAME = "Zoë Brontë-Ångström"
EMAIL = "zoë.brontë+leak@exämple.org"
PHONE = "+44 20 7946 0958"
CARD = "4539 1488 0343 6467"
SSN = "219-45-6789"
IBAN = "GB82WEST12345698765432"
IP = "203.0.113.77"
MULTI = f"Zoë wrote from {EMAIL}, {PHONE}; card {CARD}\nssn {SSN} iban {IBAN} ip {IP}."
PLANTS = [NAME, EMAIL, PHONE, CARD, SSN, IBAN, IP]
# Pieces a partial leak would show (the masking keeps at most the last 4 characters).
PIECES = ["Brontë", "brontë+leak", "7946", "4539", "1488 0343", "219-45", "WEST1234", "203.0.113"]

POLICY = {
    "columns": {
        "name": {"operator": "replace"},
        "email": {"operator": "redact"},
        "phone": {"operator": "replace"},
        "card": {"operator": "mask", "keep_last": 4},
        "ssn": {"operator": "drop"},
        "notes": {"operator": "replace", "free_text": True},
    },
}
CHUNK = 50


def _frame(n=120):
    rows = []
    for i in range(n):
        rows.append({
            "id": i,
            "name": NAME if i % 7 == 0 else f"Person {i}",
            "email": EMAIL if i % 5 == 0 else f"p{i}@example.org",
            "phone": PHONE,
            "card": CARD,
            "ssn": SSN,
            "notes": MULTI if i in (0, CHUNK - 1, CHUNK, 2 * CHUNK - 1, 2 * CHUNK)
            else f"plain words only in row {i}, nothing else to see",
            "amount": i * 1.5,
        })
    return pd.DataFrame(rows)


def _no_plant(text: str, where: str) -> None:
    for v in PLANTS + PIECES:
        assert v not in text, f"{where} leaks a planted value"


def test_masked_columns_inventory_and_summary(caplog):
    df = _frame()
    with caplog.at_level(logging.DEBUG):
        inv = scan(df)
        res = mask(df, POLICY)
    out = res.frame
    for col in ("name", "email", "phone", "card", "notes"):
        _no_plant("\n".join(out[col].astype(str)), f"masked column {col}")
    assert out["card"][0] == "**** **** **** 6467"
    assert "ssn" not in out.columns
    _no_plant(inv.to_json(), "inventory JSON")
    _no_plant(repr(inv) + inv.to_frame().to_string(), "inventory repr")
    _no_plant(json.dumps(res.summary.to_dict()) + repr(res.summary), "summary")
    _no_plant(caplog.text, "logs")


def test_chunked_file_with_values_across_the_chunk_boundary(tmp_path, capsys):
    df = _frame()
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    dst = tmp_path / "out.csv"
    seen = []
    summary = mask_file(src, dst, POLICY, chunk_rows=CHUNK, progress=lambda n: seen.append(n))
    text = dst.read_text(encoding="utf-8")
    _no_plant(text, "masked CSV")
    _no_plant(json.dumps(summary.to_dict()), "summary")
    _no_plant(repr(seen) + "".join(capsys.readouterr()), "progress output")
    back = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert len(back) == len(df) and back["notes"][CHUNK - 1] == back["notes"][CHUNK]


def test_exception_messages_name_rows_not_values(tmp_path):
    df = _frame(10)
    with pytest.raises(ValueError) as err:
        mask(df, {"columns": {"name": {"operator": "generalise", "to": "year"}}})
    _no_plant(str(err.value), "exception message")
    assert "row 0" in str(err.value)
    with pytest.raises(ValueError) as err:
        mask(df, {"columns": {"notes": {"operator": "generalise", "to": "band"}}})
    _no_plant(str(err.value), "exception message")
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    with pytest.raises(ValueError) as err:
        mask_file(src, tmp_path / "o.csv", {"columns": {"email": {"operator": "generalise",
                                                                  "to": "month"}}}, chunk_rows=3)
    _no_plant(str(err.value), "exception message")


@pytest.mark.slow
def test_cli_scan_and_mask_print_no_values(tmp_path, cli):
    src = tmp_path / "in.csv"
    _frame().to_csv(src, index=False)
    policy = tmp_path / "policy.toml"
    policy.write_text(tomli_w.dumps(POLICY), encoding="utf-8")
    for args in (["scan", str(src)], ["scan", str(src), "--json"]):
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr
        _no_plant(proc.stdout + proc.stderr, f"auditkit {' '.join(args[:1])}")
    assert "EMAIL_ADDRESS" in cli("scan", str(src)).stdout
    inv = json.loads(cli("scan", str(src), "--json").stdout)
    assert {c["column"]: c["entity"] for c in inv["columns"]}["card"] == "CREDIT_CARD"
    out = tmp_path / "out.csv"
    proc = cli("mask", str(src), str(out), "--policy", str(policy), "--chunk-rows", str(CHUNK))
    assert proc.returncode == 0, proc.stderr
    _no_plant(proc.stdout + proc.stderr, "auditkit mask")
    _no_plant(out.read_text(encoding="utf-8"), "auditkit mask output")
    assert "masked 120 rows" in proc.stderr and "notes" in proc.stdout
    # Refuses to overwrite its input; error on one line, exit 2, no value.
    before = src.read_bytes()
    proc = cli("mask", str(src), str(src), "--policy", str(policy))
    assert proc.returncode == 2 and "never overwrites its input" in proc.stderr
    assert src.read_bytes() == before
    # A policy error is reported before any data is read, exit 2.
    policy.write_text('[columns.emial]\noperator = "redact"\n', encoding="utf-8")
    proc = cli("mask", str(src), str(tmp_path / "o2.csv"), "--policy", str(policy))
    assert proc.returncode == 2 and "Did you mean 'email'" in proc.stderr
    assert not (tmp_path / "o2.csv").exists()


def test_audit_report_data_protection_section_has_no_values(tmp_path):
    from auditkit.runner import run_audit

    df = _frame()
    df["zip"] = ["02139", "02138", "10001"] * 40
    df["sex"] = ["F", "M"] * 60
    df.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "policy.toml").write_text(tomli_w.dumps({**POLICY, "risk": {
        "quasi_identifiers": ["zip", "sex"], "k": 5}}), encoding="utf-8")
    cfg = {
        "audit": {"title": "Leak test", "system": "test"},
        "data": {"path": "data.csv"},
        "report": {"out": "out", "formats": ["json", "md", "html"]},
        "checks": {"data_protection": {"policy": "policy.toml"}},
    }
    (tmp_path / "audit.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    run = run_audit(tmp_path / "audit.toml", only=["data_protection"])
    ids = {f.check_id: f for f in run.report.findings}
    assert ids["data_protection.inventory"].metrics["personal_columns"] >= 6
    assert ids["data_protection.minimisation"].status.value == "pass"
    assert ids["data_protection.k_anonymity"].metrics["k_after"] >= 5
    assert ids["data_protection.special_categories"].status.value == "warn"
    for path in run.paths.values():
        _no_plant(path.read_text(encoding="utf-8"), f"report {path.name}")


def test_policy_validation_message_has_no_values():
    with pytest.raises(ValueError) as err:
        load_policy({"columns": {"email": {"operator": "replace", "value": 5}}})
    assert "value" in str(err.value)
