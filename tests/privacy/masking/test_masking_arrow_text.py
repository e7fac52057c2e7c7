"""Arrow text helpers: the cells an operator rewrites, and the Series it hands back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.privacy.masking._arrow_text import mask_characters, rebuild, repeated, text_cells

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
