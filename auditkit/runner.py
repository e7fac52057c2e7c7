"""The audit runner: config -> context -> checks -> findings -> reports."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from auditkit import __version__
from auditkit._context import AuditContext, _no_track
from auditkit._interrupt import noting_interrupts, raise_if_interrupted
from auditkit._models import load_model
from auditkit._narrative import facts_from_context
from auditkit._narrative_report import build_narrative
from auditkit._output import ReportDir
from auditkit._personal import classify_personal_data
from auditkit._redact import PersonalValueIndex
from auditkit._run_trail import audit_session, current_run, finish_run, trail_head
from auditkit._scale._memory import release_memory
from auditkit._scope import scope_result
from auditkit.checks._registry import CheckResult, CheckSpec, iter_checks
from auditkit.config import AuditConfig, load_config, validate_formats
from auditkit.errors import (
    ConfigError,
    DataError,
    ExitCode,
    ModelError,
    PersonalDataLeakError,
)
from auditkit.hints import did_you_mean
from auditkit.reports import (
    Artifact,
    Finding,
    Report,
    Section,
    Severity,
    Status,
    write_reports,
)

__all__ = ["AuditRun", "build_context", "run_audit", "run_checks"]

# Package versions recorded in every report (read from metadata: nothing is imported).
_VERSIONED_PACKAGES = (
    "auditkit-rai", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "fairlearn", "torch",
    "opacus", "dp-accounting", "shap", "lime", "cryptography", "phonenumbers", "skops",
    "pydantic", "jinja2", "matplotlib", "weasyprint", "dask",
)

LIMITATIONS = (
    "This report is evidence for review by qualified people. It is not legal advice and does "
    "not by itself establish compliance with any law.",
    "Findings describe the dataset and model named on the cover, as they were when the audit "
    "ran; they do not carry over to other data, retrained models or other uses.",
    "Statistical findings carry sampling uncertainty; where intervals are given, a result whose "
    "interval straddles a threshold is reported as a warning rather than a pass or fail.",
)


@dataclass
class AuditRun:
    """The outcome of :func:`run_audit`."""

    report: Report
    out_dir: Path
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """:class:`~auditkit.errors.ExitCode`: 3 when a check errored (the audit is incomplete),
        else 1 when a finding failed, else 0."""
        statuses = {f.status for f in self.report.findings}
        if Status.ERROR in statuses:
            return ExitCode.INCOMPLETE
        return ExitCode.FAILED if Status.FAIL in statuses else ExitCode.OK


Track = Callable[..., Iterator[Any]]


def _require_columns(have: list[str], cfg: AuditConfig, source: str) -> None:
    wanted: list[tuple[str, str]] = []
    d = cfg.data
    for key in ("label", "prediction", "score", "id_column"):
        col = getattr(d, key)
        if col is not None:
            wanted.append((f"[data] {key}", col))
    wanted += [("[data] protected", c) for c in d.protected]
    wanted += [("[data] personal", c) for c in d.personal]
    wanted += [("[model] features", c) for c in cfg.model.features]
    for where, col in wanted:
        if col not in have:
            listing = ", ".join(have[:40]) + (" ..." if len(have) > 40 else "")
            raise DataError(
                f"{where} names column {col!r}, which the dataset '{source}' does not have."
                f"{did_you_mean(col, have)} Its columns are: {listing}."
            )


def _load_model(cfg: AuditConfig, base_dir: Path, track: Track) -> tuple[Any, list[str], Path | None]:
    """The configured model (or ``None``), its feature names, and its path."""
    features = list(cfg.model.features)
    if not cfg.model.path:
        return None, features, None
    model_path = base_dir / cfg.model.path if not Path(cfg.model.path).is_absolute() else Path(cfg.model.path)
    with _ProgressPhase(track, "Loading model"):
        model = load_model(
            model_path, cfg.model.format, trust_model=cfg.model.trust_model,
            trusted_types=cfg.model.trusted_types, sha256=cfg.model.sha256,
        )
    if not features:
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            raise ModelError(
                f"The model '{model_path.name}' does not record its feature names; list its "
                "input columns in [model] features in audit.toml."
            )
        features = [str(n) for n in names]
    return model, features, model_path


def _check_features(cfg: AuditConfig, features: list[str], columns: list[str]) -> None:
    """The feature names a model records must be columns of the data (those listed in
    ``[model] features`` are checked with the other named columns)."""
    if cfg.model.features or not cfg.model.path:
        return
    missing = [f for f in features if f not in columns]
    if missing:
        raise DataError(
            f"The model expects columns {missing} that the dataset lacks. Check that "
            "[data] path is the data the model was trained on."
        )


def build_context(
    cfg: AuditConfig, base_dir: Path, out_dir: Path, *, track: Track = _no_track
) -> tuple[AuditContext, list[Artifact]]:
    """Load data and model and resolve column roles.

    ``[data] path`` may be one file or many partitions (a glob or a directory); ``[data]
    engine`` decides whether they are read into memory (pandas) or streamed once on Dask, in
    which case the context holds a sample and the pass's figures (docs/scale.md)."""
    from auditkit._scale._build import data_artifact, read_args, scaled_data
    from auditkit._scale._read import read_all
    from auditkit._scale._sources import choose_engine, resolve_sources

    sources = resolve_sources(cfg.data.path, base_dir, cfg.data.format)
    choice = choose_engine(cfg.data.engine, sources, cfg.data.memory_budget_mib)
    inputs: list[Artifact] = []
    scale = None
    notes: tuple[str, ...] = ()
    if choice.engine == "pandas":
        with _ProgressPhase(track, "Reading dataset"):
            read = read_args(cfg, base_dir)
            loaded = read_all(sources, string_columns=list(read.string_columns), keys=read.keys,
                              base_dir=read.base_dir, header=read.header, skip_lines=read.skip_lines)
            df, notes = loaded.frame, tuple(loaded.notices)
        _require_columns([str(c) for c in df.columns], cfg, sources.display)
        model, features, model_path = _load_model(cfg, base_dir, track)
        _check_features(cfg, features, [str(c) for c in df.columns])
        with _ProgressPhase(track, "Classifying personal data"):
            # One classification for scope, data protection and security; the scan reads as many
            # rows as [checks.data_protection] sample_rows says.
            personal = classify_personal_data(
                df, cfg.data.personal, cfg.data.protected, seed=cfg.audit.random_state,
                sample_rows=cfg.check_options("data_protection").sample_rows,
            )
    else:
        from auditkit._scale._build import partition_columns

        columns = partition_columns(sources, cfg, base_dir)
        _require_columns(columns, cfg, sources.display)
        model, features, model_path = _load_model(cfg, base_dir, track)
        _check_features(cfg, features, columns)
        scaled = scaled_data(cfg, base_dir, sources, choice, columns=columns, model=model,
                             features=features, track=track)
        df, personal, scale = scaled.sample, scaled.personal, scaled.view
    with _ProgressPhase(track, "Recording the inputs"):
        inputs.append(data_artifact(sources))
    if model_path is not None:
        inputs.append(Artifact.from_path(model_path, "model"))
    ctx = AuditContext(
        config=cfg,
        base_dir=base_dir,
        out_dir=out_dir,
        data=df,
        model=model,
        label=cfg.data.label,
        prediction=cfg.data.prediction,
        score=cfg.data.score,
        protected=list(cfg.data.protected),
        features=features,
        personal_columns=personal.identifying_columns,
        personal_data=personal,
        data_notes=notes,
        random_state=cfg.audit.random_state,
        track=track,
        scale=scale,
        data_files=tuple(p.path for p in sources.partitions),
    )
    return ctx, inputs


