"""A team trail: a set-group-id directory (mode 2770) its group shares; files are created 0660.

A plain group-writable directory (0770) is still refused, and so is anything others may write.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from auditkit.privacy import trail
from auditkit.privacy.errors import TrailError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_setgid_group_directory_is_a_team_trail(tmp_path: Path) -> None:
    team = tmp_path / "team-trail"
    team.mkdir()
    os.chmod(team, 0o2770)
    old = os.umask(0o022)  # the team's files must stay group-writable whatever the umask
    try:
        trail.Trail.open(team, create=True)
        with trail.command("access check"):
            trail.bind(location=team)
            trail.record("scan", params={"rows": 3})
    finally:
        os.umask(old)
    files = [p for p in team.iterdir() if p.name in ("LOCK", "HEAD", "000001.jsonl")]
    assert {p.name for p in files} == {"LOCK", "HEAD", "000001.jsonl"}
    assert all(_mode(p) == 0o660 for p in files), {p.name: oct(_mode(p)) for p in files}
    assert trail.Trail.open(team).verify(trust=_empty_store()).first_bad is None


@pytest.mark.parametrize("mode", [0o770, 0o777, 0o2777, 0o1777, 0o720])
def test_other_shared_modes_are_refused(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    with pytest.raises(TrailError, match="2770"):
        trail.Trail.open(shared, create=True)


def test_a_one_user_trail_stays_private(tmp_path: Path) -> None:
    own = tmp_path / "own"
    trail.Trail.open(own, create=True)
    assert _mode(own) == 0o700
    assert all(_mode(p) == 0o600 for p in own.iterdir())


def _empty_store():
    from auditkit.reports.trust import TrustStore

    return TrustStore()
