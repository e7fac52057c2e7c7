"""Every public masking call appends exactly one trail event (scan / mask), counts only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auditkit.privacy.crypto import KeyRing
from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking import mask, mask_dask, mask_file, scan, scan_dask, scan_file

from .conftest import CODE, EMAIL, NOTE, TrailReader, marker_frame

SCAN_KEYS = {"rows", "rows_scanned", "sampled", "columns", "personal_columns", "entities"}
MASK_KEYS = {"rows", "chunks", "columns", "columns_masked", "columns_dropped", "cells_changed",
             "unmasked_personal"}
POLICY = {"columns": {EMAIL: "redact", CODE: "drop"}, "policy": {"unlisted": "keep"}}


def test_scan_records_one_event_of_counts(trail_dir: TrailReader) -> None:
    inv = scan(marker_frame())
    ev = trail_dir.one("scan")
    assert (ev.outcome, ev.resource, ev.sha256) == ("ok", None, None)
    assert set(ev.params) == SCAN_KEYS
    assert ev.params["rows"] == 6 and ev.params["columns"] == 3
    assert ev.params["personal_columns"] == len(inv.personal_columns) >= 1
    assert ev.params["entities"] == len(inv.entity_counts())
    assert [e.action for e in trail_dir.events()] == ["scan"]
    trail_dir.assert_verifies()


def test_mask_records_one_event_and_not_its_scan(trail_dir: TrailReader) -> None:
    # unlisted = "redact" makes mask scan the frame: still one event, action mask.
    res = mask(marker_frame(), {"columns": {EMAIL: "redact"}, "policy": {"unlisted": "redact"}})
    assert [e.action for e in trail_dir.events()] == ["mask"]
    ev = trail_dir.one("mask")
    assert ev.outcome == "ok" and set(ev.params) == MASK_KEYS
    changes = res.summary.changes
    assert ev.params["columns_masked"] == sum(c.operator != "keep" for c in changes) >= 1
    assert ev.params["cells_changed"] == sum(c.cells_changed for c in changes)
    assert ev.params["rows"] == 6 and ev.params["columns"] == 3
    trail_dir.assert_verifies()


def test_mask_with_keyed_operator_records_no_pseudonymise_of_its_own(trail_dir: TrailReader) -> None:
    ring = KeyRing.generate()
    mask(marker_frame(), {"columns": {EMAIL: "pseudonymize", CODE: "tokenize"},
                          "policy": {"unlisted": "keep"}}, key_ring=ring)
    assert [e.action for e in trail_dir.events()] == ["mask"]
    assert trail_dir.one("mask").params["columns_masked"] == 2


def test_refused_mask_records_error(trail_dir: TrailReader) -> None:
    with pytest.raises(PrivacyInputError):
        mask(marker_frame(), {"columns": {"no-such-column": "redact"}})
    ev = trail_dir.one("mask")
    assert ev.outcome == "error" and ev.params == {"error": "PrivacyInputError"}
    assert [s.outcome for s in trail_dir.seals()] == ["error"]
    trail_dir.assert_verifies()


def test_refused_scan_records_error(trail_dir: TrailReader) -> None:
    with pytest.raises(PrivacyInputError):
        scan(marker_frame(), sample_rows=0)
    assert trail_dir.one("scan").outcome == "error"


def test_scan_file_names_the_file(trail_dir: TrailReader, tmp_path: Path) -> None:
    src = tmp_path / "people.csv"
    marker_frame().to_csv(src, index=False)
    scan_file(src)
    ev = trail_dir.one("scan")
    assert ev.resource == str(src.resolve()) and ev.outcome == "ok"
    assert set(ev.params) == SCAN_KEYS and ev.params["rows"] == 6


def test_scan_file_refusal_records_error_with_the_file(trail_dir: TrailReader, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(PrivacyInputError):
        scan_file(missing)
    ev = trail_dir.one("scan")
    assert (ev.outcome, ev.resource) == ("error", str(missing.resolve()))


def test_mask_file_records_before_the_output_and_once(trail_dir: TrailReader, tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    marker_frame(10).to_csv(src, index=False)
    summary = mask_file(src, dst, {"columns": {EMAIL: "redact", NOTE: "redact"},
                                   "policy": {"unlisted": "redact"}}, chunk_rows=4)
    assert dst.exists()
    assert [e.action for e in trail_dir.events()] == ["mask"]  # its inventory scan is not an event
    ev = trail_dir.one("mask")
    assert ev.resource == str(src.resolve()) and ev.outcome == "ok"
    assert set(ev.params) == MASK_KEYS
    assert (ev.params["rows"], ev.params["chunks"]) == (10, 3) == (summary.n_rows, summary.chunks)
    trail_dir.assert_verifies()


def test_mask_file_refusal_records_error_and_writes_nothing(trail_dir: TrailReader,
                                                            tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    marker_frame().to_csv(src, index=False)
    with pytest.raises(PrivacyInputError):
        mask_file(src, dst, {"columns": {EMAIL: "no-such-operator"}})
    assert not dst.exists()
    ev = trail_dir.one("mask")
    assert (ev.outcome, ev.resource) == ("error", str(src.resolve()))


def test_dask_calls_record_one_event_each(trail_dir: TrailReader) -> None:
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(marker_frame(8), npartitions=2)
    scan_dask(ddf)
    out = mask_dask(ddf, {"columns": {EMAIL: "redact", CODE: "drop"},
                          "policy": {"unlisted": "redact"}})
    assert [e.action for e in trail_dir.events()] == ["scan", "mask"]
    ev = trail_dir.one("mask")
    assert ev.params["lazy"] is True and ev.params["partitions"] == 2
    assert ev.params["columns"] == 3 and ev.params["columns_dropped"] == 1
    assert trail_dir.one("scan").params["rows"] == 8
    assert isinstance(out.compute(), pd.DataFrame)
    assert len(trail_dir.events()) == 2  # computing the lazy frame records nothing more
