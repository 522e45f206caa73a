"""The expressive layer: emotion, blinks and head motion on top of the articulation rig.

`make_targets` turns one `Utterance` into its `Targets`: the rig's speech articulation
(`rig.articulate`), an emotion track that changes inside the utterance (`emotion_track`),
fused with the speech so that each emotion also changes how one speaks (`apply_emotion`,
after engine.emotion.EMOTION_ARTICULATION) while the lip contacts still hold, natural
blinks (`blink_track`) and small head motion that follows the prosody (`neck_track`).

docs/rig.md gives the models and their sources. Shapes: T frames, K = 52 ARKit weights,
E = 7 emotions, S samples.
"""
from __future__ import annotations

import numpy as np

from ... import vocab
from ...engine import expressive as _engine
from ...engine.expressive import (  # noqa: F401  (the corpus' blink model is the engine's)
    BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S, BLINK_RATE_PER_MIN, BLINK_REFRACTORY_S,
    DOUBLE_BLINK_P, emotion_weights, frames_track, add_blinks, blink_track)
from .rig import ArticulationStyle, articulate, enforce_contacts, syllable_prominence
from .types import Targets, Utterance

_K = vocab.ARKIT_INDEX


def apply_emotion(arkit: np.ndarray, jaw_open: np.ndarray, emotion, intensity,
                  closure: np.ndarray | None = None,
                  labiodental: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """engine.expressive.apply_emotion with this rig's lip contacts (rig.enforce_contacts)."""
    return _engine.apply_emotion(arkit, jaw_open, emotion, intensity, closure, labiodental,
                                 contacts=enforce_contacts)


# ---- emotion tracks ------------------------------------------------------------------------
def _random_state(rng: np.random.Generator, p_mixture: float, p_neutral: float,
                  intensity: tuple[float, float]) -> tuple[np.ndarray, float]:
    """One emotion state: (E weights summing to 1, intensity)."""
    w = np.zeros(vocab.NUM_EMOTIONS, np.float32)
    u = rng.random()
    if u < p_neutral:
        w[0] = 1.0
    elif u < p_neutral + p_mixture:
        a, b = rng.choice(np.arange(1, vocab.NUM_EMOTIONS), size=2, replace=False)
        share = rng.uniform(0.2, 0.8)
        w[a], w[b] = share, 1.0 - share
    else:
        w[rng.integers(1, vocab.NUM_EMOTIONS)] = 1.0
    return w, float(rng.uniform(*intensity))


MIN_INTENSITY_STEP = 0.15  # an intensity-only change moves at least this much


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def emotion_track(n_frames: int, rng: np.random.Generator, fps: int = vocab.INTERNAL_FPS,
                  p_constant: float = 0.25, p_mixture: float = 0.2, p_neutral: float = 0.2,
                  p_intensity_only: float = 0.3, hold: tuple[float, float] = (0.3, 2.0),
                  transition: tuple[float, float] = (0.15, 0.8),
                  intensity: tuple[float, float] = (0.2, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """A random emotion control track for one utterance, as a user would drive it live.

    Returns (T x E weights summing to 1 in every frame, T intensities in [0, 1]). With
    probability p_constant the state holds throughout; otherwise states (one emotion, a
    mixture of two with probability p_mixture, or neutral) hold for `hold` seconds and
    cross-fade over `transition` seconds; with probability p_intensity_only a change keeps
    the (non-neutral) emotion and moves only the intensity, by at least MIN_INTENSITY_STEP.
    A changing track changes at least once inside the utterance (holds shrink on short
    utterances)."""
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    weights = np.zeros((n_frames, vocab.NUM_EMOTIONS), np.float32)
    inten = np.zeros(n_frames, np.float32)
    w0, i0 = _random_state(rng, p_mixture, p_neutral, intensity)
    if rng.random() < p_constant or n_frames < 2:
        weights[:] = w0
        inten[:] = i0
        return weights, inten
    duration = n_frames / fps
    t = (np.arange(n_frames) + 0.5) / fps
    # Holds are drawn no longer than 40% of the utterance so something changes in it.
    max_hold = min(hold[1], 0.4 * duration)
    min_hold = min(hold[0], max_hold)
    weights[:], inten[:] = w0, i0
    clock = rng.uniform(min_hold, max_hold)
    while clock < duration:
        if w0[0] < 1.0 and rng.random() < p_intensity_only:
            w1, i1 = w0, i0
            while abs(i1 - i0) < MIN_INTENSITY_STEP:
                i1 = float(rng.uniform(*intensity))
        else:
            w1, i1 = w0, i0
            while np.allclose(w1, w0):
                w1, i1 = _random_state(rng, p_mixture, p_neutral, intensity)
        fade = rng.uniform(*transition)
        x = _smoothstep((t - clock) / fade)[:, None]  # T x 1: 0 before, 1 after the fade
        after = t >= clock
        weights[after] = ((1 - x) * w0 + x * w1)[after]
        inten[after] = ((1 - x[:, 0]) * i0 + x[:, 0] * i1)[after]
        w0, i0 = w1, i1
        clock += fade + rng.uniform(min_hold, max_hold)
    weights /= weights.sum(1, keepdims=True)
    return weights, np.clip(inten, 0.0, 1.0)


# ---- head motion ----------------------------------------------------------------------------
NECK_MAX_DEG = (5.0, 4.0, 2.5)  # pitch (nod), yaw (turn), roll (tilt) soft limits
NOD_DEG = (0.8, 2.5)  # nod amplitude at a fully loud stressed syllable
NOD_P = 0.6  # chance that a stressed syllable gets a nod
NOD_SPACING_S = 0.4  # at most one stressed syllable in this window
NOD_LENGTH_S = (0.3, 0.45)  # a nod's down-and-up
F0_PITCH_DEG = 0.8  # head rises this much per standard deviation of log F0
PROSODY_LAG_S = 0.15  # the head follows the prosody through a causal low-pass


def prosody(audio: np.ndarray | None, n_frames: int, fps: int = vocab.INTERNAL_FPS,
            sample_rate: int = vocab.SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Loudness and pitch envelopes per frame: (T loudness in [0, 1], T log-F0 z-scores, 0
    where unvoiced). Loudness maps 30 dB below the utterance's 95th percentile to 0; F0 is
    read off the normalised autocorrelation of 40 ms windows (70-400 Hz)."""
    if audio is None:
        return np.zeros(n_frames, np.float32), np.zeros(n_frames, np.float32)
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    hop = sample_rate // fps
    win = int(0.04 * sample_rate)
    pad = np.pad(x, (win // 2, win + n_frames * hop))
    idx = np.arange(n_frames)[:, None] * hop + np.arange(win)[None, :]  # T x W
    frames = pad[idx] * np.hanning(win).astype(np.float32)  # T x W
    rms = np.sqrt((frames ** 2).mean(1) + 1e-12)
    db = 20 * np.log10(rms + 1e-6)
    ref = np.percentile(db, 95) if n_frames else 0.0
    loud = np.clip((db - ref + 30.0) / 30.0, 0.0, 1.0)
    spec = np.fft.rfft(frames, n=2 * win, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :win]  # T x W
    ac = ac / np.maximum(ac[:, :1], 1e-12)
    lo, hi = sample_rate // 400, sample_rate // 70
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    peak = ac[np.arange(n_frames), lag]
    voiced = (peak > 0.45) & (loud > 0.4)
    logf0 = np.log(sample_rate / lag)
    z = np.zeros(n_frames, np.float32)
    if voiced.sum() > 2:
        v = logf0[voiced]
        z[voiced] = (v - v.mean()) / max(v.std(), 1e-3)
    return loud.astype(np.float32), np.clip(z, -3, 3)


def _causal_lowpass(x: np.ndarray, tau: float, fps: int) -> np.ndarray:
    """One-pole low-pass: the output lags the input by about tau seconds."""
    a = np.exp(-1.0 / (tau * fps))
    from scipy.signal import lfilter
    return lfilter([1 - a], [1, -a], x, axis=0)


def _ou(n: int, rng: np.random.Generator, sigma: float, tau: float, fps: int) -> np.ndarray:
    """An Ornstein-Uhlenbeck drift (n,), stationary with std sigma and time constant tau."""
    from scipy.signal import lfilter
    a = np.exp(-1.0 / (tau * fps))
    noise = rng.normal(0.0, sigma * np.sqrt(1 - a * a), n)
    start = rng.normal(0.0, sigma)
    return lfilter([1.0], [1.0, -a], noise, zi=[a * start])[0]


def neck_track(audio: np.ndarray | None, n_frames: int, rng: np.random.Generator,
               fps: int = vocab.INTERNAL_FPS, sample_rate: int = vocab.SAMPLE_RATE,
               tracks: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Small head motion from the prosody -> T x 3 neck axis-angle (radians).

    Pitch (x; positive nods down) rises with F0 and dips in nods at stressed syllables
    (the loudest syllable within NOD_SPACING_S, nodded with probability NOD_P: the head
    starts down 80 ms before the loudness peak and is lowest 70-150 ms after it);
    yaw (y) and roll (z) drift slowly, more while speaking. All follow the prosody through
    a causal low-pass (the head lags the voice) and stay within NECK_MAX_DEG. tracks: the
    audio's `prosody` when the caller already has it (audio is then not read)."""
    loud, f0z = tracks if tracks is not None else prosody(audio, n_frames, fps, sample_rate)
    out = np.zeros((n_frames, 3))
    if n_frames == 0:
        return out.astype(np.float32)
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d
    env = gaussian_filter1d(loud.astype(np.float64), 4.0)  # sigma 40 ms
    # Stressed syllables: the loudest point within NOD_SPACING_S, and loud.
    peaks = np.flatnonzero((env == maximum_filter1d(env, int(NOD_SPACING_S * fps) | 1))
                           & (env > 0.6) & (env > np.roll(env, 1)))
    t = np.arange(n_frames) / fps
    nod = np.zeros(n_frames)
    for p in peaks:
        if rng.random() >= NOD_P:
            continue
        amp = np.radians(rng.uniform(*NOD_DEG)) * env[p]
        onset, length = p / fps - 0.08, rng.uniform(*NOD_LENGTH_S)
        u = np.clip((t - onset) / length, 0.0, 1.0)
        nod += amp * np.sin(np.pi * u) ** 2  # down and back up
    talking = _causal_lowpass(env, 0.5, fps)
    pitch = -np.radians(F0_PITCH_DEG) * _causal_lowpass(f0z * (f0z != 0), PROSODY_LAG_S, fps)
    out[:, 0] = pitch + nod + _ou(n_frames, rng, np.radians(0.8), 1.5, fps)
    out[:, 1] = _ou(n_frames, rng, np.radians(1.5), 1.2, fps) * (0.5 + 0.5 * talking)
    out[:, 2] = _ou(n_frames, rng, np.radians(0.7), 1.5, fps) * (0.6 + 0.4 * talking)
    limit = np.radians(np.asarray(NECK_MAX_DEG))
    return (limit * np.tanh(out / limit)).astype(np.float32)


# ---- everything together ------------------------------------------------------------------
def make_targets(utterance: Utterance, rng: np.random.Generator,
                 style: ArticulationStyle | None = None, emotion=None) -> Targets:
    """An utterance's face targets at vocab.INTERNAL_FPS, everything composed and clipped.

    style: the speaker (default: ArticulationStyle.sample(rng)); emotion: None for a random
    changing track (`emotion_track`), a name/code/index/mixture held throughout at an
    intensity drawn from [0.3, 1], or a pair (weights E or T x E, intensity scalar or T)."""
    n = utterance.num_frames()
    style = style if style is not None else ArticulationStyle.sample(rng)
    loud, f0z = prosody(utterance.audio, n)
    art = articulate(utterance.phones, n, style, rng,
                     prominence=syllable_prominence(utterance.phones, loud, f0z))
    if emotion is None:
        weights, inten = emotion_track(n, rng)
    elif isinstance(emotion, tuple):
        weights = emotion_weights(emotion[0], n)
        inten = frames_track(emotion[1], n, None, "intensity")
    else:
        weights = emotion_weights(emotion, n)
        inten = np.full(n, rng.uniform(0.3, 1.0), np.float32)
    arkit, _ = apply_emotion(art.free, art.free[:, _K["jawOpen"]], weights, inten,
                             closure=art.closure, labiodental=art.labiodental)
    arkit = np.clip(add_blinks(arkit, blink_track(n, rng)), 0.0, 1.0).astype(np.float32)
    return Targets(
        arkit=arkit,
        jaw=vocab.jaw_open_to_pose(arkit[:, _K["jawOpen"]]),
        neck=neck_track(utterance.audio, n, rng, tracks=(loud, f0z)),
        emotion=weights.astype(np.float32),
        intensity=np.clip(inten, 0.0, 1.0).astype(np.float32),
        phone_ids=art.phone_ids,
    )
