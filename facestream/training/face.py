"""The face that training losses and evaluation metrics measure: a head cut down to the
vertices they read (the lips, a sample of the face, the mouth landmarks).

The cut-down head is a `Head` like any other, so it is skinned by the engine's own linear
blend skinning: `Head.forward` (engine/lbs.py) in numpy, `TorchHead` (engine/lbs_torch.py)
in torch. Only the jaw is posed; the global, neck and eye poses stay at rest. A head whose
joints follow the mesh (a joint regressor) keeps its rest joints here: regressing them needs
every vertex.

Also the one look-ahead shift (`delay`) that lines targets and conditioning up with a
network that answers L frames late, in training (torch) and evaluation (numpy).

Shapes: B batch, T frames, K expression shapes, V' kept vertices.
"""
from __future__ import annotations

import numpy as np

from .. import vocab
from ..engine.head import Head

_JAW = vocab.POSE_SLICES["jaw"]


class FaceSubset:
    """Vertices `idx` of `head`: numpy vertices and lip gap, and the cut-down `Head` that a
    torch module wraps in `TorchHead` for the same numbers in torch."""

    def __init__(self, head: Head, idx: np.ndarray):
        from ..engine.metrics import mouth_landmarks
        self.idx = np.asarray(idx, dtype=np.int64)
        self.head = Head(
            name=f"{head.name} ({len(self.idx)} vertices)", template=head.template[self.idx],
            faces=np.zeros((0, 3), np.int64), expr_dirs=head.expr_dirs[:, self.idx],
            expr_names=head.expr_names, joints=head.joints,
            skin_weights=head.skin_weights[self.idx], parents=head.parents,
            pose_dirs=None if head.pose_dirs is None else head.pose_dirs[:, self.idx])
        pos = {int(v): i for i, v in enumerate(self.idx)}
        marks = mouth_landmarks(head)
        missing = [int(v) for v in (*marks.upper_lip, *marks.lower_lip) if int(v) not in pos]
        if missing:
            raise ValueError(f"FaceSubset lacks the mouth landmarks {missing[:5]}: include "
                             "head.regions['lips'] in idx")
        self.up_lip = np.array([pos[int(v)] for v in marks.upper_lip])
        self.lo_lip = np.array([pos[int(v)] for v in marks.lower_lip])

    def positions(self, vertices) -> np.ndarray:
        """Head vertex ids -> their positions in this subset."""
        pos = {int(v): i for i, v in enumerate(self.idx)}
        return np.array([pos[int(v)] for v in vertices], dtype=np.int64)

    def vertices(self, arkit: np.ndarray, jaw: np.ndarray) -> np.ndarray:
        """arkit T x K, jaw T x 3 (axis-angle) -> T x V' x 3 metres."""
        return self.head.forward(expression=arkit, pose=jaw_pose(np.asarray(jaw, np.float32)))

    def lip_gap(self, v: np.ndarray) -> np.ndarray:
        """As engine.metrics.lip_gap, on these vertices: T x V' x 3 -> T (m)."""
        return np.maximum(v[:, self.up_lip, 1].min(1) - v[:, self.lo_lip, 1].max(1), 0.0)


def jaw_pose(jaw):
    """jaw ... x 3 -> ... x 15 pose (vocab.POSE_JOINTS layout) with every other joint at
    rest; numpy or torch, as given."""
    if isinstance(jaw, np.ndarray):
        pose = np.zeros(jaw.shape[:-1] + (vocab.POSE_DIM,), dtype=jaw.dtype)
    else:
        pose = jaw.new_zeros(jaw.shape[:-1] + (vocab.POSE_DIM,))
    pose[..., _JAW] = jaw
    return pose


def sample_face(head: Head, n_face: int, seed: int) -> np.ndarray:
    """The lips then `n_face` other face-skin vertices drawn with `seed` (head vertex ids)."""
    lips = np.asarray(head.regions["lips"])
    rng = np.random.default_rng(seed)
    face = np.flatnonzero(head.vertex_material == 0) if head.vertex_material is not None \
        else np.arange(head.num_vertices)
    face = rng.choice(np.setdiff1d(face, lips), size=min(n_face, len(face)), replace=False)
    return np.concatenate([lips, face])


def delay(x, lookahead: int, frames: int | None = None):
    """B x T x ... -> B x frames x ... (default T), numpy or torch as given: step t holds
    frame t - L, frame 0 standing in before the start. Output step t of a network with
    look-ahead L describes input frame t - L."""
    frames = x.shape[1] if frames is None else frames
    if lookahead == 0 and frames == x.shape[1]:
        return x
    idx = np.clip(np.arange(frames) - lookahead, 0, x.shape[1] - 1)
    if isinstance(x, np.ndarray):
        return x[:, idx]
    import torch
    return x[:, torch.as_tensor(idx, device=x.device)]
