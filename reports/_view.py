"""What the HTML and Markdown renderers share: the report's structure, computed once.

:func:`build_view` turns a :class:`~auditkit.reports._model.Report` into plain data (cover facts, the
executive summary, resolved regulation references, the regulation index, the appendix) so that
both renderers show the same things in the same order. Nothing here escapes or formats: that is
each renderer's job.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditkit.reports._cells import cell_text
from auditkit.reports._model import Finding, Report, Section, Status, Table
from auditkit.reports.catalogue import Catalogue, get_catalogue

__all__ = [
    "NOT_LEGAL_ADVICE",
    "AppendixTable",
    "RegRef",
    "TableView",
    "build_view",
    "clean_text",
    "paragraphs",
    "truncate",
]

NOT_LEGAL_ADVICE = (
    "This report is evidence for review by qualified people, not legal advice. It records what "
    "automated checks measured on the stated data and model; whether the processing complies with "
    "a law is for the controller, its data protection officer and counsel to decide."
)

CATALOGUE_LIMITATIONS = (
    "Regulation references show which provisions a finding bears on. They are not a statement "
    "that the provision is met or breached.",
    "Catalogue entries marked as confirmed in secondary sources only should be checked against "
    "the official text before anyone relies on them.",
)

DEFAULT_LIMITATIONS = (
    "Checks measure the data and model named on the cover, at the time of the run. They say nothing "
    "about other data, other versions, or how the system is used in practice.",
    "Statistical results carry uncertainty; small groups give wide intervals and are reported as "
    "insufficient evidence rather than as a pass.",
)

# Keys the cover reads from Report.metadata, with the aliases accepted for each.
COVER_KEYS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("system", "System", ("system", "system_name", "name")),
    ("version", "System version", ("version", "system_version", "model_version")),
    ("owner", "Owner", ("owner", "organisation", "organization")),
    ("date", "Date", ("generated_at", "date", "created_at")),
    ("tool", "Produced by", ("tool_version", "auditkit_version", "tool")),
)

# Cover facts shown only when the report has them (a narrative's overall risk rating).
OPTIONAL_COVER_KEYS: tuple[tuple[str, str], ...] = (("risk_rating", "Overall risk rating"),)

#: The id of the narrative section shown as the executive summary.
EXECUTIVE_SUMMARY_ID = "executive_summary"

# Metadata shown under "Scope and method" rather than on the cover.
SCOPE_KEYS: tuple[tuple[str, str], ...] = (
    ("description", "Description"),
    ("scope", "Scope"),
    ("purpose", "Purpose"),
    ("intended_use", "Intended use"),
    ("method", "Method notes"),
    ("dataset", "Dataset"),
    ("rows", "Rows"),
    ("columns", "Columns"),
    ("personal_columns", "Columns classified as personal data"),
    ("config_file", "Configuration file"),
)

FINGERPRINT_KINDS = ("data", "model", "config")

# Bidirectional-override and other invisible formatting characters that could make text read
# differently from what it is ("Trojan source"). Shown as visible escapes instead.
_FORMAT_CHARS = re.compile(
    "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]"
)


def clean_text(value: Any, *, keep_newlines: bool = True) -> str:
    """``value`` as text with control and bidi-override characters made visible.

    Newlines and tabs are kept when ``keep_newlines`` (the renderer decides what to do with them),
    otherwise every line break becomes a space.
    """
    text = "" if value is None else str(cell_text(value))

    def esc(ch: str) -> str:
        return f"\\u{ord(ch):04x}"

    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(ch if keep_newlines else " ")
        elif ch == "\r":
            out.append("" if keep_newlines else " ")
        elif unicodedata.category(ch) == "Cc" or _FORMAT_CHARS.match(ch):
            out.append(esc(ch))
        else:
            out.append(ch)
    return "".join(out)


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, saying how long it was."""
    if limit <= 0 or len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated; {len(text):,} characters in all]"


