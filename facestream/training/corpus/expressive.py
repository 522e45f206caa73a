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
from ...engine.emotion import EMOTION_ARKIT, EMOTION_GAINS, emotion_vector
from .rig import ArticulationStyle, articulate, enforce_contacts, syllable_prominence
from .types import Targets, Utterance

_K = vocab.ARKIT_INDEX


def _idx(*names: str) -> list[int]:
    return [_K[n] for n in names]


# Speech shapes each articulation gain of engine.emotion.ARTICULATION_GROUPS scales.
_GAIN_SHAPES = {
    "lips": _idx("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft",
                 "mouthLowerDownRight"),
    "round": _idx("mouthPucker", "mouthFunnel"),
    "spread": _idx("mouthStretchLeft", "mouthStretchRight"),
}
# Expression shapes that pull the lip corners sideways: they give way to speech rounding.
_CORNER_PULLERS = _idx("mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft",
                       "mouthStretchRight", "mouthDimpleLeft", "mouthDimpleRight")
ROUNDING_YIELD = 0.6  # how far a fully rounded vowel cancels a smile or a stretch
# Expression shapes that push the lips together (AU17, AU24, AU28) give way while the speech
# opens the mouth, by up to CLOSER_YIELD; a smile, which also narrows the lip opening on
# this head, is offset by lowering the lower lip SMILE_OPENING per unit of smile.
_LIP_CLOSERS = _idx("mouthShrugLower", "mouthPressLeft", "mouthPressRight",
                    "mouthRollLower", "mouthRollUpper")
_SMILES = _idx("mouthSmileLeft", "mouthSmileRight")
_LOWER_DOWN = _idx("mouthLowerDownLeft", "mouthLowerDownRight")
CLOSER_YIELD = 0.8
SMILE_OPENING = 0.6
SPEECH_OPEN_AT = 0.05  # jawOpen (plus half the lip raise/lower) at which speech is "open"
_PRESS = _idx("mouthPressLeft", "mouthPressRight")
_BLINK = _idx("eyeBlinkLeft", "eyeBlinkRight")
_WIDE = _idx("eyeWideLeft", "eyeWideRight")


# ---- emotion ------------------------------------------------------------------------------
def _frames_track(x, n_frames: int, width: int | None, what: str) -> np.ndarray:
    """Broadcast a constant or a per-frame value to T (width None) or T x width."""
    a = np.asarray(x, dtype=np.float32)
    want = (n_frames,) if width is None else (n_frames, width)
    if a.shape == want:
        return a
    try:
        return np.broadcast_to(a, want).copy()
    except ValueError:
        raise ValueError(f"{what}: expected shape {want} or one value for all frames, got "
                         f"{a.shape}") from None


def _emotion_weights(emotion, n_frames: int) -> np.ndarray:
    """A name, code, index, mixture dict, E weights or T x E weights -> T x E."""
    if isinstance(emotion, np.ndarray) and emotion.ndim == 2:
        w = _frames_track(emotion, n_frames, vocab.NUM_EMOTIONS, "emotion")
        if (w < 0).any() or not np.allclose(w.sum(1), 1.0, atol=1e-3):
            raise ValueError("per-frame emotion weights must be non-negative and sum to 1 "
                             "in every frame")
        return w
    return np.broadcast_to(emotion_vector(emotion), (n_frames, vocab.NUM_EMOTIONS)).copy()


