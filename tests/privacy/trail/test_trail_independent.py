"""A verifier written from docs/trail.md alone (stdlib + cryptography), run on a real trail.

It shares no code with auditkit.privacy.trail: if the docs and the writer disagree, this fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditkit.privacy.trail import Trail, bind, command, record


def independent_verify(directory: Path) -> int:
    """Return the number of lines; raise AssertionError at the first bad one."""
    names = sorted(p.name for p in directory.glob("[0-9]" * 6 + ".jsonl"))
    assert names == [f"{i:06d}.jsonl" for i in range(1, len(names) + 1)]
    prev, expected, open_cmds, sealed = "0" * 64, 0, {}, set()
    for number, name in enumerate(names, 1):
        data = (directory / name).read_bytes()
        assert data.endswith(b"\n")
        for index, line in enumerate(data[:-1].split(b"\n")):
            assert line[:9] == b'{"prev":"' and line[-75:-66] == b',"hash":"' and line[-2:] == b'"}'
            assert hashlib.sha256(line[:-75]).hexdigest().encode() == line[-66:-2]
            obj = json.loads(line)
            assert obj["prev"] == prev and obj["seq"] == expected
            assert (obj["kind"] == "g") == (expected == 0)
            assert (obj["kind"] == "n") == (index == 0 and number > 1)
            if obj["kind"] == "e":
                assert obj["cmd"] not in sealed
                open_cmds.setdefault(obj["cmd"], []).append(obj["seq"])
            if obj["kind"] == "s":
                seqs = [s for a, b in obj["events"] for s in range(a, b + 1)]
                assert seqs == open_cmds.pop(obj["cmd"], []) and obj["cmd"] not in sealed
                sealed.add(obj["cmd"])
            if obj["kind"] in "sc" and obj["auth"] == "key":
                body = line[:-75]
                at = body.rindex(b',"sig":"')
                raw = base64.urlsafe_b64decode(obj["public_key"] + "=" * (-len(obj["public_key"]) % 4))
                assert hashlib.sha256(raw).hexdigest()[:16] == obj["key_id"]
                Ed25519PublicKey.from_public_bytes(raw).verify(bytes.fromhex(obj["sig"]), body[:at])
            prev, expected = obj["hash"], expected + 1
    head = json.loads((directory / "HEAD").read_text())
    assert head["seq"] < expected
    return expected


def test_the_documented_format_is_enough_to_verify(tmp_path, keys):
    directory = tmp_path / "trail"
    Trail.open(directory, create=True, segment_bytes=2048)
    bind(location=directory)
    for i in range(6):
        with command("audit.run"):
            if i % 2:
                bind(signer=keys["alice"])
            record("decrypt", resource=Path("data.enc"), params={"i": i})
            record("audit.run", params={"checks": 3})
    record("scan")
    Trail.open(directory).checkpoint(keys["admin"])
    assert len(list(directory.glob("*.jsonl"))) > 2  # segments rotated
    assert independent_verify(directory) == Trail.open(directory).head[0] + 1
