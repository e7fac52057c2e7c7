"""Batch forms of the built-in validators and of the phone span filter: Arrow and numpy.

The span search (:func:`~auditkit.privacy.masking._spans.run_recogniser`) calls
``validator.batch(candidates) -> list[bool]`` and ``span_filter.batch(texts, starts, ends)``
when they exist. Each function here returns *exactly* what the scalar function returns for
every item: it decides vectorised the items whose answer it can prove from a shape that RE2
and Python's ``re`` read alike (ASCII digits, fixed separators), and hands every other item
(non-ASCII text, IPv6, numbers that need ``phonenumbers``, spans with text around them) to the
scalar function, which the caller passes in. This module imports no other module of the
package, so :mod:`~auditkit.privacy.masking.validators` can attach these without a cycle.

Why each shortcut is exact:

- RE2 (Arrow's regex engine) reads ``\\d`` and ``\\w`` as ASCII only, Python as Unicode. The
  patterns here use ASCII classes and explicit code-point ranges of letters (:data:`LETTERS`),
  all of which Python's ``\\w`` accepts too, so an RE2 match implies the Python match. An item
  RE2 does not match goes to the scalar, unless the shortcut also proves the rejection (ASCII
  digit shapes: a card's digits, an IPv4 address of digits and dots).
- Anchored (``^...$``) RE2 patterns match the whole value; a value that matches starts and
  ends with a non-space character, so the scalar's ``strip()`` leaves it as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["cards", "emails", "ips", "phone_spans", "phones", "ssns"]

#: Below this many items the scalar loop is cheaper than setting up the kernels (Arrow
#: compiles a regular expression on every call: 0.3 ms for the e-mail one).
MIN_ITEMS = {"cards": 48, "ssns": 100, "ips": 32, "emails": 1000, "phones": 64,
             "phone_spans": 80}

Scalar = Callable[[str], bool]


def _arrow(values: Sequence[str]) -> pa.Array | None:
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):  # lone surrogates, non-strings
        return None


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _match(arr: pa.Array, pattern: str) -> np.ndarray:
    return _np(pc.match_substring_regex(arr, pattern))


def _finish(values: Sequence[str], decided: np.ndarray, verdict: np.ndarray,
            scalar: Scalar) -> list[bool]:
    """``verdict`` where ``decided``, the scalar's answer elsewhere."""
    out = (verdict & decided).tolist()
    for i in np.flatnonzero(~decided).tolist():
        out[i] = bool(scalar(values[i]))
    return out


