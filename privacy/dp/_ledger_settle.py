"""Settling a run the ledger still shows as ``running``.

A run is reserved at its planned steps before its first step and counted in full while it is
``running`` (crash safety: a dead process over-counts, never under-counts). A script that called
``make_private`` and never trained, or died and will not be resumed, leaves such a record for
good. Settling it records, beside the run and without touching it, the steps the run actually
took (by default the steps it recorded: 0 if it never trained) and why. From then on the run is
counted at its settled steps, and the ledger's ε drops to what was really spent.

A settlement is an entry of the ledger's ``settlements`` list (``docs/dp.md``, "The file
format"): ``run_id``, ``steps``, ``planned_steps`` (what the run was counted at before),
``epsilon`` (the run's ε at the settled steps), ``reason`` and ``settled_at``. The run record
is never deleted or rewritten; a run is settled at most once, only while ``running``, never
below the steps it recorded; a settled run can record no further step. The settlement is
written like every ledger write (locked, atomic, MACed under the ring of an authenticated
ledger), so it cannot be added, changed or removed without the ring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from auditkit.privacy.dp._ledger_format import MAX_STEPS, LedgerRun, check_field, invalid_ledger
from auditkit.privacy.errors import PrivacyInputError

__all__ = ["MAX_REASON_CHARS", "SETTLEMENTS", "settle_run", "settlements_by_run",
           "refuse_if_settled", "validate_settlements"]

#: The top-level member of a ledger holding its settlements.
SETTLEMENTS = "settlements"
#: The longest reason a settlement records.
MAX_REASON_CHARS = 1000
_FIELDS = ("run_id", "steps", "planned_steps", "epsilon", "reason", "settled_at")


def settlements_by_run(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{run_id: settlement}`` of a (validated) ledger document."""
    return {s["run_id"]: s for s in data.get(SETTLEMENTS, [])}


def refuse_if_settled(
    data: Mapping[str, Any], run_id: str, path: Any, *, settling: bool = False
) -> None:
    """Refuse to record progress on a settled run (its steps are closed), or to settle it again."""
    s = settlements_by_run(data).get(run_id)
    if s is None:
        return
    done = (f"Run {run_id!r} of the budget ledger {path} was settled at {s['steps']} step(s) "
            f"on {s['settled_at']} (`auditkit ledger settle`)")
    if settling:
        raise PrivacyInputError(f"{done}; a run is settled once. Its settlement stands.")
    raise PrivacyInputError(
        f"{done}, so it cannot record further steps. Start a new run (make_private without "
        "resume_from) to train again."
    )


def settle_run(
    data: dict[str, Any],
    run_id: str,
    *,
    steps: int | None,
    reason: str,
    now: str,
    path: Any,
    epsilon_of: Callable[[list[tuple[float, float, int]], float, str], float],
) -> dict[str, Any]:
    """Append the settlement of ``run_id`` to ``data`` and return it (``data`` is then written
    by the caller). ``epsilon_of(history, delta, accountant)`` computes the run's ε."""
    if not isinstance(reason, str) or not reason.strip():
        raise PrivacyInputError(
            "The reason of a settlement must say why the run is settled (e.g. 'the script "
            "called make_private and never trained'); got an empty reason."
        )
    if len(reason) > MAX_REASON_CHARS:
        raise PrivacyInputError(
            f"The reason of a settlement is at most {MAX_REASON_CHARS} characters; got "
            f"{len(reason)}. Shorten it."
        )
    rec = next((r for r in data["runs"] if r["run_id"] == run_id), None)
    if rec is None:
        known = ", ".join(r["run_id"] for r in data["runs"]) or "none"
        raise PrivacyInputError(
            f"Run {run_id!r} is not in the budget ledger {path}. Its runs: {known}. List them "
            "with `auditkit ledger list`."
        )
    refuse_if_settled(data, run_id, path, settling=True)
    if rec["status"] != "running":
        raise PrivacyInputError(
            f"Run {run_id!r} of the budget ledger {path} is {rec['status']!r}: it already "
            f"counts the {rec['steps']} step(s) it took. Only a run still 'running' can be "
            "settled."
        )
    taken = int(rec["steps"])
    if steps is None:
        steps = taken
    if isinstance(steps, bool) or not isinstance(steps, int) or not taken <= steps <= MAX_STEPS:
        raise PrivacyInputError(
            f"The steps of a settlement must be a whole number from the {taken} step(s) run "
            f"{run_id!r} recorded up to {MAX_STEPS}; got {steps!r}. A run cannot be settled "
            "below what it recorded: that would under-count the budget."
        )
    entry: dict[str, Any] = {
        "run_id": run_id,
        "steps": steps,
        "planned_steps": int(rec["planned_steps"]),
        "epsilon": None,
        "reason": reason.strip(),
        "settled_at": now,
    }
    view = LedgerRun.of(rec, entry)
    eps = epsilon_of(view.counted_history, rec["delta"], rec["accountant"])
    entry["epsilon"] = eps if math.isfinite(eps) else None
    data.setdefault(SETTLEMENTS, []).append(entry)
    return entry


def validate_settlements(data: Mapping[str, Any], path: Any) -> None:
    """Refuse a malformed ``settlements`` member of the (otherwise valid) ledger at ``path``."""

    def bad(what: str) -> PrivacyInputError:
        return invalid_ledger(path, what)

    if SETTLEMENTS not in data:
        return
    entries = data[SETTLEMENTS]
    if not isinstance(entries, list):
        raise bad(f"{SETTLEMENTS!r} must be a list")
    runs = {r["run_id"]: r for r in data["runs"]}
    seen: set[str] = set()
    for i, s in enumerate(entries):
        where = f"settlement {i}"
        if not isinstance(s, dict) or sorted(s) != sorted(_FIELDS):
            raise bad(f"{where} is malformed (expected exactly the fields {list(_FIELDS)})")
        rid = s["run_id"]
        if not isinstance(rid, str) or rid not in runs or rid in seen:
            raise bad(f"{where} is malformed ('run_id' names no run of the ledger, or a run "
                      "settled twice)")
        seen.add(rid)
        run = runs[rid]
        if run["status"] != "running":
            raise bad(f"{where} settles run {rid!r}, which is {run['status']!r}, not 'running'")
        for name, spec in (("steps", {"lo": 0, "hi": MAX_STEPS, "integer": True}),
                           ("planned_steps", {"lo": 0, "hi": MAX_STEPS, "integer": True}),
                           ("epsilon", {"lo": 0, "nullable": True})):
            expected = check_field(s[name], **spec)
            if expected is not None:
                raise bad(f"{where} field {name!r} must be {expected}")
        if int(s["steps"]) < int(run["steps"]):
            raise bad(f"{where} settles run {rid!r} below the {run['steps']} step(s) it recorded")
        for name in ("reason", "settled_at"):
            if not isinstance(s[name], str) or not s[name]:
                raise bad(f"{where} field {name!r} must be a non-empty string")