def format_scalar(value: Any) -> str:
    """A metric or cell value as display text (floats to 4 significant digits)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1e6 or abs(value) < 1e-3:
            return f"{value:.3e}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(cell_text(value))  # a tuple cell: its parts joined


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return s[:60] or "x"


@dataclass(frozen=True)
class RegRef:
    """A regulation reference resolved against the catalogue (``known=False`` when absent)."""

    id: str
    known: bool
    citation: str
    title: str = ""
    url: str = ""
    law: str = ""
    law_name: str = ""
    status: str = ""
    note: str = ""

    @property
    def anchor(self) -> str:
        return "reg-" + slug(self.id)


@dataclass
class AppendixTable:
    """A table with ``placement="appendix"``: shown in the appendix as ``number``, with a
    reference back to where it belongs (``source_title`` at ``source_anchor``)."""

    table: Table
    anchor: str
    number: str
    source_title: str
    source_anchor: str


@dataclass
class TableView:
    """A table where it belongs: shown there, or (``appendix`` set) referred to the appendix."""

    table: Table
    appendix: AppendixTable | None = None


@dataclass
class FindingView:
    finding: Finding
    anchor: str
    section: Section
    regulations: list[RegRef]
    tables: list[TableView] = field(default_factory=list)
    #: Its number in the report ("F1", "F2", ...), for short cross-references.
    number: str = ""
    #: The finding shown in full that states the same fact (this one is then shown briefly).
    duplicate_of: FindingView | None = None
    #: Findings that state the same fact as this one and are shown briefly.
    same_fact: list[FindingView] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return self.finding.status

    @property
    def all_regulations(self) -> list[RegRef]:
        """This finding's references, then those only the findings of the same fact cite."""
        seen = {r.id for r in self.regulations}
        extra = [r for fv in self.same_fact for r in fv.regulations if r.id not in seen]
        return self.regulations + list({r.id: r for r in extra}.values())


@dataclass
class SectionView:
    section: Section
    anchor: str
    findings: list[FindingView]
    counts: dict[str, int]
    tables: list[TableView] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return self.section.status


@dataclass
class NarrativeView:
    """A narrative section: paragraphs and tables (some referred to the appendix)."""

    section: Section
    anchor: str
    paragraphs: list[str]
    tables: list[TableView]


@dataclass
class IndexEntry:
    ref: RegRef
    findings: list[FindingView] = field(default_factory=list)


@dataclass
class ReportView:
    report: Report
    title: str
    cover: list[tuple[str, str]]
    other_metadata: list[tuple[str, str]]
    fingerprints: list[Any]
    status: Status
    counts: dict[str, int]
    sections: list[SectionView]
    index: list[IndexEntry]
    unknown_regulations: list[str]
    scope: list[tuple[str, str]]
    method: list[str]
    limitations: list[str]
    not_legal_advice: str
    environment: list[tuple[str, str]]
    packages: list[tuple[str, str]]
    config_text: str
    statuses: list[Status]
    summary_narrative: NarrativeView | None = None
    narratives: list[NarrativeView] = field(default_factory=list)
    appendix_tables: list[AppendixTable] = field(default_factory=list)


def resolve(reg_id: str, catalogue: Catalogue) -> RegRef:
    p = catalogue.get(reg_id)
    if p is None:
        return RegRef(id=str(reg_id), known=False, citation=str(reg_id))
    law = catalogue.laws.get(p.law)
    return RegRef(
        id=p.id,
        known=True,
        citation=p.citation,
        title=p.title,
        url=p.url,
        law=p.law,
        law_name=law.name if law else p.law,
        status=p.status,
        note=p.note,
    )


def _meta(report: Report, aliases: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in aliases:
        if key in report.metadata and report.metadata[key] not in (None, ""):
            return key, report.metadata[key]
    return None, None


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        out.append((prefix, ", ".join(format_scalar(v) for v in value)))
    else:
        out.append((prefix, format_scalar(value)))


def compact_json(value: Any, indent: str = "") -> str:
    """``value`` as JSON, indented by two spaces, with lists and objects of scalars that fit
    on one line (up to 80 characters) kept on one line: valid JSON, a third of the lines."""
    one = json.dumps(value, ensure_ascii=False)
    scalar = lambda v: not isinstance(v, (dict, list))  # noqa: E731
    items = value.values() if isinstance(value, dict) else value
    if not isinstance(value, (dict, list)) or (
        len(one) + len(indent) <= 80 and all(scalar(v) for v in items)
    ):
        return one
    inner = indent + "  "
    if isinstance(value, list):
        body = [inner + compact_json(v, inner) for v in value]
        return "[\n" + ",\n".join(body) + "\n" + indent + "]"
    body = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {compact_json(v, inner)}"
            for k, v in value.items()]
    return "{\n" + ",\n".join(body) + "\n" + indent + "}" if body else "{}"


