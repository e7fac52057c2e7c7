"""Format version 2: one data key wrapped to several recipients (X25519 stanzas + key ring).

Round trips for 1..5 recipients around segment boundaries, a non-recipient gets nothing, every
header and MAC byte is authenticated, grant/revoke rewrite only the header, v1 files keep
working, hostile headers are refused before they cost anything, and every operation is
recorded in the audit trail (captured here; one test uses the real trail).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.privacy.crypto import (
    KeyRing,
    Recipient,
    _header_v2,
    _reader,
    _recipients,
    _stream,
    _stream_v2,
    decrypt_file,
    encrypt_file,
    encrypt_file_to,
    file_info,
    open_decrypted,
    rewrap,
    set_recipients,
    upgrade_to_v2,
)
from auditkit.privacy.errors import DecryptionError, PrivacyInputError

SEG = 64 * 1024
TAG = 16
POLICY = {"serial": 3, "hash": "ab" * 32}


class Ident:
    """A stand-in for access.Identity: only what crypto needs (an X25519 private key)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._key = X25519PrivateKey.generate()
        self.key_id = hashlib.sha256(name.encode()).hexdigest()[:16]
        self.asked = 0

    def x25519_private_bytes(self) -> bytes:
        self.asked += 1
        return self._key.private_bytes_raw()

    def recipient(self) -> Recipient:
        return Recipient(self.name, self.key_id, self._key.public_key().public_bytes_raw())


PEOPLE = [Ident(n) for n in ("alice", "bob", "carol", "dave", "erin", "mallory")]
ALICE, BOB, CAROL = PEOPLE[:3]
OUTSIDER = PEOPLE[-1]


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture(autouse=True)
def trail_calls(monkeypatch):
    """Every trail record() call of the crypto modules, captured instead of written."""
    calls: list[SimpleNamespace] = []

    def fake(action, *, resource=None, sha256=None, outcome="ok", params=None):
        calls.append(
            SimpleNamespace(
                action=action,
                resource=resource,
                sha256=sha256,
                outcome=outcome,
                params=dict(params or {}),
            )
        )

    for mod in (_stream, _stream_v2, _reader):
        monkeypatch.setattr(mod, "record", fake)
    return calls


