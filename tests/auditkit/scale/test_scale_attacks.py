"""Attacks on ``[data] engine = "dask"``: adversarial partitions, compared with the in-memory audit
(``engine = "pandas"``) of the same partitions, with a sample smaller than the data.

A finding that is a bug is an ``xfail(strict=True)`` test whose reason names the input, what was
expected and what happens; a promise that holds is a plain test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditkit.runner import run_audit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

COUNTED = ("dataset", "fairness", "data_protection")
SAMPLE = 1_000
ROWS = 3_000
PARTS = 3
SEED = 7
#: Checks that read neither counts nor the data's values: off, to keep each run short.
OFF = ("performance", "transparency", "security", "private_training", "accountability")
PERSONAL = ["name", "email", "phone", "ssn", "card_number", "street_address", "zip", "date_of_birth"]
DATA = {"path": "parts", "label": "approved", "prediction": "predicted", "score": "score",
        "protected": ["sex", "race", "age_group"], "personal": PERSONAL,
        "id_column": "applicant_id", "positive_label": 1}
PASS_ENV = "AUDITKIT_ATTACK_RING_PASSPHRASE"


# -- building blocks ---------------------------------------------------------------------------

def _frame(n: int = ROWS) -> pd.DataFrame:
    from auditkit.demo._applications import generate_applications

    df = generate_applications(n, seed=SEED)
    rng = np.random.default_rng(1)
    df["predicted"] = (rng.random(n) < 0.5).astype(int)
    df["score"] = rng.random(n).round(4)
    return df


def _bounds(n: int, parts: int) -> list[int]:
    return [round(i * n / parts) for i in range(parts + 1)]


def _write(df: pd.DataFrame, folder: Path, kind: str = "parquet", parts: int = PARTS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    b = _bounds(len(df), parts)
    out = []
    for i in range(parts):
        path = folder / f"part-{i:03d}.{kind}"
        chunk = df.iloc[b[i]:b[i + 1]]
        if kind == "parquet":
            chunk.to_parquet(path, index=False)
        else:
            chunk.to_csv(path, index=False)
        out.append(path)
    return out


def _outside_sample(n: int = ROWS, parts: int = PARTS) -> np.ndarray:
    """Row numbers (of the whole data) that the bottom-k sample of ``SAMPLE`` rows leaves out, for
    this partitioning and seed (the sample depends on positions only, never on values)."""
    from auditkit._scale._sample import row_keys

    b = _bounds(n, parts)
    keys = np.concatenate([row_keys(SEED, i, 0, b[i + 1] - b[i]) for i in range(parts)])
    return np.sort(np.argsort(keys, kind="stable")[SAMPLE:])


def _config(base: Path, name: str, data: dict, checks: dict | None = None, extra: str = "") -> Path:
    lines = ["[audit]", 'title = "attack"', f"random_state = {SEED}", "", "[data]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in data.items() if v is not None]
    lines += ["", "[report]", f'out = "{name}"', 'formats = ["json", "md"]', ""]
    for check in OFF:
        lines += [f"[checks.{check}]", "enabled = false", ""]
    # the same (fewer) interval draws for both engines: a shorter run, the same comparison
    for check, opts in {"fairness": {"n_boot": 200}, **(checks or {})}.items():
        lines += [f"[checks.{check}]", *(f"{k} = {json.dumps(v)}" for k, v in opts.items()), ""]
    path = base / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def _both(base: Path, data: dict, checks: dict | None = None, extra: str = "") -> dict[str, dict]:
    """The report of each engine on ``base/parts``."""
    out = {}
    for engine in ("dask", "pandas"):
        d = dict(data, engine=engine, **({"sample_rows": SAMPLE} if engine == "dask" else {}))
        run = run_audit(_config(base, f"report_{engine}", d, checks, extra))
        out[engine] = json.loads(run.paths["json"].read_text())
    return out


def _findings(report: dict) -> dict[str, dict]:
    return {f["check_id"]: f for s in report["sections"] for f in s["findings"]}


def _differences(reports: dict[str, dict]) -> list[tuple]:
    """Every counted figure (status, metrics, summary, table rows; the fairness and
    data-protection section tables) that differs between the engines."""
    ours, theirs = _findings(reports["dask"]), _findings(reports["pandas"])
    diffs: list[tuple] = []
    for key in sorted(set(ours) | set(theirs)):
        if key.split(".")[0] not in COUNTED:
            continue
        if key not in ours or key not in theirs:
            diffs.append((key, "only in one engine"))
            continue
        for part in ("status", "metrics", "summary"):
            if ours[key].get(part) != theirs[key].get(part):
                diffs.append((key, part, ours[key].get(part), theirs[key].get(part)))
        rows = [[t["rows"] for t in f.get("tables", [])] for f in (ours[key], theirs[key])]
        if rows[0] != rows[1]:
            diffs.append((key, "tables", *rows))
    for section in ("fairness", "data_protection"):
        tables = [[(t["title"], t["rows"]) for s in r["sections"] if s["id"] == section
                   for t in s.get("tables", [])] for r in (reports["dask"], reports["pandas"])]
        if tables[0] != tables[1]:
            diffs.append((section, "section tables"))
    return diffs


def _said(base: Path, needle: str) -> list[str]:
    """Files under ``base`` (outside the data) that hold ``needle``."""
    hits = []
    for path in base.rglob("*"):
        if path.is_file() and "parts" not in path.parts and needle.encode() in path.read_bytes():
            hits.append(str(path.relative_to(base)))
    return hits


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "auditkit", *args], env=full,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _frame()


@pytest.fixture(scope="module")
def outside() -> np.ndarray:
    return _outside_sample()


# -- fairness: recoding, pseudonymised and awkward protected columns (holds) -------------------

@pytest.fixture(scope="module")
def awkward_groups(frame, tmp_path_factory) -> dict[str, dict]:
    """A text label recoded onto 0/1 predictions with a favourable label other than the positive
    one; protected columns: 52 numeric branch codes (pseudonymised: over 50 values) with missing
    values, and a bool with nulls."""
    rng = np.random.default_rng(5)
    df = frame.copy()
    df["approved"] = np.where(df["approved"] == 1, "yes", "no")
    df["branch"] = rng.integers(100, 152, ROWS).astype(float)  # numeric codes, some missing
    df.loc[rng.random(ROWS) < 0.03, "branch"] = np.nan
    df["vip"] = pd.array(rng.random(ROWS) < 0.3, dtype="boolean")
    df.loc[rng.random(ROWS) < 0.05, "vip"] = pd.NA
    base = tmp_path_factory.mktemp("awkward")
    _write(df, base / "parts")
    data = dict(DATA, protected=["branch", "vip"], positive_label="yes",
                favourable_label="no")
    return _both(base, data)


def test_recoded_label_and_pseudonymised_groups_equal_in_memory(awkward_groups) -> None:
    assert _differences(awkward_groups) == []
    branch = [t for s in awkward_groups["dask"]["sections"] if s["id"] == "fairness"
              for t in s.get("tables", []) if t["title"] == "Metrics by branch"]
    assert branch and all(str(r[0]).startswith(("group ", "<missing>")) for r in branch[0]["rows"])


# -- fairness: how the outcomes are resolved, on the sample only (bug) -------------------------

def test_prediction_values_outside_the_sample_give_the_same_fairness_error(
        frame, outside, tmp_path) -> None:
    df = frame.copy()
    df["approved"] = np.where(df["approved"] == 1, "yes", "no")
    df["predicted"] = "no"
    df.loc[outside[:4], "predicted"] = "maybe"
    _write(df, tmp_path / "parts")
    reports = _both(tmp_path, dict(DATA, positive_label="yes"))
    assert _findings(reports["pandas"])["fairness.error"]["status"] == "error"
    assert _differences(reports) == []


# -- partitions that merge badly: labels judged on the sample, ties, types (bugs) ---------------

@pytest.fixture(scope="module")
def uneven(frame, outside, tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """Parquet partitions with

    - a protected column ``unit`` of two category labels plus six id-shaped values
      ("E-48390"..) in rows outside the sample: over all rows most of its distinct labels look
      like ids, so the in-memory audit shows it as ``group 1..k``; the sample holds only the two
      categories;
    - the label 0/1 tied 1,500 to 1,500 overall, mostly 1 in the first partition and mostly 0
      in the second;
    - ``predicted`` int64 in two partitions and bool in the third; ``sex`` text in two and
      categorical in the third.
    """
    df = frame.copy()
    df["unit"] = np.where(np.arange(ROWS) % 2, "A", "B")
    df.loc[outside[:6], "unit"] = [f"E-4839{i}" for i in range(6)]
    df["approved"] = np.r_[np.tile([1] * 7 + [0] * 3, 100), np.tile([0] * 7 + [1] * 3, 100),
                           np.tile([1, 0], 500)]
    base = tmp_path_factory.mktemp("uneven")
    paths = _write(df, base / "parts")
    last = pd.read_parquet(paths[-1])
    last["predicted"] = last["predicted"] == 1
    last["sex"] = last["sex"].astype("category")
    last.to_parquet(paths[-1], index=False)
    return base, _both(base, dict(DATA, protected=["sex", "unit"]))


def test_id_shaped_protected_values_outside_the_sample_are_never_shown(uneven) -> None:
    base, _ = uneven
    assert _said(base / "report_pandas", "E-4839") == []
    assert _said(base / "report_dask", "E-4839") == []


def test_id_shaped_protected_groups_equal_in_memory(uneven) -> None:
    _, reports = uneven
    assert [d for d in _differences(reports) if d[0].startswith("fairness")] == []


def test_label_balance_ties_keep_the_in_memory_order(uneven) -> None:
    _, reports = uneven
    rows = [_findings(r)["dataset.label_balance"]["tables"][0]["rows"]
            for r in (reports["dask"], reports["pandas"])]
    assert rows[0] == rows[1]


def test_column_types_of_uneven_partitions_equal_in_memory(uneven) -> None:
    _, reports = uneven
    rows = [_findings(r)["dataset.profile"]["tables"][0]["rows"]
            for r in (reports["dask"], reports["pandas"])]
    assert rows[0] == rows[1]


def test_uneven_partitions_other_counted_figures_equal_in_memory(uneven) -> None:
    """Apart from the three bugs above, every counted figure agrees."""
    _, reports = uneven
    assert [d for d in _differences(reports) if not d[0].startswith(
        ("fairness", "dataset.label_balance", "dataset.profile"))] == []


# -- data protection: policy, key ring, QIs from the scan, encrypted CSV, planted values (holds)

POLICY = f"""[policy]
key_ring = "ring.json"
passphrase_env = "{PASS_ENV}"
unlisted = "redact"

