"""Real human voices from KDE's educational games in Debian: KLettres and KTuberling.

KLettres (`klettres-data`) has native speakers read their alphabet and short syllables:
`/usr/share/klettres/<dir>/sounds.xml` maps each written name ("B", "LA") to its recording
(`<dir>/alpha/a-1.ogg`, `<dir>/syllab/ad-0.ogg`). KTuberling (`ktuberling-data`) has single
words: `/usr/share/ktuberling/sounds/<dir>.soundtheme` lists the recordings of a language. Some
languages name the file by the word itself (`fr/patate_bouche.wav`: "bouche"), others by an
English key (`de/ball.ogg`) whose translation ships nowhere in the package (not in the game's
translation catalogues either): of those only English is kept, where the key is the word.

Transcripts, and what is left out because it cannot be transcribed with confidence:
- Syllables are read as written, lower-cased. Syllables with no vowel letter are phonics
  sounds ("CH", "TH"), which no reading spells: dropped.
- Letters are spoken by their letter name. English letters go to pocketsphinx, whose
  dictionary holds each letter's name. Other languages are read by espeak-ng, which reads a
  lone letter by its name unless the letter is also a word (Spanish "y", "o"): a letter is
  kept only where espeak-ng's reading of it equals its `<say-as interpret-as="characters">`
  reading (`reads_as_letter_name`).
- KTuberling file names drop diacritics ("egypte_garcon", "chapeu"): the words are restored
  from WORD_FIXES; interjections and names of characters are dropped (WORD_DROP).
- Only languages the project's aligners read: English (pocketsphinx) and the languages
  `ctc_align.phonemize` reads through a tested table (LANGUAGES). Left out: KLettres ar, da,
  he, hu, lt, ml, nb, nds, tn, uk; KTuberling da, fi, ga, nds, sr, sv, wa (file-named words
  in languages without a tested phonemisation) and ca, de, el, gl, lt, nn, ru, sl, uk
  (English keys, no translation).
Every non-English recording must still pass ctc_align's transcript rank test.

Speakers: neither package says who recorded which language. Recordings of the same language
directory in the two games are treated as one speaker (`kde-<dir>`), so holding out a speaker
never leaks the same person through the other game; the speaker count is a lower bound.

LICENCES (from /usr/share/doc/<package>/copyright; attribute in the README):

| source     | package          | copyright                                            | licence |
|------------|------------------|------------------------------------------------------|---------|
| klettres   | klettres-data    | 2001-2011 Anne-Marie Mahfouf, Eric Bischoff and KDE  | GPL-2+  |
|            |                  | contributors (KLettres, KDE Education)               |         |
| ktuberling | ktuberling-data  | 1999-2017 Eric Bischoff, Albert Astals Cid, Meni     | GPL-2+  |
|            |                  | Livne and KDE contributors (KTuberling)              |         |
"""
from __future__ import annotations

import re
import subprocess
from functools import lru_cache
from pathlib import Path

from .asterisk import Prompt

KLETTRES_DIR = Path("/usr/share/klettres")
KTUBERLING_DIR = Path("/usr/share/ktuberling/sounds")

# recording directory -> ISO 639-1 language, for the languages kept (see the module doc)
LANGUAGES: dict[str, dict[str, str]] = {
    "klettres": {"cs": "cs", "de": "de", "en": "en", "en_GB": "en", "es": "es", "fr": "fr",
                 "it": "it", "nl": "nl", "pt_BR": "pt", "ru": "ru"},
    "ktuberling": {"en": "en", "es": "es", "fr": "fr", "it": "it", "nl": "nl", "pt": "pt",
                   "ro": "ro"},
}
LICENCE = {"klettres": "GPL-2+", "ktuberling": "GPL-2+"}
PACKAGE = {"klettres": "klettres-data", "ktuberling": "ktuberling-data"}

# KTuberling playground themes, prefixed to the file names ("lune_fusee").
THEMES = frozenset("patate egypte lune noel papillons pizzeria robin robot tv egypt moon "
                   "christmas butterflies".split())
