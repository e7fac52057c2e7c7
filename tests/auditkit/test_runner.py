"""The runner: crash isolation, applicability, atomic output, untouched inputs, leak guard."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from auditkit.checks._registry import (
    _REGISTRY,
    CheckOptions,
    CheckResult,
    CheckSpec,
    register_check,
)
from auditkit.errors import DataError, ModelError, OutputError, PersonalDataLeakError
from auditkit.reports import Finding, Status, Table
from auditkit.reports._json import validate_report_json
from auditkit.runner import run_audit


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def temp_check():
    """Register checks for one test and remove them afterwards."""
    added: list[str] = []

    def add(check_id: str, run, **kw) -> CheckSpec:
        spec = CheckSpec(id=check_id, section=kw.pop("section", "dataset"),
                         title=check_id, options=CheckOptions, run=run, **kw)
        register_check(spec)
        added.append(check_id)
        return spec

    yield add
    for check_id in added:
        _REGISTRY.pop(check_id, None)


def test_dataset_check_runs_and_json_validates(audit_dir: Path) -> None:
    run = run_audit(audit_dir / "audit.toml", only=["dataset"])
    assert run.exit_code == 0
    assert set(run.paths) == {"json", "md", "html"} or set(run.paths) == {"json"} | set(run.paths)
    doc = json.loads(run.paths["json"].read_text())
    validate_report_json(doc)
    ids = {f["check_id"] for s in doc["sections"] for f in s["findings"]}
    assert {"dataset.profile", "dataset.identifiers_in_features", "dataset.protected_in_features"} <= ids
    assert doc["metadata"]["rows"] == 800
    kinds = {a["kind"] for a in doc["artifacts"]}
    assert {"config", "data", "model"} <= kinds


def test_failing_check_becomes_error_finding_and_others_run(audit_dir: Path, temp_check) -> None:
    def boom(ctx, options):
        raise RuntimeError("division went wrong")

    temp_check("zz_boom", boom)
    run = run_audit(audit_dir / "audit.toml", only=["dataset", "zz_boom"], formats=["json"])
    by_id = {f.check_id: f for f in run.report.findings}
    assert by_id["zz_boom.error"].status is Status.ERROR
    # a foreign exception is named by its type; its message may quote data, so it is not shown
    assert "RuntimeError" in by_id["zz_boom.error"].summary
    assert "division went wrong" not in by_id["zz_boom.error"].summary
    assert by_id["dataset.profile"].status is Status.PASS
    assert run.paths["json"].exists()


def test_missing_requirement_is_not_applicable(audit_dir: Path, temp_check, base_config, write_config) -> None:
    cfg = base_config()
    del cfg["data"]["protected"]
    write_config(audit_dir, cfg)
    temp_check("zz_needs_protected", lambda ctx, o: CheckResult(), requires=("protected",))
    run = run_audit(audit_dir / "audit.toml", only=["zz_needs_protected"], formats=["json"])
    (finding,) = run.report.findings
    assert finding.status is Status.NOT_APPLICABLE
    assert "protected" in finding.summary


def test_failing_finding_gives_exit_code_1(audit_dir: Path, temp_check) -> None:
    temp_check("zz_fail", lambda ctx, o: CheckResult(findings=[Finding("zz_fail.x", "x", Status.FAIL)]))
    run = run_audit(audit_dir / "audit.toml", only=["zz_fail"], formats=["json"])
    assert run.exit_code == 1


def test_inputs_are_never_modified(audit_dir: Path) -> None:
    before = {p.name: _digest(p) for p in audit_dir.iterdir() if p.is_file()}
    run_audit(audit_dir / "audit.toml", only=["dataset"])
    after = {p.name: _digest(p) for p in audit_dir.iterdir() if p.is_file()}
    assert before == after


def test_renderer_failure_leaves_no_partial_files(audit_dir: Path, monkeypatch) -> None:
    from auditkit.reports import _html

    def broken(report):
        raise RuntimeError("renderer crashed")

    first = run_audit(audit_dir / "audit.toml", only=["dataset"], formats=["json"])
    out = audit_dir / "out"
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    beside = sorted(p.name for p in audit_dir.iterdir())
    monkeypatch.setattr(_html, "render_html", broken)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        run_audit(audit_dir / "audit.toml", only=["dataset"], formats=["json", "html"])
    # the previous report set is untouched, and nothing was left beside it
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in audit_dir.iterdir()) == beside
    assert first.paths["json"].is_file()


def test_leak_guard_refuses_report_with_personal_value(audit_dir: Path, temp_check, small_data) -> None:
    _, df = small_data
    email = df["email"].iloc[5]

    def leaky(ctx, options):
        return CheckResult(findings=[Finding("zz_leak.x", "leak", Status.PASS, summary=f"contact {email}")])

    temp_check("zz_leak", leaky)
    with pytest.raises(PersonalDataLeakError) as exc:
        run_audit(audit_dir / "audit.toml", only=["zz_leak"], formats=["json"])
    assert "email" in str(exc.value) and email not in str(exc.value)
    assert not (audit_dir / "out" / "report.json").exists()


def test_leak_guard_catches_values_in_tables(audit_dir: Path, temp_check, small_data) -> None:
    _, df = small_data
    ssn = df["ssn"].iloc[0]
    temp_check("zz_leak_table", lambda ctx, o: CheckResult(
        findings=[Finding("zz_leak_table.x", "t", Status.PASS)], tables=[Table("t", ["v"], [[ssn]])]))
    with pytest.raises(PersonalDataLeakError, match="ssn"):
        run_audit(audit_dir / "audit.toml", only=["zz_leak_table"], formats=["md"])


@pytest.mark.parametrize("exc_type", [ValueError, DataError])
def test_error_message_of_failing_check_is_redacted(audit_dir: Path, temp_check, small_data,
                                                     exc_type) -> None:
    """A library's message is never shown (its type only); auditkit's own errors are, and a
    personal value in one is still redacted."""
    _, df = small_data
    name = df["name"].iloc[3]

    def boom(ctx, options):
        raise exc_type(f"could not parse {name!r}")

    temp_check("zz_boom_pii", boom)
    run = run_audit(audit_dir / "audit.toml", only=["zz_boom_pii"], formats=["json"])
    (finding,) = run.report.findings
    assert name not in finding.summary and exc_type.__name__ in finding.summary
    if exc_type is DataError:
        assert "could not parse '[REDACTED:name]'" in finding.summary
    else:
        assert "could not parse" not in finding.summary and "--debug" in finding.summary


def test_missing_column_lists_what_data_has(audit_dir: Path, base_config, write_config) -> None:
    cfg = base_config()
    cfg["data"]["label"] = "aproved"
    write_config(audit_dir, cfg)
    with pytest.raises(DataError) as exc:
        run_audit(audit_dir / "audit.toml")
    msg = str(exc.value)
    assert "'aproved'" in msg and "Did you mean 'approved'" in msg and "applicant_id" in msg


def test_empty_data(audit_dir: Path) -> None:
    (audit_dir / "data.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        run_audit(audit_dir / "audit.toml")


def test_header_only_data(audit_dir: Path) -> None:
    (audit_dir / "data.csv").write_text("a,b,c\n")
    with pytest.raises(DataError, match="no rows"):
        run_audit(audit_dir / "audit.toml")


def test_model_of_wrong_kind(audit_dir: Path) -> None:
    (audit_dir / "model.skops").write_text("this is not a model")
    with pytest.raises(ModelError, match="not a skops file"):
        run_audit(audit_dir / "audit.toml")


def test_pickle_refused_without_trust(audit_dir: Path, base_config, write_config, small_data) -> None:
    import pickle

    from auditkit.demo import FEATURES, LABEL, build_model

    _, df = small_data
    model = build_model(0).fit(df[FEATURES], df[LABEL])
    (audit_dir / "model.pkl").write_bytes(pickle.dumps(model))
    cfg = base_config()
    cfg["model"]["path"] = "model.pkl"
    write_config(audit_dir, cfg)
    with pytest.raises(ModelError, match="trust_model = true"):
        run_audit(audit_dir / "audit.toml", only=["dataset"])
    cfg["model"]["trust_model"] = True
    write_config(audit_dir, cfg)
    assert run_audit(audit_dir / "audit.toml", only=["dataset"], formats=["json"]).exit_code == 0


def test_output_dir_not_writable(audit_dir: Path) -> None:
    blocker = audit_dir / "blocked"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(OutputError, match="not writable"):
        run_audit(audit_dir / "audit.toml", out_dir=blocker / "sub")


def test_signed_run_verifies_and_detects_edits(audit_dir: Path, base_config, write_config) -> None:
    from auditkit.reports.signing import generate_signing_key, verify

    keys = generate_signing_key(audit_dir / "signing.pem")
    cfg = base_config()
    cfg["keys"] = {"signing_key": "signing.pem"}
    write_config(audit_dir, cfg)
    run = run_audit(audit_dir / "audit.toml", only=["dataset"])
    assert run.paths["manifest"].name == "manifest.json"
    assert verify(run.out_dir, keys.public).ok
    html = run.paths["html"]
    html.write_bytes(html.read_bytes().replace(b"Scope", b"Sc0pe", 1))
    result = verify(run.out_dir, keys.public)
    assert not result.ok and any("report.html" in p for p in result.problems)


def test_parquet_input_gives_same_findings_as_csv(audit_dir: Path, base_config, write_config, small_data) -> None:
    _, df = small_data
    df.astype({"zip": "string"}).to_parquet(audit_dir / "data.parquet")
    csv_run = run_audit(audit_dir / "audit.toml", only=["dataset"], formats=["json"])
    cfg = base_config()
    cfg["data"]["path"] = "data.parquet"
    write_config(audit_dir, cfg)
    pq_run = run_audit(audit_dir / "audit.toml", only=["dataset"], formats=["json"])
    metrics = lambda run: {f.check_id: dict(f.metrics) for f in run.report.findings}  # noqa: E731
    assert metrics(csv_run) == metrics(pq_run)


def test_unknown_only_check_is_a_config_error(audit_dir: Path) -> None:
    from auditkit.errors import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'dataset'"):
        run_audit(audit_dir / "audit.toml", only=["datset"])


def test_unknown_data_suffix_asks_for_format(audit_dir: Path, base_config, write_config) -> None:
    (audit_dir / "data.xyz").write_text("a,b\n1,2\n")
    cfg = base_config()
    cfg["data"]["path"] = "data.xyz"
    write_config(audit_dir, cfg)
    with pytest.raises(DataError, match='format = "csv"'):
        run_audit(audit_dir / "audit.toml")


def test_signed_with_keyring_verifies_with_published_key(
    audit_dir: Path, base_config, write_config, cli, monkeypatch
) -> None:
    from auditkit.privacy.crypto import KeyRing
    from auditkit.reports.signing import verify

    env = {"AUDITKIT_KEYRING_PASSPHRASE": "correct horse battery staple"}
    monkeypatch.setenv("AUDITKIT_KEYRING_PASSPHRASE", env["AUDITKIT_KEYRING_PASSPHRASE"])
    KeyRing.generate().save(audit_dir / "ring.json", passphrase=env["AUDITKIT_KEYRING_PASSPHRASE"])
    cfg = base_config()
    cfg["keys"] = {"keyring": "ring.json", "sign": True}
    write_config(audit_dir, cfg)
    run = run_audit(audit_dir / "audit.toml", only=["dataset"], formats=["json"])
    proc = cli("keys", "public-key", "--keyring", str(audit_dir / "ring.json"),
               "--out", str(audit_dir / "signer.pub"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert verify(run.out_dir, audit_dir / "signer.pub").ok
    other = KeyRing.generate().signing_key()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    assert not verify(run.out_dir, Ed25519PrivateKey.from_private_bytes(other).public_key()).ok


def test_sign_without_key_is_a_config_error(audit_dir: Path, base_config, write_config) -> None:
    from auditkit.errors import ConfigError

    cfg = base_config()
    cfg["keys"] = {"sign": True}
    write_config(audit_dir, cfg)
    with pytest.raises(ConfigError, match="sign = true needs a key"):
        run_audit(audit_dir / "audit.toml")


def test_output_that_would_replace_an_input_is_refused(audit_dir: Path, base_config, write_config) -> None:
    import shutil

    shutil.copy(audit_dir / "data.csv", audit_dir / "report.html")
    cfg = base_config()
    cfg["data"].update(path="report.html", format="csv")
    cfg["report"]["out"] = "."
    write_config(audit_dir, cfg)
    before = _digest(audit_dir / "report.html")
    with pytest.raises(OutputError, match="holds the audit's input"):
        run_audit(audit_dir / "audit.toml", only=["dataset"])
    assert _digest(audit_dir / "report.html") == before


def test_a_progress_phase_completes_only_when_its_block_succeeds() -> None:
    """Each phase is a one-step task for ``track``: started on entry, completed on a clean exit,
    left unfinished when the block raises."""
    from auditkit.runner import _ProgressPhase

    steps: list[tuple[str, str]] = []

    def track(items, description, total):
        steps.append((description, "start"))
        for item in items:
            yield item
            steps.append((description, "done"))

    with _ProgressPhase(track, "Reading dataset"):
        assert steps == [("Reading dataset", "start")]
    assert steps[-1] == ("Reading dataset", "done")
    with pytest.raises(DataError), _ProgressPhase(track, "Loading model"):
        raise DataError("x")
    assert steps[-1] == ("Loading model", "start")


def test_final_path_before_begin_is_an_output_error(tmp_path: Path) -> None:
    from auditkit._output import ReportDir

    with pytest.raises(OutputError, match="before begin"):
        ReportDir(tmp_path / "out", []).final_path(tmp_path / "x.json")


def test_requirements_are_one_table_read_by_the_registry_and_the_context(audit_dir: Path) -> None:
    """A check may declare exactly the names of ``REQUIREMENTS``; ``has`` answers from the same
    table, and an unknown name is a ConfigError with the closest name, wherever it is met."""
    import pandas as pd

    from auditkit._context import REQUIREMENTS, AuditContext
    from auditkit.checks._registry import get_check
    from auditkit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'t' declares an unknown requirement 'lable'.*"
                                          r"Did you mean 'label'\?"):
        CheckSpec(id="t", section="dataset", title="t", options=CheckOptions,
                  run=lambda ctx, o: CheckResult(), requires=("lable",))
    ctx = AuditContext(config=None, base_dir=audit_dir, out_dir=audit_dir,  # type: ignore[arg-type]
                       data=pd.DataFrame({"y": [0, 1]}), label="y")
    assert {name: ctx.has(name) for name in REQUIREMENTS} == {
        "label": True, "prediction": False, "score": False, "protected": False, "model": False,
        "features": False}
    with pytest.raises(ConfigError, match=r"Did you mean 'score'\?"):
        ctx.has("scor")
    with pytest.raises(ConfigError, match=r"\[model\] features"):
        ctx.feature_frame()
    with pytest.raises(ConfigError, match=r"Did you mean 'fairness'\?") as unknown:
        get_check("fairnes")
    # a lookup by name: also a KeyError, printed as a sentence
    assert isinstance(unknown.value, KeyError) and str(unknown.value).startswith("No check named")


def test_a_second_check_with_one_id_is_refused(temp_check) -> None:
    from auditkit.errors import ConfigError

    temp_check("twice", lambda ctx, o: CheckResult())
    with pytest.raises(ConfigError, match="already registered.*force=True"):
        register_check(CheckSpec(id="twice", section="dataset", title="t",
                                 options=CheckOptions, run=lambda ctx, o: CheckResult()))
