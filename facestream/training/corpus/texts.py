"""Speakable sentences per language from text that Debian ships, and phone coverage counts.

Sources (see `SOURCES`; each is read from the installed package, nothing is downloaded):

| kind    | packages                                   | languages                 | licence          |
|---------|--------------------------------------------|---------------------------|------------------|
| fortune | fortunes-min, fortunes (fortune-mod data)  | en                        | BSD (fortune-mod)|
| fortune | fortunes-de                                | de                        | GPL-2+           |
| fortune | fortunes-es                                | es                        | GPL-2+ / PD text |
| fortune | fortunes-it                                | it                        | public domain    |
| fortune | fortunes-pl                                | pl                        | GPL-2+           |
| fortune | fortunes-cs                                | cs                        | GPL              |
| fortune | fortunes-br                                | pt                        | GPL-2+           |
| fortune | fortunes-zh                                | zh                        | GPL-3+           |
| gettext | message catalogues of Debian's required    | every other language with | GPL-2+/GPL-3+/   |
|         | packages (coreutils, bash, grep, sed, tar, | an MBROLA voice (fr, nl,  | LGPL (each       |
|         | findutils, diffutils, dpkg, apt, libc-l10n,| sv, ro, hu, af, ar, ...)  | package's        |
|         | Linux-PAM, shadow, procps, xz, ...)        |                           | copyright file)  |
| embedded| a few lines of Caesar, Cicero, Homer and   | la, grc                   | public domain    |
|         | the Pater Noster, kept in this module      |                           |                  |

The gettext catalogues are program messages ("The file could not be opened."): real
sentences of the language, if technical. Only catalogues named in `GETTEXT_DOMAINS` are read,
so the selection does not depend on which desktop packages a machine happens to have.
A language with no source gets English (`sentences()` says so in its `source` field through
`language_source()`); `text_language()` tells which language a voice's text will be in.

Cleaning: NFC, ANSI escapes and accelerator marks removed, whitespace collapsed; a sentence is
kept when it has 4-25 words (CJK: 6-40 characters), no digits, URLs, e-mail addresses, markup
or format specifiers, and (for non-Latin scripts) no Latin letters. Selection is a seeded
shuffle of the sorted, de-duplicated pool, so `sentences(lang, n, seed=s)` is reproducible.

Run `python -m facestream.training.corpus.texts` for the sentence count per language.
"""
from __future__ import annotations

import functools
import gettext
import glob
import os
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from ..phonemes import PHONES

FORTUNE_DIR = "/usr/share/games/fortunes"
LOCALE_DIR = "/usr/share/locale"
MIN_WORDS, MAX_WORDS = 4, 25
MIN_CJK_CHARS, MAX_CJK_CHARS = 6, 40
CJK_LANGUAGES = frozenset({"zh", "ja"})
# Scripts that never contain Latin letters in running text: a Latin letter there is a
# program name or an option and espeak would spell it out.
NON_LATIN_LANGUAGES = frozenset({"ar", "fa", "he", "hi", "te", "el", "grc", "ja", "zh", "ru"})

# Below this many sentences from GETTEXT_DOMAINS, a language also reads every other catalogue
# installed (desktop libraries, ...): more text, but then the pool depends on the machine.
MIN_GETTEXT_POOL = 300
# Gettext domains from packages Debian installs everywhere (required/important priority) or
# that the data-deps script installs, so every machine has the same pool.
GETTEXT_DOMAINS: tuple[str, ...] = (
    "coreutils", "bash", "grep", "sed", "tar", "findutils", "diffutils", "dpkg", "apt",
    "libapt-pkg6.0", "libc", "Linux-PAM", "shadow", "procps-ng", "xz", "gettext-runtime",
    "man-db", "adduser", "debconf", "util-linux", "e2fsprogs", "gnupg2", "wget", "psmisc",
)


@dataclass(frozen=True)
class Source:
    language: str  # ISO 639-1 (or 639-3 where there is no 639-1, e.g. "grc")
    kind: str  # "fortune" | "gettext" | "embedded"
    package: str  # the Debian package that ships it ("" for embedded)
    paths: tuple[str, ...]  # fortune files / locale directory names
    licence: str


def _fortunes(*names: str) -> tuple[str, ...]:
    return tuple(os.path.join(FORTUNE_DIR, n) for n in names)


_EN_FORTUNES = ("fortunes", "literature", "riddles", "wisdom", "people", "humorists",
                "platitudes", "science", "education", "love", "food", "pets", "kids",
                "men-women", "politics", "work", "sports", "miscellaneous", "paradoxum",
                "law", "medicine", "magic", "cookie", "definitions", "drugs", "ethnic",
                "goedel", "songs-poems", "news", "computers", "tao")
