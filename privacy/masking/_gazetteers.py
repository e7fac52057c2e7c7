"""Word lists of the prose detector: shipped gazetteers and the cue words of its rules.

The four lists in ``data/`` are built by ``tools/build_gazetteers.py`` from public sources
(provenance and licences in ``data/NOTICE.md``): given names and surnames from the US Census
Bureau's 1990 name files (public domain); places from GeoNames (CC BY 4.0): countries,
continents, US states and cities of 1,000 people or more; common English words from SCOWL. They are read on first
use, once per process.

The cue lists below (titles, particles, street words, words that announce a name or a place,
common capitalised words that are neither) are part of the product and written here.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

__all__ = ["english_words", "given_names", "places", "surnames"]


def _read(name: str) -> list[str]:
    data = resources.files("auditkit.privacy.masking").joinpath("data", name).read_bytes()
    return gzip.decompress(data).decode("utf-8").splitlines()


@cache
def given_names() -> frozenset[str]:
    """Case-folded given names."""
    return frozenset(_read("given_names.txt.gz"))


@cache
def surnames() -> frozenset[str]:
    """Case-folded surnames."""
    return frozenset(_read("surnames.txt.gz"))


@cache
def english_words() -> frozenset[str]:
    """Case-folded common English words (lower-case entries of a spelling word list)."""
    return frozenset(_read("english_words.txt.gz"))


@cache
def places() -> dict[str, int]:
    """Case-folded place names and their tier: 1 (country, continent, US state, city of
    100,000 or more: a place in any context) or 2 (smaller city: a place only after a cue)."""
    out: dict[str, int] = {}
    for line in _read("places.txt.gz"):
        name, _, tier = line.partition("\t")
        out[name] = int(tier)
    return out


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Titles before a name (the title is not part of the name span).
TITLES = _words("""
mr mrs ms miss mx dr prof professor sir madam madame dame lord lady rev reverend fr father
sister brother mister herr frau fräulein m mme mlle sr sra srta sig sig.ra dott dott.ssa
signor signora señor señora senhor senhora dhr mevr hr fru
""")

#: Suffixes that belong to a name span (``Giovanna Rodrigues MD``).
NAME_SUFFIXES = _words("jr sr ii iii iv md phd dds esq")

#: Lower-case particles inside a name (``Ludwig van Beethoven``, ``Ana de la Cruz``).
PARTICLES = _words("van von der den de del della di da dos das du la le bin ibn al ter ten y e")

#: Phrases (case-folded) right before a name that make it a name whatever the word is.
STRONG_NAME_CUES = (
    "my name is", "name is", "i am", "i'm", "called", "named", "this is", "name:",
    "signed", "regards,", "sincerely,", "dear", "ask for", "speak to", "talk to", "contact",
    "heißt", "ich bin", "je suis", "je m'appelle", "me llamo", "mi chiamo", "mijn naam is",
    "jag heter", "meu nome é", "hello", "hi", "thanks", "thank you", "cc:", "attn",
    "father", "mother", "brother", "sister", "son", "daughter", "wife", "husband", "friend",
    "grandfather", "grandmother", "uncle", "aunt", "cousin", "patient", "customer",
)

#: Words after a name that make it a name (``Ana said``, ``Bob's``).
NAME_AFTER = _words("""
said says told asked wrote writes lives lived works worked called calls emailed replied answered signed flew moved went came visited born died married joined
left stated explained added thinks thought wants wanted needs needed likes liked loves
""")

#: Words before a place that announce one.
PLACE_CUES = _words("""
in to from at near visit visiting visited via towards toward around outside inside across
travel traveling travelling flew fly flying moved move moving live lives living based born
return returned returning arrive arrived arriving leave left leaving headed heading stay
staying stayed southern northern eastern western central greater downtown city town
nach aus bei en à au aux de desde para em na no da do naar uit vid till från i
""")

#: Words that start a street address's unit line.
UNIT_WORDS = _words("apt apartment suite ste unit flat floor fl room rm box po p.o. bldg building"
                    " psc cmr unit apto piso étage etage wohnung")

#: Unit words that make an address on their own (``Suite 510``); the others (``Room 2A``,
#: ``Floor 3``) only after a street.
STANDALONE_UNITS = _words("apt apartment suite ste unit flat apto wohnung")

#: Street words that follow the street's name (``Crown St``, ``Main Street``).
STREET_AFTER = _words("""
street st road rd avenue ave av lane ln drive dr boulevard blvd way court ct place pl square sq
terrace ter parkway pkwy highway hwy circle cir trail trl crescent cres close row walk alley
mews grove gardens park hill heights view vale green rise path pike plaza loop run point
straße strasse str weg platz allee gasse ring damm ufer chaussee steig
tér út utca u körút sétány
""")

#: Street words that precede the street's name (``Rue de Virton``, ``Via Roma``).
STREET_BEFORE = _words("""
rue avenue av boulevard bd chemin place allée allee quai impasse route cours
calle avenida avda paseo plaza camino carrera carretera ronda travesía
via viale piazza corso largo vicolo strada piazzale
rua travessa praça largo estrada alameda
ul ulica aleja al plac os osiedle
ulitsa prospekt
""")

#: Endings of one-word street names in several languages (``Koskikatu``, ``Brixtonlaan``).
STREET_ENDINGS = (
    "straße", "strasse", "str", "weg", "platz", "allee", "gasse", "damm", "ring", "ufer",
    "straat", "laan", "plein", "gracht", "kade", "dreef", "singel", "steeg",
    "gatan", "vägen", "gränd", "torget", "stigen", "backen", "leden",
    "vej", "gade", "stræde", "allé", "veien", "vegen", "gata", "stien", "stredet",
    "katu", "tie", "kuja", "polku", "kaari", "rinne", "väylä", "tori",
    "utca", "útja",
)

#: Capitalised words that are not names or places even though a list may hold them.
NOT_NAMES = _words("""
the a an this that these those there here it its i me my mine we our you your he him his she her
they them their what which who whom whose when where why how and or but nor so yet if then than
because while although though since unless until after before during about above below over
under again further once all any both each few more most other some such no not only own same
too very can will just in on at to from of for with by as into onto per via should now is are was were be been being have has had do does did
please thanks thank hello hi hey dear yes ok okay sure also however therefore meanwhile
monday tuesday wednesday thursday friday saturday sunday january february march april may june
july august september october november december today tomorrow yesterday
mr mrs ms dr prof sir madam street road avenue apt suite unit box
new north south east west northern southern eastern western central upper lower great
company inc ltd llc corp co group bank university college school hospital church
account card number phone email address date time year month week day name city country
state county street zip code credit debit visa mastercard amex iban ssn ip
customer client user admin support team service manager department office
order invoice ticket reference id no nr version page chapter section table figure
good great best new old big small first last next previous other another
der die das den dem des ein eine einer einem einen und oder mit von zu zum zur im am auf für
ist sind war nicht auch bei nach aus über unter le la les un une des du et ou avec pour par
sur dans est sont pas au aux ce cette ces el los las una unos unas y o con para por en es
son del al il lo gli uno ed di da nel nella sul per è sono het een en van voor op met te
zijn niet ook o os um uma com em no na do da dos das é och eller med för på av är inte
su sus mi mis tu tus mon ma mes ton ta tes son sa ses notre votre leur nuestro nuestra
sein seine ihr ihre unser unsere mein meine dein deine neu neue neuer neues nuevo nueva
nouveau nouvelle nuovo nuova nieuw nieuwe novo nova ny nya
""")

#: Articles and determiners before a noun in several languages (a capitalised word after one
#: is more often a noun than a name: ``Das Buch``, ``la Mairie``).
ARTICLES = _words("""
the a an this that der die das den dem des ein eine einer einem einen le la les l un une ce
cette el los las una unos unas il lo gli uno het de een o os as um uma den det en ett
im am zum zur beim vom ins du au aux del al nel nella della dello sul sulla no na do da
""")

#: Words of organisation names: a capitalised word next to one is part of a name of a body.
ORG_WORDS = _words("""
inc inc. corp corporation co company companies ltd limited llc llp plc gmbh ag sa srl bv nv ab
oy as kg group holdings holding associates partners partnership solutions systems technologies
technology tech services service consulting consultants labs lab studios studio media
networks network software analytics capital ventures investments bank bancorp insurance
trust union association foundation institute institution orchestra band club society
council committee agency authority ministry department bureau office university college
school academy hospital clinic church museum library airlines airways airport station
hotel restaurant cafe bar shop store market markets industries enterprises international
global worldwide national federal movers logistics motors pharma pharmaceuticals energy
""")

#: Headings and field labels, greetings and other capitalised words of forms and chats.
LABEL_WORDS = _words("""
info information website web site email e-mail mail phone telephone tel mobile fax address
name names subject re fwd fw from to cc bcc date time notes note comments comment message
bot user agent admin customer support operator assistant system summary details profile
personal contact contacts billing shipping delivery payment total amount status account
oh ah yes no hi hey hello ok okay well cool wow sorry please thanks welcome great nice
article section chapter treaty act law regulation directive policy form version
""")

#: Nationalities and languages (capitalised adjectives, not names).
NATIONALITIES = _words("""
american british english scottish welsh irish french german dutch belgian swiss austrian
italian spanish portuguese greek turkish russian ukrainian polish czech slovak hungarian
romanian bulgarian serbian croatian slovenian bosnian albanian danish swedish norwegian
finnish icelandic estonian latvian lithuanian chinese japanese korean indian pakistani
bangladeshi vietnamese thai filipino indonesian malaysian australian canadian mexican
brazilian argentinian argentine chilean colombian peruvian venezuelan cuban african
egyptian moroccan nigerian kenyan ethiopian south israeli iranian iraqi saudi arab arabic
european asian latin hispanic jewish christian muslim catholic protestant hindu buddhist
greenlander greenlandic faroese
""")

#: Function words of other languages that are not English words: a text holding one is read
#: with more caution (the model learnt from English text, where a capitalised word opening a
#: sentence is often a name; in German every noun is capitalised).
FOREIGN_FUNCTION_WORDS = _words("""
der das und mit ist nicht auch sind wir ihr sie ein eine einen einem im zum zur vom beim
les et avec pour dans est sont pas une du au aux ce cette nous vous
el los las y con para por es una unos del al
il gli della nel sono è
het een niet ook zijn
och med för på är inte ett
um uma com não são
""")