class _ProgressPhase:
    """One phase of the run shown as a one-step task by ``track`` (the CLI's progress bar):
    started on entering the ``with`` block, completed when it ends without an exception."""

    def __init__(self, track: Track, description: str) -> None:
        self._it = iter(track([None], description=description, total=1))

    def __enter__(self) -> None:
        next(self._it, None)

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            next(self._it, None)


def _relative(artifact: Artifact, base_dir: Path) -> Artifact:
    """Record artifact paths relative to the config's directory, so reports are portable."""
    if not artifact.path:
        return artifact
    try:
        rel = os.path.relpath(Path(artifact.path).resolve(), base_dir)
    except ValueError:  # another drive (Windows)
        return artifact
    return replace(artifact, path=rel)


def _error_finding(spec: CheckSpec, exc: BaseException, guard: PersonalValueIndex) -> Finding:
    # auditkit's own errors are written never to quote data; any other exception (a library's
    # "could not convert string to float: 'Robert Smithers'") is named by its type only.
    from auditkit.errors import AuditkitError

    if isinstance(exc, AuditkitError):
        said = f"{type(exc).__name__}: {guard.redact(str(exc))[:500]}"
    else:
        said = (f"{type(exc).__name__} (its message may quote data, so it is not shown; run "
                "with --debug to see it)")
    return Finding(
        check_id=f"{spec.id}.error",
        title=f"{spec.title}: the check could not complete",
        status=Status.ERROR,
        severity=Severity.HIGH,
        summary=f"The check raised {said}. The other checks ran normally.",
        remediation="Fix the cause named above and run the audit again; run with --debug "
        "for the full traceback.",
    )


