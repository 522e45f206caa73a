"""Emotion control: what each of the seven emotions does to the face, as ARKit weights.

The presets follow the Facial Action Coding System's prototypes of the basic emotions
(Ekman & Friesen; e.g. happiness = AU6 cheek raiser + AU12 lip corner puller), written as
the ARKit blendshapes that carry those action units. They are the one definition of an
emotion's expression in facestream: the training targets, the renderer's demo and the
runtime's fusion of speech and expression all read them from here.
"""
from __future__ import annotations

import numpy as np

from .. import vocab

# Weights at intensity 1.0 (ARKit names -> weight in [0, 1]). Neutral is all zeros.
EMOTION_PRESETS: dict[str, dict[str, float]] = {
    "neutral": {},
    # AU6 + AU12 (+ AU25 slightly parted lips)
    "happy": {"cheekSquintLeft": 0.6, "cheekSquintRight": 0.6, "mouthSmileLeft": 0.8,
              "mouthSmileRight": 0.8, "eyeSquintLeft": 0.3, "eyeSquintRight": 0.3,
              "mouthUpperUpLeft": 0.15, "mouthUpperUpRight": 0.15},
    # AU1 + AU4 + AU15 (+ AU17 chin raiser)
    "sad": {"browInnerUp": 0.8, "browDownLeft": 0.25, "browDownRight": 0.25,
            "mouthFrownLeft": 0.7, "mouthFrownRight": 0.7, "mouthShrugLower": 0.35,
            "eyeSquintLeft": 0.15, "eyeSquintRight": 0.15},
    # AU1 + AU2 + AU5 + AU26
    "surprised": {"browInnerUp": 0.9, "browOuterUpLeft": 0.9, "browOuterUpRight": 0.9,
                  "eyeWideLeft": 0.8, "eyeWideRight": 0.8, "jawOpen": 0.3},
    # AU1 + AU2 + AU4 + AU5 + AU20 + AU26
    "fearful": {"browInnerUp": 0.9, "browOuterUpLeft": 0.4, "browOuterUpRight": 0.4,
                "browDownLeft": 0.3, "browDownRight": 0.3, "eyeWideLeft": 0.9,
                "eyeWideRight": 0.9, "mouthStretchLeft": 0.6, "mouthStretchRight": 0.6,
                "jawOpen": 0.15},
    # AU9 + AU10 + AU15 + AU16
    "disgusted": {"noseSneerLeft": 0.8, "noseSneerRight": 0.8, "mouthUpperUpLeft": 0.5,
                  "mouthUpperUpRight": 0.5, "mouthFrownLeft": 0.4, "mouthFrownRight": 0.4,
                  "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3,
                  "browDownLeft": 0.4, "browDownRight": 0.4, "eyeSquintLeft": 0.4,
                  "eyeSquintRight": 0.4},
    # AU4 + AU5 + AU7 + AU23 (+ AU24 lip presser)
    "angry": {"browDownLeft": 0.9, "browDownRight": 0.9, "eyeSquintLeft": 0.5,
              "eyeSquintRight": 0.5, "eyeWideLeft": 0.2, "eyeWideRight": 0.2,
              "mouthPressLeft": 0.6, "mouthPressRight": 0.6, "noseSneerLeft": 0.3,
              "noseSneerRight": 0.3, "mouthRollLower": 0.2},
}


def _preset_matrix() -> np.ndarray:
    m = np.zeros((vocab.NUM_EMOTIONS, vocab.NUM_ARKIT), dtype=np.float32)
    for e, name in enumerate(vocab.EMOTION_NAMES):
        for shape, w in EMOTION_PRESETS[name].items():
            m[e, vocab.ARKIT_INDEX[shape]] = w
    return m


# E x K: row e is emotion e's expression at intensity 1.
EMOTION_ARKIT: np.ndarray = _preset_matrix()
EMOTION_ARKIT.setflags(write=False)


def emotion_vector(emotion) -> np.ndarray:
    """An emotion given as a name/code/index, or a mixture {name: weight} or E weights,
    -> E float32 weights (non-negative, summing to 1)."""
    if isinstance(emotion, dict):
        v = np.zeros(vocab.NUM_EMOTIONS, np.float32)
        for k, w in emotion.items():
            v[vocab.emotion_index(k)] += float(w)
    elif isinstance(emotion, (str, int, np.integer)):
        v = np.zeros(vocab.NUM_EMOTIONS, np.float32)
        v[vocab.emotion_index(emotion)] = 1.0
    else:
        v = np.asarray(emotion, dtype=np.float32).reshape(-1)
        if v.shape != (vocab.NUM_EMOTIONS,):
            raise ValueError(f"an emotion mixture needs {vocab.NUM_EMOTIONS} weights in the order "
                             f"{', '.join(vocab.EMOTION_CODES)}; got shape {v.shape}")
    if not np.isfinite(v).all() or (v < 0).any() or v.sum() <= 0:
        raise ValueError(f"emotion weights must be finite, non-negative and not all zero; got {v}")
    return v / v.sum()


def emotion_expression(emotion, intensity: float = 1.0) -> np.ndarray:
    """The ARKit expression (K,) of an emotion (or mixture) at an intensity in [0, 1]."""
    if not np.isfinite(intensity) or not 0.0 <= float(intensity) <= 1.0:
        raise ValueError(f"intensity must be within [0, 1], got {intensity}")
    return (emotion_vector(emotion) @ EMOTION_ARKIT) * np.float32(intensity)
