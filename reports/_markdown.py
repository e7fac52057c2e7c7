"""The Markdown renderer: the same report, for pull requests and CI summaries.

Markdown has no escaping of its own for tables, so every piece of report text goes through
:func:`md_text` (inline text) or :func:`md_cell` (table cells): HTML and Markdown punctuation are
backslash-escaped, ``@mentions`` are broken so a report cannot ping anyone, line breaks in cells
become ``<br>`` (the only HTML this renderer emits), control and bidi-override characters are shown
as escapes, and long values are cut with their length stated. Code blocks use a fence longer than
any backtick run inside them.

Figures cannot be inlined in Markdown (hosts strip data URIs); each is listed with a pointer to
the HTML report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from auditkit.reports._model import Report, Status
from auditkit.reports._view import (
    FindingView,
    NarrativeView,
    ReportView,
    TableView,
    build_view,
    clean_text,
    format_scalar,
    truncate,
)
from auditkit.reports.catalogue import Catalogue

__all__ = [
    "md_cell",
    "md_text",
    "render_markdown",
    "render_markdown_summary",
    "render_markdown_text",
]

#: Longest table cell shown in full.
CELL_LIMIT = 120
#: Longest cell of a narrative table (executive summary, DPIA, model card): prose, kept whole.
NARRATIVE_CELL_LIMIT = 1500
#: Longest paragraph (summary, remediation) shown in full.
TEXT_LIMIT = 4000
#: Rows shown per evidence table; the rest are counted and pointed to the HTML/JSON reports.
MAX_ROWS = 50

STATUS_ICONS = {
    Status.PASS: "✅",
    Status.WARN: "⚠️",
    Status.FAIL: "❌",
    Status.INSUFFICIENT_EVIDENCE: "❔",
    Status.ERROR: "💥",
    Status.NOT_APPLICABLE: "➖",
}

# Characters with meaning somewhere in CommonMark / GitHub Markdown, escaped wherever they occur.
_ESCAPE_RE = re.compile(r"([\\`*_\[\]<>|~$&])")
# What may appear unescaped inside a code span (code spans do not process escapes).
_CODE_SAFE_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,200}$")
# At the start of a line these begin a block (list, heading, quote, ordered list, rule, table).
_LINE_START_RE = re.compile(r"^(\s*)([-=+>#]|\d+[.)])")


def _escape_inline(text: str) -> str:
    text = _ESCAPE_RE.sub(r"\\\1", text)
    # '@name' would notify people on GitHub/GitLab; a word joiner breaks the mention.
    return text.replace("@", "@\u2060")


def md_text(value: Any, limit: int = TEXT_LIMIT) -> str:
    """Inline Markdown for a paragraph: escaped, line breaks kept as hard breaks."""
    s = truncate(clean_text(value), limit)
    lines = []
    for line in s.split("\n"):
        line = line.strip()
        esc = _escape_inline(line)
        esc = _LINE_START_RE.sub(lambda m: m.group(1) + "\\" + m.group(2), esc)
        lines.append(esc)
    # A trailing backslash is a CommonMark hard line break that survives every renderer.
    return (
        "\\\n".join(line for line in lines if line)
        if len(lines) > 1
        else (lines[0] if lines else "")
    )


def md_cell(value: Any, limit: int = CELL_LIMIT) -> str:
    """One table cell: escaped, on one line, pipes escaped, line breaks as ``<br>``."""
    if value is None or isinstance(value, (bool, int, float)):
        return format_scalar(value)
    s = truncate(clean_text(value), limit)
    parts = [_escape_inline(p.strip()) for p in s.split("\n")]
    return "<br>".join(p for p in parts if p) or " "


def md_line(value: Any, limit: int = CELL_LIMIT) -> str:
    """Text for a heading or list item: one line, escaped."""
    s = truncate(clean_text(value, keep_newlines=False), limit)
    return _LINE_START_RE.sub(lambda m: m.group(1) + "\\" + m.group(2), _escape_inline(s.strip()))


def _table(
    columns: list[Any], rows: list[list[Any]], *, raw: bool = False, limit: int = CELL_LIMIT
) -> list[str]:
    cell = (lambda v: str(v)) if raw else (lambda v: md_cell(v, limit))
    out = ["| " + " | ".join(cell(c) for c in columns) + " |"]
    out.append("|" + "|".join(" --- " for _ in columns) + "|")
    for row in rows:
        out.append("| " + " | ".join(cell(v) for v in row) + " |")
    return out


def _code(value: Any) -> str:
    """A check id as a code span when it is plain, else as escaped text."""
    text = str(value)
    return f"`{text}`" if _CODE_SAFE_RE.match(text) else md_line(text)


def _badge(status: Status) -> str:
    return f"{STATUS_ICONS[status]} {status.label}"


def _fence(text: str, info: str = "") -> list[str]:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, text, fence]


def _reg(ref: Any) -> str:
    if not ref.known:
        return f"{_code(ref.id)} **(not in the regulation catalogue: check this reference)**"
    extra = " (confirmed in secondary sources only)" if ref.status == "verified-2nd" else ""
    return f"[{md_line(ref.citation)}]({ref.url}): {md_line(ref.title, 300)}{extra}"


def _anchor_link(fv: FindingView) -> str:
    return md_line(fv.finding.title)


def _writers(out: list[str]) -> tuple[Callable[[str], None], Callable[..., None]]:
    """``add`` appends one line; ``para`` appends lines and the blank line that ends a Markdown
    block (a heading, a paragraph, a list)."""

    def para(*lines: str) -> None:
        out.extend((*lines, ""))

    return out.append, para


def _md_cover(out: list[str], v: ReportView, compact: bool, max_rows: int) -> None:
    """The title, overall status, cover facts, fingerprints and the notice."""
    add, para = _writers(out)
    para(f"# {md_line(v.title, 200)}")
    add(
        f"**Overall status: {_badge(v.status)}**: "
        + ", ".join(f"{v.counts[s.value]} {s.label.lower()}" for s in v.statuses)
    )
    add("")
    out.extend(_table(["Cover", ""], [[label, value] for label, value in v.cover]))
    add("")
    if v.fingerprints:
        para("**Fingerprints**")
        out.extend(
            _table(
                ["Input", "File", "SHA-256", "Size (bytes)"],
                [[a.kind, a.name, a.sha256, a.size] for a in v.fingerprints],
            )
        )
        add("")
    para(f"> **Not legal advice.** {v.not_legal_advice}")


def _md_summary(out: list[str], v: ReportView, compact: bool, max_rows: int) -> None:
    """The executive summary: the narrative when there is one, then the status per area."""
    add, para = _writers(out)
    para(f"## {md_line(v.summary_narrative.section.title) if v.summary_narrative else 'Executive summary'}")
    if v.summary_narrative:
        _narrative_body(out, v.summary_narrative, max_rows)
    out.extend(
        _table(
            ["Area", "Status"] + [s.label for s in v.statuses],
            [
                [s.section.title, _badge(s.status)] + [s.counts[st.value] for st in v.statuses]
                for s in v.sections
            ],
        )
    )
    add("")
    attention = [
        fv
        for s in v.sections
        for fv in s.findings
        if fv.status in (Status.FAIL, Status.ERROR, Status.WARN, Status.INSUFFICIENT_EVIDENCE)
    ]
    if attention and not v.summary_narrative:
        para("**Findings that need attention**")
        for fv in attention:
            add(f"- {_badge(fv.status)} {_anchor_link(fv)} ({_code(fv.finding.check_id)})")
        add("")


def _md_scope(out: list[str], v: ReportView, compact: bool, max_rows: int) -> None:
    """Scope and method."""
    add, para = _writers(out)
    para("## Scope and method")
    out.extend(_table(["Scope", ""], [[k, val] for k, val in v.scope]))
    add("")
    for p in v.method:  # our own text, already Markdown
        para(p)
    if v.other_metadata:
        out.extend(_table(["Other details", ""], [[k, val] for k, val in v.other_metadata]))
        add("")


def _md_areas(out: list[str], v: ReportView, compact: bool, max_rows: int) -> None:
    """One section per area, each finding in it."""
    add, para = _writers(out)
    for s in v.sections:
        para(f"## {md_line(s.section.title, 200)}: {_badge(s.status)}")
        if s.section.summary:
            para(md_text(s.section.summary))
        for tv in s.tables:
            _table_view(out, tv, max_rows)
        for fig in s.section.figures:
            para(f"*Figure: {md_line(fig.title, 200)} (in the HTML report).*")
        if not s.findings:
            para("*No findings in this area.*")
        for fv in s.findings:
            _md_finding(out, fv, compact, max_rows)


def _md_narratives(out: list[str], v: ReportView, compact: bool, max_rows: int) -> None:
    """The narrative sections after the areas (DPIA, model card); named only when compact."""
    add, para = _writers(out)
    for n in v.narratives:
        para(f"## {md_line(n.section.title, 200)}")
        if compact:
            para("*In the full reports.*")
            continue
        _narrative_body(out, n, max_rows)


def _md_index(out: list[str], v: ReportView, compact: bool, max_rows: int) -> None:
    """The regulation index (findings by number when compact)."""
    add, para = _writers(out)
    para("## Regulation index")
    add(
        "Each provision cited by a finding, with the findings that bear on it. A citation shows "
        "relevance, not a conclusion that the provision is met or breached."
    )
    add("")
    if v.index:
        rows = []
        for e in v.index:
            prov = (
                f"[{md_line(e.ref.citation)}]({e.ref.url})"
                if e.ref.known
                else f"{md_cell(e.ref.id)} **(not in the catalogue)**"
            )
            title = md_cell(e.ref.title, 300) if e.ref.known else " "
            found = ("; " if compact else "<br>").join(
                f"{fv.number} {STATUS_ICONS[fv.status]}" if compact
                else f"{fv.number} {_badge(fv.status)} {md_cell(fv.finding.title)}"
                for fv in e.findings
            )
            rows.append([prov, title, found])
        out.extend(_table(["Provision", "In short (our words)", "Findings"], rows, raw=True))
    else:
        add("*No finding cites a provision.*")
    add("")


def _md_limitations(out: list[str], v: ReportView, compact: bool, max_rows: int) -> None:
    """The limitations."""
    add, para = _writers(out)
    para("## Limitations")
    para(f"**{v.not_legal_advice}**")
    for item in v.limitations:
        add(f"- {md_text(item).replace(chr(10), ' ')}")
    add("")


def _recorded(
    out: list[str], heading: str, columns: list[str], rows: Sequence[Sequence[Any]], empty: str
) -> None:
    """An appendix subsection: its heading, then its table, or ``empty`` when there are no rows."""
    out += [f"### {heading}", ""]
    if rows:
        out.extend(_table(columns, [list(row) for row in rows]))
    else:
        out.append(f"*{empty}*")
    out.append("")


def _md_appendix(out: list[str], v: ReportView, compact: bool, max_rows: int) -> None:
    """The appendix: evidence tables, configuration, environment, artifacts."""
    add, para = _writers(out)
    para("## Appendix")
    if v.appendix_tables:
        para("### Evidence tables")
        for at in v.appendix_tables:
            para(f"#### Table {at.number}: {md_line(at.table.title, 200)}")
            para(f"*From {md_line(at.source_title, 200)}.*")
            _evidence_table(out, at.table, max_rows)
    if compact:
        para("*Configuration, environment and package versions are in the full reports.*")
    else:
        para("### Configuration")
        out.extend(_fence(clean_text(v.config_text), "json"))
        add("")
        _recorded(
            out, "Environment", ["Key", "Value"], v.environment, "No environment was recorded."
        )
        _recorded(
            out,
            "Package versions",
            ["Package", "Version"],
            v.packages,
            "No package versions were recorded.",
        )
    _recorded(
        out,
        "Artifacts",
        ["Name", "Kind", "Size (bytes)", "SHA-256", "Note"],
        [(a.name, a.kind, a.size, a.sha256, a.note or "") for a in v.report.artifacts],
        "No artifacts were recorded.",
    )
    para(f"<sub>Schema version {md_line(v.report.schema_version)}. Not legal advice.</sub>")


def _md_finding(out: list[str], fv: FindingView, compact: bool, max_rows: int) -> None:
    """One finding: in full, or briefly when it repeats another's fact."""
    add, para = _writers(out)
    f = fv.finding
    para(f"### {md_line(f.title, 200)}")
    add(f"{fv.number} · {_badge(f.status)} · severity **{f.severity.value}** · "
        f"{_code(f.check_id)}")
    add("")
    if fv.duplicate_of is not None:
        first = fv.duplicate_of.finding
        add(f"*The same fact as {md_line(first.title)} ({_code(first.check_id)}): the "
            "same value between the same groups, shown there once.*")
        add("")
        return
    if fv.same_fact:
        also = ", ".join(f"{md_line(d.finding.title)} ({_code(d.finding.check_id)})"
                         for d in fv.same_fact)
        para(f"*Also reported as {also}: the same value between the same groups.*")
    if f.summary:
        para(md_text(f.summary))
    if f.metrics:
        out.extend(_table(["Metric", "Value"], [[k, val] for k, val in f.metrics.items()]))
        add("")
    for tv in fv.tables:
        _table_view(out, tv, max_rows)
    for fig in f.figures:
        para(f"*Figure: {md_line(fig.title, 200)} (in the HTML report).*")
    if fv.all_regulations and compact:  # citations only; the index has the rest
        cites = "; ".join(md_line(r.citation if r.known else r.id)
                          for r in fv.all_regulations)
        para(f"**Regulation references:** {cites}.")
    elif fv.all_regulations:
        para("**Regulation references**")
        for ref in fv.all_regulations:
            add(f"- {_reg(ref)}")
        add("")
    if f.remediation:
        para(f"**Remediation:** {md_text(f.remediation)}")


