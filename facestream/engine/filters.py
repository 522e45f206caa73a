"""Small causal signal filters the stream uses: One Euro smoothing and vocal arousal."""
from __future__ import annotations

import math

import numpy as np

from .. import vocab


class OneEuroFilter:
    """The One Euro filter (Casiez, Roussel & Vogel, CHI 2012) over vectors, causal.

    Low cutoff when the signal is still (kills jitter), rising with its speed (keeps lag low).
    x: D per call at a fixed rate (Hz)."""

    def __init__(self, rate: float, min_cutoff: float = 3.0, beta: float = 0.3, d_cutoff: float = 1.0):
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = rate, min_cutoff, beta, d_cutoff
        self.x = self.dx = None

    @staticmethod
    def _alpha(cutoff, rate):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * rate)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x
        dx = (x - self.x) * self.rate
        a_d = self._alpha(self.d_cutoff, self.rate)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = 1.0 / (1.0 + self.rate / (2 * np.pi * cutoff))
        self.x = a * x + (1 - a) * self.x
        return self.x.copy()

    def reset(self) -> None:
        self.x = self.dx = None


class ArousalTracker:
    """A causal estimate of vocal arousal in [0, 1] from loudness and pitch, per 10 ms hop.

    Loudness: frame level in dB relative to a slowly adapting speech-level estimate. Pitch:
    autocorrelation F0 (70-400 Hz) relative to the speaker's running median. Both are mapped
    through a logistic and smoothed (about 1 s), so intensity follows how animated the voice
    is, not every syllable."""

    def __init__(self, smooth_s: float = 1.0):
        self.hist = np.zeros(480, np.float32)  # 30 ms of audio for the pitch window
        self.level = -30.0  # running speech level (dB)
        self.f0_ref = 0.0  # running reference F0 (Hz)
        self.value = 0.5
        self.a = 1.0 / (smooth_s * vocab.INTERNAL_FPS)

    def update(self, hop: np.ndarray) -> float:
        """hop: HOP_SAMPLES float32 -> the current arousal estimate."""
        self.hist = np.concatenate([self.hist[len(hop):], hop])
        db = 10 * np.log10(np.mean(hop**2) + 1e-10)
        if db < -55:  # silence: hold the estimate, let it relax slowly
            self.value += 0.2 * self.a * (0.5 - self.value)
            return float(self.value)
        self.level += 0.01 * (db - self.level)
        f0 = self._pitch(self.hist)
        pitch_term = 0.0
        if f0 > 0:
            self.f0_ref = f0 if self.f0_ref == 0 else self.f0_ref + 0.01 * (f0 - self.f0_ref)
            pitch_term = 12 * math.log2(f0 / self.f0_ref) / 4.0  # semitones / 4
        z = (db - self.level) / 6.0 + pitch_term
        target = 1.0 / (1.0 + math.exp(-z))
        self.value += self.a * (target - self.value)
        return float(self.value)

    @staticmethod
    def _pitch(x: np.ndarray) -> float:
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[len(x) - 1:]
        lo, hi = vocab.SAMPLE_RATE // 400, vocab.SAMPLE_RATE // 70
        if ac[0] <= 0 or hi >= len(ac):
            return 0.0
        lag = lo + int(np.argmax(ac[lo:hi]))
        return vocab.SAMPLE_RATE / lag if ac[lag] / ac[0] > 0.35 else 0.0
