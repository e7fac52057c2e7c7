"""The runner on partitioned data: the Dask engine's count-based figures equal the in-memory
audit's on the demo, with a sample smaller than the data (so the counts cannot come from it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from auditkit.runner import run_audit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Checks whose every figure is a count of every row on the Dask engine.
COUNTED = ("dataset", "fairness", "data_protection")
SAMPLE = 1_000


def _partitioned(src: Path, dst: Path, kind: str, parts: int = 3) -> Path:
    """A copy of the demo directory whose data is split into ``parts`` files of ``kind``."""
    shutil.copytree(src, dst, ignore=lambda d, names: names if Path(d) == src / "report" else [])
    df = pd.read_csv(dst / "applications.csv", dtype={"zip": "string", "phone": "string",
                                                       "ssn": "string", "card_number": "string"})
    folder = dst / "parts"
    folder.mkdir()
    bounds = [round(i * len(df) / parts) for i in range(parts + 1)]
    for i in range(parts):
        chunk = df.iloc[bounds[i]:bounds[i + 1]]
        if kind == "parquet":
            chunk.to_parquet(folder / f"part-{i:03d}.parquet", index=False)
        else:
            chunk.to_csv(folder / f"part-{i:03d}.csv", index=False)
    (folder / "_SUCCESS").write_text("")
    return dst


def _config(base: Path, name: str, **data: object) -> Path:
    text = (base / "audit.toml").read_text()
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in data.items())
    text = text.replace("[data]\n", "[data]\n" + extra, 1)
    text = text.replace('path = "applications.csv"', 'path = "parts"', 1)
    text = text.replace('out = "report"', f'out = "{name}"', 1)
    path = base / f"{name}.toml"
    path.write_text(text)
    return path


def _findings(report: dict) -> dict[str, dict]:
    return {f["check_id"]: f for s in report["sections"] for f in s["findings"]}


def _tables(report: dict, section: str) -> list[tuple[str, list]]:
    return [(t["title"], t["rows"]) for s in report["sections"] if s["id"] == section
            for t in s.get("tables", [])]


@pytest.fixture(scope="module")
def reference(demo_run: Path) -> dict:
    return json.loads((demo_run / "report" / "report.json").read_text())


@pytest.fixture(scope="module", params=["parquet", "csv"])
def scaled(request, demo_run: Path, tmp_path_factory) -> tuple[dict, dict]:
    base = _partitioned(demo_run, tmp_path_factory.mktemp(f"scaled-{request.param}") / "d",
                        request.param)
    run = run_audit(_config(base, "report_dask", engine="dask", sample_rows=SAMPLE))
    memory = run_audit(_config(base, "report_pandas", engine="pandas"))
    load = lambda r: json.loads(r.paths["json"].read_text())  # noqa: E731
    return load(run), load(memory)


def test_counted_findings_equal_in_memory(scaled) -> None:
    dask, memory = scaled  # the same partitions, in memory and streamed with a smaller sample
    ours, theirs = _findings(dask), _findings(memory)
    counted = [k for k in theirs if k.split(".")[0] in COUNTED]
    assert len(counted) >= 10
    for key in counted:
        assert key in ours, key
        assert ours[key]["status"] == theirs[key]["status"], key
        assert ours[key].get("metrics") == theirs[key].get("metrics"), key
        assert ours[key]["summary"] == theirs[key]["summary"], key
        assert ([t["rows"] for t in ours[key].get("tables", [])]
                == [t["rows"] for t in theirs[key].get("tables", [])]), key


@pytest.mark.parametrize("section", ["fairness", "data_protection"])
def test_counted_tables_equal_in_memory(scaled, section) -> None:
    assert _tables(scaled[0], section) == _tables(scaled[1], section)


def test_report_says_how_the_data_was_read(scaled) -> None:
    dask, _ = scaled
    assert dask["metadata"]["rows"] == 4000
    dataset = next(s for s in dask["sections"] if s["id"] == "dataset")
    assert "read at scale" in dataset["summary"]
    assert f"uniform sample of {SAMPLE:,} of 4,000 rows" in dataset["summary"]
    perf = next(s for s in dask["sections"] if s["id"] == "performance")
    assert f"sample of {SAMPLE:,} of 4,000 rows" in perf["summary"]
    data = next(a for a in dask["artifacts"] if a["kind"] == "data")
    assert "3 partitions" in (data["note"] or "")


def test_partitions_in_memory_equal_the_single_file(scaled, reference) -> None:
    _, memory = scaled
    ours, theirs = _findings(memory), _findings(reference)
    for key in theirs:
        if key.split(".")[0] in (*COUNTED, "performance", "transparency"):
            assert ours[key]["status"] == theirs[key]["status"], key
            if not key.startswith("transparency.method"):  # it times itself
                assert ours[key].get("metrics") == theirs[key].get("metrics"), key


def test_existing_cluster_gives_the_same_counts(demo_run: Path, tmp_path: Path) -> None:
    """``[data] cluster`` runs the pass on that scheduler's workers, with the same figures."""
    from distributed import LocalCluster

    base = _partitioned(demo_run, tmp_path / "d", "parquet", parts=2)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        run = run_audit(_config(base, "report_cluster", engine="dask", sample_rows=SAMPLE,
                                cluster=cluster.scheduler_address))
    memory = run_audit(_config(base, "report_pandas", engine="pandas"))
    ours = _findings(json.loads(run.paths["json"].read_text()))
    theirs = _findings(json.loads(memory.paths["json"].read_text()))
    for key in theirs:
        if key.split(".")[0] in COUNTED:
            assert ours[key].get("metrics") == theirs[key].get("metrics"), key


def test_a_bad_partition_stops_the_run_and_writes_nothing(demo_run: Path, tmp_path: Path, cli) -> None:
    """A ragged row in the last CSV partition, found by a worker mid-pass: exit 2, the file named,
    no value quoted, no report directory left behind."""
    base = _partitioned(demo_run, tmp_path / "d", "csv")
    last = base / "parts" / "part-002.csv"
    lines = last.read_text().splitlines()
    planted = "Zyxwvut-Planted-Value"
    lines[7] = lines[7] + f",{planted},extra"
    last.write_text("\n".join(lines) + "\n")
    config = _config(base, "report_bad", engine="dask", sample_rows=SAMPLE)
    proc = cli("run", str(config), env={"AUDITKIT_TRAIL": str(tmp_path / "trail")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr
    assert "part-002.csv" in said
    assert planted not in said and "Traceback" not in said
    assert not (base / "report_bad").exists()
    assert not [p for p in base.iterdir() if "staging" in p.name]


@pytest.mark.parametrize("check_id", ["performance.auc_gap", "performance.calibration"])
def test_sampled_figures_agree_within_their_intervals(scaled, check_id) -> None:
    """The figure of every row lies inside the interval the sample's finding states."""
    dask, memory = scaled
    sampled, full = _findings(dask)[check_id]["metrics"], _findings(memory)[check_id]["metrics"]
    assert sampled["ci_low"] <= full["value"] <= sampled["ci_high"]
