"""`auditkit trail verify|show|export|checkpoint` end to end, in process, on a real trail.

The trail is written by real commands (`keys init`, `encrypt`, `decrypt`): every command seals its
events with the key ring's principal, so `verify --keyring` vouches for them; edits, deletions
and truncation are named; a checkpoint countersigned by a `trail-admin` anchors the head.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auditkit.cli import main
from auditkit.privacy.access import Identity
from auditkit.privacy.crypto import new_kek
from auditkit.reports.trust import TRAIL_ADMIN, TrustStore


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUDITKIT_TRAIL", str(tmp_path / "trail"))
    monkeypatch.setenv("AUDITKIT_TRUST_STORE", str(tmp_path / "trusted.toml"))
    monkeypatch.setenv("AUDITKIT_KEYRING_PASSPHRASE", "a ring passphrase")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("AUDITKIT_IDENTITY", raising=False)
    (tmp_path / "data.csv").write_text("a,b\n1,2\n3,4\n")
    assert main(["keys", "init", "--keyring", "ring.json"]) == 0
    assert main(["encrypt", "data.csv", "data.enc", "--keyring", "ring.json"]) == 0
    assert main(["decrypt", "data.enc", "copy.csv", "--keyring", "ring.json"]) == 0
    return tmp_path


def _segment(work: Path) -> Path:
    return work / "trail" / "000001.jsonl"


def test_verify_with_the_ring_vouches_for_every_command(work: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["trail", "verify", "--keyring", "ring.json", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["first_bad"] is None
    assert result["unauthenticated"] == 0 and result["unverified_tail"]["count"] == 0


def test_verify_without_trust_is_intact_but_not_vouched_for(work: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["trail", "verify"]) == 4  # as `auditkit verify` for a report by an unknown signer
    err = capsys.readouterr().err
    assert "NOT VOUCHED FOR" in err and "untrusted key" not in err.split("(first:")[0]
    assert "--keyring" in err


@pytest.mark.parametrize("mutation", ["edit", "delete", "swap"])
def test_verify_names_the_first_bad_line(work: Path, capsys, mutation: str) -> None:
    seg = _segment(work)
    lines = seg.read_bytes().splitlines(keepends=True)
    target = 3
    if mutation == "edit":
        lines[target] = lines[target].replace(b'"ok"', b'"no"', 1)
    elif mutation == "delete":
        del lines[target]
    else:
        lines[target], lines[target + 1] = lines[target + 1], lines[target]
    seg.write_bytes(b"".join(lines))
    capsys.readouterr()
    assert main(["trail", "verify", "--keyring", "ring.json", "--json"]) == 1
    bad = json.loads(capsys.readouterr().out)["first_bad"]
    assert bad["seq"] in (target, target + 1) and bad["segment"] == "000001.jsonl"


def test_show_filters_and_export_writes_jsonl(work: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["trail", "show", "--action", "decrypt", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in shown] == ["decrypt"]
    assert shown[0]["resource"].endswith("data.enc") and shown[0]["outcome"] == "ok"
    assert main(["trail", "export", "events.jsonl", "--principal", shown[0]["principal"]]) == 0
    rows = [json.loads(x) for x in (work / "events.jsonl").read_text().splitlines()]
    assert rows and {r["principal"] for r in rows} == {shown[0]["principal"]}
    assert (work / "events.jsonl").stat().st_mode & 0o077 == 0
    assert main(["trail", "export", "events.jsonl"]) == 2  # never replaced without --force


def test_checkpoint_anchors_the_head_against_truncation(work: Path, monkeypatch, capsys) -> None:
    admin = Identity.generate("admin")
    monkeypatch.setenv("ADMIN_KEK", new_kek())
    admin.save(work / "admin.identity.json", kek_env="ADMIN_KEK")
    store = TrustStore.load(work / "trusted.toml", missing_ok=True)
    store.add("admin", admin.public_key_pem(), [TRAIL_ADMIN])
    store.save(work / "trusted.toml")
    assert main(["trail", "checkpoint", "--identity", "admin.identity.json", "--passphrase-env",
                 "ADMIN_KEK", "--out", "cp.json"]) == 0
    assert main(["trail", "verify", "--keyring", "ring.json", "--anchor", "cp.json"]) == 0
    # Cut the trail back to a command boundary before the checkpoint and restore HEAD to match:
    # only the anchor kept elsewhere can tell.
    seg = _segment(work)
    lines = seg.read_bytes().splitlines(keepends=True)
    seals = [i for i, line in enumerate(lines) if b'"kind":"s"' in line]
    cut = seals[1] + 1
    seg.write_bytes(b"".join(lines[:cut]))
    last = json.loads(lines[cut - 1])
    (work / "trail" / "HEAD").write_text(json.dumps({"seq": last["seq"], "hash": last["hash"],
                                                     "segment": 1}))
    capsys.readouterr()
    assert main(["trail", "verify", "--keyring", "ring.json"]) == 0  # undetectable alone
    assert main(["trail", "verify", "--keyring", "ring.json", "--anchor", "cp.json"]) == 1


def test_no_trail_is_a_clear_input_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AUDITKIT_TRAIL", str(tmp_path / "nowhere"))
    assert main(["trail", "show", "--trail", str(tmp_path / "missing")]) == 2
    assert "no audit trail" in capsys.readouterr().err


def test_identity_from_the_environment_signs_the_command(work: Path, monkeypatch, capsys) -> None:
    alice = Identity.generate("alice")
    monkeypatch.setenv("ALICE_KEK", new_kek())
    alice.save(work / "alice.identity.json", kek_env="ALICE_KEK")
    store = TrustStore.load(work / "trusted.toml", missing_ok=True)
    store.add("alice", alice.public_key_pem(), ["principal"])
    store.save(work / "trusted.toml")
    monkeypatch.setenv("AUDITKIT_IDENTITY", str(work / "alice.identity.json"))
    monkeypatch.setenv("AUDITKIT_IDENTITY_PASSPHRASE", os.environ["ALICE_KEK"])
    # the identity is protected by a KEK: load_from_env reads the variable whatever its kind
    assert main(["decrypt", "data.enc", "again.csv", "--keyring", "ring.json"]) == 0
    capsys.readouterr()
    monkeypatch.delenv("AUDITKIT_IDENTITY")
    assert main(["trail", "show", "--action", "command", "--json", "--limit", "2"]) == 0
    seal = json.loads(capsys.readouterr().out)[-1]
    assert (seal["command"], seal["principal"], seal["auth"]) == ("decrypt", "alice", "key")
    assert main(["trail", "verify", "--keyring", "ring.json"]) == 0


def test_after_migration_the_policy_beside_the_ring_rules_ring_commands(work: Path, monkeypatch,
                                                                        capsys) -> None:
    from auditkit.privacy import trail
    from auditkit.privacy.access import sign_policy
    from auditkit.reports.trust import ACCESS_ADMIN

    admin = Identity.generate("admin")
    monkeypatch.setenv("ADMIN_KEK", new_kek())
    admin.save(work / "admin.identity.json", kek_env="ADMIN_KEK")
    store = TrustStore.load(work / "trusted.toml", missing_ok=True)
    store.add("admin", admin.public_key_pem(), [ACCESS_ADMIN])
    store.save(work / "trusted.toml")
    body = {"policy_id": "cd" * 16, "roles": {"admin": {"permissions": ["*"]}},
            "principals": [{**admin.public_entry(), "roles": ["admin"]}]}
    sign_policy(body, admin, out=work / "access-policy.json")  # beside ring.json
    capsys.readouterr()
    # the ring alone no longer decrypts: its holder is not a principal of the policy
    assert main(["decrypt", "data.enc", "c2.csv", "--keyring", "ring.json"]) == 2
    assert "Access denied" in capsys.readouterr().err and not (work / "c2.csv").exists()
    monkeypatch.setenv("AUDITKIT_IDENTITY", str(work / "admin.identity.json"))
    monkeypatch.setenv("AUDITKIT_IDENTITY_PASSPHRASE", os.environ["ADMIN_KEK"])
    assert main(["decrypt", "data.enc", "c3.csv", "--keyring", "ring.json"]) == 0  # the admin may
    assert trail.enforcer() is None  # the policy ended with the command


def test_a_signed_report_anchors_the_head_only_when_its_signature_holds(work: Path, capsys) -> None:
    from auditkit.privacy.trail import Trail
    from auditkit.reports.signing import generate_signing_key, write_manifest
    from auditkit.reports.trust import REPORT_SIGNER

    keys = generate_signing_key(work / "signing.pem")
    store = TrustStore.load(work / "trusted.toml", missing_ok=True)
    store.add("ci", (work / "signing.pem.pub").read_text(), [REPORT_SIGNER])
    store.save(work / "trusted.toml")
    seq, digest = Trail.open(work / "trail").head
    report = work / "report"
    report.mkdir()
    (report / "report.md").write_text("# report\n")
    write_manifest(report, {}, [report / "report.md"], keys.private,
                   trail={"trail_id": "ab" * 16, "seq": seq, "hash": digest})
    assert main(["trail", "verify", "--keyring", "ring.json", "--anchor", str(report)]) == 1  # another trail
    write_manifest(report, {}, [report / "report.md"], keys.private,
                   trail={"trail_id": _trail_id(work), "seq": seq, "hash": digest})
    assert main(["trail", "verify", "--keyring", "ring.json", "--anchor", str(report)]) == 0
    doc = json.loads((report / "manifest.json").read_text())
    doc["trail"]["seq"] = 0  # moved back by someone who cut the trail: the signature breaks
    (report / "manifest.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["trail", "verify", "--keyring", "ring.json", "--anchor", str(report)]) == 2
    assert "cannot anchor" in capsys.readouterr().err


def _trail_id(work: Path) -> str:
    return json.loads((work / "trail" / "000001.jsonl").read_text().splitlines()[0])["trail_id"]
