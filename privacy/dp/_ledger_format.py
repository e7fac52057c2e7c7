"""The budget ledger's file format: dataset ids, field checks and the MAC.

Kept apart from :mod:`auditkit.privacy.dp._ledger` (which does the locking, reading and
writing) so that the format can be read, and verified, on its own. ``docs/dp.md`` documents
every constant here; a test verifies a ledger from the docs alone.

- :func:`normalise_dataset_id`: one data set, one id, one file.
- :func:`validate`: every field read from a ledger file is checked (type, finite, in range)
  before anything uses it; a bad field is a :class:`PrivacyInputError` naming the file and
  the field.
- :func:`canonical_bytes`, :func:`mac_value`, :func:`verify_mac`: HMAC-SHA-256 over the
  canonical JSON of the ledger without its ``mac`` member, under
  :meth:`auditkit.privacy.crypto.KeyRing.ledger_key`.
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.privacy.dp._accounting import finite_number as _number
from auditkit.privacy.dp._accounting import merge_history
from auditkit.privacy.errors import PrivacyInputError

if TYPE_CHECKING:
    from auditkit.privacy.dp._ledger_cap import PlannedRun

__all__ = [
    "LEDGER_FORMAT",
    "LEDGER_VERSION",
    "MAC_ALG",
    "MAC_INFO",
    "MECHANISM",
    "LedgerRun",
    "canonical_bytes",
    "invalid_ledger",
    "mac_value",
    "new_ledger",
    "new_run",
    "normalise_dataset_id",
    "validate",
    "verify_mac",
]

LEDGER_FORMAT = "auditkit.dp.ledger"
LEDGER_VERSION = 1
MECHANISM = "poisson_subsampled_gaussian"
STATUSES = ("running", "completed", "stopped_at_cap", "interrupted")
MAC_ALG = "HMAC-SHA-256"
#: HKDF ``info`` of the MAC key; :meth:`KeyRing.ledger_key` derives with this label.
MAC_INFO = b"auditkit/v1/dp-ledger/hmac-sha256"
MAX_ID_BYTES = 200  # the file name is the id plus ".json"; most file systems allow 255 bytes
MAX_STEPS = 10**12
MAX_LEDGER_BYTES = 64 * 2**20  # a run record is about 840 bytes: some 80,000 runs
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# -- dataset ids ------------------------------------------------------------------------------
def normalise_dataset_id(value: object, *, what: str = "The 'dataset_id' of a budget ledger") -> str:
    """The one id (and file stem) of a data set.

    NFKC, then case-folded (and NFKC again); letters, digits and the combining marks that
    follow them are kept; every run of anything else (whitespace, punctuation, symbols) becomes
    one ``-``, and leading or trailing runs are dropped. ``" DS. "``, ``"ds"`` and ``"Ds"`` are
    one data set; ``"ds_v1"`` and ``"ds.v1"`` are both ``"ds-v1"``.

    Parameters
    ----------
    value:
        The id as given.

    Returns
    -------
    str
        The normalised id.

    Raises
    ------
    PrivacyInputError
        Not a string, nothing left after normalisation, or longer than 200 UTF-8 bytes.

    Examples
    --------
    >>> normalise_dataset_id("  Customers 2026/06. ")
    'customers-2026-06'
    """
    if not isinstance(value, str):
        raise PrivacyInputError(f"{what} must be a string; got {type(value).__name__}.")
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    out: list[str] = []
    gap = False
    for ch in text:
        cat = unicodedata.category(ch)[0]
        if cat in "LN" or (cat == "M" and out and not gap):
            if gap and out:
                out.append("-")
            out.append(ch)
            gap = False
        else:
            gap = True
    norm = "".join(out)
    if not norm:
        raise PrivacyInputError(
            f"{what} must contain a letter or a digit; the id given is only spaces and "
            "punctuation. Name the data set (e.g. dataset_id='customers-2026-06') or leave it "
            "unset for a content hash."
        )
    if len(norm.encode("utf-8")) > MAX_ID_BYTES:
        raise PrivacyInputError(
            f"{what} is too long: {len(norm.encode('utf-8'))} bytes once normalised, at most "
            f"{MAX_ID_BYTES}. Use a shorter name or a content hash."
        )
    return norm


def id_of_stem(stem: str) -> str | None:
    """The normalised id of a file stem, or ``None`` when it has none."""
    try:
        return normalise_dataset_id(stem)
    except PrivacyInputError:
        return None


def find_ledger_file(directory: Path, dataset_id: str) -> Path:
    """``<directory>/<dataset_id>.json``, or the one older file whose name normalises to it.

    Ledgers written before ids were normalised are named by the id as given (``DS.json``,
    ``ds_v1.json``); such a file is used in place. Two files for one normalised id are two
    budgets for one data set, and are refused.
    """
    own = directory / f"{dataset_id}.json"
    try:
        names = [e.name for e in os.scandir(directory) if e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return own
    same = sorted(
        n for n in names
        if n.endswith(".json") and not n.startswith(".") and id_of_stem(n[: -len(".json")]) == dataset_id
    )
    if len(same) > 1:
        raise PrivacyInputError(
            f"The ledger directory {directory} holds {len(same)} budget ledgers for dataset "
            f"{dataset_id!r} ({', '.join(same)}): dataset ids are compared ignoring case and "
            "surrounding spaces and punctuation, and one data set has one budget. Merge their "
            "runs into one file (or move the others out of the directory) and run again."
        )
    return directory / same[0] if same else own


def check_args(**args: tuple[Any, dict[str, Any]]) -> None:
    """Refuse a non-finite or out-of-range argument of a ledger write, naming it."""
    for name, (value, spec) in args.items():
        expected = check_field(value, **spec)
        if expected is not None:
            raise PrivacyInputError(
                f"The {name!r} parameter of a budget-ledger write must be {expected}; got "
                f"{_describe(value)}. A cap or a term that is not a finite number would switch "
                "the budget off; give a finite positive value (e.g. max_epsilon=8)."
            )


# -- new documents ----------------------------------------------------------------------------
def new_ledger(
    dataset_id: str, *, accountant: str, delta: float, max_epsilon: float | None, now: str
) -> dict[str, Any]:
    """The document of a ledger that has no run yet: its fixed terms."""
    return {
        "format": LEDGER_FORMAT,
        "version": LEDGER_VERSION,
        "dataset_id": dataset_id,
        "mechanism": MECHANISM,
        "accountant": accountant,
        "delta": delta,
        "max_epsilon": max_epsilon,
        "created_at": now,
        "runs": [],
    }


def new_run(run_id: str, run: PlannedRun, planned_steps: int, info: dict[str, Any], *, now: str) -> dict[str, Any]:
    """The record of a run reserved at ``planned_steps`` that has taken no step yet.

    ``run`` carries its noise multiplier, sample rate, δ and accountant
    (:class:`~auditkit.privacy.dp._ledger_cap.PlannedRun`); ``info`` its descriptive fields
    (model id, mode, ...).
    """
    return {
        "run_id": run_id,
        "status": "running",
        "started_at": now,
        "updated_at": now,
        "finished_at": None,
        "noise_multiplier": run.noise_multiplier,
        "sample_rate": run.sample_rate,
        "planned_steps": planned_steps,
        "steps": 0,
        "history": [],
        "delta": run.delta,
        "accountant": run.accountant,
        "epsilon": None,
        **info,
    }


# -- canonical bytes and the MAC ---------------------------------------------------------------
def canonical_bytes(doc: dict[str, Any]) -> bytes:
    """The bytes the MAC covers: the ledger without ``mac`` as canonical JSON (ASCII)."""
    body = {k: v for k, v in doc.items() if k != "mac"}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def mac_value(key: bytes, doc: dict[str, Any]) -> str:
    """Hex HMAC-SHA-256 of :func:`canonical_bytes` under ``key``."""
    from cryptography.hazmat.primitives import hashes, hmac

    h = hmac.HMAC(key, hashes.SHA256())
    h.update(canonical_bytes(doc))
    return h.finalize().hex()


def verify_mac(path: Path, doc: Any, key_for: Callable[[str], bytes | None]) -> None:
    """Check ``doc``'s ``mac`` under ``key_for(key_id)``; raise if absent, foreign or wrong."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, hmac

    def altered(why: str) -> PrivacyInputError:
        return PrivacyInputError(
            f"The budget ledger {path} was altered, or is not this key ring's: {why}. Its "
            "record of the privacy budget spent cannot be trusted, so no run may use it. "
            "Restore the file from backup, or pass the key ring it was written with."
        )

    if not isinstance(doc, dict):
        raise altered("it is not a JSON object")
    mac = doc.get("mac")
    if mac is None:
        raise altered(
            "it carries no MAC (it was written without a key ring, or its MAC was removed; "
            "to authenticate a ledger you have checked, call BudgetLedger(..., "
            "keyring=ring).adopt())"
        )
    if (
        not isinstance(mac, dict)
        or mac.get("alg") != MAC_ALG
        or not isinstance(mac.get("key_id"), str)
        or not isinstance(mac.get("value"), str)
        or not _HEX64.match(mac["value"])
    ):
        raise altered(f"its 'mac' member is not {{'alg': {MAC_ALG!r}, 'key_id', 'value'}}")
    key = key_for(mac["key_id"])
    if key is None:
        raise altered("it was authenticated under a key this key ring does not hold")
    try:
        body = canonical_bytes(doc)
    except (TypeError, ValueError):  # NaN or Infinity were written into it
        raise altered("it holds a value JSON cannot carry (NaN or Infinity)") from None
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(body)
    try:
        h.verify(bytes.fromhex(mac["value"]))
    except InvalidSignature:
        raise altered("its MAC does not match its content") from None


