"""Test signals for the benchmarks and the detector of the first frame that responds to one.

The onset signal is silence then a synthetic vowel: a glottal pulse train through three
formant resonators (an open /a/), switched on at once so the onset is a single sample.
"""
from __future__ import annotations

import numpy as np

from .. import vocab

SAMPLE_RATE = vocab.SAMPLE_RATE
VOWEL_A = ((730.0, 80.0), (1090.0, 90.0), (2440.0, 120.0))  # /a/ formants (Hz, bandwidth Hz)
RESPONSE_FRACTION = 0.1  # a frame "responds" once it is this far towards the burst's peak
PEAK_LEVEL = 0.5  # full scale = 1


def vowel(seconds: float, f0: float = 120.0, formants=VOWEL_A) -> np.ndarray:
    """A sustained synthetic vowel, S float32 peaking at PEAK_LEVEL, starting at full level."""
    from scipy.signal import lfilter
    n = int(round(seconds * SAMPLE_RATE))
    pulses = np.zeros(n)
    period = SAMPLE_RATE / f0
    pulses[np.round(np.arange(0, n, period)).astype(int).clip(0, n - 1)] = 1.0
    y = lfilter([1.0], [1.0, -0.95], pulses)  # glottal spectral tilt
    for freq, bw in formants:
        r = np.exp(-np.pi * bw / SAMPLE_RATE)
        theta = 2 * np.pi * freq / SAMPLE_RATE
        y = lfilter([1.0 - r], [1.0, -2 * r * np.cos(theta), r * r], y)
    return (y / np.abs(y).max() * PEAK_LEVEL).astype(np.float32)


def onset_signal(silence_s: float, burst_s: float, tail_s: float = 0.3) -> tuple[np.ndarray, int]:
    """Silence, a vowel burst, silence. -> (S float32, onset sample index)."""
    lead = np.zeros(int(round(silence_s * SAMPLE_RATE)), np.float32)
    tail = np.zeros(int(round(tail_s * SAMPLE_RATE)), np.float32)
    return np.concatenate([lead, vowel(burst_s), tail]), len(lead)


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Alternating vowel bursts and quiet noise (S float32): a stand-in for speech whose
    content does not change the compute, only keeps the model's states realistic."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * SAMPLE_RATE))
    out = (0.003 * rng.standard_normal(n)).astype(np.float32)
    burst = vowel(0.25)
    for start in range(0, n, int(0.4 * SAMPLE_RATE)):
        seg = burst[: n - start]
        out[start:start + len(seg)] += seg
    return out


def first_response(arkit: np.ndarray, baseline: np.ndarray, after: np.ndarray,
                   fraction: float = RESPONSE_FRACTION) -> int | None:
    """Index of the first frame, among those flagged `after`, whose ARKit weights moved
    `fraction` of the way from the silent face to the largest excursion after it.

    arkit T x K; baseline T bool (frames of the silent face); after T bool (candidates)."""
    if not baseline.any() or not after.any():
        return None
    rest = arkit[baseline].mean(axis=0)
    dev = np.abs(arkit - rest).max(axis=1)  # T
    peak = dev[after].max()
    if peak <= 1e-4:  # the face never moved: no response to find
        return None
    hits = np.nonzero(after & (dev >= fraction * peak))[0]
    return int(hits[0]) if hits.size else None
