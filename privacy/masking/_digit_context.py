"""Is a run of digits in free text a phone number? Context words and decoy shapes.

A phone pattern matches ISBNs, order numbers, timestamps, population counts and page ranges as
readily as phone numbers. :func:`phone_span_ok` decides for a validated candidate in its text:

1. The nearest label before the span decides first. A word naming another kind of number
   (``ISBN``, ``order``, ``Rechnung``, ``facture``, ``pedido``, ``ordine``, ``bestelling``,
   ``encomenda``, ``beställning``, ``ticket``, ``version``, ...; then only filler such as
   ``No.``, ``Nr.``, ``n°``, ``#``, ``number is``) rejects it; a phone word within a few words
   (``call``, ``tel``, ``mobile``, ``Telefon``, ``téléphone``, ``teléfono``, ``cellulare``,
   ``WhatsApp``, ...) or a phone label right after it (``office``, ``fax``) accepts it. A bare
   ``No.``/``#`` with no phone word rejects it. A word for a person or a party (``customer``,
   ``client``, ``patient``, ``account holder``) says whose number it is, not what it is: it is
   a label only with a noun naming an identifier (``customer number``, ``Kundennummer``,
   ``client ID``, ``numéro client``).
2. With no label, shapes that phone numbers do not take reject it: ISBN/GTIN check digits,
   Unix times, year, page and opening-time ranges, thousands groupings before a word or a
   currency, single digit groups (``375-86-0``), lottery draws, a code of capitals before it
   (``EP 2 821 972``), unbalanced parentheses, two groups before a capitalised word (a house
   number or postcode).
3. What is left must be a *valid* number (:func:`~auditkit.privacy.masking.validators.plausible_phone`):
   a North American number, an international one, or a national one of a common region. A run
   of bare digits with no separators counts only as a North American or trunk-prefixed national
   number, or with ``+``/``00``.

:func:`thing_id_before` serves other digit entities (cards, SSNs): a word naming a product,
document or parcel number right before the span.
"""

from __future__ import annotations

import re

from auditkit.privacy.masking import _batch_validators as _bv
from auditkit.privacy.masking import validators as v

__all__ = ["not_thing_id_batch", "phone_span_ok", "thing_id_before"]

_WINDOW = 48  # characters before a span searched for a phone word
_PHONE_WINDOW = 40

_PHONE_WORDS = (
    r"call\w*", r"phone\w*", r"t[eé]l[eé]ph\w*", r"t[eé]l[eé]?f\w*", r"t[eé]l", r"tlf", r"tfn",
    r"t[eé]lem[oó]v\w*", r"mob\w*", r"m[oó]vil", r"cell\w*", r"celular", r"handy", r"portable",
    r"natel", r"gsm", r"fax\w*", r"ring\w*", r"bel(?:len)?", r"ligu\w*", r"ligar", r"ll[aá]m\w*",
    r"chiam\w*", r"appel\w*", r"joindre", r"reach\w*", r"contact\w*", r"kontakt\w*",
    r"whats\s?app", r"signal", r"sms", r"text(?:ing)?", r"dial\w*", r"hotline", r"helpline",
    r"voicemail", r"answer\w*", r"messag\w*", r"nachricht\w*", r"anruf\w*", r"ruf\w*",
    r"erreich\w*", r"r[ée]pondeur",
    r"(?:desk|office|home|work|private|privat|b[üu]ro|bureau|casa|ufficio|domicile|thuis|hem)"
    r"\s*:",
)
_PHONE_BEFORE = re.compile(r"(?i)\b(?:" + "|".join(_PHONE_WORDS) + r")(?!\w)")
_PHONE_AFTER = re.compile(
    r"(?i)[\s,;(\-–]*(?:office|fax|mobile?|mob|home|work|cell|tel|phone|desk|landline|"
    r"fixe|portable|handy|privat|b[üu]ro)\b"
)