# Words as file names spell them -> as they are written (diacritics, compounds).
WORD_FIXES: dict[str, dict[str, str]] = {
    "en": {"palmtree": "palm tree", "fallingstar": "falling star", "sphynx": "sphinx",
           "broccolli": "broccoli"},
    "es": {"gafasdesol": "gafas de sol"},
    "it": {"occhialidasole": "occhiali da sole"},
    "pt": {"chapeu": "chapéu", "laco": "laço", "oculos": "óculos"},
    "ro": {"cravata": "cravată", "gura": "gură", "mustata": "mustață", "palarie": "pălărie",
           "par": "păr", "sprinceana": "sprânceană"},
    "fr": {"ane": "âne", "garcon": "garçon", "etoile": "étoile", "fusee": "fusée",
           "hotel": "hôtel", "planete": "planète", "comete": "comète", "noel": "noël",
           "sorciere": "sorcière", "frere": "frère", "cle": "clé", "fleche": "flèche",
           "fleches": "flèches", "allumees": "allumées", "fache": "fâche", "idee": "idée",
           "tete": "tête", "barriere": "barrière", "depannage": "dépannage",
           "cloture": "clôture", "echelle": "échelle", "ecole": "école",
           "elephant": "éléphant", "fumee": "fumée", "mecanicien": "mécanicien",
           "pecheur": "pêcheur", "baton": "bâton", "sheriff": "shérif", "noeud": "nœud",
           "oeil": "œil", "coeur": "cœur", "tux": "Tux"},
}
# Words dropped: interjections, coinages and acronyms with no sure reading.
WORD_DROP: dict[str, frozenset[str]] = {
    "en": frozenset({"moonwalker", "ufo"}),
    "fr": frozenset({"heu", "wouah", "ovni", "quoi"}),
}
_VOWELS = set("aeiouyàâäéèêëîïôöùûüœæåáíóúãõąęěůýаеёиоуыэюяєії")


def voice_name(source: str, directory: str) -> str:
    """"klettres", "en_GB" -> "klettres-en-gb"."""
    return f"{source}-{directory.lower().replace('_', '-')}"


def speaker_of(directory: str) -> str:
    """The speaker key of a KDE recording directory (shared by both games, see module doc)."""
    return f"kde-{directory.lower().replace('_', '-')}"


# ---- KLettres ------------------------------------------------------------------------------

_SOUND = re.compile(r'<sound\s+name="([^"]+)"\s+file="([^"]+)"\s*/>')


def parse_klettres_sounds(xml: str) -> list[tuple[str, str, str]]:
    """sounds.xml text -> [(kind "alpha" | "syllab", written name, file relative to the data
    directory)], in file order."""
    out = []
    for kind, tag in (("alpha", "alphabet"), ("syllab", "syllables")):
        for block in re.findall(rf"<{tag}>(.*?)</{tag}>", xml, re.S):
            out += [(kind, name, f) for name, f in _SOUND.findall(block)]
    return out


def _espeak_reading(text: str, language: str, ssml: bool = False) -> str:
    from .ctc_align import IPA_VOICE
    args = ["espeak-ng", "-q", "-x", "-v", IPA_VOICE.get(language, language)]
    res = subprocess.run(args + (["-m"] if ssml else []) + [text], capture_output=True,
                         text=True)
    if res.returncode != 0:
        raise RuntimeError(f"espeak-ng failed on {text!r} ({language}): {res.stderr.strip()}")
    return re.sub(r"_[!:|]*", "", res.stdout).strip()


@lru_cache(maxsize=None)
def reads_as_letter_name(letter: str, language: str) -> bool:
    """Whether espeak-ng reads the lone `letter` by its letter name in `language` (its plain
    reading equals its `say-as characters` reading; not so for letters that are words)."""
    plain = _espeak_reading(letter, language)
    named = _espeak_reading(f'<speak><say-as interpret-as="characters">{letter}</say-as>'
                            "</speak>", language, ssml=True)
    return bool(plain) and plain == named