def run_checks(
    ctx: AuditContext, *, only: list[str] | None = None, debug: bool = False
) -> tuple[list[Section], list[Artifact]]:
    """Run every enabled check; a check that raises becomes an ``error`` finding."""
    guard = ctx.guard
    results: list[tuple[CheckSpec, CheckResult]] = []
    specs = [s for s in iter_checks() if only is None or s.id in only]
    specs = [s for s in specs if ctx.config.check_options(s.id).enabled]
    for spec in ctx.track(specs, description="Running checks", total=len(specs)):
        options = ctx.config.check_options(spec.id)
        missing = [r for r in spec.requires if not ctx.has(r)]
        if missing:
            results.append((spec, CheckResult(findings=[Finding(
                check_id=f"{spec.id}.applicability",
                title=spec.title,
                status=Status.NOT_APPLICABLE,
                severity=Severity.INFO,
                summary=f"Not run: the audit does not provide {', '.join(missing)}. "
                "Name them in audit.toml to enable this check.",
            )])))
            continue
        try:
            result = spec.run(ctx, options)
            if spec.data_needs == "rows" and ctx.scale is not None and ctx.scale.sampled:
                result = replace(result, summary=(
                    f"{result.summary} This check reads whole rows, so on the Dask engine its "
                    f"figures were {ctx.scale.sample_note()}.").strip())
        except Exception as exc:  # crash isolation: one failing check never stops the audit
            if debug:
                import traceback

                traceback.print_exc()
            result = CheckResult(findings=[_error_finding(spec, exc, guard)])
        results.append((spec, scope_result(ctx, result)))  # drop out-of-scope citations
        if ctx.scale is not None:  # the next check starts from what this one kept
            release_memory()
        raise_if_interrupted()

    sections: dict[str, Section] = {}
    for spec, res in results:
        prev = sections.get(spec.section)
        summary = " ".join(s for s in ((prev.summary if prev else ""), res.summary) if s)
        sections[spec.section] = Section(
            id=spec.section,
            title=spec.section_title,
            summary=summary,
            findings=(*(prev.findings if prev else ()), *res.findings),
            tables=(*(prev.tables if prev else ()), *res.tables),
            figures=(*(prev.figures if prev else ()), *res.figures),
        )
    artifacts = [a for _, res in results for a in res.artifacts]
    return list(sections.values()), artifacts


