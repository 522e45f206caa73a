"""Each speech engine's phone symbols -> facestream's inventory (`phonemes.py`).

`to_inventory(engine, symbol, language)` is the only entry point the rest of the code uses.
Engines:
  "arpabet" (also "cmu", "pocketsphinx"): CMU ARPAbet, any case, stress digits allowed.
  "flite", "festival": the US "radio" phone set (ARPAbet in lowercase, `pau` for silence).
  "mbrola": the phone names `espeak-ng -v mb-XX --pho` writes for MBROLA voice XX. They are
    per-database SAMPA dialects (it1 writes "E" for [e], it3 writes "e"; es1 "e/" is an
    unstressed e), so `language` must name the database: "it1", the espeak voice
    "mb-it1" or "mb-de4-en" (English spoken through de4 uses de4's names). A plain
    language code ("it") is accepted too and picks that language's first database.

How the MBROLA tables were made: every symbol that espeak-ng 1.51 emits for each installed
voice over ~3000 sentences of its language (tests/test_phone_maps.py re-checks this on a
sample), read against each database's own description (`mbrola -i DB`) and espeak-ng's
`mbrola_ph/*_phtrans` tables. Rules for the many-to-one choices: long vowels (':' or doubled)
map to the short one; nasal vowels to their oral vowel; palatalised consonants (d', t', n')
to the plain or palatal one; aspiration (p_h, ph, b#) and gemination are dropped;
diphthongs to the inventory's diphthong symbol (ay aw oy ey ow) or, where none fits, to the
vowel they start on; tap/trill "r" outside English is "dx"/"rr", not English's rounded "r";
a vowel with a glottal onset (de4's "?a:") is the vowel.
"""
from __future__ import annotations

import re

from .phonemes import PHONES

# CMU ARPAbet (pocketsphinx, CMUdict; stress digits stripped) and flite/festival's US
# "radio" phone set (the same symbols in lowercase, with pau for silence).
ARPABET: dict[str, str] = {
    "aa": "aa", "ae": "ae", "ah": "ah", "ao": "ao", "aw": "aw", "ay": "ay", "eh": "eh",
    "er": "er", "ey": "ey", "ih": "ih", "iy": "iy", "ow": "ow", "oy": "oy", "uh": "uh",
    "uw": "uw", "ax": "ax", "b": "b", "ch": "ch", "d": "d", "dh": "dh", "f": "f", "g": "g",
    "hh": "hh", "jh": "jh", "k": "k", "l": "l", "m": "m", "n": "n", "ng": "ng", "p": "p",
    "r": "r", "s": "s", "sh": "sh", "t": "t", "th": "th", "v": "v", "w": "w", "y": "j",
    "z": "z", "zh": "zh", "dx": "dx",
    "sil": "sil", "pau": "sil", "h#": "sil", "+noise+": "sil", "+breath+": "sil",
}

# flite/festival extras of the radio/TIMIT set beyond CMUdict's 39 phones.
RADIO: dict[str, str] = {
    **ARPABET, "axr": "er", "el": "l", "em": "m", "en": "n", "nx": "n", "hv": "hh",
    "ix": "ih", "ux": "uw", "q": "q", "ssil": "sil", "brth": "sil", "h": "hh",
}

