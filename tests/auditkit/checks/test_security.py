"""The security section: what is encrypted at rest, with what, under which key id."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from auditkit.checks.security import SPEC
from auditkit.privacy.crypto import KeyRing, encrypt_file
from auditkit.reports import Severity, Status

ENV = "TEST_SECURITY_RING_PASSPHRASE"
PASS = "security check test passphrase"


def _run(audit_dir: Path, base_config, write_config, **overrides):
    from auditkit.runner import run_audit

    cfg = base_config(**overrides)
    cfg["report"]["formats"] = ["json"]
    path = write_config(audit_dir, cfg)
    run = run_audit(path, only=["security"])
    return {f.check_id: f for f in run.report.findings}, run


@pytest.fixture
def ring_dir(audit_dir: Path, monkeypatch) -> tuple[Path, KeyRing]:
    ring = KeyRing.generate()
    ring.save(audit_dir / "ring.json", passphrase=PASS)
    monkeypatch.setenv(ENV, PASS)
    return audit_dir, ring


@pytest.mark.parametrize("jurisdictions,cited,not_cited", [
    (["EU", "US"], {"gdpr-art-32-1-a", "gdpr-art-34-3-a"}, {"ccpa-1798-150-a-1"}),
    (["EU", "US-CA"], {"gdpr-art-32-1-a", "gdpr-art-34-3-a", "ccpa-1798-150-a-1"}, set()),
    (["US-CA"], {"ccpa-1798-150-a-1"}, {"gdpr-art-32-1-a", "gdpr-art-34-3-a"}),
    (["US"], set(), {"gdpr-art-32-1-a", "gdpr-art-34-3-a", "ccpa-1798-150-a-1"}),
])
def test_plain_audit_warns_and_names_the_fix(
    audit_dir, base_config, write_config, jurisdictions, cited, not_cited
):
    findings, _ = _run(audit_dir, base_config, write_config,
                       audit={"jurisdictions": jurisdictions})
    ds = findings["security.dataset_at_rest"]
    assert ds.status.value == "warn" and "auditkit encrypt" in ds.remediation
    assert set(ds.regulations) >= cited and not set(ds.regulations) & not_cited
    # the text names exactly the laws cited: none out of the audit's scope
    assert ("GDPR" in ds.summary) == ("gdpr-art-32-1-a" in cited)
    assert ("CCPA" in ds.summary) == ("ccpa-1798-150-a-1" in cited)
    assert findings["security.model_at_rest"].status.value == "warn"
    assert findings["security.key_ring"].status.value == "not_applicable"
    assert findings["security.reports_at_rest"].status.value == "pass"


def test_require_encryption_fails(audit_dir, base_config, write_config):
    findings, run = _run(
        audit_dir, base_config, write_config, checks={"security": {"require_encryption": True}}
    )
    assert findings["security.dataset_at_rest"].status.value == "fail"
    assert run.exit_code == 1


def test_encrypted_dataset_passes_with_key_id(ring_dir, base_config, write_config):
    audit_dir, ring = ring_dir
    encrypt_file(audit_dir / "data.csv", audit_dir / "data.csv.enc", ring)
    findings, run = _run(
        audit_dir,
        base_config,
        write_config,
        data={"path": "data.csv.enc"},
        keys={"keyring": "ring.json", "passphrase_env": ENV},
    )
    ds = findings["security.dataset_at_rest"]
    assert ds.status.value == "pass", ds.summary
    assert ds.metrics["key_id"] == ring.primary_id
    assert "AES-256-GCM" in ds.summary and "authenticated" in ds.summary
    kr = findings["security.key_ring"]
    assert kr.status.value == "pass", kr.summary
    assert kr.metrics["primary_key_id"] == ring.primary_id and kr.metrics["file_mode"] == "0600"
    section = next(s for s in run.report.sections if s.id == "security")
    table = section.tables[0]
    rows = {r[0]: r for r in table.rows}
    assert rows["dataset"][2] == "yes" and rows["dataset"][4] == ring.primary_id
    assert rows["dataset"][6] == "yes"
    assert rows["model"][2] == "no"


def test_tampered_artifact_fails(ring_dir, base_config, write_config):
    audit_dir, ring = ring_dir
    encrypt_file(audit_dir / "data.csv", audit_dir / "copy.enc", ring)
    blob = bytearray((audit_dir / "copy.enc").read_bytes())
    blob[-3] ^= 1
    (audit_dir / "copy.enc").write_bytes(bytes(blob))
    findings, _ = _run(
        audit_dir,
        base_config,
        write_config,
        keys={"keyring": "ring.json", "passphrase_env": ENV},
        checks={"security": {"artifacts": ["copy.enc", "nope.enc"]}},
    )
    art = findings["security.artifacts_at_rest"]
    assert art.status.value == "fail" and art.metrics["failed_authentication"] == 1
    assert art.metrics["missing"] == 1


def test_ring_not_opened_still_reports_headers(ring_dir, base_config, write_config, monkeypatch):
    audit_dir, ring = ring_dir
    encrypt_file(audit_dir / "data.csv", audit_dir / "copy.enc", ring)
    monkeypatch.delenv(ENV)
    findings, _ = _run(
        audit_dir,
        base_config,
        write_config,
        keys={"keyring": "ring.json", "passphrase_env": ENV},
        checks={"security": {"artifacts": ["copy.enc"]}},
    )
    kr = findings["security.key_ring"]
    assert kr.status.value == "warn" and ENV in kr.summary
    art = findings["security.artifacts_at_rest"]
    assert art.status.value == "pass" and ring.primary_id in art.summary


def test_loose_ring_permissions_fail(ring_dir, base_config, write_config):
    audit_dir, _ = ring_dir
    os.chmod(audit_dir / "ring.json", 0o644)
    findings, _ = _run(
        audit_dir, base_config, write_config, keys={"keyring": "ring.json", "passphrase_env": ENV}
    )
    kr = findings["security.key_ring"]
    assert kr.status.value == "fail" and "0644" in kr.summary


def test_regulations_declared():
    assert set(SPEC.regulations) == {
        "gdpr-art-32-1-a",
        "gdpr-art-34-3-a",
        "ccpa-1798-150-a-1",
        "gdpr-art-5-1-f",
    }


def test_files_written_by_earlier_checks_are_inventoried(audit_dir, base_config, write_config):
    from auditkit.checks.security import SecurityOptions, run
    from auditkit.config import load_config
    from auditkit.runner import build_context

    path = write_config(audit_dir, base_config())
    ctx, _ = build_context(load_config(path), audit_dir, audit_dir / "out")
    (audit_dir / "masked.csv").write_text("a\n1\n")
    ctx.add_artifact(audit_dir / "masked.csv", "masked-data")
    result = run(ctx, SecurityOptions())
    art = next(f for f in result.findings if f.check_id == "security.artifacts_at_rest")
    assert art.status.value == "warn" and "masked.csv" in art.summary
    rows = {r[1]: r for r in result.tables[0].rows}
    assert rows["masked.csv"][0] == "masked-data" and rows["masked.csv"][2] == "no"


@pytest.mark.parametrize("problems,expected", [
    ({}, ("pass", "info")),
    ({"exposed": True}, ("fail", "high")),
    ({"weak_kdf": True}, ("warn", "medium")),
    ({"opened": False}, ("warn", "low")),
    ({"exposed": True, "opened": False}, ("fail", "high")),
    ({"weak_kdf": True, "too_old": True}, ("warn", "medium")),
    ({"exposed": True, "too_old": True}, ("fail", "high")),  # an old key never lowers a fail
])
def test_key_ring_verdict_known_answers(problems, expected):
    from auditkit.checks.security import _ring_verdict

    flags = {"exposed": False, "weak_kdf": False, "too_old": False, "opened": True, **problems}
    status, severity = _ring_verdict(**flags)
    assert (status.value, severity.value) == expected


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=4)))
def test_key_ring_verdict_is_the_worst_of_its_problems(flags):
    """Over every combination: the status and the severity are each the worst of the problems'
    (adding a problem never makes the verdict milder)."""
    from auditkit.checks.security import _SEVERITY_RANK, _ring_verdict

    exposed, weak, old, not_opened = flags
    status, severity = _ring_verdict(exposed=exposed, weak_kdf=weak, too_old=old,
                                     opened=not not_opened)
    sev = [s for s, on in (("high", exposed), ("medium", weak), ("low", old), ("low", not_opened)) if on]
    expected_sev = max(sev or ["info"], key=lambda v: _SEVERITY_RANK.index(Severity(v)))
    assert severity.value == expected_sev
    assert status.value == ("fail" if exposed else "warn" if any(flags) else "pass")


class _SecurityScope:
    """Cites two of the security topic's provisions, as an audit scoped to them would."""

    def cite(self, *topics: str) -> tuple[str, ...]:
        return ("ccpa-1798-150-a-1", "gdpr-art-32-1-a") if topics == ("security",) else ()


