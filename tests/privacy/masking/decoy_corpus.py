"""A seeded corpus of digit-bearing text that is *not* personal data, and of phone numbers that are.

Decoys: sentences in eight languages (EN, DE, FR, ES, IT, NL, PT, SV) around identifiers that
share a phone number's shape (runs and groups of digits) but identify books, parcels, orders,
software, places or moments, not people. No sentence holds personal data, so any pattern entity
(:data:`DIGIT_ENTITIES`) found in one is a false positive. Positives: valid phone numbers (``phonenumbers`` metadata) of
several regions, written in international, E.164 and national formats, in prose and as cells.

Deterministic: the same ``seed`` gives the same lists. Used by the tests
(``test_digit_runs.py``) and by ``benchmarks/bench_masking.py``; it needs only the standard
library and ``phonenumbers``.

Functions: :func:`decoy_sentences`, :func:`decoy_items` (with the kind of each), :data:`KINDS`,
:func:`phone_numbers` and :func:`phone_sentences`.
"""

from __future__ import annotations

import random
import string

__all__ = ["DIGIT_ENTITIES", "KINDS", "decoy_items", "decoy_sentences", "phone_numbers",
           "phone_sentences"]

#: The pattern entities a decoy must not be taken for. Decoys name no person, but some name a
#: city after a postcode (``75008 Paris``): a place, rightly found by a location recogniser.
DIGIT_ENTITIES = ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS",
                  "MAC_ADDRESS", "EMAIL_ADDRESS", "URL", "DATE_OF_BIRTH")

R = random.Random


def _d(rng: R, n: int, first: str = "0123456789") -> str:
    return rng.choice(first) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def _ean_check(body: str) -> str:
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return str((10 - s % 10) % 10)


def _isbn13(rng: R) -> str:
    body = rng.choice(("978", "979")) + _d(rng, 9)
    full = body + _ean_check(body)
    if rng.random() < 0.3:
        return full
    g = rng.choice((1, 2))
    p = rng.randint(2, 5)
    return "-".join((full[:3], full[3:3 + g], full[3 + g:3 + g + p], full[3 + g + p:12], full[12]))


def _isbn10(rng: R) -> str:
    body = _d(rng, 9)
    c = (11 - sum((10 - i) * int(x) for i, x in enumerate(body)) % 11) % 11
    full = body + ("X" if c == 10 else str(c))
    if rng.random() < 0.3:
        return full
    return "-".join((full[0], full[1:4], full[4:9], full[9]))


def _issn(rng: R) -> str:
    body = _d(rng, 7)
    c = (11 - sum((8 - i) * int(x) for i, x in enumerate(body)) % 11) % 11
    return f"{body[:4]}-{body[4:]}{'X' if c == 10 else c}"


def _ean13(rng: R) -> str:
    body = rng.choice(("400", "401", "425", "300", "376", "800", "840", "871", "730", "560")) \
        + _d(rng, 9)
    return body + _ean_check(body)


def _upc(rng: R) -> str:
    body = "0" + _d(rng, 10)
    s = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(body))
    full = body + str((10 - s % 10) % 10)
    return full if rng.random() < 0.6 else f"{full[0]} {full[1:6]} {full[6:11]} {full[11]}"


def _order(rng: R) -> str:
    return rng.choice((
        lambda: _d(rng, rng.randint(6, 12), "123456789"),
        lambda: f"{rng.randint(2015, 2025)}-{_d(rng, 6)}",
        lambda: f"{_d(rng, 3, '123456789')}-{_d(rng, 7)}-{_d(rng, 7)}",
        lambda: f"{_d(rng, 4, '123456789')} {_d(rng, 4)}",
    ))()


def _tracking(rng: R) -> str:
    alnum = string.ascii_uppercase + string.digits
    return rng.choice((
        lambda: "1Z" + "".join(rng.choice(alnum) for _ in range(6)) + _d(rng, 10),
        lambda: " ".join(["9400"] + [_d(rng, 4) for _ in range(4)] + [_d(rng, 2)]),
        lambda: _d(rng, 12, "123456789"),
        lambda: _d(rng, 10, "123456789"),
        lambda: f"JJD{_d(rng, 18)}",
    ))()


