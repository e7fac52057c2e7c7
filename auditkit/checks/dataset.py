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

from typing import TYPE_CHECKING

from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.reports import Finding, Severity, Status, Table
from auditkit.reports.catalogue import get_catalogue

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext


#: The topics this check cites provisions on (in the audit's scope: ``ctx.cite``).
TOPICS = ("records", "group-coverage", "data-minimisation", "special-category",
          "outcome-disparity")


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


def run(ctx: AuditContext, options: DatasetOptions) -> CheckResult:
    df = ctx.data
    n_rows, n_cols = df.shape
    roles = _roles(ctx)
    n_personal = len(ctx.personal_data.personal_columns)
    missing = df.isna().sum()
    dtypes = df.dtypes.astype(str)

    columns_table = Table(
        "Columns and their roles",
        ["column", "type", "roles", "missing", "missing share", "distinct values"],
        [
            [
                str(col),
                dtypes[col],
                ", ".join(roles.get(str(col), [])) or "-",
                int(missing[col]),
                round(float(missing[col]) / n_rows, 4),
                # Distinct counts are aggregate; for personal columns they reveal no value.
                int(df[col].nunique(dropna=True)),
            ]
            for col in df.columns
        ],
        note="Counts only; no values of personal-data columns are shown anywhere in this report.",
    )
    findings: list[Finding] = [
        Finding(
            check_id="dataset.profile",
            title="Scope: the dataset audited",
            status=Status.PASS,
            severity=Severity.INFO,
            summary=(
                f"{n_rows:,} rows and {n_cols} columns; {n_personal} column(s) hold "
                f"personal data, {len(ctx.protected)} protected attribute(s), "
                f"{len(ctx.features)} model feature(s)."
            ),
            metrics={
                "rows": n_rows,
                "columns": n_cols,
                "personal_columns": n_personal,
                "protected_attributes": len(ctx.protected),
                "model_features": len(ctx.features),
            },
            tables=(columns_table,),
            regulations=ctx.cite("records"),
        )
    ]

    role_cols = [c for c in df.columns
                 if any(r != "personal data" for r in roles.get(str(c), ()))]
    high = [(str(c), float(missing[c]) / n_rows) for c in role_cols if missing[c] / n_rows > options.max_missing_share]
    findings.append(
        Finding(
            check_id="dataset.missing_values",
            title="Completeness of the columns the audit relies on",
            status=Status.WARN if high else Status.PASS,
            severity=Severity.MEDIUM if high else Severity.INFO,
            summary=(
                f"{len(high)} column(s) miss more than {options.max_missing_share:.0%} of values: "
                + ", ".join(f"{c} ({s:.1%})" for c, s in high)
                if high
                else f"Every label, prediction, protected and feature column is at least "
                f"{1 - options.max_missing_share:.0%} complete."
            ),
            metrics={"columns_over_limit": len(high), "limit": options.max_missing_share},
            regulations=ctx.cite("group-coverage"),
            remediation="Find out why values are missing and whether the gaps fall on some groups "
            "more than others before relying on group metrics." if high else None,
        )
    )

    if ctx.protected:
        gaps = [(c, int(missing[c])) for c in ctx.protected if missing[c] > 0]
        findings.append(
            Finding(
                check_id="dataset.protected_missing",
                title="Missing values in protected attributes",
                status=Status.WARN if gaps else Status.PASS,
                severity=Severity.LOW,
                summary=(
                    "Missing values in " + ", ".join(f"{c} ({n:,} rows)" for c, n in gaps)
                    + " are kept as their own group in the fairness analysis, not dropped."
                    if gaps
                    else "Every protected attribute is recorded for every row."
                ),
                metrics={f"missing.{c}": n for c, n in gaps},
                regulations=ctx.cite("group-coverage"),
            )
        )

    if ctx.label is not None:
        y = df[ctx.label]
        shares = y.value_counts(normalize=True, dropna=False)
        rare = float(shares.min()) if len(shares) else 0.0
        findings.append(
            Finding(
                check_id="dataset.label_balance",
                title="Balance of the label",
                status=Status.WARN if rare < options.min_class_share or len(shares) < 2 else Status.PASS,
                severity=Severity.LOW,
                summary=f"{len(shares)} label value(s); the rarest makes up {rare:.1%} of rows.",
                metrics={"classes": len(shares), "rarest_share": rare},
                tables=(Table("Label distribution", ["label", "rows", "share"],
                              [[str(k), int(round(v * n_rows)), round(float(v), 4)] for k, v in shares.items()]),),
                regulations=ctx.cite("group-coverage"),
            )
        )

    if ctx.features:
        ids = sorted(set(ctx.features) & ctx.personal_data.identifying_columns)
        findings.append(
            Finding(
                check_id="dataset.identifiers_in_features",
                title="Direct identifiers among the model's inputs",
                status=Status.FAIL if ids else Status.PASS,
                severity=Severity.HIGH,
                summary=(
                    f"The model takes column(s) {', '.join(ids)}, whose values identify people, "
                    "as input."
                    if ids
                    else "None of the model's inputs holds identifying personal data (names, "
                    "ids, contacts, ZIP codes, dates of birth, columns declared personal)."
                ),
                metrics={"identifier_features": len(ids)},
                regulations=ctx.cite("data-minimisation"),
                remediation="Drop, generalise or pseudonymise these columns before training "
                "(see 'auditkit mask')." if ids else None,
            )
        )
        findings.append(_protected_in_features(ctx))

    return CheckResult(
        findings=findings,
        summary=f"The audit covers {n_rows:,} records with {n_cols} columns.",
    )


def _protected_in_features(ctx: AuditContext) -> Finding:
    """Protected attributes used as model inputs; Art. 9 only for the special categories."""
    pc = ctx.personal_data
    prot = sorted(set(ctx.features) & set(ctx.protected))
    special = [c for c in prot if c in pc and pc[c].special_category]
    regulations = ctx.cite("outcome-disparity")
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
        art9 = {"gdpr-art-9-1", "gdpr-art-22-4"}
        regulations = (*(r for r in ctx.cite("special-category") if r in art9), *regulations)
    return Finding(
        check_id="dataset.protected_in_features",
        title="Protected attributes among the model's inputs",
        status=Status.WARN if prot else Status.PASS,
        severity=Severity.MEDIUM,
        summary=summary,
        metrics={"protected_features": len(prot), "special_category_features": len(special)},
        regulations=regulations,
        remediation="Document the legal basis for using them (for special-category data, the "
        "Art. 9(2) exception), or remove them and check for proxies." if prot else None,
    )


SPEC = register_check(
    CheckSpec(
        id="dataset",
        section="dataset",
        section_title="Scope and data",
        title="Dataset profile",
        options=DatasetOptions,
        run=run,
        regulations=get_catalogue().on_topics(TOPICS),
        order=0,
        description="Rows, columns and roles; completeness; identifiers and protected "
        "attributes used as model inputs.",
    )
)
