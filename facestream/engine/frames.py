"""Output frames: `Frames` holds F frames as arrays (what the batched engine makes, one row per
frame, no Python object per frame); `Frame` is one of them as an object, built only where a
caller asks for a list (`Engine.decode_stream(s)`, `Frames.to_list()`).

Shapes: F frames, K = 52 ARKit weights, K_head the head's expression weights, E emotions,
V vertices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import vocab


@dataclass
class Frame:
    """One output frame. arkit: K=52 in [0, 1]; expression: the head's expression weights
    (ARKit on the default head, FLAME's through the fitted or given ARKit->head map); poses
    axis-angle (rad)."""

    seq: int
    timestamp: float  # audio time (s) from the start of the stream that this face shows
    arkit: np.ndarray
    expression: np.ndarray
    jaw_pose: np.ndarray
    neck_pose: np.ndarray
    eye_pose: np.ndarray  # 6: left eye, right eye (the gaze of the eyeLook weights)
    emotion: np.ndarray  # E weights in effect
    intensity: float
    vertices: np.ndarray | None = None


@dataclass
class Frames:
    """F frames as arrays, in order within each stream. From `Engine.decode_arrays(streams)`:
    every decoded stream's frames one after another (`stream` says whose), and each stream's
    own frames (views of these) on `stream.frames`. The arrays are the caller's: a later
    decode makes new ones."""

    stream: np.ndarray  # F int: index of the frame's stream in the list decoded
    seq: np.ndarray  # F int64: frame number within its stream
    timestamp: np.ndarray  # F float64: audio time (s) that the face shows
    arkit: np.ndarray  # F x K float32 in [0, 1]
    expression: np.ndarray  # F x K_head float32 (the same array as arkit on an ARKit head)
    jaw_pose: np.ndarray  # F x 3 float32 axis-angle
    neck_pose: np.ndarray  # F x 3 float32 axis-angle
    eye_pose: np.ndarray  # F x 6 float32: left eye, right eye
    emotion: np.ndarray  # F x E float32 weights in effect
    intensity: np.ndarray  # F float32
    vertices: np.ndarray | None = None  # F x V x 3 float32, on a stream that asked for them

    def __len__(self) -> int:
        return len(self.seq)

    @classmethod
    def empty(cls, arkit: np.ndarray, expression: np.ndarray) -> "Frames":
        """No frames: arkit 0 x K and expression 0 x K_head (the same array on an ARKit head)."""
        e = lambda *shape: np.zeros((0, *shape), np.float32)  # noqa: E731
        return cls(stream=np.zeros(0, np.int64), seq=np.zeros(0, np.int64),
                   timestamp=np.zeros(0, np.float64), arkit=arkit, expression=expression,
                   jaw_pose=e(3), neck_pose=e(3), eye_pose=e(6), emotion=e(vocab.NUM_EMOTIONS),
                   intensity=np.zeros(0, np.float32))

    def part(self, lo: int, hi: int) -> "Frames":
        """Frames lo..hi-1 (views, no copy)."""
        return Frames(self.stream[lo:hi], self.seq[lo:hi], self.timestamp[lo:hi],
                      self.arkit[lo:hi], self.expression[lo:hi], self.jaw_pose[lo:hi],
                      self.neck_pose[lo:hi], self.eye_pose[lo:hi], self.emotion[lo:hi],
                      self.intensity[lo:hi], None if self.vertices is None else self.vertices[lo:hi])

    def frame(self, i: int) -> Frame:
        return Frame(seq=int(self.seq[i]), timestamp=float(self.timestamp[i]), arkit=self.arkit[i],
                     expression=self.expression[i], jaw_pose=self.jaw_pose[i],
                     neck_pose=self.neck_pose[i], eye_pose=self.eye_pose[i],
                     emotion=self.emotion[i], intensity=float(self.intensity[i]),
                     vertices=None if self.vertices is None else self.vertices[i])

    def to_list(self) -> list[Frame]:
        return [self.frame(i) for i in range(len(self))]


def pose_vector(jaw: np.ndarray, neck: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """jaw ... x 3, neck ... x 3, eyes ... x 6 (left, right; axis-angle) -> ... x 15 in
    vocab.POSE_JOINTS layout, the global rotation at rest."""
    pose = np.zeros((*np.shape(jaw)[:-1], vocab.POSE_DIM), np.float32)
    pose[..., vocab.POSE_SLICES["neck"]] = neck
    pose[..., vocab.POSE_SLICES["jaw"]] = jaw
    pose[..., vocab.POSE_SLICES["eye_left"]] = eyes[..., :3]
    pose[..., vocab.POSE_SLICES["eye_right"]] = eyes[..., 3:]
    return pose


def _eye_look_table():
    """Columns and factors of `eye_pose_from_arkit`: for left pitch, left yaw, right pitch,
    right yaw, the weight that turns the eye positively (down; in on the right eye, out on
    the left) times its angle, minus the opposite weight times its angle, times a sign."""
    r, k = vocab.EYE_LOOK_RAD, vocab.ARKIT_INDEX
    pos, neg, rp, rn, sign = [], [], [], [], []
    for side, sign_in in (("Left", -1.0), ("Right", 1.0)):
        for a, b, s in (("Down", "Up", 1.0), ("In", "Out", sign_in)):
            pos.append(k[f"eyeLook{a}{side}"])
            neg.append(k[f"eyeLook{b}{side}"])
            rp.append(r[a])
            rn.append(r[b])
            sign.append(s)
    f32 = lambda v: np.array(v, np.float32)  # noqa: E731
    return np.array(pos), np.array(neg), f32(rp), f32(rn), f32(sign), np.array([0, 1, 3, 4])


_EYE_POS, _EYE_NEG, _EYE_RP, _EYE_RN, _EYE_SIGN, _EYE_COLS = _eye_look_table()


def eye_pose_from_arkit(arkit: np.ndarray) -> np.ndarray:
    """Eye rotations (... x 6: left, right axis-angle) from the eyeLook* weights (... x K):
    every frame's eye_pose (FLAME's eye joints, Live Link's eye angles); the default head
    turns its eyes with those blendshapes instead (`Engine.skin_pose`). Pitch = down * angle
    down - up * angle up; yaw = in * angle in - out * angle out, negated on the left eye (its
    "in" turns it to the subject's left). float32 throughout, element by element, so one
    frame or many give the same bits."""
    arkit = np.asarray(arkit, np.float32)
    out = np.zeros((*arkit.shape[:-1], 6), np.float32)
    out[..., _EYE_COLS] = (arkit[..., _EYE_POS] * _EYE_RP - arkit[..., _EYE_NEG] * _EYE_RN) * _EYE_SIGN
    return out
