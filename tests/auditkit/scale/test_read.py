"""Partitions streamed in frames or read whole give what ``load_table`` gives the one file."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from auditkit._io import load_table
from auditkit._scale._read import iter_frames, read_all, schema_of
from auditkit._scale._sources import resolve_sources
from auditkit.config import KeysConfig
from auditkit.demo._applications import generate_applications
from auditkit.errors import DataError
from auditkit.privacy.crypto import KeyRing, encrypt_file

ENV = "TEST_AUDITKIT_SCALE_PASSPHRASE"
PASSPHRASE = "test passphrase, not a secret"
TEXT = ["zip"]
PLANTED = "PLANTED-9c41e7"


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return generate_applications(n=3000, seed=1)


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def split(frame: pd.DataFrame, root: Path, suffix: str, n: int) -> list[Path]:
    size = -(-len(frame) // n)
    return [write(frame.iloc[i * size:(i + 1) * size], root / f"part-{i}{suffix}")
            for i in range(n)]


def streamed(sources, *, columns=None, keys=None, base_dir=Path("."), batch_rows=262_144,
             **layout) -> pd.DataFrame:
    frames = [f for p in sources.partitions
              for f in iter_frames(p, columns=columns, string_columns=TEXT, keys=keys,
                                   base_dir=base_dir, batch_rows=batch_rows, **layout)]
    return pd.concat(frames, ignore_index=True)


def whole(sources, *, keys=None, base_dir=Path("."), **layout) -> pd.DataFrame:
    return read_all(sources, string_columns=TEXT, keys=keys, base_dir=base_dir, **layout).frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("n_parts", [1, 4])
@pytest.mark.parametrize("batch_rows", [250, 1000, 262_144])
def test_streamed_and_whole_equal_the_single_file(tmp_path, demo, suffix, n_parts, batch_rows):
    reference = load_table(write(demo, tmp_path / f"all{suffix}"), string_columns=TEXT).frame
    split(demo, tmp_path / "parts", suffix, n_parts)
    sources = resolve_sources("parts", tmp_path)
    assert len(sources.partitions) == n_parts
    pd.testing.assert_frame_equal(whole(sources), reference)
    pd.testing.assert_frame_equal(streamed(sources, batch_rows=batch_rows), reference)
    assert pd.api.types.is_string_dtype(reference["zip"])  # string_columns stay text


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_frames_come_in_batches_with_running_row_numbers(tmp_path, demo, suffix):
    (part,) = resolve_sources(str(write(demo, tmp_path / f"d{suffix}")), tmp_path).partitions
    frames = list(iter_frames(part, columns=None, string_columns=TEXT, keys=None,
                              base_dir=tmp_path, batch_rows=700))
    assert [len(f) for f in frames] == [700, 700, 700, 700, 200]
    assert list(pd.concat(frames).index) == list(range(3000))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_columns_selects_and_orders(tmp_path, demo, suffix):
    sources = resolve_sources(str(write(demo, tmp_path / f"d{suffix}")), tmp_path)
    got = streamed(sources, columns=["age", "zip", "sex"], batch_rows=500)
    pd.testing.assert_frame_equal(got, load_table(sources.partitions[0].path,
                                                  string_columns=TEXT).frame[["age", "zip", "sex"]])
    with pytest.raises(DataError, match=r"no column 'agee'.*Did you mean 'age'"):
        streamed(sources, columns=["agee"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_schema_of_names_what_load_table_gives(tmp_path, demo, suffix):
    path = write(demo, tmp_path / f"d{suffix}")
    (part,) = resolve_sources(path.name, tmp_path).partitions
    names = schema_of(part, string_columns=TEXT, keys=None, base_dir=tmp_path)
    assert names == list(load_table(path, string_columns=TEXT).frame.columns)


def test_schema_of_leaves_out_a_stored_pandas_index(tmp_path, demo):
    frame = demo.head(50).set_index("applicant_id")
    frame.to_parquet(tmp_path / "d.parquet")
    (part,) = resolve_sources("d.parquet", tmp_path).partitions
    assert schema_of(part, string_columns=[], keys=None, base_dir=tmp_path) == list(frame.columns)
    got = pd.concat(iter_frames(part, columns=None, string_columns=[], keys=None,
                                base_dir=tmp_path, batch_rows=20))
    pd.testing.assert_frame_equal(got, load_table(tmp_path / "d.parquet").frame)


@pytest.mark.parametrize("fields", ["extra", "short"])
def test_a_ragged_row_in_partition_2_is_refused_naming_the_file_not_the_value(
        tmp_path, demo, fields):
    paths = split(demo, tmp_path / "parts", ".csv", 3)
    lines = paths[1].read_text().splitlines()
    cells = lines[5].split(",")
    cells = [*cells, PLANTED] if fields == "extra" else [PLANTED, *cells[1:-3]]
    lines[5] = ",".join(cells)
    paths[1].write_text("\n".join(lines) + "\n")
    sources = resolve_sources("parts", tmp_path)
    given = list(iter_frames(sources.partitions[0], columns=None, string_columns=TEXT,
                             keys=None, base_dir=tmp_path))
    assert sum(map(len, given)) == 1000
    frames = []
    with pytest.raises(DataError) as err:
        frames.extend(iter_frames(sources.partitions[1], columns=None, string_columns=TEXT,
                                  keys=None, base_dir=tmp_path, batch_rows=2))
    assert frames == []  # refused before any frame: the file is checked first
    assert "part-1.csv" in str(err.value) and "line 6" in str(err.value)
    assert PLANTED not in str(err.value) and PLANTED not in repr(err.value.__context__)
    with pytest.raises(DataError) as err:
        whole(sources, base_dir=tmp_path)
    assert "part-1.csv" in str(err.value) and PLANTED not in str(err.value)


def test_partitions_with_different_columns_are_refused(tmp_path, demo):
    write(demo.head(10), tmp_path / "d" / "a.csv")
    write(demo.head(10).drop(columns=["ssn"]), tmp_path / "d" / "b.csv")
    with pytest.raises(DataError) as err:
        whole(resolve_sources("d", tmp_path))
    msg = str(err.value)
    assert "a.csv" in msg and "b.csv" in msg and "lacks 'ssn'" in msg
    reordered = demo.head(10)[list(reversed(demo.columns))]
    write(reordered, tmp_path / "d" / "b.csv")
    with pytest.raises(DataError, match="another order"):
        whole(resolve_sources("d", tmp_path))


def with_copy(frame: pd.DataFrame, path: Path, differ_at: tuple[int, ...] = ()) -> Path:
    copy = frame.assign(age_copy=frame["age"])
    copy.loc[copy.index[list(differ_at)], "age_copy"] = -1
    copy.to_csv(path, index=False, header=[*frame.columns, "age"])
    return path


def test_identical_repeated_columns_are_dropped_with_a_notice_per_partition(tmp_path, demo):
    (tmp_path / "d").mkdir()
    for i in range(2):
        with_copy(demo.iloc[i * 1500:(i + 1) * 1500], tmp_path / "d" / f"p{i}.csv")
    sources = resolve_sources("d", tmp_path)
    loaded = read_all(sources, string_columns=TEXT, keys=None, base_dir=tmp_path)
    assert len(loaded.notices) == 2 and all("repeats column names" in n for n in loaded.notices)
    assert [d.positions for d in loaded.dropped_duplicates] == [(12, 24), (12, 24)]
    expected = load_table(write(demo, tmp_path / "all.csv"), string_columns=TEXT).frame
    pd.testing.assert_frame_equal(loaded.frame, expected)
    pd.testing.assert_frame_equal(streamed(sources, batch_rows=400), expected)


def test_differing_repeated_columns_are_counted_over_the_whole_file(tmp_path, demo):
    path = with_copy(demo, tmp_path / "d.csv", differ_at=(3, 2500))
    (part,) = resolve_sources("d.csv", tmp_path).partitions
    with pytest.raises(DataError) as err:
        list(iter_frames(part, columns=None, string_columns=TEXT, keys=None, base_dir=tmp_path,
                         batch_rows=1000))
    assert "column 24 differs from column 12 in 2 of 3,000 rows" in str(err.value)
    with pytest.raises(DataError) as whole_err:
        load_table(path, string_columns=TEXT)
    assert str(whole_err.value) == str(err.value)


def test_a_header_less_csv_after_a_note(tmp_path, demo):
    body = demo.head(40).to_csv(index=False, header=False)
    (tmp_path / "d.csv").write_text("|exported for the test\n" + body)
    (part,) = resolve_sources("d.csv", tmp_path).partitions
    layout = {"header": False, "skip_lines": 1}
    got = pd.concat(iter_frames(part, columns=None, string_columns=["column_8"], keys=None,
                                base_dir=tmp_path, batch_rows=7, **layout), ignore_index=True)
    expected = load_table(part.path, string_columns=["column_8"], **layout).frame
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.columns[:2]) == ["column_1", "column_2"]


def test_a_header_only_csv_is_refused(tmp_path, demo):
    demo.head(0).to_csv(tmp_path / "d.csv", index=False)
    (part,) = resolve_sources("d.csv", tmp_path).partitions
    with pytest.raises(DataError, match="has no rows"):
        list(iter_frames(part, columns=None, string_columns=[], keys=None, base_dir=tmp_path))


@pytest.fixture
def keys(tmp_path, monkeypatch) -> tuple[KeyRing, KeysConfig]:
    ring = KeyRing.generate()
    ring.save(tmp_path / "ring.json", passphrase=PASSPHRASE)
    monkeypatch.setenv(ENV, PASSPHRASE)
    return ring, KeysConfig(keyring="ring.json", passphrase_env=ENV)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_encrypted_partitions_read_equal_to_plain(tmp_path, demo, keys, suffix):
    ring, config = keys
    plain = split(demo, tmp_path / "plain", suffix, 3)
    (tmp_path / "enc").mkdir()
    for p in plain:
        encrypt_file(p, tmp_path / "enc" / (p.name + ".enc"), ring)
    before = sorted(os.listdir(tmp_path / "enc"))
    enc = resolve_sources("enc", tmp_path)
    assert all(p.encrypted for p in enc.partitions)
    reference = whole(resolve_sources("plain", tmp_path))
    pd.testing.assert_frame_equal(whole(enc, keys=config, base_dir=tmp_path), reference)
    pd.testing.assert_frame_equal(
        streamed(enc, keys=config, base_dir=tmp_path, batch_rows=300), reference)
    assert schema_of(enc.partitions[0], string_columns=TEXT, keys=config,
                     base_dir=tmp_path) == list(reference.columns)
    assert sorted(os.listdir(tmp_path / "enc")) == before  # no plaintext written beside them


def test_an_encrypted_partition_without_keys_or_altered_is_refused(tmp_path, demo, keys):
    ring, config = keys
    plain = write(demo, tmp_path / "d.csv")
    encrypt_file(plain, tmp_path / "d.csv.enc", ring, segment_size=65536)
    (part,) = resolve_sources("d.csv.enc", tmp_path).partitions
    with pytest.raises(DataError, match="names no key ring"):
        list(iter_frames(part, columns=None, string_columns=[], keys=None, base_dir=tmp_path))
    data = bytearray((tmp_path / "d.csv.enc").read_bytes())
    data[len(data) // 2] ^= 1
    (tmp_path / "d.csv.enc").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"d\.csv\.enc' could not be decrypted"):
        list(iter_frames(part, columns=None, string_columns=[], keys=config, base_dir=tmp_path))


def test_a_column_typed_differently_per_frame_keeps_its_values(tmp_path, demo):
    frame = demo.assign(code=[str(i) if i < 2000 else f"X{i}" for i in range(3000)],
                        existing_loans=demo["existing_loans"].astype("Int64"))
    frame.loc[2500:, "existing_loans"] = None  # int64 in the first frames, float64 in the last
    path = write(frame, tmp_path / "d.csv")
    (part,) = resolve_sources("d.csv", tmp_path).partitions
    text = [*TEXT, "code"]  # numbers-only in the first frames: declared, it stays text
    frames = list(iter_frames(part, columns=None, string_columns=text, keys=None,
                              base_dir=tmp_path, batch_rows=1000))
    assert [str(f["existing_loans"].dtype) for f in frames] == ["int64", "int64", "float64"]
    expected = load_table(path, string_columns=text).frame
    pd.testing.assert_frame_equal(pd.concat(frames), expected)
    assert expected["code"].iloc[0] == "0" and expected["existing_loans"].isna().sum() == 500
