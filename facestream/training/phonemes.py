"""One phoneme inventory for every speech engine, aligner and the articulation rig.

Each engine's symbols (MBROLA/espeak-ng SAMPA per language, flite and festival's
radio phones, pocketsphinx's CMU ARPAbet) map onto these symbols in `phone_maps.py`; the
rig reads only the articulatory features below. Symbols are lowercase ARPAbet where English
has the sound, extended with IPA-named symbols for sounds other languages need.

Features (what the face can show): place (where the lips/tongue constrict), manner,
voicing is irrelevant to the face and omitted; vowels carry height (0 close .. 3 open),
backness (0 front .. 2 back) and rounding (0 spread .. 2 strongly rounded/protruded).
Diphthongs name the vowel they glide to.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phone:
    symbol: str
    kind: str  # "vowel", "consonant", "silence"
    place: str = ""  # consonants: bilabial, labiodental, dental, alveolar, postalveolar,
    #                  palatal, velar, uvular, glottal, labiovelar; vowels: ""
    manner: str = ""  # stop, nasal, fricative, affricate, approximant, lateral, trill, tap
    height: float = 0.0  # vowels: 0 close .. 3 open
    backness: float = 0.0  # vowels: 0 front .. 2 back
    rounding: float = 0.0  # 0 spread/neutral .. 2 strongly rounded (also labialised consonants)
    glide_to: str = ""  # diphthongs: the vowel the glide ends on
    example: str = ""
    allophone_of: str = ""  # a contextual variant of this phoneme (Spanish [β] of /b/): an
    #                         acoustic model trained without the variant hears that phoneme


def _v(sym, height, backness, rounding, example, glide_to=""):
    return Phone(sym, "vowel", height=height, backness=backness, rounding=rounding,
                 glide_to=glide_to, example=example)


def _c(sym, place, manner, example, rounding=0.0, allophone_of=""):
    return Phone(sym, "consonant", place=place, manner=manner, rounding=rounding, example=example,
                 allophone_of=allophone_of)


INVENTORY: tuple[Phone, ...] = (
    Phone("sil", "silence", example="pause"),
    # vowels
    _v("iy", 0.0, 0.0, 0.0, "beat"), _v("ih", 0.6, 0.3, 0.0, "bit"),
    _v("ey", 1.0, 0.0, 0.0, "bait / French é"), _v("eh", 2.0, 0.0, 0.0, "bet"),
    _v("ae", 2.6, 0.2, 0.0, "bat"), _v("a", 3.0, 1.0, 0.0, "Spanish casa"),
    _v("aa", 3.0, 2.0, 0.0, "father"), _v("ah", 2.3, 1.4, 0.0, "but"),
    _v("ax", 1.6, 1.0, 0.0, "about (schwa)"), _v("er", 1.6, 1.0, 0.6, "bird"),
    _v("ao", 2.2, 2.0, 1.2, "bought"), _v("oh", 1.2, 2.0, 1.6, "Italian o / German Boot"),
    _v("uh", 0.6, 1.7, 1.2, "book"), _v("uw", 0.0, 2.0, 2.0, "boot"),
    _v("y", 0.0, 0.0, 2.0, "French tu / German über"), _v("oe", 1.0, 0.0, 1.6, "German schön"),
    _v("oeh", 2.0, 0.0, 1.2, "French neuf"), _v("ix", 0.2, 1.0, 0.0, "Russian ы"),
    _v("ay", 3.0, 1.0, 0.0, "bite", glide_to="ih"), _v("aw", 3.0, 1.0, 0.0, "bout", glide_to="uh"),
    _v("oy", 2.2, 2.0, 1.2, "boy", glide_to="ih"), _v("ow", 1.4, 2.0, 1.4, "boat", glide_to="uh"),
    # consonants
    _c("p", "bilabial", "stop", "pat"), _c("b", "bilabial", "stop", "bat"),
    _c("m", "bilabial", "nasal", "mat"),
    _c("f", "labiodental", "fricative", "fat"), _c("v", "labiodental", "fricative", "vat"),
    _c("th", "dental", "fricative", "thin"), _c("dh", "dental", "fricative", "this"),
    _c("t", "alveolar", "stop", "tap"), _c("d", "alveolar", "stop", "dap"),
    _c("n", "alveolar", "nasal", "nap"), _c("s", "alveolar", "fricative", "sap"),
    _c("z", "alveolar", "fricative", "zap"), _c("l", "alveolar", "lateral", "lap"),
    _c("r", "alveolar", "approximant", "rap", rounding=0.6),
    _c("rr", "alveolar", "trill", "Spanish perro"), _c("dx", "alveolar", "tap", "butter (US)"),
    _c("ts", "alveolar", "affricate", "German Zeit"),
    _c("sh", "postalveolar", "fricative", "ship", rounding=1.0),
    _c("zh", "postalveolar", "fricative", "measure", rounding=1.0),
    _c("ch", "postalveolar", "affricate", "chip", rounding=1.0),
    _c("jh", "postalveolar", "affricate", "jet", rounding=1.0),
    _c("j", "palatal", "approximant", "yes"), _c("ny", "palatal", "nasal", "Spanish ñ"),
    _c("ly", "palatal", "lateral", "Italian gli"), _c("c", "palatal", "fricative", "German ich"),
    _c("k", "velar", "stop", "cat"), _c("g", "velar", "stop", "gap"),
    _c("ng", "velar", "nasal", "sing"), _c("x", "velar", "fricative", "German Bach"),
    _c("rx", "uvular", "fricative", "French r"),
    _c("hh", "glottal", "fricative", "hat"), _c("q", "glottal", "stop", "uh-oh"),
    _c("w", "labiovelar", "approximant", "wet", rounding=2.0),
    _c("hw", "labiovelar", "approximant", "French huit", rounding=1.8),
    # Appended, never inserted: corpora store phones as indices into this tuple.
    # Spanish /b/ between vowels and after non-nasal consonants: the lips approach without
    # closing (docs/rig.md, "Lenited /b/"); espeak-ng writes it [β] (MBROLA SAMPA "B").
    _c("bh", "bilabial", "approximant", "Spanish lobo [β]", allophone_of="b"),
)

PHONES: dict[str, Phone] = {p.symbol: p for p in INVENTORY}
PHONE_INDEX: dict[str, int] = {p.symbol: i for i, p in enumerate(INVENTORY)}
NUM_PHONES = len(INVENTORY)
SILENCE = "sil"
# The bilabials whose lips close (stops and nasals; not the approximant [β]).
BILABIALS = frozenset(p.symbol for p in INVENTORY
                      if p.place == "bilabial" and p.manner in ("stop", "nasal"))
LABIODENTALS = frozenset(p.symbol for p in INVENTORY if p.place == "labiodental")
VOWELS = frozenset(p.symbol for p in INVENTORY if p.kind == "vowel")
# Reduced (unstressable) vowels: the schwa. Maps send every engine's reduced vowel here
# (ARPAbet AH0, SAMPA @ and 6); docs/rig.md gives how little they open.
REDUCED_VOWELS = frozenset({"ax"})

for _p in INVENTORY:
    if _p.glide_to and _p.glide_to not in PHONES:
        raise AssertionError(f"{_p.symbol} glides to unknown {_p.glide_to}")
    if _p.allophone_of and _p.allophone_of not in PHONES:
        raise AssertionError(f"{_p.symbol} is an allophone of unknown {_p.allophone_of}")


def phone(symbol: str) -> Phone:
    """The inventory entry for `symbol`, with an error that lists the inventory."""
    try:
        return PHONES[symbol]
    except KeyError:
        raise ValueError(f"{symbol!r} is not in facestream's phoneme inventory: expected one of "
                         f"{' '.join(PHONES)}") from None