def _version(rng: R) -> str:
    a, b, c = rng.randint(0, 30), rng.randint(0, 40), rng.randint(0, 30000)
    return rng.choice((f"{a}.{b}.{c}", f"v{a}.{b}.{c}", f"{a}.{b}.{c}-rc.{rng.randint(1, 9)}",
                       f"v10.0.{rng.randint(10000, 22999)}", f"{a}.{b}"))


def _doi(rng: R) -> str:
    return f"10.{rng.randint(1000, 9999)}/{rng.choice(('s', 'j.', 'nphys', ''))}{_d(rng, 7)}"


def _iso_datetime(rng: R) -> str:
    y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
    hh, mm, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    return rng.choice((f"{y}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z", f"{hh:02d}:{mm:02d}:{ss:02d}",
                       f"{y}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}", f"{y}{m:02d}{d:02d}T{hh:02d}{mm:02d}"))


def _coords(rng: R) -> str:
    la, lo = rng.uniform(-80, 80), rng.uniform(-179, 179)
    return rng.choice((f"{la:.4f}, {lo:.4f}", f"{abs(la):.0f}°{rng.randint(0, 59)}′N "
                       f"{abs(lo):.0f}°{rng.randint(0, 59)}′E", f"{la:.6f} {lo:.6f}"))


def _amount(rng: R) -> str:
    v = rng.randint(1000, 9_999_999)
    grouped = f"{v:,}"
    return rng.choice((f"€ {grouped.replace(',', ' ')},{rng.randint(0, 99):02d}",
                       f"${grouped}.{rng.randint(0, 99):02d}", f"{grouped.replace(',', '.')} €",
                       f"CHF {grouped.replace(',', chr(39))}.–", f"{grouped.replace(',', ' ')} kr"))


def _percent(rng: R) -> str:
    return rng.choice((f"{rng.uniform(0, 100):.1f} %", f"{rng.uniform(0, 100):.2f}%"))


def _year_range(rng: R) -> str:
    a = rng.randint(1800, 2020)
    return f"{a}{rng.choice(('-', '–', ' - ', '/'))}{a + rng.randint(1, 30)}"


def _hex_hash(rng: R) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice((7, 12, 40, 64))))


def _uuid(rng: R) -> str:
    h = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _pages(rng: R) -> str:
    a = rng.randint(1, 1200)
    return f"{a}-{a + rng.randint(1, 40)}" if rng.random() < 0.5 else str(a)


def _postcode_city(rng: R) -> str:
    return rng.choice((f"{_d(rng, 5, '1234567')} Paris", f"Berlin {_d(rng, 5, '1')}",
                       f"{_d(rng, 5, '2')} Madrid", f"{_d(rng, 4, '1')} AB Amsterdam",
                       f"{_d(rng, 3, '1')} {_d(rng, 2)} Stockholm", f"{_d(rng, 4, '1')}-{_d(rng, 3)} Lisboa",
                       f"00{_d(rng, 3, '1')} Roma"))


def _temperature(rng: R) -> str:
    return rng.choice((f"{rng.randint(-30, 45)} °C", f"{rng.uniform(-20, 110):.1f}°F"))


def _measure(rng: R) -> str:
    return rng.choice((f"{rng.randint(100, 9999)} mm", f"{rng.uniform(0, 900):.2f} kg",
                       f"{rng.randint(1, 99)} x {rng.randint(1, 99)} x {rng.randint(1, 99)} cm",
                       f"{rng.randint(1000, 99999):,} km".replace(",", " ")))


def _patent(rng: R) -> str:
    n = rng.randint(6_000_000, 11_999_999)
    return rng.choice((f"US {n:,} B2", f"EP {_d(rng, 1, '123')} {_d(rng, 3)} {_d(rng, 3)} A1",
                       f"DE 10 {_d(rng, 4)} {_d(rng, 3)} {_d(rng, 3)} A1", f"WO 20{rng.randint(10, 24)}/{_d(rng, 6)}"))


def _arxiv(rng: R) -> str:
    return f"arXiv:{rng.randint(10, 24)}{rng.randint(1, 12):02d}.{_d(rng, 5)}v{rng.randint(1, 4)}"


