"""Validators: the checks a candidate must pass after its pattern matched.

Each validator takes the candidate text and returns ``True`` when it is a plausible instance
of the entity. Validators never log, print or raise with the candidate in the message.

Public: a custom :class:`~auditkit.privacy.masking.Recogniser` takes one of these (or any
function of the same shape) as its ``validator``; :func:`always` accepts every match.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
from functools import lru_cache, partial

__all__ = [
    "always",
    "epoch_like",
    "plausible_phone",
    "valid_age",
    "valid_credit_card",
    "valid_date_of_birth",
    "valid_email",
    "valid_geo_coordinate",
    "valid_gtin",
    "valid_iban",
    "valid_ip",
    "valid_isbn",
    "valid_mac",
    "valid_phone",
    "valid_url",
    "valid_us_ssn",
    "valid_zip",
]

_NON_DIGIT = re.compile(r"\D+")


def always(value: str) -> bool:
    """Accept every non-blank candidate (for entities recognised by column name and shape)."""
    return bool(value.strip())


def luhn_ok(digits: str) -> bool:
    """Luhn (mod-10) checksum over a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Issuer prefixes (ISO/IEC 7812 major industry identifier and the networks' IIN ranges) that a
# payment card number can start with; a digit run starting otherwise (0, 7, most of 1, 2 and 8:
# barcodes, timestamps, parcel numbers) is not a card even when its Luhn digit happens to fit.
_CARD_PREFIX = re.compile(
    r"4|5|6|3[0-9]|1(?=\d{14}$)|(?:2131|1800)(?=\d{11}$)|0604|2(?:2(?:0[0-4]|2[1-9]|[3-9]\d)|[3-6]\d{2}|7(?:[01]\d|20))|8[12]|9"
)


def valid_credit_card(value: str) -> bool:
    """12-19 digits (separators allowed), not all one digit, a card issuer's prefix, Luhn
    checksum correct."""
    digits = _NON_DIGIT.sub("", value)
    if not 12 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    return _CARD_PREFIX.match(digits) is not None and luhn_ok(digits)


# Sample numbers published in advertising and documentation (the SSA list, Woolworth's wallet).
_SSN_SAMPLES = frozenset({"078051120", "219099999", "123456789", "987654320", "987654321"})


_SSN = re.compile(r"(\d{3})([- .]?)(\d{2})([- .]?)(\d{4})")


def valid_us_ssn(value: str) -> bool:
    """US SSN rules: area 001-899 except 666, group 01-99, serial 0001-9999.

    Separators, when present, must be the same on both sides (``123-45-6789``, ``123 45 6789``).
    """
    m = _SSN.fullmatch(value.strip())
    if not m or m.group(2) != m.group(4):
        return False
    area, group, serial = int(m.group(1)), int(m.group(3)), int(m.group(5))
    if area == 0 or area == 666 or area >= 900 or group == 0 or serial == 0:
        return False
    digits = m.group(1) + m.group(3) + m.group(5)
    return len(set(digits)) > 1 and digits not in _SSN_SAMPLES


# Lengths of IBANs per country (ISO 13616 registry, common subset).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


_IBAN_SEP = re.compile(r"[\s-]+")


def valid_iban(value: str) -> bool:
    """ISO 13616 IBAN: known country, its length, and the mod-97 check equal to 1."""
    s = _IBAN_SEP.sub("", value).upper()
    if not s.isascii() or len(s) < 15:  # int(ch, 36) below reads ASCII letters and digits only
        return False
    if not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    expected = _IBAN_LENGTHS.get(s[:2])
    if expected is not None and len(s) != expected:
        return False
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def valid_ip(value: str) -> bool:
    """A syntactically valid IPv4 or IPv6 address (``ipaddress``); not ``0.0.0.0``-like noise."""
    try:
        addr = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return False
    return not addr.is_unspecified


_MAC_DOTTED = re.compile(r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}")


def valid_mac(value: str) -> bool:
    """Six hex octets with one consistent separator (``:``, ``-``) or Cisco dotted form."""
    v = value.strip()
    if _MAC_DOTTED.fullmatch(v):
        return True
    m = _MAC.fullmatch(v)
    return bool(m) and v.replace(m.group(1), "").upper() not in {"000000000000", "FFFFFFFFFFFF"}


# Internationalised addresses (RFC 6530/6531): letters of any script in both parts.
_EMAIL = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}"
)


