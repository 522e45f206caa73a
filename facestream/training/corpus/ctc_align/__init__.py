"""Phone forced alignment for any language espeak-ng speaks (used for es, fr, it, ru prompts).

A small phone model (log-mel -> 4 conv layers -> a BiGRU -> one score per inventory phone
per 10 ms frame; 430k parameters, 0.9 MB in float16) is trained on speech whose phone timing
is known: MBROLA voices of 11 languages and flite/festival English voices (exact timing),
augmented towards recorded audio, plus half of the real English Asterisk prompts with
pocketsphinx's alignment as labels (without them the model only ever heard synthetic
speech, and disagreed with pocketsphinx on the other half by 30 ms instead of 15 ms).
Alignment is Viterbi along the prompt's phonemisation (espeak-ng, mapped into the
inventory) with an optional silence between words and at both ends; each phone takes at
least one frame.

Measured (shipped weights, `eval` / `english` below): mean boundary error 11 ms (median
7 ms, 86% within 20 ms) on held-out MBROLA voices es2, mx2, fr7, ca2, it4, us3; 15 ms mean
(median 10 ms) from pocketsphinx on the held-out English Asterisk prompts.

Why frame targets and not a CTC loss: CTC posteriors are peaky (a phone fires on one frame
and blank fills the rest), so a CTC forced path puts boundaries wherever the spikes fall,
typically 30-60 ms from the truth. With exact timing available the model is trained with
per-frame cross-entropy instead, and the Viterbi path over its (prior-divided) posteriors
puts boundaries where the acoustics change. The topology is the CTC one without blank.

Confidence of an alignment: the mean over frames of the forced phone's posterior divided by
the best phone's posterior at that frame (1 = the forced path is the model's own first
choice everywhere). Unlike the plain path posterior it does not sink on real speech, where
the model is less sure of every phone. How high a wrong transcript can still score depends
on the language, the speaker and the prompt (French and Spanish score lower than English
throughout: the model heard real speech only in English), so a prompt is kept when its
transcript beats 20 other prompts' transcripts of similar length on its own audio
(`transcript_margins`); a wrong text passes with probability 1/21.

    python -m facestream.training.corpus.ctc_align train        # ~15 min on 2 CPU cores
    python -m facestream.training.corpus.ctc_align eval         # held-out synthetic voices
    python -m facestream.training.corpus.ctc_align english      # vs pocketsphinx on English
    python -m facestream.training.corpus.ctc_align asterisk     # align es/fr/it/ru prompts

Shapes: S samples at vocab.SAMPLE_RATE, T frames at vocab.INTERNAL_FPS, P inventory phones.

Modules: model (config, frontend, network, checkpoint), alignment (Viterbi, `Aligner`),
espeak (phonemisation), data (voices, synthesis through synth.py, labels, crops), training,
evaluation, prompts (Asterisk prompts and the transcript rank test).
"""
from __future__ import annotations

from ...phonemes import INVENTORY
from .alignment import (FRAME_S, Aligner, Alignment, frames_to_segments, segments_to_frames,
                        viterbi, words_of)
from .data import (EXTRA_TRAIN_VOICES, HELDOUT_VOICES, TRAIN_VOICES, english_split,
                   synth_set, synth_utterance)
from .espeak import IPA_VOICE, PHONEMISER_VOICE, parse_pho, phonemize, speakable
from .evaluation import (boundary_errors, evaluate_english, evaluate_heldout,
                         matched_boundary_errors)
from .model import (CHECKPOINT_VERSION, DEFAULT_WEIGHTS, AlignerConfig, PhoneModel,
                    check_audio, mel_filterbank, num_frames)
from .prompts import (WRONG_TEXTS, align_asterisk, align_prompts, rank_transcripts,
                      transcript_margins)
from .training import TrainConfig, train_aligner

__all__ = [
    "CHECKPOINT_VERSION", "DEFAULT_WEIGHTS", "EXTRA_TRAIN_VOICES", "FRAME_S", "HELDOUT_VOICES",
    "INVENTORY", "IPA_VOICE", "PHONEMISER_VOICE", "TRAIN_VOICES", "WRONG_TEXTS", "Aligner",
    "AlignerConfig", "Alignment", "PhoneModel", "TrainConfig", "align_asterisk",
    "align_prompts", "boundary_errors", "check_audio", "english_split", "evaluate_english",
    "evaluate_heldout", "frames_to_segments", "matched_boundary_errors", "mel_filterbank",
    "num_frames", "parse_pho", "phonemize", "rank_transcripts", "segments_to_frames",
    "speakable", "synth_set",
    "synth_utterance", "train_aligner", "transcript_margins", "viterbi", "words_of",
]


def _main(argv: list[str]) -> None:
    import json
    cmd = argv[0] if argv else "eval"
    if cmd == "train":
        train_aligner()
        return
    aligner = Aligner()
    if cmd == "eval":
        print(json.dumps(evaluate_heldout(aligner), indent=1))
    elif cmd == "english":
        print(json.dumps(evaluate_english(aligner), indent=1))
    elif cmd == "asterisk":
        _, rep = align_asterisk(argv[1] if len(argv) > 1 else None)
        print(json.dumps(rep, indent=1))
    else:
        raise SystemExit(f"unknown command {cmd!r}: expected train, eval, english or asterisk")


