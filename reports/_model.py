"""The neutral findings model every renderer consumes.

The model is deliberately independent of the domain packages: checks in ``auditkit`` translate
their results into :class:`Finding`, :class:`Table` and :class:`Figure` objects, and the renderers
in this package turn a :class:`Report` into HTML, Markdown, JSON or PDF.

All objects are plain frozen dataclasses with ``to_dict`` / ``from_dict`` so that the JSON form
(validated against ``reports/schema/report-<version>.schema.json``) round-trips exactly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from auditkit.reports._cells import Cell, Scalar, clean_cell, clean_scalar
from auditkit.reports.errors import ReportInputError

#: The schema written. 1.2 added table cells that are tuples of texts (an intersection's group,
#: one level per attribute; a JSON array). Documents of 1.0 and 1.1 read unchanged.
SCHEMA_VERSION = "1.2"

__all__ = [
    "SCHEMA_VERSION",
    "SECTION_KINDS",
    "TABLE_PLACEMENTS",
    "Artifact",
    "Figure",
    "Finding",
    "Report",
    "Section",
    "Severity",
    "Status",
    "Table",
    "worst_status",
]


class Status(str, Enum):
    """Outcome of one finding."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"
    ERROR = "error"
    NOT_APPLICABLE = "not_applicable"

    @property
    def label(self) -> str:
        return {
            "pass": "Pass",
            "warn": "Warning",
            "fail": "Fail",
            "insufficient_evidence": "Insufficient evidence",
            "error": "Error",
            "not_applicable": "Not applicable",
        }[self.value]


# Higher rank = worse; used for section and report roll-ups.
_STATUS_RANK = {
    Status.NOT_APPLICABLE: 0,
    Status.PASS: 1,
    Status.INSUFFICIENT_EVIDENCE: 2,
    Status.WARN: 3,
    Status.ERROR: 4,
    Status.FAIL: 5,
}


def worst_status(statuses: Iterable[Status]) -> Status:
    """The most serious status in ``statuses`` (``not_applicable`` when empty)."""
    worst = Status.NOT_APPLICABLE
    for s in statuses:
        if _STATUS_RANK[Status(s)] > _STATUS_RANK[worst]:
            worst = Status(s)
    return worst


