"""Arrow text helpers: the cells an operator rewrites, and the Series it hands back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._arrow_text import (
    mask_characters,
    rebuild,
    repeated,
    replace_spans,
    text_cells,
)

cells = st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=30)


@settings(max_examples=80, deadline=None)
@given(cells)
def test_text_cells_then_rebuild_is_the_identity_on_text(values):
    s = pd.Series(values, dtype=object, index=np.arange(len(values)) * 3, name="c")
    arr, mask = text_cells(s)
    assert len(arr) == int(mask.sum()) == sum(v is not None for v in values)
    back = rebuild(s, arr, mask)
    assert back.name == "c" and list(back.index) == list(s.index)
    assert [None if pd.isna(v) else v for v in back] == values


def test_rebuild_puts_new_cells_where_the_non_null_ones_were():
    s = pd.Series(["a", None, "b", None])
    out = rebuild(s, ["X", "Y"], s.notna().to_numpy())
    assert out.iloc[0] == "X" and out.iloc[2] == "Y"
    assert out.isna().tolist() == [False, True, False, True]


def test_repeated():
    assert repeated("<x>", 3).to_pylist() == ["<x>"] * 3
    assert repeated("", 0).to_pylist() == []


def test_mask_characters_known_answers():
    arr = pa.array(["ab-12 c", "zoë", "", "日本"], type=pa.string())
    assert mask_characters(arr, "*", True).to_pylist() == ["**-** *", "***", "", "**"]
    assert mask_characters(arr, "#", False).to_pylist() == ["#######", "###", "", "##"]
    # A multi-byte mask character takes the regex path, with the same result shape.
    assert mask_characters(arr, "•", True).to_pylist() == ["••-•• •", "•••", "", "••"]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(max_size=15), max_size=20), st.booleans())
def test_mask_characters_keeps_one_character_per_code_point(values, keep_separators):
    out = mask_characters(pa.array(values, type=pa.string()), "*", keep_separators).to_pylist()
    assert [len(v) for v in out] == [len(v) for v in values]
    if not keep_separators:
        assert all(set(v) <= {"*"} for v in out)


# -- spans replaced in place ------------------------------------------------------------------

def _replace_in_python(values, spans):
    out = list(values)
    for i in sorted({r for r, *_ in spans}):
        row = sorted((s, e, rep) for r, s, e, rep in spans if r == i)
        text, pos, parts = values[i], 0, []
        for s, e, rep in row:
            parts += [text[pos:s], rep]
            pos = e
        out[i] = "".join(parts) + text[pos:]
    return out


@st.composite
def cells_and_spans(draw):
    values = draw(st.lists(st.one_of(st.none(), st.text(max_size=15)), max_size=12))
    spans = []
    for i, v in enumerate(values):
        if not v:
            continue
        cuts = sorted(set(draw(st.lists(st.integers(0, len(v)), max_size=6))))
        for s, e in zip(cuts[::2], cuts[1::2], strict=False):
            spans.append((i, s, e, draw(st.text(max_size=4))))
    return values, draw(st.permutations(spans))


@settings(max_examples=150, deadline=None)
@given(cells_and_spans())
def test_replace_spans_matches_slicing_in_python(case):
    values, spans = case
    arr = pa.array(values, type=pa.string())
    rows, starts, ends, reps = (list(x) for x in zip(*spans, strict=True)) if spans else \
        ([], [], [], [])
    out = replace_spans(arr, rows, starts, ends, reps)
    assert out.to_pylist() == _replace_in_python(values, spans)
    out.validate(full=True)


def test_replace_spans_known_answers():
    arr = pa.array(["héllo wörld", None, "", "abc"])
    out = replace_spans(arr, [3, 0, 0, 3], [1, 6, 0, 3], [1, 11, 5, 3], ["<", "<B>", "<A>", ">"])
    assert out.to_pylist() == ["<A> <B>", None, "", "a<bc>"]


@pytest.mark.parametrize(("rows", "starts", "ends"), [
    ([0, 0], [0, 2], [3, 4]),  # overlapping
    ([0], [2], [1]),  # reversed
    ([1], [0], [4]),  # past the end of the cell
])
def test_replace_spans_refuses_bad_spans_without_the_text(rows, starts, ends):
    with pytest.raises(PrivacyInputError) as info:
        replace_spans(pa.array(["secret", "abc"]), rows, starts, ends, ["x"] * len(rows))
    assert "secret" not in str(info.value)
