"""Re-identification risk on quasi-identifiers: k-anonymity, distinct l-diversity, uniqueness.

Records sharing the same quasi-identifier values form an equivalence class. The data set is
k-anonymous when every class has at least k records; distinct l-diversity asks each class to
hold at least l distinct values of a sensitive column. Class counts are mergeable, so the same
figures come out of chunked and partitioned data (:class:`ClassCounts`).

:func:`suggest_generalisation` searches, greedily, for generalisation steps (dates to month or
year, numbers to bands, codes to shorter prefixes, rare categories suppressed) that reach a
target k, and returns them as policy rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._operator_contract import OperatorContext
from auditkit.privacy.masking._operator_registry import get_operator
from auditkit.privacy.masking._policy import Rule

__all__ = [
    "ClassCounts",
    "GeneralisationSuggestion",
    "RiskReport",
    "risk_report",
    "suggest_generalisation",
]

_MISSING = "\x00<missing>"


@dataclass(frozen=True)
class RiskReport:
    """Re-identification figures for one data set on one set of quasi-identifiers.

    Attributes
    ----------
    k_achieved:
        Size of the smallest equivalence class (the data set is k-anonymous for this k).
    records_below_k:
        Records in classes smaller than the target ``k``.
    unique_records:
        Records alone in their class (sample uniques).
    l_achieved:
        Smallest number of distinct sensitive values in a class (``None`` without a
        sensitive column).
    classes_below_l:
        Classes with fewer than ``l`` distinct sensitive values.
    """

    quasi_identifiers: tuple[str, ...]
    k: int
    n_records: int
    n_classes: int
    k_achieved: int
    records_below_k: int
    unique_records: int
    sensitive: str | None = None
    l: int = 2  # noqa: E741
    l_achieved: int | None = None
    classes_below_l: int | None = None

    @property
    def share_below_k(self) -> float:
        return self.records_below_k / self.n_records if self.n_records else 0.0

    @property
    def unique_share(self) -> float:
        return self.unique_records / self.n_records if self.n_records else 0.0

    @property
    def k_anonymous(self) -> bool:
        return self.n_records == 0 or self.k_achieved >= self.k

    def to_dict(self) -> dict[str, Any]:
        return {
            "quasi_identifiers": list(self.quasi_identifiers), "k": self.k,
            "n_records": self.n_records, "n_classes": self.n_classes,
            "k_achieved": self.k_achieved, "records_below_k": self.records_below_k,
            "share_below_k": round(self.share_below_k, 6),
            "unique_records": self.unique_records, "unique_share": round(self.unique_share, 6),
            "sensitive": self.sensitive, "l": self.l, "l_achieved": self.l_achieved,
            "classes_below_l": self.classes_below_l,
        }


_SEP = "\x1f"
_SSEP = "\x1e"


def _text(col: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(col.dtype):
        col = col + 0.0  # -0.0 is the value 0.0: one class, as a group-by makes it
    return col.astype("string").fillna(_MISSING).astype(str)


def _keys(df: pd.DataFrame, qi: Sequence[str]) -> pd.Series:
    """One string key per record: the QI values joined (missing values made explicit)."""
    key = _text(df[qi[0]])
    for c in qi[1:]:
        key = key + _SEP + _text(df[c])
    return key


class ClassCounts:
    """Mergeable equivalence-class sizes (and distinct sensitive values per class).

    Feed chunks or partitions with :meth:`update`; :meth:`report` gives the figures. Memory is
    proportional to the number of distinct classes (and class/sensitive pairs), not of records.
    """

    def __init__(self, quasi_identifiers: Sequence[str], sensitive: str | None = None) -> None:
        self.qi = tuple(quasi_identifiers)
        self.sensitive = sensitive
        self._sizes: pd.Series | None = None
        self._pairs: pd.Index | None = None  # distinct "class<SSEP>sensitive" keys
        self.n = 0

    def update(self, df: pd.DataFrame) -> ClassCounts:
        self.n += len(df)
        if not self.qi or len(df) == 0:
            return self
        keys = _keys(df, self.qi)
        sizes = keys.value_counts()
        self._sizes = sizes if self._sizes is None else self._sizes.add(sizes, fill_value=0)
        if self.sensitive is not None:
            pairs = pd.Index((keys + _SSEP + _text(df[self.sensitive])).unique())
            self._pairs = pairs if self._pairs is None else self._pairs.union(pairs)
        return self

    def report(self, k: int = 5, l: int = 2) -> RiskReport:  # noqa: E741
        if self._sizes is None or self.n == 0:
            one = 1 if self.n else 0
            return RiskReport(self.qi, k, self.n, one, self.n, self.n if self.n < k else 0,
                              1 if self.n == 1 else 0, self.sensitive, l,
                              None if self.sensitive is None else one,
                              None if self.sensitive is None else 0)
        sizes = self._sizes.to_numpy().astype(np.int64)
        l_achieved = below_l = None
        if self.sensitive is not None and self._pairs is not None:
            classes = pd.Series(self._pairs.str.rsplit(_SSEP, n=1).str[0])
            distinct = classes.value_counts()
            l_achieved = int(distinct.min())
            below_l = int((distinct < l).sum())
        return RiskReport(
            quasi_identifiers=self.qi, k=k, n_records=self.n, n_classes=len(sizes),
            k_achieved=int(sizes.min()), records_below_k=int(sizes[sizes < k].sum()),
            unique_records=int((sizes == 1).sum()), sensitive=self.sensitive, l=l,
            l_achieved=l_achieved, classes_below_l=below_l,
        )


def _check(df: pd.DataFrame, qi: Sequence[str], sensitive: str | None, k: int) -> None:
    if isinstance(qi, str):
        raise PrivacyInputError(
            "The 'quasi_identifiers' parameter must be a list of column names; got a string. "
            f"Write [{qi!r}]."
        )
    missing = [c for c in list(qi) + ([sensitive] if sensitive else []) if c not in df.columns]
    if missing:
        raise PrivacyInputError(
            f"Quasi-identifier or sensitive columns {missing} are not in the data. Columns: "
            f"{[str(c) for c in df.columns][:30]}."
        )
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise PrivacyInputError(f"The 'k' parameter must be a positive integer; got {k!r}.")


def risk_report(
    df: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    *,
    k: int = 5,
    sensitive: str | None = None,
    l: int = 2,  # noqa: E741
) -> RiskReport:
    """k-anonymity, distinct l-diversity and uniqueness of ``df`` on ``quasi_identifiers``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"zip": ["021", "021", "100"], "sex": ["F", "F", "M"]})
    >>> r = risk_report(df, ["zip", "sex"], k=2)
    >>> (r.k_achieved, r.records_below_k, r.unique_records)
    (1, 1, 1)
    """
    _check(df, quasi_identifiers, sensitive, k)
    return ClassCounts(quasi_identifiers, sensitive).update(df).report(k, l)


# --------------------------------------------------------------------------------------------
# Generalisation search.

@dataclass(frozen=True)
class GeneralisationSuggestion:
    """Generalisation steps that reach (or come closest to) a target k.

    Attributes
    ----------
    rules:
        Policy rules (``generalise`` / ``suppress``) for the quasi-identifiers that change.
    steps:
        Human-readable description of each step, in the order taken.
    before, after:
        Risk figures before and after applying ``rules``.
    reached:
        Whether ``after.k_achieved >= target_k``.
    """

    target_k: int
    rules: tuple[Rule, ...]
    steps: tuple[str, ...]
    before: RiskReport
    after: RiskReport

    @property
    def reached(self) -> bool:
        return self.after.k_achieved >= self.target_k


# The top of every ladder: the attribute is fully suppressed (one value for everybody).
_TOP: tuple[str, dict[str, Any]] = ("replace", {"value": "*"})


def _ladder(s: pd.Series, target_k: int) -> list[tuple[str, dict[str, Any]]]:
    """Generalisation steps for one column, finest first."""
    nonnull = s.dropna()
    if nonnull.empty:
        return []
    bands = [("generalise", {"to": "band", "width": float(w)}) for w in (5, 10, 20, 50, 100)]
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return bands + [_TOP]
    text = nonnull.astype(str).head(2000)
    lengths = text.str.len()
    if text.str.fullmatch(r"\d{3,10}").all() and lengths.nunique() == 1:
        # Fixed-length digit codes (ZIP, postal codes): shorten the prefix.
        top = int(lengths.max())
        return [("generalise", {"to": "prefix", "keep": n}) for n in range(top - 1, 0, -1)] \
            + [_TOP]
    nums = pd.to_numeric(text, errors="coerce")
    if nums.notna().mean() > 0.95 and not text.str.match(r"^0\d").any():
        return bands + [_TOP]
    dates = pd.to_datetime(text, errors="coerce", format="mixed")
    lengths = text.str.len()
    if dates.notna().mean() > 0.95 and text.str.contains(r"\d[-/.]\d", regex=True).mean() > 0.9:
        return [("generalise", {"to": t}) for t in ("month", "year", "decade")] + [_TOP]
    if text.str.match(r"^[A-Za-z0-9 -]+$").mean() > 0.95 and lengths.max() <= 10 and \
            text.str.contains(r"\d").mean() > 0.9:
        top = int(lengths.max())
        return [("generalise", {"to": "prefix", "keep": n}) for n in range(top - 1, 0, -1)] \
            + [_TOP]
    return [("suppress", {"min_count": m}) for m in sorted({2, max(2, target_k)})] + [_TOP]


def suggest_generalisation(
    df: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    target_k: int,
    *,
    sensitive: str | None = None,
    max_rows: int = 200_000,
    seed: int = 0,
) -> GeneralisationSuggestion:
    """Greedy search for generalisations of ``quasi_identifiers`` that reach ``target_k``.

    At each step every quasi-identifier's next rung (e.g. month -> year, band 10 -> 20,
    5-character ZIP -> 4 -> 3) is tried, and the one leaving the fewest records in classes
    smaller than ``target_k`` is kept (ties: the step that keeps more classes, i.e. more
    information). It stops when the target is met or every ladder is exhausted. Works on a
    random sample of ``max_rows`` rows for speed; ``after`` is measured on all of ``df``.
    """
    _check(df, quasi_identifiers, sensitive, target_k)
    qi = list(quasi_identifiers)
    before = risk_report(df, qi, k=target_k, sensitive=sensitive)
    work = df if len(df) <= max_rows else df.sample(max_rows, random_state=seed)
    search = _Search(work, qi, target_k, {c: _ladder(work[c], target_k) for c in qi})
    level, reached = search.climb()
    if reached:
        level = search.back_off(level)
    chosen = {c: search.ladders[c][level[c]] for c in qi if level[c] >= 0}
    steps = tuple(f"{c}: {op_name} " + ", ".join(f"{k}={v}" for k, v in params.items())
                  for c, (op_name, params) in chosen.items())
    rules = tuple(Rule.of(c, op_name, **params) for c, (op_name, params) in chosen.items())
    after = _risk_after(df, qi, rules, target_k, sensitive)
    return GeneralisationSuggestion(target_k, rules, steps, before, after)


_Rung = tuple[str, dict[str, Any]]


@dataclass
class _Search:
    """The greedy search over each quasi-identifier's ladder of rungs (finest first).

    A level of -1 leaves the column as it is; level ``i`` applies rung ``i`` of its ladder to
    the original values. A ladder is cut at the first rung its column refuses.
    """

    work: pd.DataFrame
    qi: list[str]
    target_k: int
    ladders: dict[str, list[_Rung]]

    def _applied(self, frame: pd.DataFrame, col: str, rung: _Rung) -> pd.DataFrame:
        op_name, params = rung
        op = get_operator(op_name)
        out = frame.copy()
        out[col] = op.apply(self.work[col], op.validate(params), OperatorContext(column=col))
        return out

    def _k(self, frame: pd.DataFrame) -> int:
        return risk_report(frame, self.qi, k=self.target_k).k_achieved

    def _frame_at(self, level: dict[str, int]) -> pd.DataFrame:
        frame = self.work[self.qi].copy()
        for c in self.qi:
            if level[c] >= 0:
                frame = self._applied(frame, c, self.ladders[c][level[c]])
        return frame

    def climb(self) -> tuple[dict[str, int], bool]:
        """(levels, whether they reach the target): the best next rung until the target is
        met or no rung merges any more values."""
        level = dict.fromkeys(self.qi, -1)
        current = self.work[self.qi].copy()
        while self._k(current) < self.target_k:
            step = self._best_step(current, level)
            if step is None:
                return level, False
            col, rung, current = step
            level[col] = rung
        return level, True

    def _best_step(
        self, current: pd.DataFrame, level: dict[str, int],
    ) -> tuple[str, int, pd.DataFrame] | None:
        """The column, rung and frame whose step leaves the fewest records below k (ties:
        the most classes), or ``None`` when no column has a rung left."""
        best: tuple[tuple[int, int], str, int, pd.DataFrame] | None = None
        for col in self.qi:
            found = self._next_merging_rung(current, col, level[col] + 1)
            if found is None:
                continue
            rung, cand = found
            r = risk_report(cand, self.qi, k=self.target_k)
            score = (r.records_below_k, r.n_classes)
            if best is None or score < best[0]:
                best = (score, col, rung, cand)
        return None if best is None else best[1:]

    def _next_merging_rung(
        self, current: pd.DataFrame, col: str, start: int,
    ) -> tuple[int, pd.DataFrame] | None:
        """The first rung from ``start`` that merges values of ``col`` (e.g. not a suppression
        when no value is rare enough), with the frame it gives."""
        for rung in range(start, len(self.ladders[col])):
            try:
                cand = self._applied(current, col, self.ladders[col][rung])
            except PrivacyInputError:
                self.ladders[col] = self.ladders[col][:rung]
                return None
            if cand[col].nunique(dropna=False) < current[col].nunique(dropna=False):
                return rung, cand
        return None

    def back_off(self, level: dict[str, int]) -> dict[str, int]:
        """Undo every rung the target does not need (the greedy path can overshoot)."""
        changed = True
        while changed:
            changed = False
            for c in self.qi:
                if level[c] < 0:
                    continue
                trial = dict(level, **{c: level[c] - 1})
                if self._k(self._frame_at(trial)) >= self.target_k:
                    level = trial
                    changed = True
        return level


def _risk_after(
    df: pd.DataFrame, qi: list[str], rules: tuple[Rule, ...], target_k: int,
    sensitive: str | None,
) -> RiskReport:
    """The risk figures of all of ``df`` once ``rules`` are applied."""
    full = df[qi + ([sensitive] if sensitive and sensitive not in qi else [])].copy()
    for r in rules:
        full[r.column] = get_operator(r.operator).apply(full[r.column], r.params,
                                                        OperatorContext(column=r.column))
    return risk_report(full, qi, k=target_k, sensitive=sensitive)
