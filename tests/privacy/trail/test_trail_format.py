"""The line format: a hand-checked hash, fixed prefix/suffix, round trips, and input checks."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditkit.privacy.errors import TrailError
from auditkit.privacy.trail import ACTIONS, file_sha256
from auditkit.privacy.trail import _format as fmt
from auditkit.privacy.trail._values import check_action, check_params, check_resource, check_signer

GENESIS = (
    b'{"prev":"0000000000000000000000000000000000000000000000000000000000000000",'
    b'"cmd":"00000000000000000000000000000000","kind":"g","seq":0,'
    b'"time":"2025-01-31T12:00:00.000000Z","format":"auditkit-trail","version":1,'
    b'"trail_id":"00112233445566778899aabbccddeeff","segment_bytes":1024'
)
# `printf '%s' '<GENESIS>' | sha256sum` (coreutils), computed outside Python.
GENESIS_HASH = "1a083bb9fd4474348bd47225683bc5c3da6bc00a497bef61442d9359d17f12bf"


def _genesis():
    return fmt.build_line(
        fmt.GENESIS_PREV, fmt.ZERO_CMD, "g", 0,
        [("format", "auditkit-trail"), ("version", 1),
         ("trail_id", "00112233445566778899aabbccddeeff"), ("segment_bytes", 1024)],
        time="2025-01-31T12:00:00.000000Z",
    )


def test_known_answer_line_and_hash():
    line, digest = _genesis()
    assert digest == GENESIS_HASH
    assert line == GENESIS + b',"hash":"' + GENESIS_HASH.encode() + b'"}\n'
    body = line[:-1]
    assert hashlib.sha256(body[:-75]).hexdigest() == GENESIS_HASH  # the documented rule
    assert fmt.well_formed(body) and fmt.seq_of(body) == 0
    assert json.loads(body)["hash"] == GENESIS_HASH


def test_event_line_fixed_positions():
    _, prev = _genesis()
    line, digest = fmt.build_line(
        prev, "ab" * 16, "e", 1,
        [("principal", "os:alice"), ("auth", "none"), ("key_id", None), ("action", "decrypt"),
         ("resource", {"path": "/data/x.enc", "sha256": None}), ("outcome", "ok"),
         ("params", {"rows": 3})],
        time="2025-01-31T12:00:01.000001Z",
    )
    body = line[:-1]
    assert body[9:73].decode() == prev and body[82:114] == b"ab" * 16 and body[124:125] == b"e"
    assert digest == "b01ef8f2ba7a0934512f93312f4bb0ee13bf204742f07659ed3c9f576421e958"
    assert body.isascii() and b" " not in body


def test_signed_line_signature_covers_prev(keys):
    key = keys["alice"]
    line, _ = fmt.build_line("1" * 64, "2" * 32, "s", 5, [("principal", "alice")], sign=key.sign)
    message, sig = fmt.split_signed(line[:-1])
    assert message.startswith(b'{"prev":"' + b"1" * 64) and len(sig) == 64
    key.private.public_key().verify(sig, message)  # raises if wrong
    assert fmt.split_signed(_genesis()[0][:-1]) is None


def test_time_has_microseconds():
    assert len(fmt.now()) == 27 and fmt.now().endswith("Z")


@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,39}", fullmatch=True),
                       st.one_of(st.none(), st.booleans(), st.integers(-2**62, 2**62),
                                 st.floats(allow_nan=False, allow_infinity=False),
                                 st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF,
                                                       exclude_categories=("Cs", "Zl", "Zp", "Cc",
                                                                           "Cf", "Co", "Cn", "Zs")),
                                         max_size=120)),
                       max_size=16))
def test_params_round_trip(params):
    clean = check_params(params)
    line, digest = fmt.build_line("0" * 64, "0" * 32, "e", 7, [("params", clean)])
    obj = fmt.parse_line(line[:-1])
    assert obj["params"] == clean and obj["hash"] == digest and obj["seq"] == 7
    assert line.count(b"\n") == 1  # no value can break the one-line-per-record rule


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"rows": "x" * 121}, "'rows'"),
        ({"secret": b"bytes"}, "'secret'"),
        ({"note": "line\nbreak"}, "'note'"),
        ({"ratio": float("nan")}, "'ratio'"),
        ({"big": 2**64}, "'big'"),
        ({"nested": {"a": 1}}, "'nested'"),
        ({"Bad-Key": 1}, "'Bad-Key'"),
        ({f"k{i}": i for i in range(17)}, "at most 16"),
        ([("a", 1)], "mapping"),
    ],
)
def test_params_refused_without_echoing_the_value(params, named):
    with pytest.raises(TrailError) as info:
        check_params(params)
    msg = str(info.value)
    assert named in msg
    for value in (params.values() if isinstance(params, dict) else []):
        if isinstance(value, str) and len(value) > 3:
            assert value not in msg


def test_actions_vocabulary_and_hint():
    assert {"decrypt", "access.check", "trail.checkpoint", "command", "keys.init"} <= ACTIONS
    assert len(ACTIONS) == 32
    with pytest.raises(TrailError, match="Did you mean 'decrypt'"):
        check_action("decrpyt")


def test_resource_and_digest(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    digest = file_sha256(p)
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2
    assert check_resource(p, digest) == {"path": str(p.resolve()), "sha256": digest}
    assert check_resource("keyring:abcd", None) == {"path": "keyring:abcd", "sha256": None}
    with pytest.raises(TrailError, match="64 lower-case hex"):
        check_resource(p, "ABC")
    with pytest.raises(TrailError, match="without a 'resource'"):
        check_resource(None, digest)
    with pytest.raises(TrailError, match="Cannot read"):
        file_sha256(tmp_path / "missing")


def test_signer_checks(keys):
    assert check_signer(keys["alice"]) is keys["alice"]

    liar = type(keys["alice"])("eve")
    liar.key_id = "0" * 16
    with pytest.raises(TrailError, match="key_id"):
        check_signer(liar)
    with pytest.raises(TrailError, match="must have 'name'"):
        check_signer(object())
