"""Audio constants and pure numpy helpers shared by the model frontend, training and runtime.

The log-mel frontend itself lives inside the network (facestream.training.network) so that
exported models take raw PCM; its filterbank and window are computed here, once.
"""
from __future__ import annotations

import numpy as np

from . import vocab

WIN_SAMPLES = 400  # 25 ms analysis window
N_FFT = 512  # DFT size (window zero-padded)
# A frame's window ends where its hop ends, so frame t sees samples up to (t+1)*HOP: the
# frontend is causal and keeps WIN - HOP samples of context between chunks.
CONTEXT_SAMPLES = WIN_SAMPLES - vocab.HOP_SAMPLES  # 240
if CONTEXT_SAMPLES < 0:
    raise AssertionError("the analysis window must be at least one hop long")


def hz_to_mel(f):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int = N_FFT, sample_rate: int = vocab.SAMPLE_RATE,
                   fmin: float = 40.0, fmax: float | None = None,
                   norm: str = "slaney") -> np.ndarray:
    """Triangular HTK-mel filters -> n_mels x (n_fft // 2 + 1) float32.

    norm: "slaney" scales each filter by 2 / its width in Hz (the face model's frontend);
    "sum" makes each filter's weights sum to 1 (the phone aligner's frontend)."""
    if norm not in ("slaney", "sum"):
        raise ValueError(f"mel_filterbank norm={norm!r}: expected 'slaney' or 'sum'")
    fmax = sample_rate / 2 if fmax is None else fmax
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    fb = np.maximum(0.0, np.minimum(up, down))
    if norm == "sum":
        fb = fb / np.maximum(fb.sum(1, keepdims=True), 1e-9)
    else:
        fb *= (2.0 / (hi - lo))
    return fb.astype(np.float32)


def hann_window(n: int = WIN_SAMPLES) -> np.ndarray:
    """Periodic Hann window, n float32."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def to_mono_float32(samples, what: str = "audio") -> np.ndarray:
    """int16 / float32 / float64 PCM, mono (S,) or multi-channel (S, C) -> (S,) float32.

    Integer PCM is scaled to [-1, 1); channels are averaged. NaN or infinity is an error.
    """
    x = np.asarray(samples)
    if x.ndim not in (1, 2):
        raise ValueError(f"{what} must be (samples,) or (samples, channels); got shape {x.shape}")
    if x.dtype == np.uint8:  # 8-bit PCM (as in WAV) is unsigned, centred on 128
        x = (x.astype(np.float32) - 128.0) / 128.0
    elif x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        x = x.astype(np.float32) / float(-info.min if info.min < 0 else info.max)
    elif x.dtype.kind == "f":
        x = x.astype(np.float32, copy=False)
    else:
        raise ValueError(f"{what}: unsupported sample type {x.dtype}: use int16 or float32 PCM")
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinity: clean the signal before sending it")
    return x