# Numbers of things, documents, events: never a phone, nor a card or an SSN.
_THING_WORDS = (
    r"isbn(?:-1[03])?", r"issn", r"eans?", r"gtin\w*", r"upc(?:-a)?", r"bar ?codes?", r"code-barres",
    r"c[oó]digo de barras", r"doi", r"pmid", r"pubmed", r"arxiv", r"cas(?:-nummer)?", r"isin",
    r"cusip", r"wkn", r"sha(?:1|256|512)?", r"md5", r"hash\w*", r"checksum\w*", r"crc\w*", r"ndc", r"national drug code", r"hs code", r"zolltarif\w*", r"patent\w*",
    r"brevet\w*", r"octrooi\w*",
    r"orders?", r"ordernummer", r"bestell\w*", r"auftrag\w*", r"auftrags\w*", r"commandes?",
    r"pedidos?", r"ordine", r"bestelnummer", r"encomendas?", r"best[äa]llning\w*", r"po",
    r"purchase order", r"invoices?", r"rechnung\w*", r"factur\w*", r"fattur\w*", r"faktur\w*",
    r"fatura\w*", r"factuur\w*", r"receipts?", r"quittung\w*", r"beleg\w*", r"reçu", r"recibo", r"ricevuta",
    r"kvitto", r"e-tickets?", r"ticket\w*", r"billets?", r"billetes?", r"biglietto",
    r"bilhete", r"biljett\w*", r"kaartje", r"incidencia", r"cases?", r"tracking\w*",
    r"track ?(?:&|and) ?trace", r"sendung\w*", r"suivi", r"seguimiento", r"rastre\w*",
    r"spedizione", r"zending\w*", r"kolli\w*", r"parcels?", r"colis", r"pakket\w*", r"paket\w*",
    r"pacco", r"paquete", r"shipments?", r"consignment", r"waybill", r"awb",
    r"serials?", r"s/n", r"serien\w*", r"s[ée]rie", r"parts?", r"teil\w*", r"pi[eè]ce",
    r"models?", r"modell\w*", r"mod[eè]le", r"modelo", r"modello", r"batch(?:es)?",
    r"chargen\w*", r"charge(?=[\s-]*(?:nr|nummer)\b)",  # German batch; not "charge (a card)"
    r"lots?", r"lotto", r"lote", r"partij", r"sku", r"items?", r"articles?",
    r"artikel\w*", r"art[ií]culo", r"articolo", r"artigo", r"products?", r"produkt\w*",
    r"transactions?", r"transaktion\w*", r"voucher", r"coupon", r"gutschein\w*",
    r"versions?", r"versi[oó]n", r"versione", r"versie", r"vers[ãa]o", r"builds?", r"release",
    r"nightly", r"compilaci[oó]n", r"commit", r"timestamps?", r"ts", r"epoch\w*", r"unix",
    r"created_at", r"updated_at", r"zeitstempel", r"horodatage", r"marca de tiempo",
    r"request id", r"uuid", r"meeting(?:[ -]id)?", r"conference id", r"id de r[ée]union",
    r"pages?", r"pp?", r"seiten?", r"p[aá]gina", r"chapters?", r"kapitel", r"chapitre",
    r"cap[ií]tulo", r"capitolo", r"hoofdstuk", r"sections?", r"abschnitt", r"figure", r"fig",
    r"docket", r"flight", r"flug", r"vuelo", r"train", r"zug", r"gate", r"platform", r"gleis",
    r"room", r"raum", r"salle", r"zaal", r"seat",
)
# Numbers of people's other records: not a phone either (cards and SSNs may follow them).
_OTHER_ID_WORDS = (
    r"accounts?", r"konto\w*", r"compte", r"cuenta", r"references?", r"ref", r"refs",
    r"r[ée]f[ée]rence",
    r"referenz\w*", r"referencia", r"riferimento", r"referentie", r"refer[êe]ncia", r"referens",
    r"bookings?", r"buchung\w*", r"r[ée]servation", r"reservas?", r"prenotazione",
    r"boeking\w*", r"reservering", r"bokning\w*", r"dossier", r"expediente", r"pratica",
    r"aktenzeichen", r"vorgang\w*", r"licen[cs]e\w*", r"zip", r"postal", r"post ?code",
    r"passport", r"iban", r"ssn", r"social security",
)
# People and parties: a name for *whom* a number belongs to, not what it is, so not a label on
# their own ("call the customer 212 555 0143", "Client 212-555-0143"); with a noun naming an
# identifier they are one ("customer number", "Kundennummer", "client ID", "numéro client").
_PERSON_WORDS = (
    r"customers?", r"kunden?", r"kund", r"clients?", r"clientes?", r"klant(?:en)?",
    r"patients?", r"patienten?", r"pacientes?", r"pazient[ei]", r"users?", r"benutzer",
    r"nutzer", r"utilisateurs?", r"usuarios?", r"utent[ei]", r"members?", r"mitglied(?:s|er)?",
    r"membres?", r"socios?", r"guests?", r"g[äa]ste?", r"passengers?", r"passagiers?",
    r"subscribers?", r"abonnent\w*", r"abonn[ée]s?", r"employees?", r"mitarbeiter",
    r"students?", r"account ?holders?", r"card ?holders?", r"karteninhaber\w*", r"titulaire",
    r"titular", r"persons?",
)
_ID_NOUNS = (
    r"(?:(?:number|nummer|numéro|numero|número|nr|no|num|nos|id|ident\w*|ref\w*|code|c[oó]digo|"
    r"codice|kenn\w*|key)(?!\w)|#|n[°º])"
)
_PERSON_ID = r"(?:" + "|".join(_PERSON_WORDS) + r")[\s._-]*" + _ID_NOUNS
_ID_OF_PERSON = (  # numéro (de) client, número de cliente, codice cliente
    r"(?:num[ée]ro|n[úu]mero|nr|no|id|identifiant|code|c[oó]digo|codice|r[ée]f[ée]rence|"
    r"referencia|riferimento)[\s.°º]*(?:(?:de|du|del|do|da|di|of)\s+)?"
    r"(?:(?:le|la|el|o|a|the)\s+)?"
    r"(?:clients?|clientes?|klant|customers?|patients?|pacientes?|paziente|utilisateurs?|"
    r"usuarios?|utente|membres?|socios?|adh[ée]rents?)(?!\w)"
)
_FILLER = (
    r"(?:[\s:#.,°º=()/-]*(?:no|nr|num|number|nummer|numéro|numero|número|n|id|ref|code|is|was|"
    r"ist|est|es|è|é|är|lautet|de|du|der|des|van|del|da|do|di|the|your|our|ihre|votre|su|tu|il|"
    r"la|le|op|på|i|en)\b){0,3}[\s:#.,°º=()/-]*$"
)
_THING_TAIL = re.compile(r"(?i)\b(?:" + "|".join(_THING_WORDS) + r")(?!\w)" + _FILLER)
_ANY_ID_TAIL = re.compile(
    r"(?i)\b(?:(?:" + "|".join(_THING_WORDS + _OTHER_ID_WORDS) + r")(?!\w)|" + _PERSON_ID + "|"
    + _ID_OF_PERSON + ")" + _FILLER
)
_GENERIC_TAIL = re.compile(r"(?i)(?:\b(?:no|nr|num|nos)\.?|#|\bn[°º]|\bn\.)\s*:?\s*$")
_CODE_BEFORE = re.compile(r"(?:^|[\s(])([A-Z]{2,5})[ \u00a0]$")
_CODE_OK = frozenset({"TEL", "FAX", "GSM", "MOB", "TLF", "TFN", "SMS", "CALL", "PHONE", "CELL"})