# --- MBROLA -----------------------------------------------------------------------------
# SAMPA as most MBROLA databases use it; per-database tables below override it.
SAMPA: dict[str, str] = {
    "_": "sil", "#": "sil",
    # vowels
    "i": "iy", "i:": "iy", "I": "ih", "I:": "ih", "e": "ey", "e:": "ey", "E": "eh",
    "E:": "eh", "{": "ae", "{:": "ae", "&": "ae", "a": "a", "a:": "a", "A": "aa", "A:": "aa",
    "Q": "ao", "O": "ao", "O:": "ao", "o": "oh", "o:": "oh", "u": "uw", "u:": "uw",
    "U": "uh", "U:": "uh", "V": "ah", "@": "ax", "@:": "er", "3": "er", "3:": "er",
    "r=": "er", "6": "ax", "y": "y", "y:": "y", "Y": "y", "Y:": "y", "2": "oe", "2:": "oe",
    "9": "oeh", "9:": "oeh", "1": "ix", "}": "y", "}:": "y", "7": "ax", "a#": "ax",
    # nasal vowels -> oral
    "a~": "a", "e~": "eh", "E~": "eh", "o~": "ao", "O~": "ao", "9~": "oeh", "6~": "ah",
    "u~": "uw", "i~": "iy", "@~": "ax",
    # diphthongs
    "aI": "ay", "AI": "ay", "ai": "ay", "aU": "aw", "au": "aw", "Au": "aw", "OY": "oy",
    "OI": "oy", "oI": "oy", "Oi": "oy", "eI": "ey", "EI": "ey", "ei": "ey", "Ei": "ey",
    "@U": "ow", "oU": "ow", "ou": "ow", "OU": "ow", "I@": "ih", "i@": "ih", "e@": "eh",
    "E@": "eh", "U@": "uh", "u@": "uh", "O@": "ao", "o@": "ao", "A@": "aa", "aI@": "ay",
    "aU@": "aw", "9y": "oeh", "eU": "eh", "uI": "uw", "ie": "iy", "uo": "uw", "aE": "ay",
    # consonants
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "m": "m", "n": "n",
    "N": "ng", "f": "f", "v": "v", "T": "th", "D": "dh", "s": "s", "z": "z", "S": "sh",
    "Z": "zh", "h": "hh", "h\\": "hh", "x": "x", "X": "x", "G": "x", "C": "c", "j": "j",
    "J": "ny", "L": "ly", "l": "l", "r": "r", "R": "rx", "4": "dx", "r2": "rr", "rr": "rr",
    "w": "w", "W": "w", "H": "hw", "?": "q", "tS": "ch", "dZ": "jh", "ts": "ts", "dz": "ts",
    "pf": "p", "B": "bh", "c": "k", "jj": "j", "q": "k",
    # allophones and espeak-ng names passed through untranslated
    "p_h": "p", "t_h": "t", "k_h": "k", "ph": "p", "th": "t", "kh": "k",
    "d'": "d", "t'": "t", "n'": "ny", "l'": "l", "s'": "s", "z'": "z", "ts'": "ch",
    "dz'": "jh", "tS'": "ch", "dZ'": "jh", "S'": "sh", "Z'": "zh", "r'": "rr",
    "l/": "l", "l/2": "l", "l=": "l", "l^": "ly", "l.": "l", "l0": "l", "l:": "l", "5": "l",
    "@L": "l", "n-": "n", "m-": "m", "r/": "r", "r-": "r", "r0": "r", "r:": "rr", "s:": "s",
    "m0": "m", "n0": "n", "N0": "ng",
}

_TAP = {"r": "dx"}  # languages whose plain r is an alveolar tap/trill, not English's
_TRILL = {"r": "rr"}