# -- field checks -----------------------------------------------------------------------------
def _describe(v: Any) -> str:
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v) if not isinstance(v, int) or abs(v) < 10**15 else "a very large integer"
    return f"a {type(v).__name__}"


def check_field(
    value: Any,
    *,
    lo: float,
    hi: float = math.inf,
    lo_open: bool = False,
    hi_open: bool = False,
    integer: bool = False,
    nullable: bool = False,
) -> str | None:
    """``None`` when ``value`` is acceptable, else what was expected (for a message)."""
    if value is None and nullable:
        return None
    f = _number(value)
    ok = f is not None and (f > lo if lo_open else f >= lo) and (f < hi if hi_open else f <= hi)
    if ok and integer:
        ok = float(f).is_integer()
    if ok:
        return None
    kind = "an integer" if integer else "a finite number"
    left, right = ("(" if lo_open else "["), (")" if hi_open else "]")
    rng = f"{left}{lo:g}, {hi:g}{right}" if math.isfinite(hi) else f"{'above' if lo_open else 'at least'} {lo:g}"
    return f"{kind} {'in ' if math.isfinite(hi) else ''}{rng}" + (" or null" if nullable else "")


_TOP: dict[str, dict[str, Any]] = {
    "delta": {"lo": 0, "hi": 1, "lo_open": True, "hi_open": True},
    "max_epsilon": {"lo": 0, "lo_open": True, "nullable": True},
}
_RUN: dict[str, dict[str, Any]] = {
    "noise_multiplier": {"lo": 0, "lo_open": True},
    "sample_rate": {"lo": 0, "hi": 1, "lo_open": True},
    "steps": {"lo": 0, "hi": MAX_STEPS, "integer": True},
    "planned_steps": {"lo": 0, "hi": MAX_STEPS, "integer": True},
    "delta": {"lo": 0, "hi": 1, "lo_open": True, "hi_open": True},
    "epsilon": {"lo": 0, "nullable": True},
    "target_epsilon": {"lo": 0, "lo_open": True, "nullable": True},
    "max_grad_norm": {"lo": 0, "lo_open": True, "nullable": True},
    "dataset_size": {"lo": 1, "integer": True, "nullable": True},
    "world_size": {"lo": 1, "integer": True, "nullable": True},
}
_OPTIONAL_RUN = ("epsilon", "target_epsilon", "max_grad_norm", "dataset_size", "world_size")