def thing_id_before(text: str, start: int) -> bool:
    """A word naming a product, document, parcel or event number right before ``start``
    (``ISBN``, ``order``, ``Rechnung``, ``ticket``, ``version``, ...; then only filler)."""
    return _THING_TAIL.search(text, max(0, start - _WINDOW), start) is not None


def _label(text: str, start: int, end: int) -> str:
    """``"decoy"``, ``"phone"`` or ``""``: what the words around ``text[start:end]`` say."""
    lo = max(0, start - _WINDOW)
    decoy = _ANY_ID_TAIL.search(text, lo, start)
    phone_end = -1
    for m in _PHONE_BEFORE.finditer(text, max(0, start - _PHONE_WINDOW), start):
        phone_end = m.end()
    if decoy is not None and decoy.start() >= phone_end:
        return "decoy"
    if phone_end >= 0 or _PHONE_AFTER.match(text, end):
        return "phone"
    if _GENERIC_TAIL.search(text, lo, start):
        return "decoy"
    return ""


def phone_span_ok(text: str, start: int, end: int) -> bool:
    """Keep a validated phone candidate ``text[start:end]``? (See the module's rules.)"""
    label = _label(text, start, end)
    if label:
        return label == "phone"
    span = text[start:end]
    if _FRAGMENT_BEFORE.search(text, max(0, start - 2), start) or _FRAGMENT_AFTER.match(text, end):
        return False  # the tail or head of a longer code: 9400 5805 8393 5110 [1576 67]
    if span.startswith(("+", "00")) and not span.isdigit():
        return _balanced(span) and v.plausible_phone(span)
    m = _CODE_BEFORE.search(text, max(0, start - 8), start)
    if m is not None and m.group(1) not in _CODE_OK:
        return False
    if span.isdigit():
        return _bare_ok(span)
    return _grouped_ok(text, start, end) and v.plausible_phone(span)


_NANP_BARE = re.compile(r"1?[2-9]\d{2}[2-9]\d{6}")
_TRUNK_BARE = re.compile(r"0[1-9]\d{8,9}")


def _bare_ok(digits: str) -> bool:
    """A run of digits alone: an ISBN/GTIN, a Unix time or a short reference number unless it
    is a North American number, a trunk-prefixed national number or ``00`` international."""
    if v.valid_gtin(digits) or v.epoch_like(digits):  # GTIN covers ISBN-13
        return False
    if digits.startswith("00"):
        return v.plausible_phone(digits)
    if _NANP_BARE.fullmatch(digits):
        return True
    return _TRUNK_BARE.fullmatch(digits) is not None and v.plausible_phone(digits)