# Per-database overrides, grouped where databases share names.
_DB_TABLES: dict[str, dict[str, str]] = {
    "us": {"O2": "ao", "i": "iy", "u": "uw"},
    "en1": {"e": "eh", "i:": "iy", "u:": "uw"},
    "de": {"e": "ey", "L": "l", "a~": "a", "o~": "ao"},
    "de8": {"A": "aa", "a": "a", "E": "eh", "E2": "eh", "e": "ey", "I": "ih", "i": "iy",
            "O": "ao", "o:": "oh", "U": "uh", "UR": "uh", "UA": "uh", "OA": "ao", "eA": "eh",
            "Y": "y", "Y:": "y", "0": "ao", "pF": "p", "ds": "ts", "R": "rx"},
    "fr": {"e": "ey", "o": "oh"},
    "it12": {  # it1/it2 write Italian in their own capitals (see `mbrola -i it1`)
        "A": "a", "A2": "a", "A:": "a", "E": "ey", "E1": "eh", "E2": "ey", "I": "iy",
        "I2": "iy", "i:": "iy", "O": "oh", "O1": "ao", "O2": "oh", "U": "uw", "U1": "uw",
        "U2": "uw", "u:": "uw", "uI": "uw", "eI": "ey", "J": "j", "W": "w", "B": "b",
        "D": "d", "F": "f", "G": "g", "H": "hh", "K": "k", "L": "l", "M": "m", "N": "n",
        "P": "p", "R": "dx", "RR": "rr", "S": "s", "T": "t", "V": "v", "VV": "v", "Z": "z",
        "d[": "d", "t[": "t", "ts2": "ts", "ng": "ng", "ss": "s", "gn": "ny", "gl": "ly",
        "ch": "ch", "gh": "jh", "sh": "sh", "PP": "p", "TT": "t", "KK": "k", "BB": "b",
        "DD": "d", "GG": "g", "FF": "f", "SS": "s", "MM": "m", "NN": "n", "LL": "l",
        "GN": "ny", "GL": "ly", "CH": "ch", "GH": "jh", "TS": "ts", "DZ": "ts", "SH": "sh",
        "r": "dx"},
    "it34": {"a1": "a", "A:": "a", "e1": "ey", "E1": "eh", "i1": "iy", "i/": "iy",
             "o1": "oh", "O1": "ao", "u1": "uw", "uI": "uw", "nf": "v", "ng": "ng",
             "ss": "s", "ts2": "ts", "d[": "d", "t[": "t", **_TAP},
    "es": {"e/": "ey", "o/": "oh", "a*": "a", "e*": "ey", "i*": "iy", "o*": "oh",
           "u*": "uw", "o": "oh", "jj": "j", "J^": "jh", "s2": "s", "G": "g", "R2": "rr",
           "*": "dx", "@-": "ax", "ny": "ny", "H": "x", "oI": "oy", **_TAP},
    "br": {"am": "a", "an": "a", "em": "ey", "en": "ey", "im": "iy", "in": "iy",
           "om": "oh", "on": "oh", "um": "uw", "un": "uw", "ee": "eh", "oo": "ao", "o": "oh",
           "@": "ax", "nh": "ny", "lh": "ly", "j": "zh", "x": "sh", "rr": "x", "r2": "dx",
           "s2": "s", "y": "j", **_TAP},
    "pt1": {"6~j~": "ay", "ee": "eh", "oo": "ao", "o": "oh", "J": "ny", "L": "ly",
            "R": "rx", **_TAP},
    "af1": {"$": "ow", "&": "ay", "&:": "ay", "}": "oeh", "a": "aa", "A": "a", **_TRILL},
    "ar": {"a.": "a", "i.": "iy", "u.": "uw", "d.": "d", "s.": "s", "t.": "t", "z.": "z",
           "H": "hh", "Q": "q", "X": "x", "R": "rx", "gH": "g", "Z": "jh", "e": "eh",
           "y": "j", **_TRILL},
    "cr1": {"e": "eh", "o": "oh", **_TRILL},
    "cz": {"e": "eh", "e:": "eh", "o": "oh", "o:": "oh", "i": "ih", **_TRILL},
    "ee1": {"e": "eh", "o": "oh", **_TRILL},
    "gr": {"c": "k", "G": "x", "gj": "g", "N": "ng", "R": "rr", "V": "ng", "Y": "p",
           "S": "ts", "Z": "ts", "q": "g", "e": "eh", "o": "oh", **_TAP},
    "hb": {"Q\"": "q", "e": "eh", "o": "oh", "r": "rx", "R": "rx", "T": "t"},
    "hu1": {"R": "rr", "E": "eh", "o": "oh", **_TRILL},
    "ic1": {"9": "oe", "9:": "oe", "9y": "oeh", "9y:": "oeh", "ai:": "ay", "au:": "aw",
            "ei:": "ey", "ou:": "ow", "Yi": "y", "I": "ih", "I:": "ih", "c": "k", "J-": "g",
            "J0": "ny", "tl#": "t", "r0": "rr", **_TRILL},
    "id1": {"V": "a", "Q": "ao", "I": "iy", "U": "uw", "e": "eh", "nY": "ny", **_TRILL},
    "in": {"a": "ax", "aa": "aa", "ai": "eh", "au": "ao", "a~": "ax", "e~": "ey",
           "ii": "iy", "uu": "uw", "u": "uh", "i": "ih", "o": "oh", "bh": "b", "dh": "d",
           "gh": "g", "ch": "ch", "jh": "jh", "c": "ch", "j": "jh", "y": "j", "Th": "t",
           "Dh": "d", "N": "n", "sh": "sh", "r.": "dx", "T": "t", "D": "d",
           "#X1": "x", "#X2": "x", **_TAP},
    "ir1": {"a": "ae", "a:": "aa", "c:": "k", "g:": "g", "j:": "j", "q": "g",
            "e": "eh", "o": "oh", **_TRILL},
    "jp": {"N": "ng", "U": "uw", "l": "dx", "c": "c", "o": "oh", **_TAP},
    "la1": {"E": "eh", "I": "ih", "O": "ao", "U": "uh", **_TRILL},
    "lt": {"aa": "a", "ee": "ey", "eA": "ae", "ii": "iy", "oo": "oh", "uu": "uw",
           "A": "a", "O": "ao", "U": "uh", "n'": "n", "l'": "l", "o": "oh", **_TRILL},
    "ma1": {"V": "a", "I": "iy", "U": "uw", "E2": "eh", "o": "oh", "nY": "ny", **_TRILL},
    "nl": {"e": "ey", "o": "oh", "Y": "oe", "J": "ny", "L": "l", "nj": "ny", "dj": "jh",
           "tj": "ch", **_TRILL},
    "nz1": {"A": "aa", "E": "eh", "O": "ao", "R": "dx", "u\"": "uw", "o": "oh", **_TAP},
    "pl1": {"E#": "eh", "I": "ix", "e": "eh", "o": "ao", "s'": "sh", "z'": "zh",
            "N": "ng", **_TRILL},
    "ro1": {"C": "ch", "G": "jh", "J": "zh", "T": "ts", "I": "iy", "o": "oh", **_TAP},
    "sw": {"e": "eh", "e:": "ey", "u0": "oe", "C": "sh", "rs": "sh", **_TRILL},
    "tl1": {"a:": "aa", "b#": "b", "c": "ch", "c#": "ch", "d#": "d", "d.": "d", "D": "jh",
            "g#": "g", "k#": "k", "p#": "p", "t#": "t", "t.": "t", "l/": "l", "n.": "n",
            "s.": "sh", "S;": "sh", "v#": "v", "i": "ih", "u": "uh", "o": "oh", "o:": "oh",
            **_TAP},
    "tr": {"I": "iy", "@": "ix", "@'": "oe", "G": "hh", "L": "l", "L/": "l", "e": "eh",
           "o": "oh", **_TAP},
}