_IT_FORTUNES = ("it/adams", "it/definizioni", "it/formiche", "it/italia", "it/leggi",
                "it/luttazzi", "it/norm", "it/paolotedeschi", "it/computer")

# (language, locale directory names) for the gettext pool.
_GETTEXT_LOCALES: dict[str, tuple[str, ...]] = {
    "af": ("af",), "ar": ("ar",), "hr": ("hr",), "nl": ("nl",), "et": ("et",), "fr": ("fr",),
    "el": ("el",), "he": ("he",), "hi": ("hi",), "hu": ("hu",), "is": ("is",), "id": ("id",),
    "ja": ("ja",), "lt": ("lt",), "ms": ("ms",), "mi": ("mi",), "fa": ("fa",), "ro": ("ro",),
    "sv": ("sv",), "te": ("te",), "tr": ("tr",),
}

SOURCES: tuple[Source, ...] = (
    Source("en", "fortune", "fortunes-min, fortunes", _fortunes(*_EN_FORTUNES),
           "BSD (fortune-mod data, /usr/share/doc/fortune-mod/copyright)"),
    Source("de", "fortune", "fortunes-de", (os.path.join(FORTUNE_DIR, "de", "*"),), "GPL-2+"),
    Source("es", "fortune", "fortunes-es", (os.path.join(FORTUNE_DIR, "es", "*.fortunes"),),
           "GPL-2+ (quotes presumed public domain)"),
    Source("it", "fortune", "fortunes-it", _fortunes(*_IT_FORTUNES), "public domain"),
    Source("pl", "fortune", "fortunes-pl", (os.path.join(FORTUNE_DIR, "pl", "*"),), "GPL-2+"),
    Source("cs", "fortune", "fortunes-cs", (os.path.join(FORTUNE_DIR, "cs", "*"),), "GPL"),
    Source("pt", "fortune", "fortunes-br", _fortunes("brasil"), "GPL-2+"),
    Source("zh", "fortune", "fortunes-zh", _fortunes("chinese", "tang300", "song100"),
           "GPL-3+"),
    *(Source(lang, "gettext", "required Debian packages (GETTEXT_DOMAINS)", dirs,
             "GPL/LGPL of each package (its /usr/share/doc/*/copyright)")
      for lang, dirs in _GETTEXT_LOCALES.items()),
    Source("la", "embedded", "", (), "public domain (classical Latin)"),
    Source("grc", "embedded", "", (), "public domain (Homer, Gospel of John)"),
)

_EMBEDDED: dict[str, tuple[str, ...]] = {
    "la": (
        "Gallia est omnis divisa in partes tres.",
        "Horum omnium fortissimi sunt Belgae.",
        "Quo usque tandem abutere, Catilina, patientia nostra?",
        "Quam diu etiam furor iste tuus nos eludet?",
        "O tempora, o mores! Senatus haec intellegit, consul videt.",
        "Pater noster, qui es in caelis, sanctificetur nomen tuum.",
        "Adveniat regnum tuum, fiat voluntas tua, sicut in caelo et in terra.",
        "Panem nostrum cotidianum da nobis hodie.",
        "Arma virumque cano, Troiae qui primus ab oris Italiam venit.",
        "In principio erat verbum, et verbum erat apud deum.",
        "Omnia vincit amor, et nos cedamus amori.",
        "Mens sana in corpore sano semper laudatur.",
        "Dum spiro spero, dum vivo amo.",
        "Veni, vidi, vici, scripsit Caesar amicis suis.",
        "Carpe diem, quam minimum credula postero.",
        "Felix qui potuit rerum cognoscere causas.",
    ),
    "grc": (
        "μῆνιν ἄειδε θεὰ Πηληϊάδεω Ἀχιλῆος οὐλομένην.",
        "ἄνδρα μοι ἔννεπε, μοῦσα, πολύτροπον, ὃς μάλα πολλὰ πλάγχθη.",
        "ἐν ἀρχῇ ἦν ὁ λόγος, καὶ ὁ λόγος ἦν πρὸς τὸν θεόν.",
        "πάντα δι᾽ αὐτοῦ ἐγένετο, καὶ χωρὶς αὐτοῦ ἐγένετο οὐδὲ ἕν.",
        "ἐν αὐτῷ ζωὴ ἦν, καὶ ἡ ζωὴ ἦν τὸ φῶς τῶν ἀνθρώπων.",
        "καὶ τὸ φῶς ἐν τῇ σκοτίᾳ φαίνει, καὶ ἡ σκοτία αὐτὸ οὐ κατέλαβεν.",
        "γνῶθι σεαυτόν, ἔλεγον οἱ σοφοὶ τῶν Ἑλλήνων.",
        "πάντες ἄνθρωποι τοῦ εἰδέναι ὀρέγονται φύσει.",
    ),
}

