"""The dataset check: what was audited, column roles, completeness, and inputs the model must not use.

Findings
--------
- ``dataset.profile``: rows, columns, roles; always ``pass`` (it is the scope statement).
- ``dataset.missing_values``: share of missing values per role column; ``warn`` above the limit.
- ``dataset.protected_missing``: missing values in protected attributes (they form their own
  group in the fairness section, never dropped); ``warn`` when present.
- ``dataset.label_balance``: positive rate of the label; ``warn`` when one class is rarer than
  ``min_class_share``.
- ``dataset.identifiers_in_features``: ``fail`` when the model's inputs include columns holding
  direct identifiers (GDPR Art. 5(1)(c) data minimisation, Art. 25).
- ``dataset.protected_in_features``: ``warn`` when protected attributes are model inputs; GDPR
  Art. 9(1) and Art. 22(4) are cited only when one of them is special-category data (race,
  religion, health ...; not sex, age or marital status), the non-discrimination provisions in
  the audit's scope always.

Personal data is counted and judged from the audit's one classification
(:attr:`auditkit._context.AuditContext.personal_data`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditkit.checks._findings import Cites, FindingSpec, rounded
from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.reports import Finding, Severity, Status, Table
from auditkit.reports.catalogue import get_catalogue

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from auditkit._context import AuditContext


#: The topics this check cites provisions on (in the audit's scope: ``ctx.cite``).
TOPICS = ("records", "group-coverage", "data-minimisation", "special-category",
          "outcome-disparity")
#: The special-category provisions cited when a protected feature is Art. 9 data.
ART9 = frozenset({"gdpr-art-9-1", "gdpr-art-22-4"})

PROFILE = FindingSpec(
    "dataset.profile", "Scope: the dataset audited", topics=("records",), severity=Severity.INFO,
)
MISSING = FindingSpec(
    "dataset.missing_values", "Completeness of the columns the audit relies on",
    topics=("group-coverage",), severity=Severity.MEDIUM, pass_severity=Severity.INFO,
    problem_status=Status.WARN,
    remediation="Find out why values are missing and whether the gaps fall on some groups more "
    "than others before relying on group metrics.",
)
PROTECTED_MISSING = FindingSpec(
    "dataset.protected_missing", "Missing values in protected attributes",
    topics=("group-coverage",), severity=Severity.LOW, problem_status=Status.WARN,
)
LABEL_BALANCE = FindingSpec(
    "dataset.label_balance", "Balance of the label",
    topics=("group-coverage",), severity=Severity.LOW, problem_status=Status.WARN,
)
IDENTIFIERS = FindingSpec(
    "dataset.identifiers_in_features", "Direct identifiers among the model's inputs",
    topics=("data-minimisation",), severity=Severity.HIGH, problem_status=Status.FAIL,
    remediation="Drop, generalise or pseudonymise these columns before training (see "
    "'auditkit mask').",
)
PROTECTED_FEATURES = FindingSpec(
    "dataset.protected_in_features", "Protected attributes among the model's inputs",
    topics=("outcome-disparity",), severity=Severity.MEDIUM, problem_status=Status.WARN,
    remediation="Document the legal basis for using them (for special-category data, the "
    "Art. 9(2) exception), or remove them and check for proxies.",
)


class DatasetOptions(CheckOptions):
    max_missing_share: float = 0.05
    min_class_share: float = 0.05


def _roles(ctx: AuditContext) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}

    def add(col: str | None, role: str) -> None:
        if col is not None:
            roles.setdefault(col, []).append(role)

    add(ctx.label, "label")
    add(ctx.prediction, "prediction")
    add(ctx.score, "score")
    add(ctx.config.data.id_column, "record id")
    for c in ctx.protected:
        add(c, "protected attribute")
    for c in ctx.personal_data.personal_columns:
        add(c, "personal data")
    for c in ctx.features:
        add(c, "model feature")
    return roles


def _columns_table(ctx: AuditContext, roles: dict[str, list[str]], missing: pd.Series) -> Table:
    scale = ctx.scale
    if scale is None:
        df = ctx.data
        n_rows, columns = len(df), [str(c) for c in df.columns]
        dtypes = df.dtypes.astype(str)
        # Distinct counts are aggregate; for personal columns they reveal no value.
        distinct: dict[str, Any] = {str(c): int(df[c].nunique(dropna=True)) for c in df.columns}
        types = {str(c): dtypes[c] for c in df.columns}
    else:
        n_rows, columns, types = scale.n_rows, list(scale.columns), dict(scale.dtypes)
        distinct = {c: (n if (n := scale.distinct_count(c)) is not None
                        else f"more than {scale.distinct_cap:,}") for c in columns}
    return Table(
        "Columns and their roles",
        ["column", "type", "roles", "missing", "missing share", "distinct values"],
        [
            [col, types[col], ", ".join(roles.get(col, [])) or "-", int(missing[col]),
             rounded(float(missing[col]) / n_rows), distinct[col]]
            for col in columns
        ],
        note="Counts only; no values of personal-data columns are shown anywhere in this report."
        + ("" if scale is None else f" Read at scale: {scale.source}, every row counted."),
    )


def _profile_finding(ctx: AuditContext, table: Table) -> Finding:
    """The scope statement: rows, columns and how many hold each role."""
    n_rows, n_cols = _shape(ctx)
    n_personal = len(ctx.personal_data.personal_columns)
    return PROFILE.make(
        ctx, Status.PASS,
        f"{n_rows:,} rows and {n_cols} columns; {n_personal} column(s) hold personal data, "
        f"{len(ctx.protected)} protected attribute(s), {len(ctx.features)} model feature(s).",
        metrics={
            "rows": n_rows,
            "columns": n_cols,
            "personal_columns": n_personal,
            "protected_attributes": len(ctx.protected),
            "model_features": len(ctx.features),
        },
        tables=(table,),
    )


def _missing_finding(
    ctx: Cites, roles: dict[str, list[str]], missing: pd.Series, n_rows: int, limit: float
) -> Finding:
    """``warn`` when a column with a role other than "personal data" misses more than
    ``limit`` of its values."""
    role_cols = [c for c in missing.index
                 if any(r != "personal data" for r in roles.get(str(c), ()))]
    high = [(str(c), float(missing[c]) / n_rows) for c in role_cols
            if missing[c] / n_rows > limit]
    summary = (
        f"{len(high)} column(s) miss more than {limit:.0%} of values: "
        + ", ".join(f"{c} ({s:.1%})" for c, s in high)
        if high
        else f"Every label, prediction, protected and feature column is at least "
        f"{1 - limit:.0%} complete."
    )
    return MISSING.judge(
        ctx, problem=bool(high), summary=summary,
        metrics={"columns_over_limit": len(high), "limit": limit},
    )


def _protected_missing_finding(
    ctx: Cites, protected: list[str], missing: pd.Series
) -> Finding:
    """Missing values in protected attributes (kept as their own group, never dropped)."""
    gaps = [(c, int(missing[c])) for c in protected if missing[c] > 0]
    summary = (
        "Missing values in " + ", ".join(f"{c} ({n:,} rows)" for c, n in gaps)
        + " are kept as their own group in the fairness analysis, not dropped."
        if gaps
        else "Every protected attribute is recorded for every row."
    )
    return PROTECTED_MISSING.judge(
        ctx, problem=bool(gaps), summary=summary, metrics={f"missing.{c}": n for c, n in gaps}
    )


def _label_balance_finding(ctx: Cites, counts: pd.Series | None, min_share: float) -> Finding:
    """``warn`` when the label has one value, or one rarer than ``min_share`` of rows;
    ``counts`` is rows per label value, most frequent first (``None``: more values than data
    read at scale tabulates, each then rarer than any share worth judging)."""
    if counts is None:
        from auditkit._scale._tally import LABEL_CAP

        return LABEL_BALANCE.judge(
            ctx, problem=True,
            summary=f"More than {LABEL_CAP:,} label values: the label is not a class label, or "
            "not the outcome column.",
            metrics={"classes": None, "rarest_share": None},
        )
    total = int(counts.sum())
    shares = counts / total if total else counts.astype(float)
    rare = float(shares.min()) if len(shares) else 0.0
    table = Table(
        "Label distribution", ["label", "rows", "share"],
        [[str(k), int(n), rounded(float(v))] for (k, n), v in zip(counts.items(), shares, strict=True)],
    )
    return LABEL_BALANCE.judge(
        ctx, problem=rare < min_share or len(shares) < 2,
        summary=f"{len(shares)} label value(s); the rarest makes up {rare:.1%} of rows.",
        metrics={"classes": len(shares), "rarest_share": rare},
        tables=(table,),
    )


def _identifiers_finding(ctx: AuditContext) -> Finding:
    """``fail`` when a model input holds identifying personal data."""
    ids = sorted(set(ctx.features) & ctx.personal_data.identifying_columns)
    return IDENTIFIERS.judge(
        ctx, problem=bool(ids),
        summary=(
            f"The model takes column(s) {', '.join(ids)}, whose values identify people, as input."
            if ids
            else "None of the model's inputs holds identifying personal data (names, ids, "
            "contacts, ZIP codes, dates of birth, columns declared personal)."
        ),
        metrics={"identifier_features": len(ids)},
    )


def _shape(ctx: AuditContext) -> tuple[int, int]:
    if ctx.scale is not None:
        return ctx.scale.n_rows, len(ctx.scale.columns)
    return ctx.data.shape


def _label_counts(ctx: AuditContext) -> pd.Series | None:
    """Rows per label value (missing included), most frequent first; ``None`` when the data
    read at scale has more label values than are tabulated."""
    if ctx.scale is None:
        return ctx.data[ctx.label].value_counts(dropna=False)
    counts = ctx.scale.label_counts()
    if counts is not None:  # values typed as the whole column is (1.0 when some chunk is float)
        dtype = ctx.scale.dtypes.get(ctx.label)
        try:
            if dtype is not None and counts.index.dtype != dtype:
                counts.index = counts.index.astype(dtype)
        except (TypeError, ValueError):
            pass
    return counts


def run(ctx: AuditContext, options: DatasetOptions) -> CheckResult:
    n_rows, n_cols = _shape(ctx)
    roles = _roles(ctx)
    missing = ctx.scale.missing_series() if ctx.scale is not None else ctx.data.isna().sum()
    findings: list[Finding] = [
        _profile_finding(ctx, _columns_table(ctx, roles, missing)),
        _missing_finding(ctx, roles, missing, n_rows, options.max_missing_share),
    ]
    if ctx.protected:
        findings.append(_protected_missing_finding(ctx, list(ctx.protected), missing))
    if ctx.label is not None:
        findings.append(_label_balance_finding(ctx, _label_counts(ctx), options.min_class_share))
    if ctx.features:
        findings += [_identifiers_finding(ctx), _protected_in_features(ctx)]
    summary = f"The audit covers {n_rows:,} records with {n_cols} columns."
    if ctx.scale is not None:
        s = ctx.scale
        summary += (f" They were read at scale ({s.engine_reason}): {s.source} in "
                    f"{s.passes} streaming pass(es) on {s.workers} Dask worker(s); counts are of "
                    f"every row, sampled checks say so ({s.sample_note()}).")
    return CheckResult(findings=findings, summary=summary)


@dataclass(frozen=True)
class _LedByArt9:
    """Cites as ``ctx`` does, led by GDPR Art. 9(1) and Art. 22(4) (those of them in the
    audit's scope): the provisions on using special-category data as a model input."""

    ctx: Cites

    def cite(self, *topics: str) -> tuple[str, ...]:
        art9 = (r for r in self.ctx.cite("special-category") if r in ART9)
        return (*art9, *self.ctx.cite(*topics))


def _protected_in_features(ctx: AuditContext) -> Finding:
    """Protected attributes used as model inputs; Art. 9 only for the special categories."""
    pc = ctx.personal_data
    prot = sorted(set(ctx.features) & set(ctx.protected))
    special = [c for c in prot if c in pc and pc[c].special_category]
    summary = (
        "No protected attribute is a direct model input (proxies are examined in the "
        "transparency section)."
    )
    if prot:
        summary = f"The model uses protected attribute(s) {', '.join(prot)} directly."
    if special:
        kinds = "; ".join(f"{c}: {', '.join(pc[c].special_kinds) or 'special category'}"
                          for c in special)
        summary += f" Of these, GDPR Art. 9(1) special-category data: {kinds}."
    return PROTECTED_FEATURES.judge(
        _LedByArt9(ctx) if special else ctx, problem=bool(prot), summary=summary,
        metrics={"protected_features": len(prot), "special_category_features": len(special)},
    )


SPEC = register_check(CheckSpec(
    "dataset", "Dataset profile", DatasetOptions, run, order=0,
    regulations=get_catalogue().on_topics(TOPICS),
    description="Rows, columns and roles; completeness; identifiers and protected "
    "attributes used as model inputs.",
    data_needs="counts",
))
