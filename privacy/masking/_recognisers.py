"""The recogniser registry: what an entity looks like, and how a match is confirmed.

A :class:`Recogniser` declares, for one entity type:

- ``validator``: the function that confirms a candidate (Luhn, mod-97, ``phonenumbers``, ...).
  It is mandatory: a recogniser without a real check uses :func:`always` explicitly.
- ``pattern``: a Python regular expression that finds the entity inside free text (``None``
  when the entity is only recognised as a whole column, e.g. person names).
- ``value_pattern``: an RE2-compatible expression a whole cell must match (used to scan
  structured columns with Arrow's vectorised regex engine); defaults to ``pattern``.
- ``hints``: column-name phrases that suggest the entity (``"email"``, ``"date of birth"``).
  With ``needs_hint=True`` a column is only classified when its name carries a hint.

Recognisers live in a registry keyed by name; :func:`register_recogniser` refuses to replace
one silently. Users add their own the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking import validators as v
from auditkit.privacy.masking._digit_context import (
    not_thing_id_batch,
    phone_span_ok,
    thing_id_before,
)
from auditkit.registry import Registry

__all__ = [
    "CATEGORIES",
    "Recogniser",
    "get_recogniser",
    "iter_recognisers",
    "register_recogniser",
    "unregister_recogniser",
]

#: Categories of personal data a recogniser can declare.
CATEGORIES = ("direct", "quasi", "special", "credential", "financial")


@dataclass(frozen=True)
class Recogniser:
    """How one entity type is found and confirmed.

    Parameters
    ----------
    name:
        Unique registry key (several recognisers may share an ``entity``).
    entity:
        Entity type reported, e.g. ``"EMAIL_ADDRESS"``.
    validator:
        ``validator(candidate) -> bool``; the declared confirmation step.
    pattern:
        Python regex for spans in free text, or ``None``.
    value_pattern:
        RE2-compatible regex a whole cell must match; defaults to ``pattern``.
    hints:
        Column-name phrases, lower case, words separated by one space. A phrase ending in
        ``$`` must end the column name (``"name$"`` matches ``first_name``, not ``name_set``).
    needs_hint:
        Only classify a column whose name carries a hint (weak value shapes: ZIP codes, ages).
    context:
        Words that must appear shortly before a span in free text (empty: no context needed).
    category:
        One of :data:`CATEGORIES`: direct identifier, quasi-identifier, special category
        (GDPR Art. 9), credential, financial.
    score:
        Confidence of a validated match.
    priority:
        Overlapping spans keep the higher priority (then the longer span).
    shrink:
        When the validator rejects a span, retry without its last space-separated piece.
    bare_digits_need_hint:
        A cell of digits only counts only when the column name carries a hint (a bare
        10-digit number is as likely a reference number as a phone number).
    span_filter:
        ``span_filter(text, start, end) -> bool``: a last check on a span in its surrounding
        text (e.g. a number followed by a street name is not a phone number).
    trigger:
        Cheap pre-filter for free text: ``"digit"`` (the text has a digit), ``"@"``,
        ``"url"`` (``://`` or ``www.``), ``"hex"`` or ``""`` (always run).
    """

    name: str
    entity: str
    validator: Callable[[str], bool]
    pattern: str | None = None
    value_pattern: str | None = None
    hints: tuple[str, ...] = ()
    needs_hint: bool = False
    context: tuple[str, ...] = ()
    category: str = "direct"
    score: float = 0.9
    priority: int = 50
    shrink: bool = False
    bare_digits_need_hint: bool = False
    trigger: str = "digit"
    span_filter: Callable[[str, int, int], bool] | None = None
    flags: int = 0
    _compiled: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.validator):
            raise PrivacyInputError(
                f"The 'validator' of recogniser {self.name!r} must be callable; got "
                f"{type(self.validator).__name__}. Pass auditkit.privacy.masking.validators.always to "
                "accept every candidate explicitly."
            )
        if self.category not in CATEGORIES:
            raise PrivacyInputError(
                f"The 'category' of recogniser {self.name!r} must be one of {list(CATEGORIES)}; "
                f"got {self.category!r}."
            )
        if self.pattern is not None:
            try:
                object.__setattr__(self, "_compiled", re.compile(self.pattern, self.flags))
            except re.error as exc:
                raise PrivacyInputError(
                    f"The 'pattern' of recogniser {self.name!r} is not a valid regular "
                    f"expression ({exc}). Fix the pattern."
                ) from None

    @property
    def compiled(self) -> re.Pattern[str] | None:
        return self._compiled

    @property
    def validator_name(self) -> str:
        return getattr(self.validator, "__name__", type(self.validator).__name__)


_REGISTRY: Registry[Recogniser] = Registry("recogniser", PrivacyInputError)


def register_recogniser(rec: Recogniser, *, force: bool = False) -> Recogniser:
    """Add ``rec`` to the registry; refuses to replace an existing name unless ``force``."""
    return _REGISTRY.add(rec.name, rec, force=force)


def unregister_recogniser(name: str) -> None:
    """Remove a recogniser (e.g. one a test added)."""
    _REGISTRY.pop(name, None)


def get_recogniser(name: str) -> Recogniser:
    """The recogniser registered as ``name``."""
    return _REGISTRY.lookup(name)


def iter_recognisers() -> list[Recogniser]:
    """Every registered recogniser, highest priority first."""
    return sorted(_REGISTRY.values(), key=lambda r: (-r.priority, r.name))


def entity_category(entity: str) -> str:
    """The category declared by the first recogniser of ``entity`` (``"direct"`` if none)."""
    for rec in _REGISTRY.values():
        if rec.entity == entity:
            return rec.category
    return "direct"


# --------------------------------------------------------------------------------------------
# Built-in recognisers.

# Separators between digit groups: space, no-break and narrow no-break space, hyphen, en dash
# (maybe spaced) and, for cards, a dot. Written as the characters themselves (not escapes)
# so that RE2 (the value patterns) and Python read them alike.
_NBSP = "\u00a0\u202f"
_CC_SEP = "(?: ?[\u2013-] ?|[ ." + _NBSP + "])"
_CC_SPAN = (
    r"(?<![\w+.-])(?:\d{12,19}|\d{4}(" + _CC_SEP + r")\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"
    r"|\d{4}(" + _CC_SEP + r")\d{6}\2\d{4,5})(?![\w-]|\.\d)"
)
_CC_VALUE = (
    r"^(?:\d{12,19}|\d{4}" + _CC_SEP + r"\d{4}" + _CC_SEP + r"\d{4}" + _CC_SEP + r"\d{4}(?:"
    + _CC_SEP + r"\d{1,3})?|\d{4}" + _CC_SEP + r"\d{6}" + _CC_SEP + r"\d{4,5})$"
)

_PHONE_SEP = "[ ." + _NBSP + "\u2013-]"
_PHONE_SPAN = (
    r"(?<![\w+/.:-])(?:(?:\+|00)\d{1,3}" + _PHONE_SEP + r"?)?(?:\(\d{1,4}\)" + _PHONE_SEP
    + r"?)?\d[\d .()/" + _NBSP + "\u2013" + r"-]{4,18}\d"
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?(?![\w/:]|[." + "\u2013" + r"-]\d)"
)
_PHONE_VALUE = (
    r"^(?:\+|00)?[\d .()/" + _NBSP + "\u2013" + r"-]{5,22}\d(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?$"
)

def _not_a_thing_number(text: str, start: int, end: int) -> bool:
    """Reject a card or SSN candidate announced as a product, order, parcel or document number
    (``barcode 4006381333931``, ``part no. 123-45-6789``)."""
    return not thing_id_before(text, start)


_not_a_thing_number.batch = not_thing_id_batch  # type: ignore[attr-defined]


_DATE_SPAN = (
    r"(?<![\d/.-])(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|"
    r"\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4})(?![\d/.-])"
)
_DATE_VALUE = (
    r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|"
    r"\d{8}|\d{1,2} [A-Za-z]{3,9} \d{4}|[A-Za-z]{3,9} \d{1,2}, \d{4})$"
)

_ANY = r"^.+$"


def _by_column_name(
    name: str, entity: str, value_pattern: str, hints: tuple[str, ...], *,
    category: str = "direct", score: float = 0.8, priority: int = 19,
) -> Recogniser:
    """A recogniser of an entity that no validator can confirm (names, addresses, logins):
    a column counts only when its name carries one of ``hints`` and its cells fit
    ``value_pattern``."""
    return Recogniser(name, entity, v.always, value_pattern=value_pattern, hints=hints,
                      needs_hint=True, category=category, score=score, priority=priority)


def _special(name: str, entity: str, hints: tuple[str, ...], *, score: float = 0.85) -> Recogniser:
    """A GDPR Art. 9 special category, recognised by its column name alone."""
    return _by_column_name(name, entity, _ANY, hints, category="special", score=score)


_BUILTINS = (
    Recogniser(
        "email", "EMAIL_ADDRESS", v.valid_email,
        pattern=r"(?<![\w.+-])[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*@"
        r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}\b",
        value_pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,24}$",
        hints=("email", "e mail", "mail$"), score=1.0, priority=90, trigger="@",
    ),
    Recogniser(
        "credit_card", "CREDIT_CARD", v.valid_credit_card, pattern=_CC_SPAN,
        value_pattern=_CC_VALUE, hints=("card", "cc number", "ccnumber", "pan$", "credit card"),
        category="financial", score=1.0, priority=85, span_filter=_not_a_thing_number,
    ),
    Recogniser(
        "iban", "IBAN_CODE", v.valid_iban,
        pattern=r"(?i)(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)"
        r"(?![A-Za-z0-9])",
        value_pattern=r"(?i)^[A-Z]{2}\d{2}[ A-Z0-9]{11,40}$",
        hints=("iban", "bank account", "account number"), category="financial",
        score=1.0, priority=88, shrink=True,
    ),
    Recogniser(
        "us_ssn", "US_SSN", v.valid_us_ssn,
        pattern=r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])",
        value_pattern=r"^\d{3}[- .]?\d{2}[- .]?\d{4}$",
        hints=("ssn", "social security", "social security number"), score=0.95, priority=80,
        bare_digits_need_hint=True, span_filter=_not_a_thing_number,
    ),
    Recogniser(
        "us_ssn_bare", "US_SSN", v.valid_us_ssn, pattern=r"(?<!\d)\d{9}(?!\d)",
        value_pattern=r"^\d{9}$", hints=("ssn", "social security"), needs_hint=True,
        context=("ssn", "social security", "social sec"), score=0.6, priority=79,
    ),
    Recogniser(
        "ip_address", "IP_ADDRESS", v.valid_ip,
        pattern=r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"
        r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"
        r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?(?![\w:])"
        r"|(?<![\w:])::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})(?![\w:])",
        value_pattern=r"^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$",
        hints=("ip", "ip address", "ipv4", "ipv6", "client ip"), score=0.95, priority=75,
        trigger="hex",
    ),
    Recogniser(
        "mac_address", "MAC_ADDRESS", v.valid_mac,
        pattern=r"(?<![0-9A-Fa-f:-])(?:[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
        r"|(?<![0-9A-Fa-f]\.)[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?!\.[0-9A-Fa-f]))"
        r"(?![0-9A-Fa-f:-])",
        value_pattern=r"^(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})$",
        hints=("mac", "mac address", "hardware address"), score=0.95, priority=76,
        trigger="hex",
    ),
    Recogniser(
        "url", "URL", v.valid_url,
        pattern=r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'\[\]{}|\\^`]+[^\s<>\"'\[\]{}|\\^`.,;:!?)]",
        value_pattern=r"(?i)^(?:(?:https?|ftp)://|www\.)\S+$",
        hints=("url", "website", "homepage", "web site", "link$"), score=0.9, priority=70,
        trigger="url",
    ),
    Recogniser(
        "phone", "PHONE_NUMBER", v.valid_phone, pattern=_PHONE_SPAN,
        value_pattern=_PHONE_VALUE,
        hints=("phone", "telephone", "tel", "mobile", "cell", "fax", "phone number"),
        score=0.75, priority=60, bare_digits_need_hint=True,
        span_filter=phone_span_ok,
    ),
    Recogniser(
        "date_of_birth", "DATE_OF_BIRTH", v.valid_date_of_birth, pattern=_DATE_SPAN,
        value_pattern=_DATE_VALUE,
        hints=("dob", "birth", "birthday", "birthdate", "date of birth", "born", "birth date"),
        needs_hint=True, context=("born", "birth", "dob", "birthday"), category="quasi",
        score=0.85, priority=55,
    ),
    Recogniser(
        "zip_code", "ZIP_CODE", v.valid_zip,
        value_pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{1,8}[A-Za-z0-9]$",
        hints=("zip", "zipcode", "zip code", "postcode", "post code", "postal code", "postal",
               "postalcode", "plz"),
        needs_hint=True, category="quasi", score=0.8, priority=40,
    ),
    _by_column_name(
        "person", "PERSON", r"^[\pL][\pL\pM'’. -]{0,79}$",
        ("name$", "first name", "given name", "givenname", "surname", "last name",
         "family name", "full name", "fullname", "maiden", "middle initial", "middle name",
         "forename", "firstname", "lastname", "mothers maiden"),
        priority=30,
    ),
    _by_column_name(
        "street_address", "STREET_ADDRESS", r"^.*[\pL].*$",
        ("address", "street", "addr", "address line", "street address", "address1",
         "address2", "residence"),
        priority=29,
    ),
    _by_column_name(
        "location", "LOCATION", r"^[\pL][\pL\pM'’. ()-]{0,79}$",
        ("city", "town", "municipality", "state", "county", "province", "statefull"),
        category="quasi", score=0.7, priority=20,
    ),
    Recogniser(
        "geo", "GEO_COORDINATE", v.valid_geo_coordinate, value_pattern=r"^-?\d{1,3}\.\d{2,}$",
        hints=("latitude", "longitude", "lat", "lon", "lng", "geo", "coordinates"),
        needs_hint=True, category="quasi", score=0.85, priority=25,
    ),
    Recogniser(
        "age", "AGE", v.valid_age, value_pattern=r"^\d{1,3}(?:\.0+)?$", hints=("age$",),
        needs_hint=True, category="quasi", score=0.85, priority=24,
    ),
    _by_column_name(
        "gender", "GENDER", r"^[\pL][\pL -]{0,30}$", ("sex", "gender"),
        category="quasi", score=0.85, priority=23,
    ),
    _by_column_name(
        "username", "USERNAME", r"^\S{2,64}$",
        ("username", "user name", "login", "user id", "userid", "handle", "screen name"),
        category="credential", priority=22,
    ),
    _by_column_name(
        "password", "PASSWORD", _ANY, ("password", "passwd", "pwd", "passphrase", "secret"),
        category="credential", score=0.9, priority=22,
    ),
    _by_column_name(
        "national_id", "NATIONAL_ID", r"^[A-Za-z0-9][A-Za-z0-9 ./-]{3,24}$",
        ("national id", "nationalid", "passport", "tax id", "taxid", "nin", "id number",
         "driver license", "drivers license", "driving licence", "licence number",
         "license number", "personal number", "insurance number", "nhs number"),
        priority=21,
    ),
    _by_column_name(
        "card_security_code", "CARD_SECURITY_CODE", r"^\d{3,4}$",
        ("cvv", "cvc", "cvv2", "cvc2", "security code", "card verification"),
        category="financial", score=0.85, priority=21,
    ),
    # GDPR Art. 9 special categories: only a column's name tells them apart.
    _special("health", "HEALTH_DATA", (
        "blood type", "bloodtype", "blood group", "diagnosis", "diagnoses", "condition",
        "disease", "disability", "medical", "medication", "health", "icd10", "icd"), score=0.8),
    _special("ethnicity", "RACIAL_ETHNIC_ORIGIN", ("race", "ethnicity", "ethnic origin", "ethnic")),
    _special("religion", "RELIGION", ("religion", "religious", "belief", "faith")),
    _special("politics", "POLITICAL_OPINION", ("political", "party affiliation",
                                               "political opinion"), score=0.8),
    _special("trade_union", "TRADE_UNION", ("trade union", "union member", "union membership"),
             score=0.8),
    _special("sexual_orientation", "SEX_LIFE", ("sexual orientation", "orientation",
                                                "sex life")),
    _special("biometric", "BIOMETRIC", ("fingerprint", "face embedding", "biometric", "iris",
                                        "genetic", "genome", "dna"), score=0.8),
)

for _rec in _BUILTINS:
    register_recogniser(_rec)