def invalid_ledger(path: Path, what: str) -> PrivacyInputError:
    """The error for a ledger file that breaks the format: ``what`` says how."""
    return PrivacyInputError(
        f"The budget ledger {path} is not a valid ledger: {what}. Restore it from "
        "backup or point the run at the right ledger directory."
    )


def validate(path: Path, data: Any, dataset_id: str, accountants: Any) -> None:
    """Refuse a ledger with a missing, mistyped, non-finite or out-of-range field (its
    settlements are checked by :func:`~auditkit.privacy.dp._ledger_settle.validate_settlements`)."""

    def bad(what: str) -> PrivacyInputError:
        return invalid_ledger(path, what)

    def field(where: str, value: Any, spec: dict[str, Any]) -> None:
        expected = check_field(value, **spec)
        if expected is not None:
            raise bad(f"{where} must be {expected}, got {_describe(value)}")

    if not isinstance(data, dict) or data.get("format") != LEDGER_FORMAT:
        raise bad(f"expected a JSON object with format {LEDGER_FORMAT!r}")
    if data.get("version") != LEDGER_VERSION:
        raise bad(f"expected version {LEDGER_VERSION}, got {_describe(data.get('version'))}")
    if data.get("mechanism") != MECHANISM:
        shown = data.get("mechanism") if isinstance(data.get("mechanism"), str) else None
        raise PrivacyInputError(
            f"The budget ledger {path} records mechanism {shown!r}; this toolkit composes only "
            f"{MECHANISM!r} runs. Use a separate ledger directory for other mechanisms."
        )
    if not isinstance(data.get("accountant"), str) or data["accountant"] not in accountants:
        raise bad(f"'accountant' must be one of {sorted(accountants)}")
    for name, spec in _TOP.items():
        if name not in data:
            raise bad(f"the field {name!r} is missing")
        field(repr(name), data[name], spec)
    stored = data.get("dataset_id")
    if not isinstance(stored, str) or id_of_stem(stored) != dataset_id:
        raise bad(f"it does not belong to dataset {dataset_id!r}")
    runs = data.get("runs")
    if not isinstance(runs, list):
        raise bad("'runs' must be a list")
    seen: set[str] = set()
    for i, r in enumerate(runs):
        if not isinstance(r, dict):
            raise bad(f"run {i} is malformed (not an object)")
        rid = r.get("run_id")
        if not isinstance(rid, str) or not rid or len(rid) > 128 or rid in seen:
            raise bad(f"run {i} is malformed ('run_id' missing, too long or repeated)")
        seen.add(rid)
        if r.get("status") not in STATUSES:
            raise bad(f"run {i} is malformed ('status' must be one of {list(STATUSES)})")
        if not isinstance(r.get("accountant"), str) or r["accountant"] not in accountants:
            raise bad(f"run {i} is malformed ('accountant' must be one of {sorted(accountants)})")
        for name, spec in _RUN.items():
            if name not in r and name not in _OPTIONAL_RUN:
                raise bad(f"run {i} is malformed (the field {name!r} is missing)")
            field(f"run {i} field {name!r}", r.get(name), spec)
        hist = r.get("history")
        if not isinstance(hist, list):
            raise bad(f"run {i} is malformed ('history' must be a list)")
        total = 0
        for j, h in enumerate(hist):
            if not isinstance(h, list) or len(h) != 3:
                raise bad(f"run {i} field 'history[{j}]' must be [noise, sample rate, steps]")
            field(f"run {i} field 'history[{j}]' noise multiplier", h[0], _RUN["noise_multiplier"])
            field(f"run {i} field 'history[{j}]' sample rate", h[1], _RUN["sample_rate"])
            field(f"run {i} field 'history[{j}]' steps", h[2], _RUN["steps"])
            total += int(h[2])
        if total != int(r["steps"]):
            raise bad(f"run {i} field 'steps' is not the sum of the steps in its 'history'")


