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
from functools import lru_cache

__all__ = [
    "always",
    "valid_age",
    "valid_credit_card",
    "valid_date_of_birth",
    "valid_email",
    "valid_geo_coordinate",
    "valid_iban",
    "valid_ip",
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


def valid_credit_card(value: str) -> bool:
    """12-19 digits (separators allowed), not all one digit, Luhn checksum correct."""
    digits = _NON_DIGIT.sub("", value)
    if not 12 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    return luhn_ok(digits)


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
    if len(s) < 15 or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
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


_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "CA", "BR", "IL", "AU", "IT", "ES", "NL", "SE",
                  "CH", "BE", "PT", "RU", "JP")


_NANP = re.compile(
    r"(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]?\d{4}"
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?"
)
_DECIMAL = re.compile(r"[-+]?\d+\.\d+")
_DATE_SHAPE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


_EXTENSION = re.compile(r"(?i)\s*(?:x|ext\.?|extension)\s*\d+$")


@lru_cache(maxsize=65536)
def valid_phone(value: str) -> bool:
    """A possible phone number for some common region (``phonenumbers``).

    International numbers (``+`` or ``00``) must be possible numbers for their country code;
    national numbers must be possible in one of a list of common regions. Length 6-15 digits.
    """
    import phonenumbers

    v = value.strip()
    if _NANP.fullmatch(v):
        return True  # North American numbering plan: area and exchange codes start 2-9
    if _DATE_SHAPE.fullmatch(v) or _DECIMAL.fullmatch(v):
        return False
    digits = _NON_DIGIT.sub("", v.split("x")[0].split("ext")[0])
    if not 6 <= len(digits) <= 15 or len(set(digits)) == 1:
        return False
    core = _EXTENSION.split(v)[0]
    if core.startswith("00"):
        core = "+" + core[2:]
    regions: tuple[str | None, ...] = (None,) if core.startswith("+") else _PHONE_REGIONS
    for region in regions:
        try:
            num = phonenumbers.parse(core, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(num):
            return True
    return False


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
