"""``auditkit ledger list LEDGER`` and ``auditkit ledger settle LEDGER RUN_ID --reason TEXT``.

``list`` shows the runs of a differential-privacy budget ledger (``docs/dp.md``): run id, status
(``running``, ``finished`` with how, or ``settled``), ε, steps taken and planned, dates, and the
ledger's total ε. ``settle`` closes a run left ``running`` (a script that called
``make_private`` and never trained, or died for good): it records, as a new entry of the ledger,
the steps the run actually took (``--steps``, default the steps it recorded: 0 if it never
trained) and the reason; the run record itself is kept as it is. From then on the run counts
at its settled steps.

An authenticated ledger (one that carries a MAC) is verified with ``--keyring`` (its
passphrase, or key-encryption key, in ``--passphrase-env``) and can only be settled with it.
Nothing here prints key material. Exit status 0, or 2 for a bad input: no such ledger, an
unknown run id, a run already finished or settled, a ledger that does not verify.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditkit.commands._keyring import DEFAULT_PASSPHRASE_ENV

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.privacy.dp import BudgetLedger

LedgerArg = Annotated[
    Path,
    typer.Argument(help="The ledger file (<ledger dir>/<dataset id>.json).", show_default=False),
]
KeyringOpt = Annotated[
    Path | None,
    typer.Option("--keyring", "-k", help="Key ring of an authenticated ledger: its MAC is "
                 "verified, and a settlement is MACed under it.", show_default=False),
]
PassEnvOpt = Annotated[
    str,
    typer.Option("--passphrase-env", help="Environment variable holding the key ring's "
                 "passphrase (or key-encryption key); asked for when unset."),
]


def _open(path: Path, keyring: Path | None, passphrase_env: str) -> BudgetLedger:
    """The ledger at ``path``, verified under ``keyring`` when one is given."""
    from auditkit.privacy.dp import BudgetLedger
    from auditkit.privacy.errors import PrivacyInputError

    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.json"))
        raise PrivacyInputError(
            f"LEDGER must be a ledger file; '{path}' is a directory"
            + (f" holding {', '.join(found)}" if found else " with no ledger in it")
            + ". Name one file, e.g. auditkit ledger list "
            + (f"{path / found[0]}." if found else "budgets/<dataset id>.json.")
        )
    if not path.is_file():
        raise PrivacyInputError(
            f"No budget ledger at '{path}'. Give the ledger file make_private(ledger=...) "
            "wrote: <ledger dir>/<dataset id>.json."
        )
    ring = None
    if keyring is not None:
        from auditkit.commands._keyring import open_ring

        ring = open_ring(keyring, passphrase_env)
    return BudgetLedger.from_file(path, keyring=ring)


def _fmt_eps(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _run_rows(budget_ledger: BudgetLedger) -> list[list[str]]:
    rows = []
    for run in budget_ledger.runs():
        rec = run.record
        if run.status == "running":
            eps = budget_ledger.counted_epsilon(run)
            shown, status = f"{eps:.4g} (counted at planned steps)", "running"
        else:
            shown = _fmt_eps(run.epsilon)
            status = "settled" if run.status == "settled" else f"finished ({run.status})"
        ended = (run.settlement or {}).get("settled_at") or rec.get("finished_at") or "-"
        rows.append([run.run_id, status, shown, str(run.steps), str(run.planned_steps),
                     str(run.counted_steps), str(rec.get("started_at") or "-"), str(ended)])
    return rows


_HEADERS = ["run id", "status", "ε", "steps taken", "planned", "counted", "started",
            "finished / settled"]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS)]
    line = "  ".join(h.ljust(w) for h, w in zip(_HEADERS, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


def _auth_line(budget_ledger: BudgetLedger, data: dict[str, Any]) -> str:
    if budget_ledger.authenticated:
        return "authenticated: its MAC verified under the key ring"
    if "mac" in data:
        return "carries a MAC, not verified here (pass --keyring to verify it)"
    return "unauthenticated (no MAC): anyone who can write the file can change it"


def list_lines(budget_ledger: BudgetLedger) -> list[str]:
    """The text of ``auditkit ledger list`` (key material is never part of it)."""
    data = budget_ledger.load()
    if data is None:  # pragma: no cover - _open checked the file exists
        return [f"No budget ledger at {budget_ledger.path}."]
    summary = budget_ledger.summary()
    cap = summary["max_epsilon"]
    lines = [
        f"Budget ledger {budget_ledger.path}: dataset {summary['dataset_id']!r}, accountant "
        f"{summary['accountant']}, δ = {summary['delta']:.3g}, cap "
        + (f"ε = {cap:g}" if cap is not None else "none") + f"; {_auth_line(budget_ledger, data)}.",
        "",
    ]
    rows = _run_rows(budget_ledger)
    lines += _table(rows) if rows else ["No runs recorded."]
    lines.append("")
    lines.append(
        f"Total ε = {summary['epsilon_total']:.4g} over {summary['runs']} run(s) (composed, "
        "running runs at their planned steps, settled runs at their settled steps)"
        + (f"; {summary['epsilon_remaining']:.4g} of the cap remains." if cap is not None
           else ".")
    )
    for s in data.get("settlements", []):
        lines.append(
            f"Settled {s['run_id']} on {s['settled_at']} at {s['steps']} step(s) (had been "
            f"counted at {s['planned_steps']}): {s['reason']}"
        )
    return lines


def ledger_list(
    ledger: LedgerArg,
    keyring: KeyringOpt = None,
    passphrase_env: PassEnvOpt = DEFAULT_PASSPHRASE_ENV,
) -> int:
    """List the runs: id, status, ε, steps taken, planned and counted, dates; the total ε."""
    budget_ledger = _open(ledger, keyring, passphrase_env)
    for line in list_lines(budget_ledger):
        typer.echo(line)
    return 0


def ledger_settle(
    ledger: LedgerArg,
    run_id: Annotated[str, typer.Argument(help="The run to settle (see `ledger list`).",
                                          show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why the run is settled; "
                                        "recorded in the ledger.", show_default=False)],
    steps: Annotated[int | None, typer.Option(
        "--steps", min=0, help="Steps the run actually took (default: the steps it "
        "recorded; 0 if it never trained).", show_default=False)] = None,
    keyring: KeyringOpt = None,
    passphrase_env: PassEnvOpt = DEFAULT_PASSPHRASE_ENV,
) -> int:
    """Settle a run left 'running' at the steps it took; the run record is kept."""
    from auditkit.privacy.errors import PrivacyInputError

    budget_ledger = _open(ledger, keyring, passphrase_env)
    data = budget_ledger.load() or {}
    if "mac" in data and not budget_ledger.authenticated:
        raise PrivacyInputError(
            f"The budget ledger {budget_ledger.path} is authenticated (it carries a MAC): settle "
            "it with the key ring it was written with, --keyring PATH (its passphrase in "
            f"${passphrase_env})."
        )
    before = budget_ledger.total_epsilon()
    run = budget_ledger.settle(run_id, reason=reason, steps=steps)
    after = budget_ledger.total_epsilon()
    typer.echo(
        f"Settled run {run.run_id} at {run.counted_steps} step(s) (it had been counted at "
        f"{run.planned_steps}); its ε is {_fmt_eps(run.epsilon)}. The ledger's total ε went "
        f"from {before:.4g} to {after:.4g}. The run record is kept; the settlement is a new "
        "entry of the ledger."
    )
    return 0


def register(app: typer.Typer) -> None:
    """Add the ``ledger`` group (``list``, ``settle``) to ``app``."""
    ledger_app = typer.Typer(
        name="ledger",
        help="List the runs of a differential-privacy budget ledger and settle a run left "
        "running.",
        no_args_is_help=True,
    )
    app.add_typer(ledger_app, name="ledger")
    ledger_app.command("list")(ledger_list)
    ledger_app.command("settle")(ledger_settle)