_GROUP = re.compile(r"\d+")
_COORDINATES = re.compile(r"\d{1,3}\.\d{4,}[ ,]+-?\d{1,3}\.\d{4,}")
_VERSION = re.compile(r"[1-9]\d?(?:\.\d+){2,}")
_FRAGMENT_BEFORE = re.compile(r"\d[ .\-/\u00a0\u202f\u2013]?$")
_FRAGMENT_AFTER = re.compile(r"[-/\u2013][A-Za-z0-9]")
_YEAR_RANGE = re.compile(r"(?:1[5-9]|20)\d\d\s*[-–/]\s*(?:1[5-9]|20)\d\d")
_TIME_RANGE = re.compile(  # opening hours: 8.30–14.00
    r"(?:[01]?\d|2[0-4])[.:h][0-5]\d\s*[-–]\s*(?:[01]?\d|2[0-4])[.:h][0-5]\d"
)
_PAIR = re.compile(r"(\d{1,4})\s*[-–]\s*(\d{1,4})")
_THOUSANDS = re.compile(r"\d{1,3}(?:([ \u202f\u00a0.,'])\d{3})(?:\1\d{3})*")
_WORD_AFTER = re.compile(r"[ \u00a0\u202f]*(?:[^\W\d_]|[€$£¥%])")
_DECIMAL_AFTER = re.compile(r"[.,]\d")
_CURRENCY_BEFORE = re.compile(r"(?:[€$£¥]|\b(?:EUR|USD|GBP|CHF|SEK|NOK|DKK|kr|Fr))\.?\s*$")
# A word after two bare groups: a street (``370 3911 Fourth Avenue``, ``8116 56 rue``) or a
# city after a postcode (``3610-114 Lisboa``), unless it joins two numbers (``or``, ``oder``).
_WORD_AFTER_PAIR = re.compile(
    r"[ \u00a0\u202f]+(?!(?:or|and|oder|und|ou|et|o|y|e|of|en|och|og|eller)\b)[^\W\d_]{2,}",
    re.IGNORECASE,
)


def _grouped_ok(text: str, start: int, end: int) -> bool:
    """A candidate written in groups: its grouping is a phone's, not a range, count or code."""
    span = text[start:end]
    groups = _GROUP.findall(span)
    if not _balanced(span) or _YEAR_RANGE.fullmatch(span) or _VERSION.fullmatch(span) \
            or _COORDINATES.fullmatch(span) or _TIME_RANGE.fullmatch(span):
        return False
    if sum(map(len, groups)) == 13 and v.valid_isbn(span):
        return False
    if any(len(g) == 1 for g in groups[1:]):
        return False  # 375-86-0, 4 8 30 32 40 45, 0 23758 25717 5: codes, check digits, draws
    pair = _PAIR.fullmatch(span)
    if pair is not None and len(pair.group(1)) == len(pair.group(2)) and "0" not in (
        pair.group(1)[0], pair.group(2)[0]
    ):
        return False  # a range or a score: 1020-1040, 109-119
    if _THOUSANDS.fullmatch(span) and (
        span[-4] in ".,'" or _WORD_AFTER.match(text, end) or _DECIMAL_AFTER.match(text, end)
        or _CURRENCY_BEFORE.search(text, max(0, start - 6), start)
    ):
        return False  # 8.366.229, 6 044 864 habitantes, € 7 432 053,66
    if len(groups) >= 5 and all(len(g) <= 2 for g in groups) and groups[0][0] != "0" and all(
        int(a) < int(b) for a, b in zip(groups, groups[1:], strict=False)
    ):
        return False  # 12 16 22 31 40 45: a draw, not 06 12 34 56 78
    return not (len(groups) == 2 and _WORD_AFTER_PAIR.match(text, end))


def _balanced(span: str) -> bool:
    return span.count("(") == span.count(")")


def _phone_spans_batch(texts: list[str], starts: list[int], ends: list[int]) -> list[bool]:
    """:func:`phone_span_ok` of each span (vectorised where the span is its whole text)."""
    return _bv.phone_spans(texts, starts, ends, phone_span_ok)


def not_thing_id_batch(texts: list[str], starts: list[int], ends: list[int]) -> list[bool]:
    """``not thing_id_before(text, start)`` of each span: a span at the start of its text has
    no word before it."""
    return [s == 0 or _THING_TAIL.search(t, max(0, s - _WINDOW), s) is None
            for t, s in zip(texts, starts, strict=True)]


phone_span_ok.batch = _phone_spans_batch  # type: ignore[attr-defined]