def render_markdown_text(
    report: Report,
    *,
    catalogue: Catalogue | None = None,
    max_rows: int = MAX_ROWS,
    compact: bool = False,
) -> str:
    """The report as GitHub-flavoured Markdown (a ``str``).

    ``compact=True`` leaves out evidence tables, figures and the appendix's configuration,
    environment and package lists (pointing to the full reports instead), so that the summary
    fits a pull-request comment (GitHub caps those at 65,536 characters).
    """
    if compact:
        max_rows = 0
    v = build_view(report, catalogue)
    out: list[str] = []
    _md_cover(out, v, compact, max_rows)
    _md_summary(out, v, compact, max_rows)
    _md_scope(out, v, compact, max_rows)
    _md_areas(out, v, compact, max_rows)
    _md_narratives(out, v, compact, max_rows)
    _md_index(out, v, compact, max_rows)
    _md_limitations(out, v, compact, max_rows)
    _md_appendix(out, v, compact, max_rows)
    return "\n".join(out)


def _evidence_table(out: list[str], t: Any, max_rows: int, cell_limit: int = CELL_LIMIT) -> None:
    if max_rows <= 0:
        out.append(f"*Table: {md_line(t.title, 200)} ({len(t.rows)} rows, in the full reports).*")
        out.append("")
        return
    out.append(f"**{md_line(t.title, 200)}**")
    out.append("")
    rows = [list(r) for r in t.rows[:max_rows]]
    out.extend(_table(list(t.columns), rows, limit=cell_limit))
    if len(t.rows) > max_rows:
        out.append("")
        out.append(f"*{len(t.rows) - max_rows} more rows in the HTML and JSON reports.*")
    if not t.rows:
        out.append("")
        out.append("*No rows.*")
    if t.note:
        out.append("")
        out.append(f"*{md_text(t.note).replace(chr(10), ' ')}*")
    out.append("")