def valid_email(value: str) -> bool:
    """Dot-atom local part (letters of any script), a dotted domain, an alphabetic TLD."""
    v = value.strip()
    return len(v) <= 254 and _EMAIL.fullmatch(v) is not None and ".." not in v


def valid_url(value: str) -> bool:
    """A scheme (http, https, ftp) or ``www.`` prefix followed by a dotted host."""
    v = value.strip()
    m = re.match(r"(?i)(?:(?:https?|ftp)://|www\.)([^/\s?#:]+)", v)
    if not m:
        return False
    host = m.group(1)
    if v.lower().startswith("www."):
        host = "www." + host
    return "." in host and not host.endswith(".") and re.search(r"[A-Za-z]", host) is not None


# National numbers (no country code) are tried in these regions, most common first.
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "CA", "BR", "IL", "AU", "IT", "ES", "NL", "SE",
                  "CH", "BE", "PT", "RU", "JP", "IE", "AT", "PL", "DK", "NO", "FI", "MX")


_NANP = re.compile(
    r"(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]?\d{4}"
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?"
)
_DECIMAL = re.compile(r"[-+]?\d+\.\d+")
_DATE_SHAPE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


_EXTENSION = re.compile(r"(?i)\s*(?:x|ext\.?|extension)\s*\d+$")
#: No-break, narrow no-break and thin spaces read as a space, en dashes as a hyphen.
_PHONE_SEPARATORS = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ",
                                   "\u2013": "-"})


def _parsed(core: str, region: str | None):  # -> phonenumbers.PhoneNumber | None
    import phonenumbers

    try:
        return phonenumbers.parse(core, region)
    except phonenumbers.NumberParseException:
        return None


def _phone_core(value: str) -> str | None:
    """``value`` without its extension, ``00`` as ``+``; ``None`` when it cannot be a phone."""
    v = value.strip()
    if _DATE_SHAPE.fullmatch(v) or _DECIMAL.fullmatch(v):
        return None
    digits = _NON_DIGIT.sub("", v.split("x")[0].split("ext")[0])
    if not 6 <= len(digits) <= 15 or len(set(digits)) == 1:
        return None
    core = _EXTENSION.split(v)[0]
    return "+" + core[2:] if core.startswith("00") else core


@lru_cache(maxsize=65536)
def valid_phone(value: str) -> bool:
    """A possible phone number for some common region (``phonenumbers``).

    International numbers (``+`` or ``00``) must be possible numbers for their country code;
    national numbers must be possible in one of a list of common regions. Length 6-15 digits.
    """
    import phonenumbers

    value = value.translate(_PHONE_SEPARATORS)
    if _NANP.fullmatch(value.strip()):
        return True  # North American numbering plan: area and exchange codes start 2-9
    core = _phone_core(value)
    if core is None:
        return False
    regions: tuple[str | None, ...] = (None,) if core.startswith("+") else _PHONE_REGIONS
    for region in regions:
        num = _parsed(core, region)
        if num is not None and phonenumbers.is_possible_number(num):
            return True
    return False


@lru_cache(maxsize=65536)
def plausible_phone(value: str) -> bool:
    """A *valid* (not merely possible) phone number: North American (area and exchange codes
    2-9), international with a country code that ``phonenumbers`` deems valid, or national and
    valid in one of the common regions. The stricter test for a digit run with no phone word
    nearby."""
    import phonenumbers

    value = value.translate(_PHONE_SEPARATORS)
    if _NANP.fullmatch(value.strip()):
        return True
    core = _phone_core(value)
    if core is None:
        return False
    regions: tuple[str | None, ...] = (None,) if core.startswith("+") else _PHONE_REGIONS
    for region in regions:
        num = _parsed(core, region)
        if num is not None and phonenumbers.is_valid_number(num):
            return True
    return False


