"""The report's narrative, assembled: the executive summary and the recommended actions
(:mod:`auditkit._narrative`), then the DPIA and the model card (:mod:`auditkit._narrative_parts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditkit._narrative import AuditFacts, executive_summary
from auditkit._narrative_parts import dpia_section, model_card_section
from auditkit.reports import Section

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.config import AuditConfig

__all__ = ["Narrative", "build_narrative"]


@dataclass(frozen=True)
class Narrative:
    """The narrative sections (executive summary first) and the cover facts they add."""

    sections: tuple[Section, ...]
    metadata: Mapping[str, str]
    risk: str


def build_narrative(
    cfg: AuditConfig, facts: AuditFacts, sections: Sequence[Section]
) -> Narrative:
    """The executive summary, the DPIA and the model card of an audit.

    Parameters
    ----------
    cfg:
        The audit's configuration.
    facts:
        What may be said of the data and model (:func:`facts_from_context`).
    sections:
        The area sections the checks produced.

    Returns
    -------
    Narrative
        ``sections``: executive summary, DPIA, model card (kind ``narrative``); ``metadata``:
        the cover's ``risk_rating``.
    """
    findings = [f for s in sections for f in s.findings]
    summary, rating = executive_summary(cfg, facts, findings)
    parts = (summary, dpia_section(cfg, facts, findings), model_card_section(cfg, facts, sections))
    return Narrative(parts, {"risk_rating": rating}, rating)