def apply_emotion(arkit: np.ndarray, jaw_open: np.ndarray, emotion, intensity,
                  closure: np.ndarray | None = None,
                  labiodental: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fuse speech articulation with an emotion.

    arkit: T x K speech weights, best taken before the lip contacts are imposed
    (rig.Articulation.free; weights with contacts already imposed work too, their ramps
    just come out a little steeper); its jawOpen column is replaced by jaw_open: T speech
    jaw opening. emotion: a name/code/index/mixture for all frames, or T x E weights;
    intensity: a scalar or T values in [0, 1]; closure, labiodental: T lip-contact
    strengths from the rig (rig.Articulation.closure / .labiodental), None for none.
    Returns (T x K, T): the fused weights in [0, 1] and their jawOpen column.

    The emotion first rescales the speech (engine.emotion.EMOTION_ARTICULATION: a smile
    spreads the lips and damps rounding, sadness damps the jaw, anger and surprise open it
    more), then its expression (EMOTION_ARKIT) is added: the jaw as 1 - (1-s)(1-e), the
    rest summed. Where they fight, speech wins: smile and stretch give way to rounding,
    lip pressing and the chin raiser give way while the mouth is open, and a smile parts
    the lips further while speaking (it would otherwise close them on this head). Contacts
    are imposed last, so the lips still meet at every bilabial (harder in anger) and touch
    the teeth at every labiodental."""
    speech = np.array(arkit, dtype=np.float32, copy=True)
    if speech.ndim != 2 or speech.shape[1] != vocab.NUM_ARKIT:
        raise ValueError(f"arkit must be T x {vocab.NUM_ARKIT}, got {speech.shape}")
    n = speech.shape[0]
    jaw = _frames_track(jaw_open, n, None, "jaw_open")
    w = _emotion_weights(emotion, n)  # T x E
    inten = _frames_track(intensity, n, None, "intensity")
    if not np.isfinite(inten).all() or (inten < 0).any() or (inten > 1).any():
        raise ValueError("intensity must lie within [0, 1] in every frame")
    we = w * inten[:, None]  # T x E: each emotion's share at its intensity
    gains = 1.0 + we @ (EMOTION_GAINS[:, :4] - 1.0)  # T x 4: jaw, lips, round, spread
    press_add = we @ EMOTION_GAINS[:, 4]  # T
    speech[:, _K["jawOpen"]] = jaw * gains[:, 0]
    for col, group in enumerate(("lips", "round", "spread"), start=1):
        speech[:, _GAIN_SHAPES[group]] *= gains[:, col : col + 1]
    speech = np.clip(speech, 0.0, 1.0)

    expr = we @ EMOTION_ARKIT  # T x K
    rounding = np.clip(speech[:, _GAIN_SHAPES["round"]].sum(1), 0.0, 1.0)  # T
    expr[:, _CORNER_PULLERS] *= (1.0 - ROUNDING_YIELD * rounding)[:, None]
    lips = speech[:, _GAIN_SHAPES["lips"]].mean(1)
    opening = np.clip((speech[:, _K["jawOpen"]] + 0.5 * lips) / SPEECH_OPEN_AT, 0.0, 1.0)
    expr[:, _LIP_CLOSERS] *= (1.0 - CLOSER_YIELD * opening)[:, None]
    expr[:, _LOWER_DOWN] += SMILE_OPENING * expr[:, _SMILES] * opening[:, None]
    out = speech + expr
    j = _K["jawOpen"]
    out[:, j] = 1.0 - (1.0 - speech[:, j]) * (1.0 - np.clip(expr[:, j], 0.0, 1.0))
    out = np.clip(out, 0.0, 1.0)
    if closure is not None or labiodental is not None:
        c = (np.zeros(n, np.float32) if closure is None
             else _frames_track(closure, n, None, "closure"))
        f = None if labiodental is None else _frames_track(labiodental, n, None, "labiodental")
        out[:, _PRESS] += (c * press_add)[:, None]
        out = enforce_contacts(np.clip(out, 0.0, 1.0), c, f)
    return out, out[:, j].copy()


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


# ---- blinks -------------------------------------------------------------------------------
BLINK_RATE_PER_MIN = (15.0, 20.0)  # spontaneous blinks while talking
BLINK_CLOSE_S = (0.035, 0.055)  # lid closing (fast)
BLINK_HOLD_S = (0.0, 0.02)  # fully closed
BLINK_OPEN_S = (0.065, 0.095)  # lid opening (slower)
BLINK_REFRACTORY_S = 0.6  # shortest interval between single blinks
DOUBLE_BLINK_P = 0.08  # a second blink follows 0.2-0.35 s later


def _blink_shape(t: np.ndarray, close: float, hold: float, opening: float) -> np.ndarray:
    """Lid closure over time t (s, 0 = blink onset): an accelerating close, a hold, and a
    decelerating, longer opening."""
    y = np.zeros_like(t)
    a = (t >= 0) & (t < close)
    y[a] = np.sin(0.5 * np.pi * t[a] / close) ** 2
    y[(t >= close) & (t < close + hold)] = 1.0
    b = (t >= close + hold) & (t < close + hold + opening)
    u = (t[b] - close - hold) / opening
    y[b] = (1.0 - u) ** 2 * (1.0 + 2.0 * u)  # smooth, slow at the end
    return y


def blink_track(n_frames: int, rng: np.random.Generator, fps: int = vocab.INTERNAL_FPS,
                rate_per_min: float | None = None) -> np.ndarray:
    """Spontaneous eye blinks -> T x 2 closure weights (eyeBlinkLeft, eyeBlinkRight).

    Intervals between blinks follow a gamma distribution (shape 3, a renewal process with a
    refractory floor) at `rate_per_min` (default: drawn from 15-20 per minute); each blink
    closes in 35-55 ms and opens in 65-95 ms, sometimes incompletely; one in about twelve
    is doubled."""
    rate = float(rng.uniform(*BLINK_RATE_PER_MIN)) if rate_per_min is None else rate_per_min
    if not 0 < rate <= 120:
        raise ValueError(f"rate_per_min must be within (0, 120], got {rate}")
    mean = 60.0 / rate * (1.0 + DOUBLE_BLINK_P)  # doubles count towards the rate
    shape = 3.0
    out = np.zeros((n_frames, 2), np.float32)
    t = (np.arange(n_frames) + 0.5) / fps
    duration = n_frames / fps
    # Start inside a stationary renewal process rather than with a blink at t = 0.
    clock = rng.uniform(0.0, 1.0) * rng.gamma(shape, mean / shape)
    while clock < duration:
        onsets = [clock]
        if rng.random() < DOUBLE_BLINK_P:
            onsets.append(clock + rng.uniform(0.2, 0.35))
        for onset in onsets:
            close, hold = rng.uniform(*BLINK_CLOSE_S), rng.uniform(*BLINK_HOLD_S)
            opening = rng.uniform(*BLINK_OPEN_S)
            depth = rng.uniform(0.85, 1.0)
            lag = rng.uniform(-0.004, 0.004)  # the eyes are nearly, not exactly, in step
            for eye, shift in enumerate((0.0, lag)):
                y = depth * _blink_shape(t - onset - shift, close, hold, opening)
                out[:, eye] = np.maximum(out[:, eye], y)
        clock = onsets[-1] + max(BLINK_REFRACTORY_S, rng.gamma(shape, mean / shape))
    return out


def add_blinks(arkit: np.ndarray, blinks: np.ndarray) -> np.ndarray:
    """Lay blinks (T x 2) over weights (T x K): the lids close over whatever the expression
    does (a 1 - (1-a)(1-b) union with its eyeBlink), and eyeWide yields while they do."""
    out = np.array(arkit, dtype=np.float32, copy=True)
    b = np.clip(np.asarray(blinks, np.float32), 0.0, 1.0)
    out[:, _BLINK] = 1.0 - (1.0 - out[:, _BLINK]) * (1.0 - b)
    out[:, _WIDE] *= 1.0 - b
    return out


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
               fps: int = vocab.INTERNAL_FPS, sample_rate: int = vocab.SAMPLE_RATE) -> np.ndarray:
    """Small head motion from the prosody -> T x 3 neck axis-angle (radians).

    Pitch (x; positive nods down) rises with F0 and dips in nods at stressed syllables
    (the loudest syllable within NOD_SPACING_S, nodded with probability NOD_P: the head
    starts down 80 ms before the loudness peak and is lowest 70-150 ms after it);
    yaw (y) and roll (z) drift slowly, more while speaking. All follow the prosody through
    a causal low-pass (the head lags the voice) and stay within NECK_MAX_DEG."""
    loud, f0z = prosody(audio, n_frames, fps, sample_rate)
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
        weights = _emotion_weights(emotion[0], n)
        inten = _frames_track(emotion[1], n, None, "intensity")
    else:
        weights = _emotion_weights(emotion, n)
        inten = np.full(n, rng.uniform(0.3, 1.0), np.float32)
    arkit, _ = apply_emotion(art.free, art.free[:, _K["jawOpen"]], weights, inten,
                             closure=art.closure, labiodental=art.labiodental)
    arkit = np.clip(add_blinks(arkit, blink_track(n, rng)), 0.0, 1.0).astype(np.float32)
    return Targets(
        arkit=arkit,
        jaw=vocab.jaw_open_to_pose(arkit[:, _K["jawOpen"]]),
        neck=neck_track(utterance.audio, n, rng),
        emotion=weights.astype(np.float32),
        intensity=np.clip(inten, 0.0, 1.0).astype(np.float32),
        phone_ids=art.phone_ids,
    )
