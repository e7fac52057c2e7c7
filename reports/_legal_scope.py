"""The legal scope of an audit: domains, jurisdictions, topics, and the :class:`Scope` rule.

Kept apart from :mod:`auditkit.reports.catalogue`, which re-exports every public name here. The
rule: a provision applies when its jurisdiction is configured, is the country of a configured
sub-jurisdiction (``US-CA`` implies ``US``), or is ``INTL``; and its domains are ``["*"]`` or
include the audit's domain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from auditkit.hints import did_you_mean
from auditkit.reports.errors import ReportInputError

if TYPE_CHECKING:  # pragma: no cover
    from auditkit.reports.catalogue import Provision

__all__ = [
    "ALL_DOMAINS",
    "DOMAINS",
    "INTERNATIONAL",
    "JURISDICTIONS",
    "TOPICS",
    "Scope",
    "implied_jurisdictions",
]

#: What a model may decide about (``[audit] domain``). The same list as
#: :data:`auditkit.config.DOMAINS` (a test keeps the two equal; ``reports`` imports no runner code).
DOMAINS = (
    "credit",
    "employment",
    "housing",
    "insurance",
    "healthcare",
    "education",
    "criminal_justice",
    "general",
)

#: Where a model is used (``[audit] jurisdictions``); equal to :data:`auditkit.config.JURISDICTIONS`.
#: A sub-jurisdiction (``US-CA``) implies its country (``US``): a Californian audit cites federal law.
JURISDICTIONS = ("EU", "UK", "US", "US-CA", "US-CO", "US-NYC")

#: The jurisdiction of frameworks that are no one place's law (NIST AI RMF): always in scope.
INTERNATIONAL = "INTL"

#: A provision's ``domains`` entry meaning "every domain".
ALL_DOMAINS = "*"

#: The topics a provision bears on, and what each means. Checks ask for provisions by topic
#: (:meth:`Catalogue.cite`); a provision may carry several.
TOPICS: Mapping[str, str] = MappingProxyType(
    {
        "outcome-disparity": "different rates of favourable outcomes between groups (selection or "
        "approval rates, four-fifths rule, disparate impact, indirect discrimination)",
        "error-disparity": "different error rates or calibration between groups",
        "group-coverage": "whether the data represents every group well enough to judge it",
        "proxy": "model inputs that stand in for a protected characteristic",
        "performance": "accuracy and its metrics, declared and measured",
        "automated-decision": "rights around solely automated decisions about people",
        "adverse-action": "what a person refused or otherwise harmed by a decision must be told",
        "transparency": "explaining the system and its logic to deployers and to people",
        "explanation-quality": "whether explanations of the model are valid and stable",
        "high-risk-system": "classification of the system as high risk and the duties that follow",
        "impact-assessment": "assessments required before risky processing or deployment",
        "personal-data": "what counts as personal data or personal information",
        "special-category": "sensitive or special-category data (origin, health, religion ...)",
        "de-identification": "pseudonymised, deidentified and anonymous data",
        "data-minimisation": "holding and using only the data the purpose needs",
        "security": "security of the data and the system: encryption, integrity, resilience",
        "privacy-training": "privacy risk of a model trained on personal data and the measures "
        "that bound it (differential privacy)",
        "privacy-attack": "attacks that make a model reveal its training data (membership "
        "inference) and resilience to them",
        "records": "records, logs and documentation of the system and its evaluation",
        "monitoring": "tracking risks after deployment and responding to them",
    }
)


def implied_jurisdictions(jurisdictions: Iterable[str]) -> frozenset[str]:
    """The configured jurisdictions, the countries they imply, and ``"INTL"``.

    >>> sorted(implied_jurisdictions(["US-CA"]))
    ['INTL', 'US', 'US-CA']
    """
    out = {INTERNATIONAL}
    for j in jurisdictions:
        out.add(j)
        out.add(j.split("-", 1)[0])
    return frozenset(out)


def _unknown(
    kind: str, value: str, options: Iterable[str], what_to_do: str, where: str = ""
) -> ReportInputError:
    options = list(options)
    hint = did_you_mean(value, options)
    lead = f"{where} names unknown {kind}" if where else f"Unknown {kind}"
    return ReportInputError(
        f"{lead} {value!r}.{hint} Expected one of: {', '.join(options)}. {what_to_do}"
    )


@dataclass(frozen=True)
class Scope:
    """The legal scope of an audit: one domain and the jurisdictions the model is used in.

    >>> s = Scope("credit", ("US-CO",))
    >>> s.covers_jurisdiction("US"), s.covers_jurisdiction("EU")
    (True, False)
    """

    domain: str
    jurisdictions: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise _unknown("domain", self.domain, DOMAINS, "Set [audit] domain to one of them.")
        if isinstance(self.jurisdictions, str) or not self.jurisdictions:
            raise ReportInputError(
                f"The audit's jurisdictions must be a non-empty list of {', '.join(JURISDICTIONS)}; "
                f"got {self.jurisdictions!r}. Set [audit] jurisdictions, e.g. [\"EU\", \"US\"]."
            )
        for j in self.jurisdictions:
            if j not in JURISDICTIONS:
                raise _unknown(
                    "jurisdiction", j, JURISDICTIONS, "Fix [audit] jurisdictions in audit.toml."
                )
        object.__setattr__(self, "jurisdictions", tuple(self.jurisdictions))

    @classmethod
    def of(cls, domain: str, jurisdictions: Iterable[str]) -> Scope:
        """The scope of ``domain`` and any iterable of jurisdictions (a lone string is refused)."""
        return cls(domain, jurisdictions if isinstance(jurisdictions, str) else tuple(jurisdictions))

    @property
    def covered(self) -> frozenset[str]:
        """Jurisdictions whose provisions apply: configured, implied countries, ``"INTL"``."""
        return implied_jurisdictions(self.jurisdictions)

    def covers_jurisdiction(self, jurisdiction: str) -> bool:
        return jurisdiction in self.covered

    def covers(self, provision: Provision) -> bool:
        """Whether ``provision`` applies in this scope."""
        return provision.in_scope(self.domain, self.jurisdictions)
