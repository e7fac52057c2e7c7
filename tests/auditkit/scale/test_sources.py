"""``[data] path`` as a file, a glob or a directory of partitions, and the engine chosen for it."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from auditkit._scale._sources import (
    ENGINES,
    Partition,
    Sources,
    choose_engine,
    default_budget_bytes,
    resolve_sources,
)
from auditkit.demo._applications import generate_applications
from auditkit.errors import ConfigError, DataError
from auditkit.privacy.crypto import KeyRing, encrypt_file


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return generate_applications(n=3000, seed=1)


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


def split(frame: pd.DataFrame, root: Path, names: list[str]) -> list[Path]:
    size = -(-len(frame) // len(names))
    return [write(frame.iloc[i * size:(i + 1) * size], root / n) for i, n in enumerate(names)]


def rel(sources: Sources, base: Path) -> list[str]:
    return [p.path.relative_to(base).as_posix() for p in sources.partitions]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".tsv"])
def test_a_single_file_is_one_partition(tmp_path, demo, suffix):
    write(demo, tmp_path / f"data{suffix}")
    src = resolve_sources(f"data{suffix}", tmp_path)
    (part,) = src.partitions
    assert part.path == tmp_path / f"data{suffix}"
    assert part.format == ("parquet" if suffix == ".parquet" else "csv")
    assert not part.encrypted and part.size_bytes == part.path.stat().st_size
    assert src.rows == (3000 if suffix == ".parquet" else None)
    assert src.display == f"data{suffix}"


def test_a_glob_takes_matching_files_in_sorted_order(tmp_path, demo):
    split(demo, tmp_path / "parts", ["p2.parquet", "p10.parquet", "p1.parquet"])
    write(demo.head(5), tmp_path / "parts" / "other.csv")
    src = resolve_sources("parts/*.parquet", tmp_path)
    assert rel(src, tmp_path) == ["parts/p1.parquet", "parts/p10.parquet", "parts/p2.parquet"]
    assert src.rows == 3000 and src.format == "parquet"
    assert src.display == "parts/*.parquet (3 Parquet partitions)"


def test_a_double_star_glob_descends_and_skips_underscore_and_dot_names(tmp_path, demo):
    split(demo, tmp_path / "t", ["year=2024/a.parquet", "year=2025/b.parquet"])
    write(demo.head(3), tmp_path / "t" / "_temporary" / "0" / "c.parquet")
    write(demo.head(3), tmp_path / "t" / "year=2025" / "_tmp.parquet")
    (tmp_path / "t" / "_SUCCESS").write_text("")
    src = resolve_sources("t/**/*.parquet", tmp_path)
    assert rel(src, tmp_path) == ["t/year=2024/a.parquet", "t/year=2025/b.parquet"]
    src = resolve_sources("t/*/*.parquet", tmp_path)
    assert rel(src, tmp_path) == ["t/year=2024/a.parquet", "t/year=2025/b.parquet"]


def test_a_glob_matching_only_skipped_names_is_refused(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "_SUCCESS").write_text("")
    with pytest.raises(DataError) as err:
        resolve_sources("parts/*", tmp_path)
    msg = str(err.value)
    assert "'parts/*' matches no file" in msg and "1 file whose names start with" in msg
    assert str(tmp_path) in msg


def test_an_absolute_glob_and_a_home_relative_path(tmp_path, demo, monkeypatch):
    split(demo, tmp_path / "home" / "parts", ["a.csv", "b.csv"])
    src = resolve_sources(str(tmp_path / "home" / "parts" / "*.csv"), Path("/nonexistent"))
    assert len(src.partitions) == 2
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    src = resolve_sources("~/parts", Path("/nonexistent"))
    assert [p.path.name for p in src.partitions] == ["a.csv", "b.csv"]


def test_a_directory_is_searched_recursively_for_data_files(tmp_path, demo):
    root = tmp_path / "loans"
    split(demo, root, ["2024/01/part-0.parquet", "2024/02/part-0.parquet", "part-9.parquet"])
    (root / "_SUCCESS").write_text("")
    (root / ".part-9.parquet.crc").write_bytes(b"\x00\x01")
    (root / "README.md").write_text("notes")
    write(demo.head(3), root / ".hidden" / "x.parquet")
    write(demo.head(3), root / "_temporary" / "x.parquet")
    src = resolve_sources("loans/", tmp_path)
    assert rel(src, tmp_path) == ["loans/2024/01/part-0.parquet", "loans/2024/02/part-0.parquet",
                                  "loans/part-9.parquet"]
    assert src.display == "loans/ (3 Parquet partitions)"
    assert src.rows == 3000


def test_mixed_formats_are_refused_naming_two_files(tmp_path, demo):
    split(demo, tmp_path / "d", ["a.parquet", "b.csv"])
    with pytest.raises(DataError) as err:
        resolve_sources("d", tmp_path)
    msg = str(err.value)
    assert "a.parquet" in msg and "b.csv" in msg and "same format" in msg


def test_a_set_format_refuses_a_partition_named_otherwise(tmp_path, demo):
    split(demo, tmp_path / "d", ["a.csv", "b.parquet"])
    with pytest.raises(DataError, match=r"b\.parquet' is named as Parquet.*\[data\] format"):
        resolve_sources("d", tmp_path, "csv")
    # one file: the set format wins, as load_table does
    write(demo.head(5), tmp_path / "data.txt")
    assert resolve_sources("data.txt", tmp_path, "csv").format == "csv"


@pytest.mark.parametrize("spec, expected", [
    ("parts/*.parquet", "matches no file"),
    ("missing.csv", "does not exist"),
    ("empty", "holds no data file (it is empty)"),
    ("only_skipped", "holds no data file (it holds 1 other file)"),
])
def test_nothing_to_read_is_refused_with_what_is_accepted(tmp_path, spec, expected):
    (tmp_path / "parts").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_skipped").mkdir()
    (tmp_path / "only_skipped" / "notes.json").write_text("{}")
    (tmp_path / "only_skipped" / "_SUCCESS").write_text("")
    with pytest.raises(DataError) as err:
        resolve_sources(spec, tmp_path)
    msg = str(err.value)
    assert expected in msg and f"'{spec}'" in msg
    assert "*.parquet, *.csv or *.tsv" in msg and ".enc" in msg


def test_a_file_whose_format_cannot_be_told_is_refused(tmp_path, demo):
    write(demo.head(5), tmp_path / "data.csv")
    os.replace(tmp_path / "data.csv", tmp_path / "data.bin")
    with pytest.raises(DataError, match=r"Cannot tell the format .*data\.bin"):
        resolve_sources("data.bin", tmp_path)


@pytest.mark.parametrize("content", [b"", b"PAR1 not really parquet"])
def test_a_damaged_parquet_partition_is_refused_naming_it(tmp_path, demo, content):
    split(demo, tmp_path / "d", ["a.parquet", "b.parquet"])
    (tmp_path / "d" / "b.parquet").write_bytes(content)
    with pytest.raises(DataError, match=r"b\.parquet"):
        resolve_sources("d", tmp_path)


def test_an_unknown_format_is_a_config_error(tmp_path, demo):
    write(demo.head(5), tmp_path / "data.csv")
    with pytest.raises(ConfigError, match="xlsx.*auto, csv, parquet"):
        resolve_sources("data.csv", tmp_path, "xlsx")


def test_encrypted_partitions_are_found_by_content_and_estimated_from_ciphertext(tmp_path, demo):
    ring = KeyRing.generate()
    plain = split(demo, tmp_path / "plain", ["a.csv", "b.csv"])
    (tmp_path / "enc").mkdir()
    for p in plain:
        encrypt_file(p, tmp_path / "enc" / (p.name + ".enc"), ring)
    src = resolve_sources("enc", tmp_path)
    assert [p.path.name for p in src.partitions] == ["a.csv.enc", "b.csv.enc"]
    assert all(p.encrypted and p.format == "csv" and p.rows is None for p in src.partitions)
    assert all(p.memory_bytes == 8 * p.size_bytes for p in src.partitions)
    assert src.display == "enc (2 CSV partitions, encrypted)"
    # encrypted under a name that does not say so: told by content
    os.replace(tmp_path / "enc" / "a.csv.enc", tmp_path / "renamed.csv")
    assert resolve_sources("renamed.csv", tmp_path).partitions[0].encrypted


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_memory_estimate_grows_with_the_data(tmp_path, demo, suffix):
    sizes = [resolve_sources(str(write(demo.head(n), tmp_path / f"d{n}{suffix}")), tmp_path)
             .memory_bytes for n in (10, 300, 3000)]
    assert sizes[0] < sizes[1] < sizes[2]
    part = resolve_sources(f"d3000{suffix}", tmp_path).partitions[0]
    if suffix == ".csv":
        assert part.memory_bytes == 8 * part.size_bytes
    else:
        assert part.memory_bytes > part.size_bytes  # uncompressed x 2


def test_sources_add_up_their_partitions():
    parts = tuple(Partition(Path(f"p{i}.parquet"), "parquet", False, 10 * i, i, 100 * i)
                  for i in (1, 2, 3))
    src = Sources("p*.parquet", parts)
    assert (src.size_bytes, src.rows, src.memory_bytes) == (60, 6, 600)
    assert Sources("x", (*parts, Partition(Path("q.parquet"), "parquet", True, 1, None, 4))).rows is None


@pytest.fixture
def sources(tmp_path, demo) -> Sources:
    split(demo, tmp_path / "d", ["a.parquet", "b.parquet"])
    return resolve_sources("d", tmp_path)


def test_auto_picks_dask_over_the_budget_and_pandas_within_it(sources):
    tiny = choose_engine("auto", sources, 1)
    assert tiny.engine == "dask" and tiny.budget_bytes == 1 << 20
    assert "over the 1 MiB budget" in tiny.reason and tiny.reason.startswith("estimated ")
    huge = choose_engine("auto", sources, 10_000_000)
    assert huge.engine == "pandas" and "within the" in huge.reason and "GiB budget" in huge.reason


@pytest.mark.parametrize("engine", ["pandas", "dask"])
@pytest.mark.parametrize("budget", [1, 10_000_000, None])
def test_a_set_engine_is_kept(sources, engine, budget):
    choice = choose_engine(engine, sources, budget)
    assert choice.engine == engine and "set in [data] engine" in choice.reason


def test_the_default_budget_is_a_quarter_of_memory(sources):
    budget = default_budget_bytes()
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < budget <= physical // 4
    assert choose_engine("auto", sources, None).budget_bytes == budget


def test_an_unknown_engine_or_budget_is_a_config_error(sources):
    with pytest.raises(ConfigError) as err:
        choose_engine("dsak", sources, None)
    assert "Did you mean 'dask'" in str(err.value) and ", ".join(ENGINES) in str(err.value)
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ConfigError, match="memory_budget_mib"):
            choose_engine("auto", sources, bad)
