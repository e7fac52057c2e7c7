"""Which columns of the audit dataset hold personal data, and of which kinds: one classification.

:class:`PersonalDataClassification` is computed once per audit (by the runner, in
``build_context``) and read by everything that counts or judges personal data: the scope line
("N personal columns"), the data-protection inventory and special-category findings, the dataset
check's findings on protected attributes, and the security check's dataset-at-rest finding. So
the report cannot say in one place that ``race`` is GDPR Art. 9 data and in another that no
column is personal.

A column is personal data when any of these holds:

- it is declared in ``[data] personal``;
- the PII scan (:func:`auditkit.privacy.masking.scan`) finds an entity in it: a direct
  identifier, credential or financial datum, free text with embedded entities, a
  quasi-identifier (ZIP code, date of birth, coordinates, location, sex, age) or a special
  category;
- it is a protected attribute (``[data] protected``): it describes the people the data is about
  (sex, age, race, marital status ...), so it is information relating to them (GDPR Art. 4(1)).

Special category (GDPR Art. 9(1)) is claimed only for the kinds Art. 9 lists: racial or ethnic
origin, political opinions, religious or philosophical beliefs, trade-union membership, genetic
and biometric data, health, sex life or sexual orientation. Sex or gender as such, marital status
and age are personal data but not Art. 9 data.

The *values* that no report, log or error may carry are those of :attr:`identifying_columns`
(declared columns, identifiers, and ZIP code, date of birth and coordinates, which single people
out on their own); category labels ("Female", "Married", "25-34") are not identifiers and can
name groups in the fairness and explanation sections.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from auditkit._label_shapes import (
    is_person_role,
    looks_like_id,
    looks_like_id_labels,
    looks_like_person,
    looks_like_person_labels,
)
from auditkit.errors import UnknownColumnError
from auditkit.hints import did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from auditkit.privacy.masking import Inventory

__all__ = [
    "ART9_KINDS",
    "CATEGORIES",
    "CCPA_SENSITIVE_ENTITIES",
    "MAX_CATEGORY_LABELS",
    "PersonalColumn",
    "PersonalDataClassification",
    "classify_personal_columns",
    "classify_personal_data",
    "category_label_columns",
    "is_person_role",
    "labels_to_pseudonymise",
    "looks_like_id",
    "looks_like_id_labels",
    "looks_like_person",
    "looks_like_person_labels",
    "pseudonymise_labels",
]

#: A grouping column with at most this many distinct values holds category labels.
MAX_CATEGORY_LABELS = 50

# Rows the PII scan reads: enough for stable shares, fast on wide frames.
_SCAN_ROWS = 2_000
# Quasi-identifier types whose values single people out on their own; sex, age and coarse
# locations are left out so that fairness and explanation reports can still name groups.
_IDENTIFYING_QUASI = frozenset({"ZIP_CODE", "DATE_OF_BIRTH", "GEO_COORDINATE"})


#: The categories a column of personal data can carry (a column may carry several).
CATEGORIES: tuple[str, ...] = (
    "identifier",  # direct identifiers, credentials, financial data, free text with entities
    "quasi_identifier",  # ZIP code, date of birth, coordinates, location, sex, age
    "special_category",  # GDPR Art. 9(1)
    "ccpa_sensitive",  # CCPA "sensitive personal information", Cal. Civ. Code 1798.140(ae)
    "protected_attribute",  # named in [data] protected
    "declared",  # named in [data] personal
)

#: Entity types of the PII scan that are GDPR Art. 9(1) special categories, and the kind each is.
ART9_KINDS: Mapping[str, str] = MappingProxyType({
    "RACIAL_ETHNIC_ORIGIN": "racial or ethnic origin",
    "POLITICAL_OPINION": "political opinions",
    "RELIGION": "religious or philosophical beliefs",
    "TRADE_UNION": "trade union membership",
    "BIOMETRIC": "genetic or biometric data",
    "HEALTH_DATA": "health",
    "SEX_LIFE": "sex life or sexual orientation",
})

#: Entity types that are CCPA sensitive personal information (§1798.140(ae)): government ids,
#: account credentials and card data, precise geolocation, racial or ethnic origin, religious
#: beliefs, union membership, genetic and biometric data, health, sex life or orientation.
#: (Political opinions are Art. 9 data but not on the CCPA list.)
CCPA_SENSITIVE_ENTITIES: frozenset[str] = frozenset({
    "US_SSN", "NATIONAL_ID", "CREDIT_CARD", "CARD_SECURITY_CODE", "IBAN_CODE", "PASSWORD",
    "USERNAME", "GEO_COORDINATE", "RACIAL_ETHNIC_ORIGIN", "RELIGION", "TRADE_UNION",
    "BIOMETRIC", "HEALTH_DATA", "SEX_LIFE",
})

_IDENTIFIER_SCAN_CATEGORIES = frozenset({"direct", "credential", "financial"})


@dataclass(frozen=True)
class PersonalColumn:
    """How one column is classified.

    Attributes
    ----------
    column:
        The column name.
    categories:
        The subset of :data:`CATEGORIES` that applies; empty when the column is not personal.
    entities:
        Entity types the PII scan found (the column's own, then those embedded in its text).
    special_kinds:
        The GDPR Art. 9(1) kinds (:data:`ART9_KINDS` values) the column holds; empty if none.
    basis:
        Why the column is personal, in words ("PII scan: EMAIL_ADDRESS", "protected
        attribute", "declared in [data] personal").
    """

    column: str
    categories: frozenset[str] = frozenset()
    entities: tuple[str, ...] = ()
    special_kinds: tuple[str, ...] = ()
    basis: tuple[str, ...] = ()

    @property
    def personal(self) -> bool:
        """Whether the column holds personal data."""
        return bool(self.categories)

    @property
    def special_category(self) -> bool:
        """Whether the column holds GDPR Art. 9(1) special-category data."""
        return "special_category" in self.categories

    def __contains__(self, category: str) -> bool:
        return category in self.categories


@dataclass(frozen=True)
class PersonalDataClassification:
    """The one classification of personal data of an audit (see the module docstring).

    Build it with :meth:`classify` (scans the frame) or :meth:`from_inventory` (reuses a scan).
    Every count of personal columns in a report is ``len(classification.personal_columns)``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"race": ["A", "B"] * 5, "marital_status": ["x", "y"] * 5,
    ...                    "n": range(10)})
    >>> pc = PersonalDataClassification.classify(df, protected=["race", "marital_status"])
    >>> pc.personal_columns, pc.special_category_columns
    (('race', 'marital_status'), ('race',))
    """

    columns: tuple[PersonalColumn, ...]
    inventory: Inventory | None = field(default=None, compare=False, repr=False)
    _by_name: dict[str, PersonalColumn] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({c.column: c for c in self.columns})

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def classify(
        cls,
        df: pd.DataFrame,
        *,
        declared: Iterable[str] = (),
        protected: Iterable[str] = (),
        sample_rows: int | None = _SCAN_ROWS,
        seed: int = 0,
    ) -> PersonalDataClassification:
        """Scan ``df`` (a sample of ``sample_rows`` rows, seeded) and classify every column.

        Parameters
        ----------
        df:
            The data.
        declared:
            Columns declared personal (``[data] personal``).
        protected:
            Protected attributes (``[data] protected``).
        sample_rows, seed:
            Rows the PII scan reads (``None``: all), and the seed of the sample.
        """
        inv = None
        if len(df.columns) and len(df):
            from auditkit.privacy.masking import scan

            inv = scan(df, sample_rows=sample_rows, seed=seed)
        protected = [str(c) for c in protected]
        by_values = {c: "racial or ethnic origin" for c in protected
                     if c in df.columns and labels_look_like_race(df[c])}
        return cls.from_inventory(inv, declared=declared, protected=protected,
                                  columns=[str(c) for c in df.columns], value_kinds=by_values)

    @classmethod
    def from_inventory(
        cls,
        inventory: Inventory | None,
        *,
        declared: Iterable[str] = (),
        protected: Iterable[str] = (),
        columns: Iterable[str] | None = None,
        value_kinds: Mapping[str, str] | None = None,
    ) -> PersonalDataClassification:
        """The classification of a prior scan plus the declared and protected columns.

        ``columns`` (default: the inventory's) fixes the column order; a declared or protected
        column the inventory lacks is still classified. ``value_kinds`` adds Art. 9 kinds that
        a column's values give away when its name does not (a headerless ``column_9`` of race
        labels: :func:`labels_look_like_race`).
        """
        declared_set = {str(c) for c in declared}
        protected_set = {str(c) for c in protected}
        names = list(columns) if columns is not None else (
            [c.column for c in inventory] if inventory is not None else [])
        names += [c for c in sorted(declared_set | protected_set) if c not in names]
        scanned = {c.column: c for c in inventory} if inventory is not None else {}
        out = tuple(_classify_column(n, scanned.get(n), n in declared_set, n in protected_set,
                                     (value_kinds or {}).get(n))
                    for n in names)
        return cls(out, inventory)

    # -- access -------------------------------------------------------------------------------
    def __getitem__(self, column: str) -> PersonalColumn:
        try:
            return self._by_name[column]
        except KeyError:
            raise UnknownColumnError(
                f"The classification has no column {column!r}.{did_you_mean(column, self._by_name)}"
                " Classify it first: name it in [data] personal or [data] protected, or scan a "
                "frame that has it."
            ) from None

    def __iter__(self) -> Iterator[PersonalColumn]:
        return iter(self.columns)

    def __contains__(self, column: object) -> bool:
        return column in self._by_name

    def __len__(self) -> int:
        return len(self.columns)

    def _with(self, category: str) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if category in c.categories)

    @property
    def personal_columns(self) -> tuple[str, ...]:
        """Every column holding personal data, in column order: what the scope counts."""
        return tuple(c.column for c in self.columns if c.personal)

    @property
    def identifier_columns(self) -> tuple[str, ...]:
        """Direct identifiers, credentials, financial data and free text with entities."""
        return self._with("identifier")

    @property
    def quasi_identifiers(self) -> tuple[str, ...]:
        """Quasi-identifiers the scan found (ZIP code, date of birth, location, sex, age)."""
        return self._with("quasi_identifier")

    @property
    def special_category_columns(self) -> tuple[str, ...]:
        """Columns of GDPR Art. 9(1) special categories."""
        return self._with("special_category")

    @property
    def ccpa_sensitive_columns(self) -> tuple[str, ...]:
        """Columns of CCPA sensitive personal information (§1798.140(ae))."""
        return self._with("ccpa_sensitive")

    @property
    def protected_columns(self) -> tuple[str, ...]:
        """Protected attributes (all of them personal data)."""
        return self._with("protected_attribute")

    @property
    def identifying_columns(self) -> frozenset[str]:
        """Columns whose values single people out and must never be written: declared
        columns, identifiers, and ZIP code, date of birth and coordinates."""
        return frozenset(
            c.column for c in self.columns
            if {"declared", "identifier"} & c.categories
            or set(c.entities[:1]) & _IDENTIFYING_QUASI
        )

    def counts(self) -> dict[str, int]:
        """Number of personal columns, and of columns per category (for metrics)."""
        out = {"personal_columns": len(self.personal_columns)}
        out.update({f"{c}_columns": len(self._with(c)) for c in CATEGORIES})
        return out

    ROW_HEADERS = ("column", "categories", "entities", "special category (Art. 9)", "basis")

    def to_rows(self) -> list[list[str]]:
        """One row per personal column (names, categories and types only, never a value)."""
        return [
            [c.column, ", ".join(k for k in CATEGORIES if k in c.categories),
             ", ".join(c.entities) or "-", ", ".join(c.special_kinds) or "-", "; ".join(c.basis)]
            for c in self.columns if c.personal
        ]


#: Category labels of race or ethnicity (case-folded, a trailing '.' dropped): a protected
#: column whose labels are mostly these holds Art. 9 data whatever it is called.
RACE_LABELS = frozenset({"white", "black", "asian", "hispanic", "latino", "caucasian",
                         "african-american", "african american", "asian-pac-islander",
                         "amer-indian-eskimo", "native american", "pacific islander"})


def labels_look_like_race(column: pd.Series) -> bool:
    """Whether at least two of a column's distinct labels, and half of them, are race or
    ethnicity labels (:data:`RACE_LABELS`)."""
    values = {str(v).strip().rstrip(".").casefold() for v in column.dropna().unique()[:200]}
    hits = values & RACE_LABELS
    return len(hits) >= 2 and len(hits) >= 0.5 * len(values)


def _classify_column(
    name: str, scanned: object, declared: bool, protected: bool, value_kind: str | None = None
) -> PersonalColumn:
    """One column's categories from its scan result, its configured roles and the Art. 9 kind
    its values give away (``value_kind``)."""
    categories: set[str] = set()
    basis: list[str] = []
    entities: tuple[str, ...] = ()
    if scanned is not None and getattr(scanned, "personal", False):
        entities = tuple(scanned.entities)  # type: ignore[attr-defined]
        cat = scanned.category  # type: ignore[attr-defined]
        if cat in _IDENTIFIER_SCAN_CATEGORIES or getattr(scanned, "embedded", False):
            categories.add("identifier")
        if cat == "quasi":
            categories.add("quasi_identifier")
        basis.append("PII scan: " + ", ".join(entities))
    kinds = tuple(dict.fromkeys([*(ART9_KINDS[e] for e in entities if e in ART9_KINDS),
                                 *([value_kind] if value_kind else [])]))
    if value_kind:
        basis.append(f"its labels are {value_kind} categories")
    if kinds or (scanned is not None and getattr(scanned, "category", None) == "special"):
        categories.add("special_category")
    if set(entities) & CCPA_SENSITIVE_ENTITIES:
        categories.add("ccpa_sensitive")
    if protected:
        categories.add("protected_attribute")
        basis.append("protected attribute")
    if declared:
        categories.add("declared")
        basis.append("declared in [data] personal")
    return PersonalColumn(name, frozenset(categories), entities, kinds, tuple(basis))


def classify_personal_data(
    df: pd.DataFrame,
    declared: Iterable[str] = (),
    protected: Iterable[str] = (),
    *,
    sample_rows: int | None = _SCAN_ROWS,
    seed: int = 0,
) -> PersonalDataClassification:
    """:meth:`PersonalDataClassification.classify` as a function (the runner's entry point)."""
    return PersonalDataClassification.classify(
        df, declared=declared, protected=protected, sample_rows=sample_rows, seed=seed)


def classify_personal_columns(df: pd.DataFrame, declared: Iterable[str] = ()) -> frozenset[str]:
    """The columns whose values must never be written: declared in the config, identifiers
    and identifying quasi-identifiers (ZIP code, date of birth, precise coordinates) found by
    the PII scan; :attr:`PersonalDataClassification.identifying_columns`."""
    return classify_personal_data(df, declared).identifying_columns


def _identifying_by_scan(column: PersonalColumn) -> bool:
    """Whether the PII scan found the column's values to single people out: an identifier
    (names, ids, contacts, free text with entities) or ZIP code, date of birth, coordinates."""
    return "identifier" in column.categories or bool(set(column.entities[:1]) & _IDENTIFYING_QUASI)


def labels_to_pseudonymise(
    frame: pd.DataFrame, classification: PersonalDataClassification | None = None
) -> frozenset[str]:
    """Grouping columns (protected attributes) whose labels must not be shown as they are.

    The one decision behind every output that names groups (the fairness and performance
    checks, ``auditkit gate``, the guard's exemption: :attr:`AuditContext.category_label_columns`).
    A column's labels are shown only when they are category labels ("Female", "Caucasian",
    "25-34"): at most :data:`MAX_CATEGORY_LABELS` distinct values, and not identifying, i.e.

    - the PII scan (of ``frame``, and ``classification``'s when given) does not class it as an
      identifier or an identifying quasi-identifier (names, ids, contacts, date of birth, ZIP
      code, coordinates);
    - its values are not shaped like people's names (:func:`looks_like_person_labels`);
    - its values are not shaped like ids (:func:`looks_like_id_labels`).

    Declaring a column in ``[data] personal`` does not by itself hide category labels (race
    declared personal still names its groups); a declared column of names or ids is hidden
    like any other. Every other column is shown as ``group 1..k`` (:func:`pseudonymise_labels`).

    Parameters
    ----------
    frame:
        The grouping columns.
    classification:
        The audit's classification, whose scan results count too (optional).
    """
    small = [c for c in frame.columns if frame[c].nunique(dropna=True) <= MAX_CATEGORY_LABELS]
    identifying: set[str] = set()
    if classification is not None:
        identifying |= {str(c) for c in frame.columns if str(c) in classification
                        and _identifying_by_scan(classification[str(c)])}
    if small and len(frame):
        from auditkit.privacy.masking import scan

        inv = scan(frame[small].astype("string"), sample_rows=_SCAN_ROWS)
        identifying |= {c.column for c in PersonalDataClassification.from_inventory(inv)
                        if _identifying_by_scan(c)}
    return frozenset(
        str(c) for c in frame.columns
        if c not in small or str(c) in identifying
        or looks_like_person_labels(frame[c], str(c)) or looks_like_id_labels(frame[c])
    )


def category_label_columns(
    frame: pd.DataFrame, classification: PersonalDataClassification | None = None
) -> frozenset[str]:
    """The columns of ``frame`` whose labels may be shown: those :func:`labels_to_pseudonymise`
    keeps."""
    return frozenset(str(c) for c in frame.columns) - labels_to_pseudonymise(frame, classification)


def pseudonymise_labels(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy of ``frame`` whose ``columns`` hold ``group 1`` .. ``group k`` instead of their
    values (numbered in sorted order of the values, so stable for the same data; missing
    values stay missing). The mapping is never written anywhere."""
    out = frame.copy()
    for c in columns:
        values = sorted(out[c].dropna().unique(), key=str)
        out[c] = out[c].map({v: f"group {i + 1}" for i, v in enumerate(values)})
    return out