def _byte_matrix(arr: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``width`` bytes of each string, right-aligned (``uint8``, 0 before the start),
    and whether each position lies inside the string."""
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    padded = np.concatenate([np.zeros(width, np.uint8), data])
    idx = offsets[1:, None] + np.arange(width, dtype=np.int32)  # = position + width in padded
    inside = idx >= offsets[:-1, None] + width
    return np.where(inside, padded[idx], 0), inside


# --------------------------------------------------------------------------------------------
# Payment cards: 12-19 digits, not one digit repeated, an issuer prefix, Luhn.

#: Longer candidates (19 digits and 5 separators at most from the card pattern) go to the scalar.
_CARD_WIDTH = 32


def cards(values: Sequence[str], scalar: Scalar) -> list[bool]:
    """``valid_credit_card`` of each value: every ASCII value of up to 32 characters decided
    vectorised, on its digits (``\\D`` is ``[^0-9]`` on ASCII text)."""
    arr = _arrow(values) if len(values) >= MIN_ITEMS["cards"] else None
    if arr is None:
        return [bool(scalar(x)) for x in values]
    lengths = _np(pc.binary_length(arr))
    decided = _np(pc.string_is_ascii(arr)) & (lengths <= _CARD_WIDTH)
    raw, inside = _byte_matrix(arr, min(_CARD_WIDTH, max(4, int(lengths.max()))))
    is_digit = inside & (raw >= 48) & (raw <= 57)
    digit = np.where(is_digit, raw - 48, 0).astype(np.int8)
    return _finish(values, decided, _card_verdict(digit, is_digit), scalar)


_LUHN_DOUBLE = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int8)
_PLACE = np.array([0, 1000, 100, 10, 1] + [0] * 60, dtype=np.int16)  # by rank from the left


def _card_verdict(digit: np.ndarray, is_digit: np.ndarray) -> np.ndarray:
    """The card rules on each row's digits (``digit`` where ``is_digit``, other bytes
    skipped)."""
    n_d = is_digit.sum(axis=1)
    from_right = np.cumsum(is_digit[:, ::-1], axis=1, dtype=np.int8)[:, ::-1]
    luhn_digit = np.where(from_right % 2 == 0, _LUHN_DOUBLE[digit], digit)
    luhn = luhn_digit.sum(axis=1, dtype=np.int32) % 10 == 0
    from_left = np.cumsum(is_digit, axis=1, dtype=np.int8)
    p4 = (digit * np.where(is_digit, _PLACE[from_left], 0)).sum(axis=1, dtype=np.int32)
    d1, p2 = p4 // 1000, p4 // 100
    prefix = (
        np.isin(d1, (3, 4, 5, 6, 9))
        | ((d1 == 1) & (n_d == 15))
        | ((p4 == 2131) & (n_d == 15))
        | (p4 == 604)
        | ((p4 >= 2200) & (p4 <= 2204))
        | ((p4 >= 2221) & (p4 <= 2720))
        | (p2 == 81) | (p2 == 82)
    )
    one_digit = np.all(~is_digit | (digit == d1[:, None]), axis=1)
    return (n_d >= 12) & (n_d <= 19) & prefix & luhn & ~one_digit


# --------------------------------------------------------------------------------------------
# US SSNs: AAA-GG-SSSS (one separator, the same twice) or nine digits.

_SSN_SHAPE = (r"^(?:[0-9]{9}|[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}"
              r"|[0-9]{3}\.[0-9]{2}\.[0-9]{4})$")
_SSN_SAMPLES = np.array([78051120, 219099999, 123456789, 987654320, 987654321], dtype=np.int64)


def ssns(values: Sequence[str], scalar: Scalar) -> list[bool]:
    """``valid_us_ssn`` of each value: the usual shapes decided vectorised."""
    arr = _arrow(values) if len(values) >= MIN_ITEMS["ssns"] else None
    if arr is None:
        return [bool(scalar(x)) for x in values]
    shape = _match(arr, _SSN_SHAPE)
    digits = pc.replace_substring_regex(arr, "[^0-9]", "")
    number = _np(pc.cast(pc.if_else(pa.array(shape), digits, "0"), pa.int64()))
    area, group, serial = number // 1_000_000, number // 10_000 % 100, number % 10_000
    ok = ((area != 0) & (area != 666) & (area < 900) & (group != 0) & (serial != 0)
          & (number % 111_111_111 != 0) & ~np.isin(number, _SSN_SAMPLES))
    return _finish(values, shape, ok, scalar)


# --------------------------------------------------------------------------------------------
# IP addresses: dotted IPv4 decided vectorised, IPv6 by the scalar.

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^(?:{_OCTET}\.){{3}}{_OCTET}$"


def ips(values: Sequence[str], scalar: Scalar) -> list[bool]:
    """``valid_ip`` of each value. A value of digits and dots only is an IPv4 address exactly
    when it is four dotted octets 0-255 without leading zeros (``ipaddress``'s rules), and
    never an IPv6 one (no colon); anything else goes to the scalar."""
    arr = _arrow(values) if len(values) >= MIN_ITEMS["ips"] else None
    if arr is None:
        return [bool(scalar(x)) for x in values]
    decided = _match(arr, r"^[0-9.]+$")
    ok = _match(arr, _IPV4) & ~_np(pc.equal(arr, "0.0.0.0"))
    return _finish(values, decided, ok, scalar)


# --------------------------------------------------------------------------------------------
# E-mail addresses: the validator's expression, letters limited to :data:`LETTERS`.

#: Letters (Python ``str.isalpha``, not digits) of Latin-1, Latin Extended-A/B, Greek and
#: Cyrillic: explicit code points, so RE2's Unicode tables play no part.
LETTERS = r"A-Za-z\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{24F}\x{391}-\x{3A1}\x{3A3}-\x{3A9}" \
    r"\x{3B1}-\x{3C9}\x{410}-\x{44F}"
_ATOM = rf"[{LETTERS}0-9_!#$%&'*+/=?^`{{|}}~-]+"
_LABEL = rf"[{LETTERS}0-9](?:[{LETTERS}0-9_-]{{0,61}}[{LETTERS}0-9])?"
_EMAIL = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[{LETTERS}]{{2,24}}$"


def emails(values: Sequence[str], scalar: Scalar) -> list[bool]:
    """``valid_email`` of each value: an address in the letters of :data:`LETTERS` decided
    vectorised, the rest (other scripts, surrounding spaces, rejects) by the scalar."""
    arr = _arrow(values) if len(values) >= MIN_ITEMS["emails"] else None
    if arr is None:
        return [bool(scalar(x)) for x in values]
    decided = _match(arr, _EMAIL)
    ok = (_np(pc.utf8_length(arr)) <= 254) & ~_np(pc.match_substring(arr, ".."))
    return _finish(values, decided, ok, scalar)


# --------------------------------------------------------------------------------------------
# Phone numbers.

#: The validators' North American pattern, anchored (ASCII digits).
_NANP_BODY = (r"(?:\([2-9][0-9]{2}\)|[2-9][0-9]{2})[ .-]?[2-9][0-9]{2}[ .-]?[0-9]{4}"
              r"(?:[ ]?(?:x|ext\.?)[ ]?[0-9]{1,5})?$")
_NANP = r"^(?:\+?1[ .-]?)?" + _NANP_BODY


def phones(values: Sequence[str], scalar: Scalar) -> list[bool]:
    """``valid_phone`` / ``plausible_phone`` of each value: a North American number is
    accepted vectorised (both accept it before anything else), the rest go to the scalar."""
    arr = _arrow(values) if len(values) >= MIN_ITEMS["phones"] else None
    if arr is None:
        return [bool(scalar(x)) for x in values]
    nanp = _match(arr, _NANP)
    return _finish(values, nanp, nanp, scalar)


# A span that is its whole text has nothing around it: every context rule of ``phone_span_ok``
# (labels, fragments, a code or a currency before, a word or decimals after) reads an empty
# window and stays silent, so the span alone decides. Then:
# - ``+1 ...`` (North American after +1) is accepted: it is balanced and plausible.
# - three groups 3-3-4, area and exchange codes 2-9 (``(212) 345-6789``, ``212.345.6789``) are
#   plausible (North American) and pass ``_grouped_ok``: three groups with a last one of four
#   digits are no range or pair (two groups), thousands grouping (threes), version (a first
#   group of 1-2 digits), coordinates (4+ decimals), draw (5+ groups), ISBN (13 digits) or
#   one-digit group.
# - bare digits: see ``_bare_verdicts``. Anything else goes to the scalar.
# The tests check all of it against the scalar on random and edge-case cells.
_NANP_GROUPED = r"^(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}$"
_NANP_PLUS = r"^\+1[ .-]?" + _NANP_BODY
_BARE_NANP = r"^1?[2-9][0-9]{2}[2-9][0-9]{6}$"
_BARE_ASK = r"^(?:00[0-9]*|0[1-9][0-9]{8,9})$"  # needs phonenumbers: the scalar decides
_EPOCH = (1_000_000_000, 2_208_988_800)


def phone_spans(texts: Sequence[str], starts: Sequence[int], ends: Sequence[int],
                scalar: Callable[[str, int, int], bool]) -> list[bool]:
    """``phone_span_ok(text, start, end)`` of each span: spans that are their whole text and
    have a decided shape vectorised, every other one by the scalar."""
    whole = [t if s == 0 and e == len(t) else "" for t, s, e in zip(texts, starts, ends,
                                                                     strict=True)]
    arr = _arrow(whole) if len(whole) - whole.count("") >= MIN_ITEMS["phone_spans"] else None
    if arr is None:
        return [bool(scalar(t, s, e)) for t, s, e in zip(texts, starts, ends, strict=True)]
    accept = _match(arr, _NANP_GROUPED) | _match(arr, _NANP_PLUS)
    bare = _match(arr, r"^[0-9]+$")
    bare_ok, bare_decided = _bare_verdicts(arr, bare)
    decided = accept | bare_decided
    verdict = accept | bare_ok
    out = (verdict & decided).tolist()
    for i in np.flatnonzero(~decided).tolist():
        out[i] = bool(scalar(texts[i], starts[i], ends[i]))
    return out


def _bare_verdicts(arr: pa.Array, bare: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of ASCII digits (``bare``): ``_bare_ok`` where decided, and where it is.

    ``00...`` and trunk-prefixed national numbers need ``phonenumbers``: the scalar decides.
    Of the rest only a North American number (10 or 11 digits) can pass, unless it reads as a
    Unix time (10 digits; a GTIN has 8, 12, 13 or 14)."""
    n_d = _np(pc.binary_length(arr))
    ten = bare & (n_d == 10)
    number = _np(pc.cast(pc.if_else(pa.array(ten), arr, "0"), pa.int64()))
    epoch = ten & (number >= _EPOCH[0]) & (number < _EPOCH[1])
    ask = bare & _match(arr, _BARE_ASK)
    ok = bare & ~ask & ~epoch & _match(arr, _BARE_NANP)
    return ok, bare & ~ask
