"""Fixtures for the runner and CLI tests: a small audit written to a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from auditkit.demo import FEATURES, LABEL, PERSONAL, PROTECTED, build_model, generate_applications


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory):
    df = generate_applications(800, seed=3)
    model = build_model(0)
    model.fit(df[FEATURES], df[LABEL])
    df["predicted"] = model.predict(df[FEATURES])
    df["score"] = model.predict_proba(df[FEATURES])[:, 1].round(6)
    d = tmp_path_factory.mktemp("small")
    import skops.io as sio

    sio.dump(model, d / "model.skops")
    df.to_csv(d / "data.csv", index=False)
    return d, df


def _base_config(**overrides) -> dict:
    cfg = {
        "audit": {"title": "Test audit", "system": "test", "random_state": 1},
        "data": {
            "path": "data.csv",
            "label": LABEL,
            "prediction": "predicted",
            "score": "score",
            "protected": list(PROTECTED),
            "personal": list(PERSONAL),
            "id_column": "applicant_id",
        },
        "model": {"path": "model.skops", "features": list(FEATURES)},
        "report": {"out": "out", "formats": ["json", "md", "html"]},
    }
    for key, value in overrides.items():
        cfg[key] = value if not isinstance(value, dict) else {**cfg.get(key, {}), **value}
    return cfg


@pytest.fixture
def audit_dir(small_data, tmp_path: Path) -> Path:
    """A directory with data.csv, model.skops and audit.toml (copies: tests may damage them)."""
    import shutil

    src, _ = small_data
    for name in ("data.csv", "model.skops"):
        shutil.copy(src / name, tmp_path / name)
    (tmp_path / "audit.toml").write_text(tomli_w.dumps(_base_config()))
    return tmp_path


@pytest.fixture
def base_config():
    """``base_config(**overrides)``: the small audit's config as a dict (a fresh copy each call)."""
    return _base_config


@pytest.fixture
def write_config():
    """``write_config(dir, cfg)`` writes ``dir/audit.toml`` and returns its path."""

    def write(path: Path, cfg: dict) -> Path:
        target = path / "audit.toml"
        target.write_text(tomli_w.dumps(cfg))
        return target

    return write
