"""No trail event, anywhere in the trail's bytes, holds a cell of the data or a column's name:
every operation runs on a frame whose cells and column names are unique markers, then the raw
trail files are searched for each of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from auditkit.privacy import trail
from auditkit.privacy.crypto import KeyRing, Pseudonymizer, decrypt_columns, encrypt_columns
from auditkit.privacy.masking import mask, mask_dask, mask_file, scan, scan_dask, scan_file

from .conftest import CODE, EMAIL, MARKER, NOTE, TrailReader, marker_frame

POLICY = {"columns": {EMAIL: "redact", CODE: "drop"}, "policy": {"unlisted": "redact"}}


def _markers(df: pd.DataFrame) -> list[bytes]:
    cells = [str(v) for col in df.columns for v in df[col]]
    return [s.encode() for s in [*cells, *map(str, df.columns)]]


def _csv(tmp: Path) -> Path:
    src = tmp / "input.csv"
    marker_frame().to_csv(src, index=False)
    return src


def _dask() -> object:
    dd = pytest.importorskip("dask.dataframe")
    return dd.from_pandas(marker_frame(), npartitions=2)


def _refuse(fn: Callable[[], object]) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal: the event is what counts
        fn()


OPERATIONS: dict[str, Callable[[Path], object]] = {
    "scan": lambda tmp: scan(marker_frame()),
    "scan declared": lambda tmp: scan(marker_frame(), declared={CODE: "PERSON"}),
    "mask": lambda tmp: mask(marker_frame(), POLICY),
    "mask keyed": lambda tmp: mask(marker_frame(), {"columns": {EMAIL: "pseudonymize",
                                                                CODE: "tokenize"}},
                                   key_ring=KeyRing.generate()),
    "mask refused": lambda tmp: _refuse(lambda: mask(marker_frame(), {"columns": {
        EMAIL: {"operator": "mask", "zq-param-marker": 1}}})),
    "scan_file": lambda tmp: scan_file(_csv(tmp)),
    "mask_file": lambda tmp: mask_file(_csv(tmp), tmp / "out.csv", POLICY, chunk_rows=2),
    "mask_file refused": lambda tmp: _refuse(lambda: mask_file(
        _csv(tmp), tmp / "out.csv", {"columns": {"zq-missing-marker": "redact"}})),
    "scan_dask": lambda tmp: scan_dask(_dask()),
    "mask_dask": lambda tmp: mask_dask(_dask(), POLICY).compute(),
    "tokenise": lambda tmp: encrypt_columns(marker_frame(), [EMAIL, NOTE], KeyRing.generate(),
                                            deterministic=True),
    "detokenise": lambda tmp: _round_trip(),
    "detokenise refused": lambda tmp: _refuse(lambda: decrypt_columns(marker_frame(), [EMAIL],
                                                                      KeyRing.generate())),
    "pseudonymise": lambda tmp: Pseudonymizer(KeyRing.generate(), context="zq-ctx-marker")
    .pseudonymize(marker_frame()[EMAIL]),
}


def _round_trip() -> object:
    ring = KeyRing.generate()
    return decrypt_columns(encrypt_columns(marker_frame(), [EMAIL, CODE], ring), [EMAIL, CODE], ring)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_no_data_value_reaches_the_trail(name: str, trail_dir: TrailReader, tmp_path: Path) -> None:
    OPERATIONS[name](tmp_path)
    assert trail_dir.events(), "the operation recorded nothing"
    raw = trail_dir.raw()
    leaked = [m.decode() for m in _markers(marker_frame()) if m in raw]
    assert not leaked, f"{name}: the trail holds data values or column names: {leaked[:5]}"
    assert MARKER not in raw
    trail_dir.assert_verifies()


def test_the_search_finds_a_value_that_is_there(trail_dir: TrailReader) -> None:
    """Control: the same search does find a marker that was (wrongly) recorded."""
    trail.record("scan", params={"note": "zq-3-marker@example.org"})
    raw = trail_dir.raw()
    assert [m for m in _markers(marker_frame()) if m in raw] == [b"zq-3-marker@example.org"]
