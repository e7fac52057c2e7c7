"""The data-protection check: personal-data inventory, masking policy, re-identification risk.

Findings
--------
- ``data_protection.inventory``: which columns hold personal data, of which types (counts and
  shares only, never values). Always ``pass``: it is the scope statement (GDPR Art. 4(1),
  CCPA §1798.140(v)).
- ``data_protection.special_categories``: ``warn`` when columns of GDPR Art. 9 special
  categories (health, ethnic origin, religion, ...) or CCPA sensitive personal information
  (government ids, card numbers, credentials, precise geolocation) are present.
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

from auditkit.checks._registry import CheckOptions, CheckResult, CheckSpec, register_check
from auditkit.reports import Finding, Severity, Status, Table

if TYPE_CHECKING:  # pragma: no cover
    from auditkit._context import AuditContext

REGULATIONS = (
    "gdpr-art-4-1", "gdpr-art-4-5", "gdpr-art-5-1-c", "gdpr-art-9-1", "gdpr-art-25-1",
    "gdpr-recital-26", "ccpa-1798-140-m", "ccpa-1798-140-v", "ccpa-1798-140-aa",
    "ccpa-1798-140-ae",
)

# Entity types that are CCPA "sensitive personal information" (§1798.140(ae)).
_CCPA_SENSITIVE = {
    "US_SSN", "NATIONAL_ID", "CREDIT_CARD", "CARD_SECURITY_CODE", "IBAN_CODE", "PASSWORD",
    "USERNAME", "GEO_COORDINATE",
}


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


def _inventory_table(inv: Any, declared: frozenset[str]) -> Table:
    rows = [
        r for r in inv.to_rows()
        if r[0] in set(inv.personal_columns) or r[0] in declared
    ]
    return Table(
        "Personal data inventory",
        ["column", "entity", "share", "confidence", "free text", "embedded entities", "category"],
        rows,
        note=f"PII scan of {inv.n_scanned:,} of {inv.n_rows:,} rows. Shares and counts only; no "
        "value of any column is shown.",
    )


def _risk_rows(label: str, r: Any) -> list[Any]:
    return [label, r.k_achieved, r.n_classes, r.records_below_k, round(r.share_below_k, 4),
            r.unique_records, r.l_achieved if r.l_achieved is not None else "-"]


def run(ctx: AuditContext, options: DataProtectionOptions) -> CheckResult:
    from auditkit.privacy.masking import (
        load_policy,
        mask,
        risk_report,
        scan,
        suggest_generalisation,
    )

    df = ctx.data
    with ctx.step("Scanning for personal data"):
        inv = scan(df, sample_rows=options.sample_rows, seed=ctx.random_state)
    declared = frozenset(ctx.config.data.personal) if hasattr(ctx.config, "data") else frozenset()
    findings: list[Finding] = []
    tables: list[Table] = []
    inv_table = _inventory_table(inv, declared)
    counts = inv.entity_counts()
    findings.append(Finding(
        check_id="data_protection.inventory",
        title="Personal data held in the dataset",
        status=Status.PASS,
        severity=Severity.INFO,
        summary=(
            f"{len(inv.personal_columns)} of {len(inv)} columns hold personal data: "
            f"{len(inv.identifier_columns)} with direct identifiers, credentials or financial "
            f"data, {len(inv.quasi_identifiers)} quasi-identifier(s), "
            f"{len(inv.special_category_columns)} special-category column(s)."
        ),
        metrics={"personal_columns": len(inv.personal_columns),
                 "identifier_columns": len(inv.identifier_columns),
                 "quasi_identifiers": len(inv.quasi_identifiers),
                 "special_category_columns": len(inv.special_category_columns),
                 **{f"entity.{e}": n for e, n in counts.items()}},
        tables=(inv_table,),
        regulations=("gdpr-art-4-1", "ccpa-1798-140-v"),
    ))

    special = list(inv.special_category_columns)
    sensitive_pi = [c.column for c in inv if set(c.entities) & _CCPA_SENSITIVE]
    findings.append(Finding(
        check_id="data_protection.special_categories",
        title="Special categories and sensitive personal information",
        status=Status.WARN if (special or sensitive_pi) else Status.PASS,
        severity=Severity.HIGH if special else (Severity.MEDIUM if sensitive_pi else Severity.INFO),
        summary=(
            (f"Special-category data (GDPR Art. 9) in: {', '.join(special)}. " if special else "")
            + (f"CCPA sensitive personal information in: {', '.join(sensitive_pi)}."
               if sensitive_pi else "")
        ).strip() or "No special-category or sensitive personal information was detected.",
        metrics={"special_category_columns": len(special),
                 "sensitive_pi_columns": len(sensitive_pi)},
        regulations=("gdpr-art-9-1", "ccpa-1798-140-ae"),
        remediation=(
            "Record the Art. 9(2) exception that allows processing these columns, or drop them; "
            "mask or tokenise sensitive identifiers before the data reaches training."
        ) if (special or sensitive_pi) else None,
    ))

    policy = None
    result = None
    if options.policy:
        policy = load_policy(ctx.resolve(options.policy))
        with ctx.step("Applying the masking policy"):
            result = mask(df, policy, inventory=inv)
        tables.append(Table(
            "What the masking policy changed",
            list(result.summary.ROW_HEADERS),
            result.summary.to_rows(),
            note=f"Policy {options.policy}; counts of cells and spans changed, never values.",
        ))

    identifiers = list(inv.identifier_columns)
    if result is None:
        untreated = identifiers
    else:
        treated = {c.column for c in result.summary.changes if c.operator != "keep"}
        untreated = [c for c in identifiers if c not in treated]
    findings.append(Finding(
        check_id="data_protection.minimisation",
        title="Data minimisation of direct identifiers",
        status=Status.WARN if untreated else Status.PASS,
        severity=Severity.MEDIUM if untreated else Severity.INFO,
        summary=(
            (f"{len(untreated)} column(s) with direct identifiers are not treated by "
             + ("the masking policy" if result is not None else "any masking policy")
             + f": {', '.join(untreated)}.")
            if untreated else
            f"The masking policy treats every direct-identifier column ({len(identifiers)})."
        ),
        metrics={"identifier_columns": len(identifiers), "untreated": len(untreated),
                 "policy_applied": result is not None},
        regulations=("gdpr-art-5-1-c", "gdpr-art-25-1"),
        remediation=(
            "Write a masking policy (docs/masking.md) that drops, redacts, generalises or "
            "pseudonymises these columns before training, and name it in [checks.data_protection]."
        ) if untreated else None,
    ))

    if result is not None:
        keyed = [c.column for c in result.summary.changes if c.operator in ("pseudonymize", "tokenize")]
        if keyed:
            findings.append(Finding(
                check_id="data_protection.pseudonymisation",
                title="Pseudonymised columns remain personal data",
                status=Status.PASS,
                severity=Severity.INFO,
                summary=(
                    f"{len(keyed)} column(s) are pseudonymised with keyed HMAC or AES-SIV tokens "
                    f"({', '.join(keyed)}). Whoever holds the key ring can re-link them: keep it "
                    "apart from the data; the output is pseudonymised, not anonymous."
                ),
                metrics={"pseudonymised_columns": len(keyed)},
                regulations=("gdpr-art-4-5", "gdpr-recital-26", "ccpa-1798-140-aa"),
            ))

    qi = list(options.quasi_identifiers or (policy.quasi_identifiers if policy else ()) or
              inv.quasi_identifiers)
    qi = [c for c in qi if c in df.columns]
    sensitive = options.sensitive or (policy.sensitive if policy else None)
    if sensitive is not None and sensitive not in df.columns:
        sensitive = None
    if qi:
        with ctx.step("Measuring re-identification risk"):
            before = risk_report(df, qi, k=options.k, sensitive=sensitive, l=options.l)
            after = None
            if result is not None:
                qa = [c for c in qi if c in result.frame.columns]
                sa = sensitive if sensitive in result.frame.columns else None
                after = risk_report(result.frame, qa, k=options.k, sensitive=sa, l=options.l)
            final = after or before
            suggestion = None
            if final.k_achieved < options.k:
                suggestion = suggest_generalisation(df, qi, options.k, sensitive=sensitive,
                                                    seed=ctx.random_state)
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
        findings.append(Finding(
            check_id="data_protection.k_anonymity",
            title="Re-identification risk on quasi-identifiers",
            status=Status.PASS if ok else Status.WARN,
            severity=Severity.INFO if ok else Severity.MEDIUM,
            summary=summary,
            metrics={
                "k_target": options.k, "k_before": before.k_achieved,
                "records_below_k_before": before.records_below_k,
                "unique_records_before": before.unique_records,
                **({"k_after": after.k_achieved, "records_below_k_after": after.records_below_k,
                    "unique_records_after": after.unique_records} if after else {}),
                **({"l_before": before.l_achieved} if before.l_achieved is not None else {}),
                **({"l_after": after.l_achieved} if after and after.l_achieved is not None
                   else {}),
            },
            tables=(risk_table,),
            regulations=("gdpr-recital-26", "ccpa-1798-140-m"),
            remediation=remediation,
        ))

    n_personal = len(inv.personal_columns)
    return CheckResult(
        findings=findings,
        summary=f"{n_personal} personal-data column(s); "
        + ("masking policy applied" if result is not None else "no masking policy configured")
        + (f"; k-anonymity measured on {len(qi)} quasi-identifier(s)." if qi else "."),
        tables=tables,
    )


def demo(demo_ctx: Any) -> dict[str, Any]:
    """Write a masking policy for the demo's personal columns; return the check's options."""
    from auditkit.atomic import atomic_write_text
    from auditkit.privacy.masking import Policy, Rule

    personal = set(getattr(demo_ctx, "personal", []) or [])
    wanted = [
        Rule.of("name", "replace"),
        Rule.of("email", "replace"),
        Rule.of("phone", "mask", keep_last=2),
        Rule.of("ssn", "drop"),
        Rule.of("card_number", "mask", keep_last=4),
        Rule.of("street_address", "drop"),
        Rule.of("zip", "generalise", to="prefix", keep=3),
        Rule.of("date_of_birth", "generalise", to="year"),
    ]
    cols = set(demo_ctx.data.columns)
    rules = tuple(r for r in wanted if r.column in cols and (not personal or r.column in personal))
    qi = [c for c in ("zip", "date_of_birth", "sex") if c in cols]
    sensitive = "race" if "race" in cols else None
    policy = Policy(rules=rules, quasi_identifiers=tuple(qi), sensitive=sensitive, k=5)
    path = demo_ctx.out_dir / "masking_policy.toml"
    atomic_write_text(path, "# Masking policy written by 'auditkit demo' (docs/masking.md).\n"
                      + policy.to_toml())
    options: dict[str, Any] = {"policy": path.name, "quasi_identifiers": qi, "k": 5}
    if sensitive:
        options["sensitive"] = sensitive
    return options


register_check(CheckSpec(
    id="data_protection",
    section="data_protection",
    section_title="Data protection",
    title="Personal data, masking and re-identification risk",
    options=DataProtectionOptions,
    run=run,
    regulations=REGULATIONS,
    demo=demo,
    order=10,
    description="PII discovery (inventory, counts only), the masking policy's effect, and "
    "k-anonymity / l-diversity before and after masking.",
))
