"""The pieces the commands share: comma lists, opening a key ring, and which commands exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditkit.commands._comma_list import parse_list
from auditkit.commands._keyring import DEFAULT_PASSPHRASE_ENV, open_ring, unlock
from auditkit.privacy.crypto import KeyRing
from auditkit.privacy.errors import PrivacyInputError

PASS = "cli helpers test passphrase"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ("", None),
        (" , ,", None),
        ("json", ["json"]),
        (" html, md ,,json ", ["html", "md", "json"]),
    ],
)
def test_parse_list_splits_trims_and_drops_empty_items(given, expected) -> None:
    assert parse_list(given) == expected


def test_unlock_names_a_missing_ring_and_how_to_create_one(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(PrivacyInputError, match="does not exist") as exc:
        unlock(missing, DEFAULT_PASSPHRASE_ENV)
    assert f"auditkit keys init --keyring {missing}" in str(exc.value)


def test_unlock_returns_how_to_save_the_ring_again(tmp_path: Path, monkeypatch) -> None:
    ring = KeyRing.generate()
    ring.save(tmp_path / "ring.json", passphrase=PASS)
    monkeypatch.setenv("TEST_HELPERS_PASS", PASS)
    opened, protection = unlock(tmp_path / "ring.json", "TEST_HELPERS_PASS")
    assert opened.primary_id == ring.primary_id and protection == {"passphrase": PASS}
    assert open_ring(tmp_path / "ring.json", "TEST_HELPERS_PASS").key_ids == ring.key_ids


def test_every_command_is_registered() -> None:
    import typer

    from auditkit.cli import _load_commands, app

    _load_commands()
    commands = typer.main.get_command(app).commands
    assert set(commands) == {
        "access", "compare", "decrypt", "demo", "encrypt", "gate", "init", "keys", "ledger", "mask", "monitor",
        "rewrap", "run", "scan", "trail", "verify",
    }
    assert set(commands["keys"].commands) == {"init", "rotate", "public-key", "list", "trust",
                                              "trusted"}
    assert set(commands["ledger"].commands) == {"list", "settle"}
    assert set(commands["trail"].commands) == {"verify", "show", "export", "checkpoint"}
