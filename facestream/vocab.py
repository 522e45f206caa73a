"""The shared vocabulary of facestream: every other module imports these names.

One source of truth for the ARKit blendshape order, the emotion order, the FLAME pose
layout, the audio sample rate and the frame rates. Derived constants are computed here and
checked to divide exactly, so two places can never drift apart.
"""
from __future__ import annotations

import numpy as np

# The 52 ARKit blendshapes in ARKit's own (alphabetical) order. Index K in every
# (..., K) weight array of facestream refers to this tuple.
ARKIT_NAMES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)
NUM_ARKIT = len(ARKIT_NAMES)  # K = 52
ARKIT_INDEX: dict[str, int] = {n: i for i, n in enumerate(ARKIT_NAMES)}


def mirror_arkit_name(name: str) -> str:
    """The blendshape on the other side of the face ("jawLeft" -> "jawRight"); itself if central."""
    for a, b in (("Left", "Right"), ("Right", "Left")):
        if name.endswith(a):
            return name[: -len(a)] + b
    return name


# Left/Right pairs as index pairs (i, j) with i < j, e.g. (browDownLeft, browDownRight).
ARKIT_LR_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (i, ARKIT_INDEX[mirror_arkit_name(n)])
    for i, n in enumerate(ARKIT_NAMES)
    if n.endswith("Left")
)

# The seven emotions of the seed paper (arXiv 2301.02008), in its order.
EMOTION_CODES: tuple[str, ...] = ("NEU", "HAP", "SAD", "SUR", "FEA", "DIS", "ANG")
EMOTION_NAMES: tuple[str, ...] = (
    "neutral", "happy", "sad", "surprised", "fearful", "disgusted", "angry",
)
NUM_EMOTIONS = len(EMOTION_CODES)  # E = 7
_EMOTION_ALIASES: dict[str, int] = {}
for _i, (_c, _n) in enumerate(zip(EMOTION_CODES, EMOTION_NAMES)):
    for _alias in (_c, _n):
        _EMOTION_ALIASES[_alias.lower()] = _i
_EMOTION_ALIASES.update({"surprise": 3, "fear": 4, "disgust": 5, "anger": 6, "happiness": 1,
                         "sadness": 2, "neu": 0})


def emotion_index(name: str | int) -> int:
    """Index of an emotion given its code ("HAP"), name ("happy"), alias ("anger") or index."""
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if 0 <= int(name) < NUM_EMOTIONS:
            return int(name)
        raise ValueError(f"emotion index {name} out of range: expected 0..{NUM_EMOTIONS - 1}")
    key = str(name).strip().lower()
    if key not in _EMOTION_ALIASES:
        raise ValueError(
            f"unknown emotion {name!r}: expected one of {', '.join(EMOTION_NAMES)} "
            f"(or codes {', '.join(EMOTION_CODES)})"
        )
    return _EMOTION_ALIASES[key]


# FLAME's pose vector: five axis-angle rotations of 3 numbers each, in this order.
POSE_JOINTS: tuple[str, ...] = ("global", "neck", "jaw", "eye_left", "eye_right")
NUM_JOINTS = len(POSE_JOINTS)  # J = 5
POSE_DIM = 3 * NUM_JOINTS  # 15
POSE_SLICES: dict[str, slice] = {n: slice(3 * i, 3 * i + 3) for i, n in enumerate(POSE_JOINTS)}
# Parent of each joint in POSE_JOINTS (-1 = root): FLAME's kinematic tree.
JOINT_PARENTS: tuple[int, ...] = (-1, 0, 1, 1, 1)

# Audio and frame timing. Every rate in facestream is derived from these.
SAMPLE_RATE = 16_000  # Hz, mono PCM into the model
# The model predicts at INTERNAL_FPS on a hop that divides the sample rate exactly. 60 fps
# cannot (16000/60 is not an integer), so 30 and 60 fps output are read off the 100 fps
# internal track by interpolation at each output frame's exact audio time.
INTERNAL_FPS = 100
HOP_SAMPLES = SAMPLE_RATE // INTERNAL_FPS  # 160 samples = 10 ms
OUTPUT_FPS: tuple[int, ...] = (30, 60)  # frame rates the engine offers
DEFAULT_FPS = 30
if SAMPLE_RATE % INTERNAL_FPS:
    raise AssertionError("SAMPLE_RATE must be a multiple of INTERNAL_FPS")

# One definition of how ARKit's jawOpen weight maps to the jaw joint's rotation (radians,
# about the x axis, positive opens). The default head's jawOpen blendshape stores only what
# that rotation does not explain, so jawOpen=w with jaw pitch w*JAW_OPEN_MAX_RAD reproduces
# the artist's jawOpen shape at w=1. The value was fitted to that shape by
# scripts/build_default_head.py (see its report) and is fixed here for every head.
JAW_OPEN_MAX_RAD = 0.336


# Eye rotation (radians) at eyeLook{Up,Down,In,Out}{Left,Right} = 1: the default head's eyeLook
# shapes rotate its eyeballs by these angles, and FLAME heads get the same as eye pose.
EYE_LOOK_RAD: dict[str, float] = {"Up": 0.35, "Down": 0.35, "In": 0.40, "Out": 0.40}


def jaw_open_to_pose(jaw_open):
    """jawOpen weights (...,) in [0, 1] -> jaw axis-angle (..., 3)."""
    w = np.asarray(jaw_open, dtype=np.float32)
    out = np.zeros(w.shape + (3,), dtype=np.float32)
    out[..., 0] = w * JAW_OPEN_MAX_RAD
    return out


def jaw_pose_to_open(jaw_pose):
    """jaw axis-angle (..., 3) -> jawOpen weights (...,), clipped to [0, 1]."""
    p = np.asarray(jaw_pose, dtype=np.float32)
    return np.clip(p[..., 0] / JAW_OPEN_MAX_RAD, 0.0, 1.0)


__all__ = [n for n in dir() if n.isupper() or n in (
    "emotion_index", "mirror_arkit_name", "jaw_open_to_pose", "jaw_pose_to_open")]
del _i, _c, _n, _alias