[columns.email]
operator = "pseudonymize"
context = "crm"

[columns.zip]
operator = "suppress"
min_count = 3

[columns.region]
operator = "suppress"
min_count = 300

[columns.date_of_birth]
operator = "generalise"
to = "year"

[columns.ssn]
operator = "drop"
"""


@pytest.fixture(scope="module")
def protected_data(frame, outside, tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """Encrypted CSV partitions; a policy with suppress (counts over all rows), keyed
    pseudonymisation, ``unlisted = "redact"``; no quasi-identifiers configured (they come from
    the scan); a sensitive column with missing values; planted unique values in personal
    columns of rows outside the sample."""
    from auditkit.privacy.crypto import KeyRing, encrypt_file

    passphrase = "correct horse battery staple"
    base = tmp_path_factory.mktemp("protect")
    ring = KeyRing.generate()
    ring.save(base / "ring.json", passphrase=passphrase)
    (base / "policy.toml").write_text(POLICY)
    df = frame.copy()
    rng = np.random.default_rng(9)
    df.loc[rng.random(ROWS) < 0.05, "race"] = None
    for j, i in enumerate(outside[:30]):
        df.loc[i, ["name", "email", "street_address"]] = [
            f"Zq9-Planted-{j}", f"zq9planted{j}@example.com", f"Zq9-Planted-street-{j}"]
    for path in _write(df, base / "parts", "csv"):
        encrypt_file(path, f"{path}.enc", ring)
        path.unlink()
    extra = f'[keys]\nkeyring = "ring.json"\npassphrase_env = "{PASS_ENV}"\n'
    checks = {"data_protection": {"policy": "policy.toml", "sensitive": "race", "k": 5}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASS_ENV, passphrase)
        return base, _both(base, DATA, checks, extra)


def test_masking_policy_and_scanned_quasi_identifiers_equal_in_memory(protected_data) -> None:
    _, reports = protected_data
    assert _differences(reports) == []
    found = _findings(reports["dask"])
    assert found["data_protection.k_anonymity"]["status"] != "error"
    assert "data_protection.pseudonymisation" in found


def test_planted_personal_values_appear_in_no_output(protected_data) -> None:
    base, _ = protected_data
    assert _said(base, "Zq9-Planted") == []
    assert _said(base, "zq9planted") == []


# -- data protection: a value the policy cannot mask (bug) --------------------------------------

def test_unmaskable_value_outside_the_sample_fails_only_data_protection(
        frame, outside, tmp_path) -> None:
    df = frame.copy()
    df.loc[outside[5], "date_of_birth"] = "Zq9-Planted-dob"
    _write(df, tmp_path / "parts", "csv")
    (tmp_path / "policy.toml").write_text(
        '[policy]\nunlisted = "keep"\n\n[columns.date_of_birth]\noperator = "generalise"\n'
        'to = "year"\n')
    checks = {"data_protection": {"policy": "policy.toml",
                                  "quasi_identifiers": ["zip", "date_of_birth", "sex"]}}
    memory = run_audit(_config(tmp_path, "report_pandas", dict(DATA, engine="pandas"), checks))
    assert _findings(json.loads(memory.paths["json"].read_text()))[
        "data_protection.error"]["status"] == "error"
    run = run_audit(_config(tmp_path, "report_dask",
                            dict(DATA, engine="dask", sample_rows=SAMPLE), checks))
    found = _findings(json.loads(run.paths["json"].read_text()))
    assert found["data_protection.error"]["status"] == "error"
    assert found["fairness.demographic_parity_ratio"]["status"] != "error"


# -- bad input and interruption (holds) ---------------------------------------------------------

def test_malformed_cluster_address_is_one_clear_error(tmp_path) -> None:
    config = _config(tmp_path, "report", dict(DATA, engine="dask", cluster="tcp://no such host"))
    proc = _cli("run", str(config))
    assert proc.returncode == 2
    assert "[data] key 'cluster'" in proc.stderr and "Traceback" not in proc.stderr


def test_empty_partition_among_others_is_refused_naming_it(frame, tmp_path) -> None:
    """A header-only partition (as Spark writes for an empty partition) stops both engines with
    the same message, naming the file (exit 2)."""
    paths = _write(frame, tmp_path / "parts", "parquet")
    frame.iloc[:0].to_parquet(paths[1], index=False)
    said = []
    for engine in ("dask", "pandas"):
        proc = _cli("run", str(_config(tmp_path, f"report_{engine}",
                                       dict(DATA, engine=engine, sample_rows=SAMPLE))))
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        said.append(proc.stderr.strip().splitlines()[-1])
    assert "part-001.parquet" in said[0] and said[0] == said[1]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("delay", [0.3, 1.0, 2.5])
def test_ctrl_c_mid_pass_leaves_nothing(tmp_path, delay: float) -> None:
    """SIGINT while the cluster starts or the pass runs (``delay`` seconds after the pass began;
    which of the two depends on the machine, and both must hold): exit 130, no report, no
    staging directory, no class buckets or Dask scratch in TMPDIR, no traceback."""
    df = _frame(12_000)
    _write(df, tmp_path / "parts", "csv", parts=40)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    config = _config(tmp_path, "report", dict(DATA, engine="dask", sample_rows=SAMPLE),
                     {"data_protection": {"quasi_identifiers": ["zip", "date_of_birth", "sex"]}})
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TMPDIR": str(tmp)}
    # The child gets Ctrl-C's default action: a test run started in the background (as CI's
    # harness does) has SIGINT ignored, which children inherit and Python then respects.
    proc = subprocess.Popen([sys.executable, "-m", "auditkit", "run", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    for _ in range(1200):  # until the pass has begun (its class buckets exist), then into it
        if list(tmp.glob("auditkit-classes-*")) or proc.poll() is not None:
            break
        time.sleep(0.05)
    time.sleep(delay)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert not (tmp_path / "report").exists()
    assert [p.name for p in tmp_path.iterdir() if "staging" in p.name] == []
    assert list(tmp.iterdir()) == []  # no class buckets, no Dask scratch


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_the_signed_manifest_lists_the_partitions_read_not_those_there_later(
        tmp_path, monkeypatch, engine) -> None:
    """A partition that appears after the data was read (before signing) is not in the
    manifest: it lists exactly the files the audit read, in the data's order."""
    import auditkit.runner as runner
    from auditkit.reports._keys import generate_signing_key

    df = _frame(900)
    _write(df, tmp_path / "parts", "parquet", parts=3)
    generate_signing_key(tmp_path / "sign.pem")
    data = dict(DATA, engine=engine, **({"sample_rows": SAMPLE} if engine == "dask" else {}))
    config = _config(tmp_path, "report", data, extra='[keys]\nsigning_key = "sign.pem"\n')
    original = runner.write_reports

    def late_partition(*args, **kwargs):
        df.iloc[:10].to_parquet(tmp_path / "parts" / "part-999.parquet", index=False)
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "write_reports", late_partition)
    run = run_audit(config)
    manifest = json.loads(run.paths["manifest"].read_text())
    names = {k: Path(v["path"]).name for k, v in manifest["inputs"].items() if k.startswith("data")}
    assert names == {"data[1]": "part-000.parquet", "data[2]": "part-001.parquet",
                     "data[3]": "part-002.parquet"}


