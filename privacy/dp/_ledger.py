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

Authentication
--------------
With a key ring (``BudgetLedger(..., keyring=ring)``) every write adds a ``mac`` member:
HMAC-SHA-256 under :meth:`auditkit.privacy.crypto.KeyRing.ledger_key` over the canonical JSON
of the rest of the file (:mod:`auditkit.privacy.dp._ledger_format`), and every read verifies
it, so an edit by someone without the ring (a value changed, a run removed or reordered, the
cap raised, the MAC stripped) is refused. Without a key ring the ledger is unauthenticated
(:attr:`BudgetLedger.authenticated` is ``False``). A deleted, or rolled back, file is not
detected here.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditkit.atomic import atomic_write_text
from auditkit.privacy.dp._accounting import (
    ACCOUNTANTS,
    check_accountant,
    epsilon,
    epsilon_used,
    merge_history,
)
from auditkit.privacy.dp._ledger_cap import PlannedRun, steps_within_cap, tighten_cap
from auditkit.privacy.dp._ledger_format import (
    LEDGER_FORMAT,
    MAC_ALG,
    MAX_LEDGER_BYTES,
    MECHANISM,
    LedgerRun,
    check_args,
    find_ledger_file,
    mac_value,
    new_ledger,
    new_run,
    normalise_dataset_id,
    validate,
    verify_mac,
)
from auditkit.privacy.dp._ledger_settle import (
    refuse_if_settled,
    settle_run,
    settlements_by_run,
    validate_settlements,
)
from auditkit.privacy.dp._trail import record_cap, record_ledger, records_errors
from auditkit.privacy.errors import BudgetExceededError, PrivacyInputError