# Database -> (language of its recordings, override table).
MBROLA_DATABASES: dict[str, tuple[str, str]] = {
    **{f"us{i}": ("en", "us") for i in (1, 2, 3)}, "en1": ("en", "en1"),
    **{f"de{i}": ("de", "de") for i in range(1, 8)}, "de8": ("de", "de8"),
    **{f"fr{i}": ("fr", "fr") for i in range(1, 8)}, "ca1": ("fr", "fr"), "ca2": ("fr", "fr"),
    "it1": ("it", "it12"), "it2": ("it", "it12"), "it3": ("it", "it34"), "it4": ("it", "it34"),
    **{f"es{i}": ("es", "es") for i in range(1, 5)}, "mx1": ("es", "es"), "mx2": ("es", "es"),
    "vz1": ("es", "es"), **{f"br{i}": ("pt", "br") for i in range(1, 5)},
    "pt1": ("pt", "pt1"), "af1": ("af", "af1"), "ar1": ("ar", "ar"), "ar2": ("ar", "ar"),
    "cr1": ("hr", "cr1"), "cz1": ("cs", "cz"), "cz2": ("cs", "cz"), "ee1": ("et", "ee1"),
    "gr1": ("el", "gr"), "gr2": ("el", "gr"), "hb1": ("he", "hb"), "hb2": ("he", "hb"),
    "hu1": ("hu", "hu1"), "ic1": ("is", "ic1"), "id1": ("id", "id1"), "in1": ("hi", "in"),
    "in2": ("hi", "in"), "ir1": ("fa", "ir1"), "jp1": ("ja", "jp"), "jp2": ("ja", "jp"),
    "jp3": ("ja", "jp"), "la1": ("la", "la1"), "lt1": ("lt", "lt"), "lt2": ("lt", "lt"),
    "ma1": ("ms", "ma1"), "nl1": ("nl", "nl"), "nl2": ("nl", "nl"), "nl3": ("nl", "nl"),
    "nz1": ("mi", "nz1"), "pl1": ("pl", "pl1"), "ro1": ("ro", "ro1"), "sw1": ("sv", "sw"),
    "sw2": ("sv", "sw"), "tl1": ("te", "tl1"), "tr1": ("tr", "tr"), "tr2": ("tr", "tr"),
}