@dataclass(frozen=True)
class LedgerRun:
    """A read-only view of one run record, and of its settlement if it has one.

    ``status`` is the record's, except ``"settled"`` for a ``running`` run that was settled
    (``auditkit ledger settle``; the record itself still says ``running``). ``steps`` are the
    steps the run recorded, ``planned_steps`` its reservation; ``settlement`` is the settlement
    entry (``None`` when there is none).
    """

    run_id: str
    status: str
    history: tuple[tuple[float, float, int], ...]
    steps: int
    planned_steps: int
    epsilon: float | None
    record: dict[str, Any]
    settlement: dict[str, Any] | None = None

    @classmethod
    def of(cls, r: dict[str, Any], settlement: dict[str, Any] | None = None) -> LedgerRun:
        """The view of run record ``r`` (with its settlement entry, if any)."""
        settled = settlement is not None and r["status"] == "running"
        return cls(
            run_id=r["run_id"],
            status="settled" if settled else r["status"],
            history=tuple(tuple(h) for h in r["history"]),
            steps=int(r["steps"]),
            planned_steps=int(r["planned_steps"]),
            epsilon=settlement.get("epsilon") if settled else r.get("epsilon"),
            record=r,
            settlement=settlement if settled else None,
        )

    @property
    def counted_steps(self) -> int:
        """The steps the ledger counts for this run: its planned steps while running, its
        settled steps once settled, else the steps it took."""
        if self.settlement is not None:
            return max(self.steps, int(self.settlement["steps"]))
        if self.status == "running":
            return max(self.steps, self.planned_steps)
        return self.steps

    @property
    def counted_history(self) -> list[tuple[float, float, int]]:
        """The history this run contributes to the total (planned steps while running, the
        settled steps once settled)."""
        hist = [tuple(h) for h in self.history]
        extra = self.counted_steps - self.steps
        if extra > 0:
            last = hist[-1] if hist else (self.record["noise_multiplier"], self.record["sample_rate"], 0)
            hist.append((last[0], last[1], extra))
        return merge_history(hist)