def _cas(rng: R) -> str:
    body = _d(rng, rng.randint(2, 7), "123456789") + _d(rng, 2)
    c = sum((i + 1) * int(x) for i, x in enumerate(reversed(body))) % 10
    return f"{body[:-2]}-{body[-2:]}-{c}"


def _container(rng: R) -> str:
    return f"{rng.choice(('MSCU', 'MAEU', 'CMAU', 'HLXU', 'TGHU'))} {_d(rng, 6)} {_d(rng, 1)}"


def _cusip_isin(rng: R) -> str:
    return rng.choice((lambda: f"{rng.choice(('US', 'DE', 'FR', 'NL'))}{_d(rng, 10)}",
                       lambda: _d(rng, 9)))()


def _law(rng: R) -> str:
    return rng.choice((f"{rng.randint(100, 599)} U.S. {rng.randint(1, 999)} ({rng.randint(1950, 2020)})",
                       f"BGBl. I S. {rng.randint(1, 3999)}", f"{rng.randint(1, 50)} U.S.C. § {rng.randint(1, 9999)}",
                       f"{rng.randint(1, 9)}:{rng.randint(10, 24)}-cv-{_d(rng, 5)}"))


def _population(rng: R) -> str:
    n = rng.randint(10_000, 90_000_000)
    return f"{n:,}".replace(",", rng.choice((" ", ".", ",", "\u202f", "'")))


def _time_range(rng: R) -> str:
    a, b = rng.randint(6, 11), rng.randint(13, 20)
    return rng.choice((f"{a:02d}:00-{b}:30", f"{a}.30–{b}.00", f"{a}h-{b}h"))


def _score(rng: R) -> str:
    return rng.choice((f"{rng.randint(80, 130)}-{rng.randint(80, 130)}", f"{rng.randint(0, 5)}:{rng.randint(0, 5)}",
                       f"6-{rng.randint(0, 4)}, 7-6, 6-{rng.randint(0, 4)}"))


def _catalogue(rng: R) -> str:
    return rng.choice((f"BWV {rng.randint(1, 1120)}", f"K. {rng.randint(1, 626)}",
                       f"Op. {rng.randint(1, 130)} No. {rng.randint(1, 6)}", f"Hob. XVI:{rng.randint(1, 52)}"))


def _standard(rng: R) -> str:
    return rng.choice((f"ISO {rng.choice((9001, 27001, 14001, 8601, 3166))}:{rng.randint(2005, 2022)}",
                       f"RFC {rng.randint(700, 9500)}", f"EN {rng.randint(1000, 60000)}-{rng.randint(1, 9)}",
                       f"DIN {rng.randint(100, 9999)}", f"IEC {rng.randint(60000, 62999)}-{rng.randint(1, 9)}"))


def _frequency(rng: R) -> str:
    return rng.choice((f"{rng.uniform(87.5, 108):.1f} MHz", f"{rng.choice((2.4, 5.8, 3.5))} GHz",
                       f"{rng.randint(150, 1600)} kHz"))


def _lottery(rng: R) -> str:
    return " ".join(str(x) for x in sorted(rng.sample(range(1, 50), 6)))


def _ndc(rng: R) -> str:
    return rng.choice((f"{_d(rng, 4)}-{_d(rng, 4)}-{_d(rng, 2)}", f"{_d(rng, 5)}-{_d(rng, 3)}-{_d(rng, 2)}",
                       f"{_d(rng, 5)}-{_d(rng, 4)}-{_d(rng, 1)}"))


def _transport(rng: R) -> str:
    return rng.choice((f"LH {rng.randint(100, 2999)}", f"BA {_d(rng, 4)}", f"ICE {rng.randint(500, 1999)}",
                       f"TGV {rng.randint(6000, 9999)}", f"AVE {rng.randint(2000, 9999)}"))


def _filesize(rng: R) -> str:
    return f"{rng.randint(1_000_000, 9_999_999_999):,}".replace(",", rng.choice((" ", ".", ",")))


def _codepoint(rng: R) -> str:
    return rng.choice((f"U+{rng.randint(0x20, 0x1FFFF):04X}", "#" + _hex_hash(rng)[:6]))


def _build(rng: R) -> str:
    return rng.choice((f"{rng.randint(2019, 2025)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}.{rng.randint(1, 9)}",
                       f"{rng.randint(10000, 99999)}.{rng.randint(1000, 9999)}", str(rng.randint(1000, 99999))))


