"""Never leak: planted personal values must not appear anywhere the toolkit writes.

The plants include several entities in one cell, non-ASCII text and values on both sides of a
chunk boundary (and a multi-line cell straddling it). They are checked against masked output
columns, the inventory, summaries, logs, progress output, exception messages, the CLI and the
audit reports.
"""

from __future__ import annotations

import json
import logging
from functools import partial

import pandas as pd
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.privacy.crypto import KeyRing
from auditkit.privacy.errors import PrivacyInputError
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


# -- a cell Arrow cannot hold (a lone surrogate) ----------------------------------------------

_RING = KeyRing.generate()
#: The secret part of the bad cell: characters no message of the toolkit holds.
SECRET = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
                 min_size=1, max_size=12)
CLEAN = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)),
                                     max_size=20))
OPERATORS = ["redact", "replace", "mask", "suppress", "keep", "pseudonymize", "tokenize"]


def _mask_whole(df: pd.DataFrame, operator: str):
    return mask(df, {"columns": {"notes": {"operator": operator, "free_text": False}}},
                key_ring=_RING)


CALLS = {
    "scan": lambda df: scan(df),
    "mask unlisted": lambda df: mask(df, {"policy": {"unlisted": "redact"}}),
    "mask spans": lambda df: mask(df, {"columns": {"notes": {"operator": "replace",
                                                             "free_text": True}}}),
    "mask generalise": lambda df: mask(df, {"columns": {"notes": {
        "operator": "generalise", "to": "prefix", "keep": 1, "free_text": False}}}),
    "mask dates": lambda df: mask(df, {"columns": {"notes": {
        "operator": "generalise", "to": "year", "free_text": False}}}),
    # No rule reads the column and nothing is scanned: the risk figures meet it first.
    "risk": lambda df: mask(df, {"columns": {"id": {"operator": "keep", "free_text": False}},
                                 "risk": {"quasi_identifiers": ["notes"], "k": 2}}),
    **{f"mask {op}": partial(_mask_whole, operator=op) for op in OPERATORS},
}


def _exception_text(exc: BaseException) -> str:
    """Everything a logger or a rich traceback may print of an exception."""
    return "\n".join([str(exc), repr(exc), repr(exc.args), repr(vars(exc)),
                      repr(getattr(exc, "__notes__", None))])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRET, cut=st.integers(0, 12), surrogate=st.integers(0xD800, 0xDFFF).map(chr),
       others=st.lists(CLEAN, max_size=30), where=st.integers(0, 30),
       call=st.sampled_from(sorted(CALLS)))
def test_a_cell_arrow_cannot_hold_raises_one_error_naming_column_and_row(
        secret, cut, surrogate, others, where, call):
    cell = secret[:cut] + surrogate + secret[cut:]
    row = min(where, len(others))
    cells = others[:row] + [cell] + others[row:]
    df = pd.DataFrame({"id": range(len(cells)), "notes": pd.Series(cells, dtype=object)})
    with pytest.raises(PrivacyInputError) as err:
        CALLS[call](df)
    exc = err.value
    assert "'notes'" in str(exc) and f"first at row {row}," in str(exc)
    assert "encode('utf-8', 'replace')" in str(exc)  # says what to do
    assert exc.__cause__ is None and exc.__context__ is None
    assert not set(secret) & set(_exception_text(exc))


def test_a_sampled_scan_names_the_row_of_the_frame_not_of_the_sample():
    cells = [f"row {i}" for i in range(60)]
    cells[37] = "秘密\udc80密"
    df = pd.DataFrame({"notes": pd.Series(cells, dtype=object)})
    raised = 0
    for seed in range(40):
        try:
            scan(df, sample_rows=10, seed=seed)
        except PrivacyInputError as exc:
            assert "first at row 37," in str(exc) and "秘" not in _exception_text(exc)
            raised += 1
    assert raised  # row 37 was in some of the samples


def test_mask_file_reads_no_surrogates_it_refuses_bytes_that_are_not_utf8(tmp_path):
    """Files are read by Arrow, strictly: the UTF-8 form of a surrogate is not text there, so
    no cell holding one reaches the masking; the error names the line, not the value."""
    src = tmp_path / "in.csv"
    src.write_bytes(b"name,notes\nann,ok\nbob,ab\xed\xa0\x80" +
                    "秘密cd\n".encode())
    with pytest.raises(PrivacyInputError, match="line 3") as err:
        mask_file(src, tmp_path / "out.csv", {"policy": {"unlisted": "redact"}})
    assert "秘" not in str(err.value) and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("bad", [b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"\x80\x80"])
@pytest.mark.parametrize("read", ["scan_file", "mask_file"])
def test_an_undecodable_file_leaves_no_cell_in_the_chained_exception(tmp_path, bad, read):
    """``raise ... from None`` hides the parser's exception but keeps it as ``__context__``;
    a decoding error's ``object`` holds the raw bytes, so it is emptied before the raise."""
    from auditkit.privacy.masking import scan_file

    src = tmp_path / "in.csv"
    src.write_bytes(b"name,notes\nann,ok\nbob,SECRET" + bad + b"VALUE\n")
    with pytest.raises(PrivacyInputError) as err:
        if read == "scan_file":
            scan_file(src)
        else:
            mask_file(src, tmp_path / "out.csv", {"policy": {"unlisted": "redact"}})
    seen, exc = [], err.value
    while exc is not None:
        seen.append(repr(exc) + repr(getattr(exc, "object", "")) + repr(exc.args))
        exc = exc.__context__ or exc.__cause__
    assert not any("SECRET" in s or "VALUE" in s for s in seen)


@pytest.mark.parametrize("operator", ["mask", "suppress", "generalise", "replace"])
def test_a_chunk_names_the_row_of_the_file_not_of_the_chunk(operator):
    """``mask_file`` masks chunk by chunk; an operator's error counts rows from the chunk's
    first row in the file (``row_offset``), not from 0."""
    from auditkit.privacy.masking import Masker, load_policy

    params = {"to": "prefix", "keep": 1} if operator == "generalise" else {}
    policy = load_policy({"columns": {"notes": {"operator": operator, "free_text": False,
                                                **params}}})
    cells = ["ok", "fine", "秘\udc80密", "ok"]
    df = pd.DataFrame({"notes": pd.Series(cells, dtype=object)})
    with pytest.raises(PrivacyInputError) as err:
        Masker(policy, list(df.columns)).apply(df, row_offset=1000)
    assert "first at row 1002," in str(err.value) and "秘" not in str(err.value)
