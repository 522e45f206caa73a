"""Emotion control: what each of the seven emotions does to the face, as ARKit weights.

The presets follow the Facial Action Coding System's prototypes of the basic emotions
(Ekman & Friesen; e.g. happiness = AU6 cheek raiser + AU12 lip corner puller), written as
the ARKit blendshapes that carry those action units. They are the one definition of an
emotion's expression in facestream: the training targets, the renderer's demo and the
runtime's fusion of speech and expression all read them from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .. import vocab

# Weights at intensity 1.0 (ARKit names -> weight in [0, 1]). Neutral is all zeros. The
# action units (AU) are those of Ekman & Friesen's prototypes (FACS Investigator's Guide,
# 2002, table 10-1); the ARKit shape carrying each AU is in the comments. Tuned by eye on
# the default head, where the brows move little (it has no brow hair or forehead wrinkles),
# so the eyelids and mouth carry most of each expression.
EMOTION_PRESETS: dict[str, dict[str, float]] = {
    "neutral": {},
    # AU6 cheek raiser (cheekSquint, eyeSquint) + AU12 lip corner puller (mouthSmile);
    # a little AU10 and AU14 (dimple) show the teeth and deepen the smile, as in a
    # Duchenne smile.
    "happy": {"cheekSquintLeft": 0.7, "cheekSquintRight": 0.7, "mouthSmileLeft": 0.85,
              "mouthSmileRight": 0.85, "eyeSquintLeft": 0.35, "eyeSquintRight": 0.35,
              "mouthUpperUpLeft": 0.15, "mouthUpperUpRight": 0.15,
              "mouthDimpleLeft": 0.15, "mouthDimpleRight": 0.15},
    # AU1 inner brow raiser (browInnerUp) + AU4 brow lowerer (browDown) + AU15 lip corner
    # depressor (mouthFrown), with AU17 chin raiser (mouthShrugLower) and the drooping lids
    # and lowered gaze (AU41/AU64: eyeBlink, eyeLookDown) of the prototype's variants.
    "sad": {"browInnerUp": 0.9, "browDownLeft": 0.3, "browDownRight": 0.3,
            "mouthFrownLeft": 0.9, "mouthFrownRight": 0.9, "mouthShrugLower": 0.35,
            "eyeSquintLeft": 0.15, "eyeSquintRight": 0.15, "eyeBlinkLeft": 0.12,
            "eyeBlinkRight": 0.12, "eyeLookDownLeft": 0.12, "eyeLookDownRight": 0.12},
    # AU1 + AU2 outer brow raiser (browOuterUp) + AU5 upper lid raiser (eyeWide) + AU26
    # jaw drop (jawOpen)
    "surprised": {"browInnerUp": 0.9, "browOuterUpLeft": 0.9, "browOuterUpRight": 0.9,
                  "eyeWideLeft": 0.8, "eyeWideRight": 0.8, "jawOpen": 0.3},
    # AU1 + AU2 + AU4 + AU5 + AU20 lip stretcher (mouthStretch) + AU26
    "fearful": {"browInnerUp": 0.9, "browOuterUpLeft": 0.4, "browOuterUpRight": 0.4,
                "browDownLeft": 0.3, "browDownRight": 0.3, "eyeWideLeft": 0.9,
                "eyeWideRight": 0.9, "mouthStretchLeft": 0.6, "mouthStretchRight": 0.6,
                "jawOpen": 0.15},
    # AU9 nose wrinkler (noseSneer) + AU10 upper lip raiser (mouthUpperUp) + AU15
    # (mouthFrown) + AU16 lower lip depressor (mouthLowerDown); AU9 also lowers the brows
    # and narrows the eyes.
    "disgusted": {"noseSneerLeft": 0.8, "noseSneerRight": 0.8, "mouthUpperUpLeft": 0.5,
                  "mouthUpperUpRight": 0.5, "mouthFrownLeft": 0.4, "mouthFrownRight": 0.4,
                  "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3,
                  "browDownLeft": 0.4, "browDownRight": 0.4, "eyeSquintLeft": 0.4,
                  "eyeSquintRight": 0.4},
    # AU4 (browDown) + AU5 (eyeWide) + AU7 lid tightener (eyeSquint) + AU23 lip tightener
    # (mouthRollUpper/Lower narrow the red of the lips) with AU24 lip presser (mouthPress).
    "angry": {"browDownLeft": 0.9, "browDownRight": 0.9, "eyeSquintLeft": 0.5,
              "eyeSquintRight": 0.5, "eyeWideLeft": 0.2, "eyeWideRight": 0.2,
              "mouthPressLeft": 0.6, "mouthPressRight": 0.6, "noseSneerLeft": 0.3,
              "noseSneerRight": 0.3, "mouthRollLower": 0.2, "mouthRollUpper": 0.15},
}

# How each emotion changes the way one speaks, as gains on groups of speech shapes at
# intensity 1 (1 = unchanged; a mixture or a lower intensity interpolates towards 1).
# jaw: jawOpen; lips: mouthUpperUp/LowerDown; round: mouthPucker/Funnel; spread:
# mouthStretch; press: mouthPress added at bilabial closures. After articulatory studies
# of emotional speech: smiling spreads the lips and limits protrusion (Tartter 1980;
# Fagel 2010); angry and happy speech move the jaw further, sad speech less and with
# reduced articulation (Erickson et al. 2000; Lee, Yildirim, Kazemzadeh & Narayanan 2005,
# EMA); surprise opens the jaw (AU26); fear stretches the lips (AU20) and restrains the
# jaw; disgust raises the upper lip (AU10) and withholds rounding.
EMOTION_ARTICULATION: dict[str, dict[str, float]] = {
    "neutral":   {"jaw": 1.00, "lips": 1.00, "round": 1.00, "spread": 1.00, "press": 0.0},
    "happy":     {"jaw": 1.05, "lips": 1.10, "round": 0.60, "spread": 1.40, "press": 0.0},
    "sad":       {"jaw": 0.70, "lips": 0.75, "round": 0.85, "spread": 0.80, "press": 0.0},
    "surprised": {"jaw": 1.25, "lips": 1.15, "round": 1.10, "spread": 0.90, "press": 0.0},
    "fearful":   {"jaw": 0.90, "lips": 0.95, "round": 0.70, "spread": 1.30, "press": 0.0},
    "disgusted": {"jaw": 0.85, "lips": 1.00, "round": 0.75, "spread": 1.10, "press": 0.0},
    "angry":     {"jaw": 1.20, "lips": 1.15, "round": 0.95, "spread": 1.05, "press": 0.3},
}
ARTICULATION_GROUPS: tuple[str, ...] = ("jaw", "lips", "round", "spread", "press")


def _preset_matrix() -> np.ndarray:
    m = np.zeros((vocab.NUM_EMOTIONS, vocab.NUM_ARKIT), dtype=np.float32)
    for e, name in enumerate(vocab.EMOTION_NAMES):
        for shape, w in EMOTION_PRESETS[name].items():
            m[e, vocab.ARKIT_INDEX[shape]] = w
    return m


# E x K: row e is emotion e's expression at intensity 1.
EMOTION_ARKIT: np.ndarray = _preset_matrix()
EMOTION_ARKIT.setflags(write=False)
# E x 5: row e is emotion e's articulation gains (ARTICULATION_GROUPS order) at intensity 1.
EMOTION_GAINS: np.ndarray = np.array(
    [[EMOTION_ARTICULATION[n][g] for g in ARTICULATION_GROUPS] for n in vocab.EMOTION_NAMES],
    dtype=np.float32)
EMOTION_GAINS.setflags(write=False)


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


@dataclass
class EmotionTransition:
    """A stream's emotion and intensity over model steps: a raised-cosine move from the
    start to the target over `steps` steps from step `t0` (0 steps: immediate)."""

    start_vec: np.ndarray
    start_int: float
    target_vec: np.ndarray
    target_int: float
    t0: int = 0  # model step at which the transition began
    steps: int = 0  # its length in model steps (0: immediate)
    auto: bool = False

    def at(self, step: int) -> tuple[np.ndarray, float]:
        if self.steps <= 0 or step >= self.t0 + self.steps:
            return self.target_vec, self.target_int
        u = max(0.0, (step - self.t0) / self.steps)
        w = 0.5 - 0.5 * math.cos(math.pi * u)  # smooth: zero slope at both ends
        vec = (1 - w) * self.start_vec + w * self.target_vec
        return vec / vec.sum(), (1 - w) * self.start_int + w * self.target_int

    def holds_from(self, step: int) -> bool:
        """Whether every step from `step` on has the target's emotion and intensity."""
        return not self.auto and (self.steps <= 0 or step >= self.t0 + self.steps)

    @cached_property
    def target_row(self) -> np.ndarray:
        """E weights and intensity of the target, float32 (E+1). Only read when not auto:
        auto intensity moves `target_int` after this is cached."""
        return np.array([*self.target_vec, self.target_int], np.float32)


def check_intensity(x) -> float:
    """An intensity in [0, 1], or a ValueError that says so."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"intensity must be a number in [0, 1] or 'auto', got {x!r}") from None
    if not (math.isfinite(v) and 0.0 <= v <= 1.0):
        raise ValueError(f"intensity must be within [0, 1] (or 'auto'), got {x!r}")
    return v