@pytest.mark.parametrize("spec_name", ["KEY_RING", "KEY_RING_MISSING", "PERSONAL_IN_CLEAR",
                                       "MODEL_IN_CLEAR", "REPORTS", "ARTIFACTS"])
def test_security_findings_cite_their_own_provisions_within_scope(spec_name: str):
    from auditkit.checks import security

    spec = getattr(security, spec_name)
    scope = security._InScope.of(_SecurityScope())
    assert scope.ids == {"ccpa-1798-150-a-1", "gdpr-art-32-1-a"}
    cited = spec.make(scope, Status.PASS, "s").regulations
    # only the finding's own provisions, in its order, and only those in scope
    assert cited == tuple(i for i in spec.provisions if i in scope.ids)


@pytest.mark.parametrize(("authenticated", "status"), [
    ("yes", "pass"), ("not checked", "pass"), ("FAILED", "fail"), ("failed (bad header)", "fail"),
])
def test_an_encrypted_file_passes_only_if_it_did_not_fail(authenticated, status, tmp_path):
    """A dataset or model whose encrypted header cannot be read fails, as it does among the
    other artifacts; it is never reported as safely encrypted."""
    from auditkit.checks import security
    from auditkit.checks._artifact_inventory import StoredArtifact

    item = StoredArtifact("dataset", tmp_path / "d.csv.enc", exists=True, encrypted=True,
                          algorithm="AES-256-GCM", key_id="k1", authenticated=authenticated)
    scope = security._InScope.of(_SecurityScope())
    for findings, what in ((security.DATASET, "dataset"), (security.MODEL, "model")):
        found = security._if_encrypted(findings, what, item, "d.csv.enc", scope)
        assert found is not None and found.status.value == status
