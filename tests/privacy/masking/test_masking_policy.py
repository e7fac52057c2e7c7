"""Policies: TOML and Python forms, validation before data, and mask() on DataFrames."""

from __future__ import annotations

import pandas as pd
import pytest

from auditkit.privacy.crypto import KeyRing
from auditkit.privacy.masking import Policy, Rule, load_policy, mask

POLICY_TOML = """
[policy]
unlisted = "keep"

[columns.name]
operator = "replace"

[columns.email]
operator = "pseudonymize"
context = "crm"

[columns.phone]
operator = "mask"
keep_last = 2

[columns.notes]
operator = "replace"
free_text = true

[columns.zip]
operator = "generalise"
to = "prefix"
keep = 3

[columns.ssn]
operator = "drop"

[risk]
quasi_identifiers = ["zip", "sex"]
sensitive = "diagnosis"
k = 2
"""


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "name": ["Zoë Brontë", "Bob Smith", "Ann Lee", "Ann Lee"],
        "email": ["zoe@example.org", "bob@x.com", "ann@y.de", "ann@y.de"],
        "phone": ["+1 212-555-0123", "(415) 555-0199", None, "020 7946 0958"],
        "notes": ["reach me at zoe@example.org or 212-555-0123, or zoe@example.org again",
                  "no personal data in this note at all, only some words", None,
                  "card 4111 1111 1111 1111 and ip 10.1.2.3 in one cell"],
        "zip": ["02139", "02138", "10001", "10002"],
        "sex": ["F", "M", "F", "F"],
        "ssn": ["123-45-6780", "234-56-7890", "345-67-8901", "456-78-9012"],
        "diagnosis": ["flu", "cold", "flu", "asthma"],
        "amount": [1.5, 2.0, 3.25, 4.0],
    })


@pytest.fixture
def policy_file(tmp_path):
    p = tmp_path / "policy.toml"
    p.write_text(POLICY_TOML, encoding="utf-8")
    return p


def test_toml_and_python_forms_are_equal(policy_file):
    from_toml = load_policy(policy_file)
    in_python = Policy(
        rules=(
            Rule.of("name", "replace"),
            Rule.of("email", "pseudonymize", context="crm"),
            Rule.of("phone", "mask", keep_last=2),
            Rule.of("notes", "replace", free_text=True),
            Rule.of("zip", "generalise", to="prefix", keep=3),
            Rule.of("ssn", "drop"),
        ),
        quasi_identifiers=("zip", "sex"), sensitive="diagnosis", k=2,
    )
    assert from_toml == in_python
    assert Policy.from_dict(in_python.to_dict()) == in_python


def test_mask_applies_every_rule(frame, policy_file):
    ring = KeyRing.generate()
    before = frame.copy()
    res = mask(frame, policy_file, key_ring=ring)
    out = res.frame
    pd.testing.assert_frame_equal(frame, before)  # input untouched
    assert "ssn" not in out.columns
    assert out["name"].tolist() == ["<PERSON>"] * 4
    assert out["email"].str.startswith("akp1:").all() and out["email"][2] == out["email"][3]
    assert out["phone"].tolist()[:2] == ["+* ***-***-**23", "(***) ***-**99"]
    assert pd.isna(out["phone"][2])
    assert out["notes"][0] == "reach me at <EMAIL_ADDRESS> or <PHONE_NUMBER>, or <EMAIL_ADDRESS> again"
    assert out["notes"][1] == frame["notes"][1]
    assert out["notes"][3] == "card <CREDIT_CARD> and ip <IP_ADDRESS> in one cell"
    assert out["zip"].tolist() == ["021**", "021**", "100**", "100**"]
    assert out["amount"].tolist() == frame["amount"].tolist()
    changes = {c.column: c for c in res.summary.changes}
    assert changes["notes"].mode == "spans" and changes["notes"].cells_changed == 2
    assert dict(changes["notes"].spans) == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1,
                                            "CREDIT_CARD": 1, "IP_ADDRESS": 1}
    assert changes["ssn"].mode == "dropped"
    assert changes["phone"].cells_changed == 3
    r0, r1 = res.summary.risk_before, res.summary.risk_after
    assert (r0.k_achieved, r0.records_below_k) == (1, 4)
    assert (r1.k_achieved, r1.records_below_k, r1.l_achieved) == (1, 2, 1)


