"""Operators: registry, validate-then-apply contract, frozen params, known outputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditkit.privacy.crypto import DeterministicCipher, KeyRing
from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking import (
    Operator,
    OperatorContext,
    get_operator,
    operator_names,
    register_operator,
)
from auditkit.privacy.masking._operator_contract import NoParams, param


def _apply(name, values, ctx=None, **params):
    op = get_operator(name)
    p = op.validate(params)
    s = pd.Series(values, dtype="str" if all(isinstance(v, str) or v is None for v in values)
                  else object)
    return op.apply(s, p, ctx or OperatorContext(column="c", entity="EMAIL_ADDRESS"))


def test_registry_lists_every_operator():
    assert set(operator_names()) >= {"keep", "redact", "replace", "mask", "pseudonymize",
                                     "tokenize", "generalise", "drop", "suppress"}


def test_unknown_operator_suggests_the_closest():
    with pytest.raises(ValueError, match="Did you mean 'redact'"):
        get_operator("redakt")


def test_aliases_resolve():
    assert get_operator("hash").name == "pseudonymize"
    assert get_operator("generalize").name == "generalise"


def test_params_are_frozen_dataclasses():
    for name in operator_names():
        op = get_operator(name)
        assert dataclasses.is_dataclass(op.Params)
        p = op.validate({})
        if dataclasses.fields(p):
            f = dataclasses.fields(p)[0].name
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(p, f, None)


@pytest.mark.parametrize("name,params,match", [
    ("mask", {"keep_lats": 2}, "Did you mean 'keep_last'"),
    ("mask", {"keep_last": -1}, "non-negative"),
    ("mask", {"keep_last": "4"}, "non-negative integer"),
    ("mask", {"char": "**"}, "single character"),
    ("generalise", {"to": "yaer"}, "Did you mean 'year'"),
    ("suppress", {"min_count": 1}, ">= 2"),
    ("redact", {"x": 1}, "parameters are: none"),
])
def test_validation_errors_name_the_parameter(name, params, match):
    with pytest.raises(ValueError, match=match):
        get_operator(name).validate(params)


def test_validate_does_not_mutate_the_callers_mapping():
    params = {"keep_last": 2}
    get_operator("mask").validate(params)
    assert params == {"keep_last": 2}


def test_register_refuses_duplicates_and_loose_params():
    with pytest.raises(ValueError, match="already registered"):
        @register_operator
        class Again(Operator):
            name = "redact"
            Params = NoParams

    with pytest.raises(ValueError, match="frozen dataclass"):
        @dataclasses.dataclass
        class Loose:
            x: int = 1

        @register_operator
        class Bad(Operator):
            name = "bad_op"
            Params = Loose


def test_redact_replace_keep_and_nulls():
    vals = ["a@x.org", None, "b@y.org"]
    assert _apply("redact", vals).tolist()[::2] == ["", ""]
    assert pd.isna(_apply("redact", vals)[1])
    assert _apply("replace", vals).tolist()[::2] == ["<EMAIL_ADDRESS>", "<EMAIL_ADDRESS>"]
    assert _apply("replace", vals, value="X").tolist()[0] == "X"
    kept = _apply("keep", vals)
    assert kept[0] == vals[0] and pd.isna(kept[1]) and kept[2] == vals[2]


def test_mask_keeps_last_n_and_separators_unicode_safe():
    out = _apply("mask", ["4111-1111-1111-1234", "Zoë Brontë", "ab"], keep_last=4).tolist()
    assert out == ["****-****-****-1234", "*** **ontë", "*b"]
    out = _apply("mask", ["4111-1111"], keep_last=2, keep_separators=False, char="#").tolist()
    assert out == ["#######11"]


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=20), st.integers(0, 6))
def test_mask_property_length_kept_and_at_most_half_revealed(values, n):
    out = _apply("mask", values, keep_last=n).tolist()
    for v, o in zip(values, out, strict=True):
        assert len(o) == len(v)
        keep = min(len(v) // 2, n)
        assert o[len(o) - keep:] == v[len(v) - keep:] if keep else True


def test_pseudonymize_is_keyed_stable_and_context_separated():
    ring = KeyRing.generate()
    ctx = OperatorContext(column="email", key_ring=ring)
    a = _apply("pseudonymize", ["x@y.org", "z@y.org", "x@y.org"], ctx)
    assert a[0] == a[2] != a[1] and a[0].startswith("akp1:")
    b = _apply("pseudonymize", ["x@y.org"], ctx, context="other")
    assert b[0] != a[0]
    other = _apply("pseudonymize", ["x@y.org"], OperatorContext(column="email",
                                                                 key_ring=KeyRing.generate()))
    assert other[0] != a[0]


def test_keyed_operators_without_a_ring_say_how_to_get_one():
    with pytest.raises(ValueError, match="needs a key ring"):
        _apply("pseudonymize", ["x"], OperatorContext(column="email"))


def test_tokenize_is_deterministic_and_reversible():
    ring = KeyRing.generate()
    ctx = OperatorContext(column="ssn", key_ring=ring)
    toks = _apply("tokenize", ["123-45-6780", "123-45-6780", None], ctx)
    assert toks[0] == toks[1] and pd.isna(toks[2])
    assert DeterministicCipher(ring).decrypt(pd.Series(toks[:2].tolist())).tolist() == [
        "123-45-6780", "123-45-6780"]


def test_generalise_dates_numbers_and_codes():
    dates = ["1980-03-04", "3/29/1982", None]
    assert _apply("generalise", dates, to="year").tolist()[:2] == ["1980", "1982"]
    assert _apply("generalise", dates, to="month").tolist()[:2] == ["1980-03", "1982-03"]
    assert _apply("generalise", dates, to="decade").tolist()[:2] == ["1980s", "1980s"]
    ages = pd.Series([34, 40, 49, 7])
    op = get_operator("generalise")
    out = op.apply(ages, op.validate({"to": "band", "width": 10}), OperatorContext(column="age"))
    assert out.tolist() == ["30-39", "40-49", "40-49", "0-9"]
    out = op.apply(pd.Series([1.5, 2.6]), op.validate({"to": "band", "width": 0.5}),
                   OperatorContext(column="x"))
    assert out.tolist() == ["[1.5, 2)", "[2.5, 3)"]
    assert _apply("generalise", ["02139", "SW1A 1AA"], to="prefix", keep=3).tolist() == [
        "021**", "SW1*****"]


def test_generalise_error_names_row_not_value():
    secret = "not-a-date-zoë"
    with pytest.raises(ValueError) as err:
        _apply("generalise", ["1980-01-01", secret], to="year")
    assert "row 1" in str(err.value) and secret not in str(err.value)


def test_suppress_uses_global_counts_when_given():
    vals = pd.Series(["a", "a", "b", "c"], dtype="str")
    op = get_operator("suppress")
    p = op.validate({"min_count": 2})
    assert op.apply(vals, p, OperatorContext(column="x")).tolist() == ["a", "a", "*", "*"]
    counts = pd.Series({"a": 2, "b": 5, "c": 1})
    assert op.apply(vals, p, OperatorContext(column="x", counts=counts)).tolist() == [
        "a", "a", "b", "*"]


def test_drop_returns_none():
    assert get_operator("drop").apply(pd.Series(["a"]), NoParams(), OperatorContext("c")) is None


def test_operators_leave_the_input_series_untouched():
    s = pd.Series(["4111-1111-1111-1234"], dtype="str")
    before = s.copy()
    for name in ("redact", "replace", "mask", "generalise"):
        params = {"to": "prefix"} if name == "generalise" else {}
        op = get_operator(name)
        op.apply(s, op.validate(params), OperatorContext(column="c"))
    pd.testing.assert_series_equal(s, before)
    assert np.all(s.to_numpy() == before.to_numpy())


# The contract's parameter checks, on a parameter table of every kind.

@dataclasses.dataclass(frozen=True)
class _AllKinds:
    n: int = param(1, "int", "an integer >= 0", min=0)
    x: float = param(1.0, "float", "a number")
    flag: bool = param(False, "bool", "true or false")
    word: str = param("a", "str", "one of a, b", choices=("a", "b"))
    maybe: str | None = param(None, "str", "a string", optional=True)


class _Kinds(Operator):
    name = "kinds_for_test"
    Params = _AllKinds


@pytest.mark.parametrize("params,match", [
    ({"n": True}, "'n' parameter of operator 'kinds_for_test' must be an integer >= 0; got True"),
    ({"n": 1.0}, "must be an integer"),
    ({"n": -1}, "an integer >= 0; got -1"),
    ({"x": False}, "'x' parameter .* must be a number"),
    ({"x": "1"}, "must be a number"),
    ({"flag": 1}, "must be true or false"),
    ({"word": "c"}, r"must be one of \['a', 'b'\]; got 'c'"),
    ({"word": None}, "must be one of a, b; got None"),
    ({"nn": 1}, "Unknown parameter 'nn' .* Did you mean 'n'"),
])
def test_contract_refuses_wrong_kinds_with_the_parameter_named(params, match):
    with pytest.raises(PrivacyInputError, match=match):
        _Kinds.validate(params)


def test_contract_coerces_floats_and_keeps_defaults():
    p = _Kinds.validate({"x": 3, "maybe": None, "word": "b"})
    assert p == _AllKinds(n=1, x=3.0, flag=False, word="b", maybe=None)
    assert isinstance(p.x, float)
    assert _Kinds.validate(None) == _AllKinds()


def test_keyed_operators_share_one_ring_check():
    for name in ("pseudonymize", "tokenize"):
        op = get_operator(name)
        assert op.needs_key
        with pytest.raises(PrivacyInputError, match=f"Operator '{name}' on column 'c' needs a key ring"):
            op.apply(pd.Series(["x"]), op.validate({}), OperatorContext(column="c"))