def paragraphs(text: str) -> list[str]:
    """``text`` split into paragraphs at blank lines (empty paragraphs dropped)."""
    return [p.strip() for p in re.split(r"\n\s*\n", str(text or "")) if p.strip()]


class _Appendix:
    """Numbers the tables placed in the appendix as they are met, in display order."""

    def __init__(self) -> None:
        self.tables: list[AppendixTable] = []

    def place(self, tables: tuple[Table, ...], source_title: str, source_anchor: str) -> list[TableView]:
        out = []
        for t in tables:
            if t.placement != "appendix":
                out.append(TableView(t))
                continue
            n = len(self.tables) + 1
            entry = AppendixTable(t, f"appendix-table-{n}", f"A.{n}", source_title, source_anchor)
            self.tables.append(entry)
            out.append(TableView(t, entry))
        return out


def _cover(report: Report) -> tuple[list[tuple[str, str]], list[tuple[str, str]], str]:
    used_keys = {"title"}
    cover: list[tuple[str, str]] = []
    for name, label, aliases in COVER_KEYS:
        key, value = _meta(report, aliases)
        if key is not None:
            used_keys.add(key)
        if name == "tool" and key == "tool_version" and report.metadata.get("tool"):
            used_keys.add("tool")
            value = f"{report.metadata['tool']} {value}"
        cover.append((label, format_scalar(value) if value is not None else "not stated"))
    for key, label in OPTIONAL_COVER_KEYS:
        used_keys.add(key)
        if report.metadata.get(key) not in (None, ""):
            cover.append((label, format_scalar(report.metadata[key])))
    scope_keys = {k for k, _ in SCOPE_KEYS}
    other = [
        (str(k), format_scalar(v))
        for k, v in report.metadata.items()
        if k not in used_keys and k not in scope_keys
    ]
    return cover, other, str(report.metadata.get("title") or "Audit report")


def _areas(
    report: Report, cat: Catalogue, appendix: _Appendix
) -> tuple[list[SectionView], dict[str, IndexEntry], dict[str, None]]:
    """Area sections with their findings, regulations resolved and repeated facts linked."""
    index: dict[str, IndexEntry] = {}
    unknown: dict[str, None] = {}
    sections: list[SectionView] = []
    used_anchors: set[str] = set()
    first_by_fact: dict[Any, FindingView] = {}
    numbered = 0
    for si, section in enumerate(report.areas):
        s_anchor = f"section-{slug(section.id)}"
        if s_anchor in used_anchors:
            s_anchor = f"{s_anchor}-{si}"
        used_anchors.add(s_anchor)
        s_tables = appendix.place(section.tables, section.title, s_anchor)
        fviews = []
        for fi, f in enumerate(section.findings):
            anchor = f"finding-{slug(f.check_id)}"
            if anchor in used_anchors:
                anchor = f"{anchor}-{si}-{fi}"
            used_anchors.add(anchor)
            refs = []
            for rid in dict.fromkeys(f.regulations):
                ref = resolve(rid, cat)
                if not ref.known:
                    unknown.setdefault(ref.id, None)
                refs.append(ref)
            numbered += 1
            fv = FindingView(f, anchor, section, refs, number=f"F{numbered}")
            key = f.fact_key()
            if key is not None and key in first_by_fact:
                fv.duplicate_of = first_by_fact[key]
                fv.duplicate_of.same_fact.append(fv)
            elif key is not None:
                first_by_fact[key] = fv
            if fv.duplicate_of is None:
                fv.tables = appendix.place(f.tables, f.title, anchor)
            fviews.append(fv)
            for ref in refs:
                index.setdefault(ref.id, IndexEntry(ref)).findings.append(fv)
        counts = {s.value: 0 for s in Status}
        for f in section.findings:
            counts[f.status.value] += 1
        sections.append(SectionView(section, s_anchor, fviews, counts, s_tables))
    return sections, index, unknown