class Severity(str, Enum):
    """How much a failing finding matters."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


_INTERVAL = re.compile(r"(^|[_ ])(ci|lower|upper|low|high)([_ ]|$)|interval", re.IGNORECASE)


def is_interval(name: str) -> bool:
    """Whether a metric or column name is an interval bound (``ci_low``, ``95% CI high``...)."""
    return bool(_INTERVAL.search(str(name)))


#: Where a table is shown: in its section (``body``), or in the report's appendix (``appendix``:
#: full detail, such as every intersection, that the section summarises).
TABLE_PLACEMENTS = ("body", "appendix")


@dataclass(frozen=True)
class Table:
    """An evidence table: a title, column headers and rows of cells (scalars, or a tuple of
    texts for an intersection's group: :mod:`auditkit.reports._cells`)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str | None = None
    placement: str = "body"

    def __init__(
        self,
        title: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        note: str | None = None,
        placement: str = "body",
    ) -> None:
        cols = tuple(str(c) for c in columns)
        clean_rows = tuple(tuple(clean_cell(v) for v in row) for row in rows)
        for i, row in enumerate(clean_rows):
            if len(row) != len(cols):
                raise ReportInputError(
                    f"Table {title!r}: row {i} has {len(row)} cells but there are "
                    f"{len(cols)} columns."
                )
        object.__setattr__(self, "title", str(title))
        object.__setattr__(self, "columns", cols)
        object.__setattr__(self, "rows", clean_rows)
        if placement not in TABLE_PLACEMENTS:
            raise ReportInputError(
                f"Table {title!r}: placement must be one of {', '.join(TABLE_PLACEMENTS)}; got "
                f"{placement!r}."
            )
        object.__setattr__(self, "note", note)
        object.__setattr__(self, "placement", placement)

    @classmethod
    def from_frame(
        cls,
        title: str,
        frame: Any,
        *,
        index: bool = True,
        note: str | None = None,
        placement: str = "body",
    ) -> Table:
        """Build a table from a pandas DataFrame (the index becomes the first columns)."""
        df = frame.reset_index() if index else frame
        return cls(
            title, [str(c) for c in df.columns], df.itertuples(index=False, name=None), note,
            placement,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": list(self.columns),
            "rows": [[list(v) if isinstance(v, tuple) else v for v in r] for r in self.rows],
            "note": self.note,
            "placement": self.placement,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Table:
        rows = [[tuple(v) if isinstance(v, list) else v for v in r] for r in d["rows"]]
        return cls(d["title"], d["columns"], rows, d.get("note"), d.get("placement", "body"))


@dataclass(frozen=True)
class Figure:
    """A chart, inlined in reports. ``svg`` is a complete ``<svg>`` document."""

    title: str
    svg: str
    alt: str = ""

    def __post_init__(self) -> None:
        # matplotlib writes each label as an SVG comment: no figure keeps them
        from auditkit.reports._svg import strip_svg_comments

        object.__setattr__(self, "svg", strip_svg_comments(self.svg))

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "svg": self.svg, "alt": self.alt}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Figure:
        return cls(d["title"], d["svg"], d.get("alt", ""))

    @classmethod
    def from_matplotlib(cls, title: str, fig: Any, alt: str = "") -> Figure:
        """A figure from a matplotlib figure, which is rendered to SVG and closed."""
        import io

        import matplotlib.pyplot as plt

        buf = io.StringIO()
        try:
            fig.savefig(buf, format="svg")
        finally:
            plt.close(fig)
        svg = buf.getvalue()
        return cls(title, svg[svg.index("<svg"):], alt)


@dataclass(frozen=True)
class Finding:
    """One statement of the audit, with its evidence.

    Parameters
    ----------
    check_id:
        Stable dotted id, e.g. ``"fairness.demographic_parity_ratio"``. Never reused for a
        different meaning: CI tooling keys on it.
    status:
        A :class:`Status`.
    metrics:
        Named scalar measurements backing the statement.
    regulations:
        Ids from the regulation catalogue (``auditkit.reports.catalogue``), e.g. ``"gdpr-art-22-3"``.
    """

    check_id: str
    title: str
    status: Status
    severity: Severity = Severity.MEDIUM
    summary: str = ""
    metrics: Mapping[str, Scalar] = field(default_factory=dict)
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    regulations: tuple[str, ...] = ()
    remediation: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(
            self, "metrics", {str(k): clean_scalar(v) for k, v in dict(self.metrics).items()}
        )
        object.__setattr__(self, "tables", tuple(self.tables))
        object.__setattr__(self, "figures", tuple(self.figures))
        object.__setattr__(self, "regulations", tuple(self.regulations))

    def fact_key(self) -> tuple[Any, ...] | None:
        """What the finding states, without its name and without its interval estimates.

        Two findings with the same key report one fact under two names (a demographic-parity
        ratio and an impact ratio of the same value between the same groups, whose bootstrap
        intervals differ only by their resampling); renderers show it once. The key is the
        status, the metrics and the table rows, leaving out interval bounds (:func:`is_interval`
        names). ``None`` when the finding carries no measured (non-integral) number, so that
        findings of flags and counts are never merged.
        """
        point = {k: v for k, v in self.metrics.items() if not is_interval(k)}
        measured = any(
            isinstance(v, float) and not float(v).is_integer() for v in point.values()
        )
        if not measured:
            return None
        tables = []
        for t in self.tables:
            keep = [i for i, c in enumerate(t.columns) if not is_interval(c)]
            tables.append(tuple(tuple(row[i] for i in keep) for row in t.rows))
        return self.status.value, tuple(sorted(point.items())), tuple(tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "title": self.title,
            "status": self.status.value,
            "severity": self.severity.value,
            "summary": self.summary,
            "metrics": dict(self.metrics),
            "tables": [t.to_dict() for t in self.tables],
            "figures": [f.to_dict() for f in self.figures],
            "regulations": list(self.regulations),
            "remediation": self.remediation,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            check_id=d["check_id"],
            title=d["title"],
            status=Status(d["status"]),
            severity=Severity(d.get("severity", "medium")),
            summary=d.get("summary", ""),
            metrics=d.get("metrics", {}),
            tables=tuple(Table.from_dict(t) for t in d.get("tables", [])),
            figures=tuple(Figure.from_dict(f) for f in d.get("figures", [])),
            regulations=tuple(d.get("regulations", [])),
            remediation=d.get("remediation"),
        )


#: What a section is: an ``area`` the checks examined (its findings), or ``narrative`` written
#: from the findings and the configuration (executive summary, DPIA, model card), which holds
#: paragraphs (``summary``, blank-line separated) and tables, and no findings of its own.
SECTION_KINDS = ("area", "narrative")


@dataclass(frozen=True)
class Section:
    """One area of the report (data protection, security, fairness, ...), or a narrative part
    (``kind="narrative"``: executive summary, DPIA, model card)."""

    id: str
    title: str
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    kind: str = "area"

    def __post_init__(self) -> None:
        if self.kind not in SECTION_KINDS:
            raise ReportInputError(
                f"Section {self.id!r}: kind must be one of {', '.join(SECTION_KINDS)}; got "
                f"{self.kind!r}."
            )
        if self.kind == "narrative" and self.findings:
            raise ReportInputError(
                f"Section {self.id!r}: a narrative section holds no findings of its own; put "
                "them in an area section."
            )
        object.__setattr__(self, "findings", tuple(self.findings))
        object.__setattr__(self, "tables", tuple(self.tables))
        object.__setattr__(self, "figures", tuple(self.figures))

    @property
    def status(self) -> Status:
        return worst_status(f.status for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "findings": [f.to_dict() for f in self.findings],
            "tables": [t.to_dict() for t in self.tables],
            "figures": [f.to_dict() for f in self.figures],
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Section:
        return cls(
            id=d["id"],
            title=d["title"],
            summary=d.get("summary", ""),
            findings=tuple(Finding.from_dict(f) for f in d.get("findings", [])),
            tables=tuple(Table.from_dict(t) for t in d.get("tables", [])),
            figures=tuple(Figure.from_dict(f) for f in d.get("figures", [])),
            kind=d.get("kind", "area"),
        )


@dataclass(frozen=True)
class Artifact:
    """A file the audit read or wrote, pinned by its SHA-256."""

    name: str
    kind: str  # "data", "model", "config", "ledger", "keyring", "report", "figure", ...
    sha256: str
    size: int
    path: str | None = None
    note: str | None = None

    @classmethod
    def from_path(
        cls, path: str | Path, kind: str, *, name: str | None = None, note: str | None = None
    ) -> Artifact:
        p = Path(path)
        digest, size = sha256_file(p)
        return cls(name=name or p.name, kind=kind, sha256=digest, size=size, path=str(p), note=note)

    def to_dict(self) -> dict[str, Any]:
        """Every field by its name (the report JSON's ``artifacts`` entries)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Artifact:
        """The inverse of :meth:`to_dict`; the optional fields may be absent."""
        return cls(**{f.name: d[f.name] if f.default is MISSING else d.get(f.name, f.default)
                      for f in fields(cls)})


def sha256_file(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            size += len(block)
            h.update(block)
    return h.hexdigest(), size


@dataclass(frozen=True)
class Report:
    """A complete audit report.

    ``metadata`` holds the cover facts (title, system, owner, version, generated_at, tool
    version); ``environment`` holds the Python version, platform and package versions;
    ``config`` is the effective configuration (already free of secrets).
    """

    metadata: Mapping[str, Scalar]
    sections: tuple[Section, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    environment: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    limitations: tuple[str, ...] = ()
    schema_version: str = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "sections", tuple(self.sections))
        object.__setattr__(self, "artifacts", tuple(self.artifacts))
        object.__setattr__(self, "limitations", tuple(self.limitations))
        object.__setattr__(
            self, "metadata", {str(k): clean_scalar(v) for k, v in dict(self.metadata).items()}
        )

    @property
    def status(self) -> Status:
        return worst_status(s.status for s in self.sections)

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.sections for f in s.findings]

    @property
    def areas(self) -> list[Section]:
        """The sections of kind ``area`` (those the checks filled), in order."""
        return [s for s in self.sections if s.kind == "area"]

    @property
    def narrative(self) -> list[Section]:
        """The sections of kind ``narrative`` (executive summary, DPIA, model card), in order."""
        return [s for s in self.sections if s.kind == "narrative"]

    def counts(self) -> dict[str, int]:
        """Number of findings per status (every status present, zero when absent)."""
        out = {s.value: 0 for s in Status}
        for f in self.findings:
            out[f.status.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "status": self.status.value,
            "counts": self.counts(),
            "metadata": dict(self.metadata),
            "sections": [s.to_dict() for s in self.sections],
            "artifacts": [a.to_dict() for a in self.artifacts],
            "environment": _jsonable(self.environment),
            "config": _jsonable(self.config),
            "limitations": list(self.limitations),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        return cls(
            metadata=d.get("metadata", {}),
            sections=tuple(Section.from_dict(s) for s in d.get("sections", [])),
            artifacts=tuple(Artifact.from_dict(a) for a in d.get("artifacts", [])),
            environment=d.get("environment", {}),
            config=d.get("config", {}),
            limitations=tuple(d.get("limitations", [])),
            schema_version=d.get("schema_version", SCHEMA_VERSION),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return clean_scalar(value)