__all__ = ["LEDGER_FORMAT", "MECHANISM", "BudgetLedger", "LedgerRun"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class BudgetLedger:
    """The budget ledger of one dataset.

    Parameters
    ----------
    directory:
        Folder holding ledgers (created if missing).
    dataset_id:
        Stable id of the dataset (a name, or a content hash). It is normalised
        (:func:`~auditkit.privacy.dp._ledger_format.normalise_dataset_id`: NFKC, case-folded,
        surrounding whitespace and punctuation dropped, inner runs of them one ``-``), so
        ``"DS"``, ``" ds. "`` and ``"ds"`` share one budget and one file,
        ``<directory>/<normalised id>.json``. A file written under an older name that
        normalises to the same id is used in place; two such files are refused.
    keyring:
        A :class:`auditkit.privacy.crypto.KeyRing`. Every write then carries a MAC under
        :meth:`~auditkit.privacy.crypto.KeyRing.ledger_key` and every read checks it, so an
        edit by someone without the ring is refused. Without one the ledger is
        unauthenticated (:attr:`authenticated` is ``False``).

    Examples
    --------
    >>> import tempfile
    >>> ledger = BudgetLedger(tempfile.mkdtemp(), " Customers 2026/06. ")
    >>> ledger.dataset_id, ledger.path.name, ledger.authenticated
    ('customers-2026-06', 'customers-2026-06.json', False)
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        dataset_id: str,
        *,
        keyring: Any = None,
    ) -> None:
        if keyring is not None:
            from auditkit.privacy.crypto import KeyRing

            if not isinstance(keyring, KeyRing):
                raise PrivacyInputError(
                    "The 'keyring' of a budget ledger must be an auditkit.privacy.crypto.KeyRing "
                    f"(e.g. KeyRing.load(path, passphrase=...)); got {type(keyring).__name__}."
                )
        self.directory = Path(directory)
        self.dataset_id = normalise_dataset_id(dataset_id)
        self._keyring = keyring
        self.path = find_ledger_file(self.directory, self.dataset_id)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, keyring: Any = None) -> BudgetLedger:
        """The ledger stored in ``path`` (its id is the file name without ``.json``)."""
        p = Path(path)
        return cls(p.parent, p.stem, keyring=keyring)

    @property
    def authenticated(self) -> bool:
        """Whether reads are verified and writes MACed (a key ring was given)."""
        return self._keyring is not None

    @property
    def keyring(self) -> Any:
        """The key ring that authenticates this ledger, or ``None``."""
        return self._keyring

    def __repr__(self) -> str:
        auth = "authenticated" if self.authenticated else "unauthenticated"
        return f"BudgetLedger({str(self.path)!r}, {auth})"

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

    def _read(self, *, require_mac: bool = True) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        size = self.path.stat().st_size
        if size > MAX_LEDGER_BYTES:
            raise PrivacyInputError(
                f"The budget ledger {self.path} is {size / 2**20:.0f} MiB; a ledger is at most "
                f"{MAX_LEDGER_BYTES // 2**20} MiB (about 80,000 runs), so this file is not one "
                "this toolkit wrote. Restore it from backup."
            )
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise PrivacyInputError(
                f"The budget ledger {self.path} is not readable JSON ({type(exc).__name__}"
                f"{where}). It may be corrupt: restore it from backup; do not delete it, or "
                "the privacy budget already spent on this dataset is forgotten."
            ) from None
        if self._keyring is not None and (require_mac or isinstance(data, dict) and "mac" in data):
            verify_mac(self.path, data, self._key_for)
        self._validate(data)
        return data

    def _key_for(self, key_id: str) -> bytes | None:
        return self._keyring.ledger_key(key_id) if key_id in self._keyring else None

    def _validate(self, data: Any) -> None:
        validate(self.path, data, self.dataset_id, ACCOUNTANTS)
        validate_settlements(data, self.path)

    def _write(self, data: dict[str, Any]) -> None:
        if self._keyring is None and "mac" in data:
            raise PrivacyInputError(
                f"The budget ledger {self.path} is authenticated (it carries a MAC), so only "
                "the holder of its key ring may write to it: pass keyring= (the ring it was "
                "written with) to make_private or BudgetLedger."
            )
        data.pop("mac", None)
        self._validate(data)
        if self._keyring is not None:
            data["mac"] = {
                "alg": MAC_ALG,
                "key_id": self._keyring.primary_id,
                "value": mac_value(self._keyring.ledger_key(), data),
            }
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")

    def adopt(self) -> bool:
        """Authenticate an existing unauthenticated ledger under this ledger's key ring.

        Call it once, after checking the file, when you start passing a key ring for a
        dataset whose ledger was written without one. Returns ``True`` when a MAC was added,
        ``False`` when the file already carried a valid one (a wrong one is refused).
        """
        if self._keyring is None:
            raise PrivacyInputError(
                "BudgetLedger.adopt() authenticates a ledger under a key ring; create the "
                "ledger with keyring=ring first."
            )
        with self._locked():
            data = self._read(require_mac=False)
            if data is None:
                raise PrivacyInputError(f"No budget ledger at {self.path} to adopt.")
            if "mac" in data:
                return False
            self._write(data)
            return True

    # -- reading --------------------------------------------------------------------------
    def load(self) -> dict[str, Any] | None:
        """The ledger as a dict (``None`` if the file does not exist yet)."""
        with self._locked():
            return self._read()

    def runs(self) -> list[LedgerRun]:
        """Every run, oldest first; a settled run has status ``"settled"``."""
        data = self.load()
        return self._views(data) if data is not None else []

    @staticmethod
    def counted_epsilon(run: LedgerRun) -> float:
        """ε of one run as the ledger counts it (at its planned steps while running, its
        settled steps once settled), at its δ with its accountant (RDP past the memory limit)."""
        return epsilon_used(run.counted_history, run.record["delta"], run.record["accountant"])[0]

    @staticmethod
    def _views(data: dict[str, Any]) -> list[LedgerRun]:
        settled = settlements_by_run(data)
        return [LedgerRun.of(r, settled.get(r["run_id"])) for r in data["runs"]]

    @staticmethod
    def _combined(data: dict[str, Any], exclude: str | None = None) -> list[tuple[float, float, int]]:
        hist: list[tuple[float, float, int]] = []
        for v in BudgetLedger._views(data):
            if v.run_id != exclude:
                hist.extend(v.counted_history)
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
        """Terms, total ε, cap and remaining budget, in one dict (for reports).

        Also ``authenticated`` (whether the file's MAC was verified under a key ring),
        ``epsilon_accountant`` (the accountant that computed ``epsilon_total``: the ledger's,
        or ``"rdp"`` when the ledger's would exceed the memory limit) and ``accountant_note``
        (why, or ``None``).
        """
        data = self.load()
        if data is None:
            raise PrivacyInputError(f"No budget ledger at {self.path}.")
        total, used, note = epsilon_used(self._combined(data), data["delta"], data["accountant"])
        cap = data.get("max_epsilon")
        return {
            "authenticated": self.authenticated,
            "epsilon_accountant": used,
            "accountant_note": note,
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
        check_accountant(accountant)
        check_args(
            max_epsilon=(max_epsilon, {"lo": 0, "lo_open": True, "nullable": True}),
            noise_multiplier=(noise_multiplier, {"lo": 0, "lo_open": True}),
            sample_rate=(sample_rate, {"lo": 0, "hi": 1, "lo_open": True}),
            planned_steps=(planned_steps, {"lo": 0, "hi": 10**12, "integer": True}),
            delta=(delta, {"lo": 0, "hi": 1, "lo_open": True, "hi_open": True}),
        )
        if on_cap not in ("refuse", "stop"):
            raise PrivacyInputError(f"The 'on_cap' parameter must be 'refuse' or 'stop'; got {on_cap!r}.")
        run = PlannedRun(noise_multiplier, sample_rate, int(planned_steps), delta, accountant)
        with self._locked():
            data = self._read()
            if data is None:
                data = new_ledger(self.dataset_id, accountant=accountant, delta=delta,
                                  max_epsilon=max_epsilon, now=_now())
            self.check_terms(data, delta=delta, accountant=accountant)
            cap = tighten_cap(data, max_epsilon)
            try:
                max_steps = steps_within_cap(cap, self._combined(data), run, on_cap,
                                             (self.dataset_id, self.path))
            except BudgetExceededError:
                record_cap(self.path, reason="planned_run", max_epsilon=cap, on_cap=on_cap,
                           steps_planned=run.planned_steps)
                raise
            run_id = uuid.uuid4().hex[:16]
            steps = run.planned_steps if max_steps is None else max_steps
            data["runs"].append(new_run(run_id, run, steps, info, now=_now()))
            self._write(data)
            record_ledger("ledger.record", self.path, stage="reserve", run_id=run_id,
                          steps_planned=run.planned_steps, steps_reserved=steps)
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
            refuse_if_settled(data, run_id, self.path)
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
                eps, used, note = epsilon_used(hist, r["delta"], r["accountant"])
                r["epsilon"] = eps if math.isfinite(eps) else None
                if used != r["accountant"]:  # the run's accountant would exceed the memory limit
                    r["epsilon_accountant"], r["accountant_note"] = used, note
                else:
                    r.pop("epsilon_accountant", None)
                    r.pop("accountant_note", None)
            r.update(extra or {})
            self._write(data)
            if status != "running":
                record_ledger("ledger.record", self.path, stage="close", run_id=run_id,
                              status=status, steps=r["steps"], epsilon=r["epsilon"])
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
            refuse_if_settled(data, run_id, self.path)
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

    @records_errors("ledger.settle", lambda self, *a, **k: self.path)
    def settle(self, run_id: str, *, reason: str, steps: int | None = None) -> LedgerRun:
        """Settle a run left ``running``: count it at ``steps`` (default: the steps it
        recorded, 0 if it never trained) from now on.

        The settlement is a new entry of the ledger (:mod:`~auditkit.privacy.dp._ledger_settle`);
        the run record is kept as it is. Refused for an unknown run, a run that is not
        ``running``, one already settled, ``steps`` below what the run recorded, or an empty
        ``reason``. Returns the settled run's view (status ``"settled"``).
        """
        with self._locked():
            data = self._read()
            if data is None:
                raise PrivacyInputError(f"No budget ledger at {self.path}.")
            entry = settle_run(data, run_id, steps=steps, reason=reason, now=_now(),
                               path=self.path, epsilon_of=lambda h, d, a: epsilon_used(h, d, a)[0])
            self._write(data)
            record_ledger("ledger.settle", self.path, run_id=run_id, steps=entry["steps"],
                          steps_planned=entry["planned_steps"], epsilon=entry["epsilon"])
        rec = next(r for r in data["runs"] if r["run_id"] == run_id)
        return LedgerRun.of(rec, entry)
