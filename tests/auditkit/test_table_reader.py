"""The dataset reader on files as they are published (issue 13): repeated column names and
spaces around CSV text.

Known answers are built beside each file (the frame the reader must return, the rows that
differ), and a property test checks the count of differing rows against brute force.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit._formats import DATA_FORMATS
from auditkit._io import load_table
from auditkit.cli import main
from auditkit.errors import DataError
from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.tabular import DuplicateColumns, TableFile

DATASETS = Path("/work/shared/datasets")
ADULT_TEST = DATASETS / "adult" / "adult.test"
COMPAS = DATASETS / "compas" / "compas-scores-two-years.csv"
SECRET = "Zebedee-Quayle"  # a value no message may show


def _base(kind: str, n: int = 12) -> pd.DataFrame:
    """Columns a, b, c; ``b`` is text or numbers, with missing values in rows 2 and 7."""
    b: list = ([f"{SECRET}{i}" for i in range(n)] if kind == "text"
               else [i * 1.5 for i in range(n)])
    b[2] = b[7] = None
    return pd.DataFrame({"a": range(n), "b": b, "c": [f"g{i % 3}" for i in range(n)]})


def _write(frame: pd.DataFrame, names: list[str], path, fmt: str) -> None:
    """``frame`` written under ``names`` (which may repeat), as CSV or Parquet."""
    if fmt == "csv":
        frame.set_axis(names, axis=1).to_csv(path, index=False)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = [pa.Array.from_pandas(frame.iloc[:, j]) for j in range(frame.shape[1])]
        pq.write_table(pa.Table.from_arrays(arrays, names=names), path)


def _with_copies(base: pd.DataFrame, copies: int) -> tuple[pd.DataFrame, list[str], list[int]]:
    """``base`` with ``copies - 1`` copies of column b appended after c, and their positions."""
    extra = [base["b"].copy() for _ in range(copies - 1)]
    frame = pd.concat([base, *extra], axis=1)
    names = [*base.columns, *(["b"] * (copies - 1))]
    return frame, names, [2, *range(4, 4 + copies - 1)]


# -- repeated names ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("kind", ["text", "numeric"])
@pytest.mark.parametrize("copies", [2, 3])
def test_identical_copies_are_dropped_and_named_once(tmp_path, fmt, kind, copies):
    base = _base(kind)
    frame, names, positions = _with_copies(base, copies)
    path = tmp_path / f"t.{fmt}"
    _write(frame, names, path, fmt)
    got = load_table(path)
    expected = load_table(_written_without_copies(base, tmp_path, fmt)).frame
    pd.testing.assert_frame_equal(got.frame, expected)
    assert got.dropped_duplicates == (DuplicateColumns("b", tuple(positions)),)
    assert len(got.notices) == 1
    notice = got.notices[0]
    listed = " and ".join(map(str, positions)) if copies == 2 else "2, 4 and 5"
    assert f"'b' (columns {listed})" in notice and "identical" in notice
    assert SECRET not in notice and "1.5" not in notice
    pd.testing.assert_frame_equal(load_table(path).frame, got.frame)  # the frame alone, same read


def _written_without_copies(base: pd.DataFrame, tmp_path, fmt: str):
    path = tmp_path / f"plain.{fmt}"
    _write(base, list(base.columns), path, fmt)
    return path


def _differ(kind: str, how: str, row: int) -> tuple[pd.DataFrame, pd.Series]:
    base = _base(kind)
    copy = base["b"].copy()
    if how == "one cell":
        copy[row] = f"{SECRET}x" if kind == "text" else -1.0
    else:  # a missing value in one copy only: the copy misses a value the first has
        copy[row] = None
    return base, copy


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("kind", ["text", "numeric"])
@pytest.mark.parametrize("how", ["one cell", "missing in one copy"])
@pytest.mark.parametrize("row", [0, 5, 11])
def test_copies_that_differ_are_refused_with_the_count(tmp_path, fmt, kind, how, row):
    base, copy = _differ(kind, how, row)
    frame = pd.concat([base, copy], axis=1)
    path = tmp_path / f"t.{fmt}"
    _write(frame, ["a", "b", "c", "b"], path, fmt)
    with pytest.raises(DataError) as err:
        load_table(path)
    msg = str(err.value)
    assert ("duplicate column names: 'b' (columns 2 and 4), where column 4 differs from "
            "column 2 in 1 of 12 rows") in msg
    assert "rename" in msg
    assert SECRET not in msg and "1.5" not in msg


def test_missing_in_the_first_column_only_also_differs(tmp_path):
    base = _base("text")
    first = base["b"].copy()
    base.loc[4, "b"] = None  # the kept column misses a value its copy has
    _write(pd.concat([base, first], axis=1), ["a", "b", "c", "b"], tmp_path / "t.csv", "csv")
    with pytest.raises(DataError, match="column 4 differs from column 2 in 1 of 12 rows"):
        load_table(tmp_path / "t.csv")


def test_several_names_and_copies_are_all_counted(tmp_path):
    base = _base("numeric")
    b2, b3 = base["b"].copy(), base["b"].copy()
    b3[[0, 1, 3]] = 99.0
    c2 = base["c"].copy()
    c2[5] = "other"
    frame = pd.concat([base, b2, c2, b3], axis=1)
    _write(frame, ["a", "b", "c", "b", "c", "b"], tmp_path / "t.csv", "csv")
    with pytest.raises(DataError) as err:
        load_table(tmp_path / "t.csv")
    msg = str(err.value)
    assert "'b' (columns 2, 4 and 6), where column 6 differs from column 2 in 3 of 12 rows" in msg
    assert "'c' (columns 3 and 5), where column 5 differs from column 3 in 1 of 12 rows" in msg
    assert "column 4 differs" not in msg  # an identical copy is not blamed


def test_only_the_rows_read_are_compared(tmp_path):
    """``init`` samples: copies equal in the sample pass there; the full read refuses them."""
    base = _base("numeric", 40)
    copy = base["b"].copy()
    copy[30] = -1.0
    _write(pd.concat([base, copy], axis=1), ["a", "b", "c", "b"], tmp_path / "t.csv", "csv")
    assert load_table(tmp_path / "t.csv", nrows=20).frame.shape == (20, 3)
    with pytest.raises(DataError, match="in 1 of 40 rows"):
        load_table(tmp_path / "t.csv")


_CELL = st.one_of(st.none(), st.integers(-3, 3))


@settings(max_examples=60, deadline=None)
@given(first=st.lists(_CELL, min_size=1, max_size=25), data=st.data())
def test_rows_differing_match_brute_force(tmp_path_factory, first, data):
    copy = data.draw(st.lists(_CELL, min_size=len(first), max_size=len(first)), label="copy")
    # Numbers only, so that CSV and pandas agree on the values: a missing cell is None.
    brute = sum(1 for x, y in zip(first, copy, strict=True) if x != y)
    frame = pd.DataFrame({"k": range(len(first)), "v": first, "w": copy})
    path = tmp_path_factory.mktemp("dup") / "t.csv"
    frame.to_csv(path, index=False, header=["k", "v", "v"])
    if brute == 0:
        got = load_table(path)
        assert list(got.frame.columns) == ["k", "v"] and got.notices
    else:
        with pytest.raises(DataError, match=f"differs from column 2 in {brute} of {len(first)} rows"):
            load_table(path)


def test_headerless_file_has_no_names_to_repeat(tmp_path):
    (tmp_path / "t.data").write_text("0,0,1,0\n1,1,0,1\n2,0,0,2\n")
    got = load_table(tmp_path / "t.data", "csv", header=False)
    assert list(got.frame.columns) == ["column_1", "column_2", "column_3", "column_4"]
    assert got.notices == () and got.dropped_duplicates == ()


def test_scan_and_mask_still_refuse_a_repeated_name(tmp_path):
    """:class:`TableFile` refuses repeated names unless the reader asks to compare them."""
    base = _base("numeric")
    _write(pd.concat([base, base["b"]], axis=1), ["a", "b", "c", "b"], tmp_path / "t.csv", "csv")
    with pytest.raises(PrivacyInputError, match="duplicate column names: 'b' .columns 2 and 4."):
        TableFile(tmp_path / "t.csv", "csv").columns()
    assert TableFile(tmp_path / "t.csv", "csv", allow_duplicate_names=True).columns() == [
        "a", "b", "c", "b"]


def test_a_ragged_row_is_still_named_when_names_repeat(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,a\n1,2,1\n3,4\n")
    with pytest.raises(DataError, match=r"line 3 \(data row 2\) has 2 fields where the header has 3"):
        load_table(tmp_path / "t.csv")


@pytest.mark.skipif(not COMPAS.exists(), reason="COMPAS data set not present")
def test_compas_as_published(tmp_path, capsys):
    got = load_table(COMPAS)
    names = list(got.frame.columns)
    assert len(names) == 51  # 53 in the file, less the two identical copies
    assert names.count("decile_score") == 1 and names.count("priors_count") == 1
    assert names.index("decile_score") == 11 and names.index("priors_count") == 14
    assert got.dropped_duplicates == (DuplicateColumns("decile_score", (12, 40)),
                                      DuplicateColumns("priors_count", (15, 49)))
    (notice,) = got.notices
    assert notice.startswith("The dataset 'compas-scores-two-years.csv' repeats")  # no directory
    assert "'decile_score' (columns 12 and 40), 'priors_count' (columns 15 and 49)" in notice
    assert "copies (columns 40 and 49) were dropped" in notice
    mangled = pd.read_csv(COMPAS)  # pandas' own reading: the copies renamed ".1"
    for col in names:
        pd.testing.assert_series_equal(got.frame[col], mangled[col], check_dtype=False)
    assert main(["init", str(COMPAS), "--out", str(tmp_path / "a.toml")]) == 0
    capsys.readouterr()


# -- spaces around CSV text ---------------------------------------------------------------------
@pytest.mark.parametrize(("cell", "expected"), [
    (" Male", "Male"), ("Male ", "Male"), ("  Male\t", "Male"), ('" Male "', "Male"),
    ("Male", "Male"), (" two words ", "two words"), ("   ", None), ('"  "', None), ("", None),
])
def test_text_is_read_without_surrounding_spaces(tmp_path, cell, expected):
    (tmp_path / "t.csv").write_text(f"n, sex ,x\n 1,{cell},a\n2 , Female,b\n")
    df = load_table(tmp_path / "t.csv").frame
    assert list(df.columns) == ["n", "sex", "x"]
    assert df["n"].tolist() == [1, 2] and df["n"].dtype == np.int64  # numbers parse as numbers
    assert df["sex"].iloc[1] == "Female"
    got = df["sex"].iloc[0]
    assert (pd.isna(got) if expected is None else got == expected)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.tuples(st.text(" ", max_size=3),
                                 st.text("abcXYZ-<=.", min_size=1, max_size=8),
                                 st.text(" ", max_size=3)), min_size=1, max_size=20))
def test_spaces_property(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("spaces") / "t.csv"
    path.write_text("k,v\n" + "".join(f"{i},{a}{v}{b}\n" for i, (a, v, b) in enumerate(values)))
    got = load_table(path).frame["v"]
    assert [str(x) for x in got] == [v for _, v, _ in values]


def test_parquet_text_is_read_as_written(tmp_path):
    pd.DataFrame({"k": [1, 2], "v": [" Male", "Female "]}).to_parquet(tmp_path / "t.parquet")
    assert load_table(tmp_path / "t.parquet").frame["v"].tolist() == [" Male", "Female "]


def test_repeated_name_after_spaces_is_a_repeated_name(tmp_path):
    (tmp_path / "t.csv").write_text("a, b,b \n1,x,x\n2,y,y\n")
    got = load_table(tmp_path / "t.csv")
    assert list(got.frame.columns) == ["a", "b"]
    assert got.dropped_duplicates == (DuplicateColumns("b", (2, 3)),)


@pytest.mark.skipif(not ADULT_TEST.exists(), reason="Adult data set not present")
def test_adult_test_as_downloaded():
    df = load_table(ADULT_TEST, "csv", header=False).frame
    assert set(df["column_10"]) == {"Male", "Female"}
    assert set(df["column_15"]) == {">50K.", "<=50K."}
    assert df["column_1"].dtype == np.int64 and df["column_1"].between(17, 90).all()
    assert len(df) == sum(1 for line in ADULT_TEST.read_text().splitlines() if line.strip())


def test_declared_text_column_is_stripped_and_keeps_its_zeros(tmp_path):
    (tmp_path / "t.csv").write_text('id,zip\n1, 007 \n2,\n3,"  "\n4,0100\n')
    df = load_table(tmp_path / "t.csv", string_columns=["zip"]).frame
    assert df["zip"].iloc[0] == "007" and df["zip"].iloc[3] == "0100"
    assert df["zip"].iloc[1:3].isna().all()


# -- the format registry: one list of data formats, read by the reader ------------------------


def test_every_data_format_has_a_parser_and_nothing_else_does() -> None:
    from auditkit._io import PARSERS

    assert set(PARSERS) == {f.name for f in DATA_FORMATS}


@given(st.sampled_from([s for f in DATA_FORMATS for s in f.suffixes]), st.booleans(),
       st.booleans())
def test_every_registered_suffix_names_its_format(suffix: str, upper: bool, encrypted: bool) -> None:
    from auditkit._io import detect_format

    name = "data.v2" + (suffix.upper() if upper else suffix) + (".enc" if encrypted else "")
    want = next(f.name for f in DATA_FORMATS if suffix in f.suffixes)
    assert detect_format(Path(name)) == want
    assert detect_format(Path(name), "csv") == "csv"  # a named format wins over the suffix


def test_an_unknown_suffix_lists_every_registered_one() -> None:
    from auditkit._io import detect_format

    with pytest.raises(DataError) as exc:
        detect_format(Path("data.xlsx"))
    for f in DATA_FORMATS:
        assert all(s in str(exc.value) for s in f.suffixes)
        assert f'"{f.name}"' in str(exc.value)


# -- the one list of table formats (auditkit.privacy.tabular.TABLE_FORMATS) ----------------------
@pytest.mark.parametrize("name", ["data.csv", "DATA.TSV", "x.txt", "a.b.parquet", "t.PQ"])
def test_table_format_from_every_suffix(name: str) -> None:
    from auditkit.privacy.tabular import TABLE_FORMATS, table_format

    fmt = table_format(name)
    assert name.lower().rsplit(".", 1)[-1] in {s.lstrip(".") for s in TABLE_FORMATS[fmt]}


def test_table_format_refusals_name_the_file_and_the_choices() -> None:
    from auditkit.privacy.errors import PrivacyInputError
    from auditkit.privacy.tabular import table_format

    with pytest.raises(PrivacyInputError, match=r"'scores\.xlsx'.*\.csv, \.tsv, \.txt, \.parquet, \.pq"):
        table_format("scores.xlsx")
    with pytest.raises(PrivacyInputError, match=r"'csv' or 'parquet'; got 'parket'\. Did you mean 'parquet'\?"):
        table_format("x.csv", "parket")


def test_the_runner_and_the_masking_streams_read_one_list_of_formats() -> None:
    from auditkit._formats import DATA_FORMATS
    from auditkit.privacy.tabular import TABLE_FORMATS

    assert {f.name: f.suffixes for f in DATA_FORMATS} == TABLE_FORMATS
