"""Column tokens and pseudonyms append one trail event per call: tokenise, detokenise,
pseudonymise — counts, mode and key id, never a value."""

from __future__ import annotations

import pandas as pd
import pytest

from auditkit.privacy.crypto import KeyRing, Pseudonymizer, decrypt_columns, encrypt_columns
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

from .conftest import CODE, EMAIL, TrailReader, marker_frame

KEYS = {"rows", "columns", "mode", "key_id"}


@pytest.mark.parametrize("deterministic", [False, True])
def test_encrypt_and_decrypt_columns(trail_dir: TrailReader, deterministic: bool) -> None:
    ring = KeyRing.generate()
    df = marker_frame()
    enc = encrypt_columns(df, [EMAIL, CODE], ring, deterministic=deterministic)
    assert decrypt_columns(enc, [EMAIL, CODE], ring).equals(df)
    assert [e.action for e in trail_dir.events()] == ["tokenise", "detokenise"]
    tok, detok = trail_dir.events()
    assert tok.params == {"rows": 6, "columns": 2, "key_id": ring.primary_id,
                          "mode": "deterministic" if deterministic else "randomized"}
    assert set(detok.params) == KEYS and detok.params["rows"] == 6
    assert tok.outcome == detok.outcome == "ok"
    trail_dir.assert_verifies()


def test_pseudonymize_records_count_and_key(trail_dir: TrailReader) -> None:
    ring = KeyRing.generate()
    p = Pseudonymizer(ring, context="zq-context-marker")
    p.pseudonymize(["zq-1-marker", "zq-2-marker", "zq-1-marker"])
    p.pseudonymize("zq-3-marker")
    first, second = trail_dir.events("pseudonymise")
    assert first.params == {"rows": 3, "mode": "hmac", "key_id": ring.primary_id}
    assert second.params["rows"] == 1
    assert b"-marker" not in trail_dir.raw()  # neither the values nor the context


def test_decryption_under_another_ring_records_error(trail_dir: TrailReader) -> None:
    enc = encrypt_columns(marker_frame(), [EMAIL], KeyRing.generate())
    with pytest.raises(DecryptionError):
        decrypt_columns(enc, [EMAIL], KeyRing.generate())
    ev = trail_dir.events()[-1]
    assert (ev.action, ev.outcome, ev.params["error"]) == ("detokenise", "error", "DecryptionError")
    trail_dir.assert_verifies()


def test_bad_arguments_record_error(trail_dir: TrailReader) -> None:
    ring = KeyRing.generate()
    with pytest.raises(PrivacyInputError):
        encrypt_columns(marker_frame(), ["no-such-column"], ring)
    with pytest.raises(PrivacyInputError):
        Pseudonymizer(ring).pseudonymize([object()])
    tok, pseu = trail_dir.events()
    assert (tok.action, tok.outcome) == ("tokenise", "error")
    assert (pseu.action, pseu.outcome) == ("pseudonymise", "error")


def test_dask_frames_record_partitions_when_built(trail_dir: TrailReader) -> None:
    dd = pytest.importorskip("dask.dataframe")
    ring = KeyRing.generate()
    ddf = dd.from_pandas(marker_frame(8), npartitions=2)
    enc = encrypt_columns(ddf, [EMAIL], ring)
    ev = trail_dir.one("tokenise")
    assert ev.params == {"columns": 1, "key_id": ring.primary_id, "mode": "randomized",
                         "lazy": True, "partitions": 2}
    out = decrypt_columns(enc, [EMAIL], ring).compute()
    assert isinstance(out, pd.DataFrame) and len(trail_dir.events()) == 2
