"""Real data: ProPublica's COMPAS table in partitions, audited in memory and streamed on Dask with
a sample of a seventh of it; every count-based figure must be the same."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from auditkit.runner import run_audit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

COUNTED = ("dataset", "fairness", "data_protection")

CONFIG = """\
[audit]
title = "COMPAS at scale"
random_state = 11
domain = "criminal_justice"
jurisdictions = ["US"]

[data]
path = "parts"
engine = "{engine}"
sample_rows = 1000
label = "two_year_recid"
prediction = "high_risk"
protected = ["race", "sex", "age_cat"]
personal = ["name", "first", "last", "dob"]
id_column = "id"
positive_label = 1
favourable_label = 0

[report]
out = "report_{engine}"
formats = ["json"]

[checks.data_protection]
quasi_identifiers = ["dob", "sex", "race"]
sensitive = "c_charge_degree"
k = 5

[checks.fairness]
n_boot = 200
"""


@pytest.fixture(scope="module")
def reports(shared_datasets: Path, tmp_path_factory) -> dict[str, dict]:
    raw = pd.read_csv(shared_datasets / "compas" / "compas-scores-two-years.csv")
    raw = raw[[c for c in raw.columns if not c.endswith(".1")]]  # its repeated columns, once
    raw["high_risk"] = (raw["decile_score"] >= 5).astype(int)  # ProPublica's "medium or high"
    base = tmp_path_factory.mktemp("compas")
    (base / "parts").mkdir()
    for i, chunk in enumerate([raw.iloc[:2500], raw.iloc[2500:4000], raw.iloc[4000:]]):
        chunk.to_csv(base / "parts" / f"part-{i}.csv", index=False)
    out = {}
    for engine in ("pandas", "dask"):
        config = base / f"{engine}.toml"
        config.write_text(CONFIG.format(engine=engine))
        out[engine] = json.loads(run_audit(config).paths["json"].read_text())
    return out


def _findings(report: dict) -> dict[str, dict]:
    return {f["check_id"]: f for s in report["sections"] for f in s["findings"]}


def test_compas_counts_equal_in_memory(reports) -> None:
    ours, theirs = _findings(reports["dask"]), _findings(reports["pandas"])
    counted = [k for k in theirs if k.split(".")[0] in COUNTED]
    assert {"fairness.demographic_parity_ratio", "data_protection.k_anonymity",
            "dataset.label_balance"} <= set(counted)
    for key in counted:
        assert ours[key]["status"] == theirs[key]["status"], key
        assert ours[key].get("metrics") == theirs[key].get("metrics"), key
        assert ([t["rows"] for t in ours[key].get("tables", [])]
                == [t["rows"] for t in theirs[key].get("tables", [])]), key


def test_compas_fairness_tables_equal_in_memory(reports) -> None:
    def tables(report: dict) -> list:
        return [(t["title"], t["rows"]) for s in report["sections"] if s["id"] == "fairness"
                for t in s.get("tables", [])]

    assert tables(reports["dask"]) and tables(reports["dask"]) == tables(reports["pandas"])