def test_free_text_detected_by_scan_when_rule_does_not_say(frame):
    res = mask(frame, {"columns": {"notes": {"operator": "redact"}}})
    assert res.frame["notes"][3] == "card  and ip  in one cell"


def test_unlisted_personal_columns(frame):
    res = mask(frame, {"policy": {"unlisted": "replace"}, "columns": {"zip": "keep"}})
    assert res.frame["ssn"].tolist() == ["<US_SSN>"] * 4
    assert res.frame["email"].tolist() == ["<EMAIL_ADDRESS>"] * 4
    assert res.frame["zip"].tolist() == frame["zip"].tolist()
    with pytest.raises(ValueError, match="does not say how to treat personal columns"):
        mask(frame, {"policy": {"unlisted": "error"}, "columns": {"zip": "keep"}})
    kept = mask(frame, {"columns": {"zip": "keep"}})
    assert "email" in kept.summary.unmasked_personal


@pytest.mark.parametrize("doc,match", [
    ({"columns": {"x": {"operator": "redakt"}}}, "Did you mean 'redact'"),
    ({"columns": {"x": {"operator": "mask", "keep": 2}}}, "Unknown parameter 'keep'"),
    ({"columns": {"x": {"operator": "drop", "free_text": True}}}, "cannot treat entity spans"),
    ({"columns": {"x": {}}}, "'operator' key"),
    ({"colums": {}}, "Did you mean 'columns'"),
    ({"risk": {"k": 1}}, "integer >= 2"),
    ({"risk": {"quasi_identifiers": "zip"}}, "list of column names"),
    ({"policy": {"unlisted": "generalise"}}, "unlisted"),
])
def test_invalid_policies_are_refused_with_a_fix(doc, match):
    with pytest.raises(ValueError, match=match):
        load_policy(doc)


def test_policy_is_checked_against_columns_before_data_is_read(frame):
    class Untouchable(pd.DataFrame):
        """A frame whose values must not be read."""

        def __getitem__(self, key):  # pragma: no cover - would mean data was read
            raise AssertionError("data was read before the policy was checked")

    df = Untouchable(frame)
    with pytest.raises(ValueError, match="Did you mean 'email'"):
        mask(df, {"columns": {"emial": "redact"}})
    with pytest.raises(ValueError, match="quasi_identifiers names column 'zipcode'"):
        mask(df, {"risk": {"quasi_identifiers": ["zipcode"]}})


def test_bad_toml_file_messages(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[columns\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_policy(bad)


def test_keyed_policy_without_ring_is_refused(frame):
    with pytest.raises(ValueError, match="no key ring was given"):
        mask(frame, {"columns": {"email": "pseudonymize"}})


def test_key_ring_named_by_policy_is_loaded(frame, tmp_path, monkeypatch):
    ring = KeyRing.generate()
    ring.save(tmp_path / "ring.json", passphrase="correct horse")
    (tmp_path / "p.toml").write_text(
        '[policy]\nkey_ring = "ring.json"\npassphrase_env = "RING_PASS"\n'
        '[columns.email]\noperator = "tokenize"\n', encoding="utf-8")
    monkeypatch.setenv("RING_PASS", "correct horse")
    out = mask(frame, tmp_path / "p.toml").frame
    from auditkit.privacy.crypto import DeterministicCipher

    assert DeterministicCipher(ring).decrypt(out["email"]).tolist() == frame["email"].tolist()


def test_two_rules_for_one_column_refused():
    with pytest.raises(ValueError, match="two rules"):
        Policy(rules=(Rule.of("a", "drop"), Rule.of("a", "redact")))