def environment() -> dict[str, Any]:
    versions = {}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
    }


def run_audit(
    config: str | Path,
    *,
    out_dir: str | Path | None = None,
    formats: list[str] | None = None,
    only: list[str] | None = None,
    track: Track = _no_track,
    debug: bool = False,
) -> AuditRun:
    """Run the audit described by ``config`` and write its reports.

    Parameters
    ----------
    config:
        Path of ``audit.toml``.
    out_dir:
        Output directory (default: ``[report] out`` relative to the config file).
    formats:
        Report formats (default: ``[report] formats``).
    only:
        Run only these check ids.
    """
    started = time.perf_counter()
    config_path = Path(config)
    cfg = load_config(config_path)
    base_dir = config_path.resolve().parent
    out = Path(out_dir) if out_dir is not None else base_dir / cfg.report.out
    fmts = validate_formats(list(formats)) if formats else list(cfg.report.formats)
    if only:
        known = {c.id for c in iter_checks()}
        for check_id in only:
            if check_id not in known:
                raise ConfigError(
                    f"--only names unknown check {check_id!r}.{did_you_mean(check_id, known)} "
                    f"Known checks: {', '.join(sorted(known))}."
                )
    report_dir = ReportDir(out, _input_paths(cfg, base_dir, config_path))
    # One trail command per run: audit.run at the start and at the end (see auditkit._run_trail).
    with noting_interrupts(), audit_session(cfg, base_dir, out) as mark:
        stage = report_dir.begin()
        try:
            report, written = _run_into(
                stage, report_dir, cfg, base_dir, config_path, fmts, only, track, debug
            )
            raise_if_interrupted()  # a Ctrl-C Python swallowed: still no report
            report_dir.commit()
        except BaseException:
            report_dir.abort()
            raise
        paths = {k: report_dir.final_path(p) for k, p in written.items()}
        run = AuditRun(report=report, out_dir=out, paths=paths,
                       seconds=time.perf_counter() - started)
        statuses = Counter(Status(f.status).value for f in report.findings)
        finish_run(mark, run.exit_code, dict(statuses), paths.get("manifest"))
    return run


def _input_paths(cfg: AuditConfig, base_dir: Path, config_path: Path) -> list[Path]:
    """Every file the audit reads: none of them may be in its output directory."""
    names = [cfg.data.path, cfg.model.path, cfg.keys.keyring, cfg.keys.signing_key]
    for check_id, keys in (("data_protection", ("policy",)), ("private_training", ("ledger",)),
                           ("security", ("keyring",))):
        opts = cfg.check_options(check_id)
        names += [getattr(opts, k, None) for k in keys]
        if check_id == "private_training":
            names += list(getattr(opts, "attack", []) or [])
        if check_id == "security":
            names += list(getattr(opts, "artifacts", []) or [])
    return [config_path, *(base_dir / n for n in names if n)]