def _narratives(report: Report, appendix: _Appendix, *, summary: bool) -> list[NarrativeView]:
    """The executive summary (``summary=True``: the first narrative section with the id
    :data:`EXECUTIVE_SUMMARY_ID`, if any) or every other narrative section."""
    first = next((s for s in report.narrative if s.id == EXECUTIVE_SUMMARY_ID), None)
    chosen = ([first] if first is not None else []) if summary else [
        s for s in report.narrative if s is not first
    ]
    out = []
    for section in chosen:
        anchor = "summary" if summary else f"narrative-{slug(section.id)}"
        tables = appendix.place(section.tables, section.title, anchor)
        out.append(NarrativeView(section, anchor, paragraphs(section.summary), tables))
    return out


def build_view(report: Report, catalogue: Catalogue | None = None) -> ReportView:
    """Compute everything both renderers show, in display order."""
    cat = catalogue if catalogue is not None else get_catalogue()
    cover, other, title = _cover(report)

    fingerprints = [a for a in report.artifacts if a.kind in FINGERPRINT_KINDS]
    fingerprints.sort(key=lambda a: FINGERPRINT_KINDS.index(a.kind))

    appendix = _Appendix()  # numbers appendix tables in display order
    summary = _narratives(report, appendix, summary=True)
    sections, index, unknown = _areas(report, cat, appendix)
    narratives = _narratives(report, appendix, summary=False)

    ordered_index = sorted(index.values(), key=lambda e: cat.sort_key(e.ref.id))

    scope: list[tuple[str, str]] = []
    for key, label in SCOPE_KEYS:
        if report.metadata.get(key) not in (None, ""):
            scope.append((label, format_scalar(report.metadata[key])))
    for a in fingerprints:
        scope.append((f"{a.kind.capitalize()} examined", a.name))
    scope.append(("Areas covered", ", ".join(s.title for s in report.areas) or "none"))

    method = [
        "Each finding comes from an automated check with a stable id; the id, the measured "
        "metrics and the evidence tables are reproduced so that a reviewer can trace every "
        "statement to its numbers.",
        "Status is one of: pass, warning, fail, insufficient evidence (too little data to "
        "conclude), error (the check could not run; other checks still ran) and not applicable "
        "(the audit lacks what the check needs). A section takes the most serious status of its "
        "findings.",
        "Inputs are pinned by SHA-256 fingerprints (cover and appendix). When the report is "
        "signed, `auditkit verify` detects any change to the reports or the recorded "
        "fingerprints.",
    ]

    limitations = [str(x) for x in report.limitations] or list(DEFAULT_LIMITATIONS)
    limitations += [x for x in CATALOGUE_LIMITATIONS if x not in limitations]

    env_rows: list[tuple[str, str]] = []
    packages: list[tuple[str, str]] = []
    for k, v in report.environment.items():
        if k in ("packages", "package_versions") and isinstance(v, Mapping):
            packages.extend((str(n), format_scalar(ver)) for n, ver in sorted(v.items()))
        else:
            _flatten(str(k), v, env_rows)

    config_text = compact_json(report.to_dict()["config"])

    return ReportView(
        report=report,
        title=title,
        cover=cover,
        other_metadata=other,
        fingerprints=fingerprints,
        status=report.status,
        counts=report.counts(),
        sections=sections,
        index=ordered_index,
        unknown_regulations=list(unknown),
        scope=scope,
        method=method,
        limitations=limitations,
        not_legal_advice=NOT_LEGAL_ADVICE,
        environment=env_rows,
        packages=packages,
        config_text=config_text,
        statuses=list(Status),
        summary_narrative=summary[0] if summary else None,
        narratives=narratives,
        appendix_tables=appendix.tables,
    )
