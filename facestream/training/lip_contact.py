"""The bilabial closure rule, shared by the articulation rig (numpy, `corpus.rig`) and the
network's decoder (torch, `network.close_lips`): one home for its numbers, so neither
module reaches into the other.

How a closure is made on the default head: the jaw may stay open at most JAW_AT_CLOSURE;
mouthClose = CLOSE_GAIN * jawOpen + CLOSE_BIAS raises the lower lip onto the upper (measured
with engine.metrics.lip_gap: 1.1 * jawOpen just meets, 1.2 presses about 0.5 mm into it up to
jawOpen 0.4); the shapes that part the lips (LIP_OPENERS) fade out.
"""
from __future__ import annotations

import numpy as np

from .. import vocab

JAW_AT_CLOSURE = 0.2  # jawOpen weight the jaw is held under at a full closure
CLOSE_GAIN = 1.2  # mouthClose per unit of remaining jawOpen
CLOSE_BIAS = 0.015  # mouthClose at a shut jaw
LIP_OPENERS: tuple[str, ...] = (
    "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthShrugUpper", "mouthFunnel", "tongueOut",
)
OPENER_INDEX: tuple[int, ...] = tuple(vocab.ARKIT_INDEX[n] for n in LIP_OPENERS)
JAW, MOUTH_CLOSE = vocab.ARKIT_INDEX["jawOpen"], vocab.ARKIT_INDEX["mouthClose"]


def close_lips(arkit: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """arkit T x K weights, closure T in [0, 1] -> T x K (a new array, not clipped): the jaw
    held at most JAW_AT_CLOSURE open, the openers faded, mouthClose lifted onto what remains
    of the jaw opening. `network.close_lips` is the torch twin (tested equal)."""
    out = np.array(arkit, dtype=np.float32, copy=True)
    c = np.asarray(closure, np.float32)[:, None]  # T x 1
    jaw = out[:, JAW:JAW + 1]
    out[:, JAW:JAW + 1] = (1 - c) * jaw + c * np.minimum(jaw, JAW_AT_CLOSURE)
    out[:, list(OPENER_INDEX)] *= 1 - c
    need = np.minimum(1.0, CLOSE_GAIN * out[:, JAW] + CLOSE_BIAS)
    out[:, MOUTH_CLOSE] = np.maximum(out[:, MOUTH_CLOSE], c[:, 0] * need)
    return out
