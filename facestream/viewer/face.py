"""Engine frames -> vertices for drawing, with the spontaneous blinks the viewer adds.

The model animates speech and emotion; it does not blink (its targets' blinks are random, so
it learns their mean, about zero). A face that never blinks looks dead, so the viewer lays
blinks from the corpus' blink model (training.corpus.expressive.blink_track, numpy only)
over the frames it draws. Shapes: T frames, K = 52 ARKit weights, V vertices.
"""
from __future__ import annotations

import numpy as np

from ..engine.stream import Engine, Frame, pose_vector
from ..training.corpus.expressive import add_blinks, blink_track

BLINK_TRACK_S = 600.0  # the live viewer repeats a track this long
FORWARD_BATCH = 64  # frames per batched head.forward (one matrix product each)


def blinks_for(n_frames: int, fps: int, seed: int = 0) -> np.ndarray:
    """A reproducible blink track: T x 2 closure weights (eyeBlinkLeft, eyeBlinkRight)."""
    return blink_track(n_frames, np.random.default_rng(seed), fps=fps)


class LiveBlinks:
    """Blinks by frame number for an endless stream (a long track, repeated)."""

    def __init__(self, fps: int, seed: int = 0):
        self.track = blinks_for(int(BLINK_TRACK_S * fps), fps, seed)

    def __call__(self, seq: int) -> np.ndarray:
        return self.track[seq % len(self.track)]


def track_vertices(engine: Engine, arkit: np.ndarray, jaw: np.ndarray, neck: np.ndarray,
                   eyes: np.ndarray, blinks: np.ndarray | None = None) -> np.ndarray:
    """A whole track -> T x V x 3 vertices, blinks (T x 2) laid over the expression first.

    arkit T x 52; jaw, neck T x 3; eyes T x 6 (axis-angle, radians)."""
    if blinks is not None:
        arkit = add_blinks(arkit, blinks)
    expr = engine.expression(arkit)
    pose = pose_vector(jaw, neck, eyes)
    out = np.empty((len(arkit), engine.head.num_vertices, 3), np.float32)
    for i in range(0, len(arkit), FORWARD_BATCH):
        j = i + FORWARD_BATCH
        out[i:j] = engine.head.forward(expr[i:j], pose[i:j]).reshape(-1, engine.head.num_vertices, 3)
    return out


def frames_arrays(frames: list[Frame]) -> dict[str, np.ndarray]:
    """Stack engine frames: arkit T x 52, jaw_pose/neck_pose T x 3, eye_pose T x 6."""
    if not frames:
        raise ValueError("no frames: the audio was too short to animate")
    return {"arkit": np.stack([f.arkit for f in frames]),
            "jaw_pose": np.stack([f.jaw_pose for f in frames]),
            "neck_pose": np.stack([f.neck_pose for f in frames]),
            "eye_pose": np.stack([f.eye_pose for f in frames])}


def frame_vertices(engine: Engine, frame: Frame, blink: np.ndarray | None = None) -> np.ndarray:
    """One live frame (+ its 2 blink weights) -> V x 3 vertices."""
    return track_vertices(engine, frame.arkit[None], frame.jaw_pose[None], frame.neck_pose[None],
                          frame.eye_pose[None], None if blink is None else blink[None])[0]
