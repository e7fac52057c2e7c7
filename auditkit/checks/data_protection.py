"""The data-protection check: personal-data inventory, masking policy, re-identification risk.

Findings
--------
- ``data_protection.inventory``: which columns hold personal data, of which categories
  (identifier, quasi-identifier, special category, CCPA sensitive, protected attribute) and
  types; names and counts only, never values. It reads the audit's one classification
  (:class:`auditkit._personal.PersonalDataClassification`), so its count is the scope's and the
  security check's. Always ``pass``: it is the scope statement (GDPR Art. 4(1), CCPA
  §1798.140(v)).
- ``data_protection.special_categories``: ``warn`` when columns of GDPR Art. 9(1) special
  categories (racial or ethnic origin, health, religion, ...: not sex, age or marital status)
  or CCPA sensitive personal information (government ids, card numbers, credentials, precise
  geolocation, origin, health, ...) are present.
- ``data_protection.minimisation``: ``warn`` when direct identifiers are present and no
  masking policy treats them (GDPR Art. 5(1)(c), Art. 25(1)); ``pass`` when the policy leaves
  none untreated.
- ``data_protection.pseudonymisation``: when the policy pseudonymises or tokenises columns, the
  reminder that the result is still personal data and the key must be held apart (GDPR
  Art. 4(5), Recital 26; CCPA §1798.140(aa)).
- ``data_protection.k_anonymity``: k-anonymity, distinct l-diversity and unique records on the
  quasi-identifiers, before and after the policy, with a generalisation that reaches the
  target k when it is not met (GDPR Recital 26; CCPA §1798.140(m)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditkit.checks._findings import FindingSpec, rounded
from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.reports import Finding, Severity, Status, Table
from auditkit.reports.catalogue import get_catalogue

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext
    from auditkit._personal import PersonalDataClassification

#: The topics this check cites provisions on (in the audit's scope: ``ctx.cite``).
TOPICS = ("personal-data", "special-category", "data-minimisation", "de-identification")

INVENTORY = FindingSpec(
    "data_protection.inventory", "Personal data held in the dataset",
    topics=("personal-data",), severity=Severity.INFO,
)
SPECIAL = FindingSpec(
    "data_protection.special_categories", "Special categories and sensitive personal information",
    topics=("special-category",), severity=Severity.HIGH, problem_status=Status.WARN,
    remediation="Record the Art. 9(2) exception that allows processing these columns, or drop "
    "them; mask or tokenise sensitive identifiers before the data reaches training.",
)
MINIMISATION = FindingSpec(
    "data_protection.minimisation", "Data minimisation of direct identifiers",
    topics=("data-minimisation",), severity=Severity.MEDIUM, pass_severity=Severity.INFO,
    problem_status=Status.WARN,
    remediation="Write a masking policy (docs/masking.md) that drops, redacts, generalises or "
    "pseudonymises these columns before training, and name it in [checks.data_protection].",
)
PSEUDONYMISATION = FindingSpec(
    "data_protection.pseudonymisation", "Pseudonymised columns remain personal data",
    topics=("de-identification",), severity=Severity.INFO,
)
K_ANONYMITY = FindingSpec(
    "data_protection.k_anonymity", "Re-identification risk on quasi-identifiers",
    topics=("de-identification",), severity=Severity.MEDIUM, pass_severity=Severity.INFO,
    problem_status=Status.WARN,
)


class DataProtectionOptions(CheckOptions):
    """``[checks.data_protection]`` in ``audit.toml``.

    Attributes
    ----------
    policy:
        Masking policy (TOML) to apply in memory and assess; relative to ``audit.toml``.
    quasi_identifiers:
        Columns an attacker could link on (ZIP, date of birth, sex, ...). Default: the policy's
        ``[risk]`` list, else the quasi-identifiers the scan finds.
    sensitive:
        Sensitive column for distinct l-diversity.
    k, l:
        Targets for k-anonymity and l-diversity.
    sample_rows:
        Rows the PII scan reads.
    """

    policy: str | None = None
    quasi_identifiers: list[str] | None = None
    sensitive: str | None = None
    k: int = 5
    l: int = 2  # noqa: E741
    sample_rows: int = 20_000


def _risk_rows(label: str, r: Any) -> list[Any]:
    return [label, r.k_achieved, r.n_classes, r.records_below_k, rounded(r.share_below_k),
            r.unique_records, r.l_achieved if r.l_achieved is not None else "-"]


def _classification(ctx: AuditContext, options: DataProtectionOptions) -> PersonalDataClassification:
    """The audit's one classification; a context built without a scan gets one here (and
    keeps it, so that later checks read the same)."""
    from auditkit._personal import PersonalDataClassification
    from auditkit.privacy.masking import scan

    pc = ctx.personal_data
    if pc.inventory is None and len(ctx.data) and len(ctx.data.columns):
        with ctx.step("Scanning for personal data"):
            inv = scan(ctx.data, sample_rows=options.sample_rows, seed=ctx.random_state)
        declared = {*ctx.config.data.personal, *pc.identifying_columns}
        pc = PersonalDataClassification.from_inventory(
            inv, declared=declared, protected=ctx.protected,
            columns=[str(c) for c in ctx.data.columns])
        ctx.personal_data = pc
    return pc


def _inventory_finding(ctx: AuditContext, pc: PersonalDataClassification) -> Finding:
    inv = pc.inventory
    scanned = (f"PII scan of {inv.n_scanned:,} of {inv.n_rows:,} rows" if inv is not None
               else "No PII scan")
    if inv is not None and ctx.scale is not None and ctx.scale.sampled:
        scanned += (f" of a uniform sample of the data ({ctx.scale.sample_rows:,} of "
                    f"{ctx.scale.n_rows:,} rows, seed {ctx.scale.seed})")
    table = Table(
        "Personal data inventory", list(pc.ROW_HEADERS), pc.to_rows(),
        note=f"{scanned}, with the columns declared in [data] personal and the protected "
        "attributes. Names, categories and types only; no value of any column is shown.",
    )
    counts = pc.counts()
    n = counts["personal_columns"]
    entities: dict[str, int] = {}
    for c in pc:
        for e in c.entities:
            entities[e] = entities.get(e, 0) + 1
    return INVENTORY.make(
        ctx, Status.PASS,
        f"{n} of {len(pc)} columns hold personal data: "
        f"{counts['identifier_columns']} with direct identifiers, credentials or financial "
        f"data, {counts['quasi_identifier_columns']} quasi-identifier(s), "
        f"{counts['special_category_columns']} special-category column(s), "
        f"{counts['protected_attribute_columns']} protected attribute(s).",
        metrics={**counts, **{f"entity.{e}": k for e, k in sorted(entities.items())}},
        tables=(table,),
    )


def _special_finding(ctx: AuditContext, pc: PersonalDataClassification) -> Finding:
    special = [f"{c} ({', '.join(pc[c].special_kinds) or 'special category'})"
               for c in pc.special_category_columns]
    sensitive_pi = list(pc.ccpa_sensitive_columns)
    not_art9 = [c for c in pc.protected_columns if c not in pc.special_category_columns]
    summary = (
        (f"Special-category data (GDPR Art. 9(1)) in: {', '.join(special)}. " if special else "")
        + (f"CCPA sensitive personal information in: {', '.join(sensitive_pi)}. "
           if sensitive_pi else "")
    ).strip() or "No special-category or sensitive personal information was detected."
    if not_art9:
        summary += (f" Protected attribute(s) {', '.join(not_art9)} are personal data but not "
                    "an Art. 9 special category.")
    # Art. 9 data is the graver problem; CCPA sensitive information alone is a medium one.
    severity = Severity.HIGH if special else Severity.MEDIUM if sensitive_pi else Severity.INFO
    return SPECIAL.judge(
        ctx, problem=bool(special or sensitive_pi), summary=summary, severity=severity,
        metrics={"special_category_columns": len(special),
                 "sensitive_pi_columns": len(sensitive_pi)},
    )


def _apply_policy(
    ctx: AuditContext, options: DataProtectionOptions, pc: PersonalDataClassification
) -> tuple[Any, Any, list[Table]]:
    """The masking policy applied in memory (with the audit's classification deciding which
    columns ``unlisted`` covers), and the tables of what changed and what stayed in clear."""
    from auditkit.privacy.masking import load_policy, mask

    if not options.policy:
        return None, None, []
    policy = load_policy(ctx.resolve(options.policy))
    if ctx.scale is not None:  # applied partition by partition in the streaming pass
        from auditkit.privacy.masking import MaskResult

        if ctx.scale.mask_error is not None:
            raise ctx.scale.mask_error

        result = MaskResult(frame=None, summary=ctx.scale.mask_summary)  # type: ignore[arg-type]
    else:
        with ctx.step("Applying the masking policy"):
            result = mask(ctx.data, policy, inventory=pc.inventory, personal=pc.personal_columns)
    tables = [
        Table("What the masking policy changed", list(result.summary.ROW_HEADERS),
              result.summary.to_rows(),
              note=f"Policy {options.policy}; counts of cells and spans changed, never values."),
        Table("What the masking policy left in clear", list(result.summary.IN_CLEAR_HEADERS),
              result.summary.in_clear_rows(),
              note=f'Policy {options.policy} (unlisted = "{policy.unlisted}"); column names '
              "only."),
    ]
    return policy, result, tables


def _minimisation_finding(
    ctx: AuditContext, pc: PersonalDataClassification, result: Any
) -> Finding:
    identifiers = list(pc.identifier_columns)
    if result is None:
        untreated = identifiers
    else:
        treated = {c.column for c in result.summary.changes if c.operator != "keep"}
        untreated = [c for c in identifiers if c not in treated]
    return MINIMISATION.judge(
        ctx, problem=bool(untreated),
        summary=(
            (f"{len(untreated)} column(s) with direct identifiers are not treated by "
             + ("the masking policy" if result is not None else "any masking policy")
             + f": {', '.join(untreated)}.")
            if untreated else
            f"The masking policy treats every direct-identifier column ({len(identifiers)})."
        ),
        metrics={"identifier_columns": len(identifiers), "untreated": len(untreated),
                 "policy_applied": result is not None},
    )


def _pseudonymisation_finding(ctx: AuditContext, result: Any) -> Finding | None:
    keyed = [c.column for c in result.summary.changes if c.operator in ("pseudonymize", "tokenize")]
    if not keyed:
        return None
    return PSEUDONYMISATION.make(
        ctx, Status.PASS,
        f"{len(keyed)} column(s) are pseudonymised with keyed HMAC or AES-SIV tokens "
        f"({', '.join(keyed)}). Whoever holds the key ring can re-link them: keep it apart from "
        "the data; the output is pseudonymised, not anonymous.",
        metrics={"pseudonymised_columns": len(keyed)},
    )


def _risk_reports(
    ctx: AuditContext, options: DataProtectionOptions, qi: list[str], sensitive: str | None,
    result: Any,
) -> tuple[Any, Any, Any]:
    """k-anonymity before and after masking, and a generalisation when the target is missed."""
    from auditkit.privacy.masking import risk_report, suggest_generalisation

    df = ctx.data
    if ctx.scale is not None:
        return _scaled_risk(ctx, options, qi, sensitive)
    with ctx.step("Measuring re-identification risk"):
        before = risk_report(df, qi, k=options.k, sensitive=sensitive, l=options.l)
        after = None
        if result is not None:
            qa = [c for c in qi if c in result.frame.columns]
            sa = sensitive if sensitive in result.frame.columns else None
            after = risk_report(result.frame, qa, k=options.k, sensitive=sa, l=options.l)
        suggestion = None
        if (after or before).k_achieved < options.k:
            suggestion = suggest_generalisation(df, qi, options.k, sensitive=sensitive,
                                                seed=ctx.random_state)
    return before, after, suggestion


def _scaled_risk(
    ctx: AuditContext, options: DataProtectionOptions, qi: list[str], sensitive: str | None
) -> tuple[Any, Any, Any]:
    """k-anonymity of every row, counted in the streaming pass; the generalisation search runs
    on the sample (a class of the sample is part of a class of the data, so each class it
    holds is at least as large in the data; classes it does not hold are not seen)."""
    from auditkit.errors import DataError
    from auditkit.privacy.masking import suggest_generalisation

    view = ctx.scale
    if view.risk_columns != (tuple(qi), sensitive):
        raise DataError(
            "The streaming pass counted equivalence classes on other columns than this check "
            "measures; this is a defect: run with --debug and report it."
        )
    before, after = view.risk["before"], view.risk.get("after")
    suggestion = None
    if (after or before).k_achieved < options.k:
        with ctx.step("Searching a generalisation on the sample"):
            suggestion = suggest_generalisation(ctx.data, qi, options.k, sensitive=sensitive,
                                                seed=ctx.random_state)
    return before, after, suggestion


def _k_anonymity_finding(
    ctx: AuditContext, options: DataProtectionOptions, qi: list[str], sensitive: str | None,
    result: Any,
) -> Finding:
    before, after, suggestion = _risk_reports(ctx, options, qi, sensitive, result)
    final = after or before
    rows = [_risk_rows("before masking", before)]
    if after is not None:
        rows.append(_risk_rows("after masking", after))
    risk_table = Table(
        f"k-anonymity on {', '.join(qi)}",
        ["data", "k achieved", "classes", "records below k", "share below k",
         "unique records", "distinct l"],
        rows,
        note=f"Target k = {options.k}" + (f", l = {options.l} on '{sensitive}'" if sensitive
                                           else "") + ".",
    )
    ok = final.k_achieved >= options.k and (
        final.l_achieved is None or final.l_achieved >= options.l)
    summary = (
        f"Before masking the smallest class on ({', '.join(qi)}) has {before.k_achieved} "
        f"record(s); {before.records_below_k:,} records ({before.share_below_k:.1%}) are in "
        f"classes below k = {options.k}."
    )
    if after is not None:
        summary += (f" After the policy: k = {after.k_achieved}, {after.records_below_k:,} "
                    f"records below k.")
    remediation = None
    if suggestion is not None:
        remediation = (
            ("Generalising " if suggestion.reached else "Even generalising ")
            + "; ".join(suggestion.steps)
            + f" gives k = {suggestion.after.k_achieved}"
            + (" (target reached)." if suggestion.reached else " (target not reached; drop "
               "quasi-identifiers or suppress records).")
        )
        if ctx.scale is not None and ctx.scale.sampled:
            remediation += (f" The generalisation was searched on a uniform sample of "
                            f"{ctx.scale.sample_rows:,} of {ctx.scale.n_rows:,} rows (seed "
                            f"{ctx.scale.seed}): each class the sample holds has at least that "
                            "many records in all, but a class with no record in the sample was "
                            "not seen; measure k again on the generalised data.")
    metrics: dict[str, Any] = {
        "k_target": options.k, "k_before": before.k_achieved,
        "records_below_k_before": before.records_below_k,
        "unique_records_before": before.unique_records,
    }
    if after is not None:
        metrics.update(k_after=after.k_achieved, records_below_k_after=after.records_below_k,
                       unique_records_after=after.unique_records)
    if before.l_achieved is not None:
        metrics["l_before"] = before.l_achieved
    if after is not None and after.l_achieved is not None:
        metrics["l_after"] = after.l_achieved
    return K_ANONYMITY.judge(
        ctx, problem=not ok, summary=summary, metrics=metrics, tables=(risk_table,),
        remediation=remediation,
    )


def run(ctx: AuditContext, options: DataProtectionOptions) -> CheckResult:
    pc = _classification(ctx, options)
    findings: list[Finding] = [_inventory_finding(ctx, pc), _special_finding(ctx, pc)]
    policy, result, tables = _apply_policy(ctx, options, pc)
    findings.append(_minimisation_finding(ctx, pc, result))
    if result is not None:
        keyed = _pseudonymisation_finding(ctx, result)
        if keyed is not None:
            findings.append(keyed)

    df = ctx.data
    qi = list(options.quasi_identifiers or (policy.quasi_identifiers if policy else ()) or
              pc.quasi_identifiers)
    qi = [c for c in qi if c in df.columns]
    sensitive = options.sensitive or (policy.sensitive if policy else None)
    if sensitive is not None and sensitive not in df.columns:
        sensitive = None
    if qi:
        findings.append(_k_anonymity_finding(ctx, options, qi, sensitive, result))

    n_personal = len(pc.personal_columns)
    return CheckResult(
        findings=findings,
        summary=f"{n_personal} personal-data column(s); "
        + ("masking policy applied" if result is not None else "no masking policy configured")
        + (f"; k-anonymity measured on {len(qi)} quasi-identifier(s)." if qi else "."),
        tables=tables,
    )


SPEC = register_check(CheckSpec(
    "data_protection", "Personal data, masking and re-identification risk",
    DataProtectionOptions, run, order=10,
    regulations=get_catalogue().on_topics(TOPICS),
    description="PII discovery (inventory, counts only), the masking policy's effect, and "
    "k-anonymity / l-diversity before and after masking.",
    data_needs="counts",
))