def _mod10_weighted(digits: str) -> bool:
    """GTIN mod-10: weights 3, 1, 3, ... from the rightmost digit but one."""
    total = sum((3 if i % 2 else 1) * (ord(ch) - 48) for i, ch in enumerate(reversed(digits)))
    return total % 10 == 0


def valid_gtin(value: str) -> bool:
    """A GTIN (EAN-8, UPC-A, EAN-13/ISBN-13, GTIN-14) with a correct check digit."""
    digits = _NON_DIGIT.sub("", value)
    return len(digits) in (8, 12, 13, 14) and len(set(digits)) > 1 and _mod10_weighted(digits)


_ISBN10 = re.compile(r"\d{9}[\dXx]")


def valid_isbn(value: str) -> bool:
    """An ISBN-13 (prefix 978/979, GTIN check digit) or ISBN-10 (mod-11 check digit, maybe X)."""
    s = re.sub(r"[\s-]", "", value)
    if len(s) == 13:
        return s[:3] in ("978", "979") and s.isdigit() and _mod10_weighted(s)
    if not _ISBN10.fullmatch(s):
        return False
    total = sum((10 - i) * (10 if ch in "Xx" else ord(ch) - 48) for i, ch in enumerate(s))
    return total % 11 == 0


#: Unix time in seconds from 2001-09-09 (10 digits) to 2040-01-01; milliseconds likewise.
EPOCH_SECONDS = (1_000_000_000, 2_208_988_800)


def epoch_like(digits: str) -> bool:
    """A bare run of 10 (seconds) or 13 (milliseconds) digits in the plausible Unix-time range."""
    if len(digits) == 13:
        digits = digits[:10]
    elif len(digits) != 10:
        return False
    if not (digits.isascii() and digits.isdigit()):
        return False
    return EPOCH_SECONDS[0] <= int(digits) < EPOCH_SECONDS[1]


_DATE_FORMATS = (
    "%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y",
    "%Y%m%d", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
)


def parse_date(value: str) -> _dt.date | None:
    """The date in ``value`` for the common formats above, or ``None``."""
    v = value.strip()
    for fmt in _DATE_FORMATS:
        try:
            return _dt.datetime.strptime(v, fmt).date()
        except ValueError:
            continue
    return None


def valid_date_of_birth(value: str) -> bool:
    """A parseable date between 1900-01-01 and today."""
    d = parse_date(value)
    return d is not None and _dt.date(1900, 1, 1) <= d <= _dt.date.today()


def valid_zip(value: str) -> bool:
    """A postal code: US ``12345`` / ``12345-6789``, or 3-10 letters and digits with a digit."""
    v = value.strip()
    if re.fullmatch(r"\d{5}(?:-\d{4})?", v):
        return True
    return (
        re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 -]{1,8}[A-Za-z0-9]", v) is not None
        and any(ch.isdigit() for ch in v)
    )


def valid_age(value: str) -> bool:
    """An integer (or integer-valued number) from 0 to 125."""
    try:
        f = float(value)
    except ValueError:
        return False
    return f.is_integer() and 0 <= f <= 125


def valid_geo_coordinate(value: str) -> bool:
    """A decimal degree in [-180, 180] with at least two decimals (precise location)."""
    v = value.strip()
    if not re.fullmatch(r"-?\d{1,3}\.\d{2,}", v):
        return False
    return -180.0 <= float(v) <= 180.0


# --------------------------------------------------------------------------------------------
# Batch forms: ``f.batch(values) -> list[bool]``, equal to ``[f(x) for x in values]``, used by
# the span search for a column's candidates (vectorised with Arrow and numpy).

def _attach_batch_forms() -> None:
    from auditkit.privacy.masking import _batch_validators as b

    pairs = ((valid_credit_card, b.cards), (valid_us_ssn, b.ssns), (valid_ip, b.ips),
             (valid_email, b.emails), (valid_phone, b.phones), (plausible_phone, b.phones))
    for scalar, batch in pairs:
        scalar.batch = partial(batch, scalar=scalar)  # type: ignore[attr-defined]


_attach_batch_forms()
