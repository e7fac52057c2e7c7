"""Issue 12, class 8: `auditkit verify` passes only an intact report signed by a trusted key.

The attack: edit a signed report, re-sign it with your own key and put that key in the manifest.
The signature is then valid, so before the fix `auditkit verify DIR` exited 0. Now:

- 0 only when the signature is valid, every file matches, nothing was added, and the signer is
  pinned (``--public-key``) or in the trust store with the ``report-signer`` role;
- 1 for any alteration (each altered, missing or added file or directory named);
- 2 with one line for a malformed trust store or other bad input;
- 4 when the report is intact but its signer is not trusted (named by key id).

Every case also checks that verify wrote nothing into the report directory and that no private
key or audited data value appears in what it printed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.reports import trust
from auditkit.reports.errors import ReportInputError
from auditkit.reports.signing import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    SigningKeyFiles,
    generate_signing_key,
    load_private_key,
    verify,
    write_manifest,
)
from auditkit.reports.trust import REPORT_SIGNER, TrustStore

SENTINEL = "zoe.sentinel@example.org"  # a personal value in the audited data
REPORT_FILES = ("report.html", "report.md", "report.json", "artifacts/ledger.json")


@dataclass
class Signed:
    root: Path
    out: Path
    inputs: dict[str, Path]
    owner: SigningKeyFiles
    attacker: SigningKeyFiles
    stranger: SigningKeyFiles

    def secrets(self) -> list[str]:
        """Every form in which a private key could leak into output."""
        found = []
        for keys in (self.owner, self.attacker, self.stranger):
            pem = keys.private.read_text()
            raw = load_private_key(keys.private).private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            body = "".join(pem.splitlines()[1:-1])
            found += [body, base64.b64encode(raw).decode(), raw.hex()]
        return found

    def snapshot(self) -> dict[str, bytes]:
        return {
            p.relative_to(self.out).as_posix(): p.read_bytes()
            for p in sorted(self.out.rglob("*"))
            if p.is_file() and not p.is_symlink()
        }


@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Signed:
    # Hermetic: no trust store from the environment or the user's home.
    monkeypatch.delenv(trust.TRUST_STORE_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("COLUMNS", "200")
    inputs_dir = tmp_path / "inputs"
    inputs_dir.mkdir()
    inputs = {
        "data": inputs_dir / "loans.csv",
        "model": inputs_dir / "model.skops",
        "config": inputs_dir / "audit.toml",
    }
    inputs["data"].write_text(f"email,approved\n{SENTINEL},1\nother@example.org,0\n")
    inputs["model"].write_bytes(bytes(range(256)) * 4)
    inputs["config"].write_text('[data]\npath = "loans.csv"\n')
    out = tmp_path / "report"
    (out / "artifacts").mkdir(parents=True)
    for i, name in enumerate(REPORT_FILES):
        (out / name).write_bytes(f"<p>report part {i}</p>\n".encode() * 20)
    keys = {
        n: generate_signing_key(tmp_path / "keys" / f"{n}.pem")
        for n in ("owner", "attacker", "stranger")
    }
    write_manifest(out, inputs, [out / n for n in REPORT_FILES], keys["owner"].private)
    return Signed(tmp_path, out, inputs, keys["owner"], keys["attacker"], keys["stranger"])


def _trust_store(path: Path, *entries: tuple[str, SigningKeyFiles]) -> Path:
    store = TrustStore()
    for name, keys in entries:
        store.add(name, keys.public.read_text())
    return store.save(path)


def _resign(s: Signed, *, edit: bool) -> None:
    """The attack: (optionally) edit a report file, then re-sign everything with another key."""
    if edit:
        (s.out / "report.md").write_text("# All checks passed\n")
    write_manifest(s.out, s.inputs, [s.out / n for n in REPORT_FILES], s.attacker.private)


def _check_output(s: Signed, text: str) -> None:
    assert "Traceback" not in text
    assert SENTINEL not in text
    for secret in s.secrets():
        assert secret not in text


# -- who signed: 0 only for a pinned or trusted signer ----------------------------------------

# Each scenario prepares the report and returns (verify arguments, extra environment, the key
# id of the manifest's signer, expected exit status).
Scenario = Callable[[Signed], tuple[list[str], dict[str, str], str, int]]


def _owner_pinned(s: Signed):
    return ["--public-key", str(s.owner.public)], {}, s.owner.key_id, 0


def _owner_in_store_flag(s: Signed):
    path = _trust_store(s.root / "store.toml", ("owner", s.owner))
    return ["--trust-store", str(path)], {}, s.owner.key_id, 0


def _owner_in_store_env(s: Signed):
    path = _trust_store(s.root / "store.toml", ("owner", s.owner))
    return [], {trust.TRUST_STORE_ENV: str(path)}, s.owner.key_id, 0


def _owner_in_store_xdg(s: Signed):
    _trust_store(s.root / "xdg" / "auditkit" / "trusted_keys.toml", ("owner", s.owner))
    return [], {}, s.owner.key_id, 0


def _one_of_several_pinned(s: Signed):
    args = ["--public-key", str(s.stranger.public), "--public-key", str(s.owner.public)]
    return args, {}, s.owner.key_id, 0


def _pinned_plus_explicit_store(s: Signed):
    path = _trust_store(s.root / "store.toml", ("owner", s.owner))
    args = ["--public-key", str(s.stranger.public), "--trust-store", str(path)]
    return args, {}, s.owner.key_id, 0


def _no_pin_no_store(s: Signed):
    return [], {}, s.owner.key_id, 4


def _wrong_pinned_key(s: Signed):
    return ["--public-key", str(s.stranger.public)], {}, s.owner.key_id, 4


def _pin_excludes_env_store(s: Signed):
    path = _trust_store(s.root / "store.toml", ("owner", s.owner))
    return (
        ["--public-key", str(s.stranger.public)],
        {trust.TRUST_STORE_ENV: str(path)},
        s.owner.key_id,
        4,
    )


def _other_signer_in_store(s: Signed):
    path = _trust_store(s.root / "store.toml", ("someone", s.stranger))
    return ["--trust-store", str(path)], {}, s.owner.key_id, 4


def _attack(edit: bool, how: str) -> Scenario:
    def scenario(s: Signed):
        _resign(s, edit=edit)
        if how == "pinned":
            args, env = ["--public-key", str(s.owner.public)], {}
        elif how == "store":
            path = _trust_store(
                s.root / "xdg" / "auditkit" / "trusted_keys.toml", ("owner", s.owner)
            )
            args, env = [], {trust.TRUST_STORE_ENV: str(path)}
        else:
            args, env = [], {}
        return args, env, s.attacker.key_id, 4

    return scenario


SCENARIOS: dict[str, Scenario] = {
    "owner pinned": _owner_pinned,
    "owner in --trust-store": _owner_in_store_flag,
    "owner in $AUDITKIT_TRUST_STORE": _owner_in_store_env,
    "owner in XDG trust store": _owner_in_store_xdg,
    "owner among several pinned keys": _one_of_several_pinned,
    "pinned stranger plus explicit store with owner": _pinned_plus_explicit_store,
    "no pin, no trust store": _no_pin_no_store,
    "wrong pinned key": _wrong_pinned_key,
    "pin replaces the env trust store": _pin_excludes_env_store,
    "store trusts another key": _other_signer_in_store,
    **{
        f"attacker re-signs{' after editing' if edit else ''}, {how}": _attack(edit, how)
        for edit in (False, True)
        for how in ("unpinned", "pinned", "store")
    },
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_exit_status_depends_on_who_signed(signed: Signed, cli, name: str) -> None:
    args, env, signer_id, expected = SCENARIOS[name](signed)
    before = signed.snapshot()
    proc = cli("verify", str(signed.out), *args, env=env)
    assert proc.returncode == expected, proc.stdout + proc.stderr
    assert signed.snapshot() == before, "verify changed the report directory"
    _check_output(signed, proc.stdout + proc.stderr)
    if expected == 0:
        assert proc.stdout.startswith("OK:") and signer_id in proc.stdout
    else:
        assert proc.stderr.startswith("UNTRUSTED:"), proc.stderr
        assert f"key {signer_id}" in proc.stderr


def test_trusted_key_without_the_signer_role_is_not_trusted(
    signed: Signed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(trust._ROLES, "data-reader", "reads decrypted data (test role)")
    store = TrustStore()
    store.add("owner", signed.owner.public.read_text(), roles=["data-reader"])
    res = verify(signed.out, trust_store=store)
    assert res.intact and not res.trusted and res.exit_code == 4
    assert "without the role 'report-signer'" in (res.untrusted or "")
    store2 = TrustStore()
    store2.add("owner", signed.owner.public.read_text(), roles=["data-reader", REPORT_SIGNER])
    assert verify(signed.out, trust_store=store2).exit_code == 0


def test_store_entry_with_a_colliding_key_id_is_not_trusted(signed: Signed) -> None:
    """Trust compares the whole key, not only its 64-bit id."""
    store = TrustStore()
    store.add("stranger", signed.stranger.public.read_text())
    forged = trust.Principal(
        "owner?", signed.owner.key_id, store.principals[0].public_key, (REPORT_SIGNER,)
    )
    store._principals = [forged]
    assert not store.trusts(load_private_key(signed.owner.private).public_key())
    assert verify(signed.out, trust_store=store).exit_code == 4


# -- what changed: each alteration exits 1 naming the file -------------------------------------


def _flip(path: Path) -> None:
    b = bytearray(path.read_bytes())
    b[len(b) // 2] ^= 0x01
    path.write_bytes(bytes(b))


OPS: dict[str, Callable[[Path], None]] = {
    "flip a byte": _flip,
    "append a byte": lambda p: p.write_bytes(p.read_bytes() + b"\n"),
    "truncate": lambda p: p.write_bytes(b""),
    "delete": lambda p: p.unlink(),
}
TARGETS = [
    *REPORT_FILES,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    "input:data",
    "input:model",
    "input:config",
]
ALTERATIONS = [
    (target, op)
    for target in TARGETS
    for op in OPS
    if not (target.startswith("input:") and op == "delete")  # a missing input is a note
]


def _in_process(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    from auditkit.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("target", "op"), ALTERATIONS)
def test_each_single_file_alteration_exits_1_naming_it(
    signed: Signed, capsys: pytest.CaptureFixture, target: str, op: str
) -> None:
    if target.startswith("input:"):
        path = signed.inputs[target.split(":")[1]]
        named = path.name
    else:
        path, named = signed.out / target, target
    OPS[op](path)
    code, out, err = _in_process(capsys, "verify", str(signed.out), "-k", str(signed.owner.public))
    assert code == 1, out + err
    assert err.startswith("ALTERED:") and named in err, err
    _check_output(signed, out + err)


def test_edited_file_with_patched_manifest_hash_exits_1(signed: Signed, capsys) -> None:
    (signed.out / "report.md").write_text("tampered")
    manifest = json.loads((signed.out / MANIFEST_NAME).read_text())
    manifest["files"]["report.md"] = {"sha256": hashlib.sha256(b"tampered").hexdigest(), "size": 8}
    (signed.out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for args in ([], ["-k", str(signed.owner.public)]):
        code, _, err = _in_process(capsys, "verify", str(signed.out), *args)
        assert code == 1 and f"does not match {MANIFEST_NAME}" in err


def test_missing_input_is_a_note_not_a_failure(signed: Signed, capsys) -> None:
    signed.inputs["data"].unlink()
    code, out, _ = _in_process(capsys, "verify", str(signed.out), "-k", str(signed.owner.public))
    assert code == 0 and "data input loans.csv is not at" in out


def _add_file(rel: str) -> Callable[[Path], None]:
    def add(out: Path) -> None:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("added")

    return add


ADDITIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "file at the top": (_add_file("extra.html"), "extra.html"),
    "file in a listed directory": (_add_file("artifacts/extra.json"), "artifacts/extra.json"),
    "empty directory": (lambda o: (o / "newdir").mkdir(), "newdir/"),
    "directory with a file": (_add_file("newdir/x.html"), "newdir/"),
    "empty nested directory": (lambda o: (o / "artifacts" / "sub").mkdir(), "artifacts/sub/"),
    "left-over temporary file": (
        _add_file(".report.html.4242.abcd.auditkit-tmp"),
        ".report.html.4242.abcd.auditkit-tmp",
    ),
    "symbolic link to a file": (
        lambda o: (o / "link.html").symlink_to(o / "report.html"),
        "link.html",
    ),
    "symbolic link to a directory": (
        lambda o: (o / "linkdir").symlink_to(o / "artifacts"),
        "linkdir",
    ),
    "name with control characters": (_add_file("evil\x1b[2J.html"), "evil\\x1b[2J.html"),
}


@pytest.mark.parametrize("case", list(ADDITIONS))
def test_added_files_and_directories_exit_1_naming_them(
    signed: Signed, capsys: pytest.CaptureFixture, case: str
) -> None:
    add, named = ADDITIONS[case]
    add(signed.out)
    code, out, err = _in_process(capsys, "verify", str(signed.out), "-k", str(signed.owner.public))
    assert code == 1, out + err
    assert f"{named} is not in the manifest" in err, err
    assert "\x1b" not in err


# -- the trust store: every malformed store is refused with one line, exit 2 -------------------


def _entry(label: str, keys: SigningKeyFiles, **override: str) -> str:
    fields = {
        "name": json.dumps(label),
        "key_id": json.dumps(keys.key_id),
        "roles": '["report-signer"]',
        "public_key": '"""\n' + keys.public.read_text() + '"""',
        **override,
    }
    return "[[signer]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items()) + "\n"


def _ec_pem() -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


MALFORMED: dict[str, tuple[Callable[[Signed], str], str]] = {
    "not TOML": (lambda s: "[[signer]\nname = ", "not valid TOML"),
    "garbage PEM": (
        lambda s: _entry(
            "a",
            s.owner,
            public_key='"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n"',
        ),
        "not a readable PEM public key",
    ),
    "not PEM at all": (
        lambda s: _entry("a", s.owner, public_key='"hello"'),
        "not a PEM public key",
    ),
    "private key in the store": (
        lambda s: _entry("a", s.owner, public_key='"""\n' + s.owner.private.read_text() + '"""'),
        "is a private key",
    ),
    "non-Ed25519 key": (
        lambda s: _entry("a", s.owner, public_key='"""\n' + _ec_pem() + '"""'),
        "report signers use Ed25519 keys",
    ),
    "key id of another key": (
        lambda s: _entry("a", s.owner, key_id=json.dumps(s.attacker.key_id)),
        "does not match its public key",
    ),
    "key id not hex": (lambda s: _entry("a", s.owner, key_id='"xyz"'), "16 lower-case hex digits"),
    "unknown entry field": (
        lambda s: _entry("a", s.owner).replace("name =", "nme ="),
        "Did you mean 'name'?",
    ),
    "unknown top-level field": (
        lambda s: "signers = []\n" + _entry("a", s.owner),
        "Did you mean 'signer'?",
    ),
    "duplicate name": (
        lambda s: _entry("ci", s.owner) + _entry("CI", s.attacker),
        "names must be unique",
    ),
    "duplicate key": (
        lambda s: _entry("ci", s.owner) + _entry("ci-2", s.owner),
        "is already trusted as 'ci'",
    ),
    "missing field": (
        lambda s: _entry("a", s.owner).replace('roles = ["report-signer"]\n', ""),
        "lacks the field 'roles'",
    ),
    "unknown role": (
        lambda s: _entry("a", s.owner, roles='["report-signr"]'),
        "Did you mean 'report-signer'?",
    ),
    "empty roles": (lambda s: _entry("a", s.owner, roles="[]"), "needs 'roles'"),
    "single [signer] table": (
        lambda s: _entry("a", s.owner).replace("[[signer]]", "[signer]"),
        "double brackets",
    ),
    "future version": (lambda s: "version = 2\n" + _entry("a", s.owner), "reads version 1"),
    "control characters in name": (
        lambda s: _entry("a", s.owner, name='"ci\\u001b[31m"'),
        "control characters",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_trust_store_exits_2_with_one_line(
    signed: Signed, cli, capsys: pytest.CaptureFixture, case: str
) -> None:
    make, expected = MALFORMED[case]
    store = signed.root / "store.toml"
    store.write_text(make(signed))
    before = store.read_bytes()
    proc = cli("verify", str(signed.out), "--trust-store", str(store))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert expected in lines[0] and str(store) in lines[0]
    assert "PRIVATE" not in proc.stderr and "MCow" not in proc.stderr  # no key material
    _check_output(signed, proc.stdout + proc.stderr)
    assert store.read_bytes() == before
    code, _, err = _in_process(capsys, "keys", "trusted", "--trust-store", str(store))
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err


@pytest.mark.parametrize(
    "how", ["group/other-writable", "missing --trust-store", "missing $AUDITKIT_TRUST_STORE"]
)
def test_unusable_trust_store_file_exits_2(signed: Signed, cli, how: str) -> None:
    store = signed.root / "store.toml"
    env: dict[str, str] = {}
    args = ["--trust-store", str(store)]
    if how == "group/other-writable":
        _trust_store(store, ("owner", signed.owner))
        os.chmod(store, 0o666)
    elif how == "missing $AUDITKIT_TRUST_STORE":
        args, env = [], {trust.TRUST_STORE_ENV: str(store)}
    proc = cli("verify", str(signed.out), *args, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(store) in proc.stderr


# -- `auditkit keys trust` / `keys trusted` ---------------------------------------------------


def test_keys_trust_adds_appends_and_refuses_duplicates(signed: Signed, cli) -> None:
    store = signed.root / "xdg" / "auditkit" / "trusted_keys.toml"
    proc = cli("keys", "trust", str(signed.owner.public), "--name", "owner")
    assert proc.returncode == 0, proc.stderr
    assert signed.owner.key_id in proc.stdout and store.is_file()
    assert store.stat().st_mode & 0o777 == 0o644
    assert not list(store.parent.glob("*.auditkit-tmp"))
    assert cli("verify", str(signed.out)).returncode == 0
    # comments survive an added entry
    store.write_text("# reviewed by the security team\n" + store.read_text())
    proc = cli("keys", "trust", str(signed.stranger.public), "--name", "stranger")
    assert proc.returncode == 0, proc.stderr
    assert store.read_text().startswith("# reviewed by the security team\n")
    assert [p.name for p in TrustStore.load(store)] == ["owner", "stranger"]
    listing = cli("keys", "trusted")
    assert listing.returncode == 0
    assert signed.owner.key_id in listing.stdout and signed.stranger.key_id in listing.stdout
    before = store.read_bytes()
    for args in (
        [str(signed.owner.public), "--name", "again"],  # same key
        [str(signed.attacker.public), "--name", "Owner"],  # same name
        [str(signed.attacker.private), "--name", "oops"],  # a private key
        [str(signed.root / "nope.pub"), "--name", "missing"],
        [str(signed.attacker.public), "--name", "x", "--role", "admin"],
    ):
        proc = cli("keys", "trust", *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        _check_output(signed, proc.stdout + proc.stderr)
    assert store.read_bytes() == before
    for secret in signed.secrets():
        assert secret not in store.read_text()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=400))
def test_any_trust_store_text_loads_or_fails_with_an_input_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    try:
        store = TrustStore.load(path)
    except ReportInputError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(isinstance(p, trust.Principal) for p in store)


_TOML_VALUE = st.recursive(
    st.booleans() | st.integers() | st.text(max_size=30) | st.floats(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(["name", "key_id", "public_key", "roles", "version"]), value=_TOML_VALUE
)
def test_a_valid_entry_with_any_field_replaced_loads_or_fails_with_an_input_error(
    tmp_path: Path, field: str, value: object
) -> None:
    import tomli_w
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    entry = {
        "name": "ci",
        "key_id": trust.key_id(public),
        "public_key": trust.public_key_pem(public),
        "roles": [REPORT_SIGNER],
    }
    doc: dict = {"version": 1, "signer": [entry]}
    (doc if field == "version" else entry)[field] = value
    path = tmp_path / "mutated.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    try:
        store = TrustStore.load(path)
    except ReportInputError as exc:
        assert "\n" not in str(exc) and "MCow" not in str(exc)
    else:
        assert len(store) == 1 and store.trusts(public)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)
        .map(str.strip)
        .filter(lambda n: n and n.isprintable()),
        min_size=1,
        max_size=4,
        unique_by=str.casefold,
    )
)
def test_trust_store_round_trips(tmp_path: Path, names: list[str]) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    store = TrustStore()
    keys = [Ed25519PrivateKey.generate().public_key() for _ in names]
    for name, key in zip(names, keys, strict=True):
        store.add(name, key)
    path = tmp_path / "rt.toml"
    path.unlink(missing_ok=True)
    store.save(path)
    loaded = TrustStore.load(path)
    assert loaded.principals == store.principals
    assert all(loaded.trusts(k) for k in keys)
