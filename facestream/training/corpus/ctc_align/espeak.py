"""Text -> inventory phones per word, as espeak-ng reads it (through an MBROLA voice's .pho
where its tables are good, through espeak-ng's IPA elsewhere), and the .pho parser.
"""
from __future__ import annotations

import re
import subprocess
from functools import lru_cache

import numpy as np

from ...phonemes import SILENCE
from ..types import PhoneSeg

# The espeak-ng MBROLA voice whose --pho output phonemises each language (MBROLA SAMPA);
# other languages are read with espeak-ng --ipa through ESPEAK_IPA (voice IPA_VOICE or the
# language code). Spanish goes that way because espeak-ng's MBROLA tables for it are
# broken: es1/es2/mx1/mx2/vz1 drop the trill and initial r (arroba -> a o b a), es4 writes
# tap r as jj and l as L. es-419 is Latin American (the Asterisk voice is Mexican).
IPA_VOICE: dict[str, str] = {"es": "es-419"}
PHONEMISER_VOICE: dict[str, str] = {
    "en": "mb-us1", "fr": "mb-ca1", "it": "mb-it3", "de": "mb-de2",
    "pt": "mb-br1", "pl": "mb-pl1", "cs": "mb-cz2", "hr": "mb-cr1", "ro": "mb-ro1",
    "nl": "mb-nl2",
}



def speakable(text: str) -> str:
    """Drop typography a reader does not pronounce but espeak-ng would ("1 / 2" -> "slash",
    a spaced dash, quotes and guillemets)."""
    t = re.sub(r"[\"“”«»„]", " ", text)
    t = re.sub(r"\s[-–—/]+\s", ", ", t)
    return " ".join(t.split())


# espeak-ng's IPA (`--ipa`) for the languages not read through an MBROLA voice (es, ru).
# phone_maps has no espeak engine yet; this table follows its rules (palatalised consonants
# -> plain, n' -> ny; long -> short; trill r -> rr, tap -> dx; Spanish approximants
# as MBROLA's B/D/G: [β] -> bh, [ð] -> dh, [ɣ] -> g) and should move there.
ESPEAK_IPA: dict[str, tuple[str, ...]] = {
    "i": ("iy",), "ɪ": ("ih",), "ɪ^": ("ih",), "e": ("ey",), "ɛ": ("eh",), "æ": ("ae",),
    "a": ("a",), "ɑ": ("aa",), "ʌ": ("ah",), "ɐ": ("ah",), "ə": ("ax",), "o": ("oh",),
    "ɔ": ("ao",), "ɔː": ("ao",), "u": ("uw",), "uː": ("uw",), 'u"': ("uw",), "ʊ": ("uh",),
    "ɵ": ("oe",), "ø": ("oe",), "ɨ": ("ix",), "aɪ": ("ay",), "eɪ": ("ey",), "əʊ": ("ow",),
    "aʊ": ("aw",), "oɪ": ("oy",), "β": ("bh",), "ð": ("dh",), "ɣ": ("g",), "ʝ": ("j",),
    "ɲ": ("ny",), "ʎ": ("ly",), "θ": ("th",),
    "ja": ("j", "a"), "ju": ("j", "uw"), "jo": ("j", "oh"), "je": ("j", "ey"), "əl": ("ax", "l"),
    "p": ("p",), "b": ("b",), "t": ("t",), "d": ("d",), "k": ("k",), "ɡ": ("g",), "g": ("g",),
    "m": ("m",), "n": ("n",), "nʲ": ("ny",), "ŋ": ("ng",), "f": ("f",), "v": ("v",),
    "s": ("s",), "z": ("z",), "ʃ": ("sh",), "ʂ": ("sh",), "ʒ": ("zh",), "ʐ": ("zh",),
    "ɕ": ("sh",), "ʑ": ("zh",), "x": ("x",), "h": ("hh",), "j": ("j",),
    "l": ("l",), "ɫ": ("l",), "ɭ": ("l",), "r": ("rr",), "ɾ": ("dx",), "ɹ": ("r",),
    "ts": ("ts",), "tʃ": ("ch",), "tɕ": ("ch",), "dʒ": ("jh",), "w": ("w",),
}
# Language-specific readings of espeak-ng's IPA ("y" is its Russian ы, not [y]).
ESPEAK_IPA_LANG: dict[str, dict[str, tuple[str, ...]]] = {"ru": {"y": ("ix",)}}


def _espeak_ipa(symbol: str, language: str) -> tuple[str, ...]:
    sym = symbol.replace("ˈ", "").replace("ˌ", "")
    if not sym or re.fullmatch(r"\([a-z-]+\)", sym):  # language-switch marks "(en)"
        return ()
    table = ESPEAK_IPA_LANG.get(language, {})
    for key in (sym, sym.replace("ʲ", ""), sym.replace("ː", ""),
                sym.replace("ʲ", "").replace("ː", "")):
        if key in table:
            return table[key]
        if key in ESPEAK_IPA:
            return ESPEAK_IPA[key]
    raise ValueError(f"espeak-ng IPA phone {symbol!r} ({language}) has no inventory mapping: "
                     "add it to ctc_align.espeak.ESPEAK_IPA")