def _run_into(
    stage: Path, report_dir: ReportDir, cfg: AuditConfig, base_dir: Path, config_path: Path,
    fmts: list[str], only: list[str] | None, track: Track, debug: bool,
) -> tuple[Report, dict[str, Path]]:
    """Run the checks and write every output under ``stage`` (the staging directory); return
    the report and the paths written (format, and ``manifest`` when signed)."""
    ctx, inputs = build_context(cfg, base_dir, stage, track=track)
    inputs.insert(0, Artifact.from_path(config_path, "config"))
    sections, produced = run_checks(ctx, only=only, debug=debug)

    meta = {
        "title": cfg.audit.title,
        "system": cfg.audit.system,
        "version": cfg.audit.version,
        "owner": cfg.audit.owner,
        "description": cfg.audit.description,
        "generated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "tool": "auditkit",
        "tool_version": __version__,
        "config_file": config_path.name,
        "dataset": ctx.scale.source if ctx.scale is not None else Path(cfg.data.path).name,
        "rows": ctx.scale.n_rows if ctx.scale is not None else int(ctx.data.shape[0]),
        "columns": int(ctx.data.shape[1]),
        "personal_columns": len(ctx.personal_data.personal_columns),
    }
    # The narrative (executive summary, DPIA, model card) joins the one guarded model.
    narrative = build_narrative(cfg, facts_from_context(ctx, inputs, meta["generated_at"]), sections)
    meta.update(narrative.metadata)
    staged = [*ctx.artifacts, *produced]
    final = [replace(a, path=str(report_dir.final_path(Path(a.path)))) if a.path else a
             for a in staged]
    report = Report(
        metadata=meta,
        sections=[narrative.sections[0], *sections, *narrative.sections[1:]],
        artifacts=[_relative(a, base_dir) for a in (*inputs, *final)],
        environment=environment(),
        config=cfg.model_dump(mode="json"),
        limitations=(*LIMITATIONS, *ctx.data_notes),
    )
    with _ProgressPhase(track, "Writing reports"):
        written = write_reports(
            report, stage, fmts, basename=cfg.report.basename, check=_leak_check(ctx.guard)
        )
    if cfg.keys.signing_key or cfg.keys.sign:
        from auditkit.reports.signing import MANIFEST_NAME, SIGNATURE_NAME

        with _ProgressPhase(track, "Signing the manifest"):
            marker = report_dir.mark(also=(MANIFEST_NAME, SIGNATURE_NAME))
            files = [*written.values(), *(Path(a.path) for a in staged if a.path), marker]
            written["manifest"] = _sign(cfg, base_dir, config_path, stage, files, ctx.data_files)
    return report, written


def _sign(
    cfg: AuditConfig, base_dir: Path, config_path: Path, out: Path, written: list[Path],
    parts: tuple[Path, ...],
) -> Path:
    """Write the signed manifest of the inputs (``parts``: the data files read) and outputs."""
    from auditkit.privacy import trail
    from auditkit.reports.signing import write_manifest

    trail.enforce("sign")  # a policy in force must let who acts sign reports

    inputs = {"config": config_path}
    if len(parts) == 1:
        inputs["data"] = parts[0]
    else:  # every partition, as "data[1]" .. "data[N]" in the data's order
        inputs.update({f"data[{i}]": p for i, p in enumerate(parts, 1)})
    if cfg.model.path:
        inputs["model"] = base_dir / cfg.model.path
    out_resolved = out.resolve()
    inside = [p for p in written if out_resolved in p.resolve().parents]
    if cfg.keys.signing_key:
        key: Any = base_dir / cfg.keys.signing_key
    else:  # sign = true with a key ring: an Ed25519 key derived from the ring's primary key
        from auditkit.privacy.crypto import KeyRing

        key = KeyRing.load_from_env(base_dir / str(cfg.keys.keyring), cfg.keys.passphrase_env).signing_key()
    mark = current_run()  # the signed manifest carries the trail's head: a later cut is provable
    return write_manifest(out, inputs, inside, key, trail=trail_head(mark) if mark else None)


def _leak_check(guard: PersonalValueIndex) -> Callable[[Report], None]:
    """The check :func:`auditkit.reports.write_reports` runs on the findings model before any
    format is rendered: no personal value as a word or phrase anywhere in it."""

    def check(report: Report) -> None:
        leaks = guard.leaks_in_report(report)
        if leaks:
            shown = "; ".join(str(leak) for leak in leaks[:5])
            more = f" (and {len(leaks) - 5} more)" if len(leaks) > 5 else ""
            raise PersonalDataLeakError(
                f"Refusing to write the report: it holds raw values of personal data at "
                f"{len(leaks)} place(s): {shown}{more}. No report was written. If the column "
                "is not personal data, remove it from [data] personal; otherwise this is a "
                "defect in a check: run with --debug and report it."
            )

    return check
