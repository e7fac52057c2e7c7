"""Attack pass on access by role and version-2 files (issue 16).

Each test is an attack: a principal without a grant who can read and write the shared
directory, a revoked principal, or a hostile input; and no output, error or trail event may carry
a secret. The legacy single ring must keep working and migration must never lose an input.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auditkit.privacy.access import Identity, Policy, migrate, open_ring, read_public, sign_policy
from auditkit.privacy.crypto import (
    KeyRing,
    decrypt_file,
    encrypt_file,
    encrypt_file_to,
    file_info,
    new_kek,
)
from auditkit.privacy.errors import DecryptionError, PolicyError, PrivacyInputError
from auditkit.reports.trust import ACCESS_ADMIN, TrustStore

from .conftest import run_main

DATA = b"id,salary\n" + b"1,52000\n" * 200
KEK = "AUDITKIT_ATTACK_KEK"
# Curve25519 points of small order (RFC 7748 section 6.1; the list libsodium and age reject).
LOW_ORDER = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("AUDITKIT_TRAIL", str(tmp_path / "trail"))
    monkeypatch.delenv("AUDITKIT_ACCESS_POLICY", raising=False)
    monkeypatch.delenv("AUDITKIT_IDENTITY", raising=False)
    monkeypatch.setenv(KEK, new_kek())


@pytest.fixture
def people() -> dict[str, Identity]:
    return {n: Identity.generate(n) for n in ("admin", "alice", "bob")}


@pytest.fixture
def store(people: dict[str, Identity]) -> TrustStore:
    s = TrustStore()
    admin = people["admin"]
    s.add("admin", admin.public_key_pem(), [ACCESS_ADMIN], encryption_key=admin.encryption_key)
    return s


def _policy(tmp_path: Path, people: dict[str, Identity], store: TrustStore) -> Policy:
    """admin holds '*'; alice holds train and decrypt on data/*; bob holds nothing."""
    body = {
        "policy_id": "cd" * 16,
        "roles": {"engineer": {"permissions": ["train:data/*", "decrypt:data/*"]},
                  "admin": {"permissions": ["*"]}},
        "principals": [{**people["admin"].public_entry(), "roles": ["admin"]},
                       {**people["alice"].public_entry(), "roles": ["engineer"]},
                       {**people["bob"].public_entry(), "roles": []}],
    }
    path = tmp_path / "access-policy.json"
    sign_policy(body, people["admin"], out=path)
    return Policy.load(path, trust_store=store)


# -- (a) a principal without a grant, who can write the shared directory ---------------------------


def test_dot_dot_in_a_resource_name_does_not_escape_the_pattern(tmp_path, people, store) -> None:
    policy = _policy(tmp_path, people, store)
    alice = people["alice"]
    assert policy.allows(alice, "train", "data/x.csv")
    assert policy.allows(alice, "train", "./data//x.csv")  # the same name, written otherwise
    for name in ("data/../hr/salaries.csv", "data/sub/../../hr/salaries.csv"):
        assert not policy.allows(alice, "train", name)
        assert "alice" not in [r.name for r in policy.recipients_for(name)]


def test_a_symlink_into_a_granted_folder_does_not_grant_its_target(tmp_path, people, store) -> None:
    policy = _policy(tmp_path, people, store)
    alice = people["alice"]
    (tmp_path / "data").mkdir()
    (tmp_path / "hr").mkdir()
    (tmp_path / "hr" / "salaries.csv").write_text("x")
    (tmp_path / "data" / "own.csv").write_text("x")
    os.symlink(tmp_path / "hr" / "salaries.csv", tmp_path / "data" / "link.csv")  # planted
    os.symlink(tmp_path / "hr", tmp_path / "data" / "dir")
    assert not policy.allows(alice, "train", tmp_path / "data" / "link.csv")
    assert not policy.allows(alice, "train", tmp_path / "data" / "dir" / "salaries.csv")
    assert policy.allows(alice, "train", tmp_path / "data" / "own.csv")
    os.symlink(tmp_path / "data" / "own.csv", tmp_path / "data" / "alias.csv")  # inside: still fine
    assert policy.allows(alice, "train", tmp_path / "data" / "alias.csv")


def test_require_says_no_to_wildcards_unknown_actions_and_unscoped_checks(tmp_path, people, store) -> None:
    policy = _policy(tmp_path, people, store)
    alice, bob = people["alice"], people["bob"]
    for action in ("*", "decrypt:*", "Decrypt", "administer_keys", ""):
        with pytest.raises(PrivacyInputError):
            policy.allows(alice, action, "data/x")
    assert not policy.allows(alice, "train", None)  # a scoped grant needs a resource
    assert not policy.allows(bob, "decrypt", "data/x")
    impostor = Identity.generate("alice")  # the name alone grants nothing
    assert not policy.allows(impostor, "train", "data/x")
    assert policy.recipients_for("data/x") and all(r.name != "bob" for r in policy.recipients_for("data/x"))


def test_an_unsigned_or_reencoded_policy_and_hostile_json_are_refused(tmp_path, people, store) -> None:
    _policy(tmp_path, people, store)
    path = tmp_path / "access-policy.json"
    doc = json.loads(path.read_bytes())
    bad = tmp_path / "bad.json"
    variants = [
        json.dumps(doc, indent=1).encode(),                                   # not canonical
        (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").replace(
            '"cdcd', '"\\u0063dcd', 1).encode(),                              # an escape
        b"[" * 100_000 + b"]" * 100_000,                                      # deep JSON
        b'{"policy":' + b" " * (5 << 20) + b"{}}",                            # over the size bound
    ]
    for data in variants:
        bad.write_bytes(data)
        with pytest.raises(PolicyError):
            Policy.load(bad, trust_store=store)


def test_a_low_order_x25519_key_yields_no_key(tmp_path, people) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from auditkit.privacy.crypto import Recipient
    from auditkit.privacy.crypto._recipients import X25519Stanza, _unwrap_x25519

    key = X25519PrivateKey.generate()
    for point in LOW_ORDER:  # a planted epk: the shared secret would be all zeros
        stanza = X25519Stanza("a", "0" * 16, key.public_key().public_bytes_raw(), point, bytes(48))
        assert _unwrap_x25519(stanza, key) is None
        with pytest.raises(PrivacyInputError, match="low-order"):  # and nothing is wrapped to one
            encrypt_file_to(_plain(tmp_path), tmp_path / "o.enc", [Recipient("m", "0" * 16, point)])


def test_a_policy_cannot_list_a_low_order_encryption_key(people) -> None:
    from auditkit.privacy.crypto._base64url import b64e

    entry = {**people["alice"].public_entry(), "encryption_key": b64e(LOW_ORDER[2]), "roles": ["r"]}
    body = {"policy_id": "ef" * 16, "roles": {"r": {"permissions": ["decrypt"]}}, "principals": [entry]}
    with pytest.raises(PolicyError, match="encryption_key"):
        sign_policy(body, people["admin"])


# -- (c) hostile identity files ----------------------------------------------------------------------


def _identity_file(tmp_path: Path, doc: dict | bytes) -> Path:
    path = tmp_path / "planted.identity.json"
    path.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    os.chmod(path, 0o600)
    return path


def test_hostile_identity_files_give_clean_errors(tmp_path, people) -> None:
    good = people["alice"].save(tmp_path / "alice.identity.json", kek_env=KEK)
    doc = json.loads(good.read_text())
    deep = b'{"format":"auditkit-identity","version":1,"kek":' + b"[" * 60_000 + b"]" * 60_000 + b"}"
    cases = [
        _identity_file(tmp_path, deep),
        _identity_file(tmp_path, {**doc, "kek": "env"}),
        _identity_file(tmp_path, {**doc, "kek": ["scrypt"]}),
    ]
    for path in cases:
        for load in (lambda p: Identity.load_from_env(p, KEK), lambda p: Identity.load(p, kek_env=KEK)):
            with pytest.raises((PrivacyInputError, DecryptionError)):
                load(path)
            path = _identity_file(tmp_path, path.read_bytes())
    with pytest.raises(PrivacyInputError):
        read_public(_identity_file(tmp_path, deep))
    planted = {**doc, "kek": {"kind": "scrypt", "salt": "AAAAAAAAAAAAAAAAAAAAAA", "n": 2**40, "r": 8, "p": 1}}
    with pytest.raises(PrivacyInputError, match="'n'"):  # refused before any derivation
        Identity.load(_identity_file(tmp_path, planted), passphrase="x")


# -- (d) no secret in any output, error or trail event ------------------------------------------------


def _plain(tmp_path: Path) -> Path:
    p = tmp_path / "plain.csv"
    p.write_bytes(DATA)
    return p


def _cli(*args: str) -> str:
    code, out = run_main(*args)
    assert code == 0, out
    return out


def test_the_cli_never_shows_a_secret(tmp_path, monkeypatch) -> None:
    from auditkit.privacy.crypto._base64url import b64e
    from auditkit.privacy.crypto._header_v2 import read_header

    monkeypatch.chdir(tmp_path)
    ts, passphrase = str(tmp_path / "trusted_keys.toml"), "correct horse battery staple"
    monkeypatch.setenv("AUDITKIT_ATTACK_PASS", passphrase)
    outs = [
        _cli("access", "identity", "new", "admin", "--out", "admin.identity.json", "--kek-env", KEK,
             "--trust-store", ts, "--role", ACCESS_ADMIN),
        _cli("access", "identity", "new", "alice", "--out", "alice.identity.json",
             "--passphrase-env", "AUDITKIT_ATTACK_PASS", "--trust-store", ts),
    ]
    draft = tmp_path / "draft.toml"
    _cli("access", "policy", "init", "--out", str(draft))
    draft.write_text(draft.read_text() + '\n[[principals]]\nname = "admin"\nroles = ["admin"]\n'
                     '\n[[principals]]\nname = "alice"\nroles = ["engineer"]\n')
    (tmp_path / "data").mkdir()
    _plain(tmp_path)
    common = ["--trust-store", ts]
    outs += [
        _cli("access", "policy", "sign", str(draft), "--identity", "admin.identity.json",
             "--passphrase-env", KEK, *common),
        _cli("access", "encrypt", "plain.csv", "data/x.enc", "--policy", "access-policy.json", *common),
        _cli("access", "decrypt", "data/x.enc", "out.csv", "--identity", "alice.identity.json",
             "--passphrase-env", "AUDITKIT_ATTACK_PASS"),
        _cli("access", "grant", "alice", "officer", "--identity", "admin.identity.json",
             "--passphrase-env", KEK, "--policy", "access-policy.json", *common),
        _cli("access", "revoke", "alice", "officer", "--identity", "admin.identity.json",
             "--passphrase-env", KEK, "--policy", "access-policy.json", *common),
        _cli("access", "revoke", "alice", "engineer", "data/x.enc", "--identity", "admin.identity.json",
             "--passphrase-env", KEK, "--policy", "access-policy.json", *common),
    ]
    assert "rotate the ring" in outs[-2] and "rotate the ring" not in outs[-1]  # officer held detokenise
    code, refused = run_main("access", "decrypt", "data/x.enc", "out2.csv", "--identity", "alice.identity.json",
                             "--passphrase-env", "AUDITKIT_ATTACK_PASS")
    assert code != 0 and not (tmp_path / "out2.csv").exists()  # revoked: the rewrapped file is closed
    outs.append(refused)
    admin = Identity.load(tmp_path / "admin.identity.json", kek_env=KEK)
    alice = Identity.load(tmp_path / "alice.identity.json", passphrase=passphrase)
    with open(tmp_path / "data" / "x.enc", "rb") as fh:
        dek = read_header(fh, "x").unlock(admin)
    secrets = {passphrase, os.environ[KEK], dek.hex(), b64e(dek)}
    for who in (admin, alice):
        secrets |= {b64e(who.x25519_private_bytes()), b64e(who._seed()),
                    who.x25519_private_bytes().hex(), who._seed().hex()}
    trail_text = "".join(p.read_text(errors="replace") for p in Path(os.environ["AUDITKIT_TRAIL"]).glob("*"))
    shown = "\n".join(outs) + trail_text + (tmp_path / "access-policy.json").read_text()
    assert trail_text and "access.revoke" in trail_text
    for secret in secrets:
        assert secret not in shown


# -- (b) a revoked principal; (e) the legacy ring and migration ---------------------------------------


def test_after_revoke_the_cli_writes_nothing_the_revoked_can_open(tmp_path, people, store) -> None:
    from auditkit.privacy.access import revoke, seal_ring

    policy = _policy(tmp_path, people, store)
    ring = KeyRing.generate()
    envelope = seal_ring(ring, policy, tmp_path / "keyring.access")
    admin, alice = people["admin"], people["alice"]
    # alice also held the ring through a second role; revoking that role re-seals it without her
    body = policy.body
    body["roles"]["officer"] = {"permissions": ["detokenise"]}
    body["principals"][1]["roles"].append("officer")
    policy = sign_policy(body, admin, previous=policy, out=policy.path)
    from auditkit.privacy.access import rewrap_to_policy

    rewrap_to_policy(policy, [envelope], admin)
    assert open_ring(envelope, alice) == ring
    new = revoke(policy, "alice", "officer", admin=admin, trust_store=store).policy
    with pytest.raises(DecryptionError):
        open_ring(envelope, alice)
    new = revoke(new, "alice", "engineer", admin=admin, trust_store=store).policy
    enc = tmp_path / "data" / "new.enc"
    enc.parent.mkdir()
    encrypt_file_to(_plain(tmp_path), enc, new.recipients_for(enc), policy=new.ref(), resource="data/new.enc")
    assert alice.encryption_key not in {r.x25519_public for r in file_info(enc).recipients}
    with pytest.raises(DecryptionError):
        decrypt_file(enc, tmp_path / "stolen.csv", alice)


def test_migration_never_overwrites_an_input(tmp_path, people) -> None:
    admin = people["admin"]
    ring = KeyRing.generate()
    ring_path = ring.save(tmp_path / "keyring.access", passphrase="pw")  # named like the envelope
    before = ring_path.read_bytes()
    with pytest.raises(PolicyError):
        migrate(ring_path, admin=admin, ring=ring, force=True)
    assert ring_path.read_bytes() == before
    # a file the ring cannot open is found before anything is written
    ring2 = KeyRing.generate()
    (tmp_path / "r2").mkdir()
    ring2_path = ring2.save(tmp_path / "r2" / "keyring.json", passphrase="pw")
    foreign = tmp_path / "foreign.enc"
    encrypt_file(_plain(tmp_path), foreign, KeyRing.generate())
    foreign_bytes = foreign.read_bytes()
    with pytest.raises((PolicyError, DecryptionError)):
        migrate(ring2_path, admin=admin, ring=ring2, upgrade=[foreign])
    assert not (ring2_path.parent / "access-policy.json").exists()
    assert not (ring2_path.parent / "keyring.access").exists()
    assert foreign.read_bytes() == foreign_bytes
    # the same file twice is upgraded once; the ring alone still opens it (legacy mode)
    mine = tmp_path / "mine.enc"
    encrypt_file(_plain(tmp_path), mine, ring2)
    done = migrate(ring2_path, admin=admin, ring=ring2, upgrade=[mine, tmp_path / "." / "mine.enc"])
    assert done.upgraded == (mine,)
    decrypt_file(mine, tmp_path / "back.csv", ring2)
    assert (tmp_path / "back.csv").read_bytes() == DATA
    assert not list(tmp_path.rglob("*.auditkit-tmp"))
    assert b"material" not in (ring2_path.parent / "keyring.access").read_bytes()  # no plaintext ring


def test_a_draft_cannot_put_one_name_on_anothers_key(tmp_path, people, store) -> None:
    from auditkit.privacy.access import read_draft
    from auditkit.reports.trust import PRINCIPAL

    bob = people["bob"]
    store.add("bob", bob.public_key_pem(), [PRINCIPAL], encryption_key=bob.encryption_key)
    draft = tmp_path / "draft.toml"
    base = f'version = 1\npolicy_id = "{"ab" * 16}"\n[roles.r]\npermissions = ["decrypt"]\n'
    draft.write_text(base + f'[[principals]]\nname = "alice"\nkey_id = "{bob.key_id}"\nroles = ["r"]\n')
    with pytest.raises(PolicyError, match="bob"):  # an edited draft would give alice's grant to bob's key
        read_draft(draft, trust_store=store)
    draft.write_text(base + f'[[principals]]\nname = "bob"\nkey_id = "{bob.key_id}"\nroles = ["r"]\n')
    assert read_draft(draft, trust_store=store)["principals"][0]["key_id"] == bob.key_id
