"""The runner reads datasets encrypted with `auditkit encrypt` when audit.toml names the ring."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from auditkit._io import load_table
from auditkit.config import KeysConfig
from auditkit.errors import DataError
from auditkit.privacy.crypto import KeyRing, encrypt_file, new_kek

ENV = "TEST_AUDITKIT_RING_PASSPHRASE"
PASSPHRASE = "test passphrase, not a secret"


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "zip": ["02139", "00501", "94105"] * 50,
            "age": list(range(150)),
            "approved": [0, 1, 1] * 50,
        }
    )


@pytest.fixture
def setup(tmp_path, frame, monkeypatch):
    ring = KeyRing.generate()
    (tmp_path / "keys").mkdir()
    ring.save(tmp_path / "keys" / "ring.json", passphrase=PASSPHRASE)
    frame.to_csv(tmp_path / "plain.csv", index=False)
    encrypt_file(tmp_path / "plain.csv", tmp_path / "data.csv.enc", ring)
    frame.to_parquet(tmp_path / "plain.parquet", index=False)
    encrypt_file(tmp_path / "plain.parquet", tmp_path / "data.parquet.enc", ring)
    monkeypatch.setenv(ENV, PASSPHRASE)
    keys = KeysConfig(keyring=str(tmp_path / "keys" / "ring.json"), passphrase_env=ENV)
    return ring, keys


def test_reads_encrypted_csv_like_plain(tmp_path, setup):
    _, keys = setup
    plain = load_table(tmp_path / "plain.csv", string_columns=["zip"]).frame
    enc = load_table(tmp_path / "data.csv.enc", string_columns=["zip"], keys=keys).frame
    pd.testing.assert_frame_equal(enc, plain)
    assert enc["zip"].iloc[1] == "00501"
    assert sorted(os.listdir(tmp_path)) == [
        "data.csv.enc",
        "data.parquet.enc",
        "keys",
        "plain.csv",
        "plain.parquet",
    ]  # no plaintext copy was written


def test_reads_encrypted_parquet(tmp_path, setup, frame):
    _, keys = setup
    pd.testing.assert_frame_equal(load_table(tmp_path / "data.parquet.enc", keys=keys).frame, frame)


def test_detects_encryption_by_content_not_name(tmp_path, setup):
    _, keys = setup
    os.replace(tmp_path / "data.csv.enc", tmp_path / "renamed.csv")
    df = load_table(tmp_path / "renamed.csv", keys=keys).frame
    assert len(df) == 150


def test_missing_declared_text_column_retries_from_start(tmp_path, setup):
    _, keys = setup
    df = load_table(tmp_path / "data.csv.enc", string_columns=["no_such"], keys=keys).frame
    assert len(df) == 150 and list(df.columns) == ["zip", "age", "approved"]


def test_relative_keyring_resolves_against_base_dir(tmp_path, setup):
    _, _ = setup
    keys = KeysConfig(keyring="keys/ring.json", passphrase_env=ENV)
    assert len(load_table(tmp_path / "data.csv.enc", keys=keys, base_dir=tmp_path).frame) == 150


def test_no_keyring_configured(tmp_path, setup):
    with pytest.raises(DataError, match=r"\[keys\] keyring"):
        load_table(tmp_path / "data.csv.enc")
    with pytest.raises(DataError, match=r"\[keys\] keyring"):
        load_table(tmp_path / "data.csv.enc", keys=KeysConfig())


def test_passphrase_not_in_environment(tmp_path, setup, monkeypatch):
    _, keys = setup
    monkeypatch.delenv(ENV)
    with pytest.raises(DataError, match=ENV):
        load_table(tmp_path / "data.csv.enc", keys=keys)


def test_wrong_passphrase_is_a_data_error_without_secrets(tmp_path, setup, monkeypatch):
    _, keys = setup
    monkeypatch.setenv(ENV, "wrong guess")
    with pytest.raises(DataError) as exc:
        load_table(tmp_path / "data.csv.enc", keys=keys)
    assert "wrong guess" not in str(exc.value) and PASSPHRASE not in str(exc.value)


def test_other_ring_and_tampering(tmp_path, setup, monkeypatch):
    _, keys = setup
    KeyRing.generate().save(tmp_path / "other.json", passphrase=PASSPHRASE)
    other = KeysConfig(keyring=str(tmp_path / "other.json"), passphrase_env=ENV)
    with pytest.raises(DataError, match="could not be"):
        load_table(tmp_path / "data.csv.enc", keys=other)
    blob = bytearray((tmp_path / "data.csv.enc").read_bytes())
    blob[200] ^= 1
    (tmp_path / "data.csv.enc").write_bytes(bytes(blob))
    with pytest.raises(DataError, match="could not be"):
        load_table(tmp_path / "data.csv.enc", keys=keys)


def test_kek_env_ring(tmp_path, frame, monkeypatch):
    ring = KeyRing.generate()
    monkeypatch.setenv("TEST_AUDITKIT_KEK", new_kek())
    ring.save(tmp_path / "ring.json", kek_env="TEST_AUDITKIT_KEK")
    frame.to_csv(tmp_path / "p.csv", index=False)
    encrypt_file(tmp_path / "p.csv", tmp_path / "d.csv.enc", ring)
    keys = KeysConfig(keyring=str(tmp_path / "ring.json"), passphrase_env="TEST_AUDITKIT_KEK")
    assert len(load_table(tmp_path / "d.csv.enc", keys=keys).frame) == 150


def test_run_audit_on_encrypted_dataset(tmp_path, setup):
    from auditkit.runner import run_audit

    (tmp_path / "audit.toml").write_text(
        "[data]\n"
        'path = "data.csv.enc"\n'
        'label = "approved"\n'
        "[keys]\n"
        f'keyring = "{(tmp_path / "keys" / "ring.json").as_posix()}"\n'
        f'passphrase_env = "{ENV}"\n'
        "[report]\n"
        'formats = ["json"]\n'
    )
    run = run_audit(tmp_path / "audit.toml", only=["dataset"])
    assert run.exit_code in (0, 1)
    profile = [f for f in run.report.findings if f.check_id == "dataset.profile"]
    assert profile and profile[0].metrics.get("rows", 150) == 150
