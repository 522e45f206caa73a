"""The records every part of the corpus pipeline passes around.

An `Utterance` is speech with exact (or aligned) phone timing, before any face targets;
`Targets` are the per-frame face targets the articulation rig and the emotion layer make
for it, at vocab.INTERNAL_FPS (100 fps: frame t covers audio [t*HOP, (t+1)*HOP) samples).
Shapes: S samples, T frames, K = 52 ARKit weights, E = 7 emotions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ... import vocab


@dataclass
class PhoneSeg:
    start: float  # seconds from the start of the audio
    end: float  # seconds; segments are contiguous and cover [0, duration]
    phone: str  # a symbol of facestream.training.phonemes.INVENTORY
    stress: int | None = None  # vowels: lexical stress 1 primary, 2 secondary, 0 none; None unknown


@dataclass
class Utterance:
    uid: str  # unique and stable, e.g. "mbrola/mb-us1/en/000123/r1.10-p0.95"
    audio: np.ndarray  # S float32 mono at vocab.SAMPLE_RATE, peak <= 1
    phones: list[PhoneSeg]
    source: str  # "mbrola" | "flite" | "festival" | "asterisk" | "espeak" ...
    voice: str  # e.g. "mb-us1", "flite-rms", "asterisk-en"
    language: str  # ISO 639-1 of the text, e.g. "en"
    text: str
    meta: dict = field(default_factory=dict)  # rate/pitch/quality settings, alignment score...

    @property
    def duration(self) -> float:
        return len(self.audio) / vocab.SAMPLE_RATE

    def num_frames(self) -> int:
        """T: frames at vocab.INTERNAL_FPS covering the audio (the last one may be partial)."""
        return -(-len(self.audio) // vocab.HOP_SAMPLES)


@dataclass
class Targets:
    arkit: np.ndarray  # T x K float32 in [0, 1]
    jaw: np.ndarray  # T x 3 float32 axis-angle (radians); pitch = jawOpen * JAW_OPEN_MAX_RAD
    neck: np.ndarray  # T x 3 float32 axis-angle
    emotion: np.ndarray  # T x E float32 weights summing to 1
    intensity: np.ndarray  # T float32 in [0, 1]
    phone_ids: np.ndarray  # T int16 indices into phonemes.INVENTORY (the phone at frame centre)
