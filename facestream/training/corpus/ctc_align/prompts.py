"""Aligning Asterisk prompts in any language espeak-ng speaks, kept only where the prompt's
own transcript beats other prompts' transcripts on its audio (the rank test).

    python -m facestream.training.corpus.ctc_align asterisk     # align es/fr/it/ru prompts
"""
from __future__ import annotations

import numpy as np

from .... import vocab
from ..types import Utterance
from .alignment import Aligner
from .espeak import phonemize, speakable

WRONG_TEXTS = 20  # other transcripts each prompt's own must beat to be kept


def transcript_margins(aligner: Aligner, items: list[tuple], k: int = WRONG_TEXTS,
                       seed: int = 0) -> np.ndarray:
    """For each prompt, its confidence minus the best confidence its audio reaches when
    aligned to `k` other prompts' transcripts of similar phone count (within 20%).

    items: [(logp T x P, words, confidence)] of one voice's prompts. A margin > 0 means the
    true transcript beat all k wrong ones (a wrong text does so with probability
    1/(k+1)); NaN where no other prompt has a similar length. How high a wrong text scores
    depends on the language, the speaker and the prompt, so this rank test needs no
    threshold tuned per language."""
    rng = np.random.default_rng(seed)
    sizes = np.array([sum(len(w) for w in words) for _, words, _ in items])
    out = np.full(len(items), np.nan)
    for i, (logp, _, conf) in enumerate(items):
        near = np.flatnonzero((np.abs(sizes - sizes[i]) <= max(2, sizes[i] // 5))
                              & (np.arange(len(items)) != i))
        best = None
        silent = np.zeros(logp.shape[0] * vocab.HOP_SAMPLES, np.float32)  # unused: logp given
        for j in rng.choice(near, min(k, near.size), replace=False):
            try:
                c = aligner.align_detailed(silent, items[int(j)][1], logp=logp).confidence
            except ValueError:  # the other text needs more frames than this audio has
                continue
            best = c if best is None else max(best, c)
        if best is not None:
            out[i] = conf - best
    return out


def _align_own(aligner: Aligner, audio: np.ndarray, text: str, language: str):
    """(phonemised words, T x P log posteriors, Alignment) of audio along its own text."""
    words = phonemize(speakable(text), language)
    logp = aligner.log_posteriors(audio)
    return words, logp, aligner.align_detailed(audio, words, logp=logp)


def rank_transcripts(utts: list[Utterance], aligner: Aligner | None = None) -> np.ndarray:
    """The rank test for utterances another aligner has timed (English game dialogue, which
    pocketsphinx keeps whenever its words are in the dictionary): each one's margin
    (`transcript_margins`) against the other transcripts of its voice, NaN where its own
    transcript cannot be aligned or no other has a similar length. Keep those > 0. Sets
    meta["confidence"] and meta["margin"]; the phone timing is left as it is."""
    aligner = aligner or Aligner()
    margins = np.full(len(utts), np.nan)
    by_voice: dict[str, list[int]] = {}
    for i, u in enumerate(utts):
        by_voice.setdefault(u.voice, []).append(i)
    for group in by_voice.values():
        done, items = [], []
        for i in group:
            u = utts[i]
            try:
                words, logp, al = _align_own(aligner, u.audio, u.text, u.language)
            except (ValueError, RuntimeError):
                continue
            done.append(i)
            items.append((logp, words, al.confidence))
            u.meta["confidence"] = al.confidence
        margins[done] = transcript_margins(aligner, items)
    for u, m in zip(utts, margins):
        u.meta["margin"] = float(m)
    return margins


def align_prompts(prompts, aligner: Aligner | None = None, threshold: float | None = None,
                  keep_all: bool = False, report: dict | None = None, log=None) -> list[Utterance]:
    """Align Asterisk `Prompt`s (any non-English voices) along espeak-ng's reading of their
    transcripts -> the kept Utterances (source "asterisk"), in prompt order per voice.

    Kept: prompts whose transcript beats WRONG_TEXTS other transcripts of the same voice on
    their own audio (`transcript_margins` > 0), or, given `threshold`, those with confidence
    >= threshold. keep_all returns the rest too. Each utterance carries meta["confidence"],
    ["margin"] and ["kept"]; `report`, if given, is filled per voice with prompts, minutes,
    aligned, failed, kept and kept_minutes."""
    from ..asterisk import load_prompt
    aligner = aligner or Aligner()
    by_voice: dict[str, list] = {}
    for p in prompts:
        by_voice.setdefault(p.voice, []).append(p)
    utts: list[Utterance] = []
    for voice, group in by_voice.items():
        r = {"prompts": len(group), "minutes": 0.0, "aligned": 0, "failed": 0, "kept": 0,
             "kept_minutes": 0.0}
        done = []
        for p in group:
            try:
                audio, text = load_prompt(p)
            except (FileNotFoundError, RuntimeError):  # an undecodable file: lose the prompt
                r["failed"] += 1
                continue
            r["minutes"] += audio.size / vocab.SAMPLE_RATE / 60
            try:
                words, logp, al = _align_own(aligner, audio, text, p.language)
            except (ValueError, RuntimeError):
                r["failed"] += 1
                continue
            done.append((p, audio, text, words, logp, al))
        r["aligned"] = len(done)
        margins = transcript_margins(aligner, [(d[4], d[3], d[5].confidence) for d in done])
        for (p, audio, text, _, _, al), margin in zip(done, margins):
            kept = bool(al.confidence >= threshold if threshold is not None else margin > 0)
            r["kept"] += int(kept)
            r["kept_minutes"] += kept * audio.size / vocab.SAMPLE_RATE / 60
            if kept or keep_all:
                utts.append(Utterance(
                    uid=f"asterisk/{p.voice}/{p.language}/{p.id}", audio=audio, phones=al.phones,
                    source="asterisk", voice=p.voice, language=p.language, text=text,
                    meta={"aligner": "ctc", "confidence": al.confidence,
                          "margin": float(margin), "kept": kept}))
        r["minutes"], r["kept_minutes"] = round(r["minutes"], 2), round(r["kept_minutes"], 2)
        if report is not None:
            report[voice] = r
        if log:
            log(voice, r)
    return utts


def align_asterisk(language: str | None = None, aligner: Aligner | None = None,
                   threshold: float | None = None, keep_all: bool = False, log=None):
    """`align_prompts` over every installed prompt of `language` (default: es, fr, it, ru)
    -> (utterances, report per voice)."""
    from ..asterisk import list_prompts
    langs = [language] if language else ["es", "fr", "it", "ru"]
    prompts = [p for lang in langs for p in list_prompts(lang)]
    report: dict = {}
    utts = align_prompts(prompts, aligner, threshold, keep_all, report, log)
    return utts, report
