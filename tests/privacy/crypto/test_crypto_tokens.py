"""Column tokens (AES-GCM, AES-SIV), keyed pseudonyms, encrypt_columns / decrypt_columns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.privacy.crypto import (
    DeterministicCipher,
    KeyRing,
    Pseudonymizer,
    RandomizedCipher,
    decrypt_columns,
    encrypt_columns,
)
from auditkit.privacy.crypto._keyring import _Key
from auditkit.privacy.crypto._tokens import _b64d, _b64e
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

RING = KeyRing.generate()
OTHER = KeyRing.generate()

scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.binary(max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(scalars, st.none()), max_size=30))
def test_round_trip_keeps_values_and_types(values):
    for cipher in (RandomizedCipher(RING), DeterministicCipher(RING)):
        tokens = cipher.encrypt(values)
        assert isinstance(tokens, list) and len(tokens) == len(values)
        back = cipher.decrypt(tokens)
        for v, t, b in zip(values, tokens, back, strict=True):
            if v is None:
                assert t is None and b is None
            else:
                assert isinstance(t, str) and t.isascii() and "," not in t and "\n" not in t
                assert type(b) is type(v)
                assert b == v or (v == 0 and b == 0)  # -0.0 comes back as 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(scalars, min_size=1, max_size=20))
def test_deterministic_preserves_equality_exactly(values):
    tokens = DeterministicCipher(RING).encrypt(values)
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            same = type(a) is type(b) and (a == b)
            assert (tokens[i] == tokens[j]) == same


def test_randomized_hides_equality():
    t = RandomizedCipher(RING).encrypt(["x"] * 50)
    assert len(set(t)) == 50


def test_type_tags_separate_lookalikes():
    t = DeterministicCipher(RING).encrypt([5, 5.0, "5", True, 1, b"5"])
    assert len(set(t)) == 6


def test_tokens_carry_key_id_and_survive_rotation():
    ring = KeyRing.generate()
    old = ring.primary_id
    det, rnd = DeterministicCipher(ring).encrypt(["a"]), RandomizedCipher(ring).encrypt(["a"])
    assert det[0].startswith(f"akd1:{old}:") and rnd[0].startswith(f"akr1:{old}:")
    new = ring.rotate()
    assert DeterministicCipher(ring).encrypt(["a"])[0].startswith(f"akd1:{new}:")
    assert DeterministicCipher(ring).decrypt(det + rnd) == ["a", "a"]


@pytest.mark.parametrize("cls", [RandomizedCipher, DeterministicCipher])
def test_tampered_tokens_fail_opaquely(cls):
    ring = KeyRing.generate()
    token = cls(ring).encrypt(["secret value"])[0]
    kind, kid, body = token.split(":")
    raw = _b64d(body)
    bad = []
    for i in range(len(raw)):
        flipped = bytearray(raw)
        flipped[i] ^= 1
        bad.append(f"{kind}:{kid}:{_b64e(bytes(flipped))}")
    bad.append(f"{kind}:{kid}:{body[:-2]}")  # truncated
    bad.append(f"{kind}:{kid}:{body}AA")  # extended
    other_kind = "akr1" if kind == "akd1" else "akd1"
    bad.append(f"{other_kind}:{kid}:{body}")  # kind swapped
    second = ring.rotate()
    bad.append(f"{kind}:{second}:{body}")  # key id swapped to another key of the ring
    bad.append(f"{kind}:ffffffff:{body}")  # unknown key id
    bad.append(f"{kind}:{kid}")  # malformed
    for t in bad:
        with pytest.raises(DecryptionError) as exc:
            cls(ring).decrypt([t])
        assert "secret" not in str(exc.value)
    with pytest.raises(DecryptionError):
        cls(OTHER).decrypt([token])


def test_non_token_names_row_not_value():
    s = pd.Series([RandomizedCipher(RING).encrypt("x"), "alice@example.com"], name="email")
    with pytest.raises(PrivacyInputError) as exc:
        RandomizedCipher(RING).decrypt(s)
    assert "Row 1 of column 'email'" in str(exc.value)
    assert "alice" not in str(exc.value)


def test_unsupported_type_message():
    with pytest.raises(PrivacyInputError, match="type 'dict'") as exc:
        DeterministicCipher(RING).encrypt(pd.Series([{"a": 1}], name="c"))
    assert "column 'c'" in str(exc.value)


def test_shapes_are_kept():
    s = pd.Series(["a", None, "b"], index=[10, 20, 30], name="n")
    out = DeterministicCipher(RING).encrypt(s)
    assert isinstance(out, pd.Series) and list(out.index) == [10, 20, 30] and out.name == "n"
    assert out.isna().tolist() == [False, True, False]
    arr = DeterministicCipher(RING).encrypt(np.array([["a", "b"], ["c", "a"]], dtype=object))
    assert arr.shape == (2, 2) and arr[0, 0] == arr[1, 1]
    assert isinstance(Pseudonymizer(RING).pseudonymize("a"), str)
    assert Pseudonymizer(RING).pseudonymize(None) is None


# -- pseudonyms ---------------------------------------------------------------------------
def _fixed_ring(material: bytes) -> KeyRing:
    return KeyRing([_Key("0a0b0c0d", 1, "2026-01-01T00:00:00Z", material)], "0a0b0c0d")


def test_pseudonym_known_answer():
    """The pseudonym is HMAC-SHA-256 under HKDF(key, info='auditkit/v1/pseudonym/<ctx>')."""
    material = bytes(range(32))
    sub = HKDF(hashes.SHA256(), 32, None, b"auditkit/v1/pseudonym/patients").derive(material)
    h = hmac.HMAC(sub, hashes.SHA256())
    h.update(b"s" + b"alice")
    expected = "akp1:0a0b0c0d:" + _b64e(h.finalize())
    p = Pseudonymizer(_fixed_ring(material), context="patients")
    assert p.key_id == "0a0b0c0d"
    assert p.pseudonymize(["alice"]) == [expected]


def test_pseudonyms_stable_keyed_and_context_separated():
    s = pd.Series(["alice", "bob", "alice", None, "carol"], name="name")
    p = Pseudonymizer(RING, context="a")
    first = p.pseudonymize(s)
    again = Pseudonymizer(RING, context="a").pseudonymize(s)
    assert first.equals(again)
    assert first[0] == first[2] and first[0] != first[1] and pd.isna(first[3])
    assert not set(first.dropna()) & set(Pseudonymizer(RING, context="b").pseudonymize(s).dropna())
    assert not set(first.dropna()) & set(Pseudonymizer(OTHER, context="a").pseudonymize(s).dropna())
    assert all(t.startswith(f"akp1:{p.key_id}:") for t in first.dropna())


def test_pseudonymizer_can_use_an_older_key():
    ring = KeyRing.generate()
    old = ring.primary_id
    before = Pseudonymizer(ring).pseudonymize(["x"])
    ring.rotate()
    assert Pseudonymizer(ring).pseudonymize(["x"]) != before
    assert Pseudonymizer(ring, key_id=old).pseudonymize(["x"]) == before
    with pytest.raises(PrivacyInputError, match="not in the ring"):
        Pseudonymizer(ring, key_id="deadbeef")


def test_vectorised_path_matches_scalar_path():
    s = pd.Series(["a", "b", "a", "c"] * 100)
    p = Pseudonymizer(RING)
    fast = p.pseudonymize(s)
    slow = [p.pseudonymize(v) for v in s]
    assert fast.tolist() == slow
    ints = pd.Series([1, 2, 1, 3], dtype="int64")
    assert p.pseudonymize(ints).tolist() == [p.pseudonymize(int(v)) for v in ints]
    mixed = pd.Series([1, "1", 1.0, True], dtype=object)
    assert len(set(p.pseudonymize(mixed))) == 4


# -- DataFrames ---------------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "email": ["a@x.org", "b@x.org", None, "a@x.org"],
            "age": [31, 45, 27, 31],
            "score": [0.5, np.nan, -1.25, 0.5],
            "when": pd.to_datetime(["2024-01-01", None, "2024-03-01", "2024-01-01"]),
            "day": [dt.date(2024, 1, 1), dt.date(2024, 1, 2), None, dt.date(2024, 1, 1)],
            "keep": [1, 2, 3, 4],
        }
    )


@pytest.mark.parametrize("deterministic", [False, True])
def test_encrypt_decrypt_columns_round_trip(deterministic):
    df = _frame()
    snapshot = df.copy()
    cols = ["email", "age", "score", "when", "day"]
    enc = encrypt_columns(df, cols, RING, deterministic=deterministic)
    pd.testing.assert_frame_equal(df, snapshot)  # input untouched
    assert enc["keep"].tolist() == df["keep"].tolist()
    assert enc["email"].isna().tolist() == df["email"].isna().tolist()
    assert (enc["email"][0] == enc["email"][3]) == deterministic
    dec = decrypt_columns(enc, cols, RING)
    pd.testing.assert_frame_equal(dec, df, check_dtype=False)
    assert dec["age"].dtype == np.int64 and dec["score"].dtype == np.float64


def test_deterministic_columns_join():
    left = pd.DataFrame({"id": ["u1", "u2", "u3"], "x": [1, 2, 3]})
    right = pd.DataFrame({"id": ["u3", "u1"], "y": [30, 10]})
    el = encrypt_columns(left, "id", RING, deterministic=True)
    er = encrypt_columns(right, "id", RING, deterministic=True)
    joined = el.merge(er, on="id")
    assert sorted(zip(joined["x"], joined["y"], strict=True)) == [(1, 10), (3, 30)]


def test_unknown_column_suggests():
    with pytest.raises(PrivacyInputError, match="Did you mean 'email'"):
        encrypt_columns(_frame(), ["emial"], RING)
    with pytest.raises(PrivacyInputError, match="KeyRing"):
        encrypt_columns(_frame(), ["email"], "not a ring")


def test_dask_partitions():
    import dask.dataframe as dd
    df = _frame()[["email", "age", "keep"]]
    ddf = dd.from_pandas(df, npartitions=2)
    enc = encrypt_columns(ddf, ["email", "age"], RING, deterministic=True)
    assert type(enc).__module__.startswith("dask")
    computed = enc.compute()
    assert computed["email"].iloc[0] == computed["email"].iloc[3]
    dec = decrypt_columns(enc, ["email", "age"], RING).compute()
    assert dec["email"].tolist()[:2] == ["a@x.org", "b@x.org"]
    assert dec["age"].astype(int).tolist() == df["age"].tolist()