def _to_inventory(engine: str, symbol: str, voice: str) -> list[str]:
    from ... import phone_maps
    out = phone_maps.to_inventory(engine, symbol, voice)
    return [out] if isinstance(out, str) else list(out)


def parse_pho(text: str, voice: str) -> list[PhoneSeg]:
    """An MBROLA .pho (espeak-ng --pho) of `voice` ("mb-es1") -> inventory segments with its
    exact timing.

    A symbol that maps to two inventory phones (an affricate written as one) is split in
    half; "_" is silence."""
    segs: list[PhoneSeg] = []
    t = 0.0
    for line in text.splitlines():
        parts = line.split()
        if not parts or line.startswith(";"):
            continue
        dur = float(parts[1]) / 1000.0
        phones = [SILENCE] if parts[0] == "_" else _to_inventory("mbrola", parts[0], voice)
        for i, p in enumerate(phones):
            a, b = t + dur * i / len(phones), t + dur * (i + 1) / len(phones)
            if segs and segs[-1].phone == p == SILENCE:
                segs[-1].end = b
            elif b > a:
                segs.append(PhoneSeg(a, b, p))
        t += dur
    return segs


@lru_cache(maxsize=4096)
def _espeak(args: tuple[str, ...], text: str) -> str:
    # text on stdin: a sentence starting with "-" would otherwise read as an option
    res = subprocess.run(["espeak-ng", *args], input=text, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"espeak-ng {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout


def _pho_phones(pho: str, voice: str) -> list[str]:
    return [g.phone for g in parse_pho(pho, voice)]


def _match(a: list[str], b: list[str]) -> list[int]:
    """For each item of `a`, the index in `b` it aligns to under edit distance (a deletion
    takes the previous match)."""
    n, m = len(a), len(b)
    d = np.zeros((n + 1, m + 1), dtype=np.int32)
    d[:, 0], d[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
    out = [0] * n
    i, j = n, m
    while i > 0:
        if j > 0 and d[i, j] == d[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            out[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif j > 0 and d[i, j] == d[i, j - 1] + 1:
            j -= 1
        else:
            out[i - 1] = max(j - 1, 0)
            i -= 1
    return out


def phonemize(text: str, language: str) -> list[list[str]]:
    """Text -> one list of inventory phones per word (espeak-ng's reading, numbers included).

    Languages with an MBROLA phonemiser voice (PHONEMISER_VOICE) go through its --pho
    symbols. --pho marks no word boundaries, so the text is read a second time with a break
    after every word and the two phone strings are matched: the words come from the second
    reading, the phones (with liaison and sandhi) from the first. Other languages use
    espeak-ng's IPA (`--ipa`, which keeps the words) through ESPEAK_IPA."""
    if not text or not text.strip():
        raise ValueError("nothing to phonemise: empty text")
    if language in PHONEMISER_VOICE:
        voice = PHONEMISER_VOICE[language]
        plain = _pho_phones(_espeak(("-v", voice, "--pho", "-q"), text), voice)
        toks = [t for t in text.split() if re.search(r"\w", t)]
        ssml = "<speak>" + "<break time=\"1ms\"/> ".join(
            t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for t in toks) + "</speak>"
        broken = _pho_phones(_espeak(("-m", "-v", voice, "--pho", "-q"), ssml), voice)
        word_of, w, prev_sil = [], 0, True
        for p in broken:
            if p == SILENCE:
                prev_sil = True
                continue
            if prev_sil and word_of:
                w += 1
            prev_sil = False
            word_of.append(w)
        speech_b = [p for p in broken if p != SILENCE]
        speech_a = [p for p in plain if p != SILENCE]
        match = _match(speech_a, speech_b) if speech_b else [0] * len(speech_a)
        words: list[list[str]] = []
        k, last_word, after_pause = 0, None, False
        for p in plain:
            if p == SILENCE:
                after_pause = True
                continue
            wi = word_of[match[k]] if word_of else 0
            if not words or after_pause or wi != last_word:
                words.append([])
            words[-1].append(p)
            last_word, after_pause, k = wi, False, k + 1
    else:
        words = []
        out = _espeak(("-v", IPA_VOICE.get(language, language), "-q", "--ipa", "--sep=_"), text)
        for w in out.split():
            phones = [p for sym in w.split("_") for p in _espeak_ipa(sym, language)]
            if phones:
                words.append(phones)
    if not words:
        raise ValueError(f"espeak-ng found nothing to say in {text!r} ({language})")
    return words