@pytest.mark.parametrize("root_logging", [False, True])
def test_a_failed_task_logs_nothing_of_its_message(tmp_path, monkeypatch, caplog, capfd,
                                                   root_logging) -> None:
    """The local cluster's worker runs in this process: Dask logs a failed task with its
    exception's message, which may quote a value. With or without handlers on the root logger
    (a notebook, a test runner, ``logging.basicConfig``), no such record is written anywhere."""
    import logging

    import auditkit._scale._pass as scale_pass
    from auditkit._scale._pass import ReadArgs
    from auditkit._scale._sources import resolve_sources
    from auditkit._scale._tally import TallyPlan

    planted = "Zq9-planted-7731"
    _write(_frame(300), tmp_path / "parts", "parquet", parts=2)

    def failing(*args, **kwargs):
        raise ValueError(f"cannot count {planted!r}")

    monkeypatch.setattr(scale_pass, "tally_frames", failing)
    if root_logging:
        caplog.set_level(logging.DEBUG)
    parts = list(resolve_sources("parts", tmp_path).partitions)
    with pytest.raises(ValueError):
        scale_pass.run_pass(parts, TallyPlan(), ReadArgs(base_dir=tmp_path), engine="dask")
    out, err = capfd.readouterr()
    assert planted not in caplog.text
    assert planted not in out + err
    assert all(planted not in str(r.msg) + str(r.args) for r in caplog.records)
