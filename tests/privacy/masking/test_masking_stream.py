"""Chunked CSV/Parquet masking and Dask partitions give the same result as in memory."""

from __future__ import annotations

import pandas as pd
import pytest

from auditkit.privacy.masking import mask, mask_dask, mask_file, read_frame, scan_file

POLICY = {
    "columns": {
        "email": {"operator": "mask", "keep_last": 4},
        "notes": {"operator": "replace", "free_text": True},
        "city": {"operator": "suppress", "min_count": 3},
        "zip": {"operator": "generalise", "to": "prefix", "keep": 3},
        "ssn": {"operator": "drop"},
    },
    "risk": {"quasi_identifiers": ["zip", "city"], "k": 2},
}


def _frame(n=1_000):
    cities = ["Springfield", "Shelbyville", "Ogdenville", "North Haverbrook"]
    return pd.DataFrame({
        "id": [f"{i:05d}" for i in range(n)],
        "email": [f"person{i}@example.org" for i in range(n)],
        "notes": [f"row {i}: call 212-555-{i % 10000:04d} or mail p{i}@example.org, thanks"
                  if i % 3 else "no personal data in this row, only words" for i in range(n)],
        # A value seen twice in the first half and twice in the second: rare per chunk,
        # frequent overall; suppress must keep it.
        "city": [cities[i % 4] if i not in (10, 20, 200, 250) else "Capital City"
                 for i in range(n)],
        "zip": [f"{10000 + (i * 37) % 90000:05d}" for i in range(n)],
        "ssn": ["123-45-6780"] * n,
        "leading_zero": ["007"] * n,
        "na_text": ["NA"] * n,
    })


@pytest.mark.parametrize("ext", ["csv", "parquet"])
@pytest.mark.parametrize("chunk_rows", [7, 97, 1_000_000])
def test_mask_file_equals_in_memory(tmp_path, ext, chunk_rows):
    df = _frame(300 if chunk_rows < 10 else 1_000)
    src = tmp_path / f"in.{ext}"
    if ext == "csv":
        df.to_csv(src, index=False)
    else:
        df.to_parquet(src, index=False)
    dst = tmp_path / f"out.{ext}"
    done = []
    summary = mask_file(src, dst, POLICY, chunk_rows=chunk_rows, progress=done.append)
    got = read_frame(dst)
    want = mask(read_frame(src), POLICY).frame
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  check_dtype=False)
    assert got["leading_zero"].tolist()[0] == "007" and got["na_text"].tolist()[0] == "NA"
    assert "ssn" not in got.columns
    assert done[-1] == len(df) and summary.n_rows == len(df)
    assert summary.chunks == -(-len(df) // chunk_rows)
    # Suppress judged rare values over the whole file, not per chunk.
    assert "Capital City" in set(got["city"])
    assert summary.risk_before is not None and summary.risk_before.n_records == len(df)


def test_mask_file_never_overwrites_its_input(tmp_path):
    src = tmp_path / "in.csv"
    _frame(10).to_csv(src, index=False)
    before = src.read_bytes()
    with pytest.raises(ValueError, match="never overwrites its input"):
        mask_file(src, src, POLICY)
    with pytest.raises(ValueError, match="never overwrites its input"):
        mask_file(src, tmp_path / "." / "in.csv", POLICY, overwrite=True)
    assert src.read_bytes() == before
    dst = tmp_path / "out.csv"
    dst.write_text("old", encoding="utf-8")
    with pytest.raises(ValueError, match="already exists"):
        mask_file(src, dst, POLICY)
    mask_file(src, dst, POLICY, overwrite=True)
    assert dst.read_text(encoding="utf-8") != "old"


def test_mask_file_is_atomic_on_failure(tmp_path):
    src = tmp_path / "in.csv"
    df = _frame(50)
    df.loc[30, "zip"] = "not-a-number-but-long"
    df.to_csv(src, index=False)
    dst = tmp_path / "out.csv"
    bad = {"columns": {"zip": {"operator": "generalise", "to": "band"}}}
    with pytest.raises(ValueError, match="row 30"):
        mask_file(src, dst, bad, chunk_rows=10)
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_policy_checked_against_header_before_reading_rows(tmp_path, monkeypatch):
    src = tmp_path / "in.csv"
    _frame(10).to_csv(src, index=False)
    import auditkit.privacy.masking._stream as stream

    def no_rows(*a, **k):  # pragma: no cover - would mean rows were read
        raise AssertionError("rows were read before the policy was checked")

    monkeypatch.setattr(stream, "_chunks", no_rows)
    with pytest.raises(ValueError, match="Did you mean 'email'"):
        mask_file(src, tmp_path / "out.csv", {"columns": {"emial": "redact"}})


def test_scan_file_reads_only_the_first_rows(tmp_path):
    src = tmp_path / "in.parquet"
    _frame(5_000).to_parquet(src, index=False)
    inv = scan_file(src, sample_rows=100)
    assert inv.n_rows == 100 and inv["email"].entity == "EMAIL_ADDRESS"


def test_dask_partitions_equal_pandas():
    import dask.dataframe as dd
    df = _frame(600)
    ddf = dd.from_pandas(df, npartitions=4)
    got = mask_dask(ddf, POLICY).compute()
    want = mask(df, POLICY).frame
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert "Capital City" in set(got["city"])  # global counts across partitions


def test_unknown_format_and_missing_input(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        mask_file(tmp_path / "nope.csv", tmp_path / "o.csv", POLICY)
    src = tmp_path / "in.xlsx"
    src.write_bytes(b"x")
    with pytest.raises(ValueError, match="extension"):
        mask_file(src, tmp_path / "o.csv", POLICY)


def test_file_counts_over_chunks_equal_counts_over_the_whole_frame():
    from auditkit.privacy.masking._stream import _file_counts

    df = _frame(100)[["city", "zip"]]
    df.loc[::7, "city"] = None
    chunks = (df.iloc[i:i + 13] for i in range(0, len(df), 13))
    counts = _file_counts(chunks)
    for c in ("city", "zip"):
        whole = df[c].dropna().astype(str).value_counts()
        assert counts[c].sort_index().astype(int).to_dict() == whole.sort_index().to_dict()


@pytest.mark.parametrize("policy,needed", [
    ({"columns": {"email": {"operator": "mask"}}}, True),  # free_text left to the scan
    ({"columns": {"email": {"operator": "mask", "free_text": False}}}, False),
    ({"policy": {"unlisted": "redact"}, "columns": {}}, True),
    ({"columns": {}}, False),
])
def test_scan_only_when_the_policy_needs_an_inventory(policy, needed):
    from auditkit.privacy.masking import load_policy
    from auditkit.privacy.masking._stream import _needs_inventory

    assert _needs_inventory(load_policy(policy)) is needed