# espeak-ng language codes (from `espeak-ng --voices`) -> text language.
_LANGUAGE_ALIASES = {"en-us": "en", "en-uk": "en", "en-gb": "en", "pt-br": "pt", "pt-pt": "pt",
                     "fr-fr": "fr", "fr-ca": "fr", "fr-be": "fr", "es-es": "es", "es-mx": "es",
                     "es-vz": "es", "cmn": "zh", "zh-cn": "zh"}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_REJECT = re.compile(r"[0-9０-９%$<>{}\[\]/\\_=@#|`*~^+]|--|https?:|www\.|\.\.\.|::|\bQ:|\bA:")
_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")
_SYMBOLS = re.compile("[\u2190-\u2bff\u25a0-\u27bf\U0001f000-\U0001faff\ufffd]")  # arrows, boxes, emoji
_JOINERS = re.compile("[\u200c\u200d]")  # zero-width (non-)joiners are part of Indic/Persian spelling
_SENT_SPLIT = re.compile(r"(?<=[.!?;])\s+(?=[\"'«„“¿¡(]?[^\W\d_])|(?<=[。！？；])")
_ATTRIBUTION = re.compile(r"^\s*(--|—|~|–)\s")


def normalise_language(language: str) -> str:
    """An espeak-ng or ISO code ("en-us", "pt-br", "cmn") -> the text language ("en", "pt")."""
    lang = language.strip().lower().replace("_", "-")
    return _LANGUAGE_ALIASES.get(lang, lang.split("-")[0] if lang not in ("grc",) else lang)


def languages() -> tuple[str, ...]:
    """Every language some source covers (whether or not its package is installed)."""
    return tuple(sorted({s.language for s in SOURCES}))


def language_source(language: str) -> Source | None:
    """The source of `language`'s sentences, or None when it has none (English is used)."""
    lang = normalise_language(language)
    return next((s for s in SOURCES if s.language == lang), None)


def text_language(language: str) -> str:
    """The language sentences for `language` will actually be in: itself, or "en" when no
    installed source yields any."""
    lang = normalise_language(language)
    return lang if _pool(lang) else "en"


def clean_sentence(text: str, language: str) -> str | None:
    """One candidate sentence -> a speakable sentence, or None when it should be dropped."""
    lang = normalise_language(language)
    s = unicodedata.normalize("NFC", _ANSI.sub("", text))
    s = s.replace("&", "" if lang != "en" else "and").replace("\t", " ")
    s = re.sub("[\"“”«»„]", "", s)  # quotes are not spoken and are often unbalanced here
    s = re.sub(r"\s+", " ", s).strip().strip("' ")
    if not s or _REJECT.search(s) or _SYMBOLS.search(s) or not _JOINERS.sub("", s).isprintable():
        return None
    if lang in NON_LATIN_LANGUAGES and _LATIN.search(s):
        return None
    if lang in CJK_LANGUAGES:
        n = sum(1 for c in s if unicodedata.category(c) == "Lo")
        ok = MIN_CJK_CHARS <= n <= MAX_CJK_CHARS
    else:
        words = [w for w in s.split() if _LETTER.search(w)]
        ok = MIN_WORDS <= len(words) <= MAX_WORDS and len(words) >= 0.8 * len(s.split())
        # Shouting, option names and identifiers are spelled out, not spoken.
        ok = ok and not any(len(w) > 1 and w.isupper() and w.isalpha() for w in words[1:])
    if not ok:
        return None
    s = s.rstrip(":;,：；， ")
    if s[-1] not in ".!?。！？":
        s += "。" if lang in CJK_LANGUAGES else "."
    return s


def _split(block: str, language: str) -> list[str]:
    lines = [ln for ln in _ANSI.sub("", block).splitlines() if not _ATTRIBUTION.match(ln)]
    joiner = "" if normalise_language(language) in CJK_LANGUAGES else " "
    text = joiner.join(ln.strip() for ln in lines)
    return [p for p in _SENT_SPLIT.split(text) if p and p.strip()]


