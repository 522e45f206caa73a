"""Training and evaluation data for the phone model: which voices, synthetic utterances with
exact timing (through synth.py), frame labels and augmented copies, random training crops,
and the halves of the English Asterisk prompts.

Shapes: S samples at vocab.SAMPLE_RATE, T frames at vocab.INTERNAL_FPS, B batch.
"""
from __future__ import annotations

import numpy as np

from .... import vocab
from ...phonemes import PHONE_INDEX, SILENCE
from ..types import Utterance
from .alignment import segments_to_frames
from .model import _torch

# Synthetic voices: language -> MBROLA voices to train on, and those held out for validation.
TRAIN_VOICES: dict[str, tuple[str, ...]] = {
    "es": ("mb-es1", "mb-mx1", "mb-vz1"),
    "fr": ("mb-fr1", "mb-fr2", "mb-fr4", "mb-fr6", "mb-ca1"),
    "it": ("mb-it1", "mb-it2", "mb-it3"),
    "en": ("mb-us1", "mb-us2", "mb-en1"),
    "de": ("mb-de2", "mb-de4"), "pl": ("mb-pl1",), "cs": ("mb-cz2",), "hr": ("mb-cr1",),
    "ro": ("mb-ro1",), "pt": ("mb-br1",), "nl": ("mb-nl2",),
}
# Natural-sounding English voices with exact timing (synth.py), trained on as well.
EXTRA_TRAIN_VOICES: dict[str, tuple[str, ...]] = {
    "en": ("flite-slt", "flite-rms", "flite-awb", "festival-slt-hts"),
}
HELDOUT_VOICES: dict[str, tuple[str, ...]] = {
    "es": ("mb-es2", "mb-mx2"), "fr": ("mb-fr7", "mb-ca2"), "it": ("mb-it4",),
    "en": ("mb-us3",),
}


def synth_utterance(voice: str, text: str, speed: float = 1.0,
                    pitch: float = 1.0) -> Utterance | None:
    """`synth.synthesize` reading `text` with exact timing, or None when the engine fails or
    MBROLA lacks a diphone the text needs (it would put silence where the labels say speech).
    speed scales the speaking rate, pitch the F0."""
    from ..synth import synthesize
    try:
        u = synthesize(voice, text, rate=speed, pitch=pitch)
    except (RuntimeError, ValueError):  # SynthesisError is a RuntimeError
        return None
    return None if u.meta.get("missing_diphones") else u


def _synth_job(job):
    voice, texts_, speeds, pitches, per_voice = job
    out = []
    for text, sp, pi in zip(texts_, speeds, pitches):
        u = synth_utterance(voice, text, sp, pi)
        if u is not None and u.duration < 12.0:
            out.append(u)
            if len(out) == per_voice:
                break
    return out


def synth_set(voices: dict[str, tuple[str, ...]], per_voice: int, seed: int,
              sentence_offset: int = 0, workers: int = 2) -> list[Utterance]:
    """Up to `per_voice` utterances for each voice: sentences from texts.sentences(language),
    speed 0.75-1.35 and pitch 0.8-1.25 drawn with `seed`. Sentences that need a diphone the
    database lacks are skipped (up to 3x per_voice are tried)."""
    from .. import texts
    rng = np.random.default_rng(seed)
    jobs = []
    for lang, vs in voices.items():
        pool = texts.sentences(lang, None, seed=seed)
        for vi, voice in enumerate(vs):
            n = per_voice * 3
            start = sentence_offset + vi * n
            jobs.append((voice, [pool[(start + k) % len(pool)] for k in range(n)],
                         rng.uniform(0.75, 1.35, n).tolist(), rng.uniform(0.8, 1.25, n).tolist(),
                         per_voice))
    if workers > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(workers) as p:
            parts = p.map(_synth_job, jobs, chunksize=1)
    else:
        parts = [_synth_job(j) for j in jobs]
    return [u for part in parts for u in part]


# ---- training ----------------------------------------------------------------------------------

def _labelled(utts: list[Utterance], augment: bool, seed: int, copies: int):
    """[(audio S float32, labels T int64)]: clean, plus `copies` augmented versions each."""
    from ..augment import AugmentConfig, Augmenter
    aug = Augmenter(AugmentConfig(p_noise=0.5, snr_db=(5.0, 40.0), p_reverb=0.3, p_eq=0.5,
                                  p_telephone=0.1, p_narrowband=0.15, p_resample=0.1,
                                  p_clip=0.03, p_quantize=0.05))
    rng = np.random.default_rng(seed)
    out = []
    for u in utts:
        labels = segments_to_frames(u.phones, u.num_frames())
        out.append((u.audio, labels))
        if augment:
            for _ in range(copies):
                out.append((aug(u.audio, rng).audio, labels))
    return out


def _batch(data, idx, crop: int, rng):
    """Random crops of `crop` frames (shorter items padded with quiet noise labelled sil)."""
    torch = _torch()
    hop = vocab.HOP_SAMPLES
    xs = np.zeros((len(idx), crop * hop), dtype=np.float32)
    ys = np.full((len(idx), crop), PHONE_INDEX[SILENCE], dtype=np.int64)
    for b, i in enumerate(idx):
        audio, labels = data[i]
        T = len(labels)
        if T > crop:
            t0 = int(rng.integers(0, T - crop + 1))
            seg = audio[t0 * hop:(t0 + crop) * hop]
            xs[b, :seg.size] = seg
            ys[b] = labels[t0:t0 + crop]
        else:
            off = int(rng.integers(0, crop - T + 1))
            xs[b] = rng.normal(0, 10 ** rng.uniform(-5, -3), crop * hop)
            xs[b, off * hop:off * hop + audio.size] += audio
            ys[b, off:off + T] = labels
        xs[b] *= 10 ** rng.uniform(-1.0, 0.3)
    return torch.from_numpy(xs), torch.from_numpy(ys)




def english_split(part: str, sphinx_utts: list[Utterance] | None = None) -> list[Utterance]:
    """The English Asterisk prompts pocketsphinx aligns, split in two halves by a hash of the
    prompt id: "train" (the aligner may learn from them) or "heldout" (for evaluation)."""
    import zlib
    if part not in ("train", "heldout"):
        raise ValueError(f"part must be 'train' or 'heldout', got {part!r}")
    from ..align_sphinx import align_prompts
    from ..asterisk import list_prompts

    def is_train(pid: str) -> bool:
        return zlib.crc32(pid.encode()) % 2 == 0

    if sphinx_utts is not None:
        return [u for u in sphinx_utts if is_train(u.uid.split("/en/", 1)[1]) == (part == "train")]
    prompts = [p for p in list_prompts("en") if is_train(p.id) == (part == "train")]
    return align_prompts(prompts)[0]