def _scientific(rng: R) -> str:
    return rng.choice((f"{rng.uniform(1, 9):.3f}e{rng.randint(-30, 30)}",
                       f"{rng.uniform(1, 9):.3f} × 10^{rng.randint(-30, 30)}"))


def _room(rng: R) -> str:
    return rng.choice((f"{rng.randint(0, 9)}.{rng.randint(1, 120):03d}", f"{rng.randint(1, 40)}{rng.choice('ABCDEF')}",
                       f"B{rng.randint(1, 5)}-{rng.randint(100, 499)}"))


def _invoice(rng: R) -> str:
    return rng.choice((_d(rng, rng.randint(6, 10), "123456789"), f"{rng.randint(2018, 2025)}/{_d(rng, 5)}",
                       f"RE-{_d(rng, 8)}", f"{_d(rng, 3, '123456789')} {_d(rng, 3)} {_d(rng, 3)}"))


def _customer(rng: R) -> str:
    return rng.choice((_d(rng, rng.randint(7, 11), "123456789"), f"{_d(rng, 2)}-{_d(rng, 6)}"))


def _serial_part(rng: R) -> str:
    return rng.choice((_d(rng, rng.randint(8, 12)), f"{_d(rng, 3)}-{_d(rng, 4)}-{_d(rng, 3)}",
                       f"{_d(rng, 4)} {_d(rng, 4)} {_d(rng, 2)}"))


def _ticket(rng: R) -> str:
    return rng.choice((_d(rng, 8, "123456789"), f"#{_d(rng, 6)}", f"{_d(rng, 3, '0')}-{_d(rng, 10)}"))


