"""``run_demo``: generate the data, train and save the model, prepare each check's evidence,
write ``audit.toml`` and run the audit, one named phase each."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit._context import _no_track
from auditkit.demo._applications import PREDICTION, SCORE, generate_applications
from auditkit.demo._config import TOML_HEADER, demo_config
from auditkit.demo._context import DemoContext
from auditkit.demo._model import fit_and_score
from auditkit.demo._setup import CHECK_SETUP

__all__ = ["DemoResult", "run_demo"]

Track = Callable[..., Iterator[Any]]


@dataclass
class DemoResult:
    out_dir: Path
    config_path: Path
    run: Any  # auditkit.runner.AuditRun
    seconds: float
    hook_seconds: dict[str, float]
    """Seconds each check's demo set-up took, by check id."""


def _output_dir(out_dir: str | Path) -> Path:
    """``out_dir``, created; refused (OutputError) when it is a file or cannot be created."""
    from auditkit.errors import OutputError

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"The demo output path '{out}' is a file; give a directory with --out.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"Cannot create the demo output directory '{out}' ({exc.__class__.__name__}). "
            "Choose another with --out."
        ) from None
    return out


def _data_and_model(out: Path, rows: int, seed: int, track: Track) -> DemoContext:
    """Generate the applications, train and score the model, save both under ``out``."""
    from auditkit._models import skops_io
    from auditkit.atomic import atomic_write_bytes

    sio = skops_io()

    data_path = out / "applications.csv"
    model_path = out / "model.skops"
    for _ in track([None], description="Generating synthetic applications", total=1):
        df = generate_applications(rows, seed)
    for _ in track([None], description="Training the model", total=1):
        model = fit_and_score(df, random_state=seed, score=SCORE, prediction=PREDICTION)
        atomic_write_bytes(data_path, df.to_csv(index=False).encode(), mode=0o600)
        tmp = model_path.with_suffix(".skops.part")
        sio.dump(model, tmp)
        tmp.replace(model_path)
    return DemoContext.for_applications(out, df, data_path=data_path, model_path=model_path,
                                        model=model, random_state=seed)


def _check_options(ctx: DemoContext, track: Track) -> tuple[dict[str, Any], dict[str, float]]:
    """Run each registered check's demo set-up, in report order: its options and its time."""
    from auditkit.checks._registry import iter_checks

    options: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    checks = [spec.id for spec in iter_checks() if spec.id in CHECK_SETUP]
    for check_id in track(checks, description="Preparing demo evidence", total=len(checks)):
        t0 = time.perf_counter()
        options[check_id] = CHECK_SETUP[check_id](ctx)
        seconds[check_id] = time.perf_counter() - t0
    return options, seconds


def _signing_key(out: Path) -> str:
    """A demo report-signing key, kept beside the data (never in the report); its relative path."""
    from auditkit.reports.signing import generate_signing_key

    key_path = out / "keys" / "report-signing.pem"
    if not key_path.exists():
        generate_signing_key(key_path)
    return os.path.relpath(key_path, out)


def _write_config(out: Path, config: dict[str, Any]) -> Path:
    import tomli_w

    from auditkit.atomic import atomic_write_text

    config_path = out / "audit.toml"
    atomic_write_text(config_path, TOML_HEADER + tomli_w.dumps(config))
    return config_path


def run_demo(
    out_dir: str | Path = "demo-output",
    *,
    rows: int = 20_000,
    seed: int = 7,
    formats: list[str] | None = None,
    track: Track = _no_track,
    debug: bool = False,
) -> DemoResult:
    """Generate the data, train and save the model, write ``audit.toml`` and run the audit."""
    from auditkit.runner import run_audit

    started = time.perf_counter()
    out = _output_dir(out_dir)
    ctx = _data_and_model(out, rows, seed, track)
    config = demo_config(ctx.data_path.name, ctx.model_path.name, seed=seed, formats=formats)
    config["checks"], setup_seconds = _check_options(ctx, track)
    config["keys"] = {"signing_key": _signing_key(out)}
    config_path = _write_config(out, config)
    run = run_audit(config_path, track=track, debug=debug)
    return DemoResult(out, config_path, run, time.perf_counter() - started, setup_seconds)
