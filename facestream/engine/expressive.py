"""Emotion fused with speech, and spontaneous blinks: the expressive rules the engine owns.

`apply_emotion` fuses speech articulation with an emotion (engine.emotion's presets and
articulation gains); `blink_track` draws a whole track of spontaneous blinks and
`add_blinks` lays blinks over weights. The training corpus builds its targets with these
(training/corpus/expressive.py imports them from here, never the other way round), and the
engine's live behaviour (`behaviour.py`) draws its blinks with the same profile and
timing constants. docs/rig.md gives the models and their sources. Shapes: T frames,
K = 52 ARKit weights, E = 7 emotions. Needs numpy only.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import vocab
from .emotion import EMOTION_ARKIT, EMOTION_GAINS, emotion_vector

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


# (T x K weights, T closure, T labiodental or None) -> T x K with the lip contacts made
Contacts = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


# ---- emotion -----------------------------------------------------------------------------
def frames_track(x, n_frames: int, width: int | None, what: str) -> np.ndarray:
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


def emotion_weights(emotion, n_frames: int) -> np.ndarray:
    """A name, code, index, mixture dict, E weights or T x E weights -> T x E."""
    if isinstance(emotion, np.ndarray) and emotion.ndim == 2:
        w = frames_track(emotion, n_frames, vocab.NUM_EMOTIONS, "emotion")
        if (w < 0).any() or not np.allclose(w.sum(1), 1.0, atol=1e-3):
            raise ValueError("per-frame emotion weights must be non-negative and sum to 1 "
                             "in every frame")
        return w
    return np.broadcast_to(emotion_vector(emotion), (n_frames, vocab.NUM_EMOTIONS)).copy()


def apply_emotion(arkit: np.ndarray, jaw_open: np.ndarray, emotion, intensity,
                  closure: np.ndarray | None = None, labiodental: np.ndarray | None = None,
                  contacts: Contacts | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fuse speech articulation with an emotion.

    arkit: T x K speech weights, best taken before the lip contacts are imposed
    (rig.Articulation.free; weights with contacts already imposed work too, their ramps
    just come out a little steeper); its jawOpen column is replaced by jaw_open: T speech
    jaw opening. emotion: a name/code/index/mixture for all frames, or T x E weights;
    intensity: a scalar or T values in [0, 1]; closure, labiodental: T lip-contact
    strengths from the rig (rig.Articulation.closure / .labiodental), None for none;
    contacts: what imposes them, (T x K, T closure, T labiodental or None) -> T x K (the
    corpus rig's `enforce_contacts`; the engine has no phone-level contacts of its own).
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
    jaw = frames_track(jaw_open, n, None, "jaw_open")
    w = emotion_weights(emotion, n)  # T x E
    inten = frames_track(intensity, n, None, "intensity")
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
        if contacts is None:
            raise ValueError("closure/labiodental need contacts=: the function that imposes "
                             "the lip contacts (training.corpus.rig.enforce_contacts)")
        c = (np.zeros(n, np.float32) if closure is None
             else frames_track(closure, n, None, "closure"))
        f = None if labiodental is None else frames_track(labiodental, n, None, "labiodental")
        out[:, _PRESS] += (c * press_add)[:, None]
        out = contacts(np.clip(out, 0.0, 1.0), c, f)
    return out, out[:, j].copy()


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
