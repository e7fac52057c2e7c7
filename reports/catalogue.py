"""The regulation catalogue: every legal provision a finding may cite.

The catalogue is a data file shipped in the package (``reports/data/regulations.toml``). Each
provision has a stable id (lower-case citation, every run of other characters turned into one
hyphen: ``gdpr-art-22-3``), the citation as a lawyer writes it, a short title in our own words, the
official URL, the law it belongs to and how we verified it. Only provisions whose text we read
(``verified``) or whose number and substance we confirmed in a secondary source
(``verified-2nd``) are listed; unverified pinpoints are left out on purpose.

Each provision also carries its legal scope: the ``jurisdiction`` whose law it is (one of
:data:`JURISDICTIONS`, or ``"INTL"`` for frameworks such as the NIST AI RMF that are not the law of
any one place and apply wherever the audit is run), the ``domains`` it governs (a list of
:data:`DOMAINS`, or ``["*"]`` for every domain) and the ``topics`` it bears on (:data:`TOPICS`).
Checks ask for provisions by topic, :meth:`Catalogue.cite`, and get only those in the audit's
scope (:class:`Scope`): a US credit audit cites Regulation B for outcome disparities, never the
employee-selection guidelines. Checks then cite provisions by id (``Finding.regulations``); the
renderers look the ids up here.

>>> from auditkit.reports.catalogue import get_catalogue
>>> get_catalogue()["gdpr-art-22-3"].citation
'GDPR Art. 22(3)'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from auditkit.hints import did_you_mean
from auditkit.reports._legal_scope import (
    ALL_DOMAINS,
    DOMAINS,
    INTERNATIONAL,
    JURISDICTIONS,
    TOPICS,
    Scope,
    _unknown,
    implied_jurisdictions,
)
from auditkit.reports.errors import ReportInputError, UnknownProvisionError
from auditkit.toml_files import read_toml

__all__ = [
    "ALLOWED_HOSTS",
    "DOMAINS",
    "INTERNATIONAL",
    "JURISDICTIONS",
    "STATUSES",
    "TOPICS",
    "Catalogue",
    "Law",
    "Provision",
    "Scope",
    "get_catalogue",
    "implied_jurisdictions",
    "load_catalogue",
    "provision_id",
]

DEFAULT_PATH = Path(__file__).parent / "data" / "regulations.toml"

#: Verification levels a catalogue entry may carry (see ../shared/reference/regulations.md).
STATUSES = ("verified", "verified-2nd")

#: Official portals the catalogue links to. A URL on any other host is refused at load time.
ALLOWED_HOSTS = frozenset(
    {
        "eur-lex.europa.eu",
        "leginfo.legislature.ca.gov",
        "www.law.cornell.edu",
        "www.ecfr.gov",
        "nvlpubs.nist.gov",
        "www.nist.gov",
        "airc.nist.gov",
        "rules.cityofnewyork.us",
        "codelibrary.amlegal.com",
        "cppa.ca.gov",
        "uscode.house.gov",
        "www.legislation.gov.uk",
        "leg.colorado.gov",
    }
)

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

def provision_id(citation: str) -> str:
    """The id scheme: lower-case, every run of other characters turned into one hyphen.

    >>> provision_id("Art. 5(1)(c)")
    'art-5-1-c'
    """
    return re.sub(r"[^a-z0-9]+", "-", citation.lower()).strip("-")


@dataclass(frozen=True)
class Law:
    """A source of provisions (a regulation, a statute, a framework)."""

    key: str
    name: str
    url: str
    nature: str  # "binding law", "binding regulation", "voluntary guidance", ...


@dataclass(frozen=True)
class Provision:
    """One citable provision.

    ``status`` is ``verified`` or ``verified-2nd``; ``note`` carries caveats a reviewer must see
    (a recital is interpretive, a paragraph letter is unconfirmed, a framework is voluntary).
    """

    id: str
    law: str
    citation: str
    title: str
    url: str
    status: str
    note: str = ""
    order: int = 0
    jurisdiction: str = INTERNATIONAL
    domains: tuple[str, ...] = (ALL_DOMAINS,)
    topics: tuple[str, ...] = ()

    def in_scope(self, domain: str, jurisdictions: Iterable[str]) -> bool:
        """Whether this provision applies to a model deciding about ``domain`` used in
        ``jurisdictions`` (a sub-jurisdiction implies its country; ``INTL`` applies anywhere).

        >>> from auditkit.reports.catalogue import get_catalogue
        >>> get_catalogue()["us-ugesp-1607-4-d"].in_scope("credit", ["US"])
        False
        """
        if self.jurisdiction not in implied_jurisdictions(jurisdictions):
            return False
        return ALL_DOMAINS in self.domains or domain in self.domains

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "law": self.law,
            "citation": self.citation,
            "title": self.title,
            "url": self.url,
            "status": self.status,
            "note": self.note,
        }


class Catalogue:
    """Provisions by id, in catalogue order."""

    def __init__(self, laws: Iterable[Law], provisions: Iterable[Provision]) -> None:
        self.laws: dict[str, Law] = {law.key: law for law in laws}
        self._by_id: dict[str, Provision] = {}
        for p in provisions:
            if p.id in self._by_id:
                raise ReportInputError(
                    f"The regulation catalogue lists the id {p.id!r} twice; each provision "
                    "must have exactly one entry."
                )
            self._by_id[p.id] = p

    def __contains__(self, key: object) -> bool:
        return key in self._by_id

    def __getitem__(self, key: str) -> Provision:
        try:
            return self._by_id[key]
        except KeyError:
            raise UnknownProvisionError(
                f"No provision {key!r} in the regulation catalogue.{self.suggest(key)} Cite one "
                "of the catalogue's ids (Catalogue.ids() lists them)."
            ) from None

    def get(self, key: str) -> Provision | None:
        return self._by_id.get(key)

    def __iter__(self) -> Iterator[Provision]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def ids(self) -> list[str]:
        return list(self._by_id)

    def unknown(self, ids: Iterable[str]) -> list[str]:
        """The ids in ``ids`` that the catalogue lacks, in order, without repeats."""
        seen: dict[str, None] = {}
        for i in ids:
            if i not in self._by_id:
                seen.setdefault(i, None)
        return list(seen)

    def cite(
        self, topics: Iterable[str], *, domain: str, jurisdictions: Iterable[str]
    ) -> tuple[str, ...]:
        """Ids of the provisions on any of ``topics`` that apply in the scope, in catalogue order.

        Parameters
        ----------
        topics:
            Names from :data:`TOPICS`; an unknown name raises
            :class:`~auditkit.reports.errors.ReportInputError`.
        domain, jurisdictions:
            The audit's scope (``[audit] domain`` and ``jurisdictions``).

        Examples
        --------
        >>> cat = get_catalogue()
        >>> "reg-b-1002-9-a" in cat.cite(["adverse-action"], domain="credit",
        ...                                      jurisdictions=["US"])
        True
        """
        wanted = set(self._check_topics(topics))
        scope = Scope.of(domain, jurisdictions)
        return tuple(
            p.id for p in self._by_id.values() if wanted.intersection(p.topics) and scope.covers(p)
        )

    def on_topics(self, topics: Iterable[str]) -> tuple[str, ...]:
        """Ids of every provision on any of ``topics``, whatever its scope, in catalogue order:
        what a check may cite somewhere (its ``CheckSpec.regulations``)."""
        wanted = set(self._check_topics(topics))
        return tuple(p.id for p in self._by_id.values() if wanted.intersection(p.topics))

    @staticmethod
    def _check_topics(topics: Iterable[str]) -> tuple[str, ...]:
        if isinstance(topics, str):
            topics = (topics,)
        topics = tuple(topics)
        for t in topics:
            if t not in TOPICS:
                raise _unknown(
                    "regulation topic", t, TOPICS, "Use a topic of auditkit.reports.catalogue.TOPICS."
                )
        return topics

    def restrict(
        self, ids: Iterable[str], *, domain: str, jurisdictions: Iterable[str]
    ) -> tuple[str, ...]:
        """``ids`` less those of provisions outside the scope, in their order, without repeats.

        Ids the catalogue lacks are kept: scope cannot judge them and the renderers flag them.
        """
        scope = Scope.of(domain, jurisdictions)
        kept: dict[str, None] = {}
        for i in ids:
            p = self._by_id.get(i)
            if p is None or scope.covers(p):
                kept.setdefault(i, None)
        return tuple(kept)

    def suggest(self, key: str) -> str:
        """`` Did you mean 'id'?`` for the catalogue id closest to ``key``, or ``""``."""
        return did_you_mean(key, self._by_id)

    def sort_key(self, key: str) -> tuple[int, int, str]:
        """Catalogue order for known ids; unknown ids after them, alphabetically."""
        p = self._by_id.get(key)
        if p is None:
            return (1, 0, key)
        return (0, p.order, key)


def _require(entry: dict, key: str, where: str, source: Path) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ReportInputError(
            f"{where} in {source} needs a non-empty string {key!r}; got {value!r}. "
            "Add it to the entry."
        )
    return value.strip()


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and validate a catalogue file (the shipped one when ``path`` is None).

    Raises :class:`~auditkit.reports.errors.ReportInputError` for a malformed entry: a bad id, a missing
    field, an unknown status, a URL that is not https on an official portal.
    """
    source = Path(path) if path is not None else DEFAULT_PATH
    raw = read_toml(source, error=ReportInputError, what="regulation catalogue",
                    fix="Reinstall auditkit or pass the path of a readable catalogue.")

    laws = []
    for key, entry in raw.get("laws", {}).items():
        where = f"[laws.{key}]"
        laws.append(
            Law(
                key=key,
                name=_require(entry, "name", where, source),
                url=_check_url(_require(entry, "url", where, source), where, source),
                nature=_require(entry, "nature", where, source),
            )
        )
    law_keys = {law.key for law in laws}

    provisions = []
    for n, entry in enumerate(raw.get("provision", [])):
        where = f"[[provision]] number {n + 1}"
        pid = _require(entry, "id", where, source)
        where = f"[[provision]] {pid!r}"
        if not _ID_RE.match(pid):
            raise ReportInputError(
                f"{where} in {source}: the id must be lower-case letters and digits joined by "
                f"single hyphens (e.g. 'gdpr-art-5-1-c'); got {pid!r}."
            )
        law = _require(entry, "law", where, source)
        if law not in law_keys:
            raise ReportInputError(
                f"{where} in {source} names law {law!r}; expected one of {sorted(law_keys)}."
            )
        status = _require(entry, "status", where, source)
        if status not in STATUSES:
            raise ReportInputError(
                f"{where} in {source} has status {status!r}; expected one of {list(STATUSES)}. "
                "Unverified provisions are not listed."
            )
        provisions.append(
            Provision(
                id=pid,
                law=law,
                citation=_require(entry, "citation", where, source),
                title=_require(entry, "title", where, source),
                url=_check_url(_require(entry, "url", where, source), where, source),
                status=status,
                note=str(entry.get("note", "")).strip(),
                order=n,
                **_scope_fields(entry, where, source),
            )
        )
    return Catalogue(laws, provisions)