# kind -> (generator, sentence templates in several languages)
KINDS: dict[str, tuple] = {
    "isbn13": (_isbn13, ("ISBN {x}, second edition.", "Das Buch (ISBN {x}) ist vergriffen.",
                         "Livre disponible, ISBN : {x}.", "Ver ISBN {x} en la biblioteca.",
                         "Il volume ha ISBN {x}.", "Boek met ISBN {x} besteld.")),
    "isbn10": (_isbn10, ("Old printing, ISBN {x}.", "ISBN-10 {x} is out of print.",
                         "Katalog: ISBN {x}.", "L'edizione del 1987 (ISBN {x}).")),
    "issn": (_issn, ("The journal's ISSN is {x}.", "Zeitschrift ISSN {x}.", "Revista (ISSN {x}).")),
    "ean13": (_ean13, ("EAN {x} on the shelf label.", "Barcode {x} scanned twice.",
                       "GTIN {x} fehlt im Katalog.", "Code-barres {x} illisible.",
                       "Código de barras: {x}.", "Artikel {x} niet op voorraad.")),
    "upc": (_upc, ("UPC {x} printed on the box.", "The UPC-A code {x} did not scan.")),
    "order": (_order, ("Order {x} shipped today.", "Your order number is {x}.",
                       "Bestellnummer {x} wurde storniert.", "Ihre Bestellung Nr. {x} ist unterwegs.",
                       "Commande n° {x} expédiée.", "Su pedido {x} ha sido enviado.",
                       "L'ordine {x} è in consegna.", "Bestelling {x} is onderweg.",
                       "A encomenda {x} foi enviada.", "Beställning {x} har skickats.",
                       "PO {x} approved by finance.", "Auftragsnummer: {x}.")),
    "invoice": (_invoice, ("Invoice {x} is overdue.", "Rechnung {x} vom Mai.",
                           "Facture n° {x} réglée.", "Factura {x} pagada.", "Fattura n. {x} emessa.",
                           "Factuur {x} is betaald.", "Fatura {x} em aberto.", "Faktura {x} betald.",
                           "Rechnungsnr. {x} bitte angeben.")),
    "ticket": (_ticket, ("Ticket {x} was closed.", "See ticket {x} for details.", "Case {x} escalated.",
                         "Billet {x} valable.", "Ticket-Nr. {x} erledigt.", "Incidencia {x} resuelta.",
                         "Ticketnummer {x} afgehandeld.", "Biglietto {x} convalidato.", "E-ticket {x} issued.")),
    "tracking": (_tracking, ("Tracking number {x}.", "Sendungsnummer {x}.", "Numéro de suivi {x}.",
                             "Número de seguimiento {x}.", "Track & trace: {x}.", "Spedizione {x} in transito.",
                             "Kollinummer {x} levererat.", "Parcel {x} delivered.")),
    "customer": (_customer, ("Customer {x} upgraded the plan.", "Kundennummer {x}.", "Client n° {x}.",
                             "Cliente {x} dado de alta.", "Klantnummer {x}.", "Kundnummer {x}.",
                             "Account {x} was archived.", "Reference {x} confirmed.", "Ref. {x}",
                             "Booking {x} confirmed.", "Reserva {x} confirmada.", "Buchung {x} bestätigt.",
                             "Prenotazione {x} confermata.", "Dossier n° {x}.")),
    "serial": (_serial_part, ("Serial number {x}.", "S/N {x}.", "Part no. {x} is discontinued.",
                              "Teilenummer {x}.", "Model {x} recalled.", "Batch {x} released.",
                              "Lot {x} expired.", "SKU {x} restocked.", "Seriennummer {x} registriert.",
                              "Référence {x} épuisée.", "Número de serie {x}.", "Lotto {x} ritirato.",
                              "Artikelnummer {x}.", "Partij {x} vrijgegeven.", "Número de lote {x}.")),
    "epoch_s": (lambda rng: str(rng.randint(1_000_000_000, 2_208_988_799)), ("created_at {x}", "Event at {x} (unix time).", "ts={x}",
                           "Zeitstempel {x} gespeichert.", "Horodatage {x}.", "Last seen {x}.",
                           "The log line ended with {x}.", "{x} is when the job started.")),
    "epoch_ms": (lambda rng: str(rng.randint(1_000_000_000_000, 2_208_988_799_999)), ("timestamp {x} ms", "Received at {x}.", "epoch_ms={x}",
                             "Marca de tiempo {x}.", "{x} was logged by the sensor.")),
    "version": (_version, ("Upgrade to {x} now.", "Running Windows {x}.", "Version {x} released.",
                           "Versión {x} disponible.", "Versione {x} rilasciata.", "Neue Version {x}.")),
    "doi": (_doi, ("doi:{x}", "See DOI {x} for the dataset.", "Artikel (DOI {x}).")),
    "datetime": (_iso_datetime, ("Deployed {x}.", "Backup finished at {x}.", "Sauvegarde à {x}.",
                                 "Start: {x}", "Copia de seguridad {x}.")),
    "coords": (_coords, ("Station at {x}.", "Koordinaten {x}.", "Coordonnées GPS : {x}.")),
    "amount": (_amount, ("Total {x}.", "Betrag {x}.", "Montant : {x}.", "Importe {x}.", "Totaal {x}.",
                         "Summa {x}.", "Importo {x}.")),
    "percent": (_percent, ("Growth was {x}.", "Quote {x}.", "Taux de {x}.")),
    "year_range": (_year_range, ("Reign {x}.", "Von {x} im Amt.", "De {x} en poste.",
                                 "Between {x} the plant grew.", "Periodo {x}.")),
    "hash": (_hex_hash, ("commit {x}", "sha256 {x}", "Checksum {x} matches.", "Hash {x} verificato.")),
    "uuid": (_uuid, ("request id {x}", "UUID {x} not found.", "Objekt {x} gelöscht.")),
    "pages": (_pages, ("See pp. {x}.", "Seite {x}.", "Chapter {x}.", "Voir p. {x}.", "Capítulo {x}.",
                       "Pagina {x}.", "Hoofdstuk {x}.", "Kapitel {x}.")),
    "postcode": (_postcode_city, ("Office in {x}.", "Sitz: {x}.", "Siège à {x}.", "Oficina en {x}.",
                                  "Kantoor in {x}.", "Sede em {x}.", "Kontor i {x}.", "Sede a {x}.")),
    "temperature": (_temperature, ("It was {x} outside.", "Es hatte {x}.", "Il faisait {x}.")),
    "measure": (_measure, ("The panel is {x}.", "Gewicht {x}.", "Distance {x}.", "Afstand {x}.")),
    "patent": (_patent, ("Patent {x}.", "Patentschrift {x}.", "Brevet {x}.", "Patente {x}.")),
    "arxiv": (_arxiv, ("Preprint {x}.", "See {x} for proofs.")),
    "pmid": (lambda rng: _d(rng, 8, "123"), ("PMID {x}.", "PubMed {x} cites it.", "PMID: {x}")),
    "cas": (_cas, ("CAS {x}.", "CAS-Nummer {x}.", "Numéro CAS {x}.", "Número CAS {x}.")),
    "container": (_container, ("Container {x} unloaded.", "Behälter {x} im Hafen.", "Contenedor {x}.")),
    "security": (_cusip_isin, ("ISIN {x}.", "CUSIP {x}.", "Wertpapier ISIN {x}.")),
    "law": (_law, ("Cited as {x}.", "Vgl. {x}.", "Docket {x}.")),
    "population": (_population, ("The city has {x} inhabitants.", "Die Stadt hat {x} Einwohner.",
                                 "La ville compte {x} habitants.", "La ciudad tiene {x} habitantes.",
                                 "De stad telt {x} inwoners.", "Staden har {x} invånare.",
                                 "La città ha {x} abitanti.", "A cidade tem {x} habitantes.",
                                 "{x} visitors came in 2019.")),
    "dimensions": (lambda rng: rng.choice(("1920x1080", "3840 × 2160", "2560x1440", "1280 x 720", "210 × 297")), ("Resolution {x}.", "Auflösung {x}.", "Format {x} mm.")),
    "time_range": (_time_range, ("Open {x}.", "Geöffnet {x}.", "Ouvert {x}.", "Abierto {x}.")),
    "score": (_score, ("Final score {x}.", "Endstand {x}.", "Resultado {x}.", "Won {x}.")),
    "catalogue": (_catalogue, ("Cello suite {x}.", "Sonate {x}.", "Recorded: {x}.")),
    "standard": (_standard, ("Certified to {x}.", "Gemäß {x}.", "Selon {x}.", "Según {x}.")),
    "frequency": (_frequency, ("Tune to {x}.", "Sender auf {x}.", "Fréquence {x}.")),
    "lottery": (_lottery, ("Winning numbers: {x}.", "Lottozahlen {x}.", "Números ganadores {x}.",
                           "Numeri vincenti {x}.")),
    "ndc": (_ndc, ("NDC {x}.", "National Drug Code {x}.")),
    "hs_code": (lambda rng: f"{_d(rng, 4, '12345678')}.{_d(rng, 2)}.{_d(rng, 2)}", ("HS code {x}.", "Zolltarifnummer {x}.", "Code SH {x}.")),
    "transport": (_transport, ("Flight {x} delayed.", "Zug {x} fällt aus.", "Train {x} en retard.",
                               "Vuelo {x} cancelado.")),
    "filesize": (_filesize, ("File of {x} bytes.", "Datei mit {x} Bytes.", "{x} octets copiés.")),
    "codepoint": (_codepoint, ("Character {x}.", "Farbe {x}.", "Couleur {x}.")),
    "build": (_build, ("Build {x} passed.", "Nightly {x} failed.", "Compilación {x}.")),
    "grid_ref": (lambda rng: f"{rng.choice(('TQ', 'SU', 'NT', 'SK'))} {_d(rng, 5)} {_d(rng, 5)}", ("Grid reference {x}.", "Trig point at {x}.")),
    "scientific": (_scientific, ("Avogadro: {x}.", "Wert {x}.", "Valeur {x}.")),
    "icd": (lambda rng: f"{rng.choice('ABCDEFGHIJKLMNOPRSTZ')}{rng.randint(0, 99):02d}.{_d(rng, 3)}", ("Code {x} in the catalogue.", "ICD-10 {x}.")),
    "room": (_room, ("Room {x}.", "Raum {x}.", "Salle {x}.", "Sala {x}.", "Zaal {x}.", "Seat {x}.")),
    "meeting": (lambda rng: f"{_d(rng, 3, '89')} {_d(rng, 4)} {_d(rng, 4)}", ("Meeting ID {x}.", "Meeting-ID: {x}", "ID de réunion {x}.")),
}