def _table_view(
    out: list[str], tv: TableView, max_rows: int, cell_limit: int = CELL_LIMIT
) -> None:
    """A table in its place, or the pointer to it in the appendix."""
    if tv.appendix is None:
        _evidence_table(out, tv.table, max_rows, cell_limit)
        return
    n = len(tv.table.rows)
    out.append(f"*Table {tv.appendix.number}, {md_line(tv.table.title, 200)} ({n} row"
               f"{'' if n == 1 else 's'}): in the appendix.*")
    out.append("")


def _narrative_body(out: list[str], n: NarrativeView, max_rows: int) -> None:
    """A narrative section's paragraphs and tables (shown in full: they are the narrative)."""
    for para in n.paragraphs:
        out.append(md_text(para))
        out.append("")
    for tv in n.tables:
        _table_view(out, tv, max(max_rows, MAX_ROWS), NARRATIVE_CELL_LIMIT)


def render_markdown(report: Report, *, catalogue: Catalogue | None = None) -> bytes:
    """Render ``report`` as Markdown (UTF-8 bytes)."""
    return render_markdown_text(report, catalogue=catalogue).encode("utf-8")


def render_markdown_summary(report: Report, *, catalogue: Catalogue | None = None) -> bytes:
    """The compact Markdown summary for pull-request comments (UTF-8 bytes)."""
    return render_markdown_text(report, catalogue=catalogue, compact=True).encode("utf-8")