def _string_list(entry: dict, key: str, where: str, source: Path) -> tuple[str, ...]:
    value = entry.get(key)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v for v in value)
    ):
        raise ReportInputError(
            f"{where} in {source} needs {key!r} as a non-empty list of strings; got {value!r}. "
            "Add it to the entry."
        )
    if len(set(value)) != len(value):
        raise ReportInputError(f"{where} in {source} repeats a value in {key!r}: {value!r}.")
    return tuple(value)


def _scope_fields(entry: dict, where: str, source: Path) -> dict:
    """A provision's ``jurisdiction``, ``domains`` and ``topics``, each checked against its list."""
    jurisdiction = _require(entry, "jurisdiction", where, source)
    options = (*JURISDICTIONS, INTERNATIONAL)
    if jurisdiction not in options:
        raise _unknown("jurisdiction", jurisdiction, options, "Fix the entry.", f"{where} in {source}")
    domains = _string_list(entry, "domains", where, source)
    if ALL_DOMAINS in domains and len(domains) > 1:
        raise ReportInputError(
            f"{where} in {source} lists '*' (every domain) beside other domains {domains!r}; "
            "use either ['*'] or a list of domains."
        )
    for d in domains:
        if d != ALL_DOMAINS and d not in DOMAINS:
            raise _unknown(
                "domain", d, (*DOMAINS, ALL_DOMAINS), "Fix the entry.", f"{where} in {source}"
            )
    topics = _string_list(entry, "topics", where, source)
    for t in topics:
        if t not in TOPICS:
            raise _unknown("topic", t, TOPICS, "Fix the entry.", f"{where} in {source}")
    return {"jurisdiction": jurisdiction, "domains": domains, "topics": topics}


def _check_url(url: str, where: str, source: Path) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.hostname not in ALLOWED_HOSTS:
        raise ReportInputError(
            f"{where} in {source} links to {url!r}; expected an https URL on an official portal "
            f"({', '.join(sorted(ALLOWED_HOSTS))})."
        )
    return url


@lru_cache(maxsize=1)
def get_catalogue() -> Catalogue:
    """The shipped catalogue, loaded once."""
    return load_catalogue()
