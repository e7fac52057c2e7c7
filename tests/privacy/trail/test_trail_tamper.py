"""Every single-line edit, deletion, insertion, swap and truncation of a small trail is caught.

The trail: genesis, three interleaved commands (alice signed, one unauthenticated, bob signed)
of eight events each, their seals, and an admin checkpoint — 29 lines in one segment.
"""

from __future__ import annotations

import json
import shutil

import pytest

from auditkit.privacy.trail import CommandSession, Trail
from auditkit.privacy.trail import _format as fmt

ACTIONS = ("decrypt", "audit.run", "train.start")


@pytest.fixture(scope="module")
def small(tmp_path_factory, keys):
    """(directory, the segment's lines with newline, the admin checkpoint)."""
    directory = tmp_path_factory.mktemp("small") / "trail"
    trail = Trail.open(directory, create=True)
    sessions = [CommandSession(a) for a in ACTIONS]
    sessions[0].binding.signer, sessions[2].binding.signer = keys["alice"], keys["bob"]
    for s in sessions:
        s.directory = directory
    for i in range(8):
        for s in sessions:
            s.record(s.name, {"path": f"/data/{i}.enc", "sha256": None}, "ok", {"i": i})
    for s in sessions:
        s.seal("ok")
    checkpoint = trail.checkpoint(keys["admin"])
    lines = (directory / "000001.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 29 and checkpoint.seq == 28
    return directory, lines, checkpoint


@pytest.fixture
def victim(small, tmp_path):
    """A writable copy of the small trail and a function that replaces its segment."""
    directory, lines, checkpoint = small
    copy = tmp_path / "trail"
    shutil.copytree(directory, copy)

    original_head = (copy / "HEAD").read_text()

    def write(new_lines: list[bytes], head: tuple[int, str] | None = None) -> Trail:
        """Replace the segment, and HEAD with ``head`` (default: the original HEAD)."""
        (copy / "000001.jsonl").write_bytes(b"".join(new_lines))
        text = original_head if head is None else json.dumps({"seq": head[0], "hash": head[1]})
        (copy / "HEAD").write_text(text)
        return Trail(copy)

    return write, lines, checkpoint


def _hash(line: bytes) -> str:
    return line.rstrip(b"\n")[-66:-2].decode()


def test_the_untouched_trail_verifies(victim, trust):
    write, lines, checkpoint = victim
    result = write(lines).verify(trust=trust, anchor=checkpoint)
    assert result.ok, result.first_bad
    assert result.verified_seq == 28 and result.checkpoints == 1 and result.lines == 29
    assert result.commands == {"key": 2, "none": 1} and result.anchor == "ok"
    assert result.head_witness == "ok" and result.unverified_tail.count == 0
    assert result.to_dict()["first_bad"] is None
    assert write(lines).verify(trust=trust, full=True).ok


def test_every_single_byte_edit_is_caught_at_its_line(victim, trust):
    write, lines, _ = victim
    for k, line in enumerate(lines):
        for pos in range(len(line)):
            edited = bytearray(line)
            edited[pos] ^= 0x01
            result = write([*lines[:k], bytes(edited), *lines[k + 1:]]).verify(trust=trust)
            assert not result.ok, (k, pos)
            assert result.first_bad.seq == k, (k, pos, result.first_bad)
            assert result.first_bad.segment == "000001.jsonl" and result.first_bad.line == k + 1


def test_every_deletion_is_caught(victim, trust):
    write, lines, _ = victim
    last = len(lines) - 1
    for k in range(len(lines)):
        result = write([*lines[:k], *lines[k + 1:]]).verify(trust=trust)
        assert not result.ok and result.first_bad.seq == k, (k, result.first_bad)
        assert result.first_bad.kind == ("truncated" if k == last else "missing or reordered")


def test_every_adjacent_swap_is_caught(victim, trust):
    write, lines, _ = victim
    for k in range(len(lines) - 1):
        swapped = [*lines[:k], lines[k + 1], lines[k], *lines[k + 2:]]
        result = write(swapped).verify(trust=trust)
        assert not result.ok and result.first_bad.seq == k, (k, result.first_bad)
        assert result.first_bad.kind == "missing or reordered"


def test_every_copied_line_inserted_anywhere_is_caught(victim, trust):
    write, lines, _ = victim
    for j, copied in enumerate(lines):
        for k in range(len(lines) + 1):  # before line k; k == len(lines): appended
            result = write([*lines[:k], copied, *lines[k:]]).verify(trust=trust)
            assert not result.ok, (j, k)
            # a copy next to its original is indistinguishable from it: either may be named
            allowed = {k - 1, k} if j == k - 1 else {k, k + 1} if j == k else {k}
            assert result.first_bad.seq in allowed, (j, k, result.first_bad)


def _crafted(prev: str, seq: int, cmd: str = "f" * 32) -> bytes:
    fields = [("principal", "os:mallory"), ("auth", "none"), ("key_id", None), ("action", "decrypt"),
              ("resource", None), ("outcome", "ok"), ("params", {})]
    return fmt.build_line(prev, cmd, "e", seq, fields)[0]


def test_every_crafted_line_inserted_is_caught(victim, trust):
    write, lines, _ = victim
    for k in range(1, len(lines)):
        crafted = _crafted(_hash(lines[k - 1]), k)  # chains perfectly to the line before it
        result = write([*lines[:k], crafted, *lines[k:]]).verify(trust=trust)
        assert not result.ok and result.first_bad.seq == k, (k, result.first_bad)
        assert result.first_bad.kind == "inserted"
    # Appended at the end it breaks no link: it is an unsealed event, reported, never accepted.
    tail = _crafted(_hash(lines[-1]), len(lines))
    result = write([*lines, tail]).verify(trust=trust)
    assert result.unverified_tail.count == 1 and result.unverified_tail.first_seq == len(lines)
    assert result.verified_seq == len(lines) - 1


def _is_boundary(lines: list[bytes], k: int) -> bool:
    """Whether every command with an event in lines[:k+1] is sealed in it too."""
    open_cmds: set[str] = set()
    for line in lines[:k + 1]:
        obj = json.loads(line)
        if obj["kind"] == "e":
            open_cmds.add(obj["cmd"])
        elif obj["kind"] == "s":
            open_cmds.discard(obj["cmd"])
    return not open_cmds


def test_every_truncation_is_caught_or_reported(victim, trust):
    write, lines, checkpoint = victim
    for k in range(len(lines) - 1):  # keep lines 0..k
        kept = lines[:k + 1]
        result = write(kept).verify(trust=trust)  # HEAD (the witness) is still the old one
        assert not result.ok and result.first_bad.kind == "truncated" and result.first_bad.seq == k + 1
        # An attacker who also rewrites HEAD: the anchor kept elsewhere still catches it...
        forged_head = (k, _hash(lines[k]))
        result = write(kept, head=forged_head).verify(trust=trust, anchor=checkpoint)
        assert not result.ok and result.first_bad.kind == "truncated" and result.first_bad.seq == k + 1
        # ...and without one, a cut inside a command leaves unsealed events, reported as such;
        # a cut at a command boundary is what only an anchor or a signed report's head can prove.
        result = write(kept, head=forged_head).verify(trust=trust)
        assert result.ok
        assert (result.unverified_tail.count == 0) == _is_boundary(lines, k), k


def test_anchor_as_seq_and_hash(victim, trust):
    write, lines, _ = victim
    assert write(lines).verify(trust=trust, anchor=(10, _hash(lines[10]))).anchor == "ok"
    result = write(lines).verify(trust=trust, anchor=(10, _hash(lines[11])))
    assert not result.ok and result.first_bad.kind == "anchor mismatch" and result.first_bad.seq == 10


def _rechain(lines: list[bytes], start: int, edit, signers: dict[str, object]) -> list[bytes]:
    """Rewrite lines[start:] with a consistent chain, applying ``edit`` to each parsed object and
    signing seals and checkpoints with ``signers[kind]`` (an attacker who has write access)."""
    out, prev = list(lines[:start]), _hash(lines[start - 1])
    for line in lines[start:]:
        obj = json.loads(line)
        edit(obj)
        signer = signers.get(obj["kind"]) if "sig" in obj else None
        if signer is not None:
            obj["key_id"], obj["public_key"] = signer.key_id, fmt.b64e(signer.public_key_raw())
            sign = signer.sign
        elif "sig" in obj:
            sign = (lambda old: lambda message: bytes.fromhex(old))(obj["sig"])  # the old signature
        else:
            sign = None
        fields = [(k, v) for k, v in obj.items() if k not in ("prev", "cmd", "kind", "seq", "time", "hash", "sig")]
        new, prev = fmt.build_line(prev, obj["cmd"], obj["kind"], obj["seq"], fields,
                                   sign=sign, time=obj["time"])
        out.append(new)
    return out


def _touch_first_event(obj):
    if obj["seq"] == 1:
        obj["params"] = {"i": 99}


@pytest.mark.parametrize(
    ("seal_key", "kind"),
    [("mallory", "untrusted key"), ("bob", "key of another principal")],
)
def test_a_rewrite_resigned_with_another_key_is_caught(victim, trust, keys, seal_key, kind):
    write, lines, _ = victim
    rewritten = _rechain(lines, 1, _touch_first_event, {"s": keys[seal_key], "c": keys["admin"]})
    result = write(rewritten, head=(28, _hash(rewritten[-1]))).verify(trust=trust)
    assert not result.ok and result.untrusted == 1
    # alice's seal, re-signed by someone else: a stranger's key vouches for nothing (and the scan
    # goes on); a known key under alice's name is a forgery, where the scan stops
    found = result.first_untrusted if kind == "untrusted key" else result.first_bad
    assert found.kind == kind and found.seq == 25


def test_a_rewrite_without_a_new_signature_breaks_the_old_one(victim, trust):
    write, lines, _ = victim
    rewritten = _rechain(lines, 1, _touch_first_event, {})  # keeps alice's old signatures
    result = write(rewritten, head=(28, _hash(rewritten[-1]))).verify(trust=trust)
    assert not result.ok and result.first_bad.kind == "bad signature" and result.first_bad.seq == 25


@pytest.mark.parametrize("admin", ["mallory", "bob"])
def test_a_checkpoint_needs_a_trail_admin(victim, trust, keys, admin):
    write, lines, _ = victim
    rewritten = _rechain(lines, 28, lambda obj: None, {"c": keys[admin]})
    result = write(rewritten, head=(28, _hash(rewritten[-1]))).verify(trust=trust)
    assert not result.ok and result.checkpoints == 0 and result.first_problem.seq == 28
    if admin == "mallory":  # a stranger's key: intact, but nobody vouches for the checkpoint
        assert result.first_bad is None and result.first_untrusted.kind == "untrusted key"
    else:  # bob's known key under the admin's name: a forgery
        assert result.first_bad.kind == "key of another principal"


def test_a_forged_event_in_a_victims_command_is_caught(trail_dir, keys, trust):
    victim = CommandSession("decrypt")
    victim.binding.signer = keys["alice"]
    victim.record("decrypt", None, "ok", {})
    forger = CommandSession("decrypt")  # another process that learnt the victim's cmd id
    forger.cmd = victim.cmd
    forger.record("decrypt", {"path": "/data/secret.enc", "sha256": None}, "ok", {})
    victim.record("decrypt", None, "ok", {})
    victim.seal("ok")
    result = Trail.open(trail_dir).verify(trust=trust)
    assert not result.ok and result.first_bad.kind == "outside seal" and result.first_bad.seq == 2
    # after the seal, too
    forger.record("decrypt", None, "ok", {})
    result = Trail.open(trail_dir).verify(trust=trust)
    assert result.first_bad.seq == 2
