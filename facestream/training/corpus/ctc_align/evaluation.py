"""How well the phone model places boundaries: on held-out synthetic voices (exact timing)
and against pocketsphinx on the held-out English Asterisk prompts.

    python -m facestream.training.corpus.ctc_align eval         # held-out synthetic voices
    python -m facestream.training.corpus.ctc_align english      # vs pocketsphinx on English
"""
from __future__ import annotations

import numpy as np

from ...phonemes import SILENCE
from ..types import PhoneSeg
from .alignment import Aligner, words_of
from .data import HELDOUT_VOICES, _labelled, english_split, synth_set
from .espeak import _match, phonemize, speakable
from .prompts import transcript_margins


def boundary_errors(ref: list[PhoneSeg], hyp: list[PhoneSeg]) -> np.ndarray:
    """|hyp - ref| seconds at the start and end of every non-silence phone, the two
    sequences holding the same non-silence phones in the same order."""
    r = [s for s in ref if s.phone != SILENCE]
    h = [s for s in hyp if s.phone != SILENCE]
    if [s.phone for s in r] != [s.phone for s in h]:
        raise ValueError("boundary_errors needs the same phone sequence on both sides")
    return np.abs(np.array([[a.start - b.start, a.end - b.end] for a, b in zip(r, h)])).ravel()


def evaluate_heldout(aligner: Aligner, per_voice: int = 30, seed: int = 1,
                     augment: bool = False, voices: dict | None = None) -> dict:
    """Mean/median boundary error (ms) on held-out MBROLA voices, aligning along the true
    phone sequence (word breaks where the .pho pauses)."""
    utts = synth_set(voices or HELDOUT_VOICES, per_voice, seed, sentence_offset=5000)
    if augment:
        data = _labelled(utts, True, seed, 1)[1::2]
        audios = [a for a, _ in data]
    else:
        audios = [u.audio for u in utts]
    per_voice_err: dict[str, list] = {}
    confs = []
    for u, a in zip(utts, audios):
        al = aligner.align_detailed(a, words_of(u.phones))
        per_voice_err.setdefault(u.voice, []).append(boundary_errors(u.phones, al.phones))
        confs.append(al.confidence)
    rep = {v: {"utterances": len(e), "mean_ms": 1000 * float(np.concatenate(e).mean()),
               "median_ms": 1000 * float(np.median(np.concatenate(e))),
               "within_20ms": float((np.concatenate(e) <= 0.02).mean())}
           for v, e in per_voice_err.items()}
    allerr = np.concatenate([x for e in per_voice_err.values() for x in e])
    rep["all"] = {"utterances": len(utts), "mean_ms": 1000 * float(allerr.mean()),
                  "median_ms": 1000 * float(np.median(allerr)),
                  "within_20ms": float((allerr <= 0.02).mean()),
                  "mean_confidence": float(np.mean(confs))}
    return rep


def matched_boundary_errors(ref: list[PhoneSeg], hyp: list[PhoneSeg]) -> np.ndarray:
    """|hyp - ref| seconds at the start and end of each non-silence phone that the two
    (possibly different) phone strings share, matched by edit distance."""
    r = [s for s in ref if s.phone != SILENCE]
    h = [s for s in hyp if s.phone != SILENCE]
    if not r or not h:
        return np.zeros(0)
    m = _match([s.phone for s in r], [s.phone for s in h])
    errs = [abs(a.start - h[j].start) for a, j in zip(r, m) if a.phone == h[j].phone]
    errs += [abs(a.end - h[j].end) for a, j in zip(r, m) if a.phone == h[j].phone]
    return np.array(errs)

def evaluate_english(aligner: Aligner, sphinx_utts=None) -> dict:
    """Boundary differences (ms) from pocketsphinx on English Asterisk prompts (default: the
    held-out half of `english_split`, which the aligner did not train on), two ways:
    "same_phones" aligns pocketsphinx's own phone string (pure boundary placement);
    "espeak_phones" aligns espeak-ng's reading, as for other languages, and compares the
    phones both strings share. "kept" repeats the latter for the prompts that pass
    `transcript_margins` (as align_asterisk keeps them)."""
    if sphinx_utts is None:
        sphinx_utts = english_split("heldout")
    same, esp, items = [], [], []
    for u in sphinx_utts:
        try:
            logp = aligner.log_posteriors(u.audio)
            a = aligner.align_detailed(u.audio, words_of(u.phones), logp=logp)
            b = aligner.align_detailed(u.audio, phonemize(speakable(u.text), "en"), logp=logp)
        except (ValueError, RuntimeError):
            continue
        same.append(boundary_errors(u.phones, a.phones))
        esp.append(matched_boundary_errors(u.phones, b.phones))
        items.append((logp, words_of(u.phones), b.confidence))
    keep = transcript_margins(aligner, items) > 0

    def stats(errs):
        e = np.concatenate(errs) if errs else np.zeros(0)
        return {"mean_ms": round(1000 * float(e.mean()), 2),
                "median_ms": round(1000 * float(np.median(e)), 2),
                "within_20ms": round(float((e <= 0.02).mean()), 3), "boundaries": int(e.size)}

    return {"prompts": len(items), "same_phones": stats(same), "espeak_phones": stats(esp),
            "kept_prompts": int(keep.sum()),
            "kept": stats([e for e, k in zip(esp, keep) if k]),
            "dropped": stats([e for e, k in zip(esp, keep) if not k])}
