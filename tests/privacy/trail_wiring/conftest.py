"""Fixtures for the trail wiring tests: a trail of one's own per test, and reading it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditkit.privacy import trail


class TrailReader:
    """The test's trail directory, read back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self, action: str | None = None) -> list[trail.Event]:
        """The ``e`` events (not the seals), optionally of one action."""
        if not self.path.exists():
            return []
        return [e for e in trail.Trail.open(self.path).events(action=action) if e.kind == "e"]

    def one(self, action: str) -> trail.Event:
        """The one ``e`` event of ``action`` (fails on none or several)."""
        found = self.events(action)
        assert len(found) == 1, f"expected one {action!r} event, got {len(found)}"
        return found[0]

    def seals(self) -> list[trail.Event]:
        return [e for e in trail.Trail.open(self.path).events() if e.kind == "s"]

    def raw(self) -> bytes:
        """Every byte of every file in the trail directory."""
        return b"".join(p.read_bytes() for p in sorted(self.path.rglob("*")) if p.is_file())

    def assert_verifies(self, *rings: object) -> None:
        """The trail verifies; seals signed by the principals of ``rings`` are trusted."""
        store = None
        if rings:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            from auditkit.reports.trust import PRINCIPAL, TrustStore

            store = TrustStore()
            for ring in rings:
                for kid in ring.key_ids:  # type: ignore[attr-defined]
                    signer = ring.trail_signer(kid)  # type: ignore[attr-defined]
                    store.add(signer.name, Ed25519PublicKey.from_public_bytes(
                        signer.public_key_raw()), [PRINCIPAL])
        result = trail.Trail.open(self.path).verify(trust=store)
        assert result.ok, result.to_dict()


@pytest.fixture
def trail_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TrailReader:
    """``$AUDITKIT_TRAIL`` pointed at a fresh directory of this test."""
    path = tmp_path / "trail"
    monkeypatch.setenv(trail.TRAIL_ENV, str(path))
    return TrailReader(path)


def marker_frame(rows: int = 6):
    """A frame whose every cell (and column name) is a unique marker string, with personal data
    a scan finds (e-mail addresses) and a free-text column."""
    import pandas as pd

    return pd.DataFrame({
        EMAIL: [f"zq-{i}-marker@example.org" for i in range(rows)],
        NOTE: [f"call zq-{i + 100}-marker at home, write to zq-{i + 200}-marker@example.com"
               for i in range(rows)],
        CODE: [f"zq-{i + 300}-marker" for i in range(rows)],
    })


#: The column names of :func:`marker_frame`: markers too (names are kept out of the trail).
EMAIL, NOTE, CODE = "zq-email-marker", "zq-note-marker", "zq-code-marker"
#: What every cell and column name of :func:`marker_frame` holds.
MARKER = b"-marker"
