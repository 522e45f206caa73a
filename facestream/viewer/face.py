"""Engine frames -> vertices for drawing. Shapes: T frames, K = 52 ARKit weights, V vertices.

Blinks, gaze and head motion come with the frames (the engine's behaviour, engine/
behaviour.py): the viewer draws what every other output carries, nothing of its own.
"""
from __future__ import annotations

import numpy as np

from ..engine.stream import Engine, Frame

FORWARD_BATCH = 64  # frames per batched head.forward (one matrix product each)


def track_vertices(engine: Engine, arkit: np.ndarray, jaw: np.ndarray, neck: np.ndarray,
                   eyes: np.ndarray) -> np.ndarray:
    """A whole track -> T x V x 3 vertices.

    arkit T x 52; jaw, neck T x 3; eyes T x 6 (axis-angle, radians)."""
    expr = engine.expression(arkit)
    pose = engine.skin_pose(jaw, neck, eyes)
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


def frame_vertices(engine: Engine, frame: Frame) -> np.ndarray:
    """One live frame -> V x 3 vertices."""
    return track_vertices(engine, frame.arkit[None], frame.jaw_pose[None], frame.neck_pose[None],
                          frame.eye_pose[None])[0]
