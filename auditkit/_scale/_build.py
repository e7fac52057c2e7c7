"""The audit context of data read at scale: one streaming pass, then the checks' view.

:func:`scaled_context` is what :func:`auditkit.runner.build_context` does on the Dask engine:

1. the first pass tallies every partition (:mod:`auditkit._scale._tally`) and draws the
   bounded uniform sample;
2. personal data is classified on the sample (the PII scan reads a sample in memory too);
3. when a masking policy is configured, or the quasi-identifiers come from that scan, a second
   pass applies the policy (prepared with the scan) partition by partition and counts the
   equivalence classes before and after it;
4. the context's ``data`` is the sample and its ``scale`` the merged figures
   (:class:`~auditkit._scale._view.ScaleView`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditkit._scale._pass import PassResult, ReadArgs, run_pass
from auditkit._scale._tally import DISTINCT_CAP, TallyPlan
from auditkit._scale._view import ScaleView

__all__ = ["RiskPlan", "ScaledData", "data_artifact", "partition_columns", "read_args", "risk_plan",
           "scaled_data"]


@dataclass(frozen=True)
class RiskPlan:
    """What the data-protection check will measure: the policy (loaded), quasi-identifiers and
    sensitive column (``qi`` is ``None`` when it comes from the PII scan), the targets."""

    policy: Any
    qi: tuple[str, ...] | None
    sensitive: str | None
    k: int
    l: int  # noqa: E741


def risk_plan(cfg: Any, base_dir: Path, columns: list[str]) -> RiskPlan | None:
    """The data-protection check's settings, as its ``run`` will read them; ``None`` when the
    check is off."""
    opts = cfg.check_options("data_protection")
    if not opts.enabled:
        return None
    policy = None
    if opts.policy:
        from auditkit.privacy.masking import load_policy

        path = Path(opts.policy).expanduser()
        policy = load_policy(path if path.is_absolute() else base_dir / path)
    qi = list(opts.quasi_identifiers or (policy.quasi_identifiers if policy else ()) or ())
    sensitive = opts.sensitive or (policy.sensitive if policy else None)
    if sensitive is not None and sensitive not in columns:
        sensitive = None
    return RiskPlan(policy, tuple(c for c in qi if c in columns) if qi else None, sensitive,
                    opts.k, opts.l)


@dataclass
class ScaledData:
    """The sample, the view and the classification of data read at scale."""

    sample: Any
    view: ScaleView
    personal: Any


def _counted_for_masking(risk: RiskPlan | None, columns: list[str]) -> tuple[str, ...]:
    """Columns whose masking operator needs value counts over the whole data (``suppress``)."""
    if risk is None or risk.policy is None:
        return ()
    from auditkit.privacy.masking import get_operator

    return tuple(r.column for r in risk.policy.rules
                 if r.column in columns and get_operator(r.operator).needs_counts)


def _first_plan(cfg: Any, model: Any, features: list[str], risk: RiskPlan | None,
                columns: list[str]) -> TallyPlan:
    d = cfg.data
    return TallyPlan(
        value_counts_of=_counted_for_masking(risk, columns),
        label=d.label, prediction=d.prediction, score=d.score, protected=tuple(d.protected),
        features=tuple(features), model=model if d.prediction is None else None,
        quasi_identifiers=(risk.qi or ()) if risk is not None else (),
        sensitive=risk.sensitive if risk is not None and risk.qi else None,
        sample_rows=d.sample_rows, seed=cfg.audit.random_state,
    )


def _second_plan(first: TallyPlan, risk: RiskPlan, qi: tuple[str, ...], masker: Any) -> TallyPlan | None:
    """The masking pass, when there is anything for it to do."""
    if masker is None and (risk.qi is not None or not qi):
        return None
    after = None
    if masker is not None and qi:  # measured on what the policy keeps, as in memory
        kept = set(masker.output_columns())
        after = (tuple(c for c in qi if c in kept),
                 risk.sensitive if risk.sensitive in kept else None)
    return TallyPlan(quasi_identifiers=qi, sensitive=risk.sensitive if qi else None,
                     masker=masker, masking_only=True, count_before=risk.qi is None,
                     seed=first.seed, sample_rows=0, after=after)


def _as_column_type(values: Any, dtype: str | None) -> Any:
    """Values gathered from chunks typed int64 in one and float64 in another (a missing value),
    typed as the whole column is: whole numbers as floats in a float column, as in memory."""
    import numpy as np

    if values is None or dtype is None or not dtype.startswith("float"):
        return values
    return np.asarray([float(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       else v for v in values], dtype=object)


def _typed_counts(counts: Any, dtypes: dict[str, str]) -> Any:
    """``counts`` with the levels of float columns typed as floats (see above)."""
    from auditkit._scale._view import relabel_levels

    for c in counts.attributes:
        if dtypes.get(c, "").startswith("float"):
            counts = relabel_levels(counts, c, lambda v: _as_column_type([v], "float64")[0])
    return counts


def _view(sources: Any, choice: Any, first: PassResult, second: PassResult | None,
          risk: RiskPlan | None, qi: tuple[str, ...], prediction: str | None) -> ScaleView:
    t = first.tally
    sample = t.sample.rows() if t.sample is not None else None
    view = ScaleView(
        source=sources.display, partitions=len(sources.partitions), engine_reason=choice.reason,
        n_rows=t.n_rows, columns=list(t.dtypes), dtypes=dict(t.dtypes), missing=dict(t.missing),
        distinct={c: (None if h is None else len(h)) for c, h in t.distinct.items()},
        distinct_cap=DISTINCT_CAP, labels=t.labels,
        counts=None if t.counts is None else _typed_counts(t.counts, t.dtypes),
        counts_error=t.errors.get("fairness"), label_first=t.label_first,
        values={c: _as_column_type(v, t.dtypes.get(c if c != "__prediction" else prediction))
                for c, v in t.values.items()},
        mask_error=second.tally.errors.get("masking") if second is not None else None,
        sample_rows=0 if sample is None else len(sample), seed=t.sample.seed if t.sample else 0,
        seconds=first.seconds + (second.seconds if second else 0.0), workers=first.workers,
        passes=1 if second is None else 2,
    )
    if risk is not None and qi:
        before = first.before if risk.qi is not None else second.before
        view.risk["before"] = before.report(risk.k, risk.l)
        view.risk_columns = (qi, risk.sensitive)
        if second is not None and second.tally.mask_summary is not None:
            view.mask_summary = second.tally.mask_summary
            if second.after is not None:
                view.risk["after"] = second.after.report(risk.k, risk.l)
    elif second is not None:
        view.mask_summary = second.tally.mask_summary
    return view


def scaled_data(cfg: Any, base_dir: Path, sources: Any, choice: Any, *, columns: list[str],
                model: Any, features: list[str], track: Any) -> ScaledData:
    """Read ``sources`` at scale (see the module docstring)."""
    from auditkit._personal import classify_personal_data

    d = cfg.data
    read = read_args(cfg, base_dir)
    risk = risk_plan(cfg, base_dir, columns)
    parts = list(sources.partitions)
    plan = _first_plan(cfg, model, features, risk, columns)
    kw = dict(engine="dask", cluster=d.cluster, track=track)
    first = run_pass(parts, plan, read, description="Reading partitions", **kw)
    second = None
    try:
        if first.tally.n_rows == 0:
            from auditkit.errors import DataError

            raise DataError(
                f"The dataset {sources.display} has no data rows (its partitions hold column "
                "names only). Point [data] path at the data to audit."
            )
        sample = first.tally.sample.rows()
        personal = classify_personal_data(
            sample, d.personal, d.protected, seed=cfg.audit.random_state,
            sample_rows=cfg.check_options("data_protection").sample_rows)
        qi: tuple[str, ...] = ()
        if risk is not None:
            qi = risk.qi if risk.qi is not None else tuple(
                c for c in personal.quasi_identifiers if c in columns)
            masker = None
            if risk.policy is not None:
                from auditkit.privacy.masking import Masker

                masker = Masker(risk.policy, columns, inventory=personal.inventory,
                                personal=tuple(personal.personal_columns),
                                counts=dict(first.tally.value_counts))
            plan2 = _second_plan(plan, risk, qi, masker)
            if plan2 is not None:  # it reads only the columns it masks or counts
                wanted = {*qi, *([risk.sensitive] if risk.sensitive else []),
                          *(masker.plans if masker is not None else ()), *personal.personal_columns}
                read2 = replace(read, columns=tuple(c for c in columns if c in wanted))
                second = run_pass(parts, plan2, read2, description="Masking pass", **kw)
        view = _view(sources, choice, first, second, risk, qi, d.prediction)
    finally:
        first.close()
        if second is not None:
            second.close()
    return ScaledData(sample, view, personal)


def read_args(cfg: Any, base_dir: Path) -> ReadArgs:
    """How ``[data]`` says the partitions are read, on either engine: the personal columns and
    the id column kept as text, the key ring, the header and the lines to skip."""
    d = cfg.data
    string_cols = tuple(dict.fromkeys([*d.personal, *([d.id_column] if d.id_column else [])]))
    return ReadArgs(string_columns=string_cols, keys=cfg.keys, base_dir=base_dir,
                    header=d.header, skip_lines=d.skip_lines)


def partition_columns(sources: Any, cfg: Any, base_dir: Path) -> list[str]:
    """The column names every partition has (checked the same for all)."""
    return _columns(sources, read_args(cfg, base_dir))


def _columns(sources: Any, read: ReadArgs) -> list[str]:
    """The partitions' column names, the same for every partition (else a DataError)."""
    from auditkit._scale._pass import check_same_columns
    from auditkit._scale._read import schema_of

    first = None
    for part in sources.partitions:
        names = schema_of(part, string_columns=list(read.string_columns), keys=read.keys,
                          base_dir=read.base_dir, header=read.header, skip_lines=read.skip_lines)
        if first is None:
            first, first_part = names, part
        else:
            check_same_columns(first, names, first_part.path.name, part.path.name)
    return list(first or [])


def data_artifact(sources: Any) -> Any:
    """The report's record of the data read: the file itself when there is one; for several
    partitions, one entry whose SHA-256 is that of the sorted list of every partition's path
    (relative to the first common directory), size and SHA-256, so that any change to any
    partition changes it."""
    import hashlib
    import os

    from auditkit.reports import Artifact, sha256_file

    parts = list(sources.partitions)
    if len(parts) == 1:
        return Artifact.from_path(parts[0].path, "data")
    root = Path(os.path.commonpath([str(p.path.resolve()) for p in parts]))
    lines = []
    total = 0
    for p in parts:
        digest, size = sha256_file(p.path)
        total += size
        lines.append(f"{p.path.resolve().relative_to(root).as_posix()}\t{size}\t{digest}\n")
    manifest = hashlib.sha256("".join(lines).encode()).hexdigest()
    return Artifact(name=sources.display, kind="data", sha256=manifest, size=total, path=str(root),
                    note=f"{len(parts)} partitions; SHA-256 of the sorted list of each partition's "
                    "relative path, size and SHA-256")