def decoy_items(n: int = 1200, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` ``(kind, sentence)`` pairs: kinds in turn, template and identifier drawn."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        gen, templates = KINDS[kind]
        out.append((kind, rng.choice(templates).format(x=gen(rng))))
    return out


def decoy_sentences(n: int = 1200, seed: int = 0) -> list[str]:
    """``n`` sentences around digit-bearing identifiers that are not personal data."""
    return [s for _, s in decoy_items(n, seed)]


# -- positives: phone numbers ------------------------------------------------------------------

#: Regions whose numbers the positive corpus holds (national formats are those of these regions).
PHONE_REGIONS = ("US", "CA", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PT", "CH", "BE", "AU",
                 "IN", "BR", "IE", "AT", "JP")

_WITH_CONTEXT = (
    "Call me at {p} tomorrow.", "Phone: {p}", "Tel. {p}", "My mobile is {p}.", "Fax {p}",
    "Ruf mich an unter {p}.", "Telefon {p}", "Handy: {p}", "Appelez-moi au {p}.",
    "Téléphone : {p}", "Tél. {p}", "Llámame al {p}.", "Teléfono {p}", "Móvil: {p}",
    "Chiamami al {p}.", "Cellulare {p}", "Bel me op {p}.", "Telefoonnummer {p}",
    "Ring mig på {p}.", "Mobil: {p}", "Ligue para {p}.", "Telemóvel {p}", "WhatsApp {p}",
    "You can reach the office on {p}.", "Phone number of the front desk: {p}.",
)
_NO_CONTEXT = (
    "Anna Berg, {p}.", "{p} (after 6 pm)", "Lena — {p}", "Kontakt: Max, {p}.",
    "Evenings: {p}.", "Questions? {p}", "Marco: {p}", "{p}, ask for Sam.",
)


def _random_number(rng: R, region: str):  # -> phonenumbers.PhoneNumber
    import phonenumbers

    kinds = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    example = phonenumbers.example_number_for_type(region, rng.choice(kinds))
    nsn = str(example.national_number)
    for _ in range(50):
        cand = nsn[:-4] + _d(rng, 4)
        num = phonenumbers.parse("+" + str(example.country_code) + cand)
        if phonenumbers.is_valid_number(num):
            return num
    return example


def _written(rng: R, num, style: str) -> str:
    import phonenumbers

    f = phonenumbers.PhoneNumberFormat
    if style == "e164":
        return phonenumbers.format_number(num, f.E164)
    if style == "international":
        s = phonenumbers.format_number(num, f.INTERNATIONAL)
        return "00" + s[1:] if rng.random() < 0.15 else s
    s = phonenumbers.format_number(num, f.NATIONAL)
    if style == "national_bare":
        return "".join(ch for ch in s if ch.isdigit())
    return s.replace(" ", "-") if rng.random() < 0.15 and "(" not in s else s


def phone_numbers(n: int = 300, seed: int = 0, style: str = "mixed") -> list[str]:
    """``n`` valid phone numbers of :data:`PHONE_REGIONS` written in ``style``: ``"e164"``
    (``+14155550123``), ``"international"`` (``+44 20 7946 0958``), ``"national"``
    (``020 7946 0958``), ``"national_bare"`` (digits only) or ``"mixed"`` (the first three)."""
    rng = random.Random(seed)
    styles = ("e164", "international", "national")
    out = []
    for i in range(n):
        num = _random_number(rng, PHONE_REGIONS[i % len(PHONE_REGIONS)])
        out.append(_written(rng, num, styles[i % 3] if style == "mixed" else style))
    return out


def phone_sentences(n: int = 600, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` ``(sentence, number as written)`` pairs in eight languages.

    Numbers in international, E.164 and national formats appear with and without a phone word
    nearby; national numbers written as bare digits only after a phone word (without one they
    are indistinguishable from reference numbers, see the masking docs' limits).
    """
    rng = random.Random(seed)
    styles = ("e164", "international", "national", "national_bare")
    out = []
    for i in range(n):
        style = styles[i % len(styles)]
        num = _random_number(rng, PHONE_REGIONS[i % len(PHONE_REGIONS)])
        written = _written(rng, num, style)
        templates = _WITH_CONTEXT if style == "national_bare" or rng.random() < 0.6 else _NO_CONTEXT
        out.append((rng.choice(templates).format(p=written), written))
    return out