def klettres_text(kind: str, name: str, language: str) -> str | None:
    """The transcript of one KLettres recording, or None when it cannot be given with
    confidence (see the module doc)."""
    if kind == "alpha":
        if len(name) != 1 or not name.isalpha():
            return None
        if language == "en" or reads_as_letter_name(name, language):
            return name
        return None
    word = name.lower()
    if not _VOWELS & set(word) or not word.isalpha():
        return None
    return word


def klettres_prompts(directory: str) -> list[Prompt]:
    """The kept recordings of one KLettres language directory ([] when not installed)."""
    language = LANGUAGES["klettres"][directory]
    xml = KLETTRES_DIR / directory / "sounds.xml"
    if not xml.exists():
        return []
    out = []
    for kind, name, rel in parse_klettres_sounds(xml.read_text(encoding="utf-8")):
        path = KLETTRES_DIR / rel
        text = klettres_text(kind, name, language)
        if text is None or not path.exists():
            continue
        out.append(Prompt(f"{kind}/{name}", voice_name("klettres", directory), language, path,
                          text, source="klettres", speaker=speaker_of(directory)))
    return out


# ---- KTuberling ----------------------------------------------------------------------------

def parse_soundtheme(text: str) -> list[tuple[str, str]]:
    """<lang>.soundtheme text -> [(sound name, file relative to the sounds directory)]."""
    return _SOUND.findall(text)


def ktuberling_text(stem: str, language: str) -> str | None:
    """A KTuberling file stem ("lune_etoile-filante") -> the word(s) spoken ("étoile filante"),
    or None when dropped."""
    head, _, rest = stem.partition("_")
    if rest and head.lower() in THEMES:
        stem = rest
    if "_" in stem:
        return None
    stem = stem.lower()
    if language == "fr":  # elided articles: "boucle-d-oreille", "j-ai-une-idee"
        stem = re.sub(r"\b([dlj])-", r"\1'", stem)
    fixes = WORD_FIXES.get(language, {})
    if stem in fixes:
        return fixes[stem]
    words = [fixes.get(w, w) for w in stem.replace("-", " ").split()]
    if not words or any(w in WORD_DROP.get(language, ()) for w in words):
        return None
    return " ".join(words)


def ktuberling_prompts(directory: str) -> list[Prompt]:
    """The kept recordings of one KTuberling language ([] when not installed)."""
    language = LANGUAGES["ktuberling"][directory]
    theme = KTUBERLING_DIR / f"{directory}.soundtheme"
    if not theme.exists():
        return []
    out, seen = [], set()
    for _, rel in parse_soundtheme(theme.read_text(encoding="utf-8")):
        path = KTUBERLING_DIR / rel
        stem = Path(rel).stem
        text = ktuberling_text(stem, language)
        if text is None or not path.exists() or stem in seen:
            continue
        seen.add(stem)
        out.append(Prompt(stem, voice_name("ktuberling", directory), language, path, text,
                          source="ktuberling", speaker=speaker_of(directory)))
    return out


# ---- both ----------------------------------------------------------------------------------

def voices() -> dict[str, tuple[str, str]]:
    """{voice name: (source, recording directory)} for every kept language (installed or not)."""
    return {voice_name(src, d): (src, d) for src, dirs in LANGUAGES.items() for d in dirs}


def list_prompts(voice: str | None = None) -> list[Prompt]:
    """The kept, installed recordings of one voice ("klettres-fr", "ktuberling-en") or of all,
    sorted by voice then id."""
    table = voices()
    if voice is not None and voice not in table:
        raise ValueError(f"unknown KDE voice {voice!r}: expected one of {', '.join(table)}")
    out = []
    for name, (src, d) in sorted(table.items()):
        if voice is None or name == voice:
            prompts = klettres_prompts(d) if src == "klettres" else ktuberling_prompts(d)
            out += sorted(prompts, key=lambda p: p.id)
    return out


def installed_voices() -> list[str]:
    """Names of the voices with at least one kept recording installed."""
    return sorted({p.voice for p in list_prompts()})


__all__ = ["LANGUAGES", "LICENCE", "list_prompts", "installed_voices", "voices",
           "parse_klettres_sounds", "parse_soundtheme", "klettres_text", "ktuberling_text",
           "reads_as_letter_name", "speaker_of", "voice_name"]