_VOICE = re.compile(r"^(?:mb-)?([a-z]{2}\d)(?:-[a-z]+)?$")


def mbrola_database(name: str) -> str:
    """"mb-de4-en" / "mb-de4" / "de4" -> "de4"; a language code ("de") -> its first database.

    Raises ValueError naming the known databases when `name` is neither."""
    key = name.strip().lower()
    m = _VOICE.match(key)
    if m and m.group(1) in MBROLA_DATABASES:
        return m.group(1)
    for db, (lang, _) in MBROLA_DATABASES.items():
        if lang == key:
            return db
    raise ValueError(f"unknown MBROLA voice or language {name!r}: expected a database such "
                     f"as {', '.join(sorted(MBROLA_DATABASES)[:6])}... or 'mb-XX[-lang]'")


def mbrola_table(name: str) -> dict[str, str]:
    """The full symbol -> inventory table for one MBROLA database (SAMPA + its overrides)."""
    return {**SAMPA, **_DB_TABLES[MBROLA_DATABASES[mbrola_database(name)][1]]}


def _mbrola(symbol: str, voice: str) -> str:
    table = mbrola_table(voice)
    out = table.get(symbol)
    if out is None and len(symbol) > 1 and symbol[0] == "?":
        out = table.get(symbol[1:])  # de4 writes a glottal onset into the vowel's name
    if out is None and len(symbol) > 1 and symbol.endswith(":"):
        out = table.get(symbol[:-1])  # a long (or geminate) phone is its short one
    if out is None:
        raise ValueError(f"unknown MBROLA phone {symbol!r} for voice {voice!r}: add it to "
                         "facestream/training/phone_maps.py (_DB_TABLES or SAMPA)")
    return out


def arpabet(symbol: str) -> str:
    """An ARPAbet symbol (any case, optional stress digit) -> inventory symbol.

    Unstressed AH (AH0) is the schwa."""
    s = symbol.strip().lower()
    if s in ("ah0",):
        return "ax"
    s = s.rstrip("012")
    if s not in ARPABET:
        raise ValueError(f"unknown ARPAbet phone {symbol!r}")
    return ARPABET[s]


ENGINES = ("mbrola", "flite", "festival", "arpabet", "cmu", "pocketsphinx")


def to_inventory(engine: str, symbol: str, language: str | None = None) -> str:
    """One engine phone -> a facestream inventory symbol.

    engine: one of ENGINES. language: for "mbrola" the voice or database ("mb-it1",
    "mb-de4-en", "it1") or a language code; ignored by the English-only engines.
    Raises ValueError naming the symbol and the voice when the symbol is unknown."""
    eng = engine.strip().lower()
    if eng == "mbrola":
        if not language:
            raise ValueError("MBROLA phone names depend on the voice: pass language='mb-XX'")
        out = _mbrola(symbol, language)
    elif eng in ("flite", "festival"):
        out = RADIO.get(symbol.strip().lower())
        if out is None:
            raise ValueError(f"unknown {eng} phone {symbol!r} (voice {language or 'any'})")
    elif eng in ("arpabet", "cmu", "pocketsphinx"):
        out = arpabet(symbol)
    else:
        raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if out not in PHONES:  # a table error, not a user error
        raise AssertionError(f"{engine} {symbol!r} maps to {out!r}, not in the inventory")
    return out


for _name, _table in (("ARPABET", ARPABET), ("RADIO", RADIO), ("SAMPA", SAMPA),
                      *_DB_TABLES.items()):
    _bad = {k: v for k, v in _table.items() if v not in PHONES}
    if _bad:
        raise AssertionError(f"phone_maps.{_name} maps to symbols outside the inventory: {_bad}")
for _db, (_lang, _group) in MBROLA_DATABASES.items():
    if _group not in _DB_TABLES:
        raise AssertionError(f"MBROLA database {_db} names unknown table {_group}")
del _name, _table, _bad, _db, _lang, _group
