"""The privacy-budget ledger: one JSON file per dataset, every run recorded.

The file ``<directory>/<dataset_id>.json`` holds the ledger's fixed terms (mechanism,
accountant, δ, optional ε cap) and one record per run (sample rate, noise multiplier, steps,
δ, accountant, ε, timestamps, model id, status). The total ε is the accountant's composition
over the combined history of all runs.

Crash safety
------------
A run is *reserved* before its first step with its planned number of steps and counted as if
it ran them all; as it progresses the record is updated, and when it finishes the planned
steps are replaced by the steps actually taken. So a process that dies mid-run leaves a record
that over-counts (never under-counts), and a resumed run re-attaches to its own record
(by ``run_id``) instead of adding a second one: a crash never loses or double-counts a run.

Every read-modify-write holds an exclusive ``fcntl`` lock on ``<file>.lock`` and writes
through :func:`auditkit.atomic.atomic_write` (temporary file, fsync, rename), so concurrent
runs on one dataset serialise and a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import math
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.atomic import atomic_write_text
from auditkit.privacy.dp._accounting import check_accountant, epsilon, merge_history
from auditkit.privacy.errors import PrivacyInputError

__all__ = ["LEDGER_FORMAT", "MECHANISM", "BudgetLedger", "LedgerRun"]

LEDGER_FORMAT = "auditkit.dp.ledger"
LEDGER_VERSION = 1
MECHANISM = "poisson_subsampled_gaussian"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LedgerRun:
    """A read-only view of one run record."""

    run_id: str
    status: str
    history: tuple[tuple[float, float, int], ...]
    steps: int
    planned_steps: int
    epsilon: float | None
    record: dict[str, Any]

    @property
    def counted_history(self) -> list[tuple[float, float, int]]:
        """The history this run contributes to the total (planned steps while running)."""
        hist = [tuple(h) for h in self.history]
        if self.status == "running" and self.planned_steps > self.steps:
            last = hist[-1] if hist else (self.record["noise_multiplier"], self.record["sample_rate"], 0)
            extra = self.planned_steps - self.steps
            hist.append((last[0], last[1], extra))
        return merge_history(hist)


class BudgetLedger:
    """The budget ledger of one dataset.

    Parameters
    ----------
    directory:
        Folder holding ledgers (created if missing).
    dataset_id:
        Stable id of the dataset (letters, digits, ``.``, ``_``, ``-``; a content hash works).
    """

    def __init__(self, directory: str | os.PathLike[str], dataset_id: str) -> None:
        if not isinstance(dataset_id, str) or not _ID_RE.match(dataset_id):
            raise PrivacyInputError(
                "The 'dataset_id' of a budget ledger must be 1-128 characters of letters, "
                f"digits, '.', '_' or '-', starting with a letter or digit; got {dataset_id!r}."
            )
        self.directory = Path(directory)
        self.dataset_id = dataset_id
        self.path = self.directory / f"{dataset_id}.json"

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BudgetLedger:
        p = Path(path)
        return cls(p.parent, p.stem)

    def __repr__(self) -> str:
        return f"BudgetLedger({str(self.path)!r})"

    # -- file access ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def exists(self) -> bool:
        return self.path.exists()

    def _read(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PrivacyInputError(
                f"The budget ledger {self.path} is not readable JSON ({type(exc).__name__}: "
                f"{exc}). It may be corrupt: restore it from backup; do not delete it, or "
                "the privacy budget already spent on this dataset is forgotten."
            ) from None
        self._validate(data)
        return data

    def _validate(self, data: Any) -> None:
        def bad(what: str) -> PrivacyInputError:
            return PrivacyInputError(
                f"The budget ledger {self.path} is not a valid ledger: {what}. Restore it from "
                "backup or point the run at the right ledger directory."
            )

        if not isinstance(data, dict) or data.get("format") != LEDGER_FORMAT:
            raise bad(f"expected a JSON object with format {LEDGER_FORMAT!r}")
        if data.get("version") != LEDGER_VERSION:
            raise bad(f"expected version {LEDGER_VERSION}, got {data.get('version')!r}")
        if data.get("mechanism") != MECHANISM:
            raise PrivacyInputError(
                f"The budget ledger {self.path} records mechanism {data.get('mechanism')!r}; "
                f"this toolkit composes only {MECHANISM!r} runs. Use a separate ledger "
                "directory for other mechanisms."
            )
        if data.get("accountant") not in ("prv", "rdp", "gdp", "pld"):
            raise bad(f"unknown accountant {data.get('accountant')!r}")
        delta = data.get("delta")
        if not isinstance(delta, (int, float)) or not 0 < delta < 1:
            raise bad(f"'delta' must be a number in (0, 1), got {delta!r}")
        cap = data.get("max_epsilon")
        if cap is not None and (not isinstance(cap, (int, float)) or cap <= 0):
            raise bad(f"'max_epsilon' must be a positive number or null, got {cap!r}")
        if data.get("dataset_id") != self.dataset_id:
            raise bad(f"it belongs to dataset {data.get('dataset_id')!r}, not {self.dataset_id!r}")
        runs = data.get("runs")
        if not isinstance(runs, list):
            raise bad("'runs' must be a list")
        for i, r in enumerate(runs):
            try:
                assert isinstance(r, dict) and isinstance(r["run_id"], str)
                assert r["status"] in ("running", "completed", "stopped_at_cap", "interrupted")
                for s, q, n in r["history"]:
                    assert float(s) > 0 and 0 < float(q) <= 1 and int(n) >= 0
                assert int(r["steps"]) >= 0 and int(r["planned_steps"]) >= 0
                assert float(r["noise_multiplier"]) > 0 and 0 < float(r["sample_rate"]) <= 1
            except (AssertionError, KeyError, TypeError, ValueError):
                raise bad(f"run {i} is malformed") from None

    def _write(self, data: dict[str, Any]) -> None:
        self._validate(data)
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=False) + "\n")

    # -- reading --------------------------------------------------------------------------
    def load(self) -> dict[str, Any] | None:
        """The ledger as a dict (``None`` if the file does not exist yet)."""
        with self._locked():
            return self._read()

    def runs(self) -> list[LedgerRun]:
        data = self.load()
        return [self._view(r) for r in (data or {}).get("runs", [])]

    @staticmethod
    def _view(r: dict[str, Any]) -> LedgerRun:
        return LedgerRun(
            run_id=r["run_id"],
            status=r["status"],
            history=tuple(tuple(h) for h in r["history"]),
            steps=int(r["steps"]),
            planned_steps=int(r["planned_steps"]),
            epsilon=r.get("epsilon"),
            record=r,
        )

    @staticmethod
    def _combined(data: dict[str, Any], exclude: str | None = None) -> list[tuple[float, float, int]]:
        hist: list[tuple[float, float, int]] = []
        for r in data["runs"]:
            if r["run_id"] != exclude:
                hist.extend(BudgetLedger._view(r).counted_history)
        return hist

    def combined_history(self, exclude: str | None = None) -> list[tuple[float, float, int]]:
        data = self.load()
        return [] if data is None else self._combined(data, exclude)

    def total_epsilon(self) -> float:
        """ε of all recorded runs composed, at the ledger's δ (running runs count in full)."""
        data = self.load()
        if data is None:
            return 0.0
        return epsilon(self._combined(data), data["delta"], data["accountant"])

    def summary(self) -> dict[str, Any]:
        """Terms, total ε, cap and remaining budget, in one dict (for reports)."""
        data = self.load()
        if data is None:
            raise PrivacyInputError(f"No budget ledger at {self.path}.")
        total = epsilon(self._combined(data), data["delta"], data["accountant"])
        cap = data.get("max_epsilon")
        return {
            "dataset_id": data["dataset_id"],
            "mechanism": data["mechanism"],
            "accountant": data["accountant"],
            "delta": data["delta"],
            "max_epsilon": cap,
            "epsilon_total": total,
            "epsilon_remaining": None if cap is None else max(0.0, cap - total),
            "runs": len(data["runs"]),
            "steps": sum(int(r["steps"]) for r in data["runs"]),
        }

    # -- writing --------------------------------------------------------------------------
    def reserve(
        self,
        *,
        noise_multiplier: float,
        sample_rate: float,
        planned_steps: int,
        delta: float,
        accountant: str,
        max_epsilon: float | None,
        on_cap: str,
        info: dict[str, Any],
    ) -> tuple[str, int | None]:
        """Record a new run before it starts; returns ``(run_id, max_steps)``.

        ``max_steps`` is ``None`` when the ledger has no cap, else the most steps this run may
        take. With ``on_cap="refuse"`` a run whose planned steps would exceed the cap raises
        :class:`BudgetExceededError` and nothing is written.
        """
        from auditkit.privacy.dp._accounting import max_steps_within
        from auditkit.privacy.errors import BudgetExceededError

        check_accountant(accountant)
        with self._locked():
            data = self._read()
            if data is None:
                data = {
                    "format": LEDGER_FORMAT,
                    "version": LEDGER_VERSION,
                    "dataset_id": self.dataset_id,
                    "mechanism": MECHANISM,
                    "accountant": accountant,
                    "delta": delta,
                    "max_epsilon": max_epsilon,
                    "created_at": _now(),
                    "runs": [],
                }
            self.check_terms(data, delta=delta, accountant=accountant)
            if max_epsilon is not None:
                if data.get("max_epsilon") is None or max_epsilon < data["max_epsilon"]:
                    data["max_epsilon"] = max_epsilon  # a cap can only tighten
            cap = data.get("max_epsilon")
            prior = self._combined(data)
            max_steps = None
            if cap is not None:
                spent = epsilon(prior, delta, accountant)
                if spent >= cap:
                    raise BudgetExceededError(
                        f"The privacy budget of dataset {self.dataset_id!r} is spent: ε={spent:.3f} "
                        f"of the cap {cap:g} is used ({self.path}). No further training on this "
                        "dataset is allowed under this cap."
                    )
                after = epsilon(prior + [(noise_multiplier, sample_rate, planned_steps)], delta, accountant)
                if after > cap:
                    max_steps = max_steps_within(
                        cap, delta, noise_multiplier, sample_rate, accountant, prior=prior
                    )
                    if on_cap == "refuse" or max_steps == 0:
                        raise BudgetExceededError(
                            f"This run would exceed the privacy budget of dataset "
                            f"{self.dataset_id!r}: {cap - spent:.3f} of ε={cap:g} remains "
                            f"(ε={spent:.3f} spent), and {planned_steps} steps at noise "
                            f"{noise_multiplier:.4g} and sample rate {sample_rate:.4g} would bring "
                            f"the total to ε={after:.3f} (a cost of {after - spent:.3f}). At most "
                            f"{max_steps} steps fit. Lower target_epsilon, train fewer epochs, or "
                            "pass on_cap='stop' to stop at the cap."
                        )
                    planned_steps = max_steps
            run_id = uuid.uuid4().hex[:16]
            record = {
                "run_id": run_id,
                "status": "running",
                "started_at": _now(),
                "updated_at": _now(),
                "finished_at": None,
                "noise_multiplier": noise_multiplier,
                "sample_rate": sample_rate,
                "planned_steps": planned_steps,
                "steps": 0,
                "history": [],
                "delta": delta,
                "accountant": accountant,
                "epsilon": None,
                **info,
            }
            data["runs"].append(record)
            self._write(data)
        return run_id, max_steps

    @staticmethod
    def check_terms(data: dict[str, Any], *, delta: float, accountant: str) -> None:
        if data["accountant"] != accountant:
            raise PrivacyInputError(
                f"The budget ledger of dataset {data['dataset_id']!r} composes with accountant "
                f"{data['accountant']!r}; this run asks for {accountant!r}. Budgets on one "
                f"ledger compose with one accountant: pass accountant={data['accountant']!r}, "
                "or use another ledger directory."
            )
        if not math.isclose(float(data["delta"]), float(delta), rel_tol=1e-9):
            raise PrivacyInputError(
                f"The budget ledger of dataset {data['dataset_id']!r} accounts at "
                f"δ={data['delta']:.3g}; this run asks for δ={delta:.3g}. Budgets on one ledger "
                f"compose at one δ: pass target_delta={data['delta']!r} (or leave it unset)."
            )

    def update(
        self,
        run_id: str,
        *,
        history: list[tuple[float, float, int]],
        status: str = "running",
        planned_steps: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record a run's progress (or end, with ``status``); returns the record."""
        with self._locked():
            data = self._read()
            if data is None:
                raise PrivacyInputError(
                    f"The budget ledger {self.path} disappeared while run {run_id} was recording "
                    "to it. Restore it from backup."
                )
            for r in data["runs"]:
                if r["run_id"] == run_id:
                    break
            else:
                raise PrivacyInputError(
                    f"Run {run_id!r} is not in the budget ledger {self.path}; a checkpoint can "
                    "only resume against the ledger it was started with."
                )
            hist = merge_history(history)
            r["history"] = [list(h) for h in hist]
            r["steps"] = sum(n for _, _, n in hist)
            if planned_steps is not None:
                r["planned_steps"] = planned_steps
            if status != "running":
                r["planned_steps"] = r["steps"]
                r["finished_at"] = _now()
            r["status"] = status
            r["updated_at"] = _now()
            if status != "running" or not hist:  # ε is computed when the run ends (it costs time)
                r["epsilon"] = epsilon(hist, r["delta"], r["accountant"]) if hist else 0.0
            r.update(extra or {})
            self._write(data)
            return dict(r)

    def get(self, run_id: str) -> LedgerRun:
        for r in self.runs():
            if r.run_id == run_id:
                return r
        raise PrivacyInputError(f"Run {run_id!r} is not in the budget ledger {self.path}.")

    def extend(
        self,
        run_id: str,
        *,
        history: list[tuple[float, float, int]],
        noise_multiplier: float,
        sample_rate: float,
        more_steps: int,
    ) -> int:
        """Extend a running run's reservation by up to ``more_steps`` steps, within the cap.

        Returns the new planned total; equal to the steps already taken when the cap allows
        no further step.
        """
        from auditkit.privacy.dp._accounting import max_steps_within

        with self._locked():
            data = self._read()
            if data is None:
                raise PrivacyInputError(f"The budget ledger {self.path} disappeared.")
            rec = next((r for r in data["runs"] if r["run_id"] == run_id), None)
            if rec is None:
                raise PrivacyInputError(f"Run {run_id!r} is not in the budget ledger {self.path}.")
            hist = merge_history(history)
            taken = sum(n for _, _, n in hist)
            want = taken + more_steps
            cap = data.get("max_epsilon")
            if cap is not None:
                prior = self._combined(data, exclude=run_id) + hist
                fit = max_steps_within(
                    cap, data["delta"], noise_multiplier, sample_rate, data["accountant"],
                    prior=prior, start=0,
                )
                want = taken + min(more_steps, fit)
            rec["planned_steps"] = want
            rec["history"] = [list(h) for h in hist]
            rec["steps"] = taken
            rec["updated_at"] = _now()
            self._write(data)
            return want