def _read_fortunes(pattern: str) -> Iterable[str]:
    for path in sorted(glob.glob(pattern)):
        if path.endswith((".dat", ".u8")) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue  # legacy 8-bit files (e.g. cs/../cz) duplicate a UTF-8 twin
        yield from re.split(r"^%\s*$", text, flags=re.M)


def _gettext_domains(locale_dirs: Iterable[str], domains: Iterable[str] | None) -> list[str]:
    """Every catalogue on this machine for `locale_dirs`, minus those in `domains`' complement
    (None: all of them except the iso-codes name lists and GETTEXT_DOMAINS)."""
    if domains is not None:
        return list(domains)
    found = {os.path.basename(p)[:-3] for d in locale_dirs
             for p in glob.glob(os.path.join(LOCALE_DIR, d, "LC_MESSAGES", "*.mo"))}
    return sorted(d for d in found if d not in GETTEXT_DOMAINS and not d.startswith("iso_"))


def _read_gettext(locale_dir: str, domains: Iterable[str]) -> Iterable[str]:
    for domain in domains:
        path = os.path.join(LOCALE_DIR, locale_dir, "LC_MESSAGES", domain + ".mo")
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            try:
                catalogue = gettext.GNUTranslations(f)._catalog  # msgid -> msgstr
            except Exception:  # a damaged catalogue is skipped, not fatal
                continue
        for key in sorted(catalogue, key=repr):
            value = catalogue[key]
            if isinstance(value, str) and value and key:
                # Drop accelerator marks ("_Open", "&File") before splitting.
                yield re.sub(r"(^|(?<=\s))[_&](?=\w)", "", value)


@functools.lru_cache(maxsize=None)
def _pool(language: str) -> tuple[str, ...]:
    src = language_source(language)
    if src is None:
        return ()
    if src.kind == "embedded":
        blocks: Iterable[str] = _EMBEDDED[src.language]
    elif src.kind == "fortune":
        blocks = (b for p in src.paths for b in _read_fortunes(p))
    else:
        out = _clean(src.language, (b for d in src.paths
                                    for b in _read_gettext(d, GETTEXT_DOMAINS)))
        if len(out) < MIN_GETTEXT_POOL:
            extra = _gettext_domains(src.paths, None)
            out |= _clean(src.language, (b for d in src.paths for b in _read_gettext(d, extra)))
        return tuple(sorted(out))
    return tuple(sorted(_clean(src.language, blocks)))


def _clean(language: str, blocks: Iterable[str]) -> set[str]:
    out = set()
    for block in blocks:
        for part in _split(block, language):
            s = clean_sentence(part, language)
            if s is not None:
                out.add(s)
    return out


def sentences(language: str, n: int | None = None, *, seed: int = 0) -> list[str]:
    """Up to `n` cleaned sentences in `language` (all when n is None), in a seeded order.

    A language without an installed source gets English sentences (see `text_language`).
    Raises ValueError when not even English is installed, naming the package to install."""
    lang = text_language(language)
    pool = list(_pool(lang))
    if not pool:
        raise ValueError(f"no sentences for {language!r} and no English fallback: install "
                         "fortunes-min (scripts/install_data_deps.sh)")
    random.Random(f"{lang}:{seed}").shuffle(pool)
    return pool if n is None else pool[:n]


def sentence_counts() -> dict[str, int]:
    """Sentences available per source language on this machine."""
    return {lang: len(_pool(lang)) for lang in languages()}


def phone_coverage(utterances: Iterable, *, seconds: bool = False) -> dict[str, float]:
    """Segments (or seconds with `seconds=True`) per inventory symbol over `utterances`
    (objects with a `.phones` list of PhoneSeg); every symbol is present, zero if unseen."""
    counts: Counter = Counter()
    for utt in utterances:
        for seg in utt.phones:
            counts[seg.phone] += (seg.end - seg.start) if seconds else 1
    unknown = set(counts) - set(PHONES)
    if unknown:
        raise ValueError(f"symbols outside the inventory: {sorted(unknown)}")
    return {sym: counts.get(sym, 0) for sym in PHONES}


def format_coverage(coverage: dict[str, float]) -> str:
    """A one-symbol-per-line table of `phone_coverage` output, rarest last."""
    total = sum(coverage.values()) or 1
    rows = sorted(coverage.items(), key=lambda kv: -kv[1])
    return "\n".join(f"{sym:>4} {val:10.1f} {100 * val / total:5.1f}%" for sym, val in rows)


if __name__ == "__main__":
    for lang, count in sentence_counts().items():
        src = language_source(lang)
        print(f"{lang:4} {count:7d}  {src.kind if src else '-':8} {src.package if src else ''}")
