"""benchmarks/_scale_data.py: demo rows as Parquet partitions beside the demo's audit.toml."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
if not (_DIR / "_scale_data.py").is_file():  # the wheel run copies tests/ without the benchmarks
    pytest.skip("reads the checkout's benchmarks/", allow_module_level=True)
sys.path.insert(0, str(_DIR))
_spec = importlib.util.spec_from_file_location("_scale_data", _DIR / "_scale_data.py")
assert _spec is not None and _spec.loader is not None
scale = importlib.util.module_from_spec(_spec)
sys.modules["_scale_data"] = scale  # dataclasses look their module up while the class is made
_spec.loader.exec_module(scale)


def test_writes_partitions_and_the_demo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    from auditkit import toml_files
    from auditkit.demo import PREDICTION, SCORE

    monkeypatch.setattr(scale, "DEMO_ROWS", 2_000)  # a small demo: the config is the same shape
    data = scale.write_scale_data(tmp_path / "s", 1_000, partition_rows=500, single=["parquet"],
                                  log=lambda *_: None)
    parts = sorted(data.parts.glob("*.parquet"))
    assert [p.name for p in parts] == ["part-00000.parquet", "part-00001.parquet"]
    df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert len(df) == 1_000 and df["applicant_id"].is_unique
    assert df[SCORE].between(0, 1).all() and set(df[PREDICTION]) <= {0, 1}
    assert pd.read_parquet(data.out / data.single["parquet"]).equals(df)
    config = toml_files.loads(data.config.read_text())
    assert config["data"]["path"] == "parts"
    assert {"data_protection", "security", "private_training"} <= set(config["checks"])
    assert scale.load_scale_data(data.out) == data


def test_refuses_when_the_disk_is_too_small(tmp_path: Path) -> None:
    from auditkit.errors import OutputError

    with pytest.raises(OutputError, match="Not enough disk space"):
        scale.check_disk(tmp_path, 10**18)