def _data(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def _enc(d: Path, plain: bytes, people, ring=None, name="c", **kw) -> Path:
    (d / "plain").write_bytes(plain)
    encrypt_file_to(
        d / "plain", d / name, [p.recipient() for p in people], ring=ring, segment_size=SEG, **kw
    )
    return d / name


def _dec(path: Path, opener) -> bytes:
    out = path.with_name(path.name + f".out{random.random()}")
    decrypt_file(path, out, opener)
    try:
        return out.read_bytes()
    finally:
        out.unlink()


def _offset(blob: bytes) -> int:
    (length,) = struct.unpack(">I", blob[8:12])
    return 12 + length + 32


def _parts(blob: bytes) -> tuple[dict, bytes, bytes]:
    """(header JSON, MAC, segments) of a version-2 file."""
    (length,) = struct.unpack(">I", blob[8:12])
    return json.loads(blob[12 : 12 + length]), blob[12 + length : 44 + length], blob[44 + length :]


def _assemble(doc: dict, mac: bytes, body: bytes) -> bytes:
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return b"AKCRYPT\x02" + struct.pack(">I", len(raw)) + raw + mac + body


def _rejected(path: Path, opener, exc=DecryptionError) -> None:
    out = path.with_name("rejected.out")
    with pytest.raises(exc):
        decrypt_file(path, out, opener)
    assert not out.exists()


SIZES = st.one_of(
    st.sampled_from([0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG - 1, 2 * SEG, 2 * SEG + 1, 3 * SEG + 17]),
    st.integers(0, 3 * SEG + 100),
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 5), size=SIZES, with_ring=st.booleans(), seed=st.integers(0, 2**16))
def test_round_trip_every_recipient_decrypts(ring, n, size, with_ring, seed) -> None:
    people = PEOPLE[:n]
    plain = _data(size, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = _enc(Path(tmp), plain, people, ring if with_ring else None)
        blob = path.read_bytes()
        n_seg = max(1, -(-size // SEG))
        assert len(blob) == _offset(blob) + size + n_seg * TAG
        info = file_info(path)
        assert info.format_version == 2 and info.segment_size == SEG
        assert info.recipients == tuple(p.recipient() for p in people)
        assert info.key_id == (ring.primary_id if with_ring else "")
        for p in people:
            assert _dec(path, p) == plain
        with open_decrypted(path, people[-1]) as fh:
            assert fh.read() == plain
        if with_ring:
            assert _dec(path, ring) == plain
        else:
            _rejected(path, ring)
        _rejected(path, OUTSIDER)
        assert plain[:64] not in blob or size < 64


def _frames(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next
        exc = exc.__context__


def _holds(value, secret: bytes) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return secret in bytes(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds(v, secret) for v in value)
    if isinstance(value, dict):
        return any(_holds(v, secret) for v in value.values())
    return False


@pytest.mark.parametrize("how", ["decrypt_file", "open_decrypted"])
def test_non_recipient_gets_no_key_material(tmp_path, ring, monkeypatch, trail_calls, how) -> None:
    path = _enc(tmp_path, _data(SEG + 9), [ALICE, BOB], ring)
    with open(path, "rb") as fh:
        dek = _header_v2.read_header(fh, "c").unlock(ALICE)
    unwrapped: list[int] = []
    real = _recipients._unwrap_x25519
    monkeypatch.setattr(
        _recipients, "_unwrap_x25519", lambda s, k: unwrapped.append(1) or real(s, k)
    )
    out = tmp_path / "out"
    with pytest.raises(DecryptionError) as caught:
        if how == "decrypt_file":
            decrypt_file(path, out, OUTSIDER)
        else:
            open_decrypted(path, OUTSIDER)
    err = caught.value
    assert type(err) is DecryptionError and err.args == DecryptionError().args
    assert err.__cause__ is None and not out.exists()
    assert unwrapped == []  # no stanza names the outsider: no unwrap was even attempted
    for frame in _frames(err):  # nothing reachable from the error holds the data key
        if frame.f_code.co_filename == __file__:
            continue  # this test's own frame holds it, for the comparison
        assert not any(_holds(v, dek) for v in frame.f_locals.values()), frame.f_code.co_name
    assert (trail_calls[-1].action, trail_calls[-1].outcome) == ("decrypt", "denied")
    # The same opener is refused the same way by a ring-only file and by a version-1 file.
    _enc(tmp_path, b"x", [], ring, name="ring-only")
    _rejected(tmp_path / "ring-only", OUTSIDER)
    encrypt_file(tmp_path / "plain", tmp_path / "v1", ring)
    _rejected(tmp_path / "v1", OUTSIDER)
    assert [c.outcome for c in trail_calls if c.action == "decrypt"][-2:] == ["denied", "denied"]


def test_every_header_and_mac_byte_flip_detected(tmp_path, ring) -> None:
    plain = _data(SEG + 5, 3)
    blob = _enc(tmp_path, plain, [ALICE, BOB], ring).read_bytes()
    bad_path = tmp_path / "bad"
    for pos in range(_offset(blob)):
        for k, mask in enumerate((0x01, 0x80)):
            bad = bytearray(blob)
            bad[pos] ^= mask
            bad_path.write_bytes(bytes(bad))
            exc = PrivacyInputError if pos < 7 else DecryptionError
            _rejected(bad_path, (ALICE, ring)[(pos + k) % 2], exc)
            if pos % 97 == 0:
                with pytest.raises(exc):
                    open_decrypted(bad_path, BOB)
    bad_path.write_bytes(blob)
    assert _dec(bad_path, ALICE) == plain  # the same reader accepts the unaltered file


def _drop_bob(doc, other):
    doc["recipients"] = [s for s in doc["recipients"] if s.get("name") != "bob"]


def _add_carol(doc, other):
    doc["recipients"].append(next(s for s in other["recipients"] if s.get("name") == "carol"))


def _policy(doc, other):
    doc["policy"]["serial"] += 1


def _no_policy(doc, other):
    doc["policy"] = None


def _resource(doc, other):
    doc["resource"] = "data/other.csv.enc"


def _rename(doc, other):
    doc["recipients"][0]["name"] = "mallory"


def _reorder(doc, other):
    doc["recipients"].reverse()


def _carol_key_in_alice_stanza(doc, other):
    doc["recipients"][0]["recipient"] = next(
        s["recipient"] for s in other["recipients"] if s.get("name") == "carol"
    )


def _other_header(doc, other):
    doc.clear()
    doc.update(other)


EDITS = [
    _drop_bob,
    _add_carol,
    _policy,
    _no_policy,
    _resource,
    _rename,
    _reorder,
    _carol_key_in_alice_stanza,
    _other_header,
]


@pytest.mark.parametrize("edit", EDITS, ids=[e.__name__.strip("_") for e in EDITS])
def test_header_edits_fail_the_mac(tmp_path, ring, edit, trail_calls) -> None:
    plain = _data(2 * SEG + 1, 4)
    blob = _enc(
        tmp_path, plain, [ALICE, BOB], ring, policy=POLICY, resource="data/a.csv.enc"
    ).read_bytes()
    other = _enc(
        tmp_path,
        plain,
        [ALICE, BOB, CAROL],
        ring,
        name="o",
        policy=POLICY,
        resource="data/a.csv.enc",
    ).read_bytes()
    doc, mac, body = _parts(blob)
    other_doc, other_mac, _ = _parts(other)
    edit(doc, other_doc)
    for use_mac in (mac, other_mac):  # neither the file's own MAC nor the other file's fits
        (tmp_path / "bad").write_bytes(_assemble(doc, use_mac, body))
        for opener in (ALICE, BOB, CAROL, ring):
            _rejected(tmp_path / "bad", opener)
    assert {c.outcome for c in trail_calls if c.action == "decrypt"} <= {"denied", "error"}
    assert any(c.outcome == "error" for c in trail_calls)


def test_set_recipients_grants_and_revokes_without_touching_segments(
    tmp_path, ring, trail_calls
) -> None:
    plain = _data(3 * SEG + 7, 5)
    path = _enc(tmp_path, plain, [ALICE, BOB], ring, policy=POLICY, resource="data/a")
    os.chmod(path, 0o640)
    before = path.read_bytes()
    segments = before[_offset(before) :]

    assert set_recipients(path, ALICE, [ALICE.recipient(), CAROL.recipient()], ring=ring) is True
    after = path.read_bytes()
    assert after[_offset(after) :] == segments  # copied byte for byte
    assert os.stat(path).st_mode & 0o777 == 0o640
    info = file_info(path)
    assert info.recipients == (ALICE.recipient(), CAROL.recipient())
    assert (info.policy, info.resource) == (POLICY, "data/a")  # kept
    assert _dec(path, ALICE) == _dec(path, CAROL) == _dec(path, ring) == plain
    _rejected(path, BOB)  # revoked
    with pytest.raises(DecryptionError):  # and cannot put themselves back
        set_recipients(path, BOB, [BOB.recipient()], ring=ring)
    assert trail_calls[-1].outcome == "denied"
    rewrap_event = next(c for c in trail_calls if c.action == "rewrap")
    assert rewrap_event.sha256 == hashlib.sha256(after).hexdigest()
    assert rewrap_event.params["changed"] is True and rewrap_event.params["recipients"] == 3

    # What revocation cannot do (docs/crypto.md): a header bob kept still opens the segments.
    (tmp_path / "kept").write_bytes(before[: _offset(before)] + after[_offset(after) :])
    assert _dec(tmp_path / "kept", BOB) == plain

    # The same access in another order changes nothing and writes nothing.
    assert set_recipients(path, CAROL, [CAROL.recipient(), ALICE.recipient()], ring=ring) is False
    assert path.read_bytes() == after and trail_calls[-1].params["changed"] is False

    # A new policy reference or resource name is a change; without ring= the ring is dropped.
    new_policy = {"serial": 4, "hash": "cd" * 32}
    assert set_recipients(path, ring, [CAROL.recipient()], policy=new_policy, resource=None) is True
    info = file_info(path)
    assert (info.policy, info.resource, info.key_id) == (new_policy, None, "")
    assert path.read_bytes()[_offset(path.read_bytes()) :] == segments
    assert _dec(path, CAROL) == plain
    _rejected(path, ring)
    _rejected(path, ALICE)


def test_set_recipients_refuses_bad_input(tmp_path, ring) -> None:
    path = _enc(tmp_path, b"abc", [ALICE], ring)
    with pytest.raises(PrivacyInputError, match="at least one recipient"):
        set_recipients(path, ALICE, [])
    with pytest.raises(PrivacyInputError, match="opener"):
        set_recipients(path, "alice", [ALICE.recipient()])
    with pytest.raises(PrivacyInputError, match="policy"):
        set_recipients(path, ALICE, [ALICE.recipient()], policy={"serial": -1, "hash": "ab" * 8})
    encrypt_file(tmp_path / "plain", tmp_path / "v1", ring)
    with pytest.raises(PrivacyInputError, match="upgrade_to_v2"):
        set_recipients(tmp_path / "v1", ring, [ALICE.recipient()], ring=ring)


def test_upgrade_to_v2_keeps_plaintext_and_segments(tmp_path, ring, trail_calls) -> None:
    plain = _data(2 * SEG + 3, 6)
    (tmp_path / "p").write_bytes(plain)
    encrypt_file(tmp_path / "p", tmp_path / "c", ring, segment_size=SEG)
    v1_blob = (tmp_path / "c").read_bytes()
    upgrade_to_v2(tmp_path / "c", ring, [ALICE.recipient()], policy=POLICY, resource="data/c")
    blob = (tmp_path / "c").read_bytes()
    assert blob[:8] == b"AKCRYPT\x02" and blob[_offset(blob) :] == v1_blob[_stream.HEADER_LEN :]
    info = file_info(tmp_path / "c")
    assert (info.format_version, info.key_id, info.policy) == (2, ring.primary_id, POLICY)
    assert _dec(tmp_path / "c", ALICE) == _dec(tmp_path / "c", ring) == plain
    _rejected(tmp_path / "c", BOB)
    upgrade = next(c for c in trail_calls if c.action == "rewrap")
    assert upgrade.params["upgraded"] is True and upgrade.sha256 == hashlib.sha256(blob).hexdigest()
    with pytest.raises(PrivacyInputError, match="already in format version 2"):
        upgrade_to_v2(tmp_path / "c", ring, [BOB.recipient()])


def test_rewrap_v2_moves_only_the_keyring_stanza(tmp_path) -> None:
    ring = KeyRing.generate()
    old = ring.primary_id
    plain = _data(SEG + 1, 7)
    path = _enc(tmp_path, plain, [ALICE], ring)
    stanza_before = _parts(path.read_bytes())[0]["recipients"][0]
    new = ring.rotate()
    assert file_info(path).key_id == old
    assert rewrap(path, ring) is True and rewrap(path, ring) is False
    doc = _parts(path.read_bytes())[0]
    assert doc["recipients"][0] == stanza_before  # alice's stanza untouched
    assert [s["key_id"] for s in doc["recipients"] if s["type"] == "keyring"] == [new]
    assert _dec(path, ALICE) == plain
    assert _dec(path, KeyRing([ring._keys[new]], new)) == plain
    with pytest.raises(DecryptionError):
        rewrap(_enc(tmp_path, plain, [ALICE], name="x25519-only"), ring)


def test_version_1_files_still_decrypt_through_the_dispatch(tmp_path, ring, trail_calls) -> None:
    plain = _data(SEG + 2, 8)
    (tmp_path / "p").write_bytes(plain)
    assert encrypt_file(tmp_path / "p", tmp_path / "c", ring, segment_size=SEG).format_version == 1
    assert _dec(tmp_path / "c", ring) == plain
    assert file_info(tmp_path / "c").recipients == ()
    with open_decrypted(tmp_path / "c", ring) as fh:
        fh.seek(SEG - 1)
        assert fh.read(3) == plain[SEG - 1 : SEG + 2]
    actions = [(c.action, c.outcome, c.params.get("format_version")) for c in trail_calls]
    assert actions == [("encrypt", "ok", 1), ("decrypt", "ok", 1), ("decrypt", "ok", 1)]
    assert trail_calls[-1].params["streaming"] is True


def test_open_decrypted_seeks_in_v2(tmp_path) -> None:
    plain = _data(3 * SEG + 333, 9)
    path = _enc(tmp_path, plain, [ALICE, BOB])
    rng = random.Random(1)
    with open_decrypted(path, BOB) as fh:
        assert fh.seek(0, io.SEEK_END) == len(plain)
        for _ in range(60):
            pos = rng.randrange(len(plain) + 5)
            n = rng.choice([0, 1, 17, SEG, SEG + 3])
            fh.seek(pos)
            assert fh.read(n) == plain[pos : pos + n]


def _file(tmp_path: Path, data: bytes) -> Path:
    (tmp_path / "hostile").write_bytes(data)
    return tmp_path / "hostile"


@pytest.mark.parametrize("length", [0, 1, _header_v2.MAX_HEADER_LEN + 1, 2**32 - 1])
def test_hostile_header_length_refused_before_reading(tmp_path, monkeypatch, length) -> None:
    asked: list[int] = []
    real = _header_v2._read_exact
    monkeypatch.setattr(_header_v2, "_read_exact", lambda fh, n: asked.append(n) or real(fh, n))
    path = _file(tmp_path, b"AKCRYPT\x02" + struct.pack(">I", length) + b"{}" * 64)
    _rejected(path, ALICE)
    assert asked == [4]  # only the length itself was read


def _stanza_doc(n: int) -> dict:
    fake = {"type": "keyring", "key_id": "00000000", "nonce": "A" * 16, "wrapped": "A" * 64}
    return {
        "segment_size": SEG,
        "nonce_prefix": "AAAAAAAAAA",
        "policy": None,
        "resource": None,
        "recipients": [fake] * n,
    }


def test_hostile_recipient_count_refused_before_parsing_stanzas(
    tmp_path, monkeypatch, ring
) -> None:
    parsed: list[int] = []
    real = _header_v2.parse_stanza
    monkeypatch.setattr(_header_v2, "parse_stanza", lambda s: parsed.append(1) or real(s))
    _rejected(_file(tmp_path, _assemble(_stanza_doc(1025), bytes(32), bytes(16))), ring)
    assert parsed == []
    _rejected(_file(tmp_path, _assemble(_stanza_doc(0), bytes(32), bytes(16))), ring)
    _rejected(_file(tmp_path, _assemble(_stanza_doc(1024), bytes(32), bytes(16))), ring)
    assert len(parsed) == 1024  # at the bound, stanzas are parsed (none names this ring)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000 + b"]" * 200_000,  # deep nesting
        b'{"segment_size":' + b"9" * 5000 + b"}",  # a huge integer
        b"\xff\xfe" * 100,  # not ASCII
        json.dumps(_stanza_doc(1)).encode(),  # not canonical (spaces)
        b'{"segment_size":65536,"segment_size":65536}',  # duplicate keys
    ],
    ids=["nesting", "huge-int", "not-ascii", "not-canonical", "duplicate-keys"],
)
def test_malformed_header_json_is_an_opaque_error(tmp_path, ring, body) -> None:
    path = _file(tmp_path, b"AKCRYPT\x02" + struct.pack(">I", len(body)) + body + bytes(48))
    _rejected(path, ring)
    _rejected(path, ALICE)
    with pytest.raises(DecryptionError):
        file_info(path)


def test_truncated_v2_files(tmp_path) -> None:
    blob = _enc(tmp_path, _data(SEG + 1), [ALICE]).read_bytes()
    off = _offset(blob)
    for cut in (8, 10, 12, 100, off - 32, off - 1, off, off + 15, off + 16, len(blob) - 1):
        _rejected(_file(tmp_path, blob[:cut]), ALICE)
    _rejected(_file(tmp_path, blob + b"\x00"), ALICE)


def test_encrypt_file_to_refuses_bad_input(tmp_path, ring) -> None:
    (tmp_path / "p").write_bytes(b"x")
    dst = tmp_path / "c"
    a = ALICE.recipient()
    cases = [
        ([], {}, "at least one recipient"),
        ([a._replace(x25519_public=b"\x01" * 31)], {}, "32 raw bytes"),
        ([a._replace(key_id="XYZ")], {}, "16 lowercase hex"),
        ([a._replace(name="")], {}, "printable text"),
        (
            [a, BOB.recipient()._replace(x25519_public=a.x25519_public)],
            {},
            "same X25519 public key",
        ),
        ([a._replace(x25519_public=bytes(32))], {}, "low-order"),
        ("alice", {}, "list of"),
        ([a], {"policy": {"serial": 1}}, "'policy'"),
        ([a], {"resource": "bad\nname"}, "'resource'"),
        ([a], {"segment_size": 10}, "segment_size' parameter of encrypt_file_to"),
        ([a], {"ring": "ring.json"}, "KeyRing"),
    ]
    for recipients, kw, msg in cases:
        with pytest.raises(PrivacyInputError, match=msg):
            encrypt_file_to(tmp_path / "p", dst, recipients, **kw)
        assert not dst.exists()
    many = [
        Recipient(f"p{i}", f"{i:016x}", X25519PrivateKey.generate().public_key().public_bytes_raw())
        for i in range(1025)
    ]
    with pytest.raises(PrivacyInputError, match="at most 1024"):
        encrypt_file_to(tmp_path / "p", dst, many)
    # exact duplicates are one recipient
    encrypt_file_to(tmp_path / "p", dst, [a, a])
    assert file_info(dst).recipients == (a,)
    with pytest.raises(PrivacyInputError, match="opener"):
        decrypt_file(dst, tmp_path / "o", object())


def test_trail_params_name_no_person(tmp_path, ring, trail_calls) -> None:
    path = _enc(tmp_path, b"payload", [ALICE, BOB], ring, policy=POLICY, resource="data/x")
    _dec(path, BOB)
    set_recipients(path, BOB, [BOB.recipient()], ring=ring)
    assert [(c.action, c.outcome) for c in trail_calls] == [
        ("encrypt", "ok"),
        ("decrypt", "ok"),
        ("rewrap", "ok"),
    ]
    assert trail_calls[0].params == {"format_version": 2, "recipients": 3, "segment_size": SEG}
    assert trail_calls[1].params["via"] == "x25519"
    for c in trail_calls:
        assert c.resource == path
        assert not any(name in json.dumps(c.params) for name in ("alice", "bob", "data/x"))


def test_operations_reach_the_real_trail(tmp_path, ring, monkeypatch) -> None:
    from auditkit.privacy import trail

    for mod in (_stream, _stream_v2, _reader):
        monkeypatch.setattr(mod, "record", trail.record)
    monkeypatch.setenv("AUDITKIT_TRAIL", str(tmp_path / "trail"))
    path = _enc(tmp_path, b"payload", [ALICE], ring)
    _dec(path, ALICE)
    _rejected(path, BOB)
    events = [e for e in trail.Trail.open(tmp_path / "trail").events() if e.kind == "e"]
    got = [(e.action, e.outcome, e.params.get("format_version")) for e in events]
    assert got == [("encrypt", "ok", 2), ("decrypt", "ok", 2), ("decrypt", "denied", None)]
    assert all(Path(e.resource).name == "c" for e in events)
