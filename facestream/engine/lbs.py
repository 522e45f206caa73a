"""Linear blend skinning in numpy: the runtime face layer's pure math.

Shapes use the project vocabulary: B frames (batch), V vertices, J joints, K blend
coefficients. Every function is pure; `facestream.engine.head.Head` owns the data.
The torch twin lives in `lbs_torch.py` and is tested to agree to 1e-5.
"""
from __future__ import annotations

import numpy as np


def blend_shapes(coeffs: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Offsets from a linear basis.

    coeffs: B x K; dirs: K x V x 3  ->  B x V x 3.
    """
    b, k = coeffs.shape
    flat = dirs.reshape(k, -1)  # K x (V*3)
    return (coeffs.astype(np.float32, copy=False) @ flat).reshape(b, -1, 3)


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle vectors to rotation matrices.

    rotvec: N x 3 (axis * angle in radians)  ->  N x 3 x 3.
    """
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)  # N x 1
    # Small angles: sin(t)/t -> 1 and (1-cos t)/t^2 -> 1/2 keep the map smooth at zero.
    small = angle < 1e-8
    safe = np.where(small, 1.0, angle)
    a = np.where(small, 1.0, np.sin(safe) / safe)[..., None]  # N x 1 x 1
    b = np.where(small, 0.5, (1.0 - np.cos(safe)) / safe**2)[..., None]
    x, y, z = rotvec[:, 0], rotvec[:, 1], rotvec[:, 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(-1, 3, 3)
    eye = np.eye(3)[None]
    return (eye + a * k + b * (k @ k)).astype(np.float32)


def rigid_transforms(rot: np.ndarray, joints: np.ndarray, parents) -> np.ndarray:
    """World transforms of a kinematic chain, relative to the rest pose.

    rot: B x J x 3 x 3 local rotations; joints: B x J x 3 rest positions;
    parents: J ints (-1 for the root, parents before children)  ->  B x J x 4 x 4 that map a
    rest-pose point skinned to joint j to its posed position.
    """
    bsz, nj = rot.shape[:2]
    rel = joints.copy()
    for j in range(1, nj):
        rel[:, j] -= joints[:, parents[j]]
    local = np.zeros((bsz, nj, 4, 4), dtype=np.float32)
    local[:, :, :3, :3] = rot
    local[:, :, :3, 3] = rel
    local[:, :, 3, 3] = 1.0
    world = np.empty_like(local)
    world[:, 0] = local[:, 0]
    for j in range(1, nj):
        world[:, j] = world[:, parents[j]] @ local[:, j]
    # Remove the rest-pose joint position so the transform applies to rest-pose vertices.
    posed_rest = np.einsum("bjik,bjk->bji", world[:, :, :3, :3], joints)  # B x J x 3
    world[:, :, :3, 3] -= posed_rest
    return world


def lbs(
    v_shaped: np.ndarray,
    joints: np.ndarray,
    pose: np.ndarray,
    parents,
    skin_weights: np.ndarray,
    pose_dirs: np.ndarray | None = None,
) -> np.ndarray:
    """Pose a shaped mesh.

    v_shaped: B x V x 3; joints: B x J x 3; pose: B x (J*3) axis-angle;
    skin_weights: V x J (rows sum to 1); pose_dirs: P x V x 3 with P = (J-1)*9 pose
    correctives (FLAME's), or None  ->  B x V x 3 float32.
    """
    bsz, nj = pose.shape[0], joints.shape[1]
    rot = rodrigues(pose.reshape(-1, 3)).reshape(bsz, nj, 3, 3)
    if pose_dirs is not None:
        feat = (rot[:, 1:] - np.eye(3, dtype=np.float32)).reshape(bsz, -1)  # B x P
        v_shaped = v_shaped + blend_shapes(feat, pose_dirs)
    world = rigid_transforms(rot, joints, parents)  # B x J x 4 x 4
    # Blend the 3x4 transforms per vertex as 12 rows of length V (B x 12 x J @ J x V), then
    # apply them coordinate by coordinate on contiguous rows: 5x faster than an einsum.
    t = world[:, :, :3, :].reshape(bsz, nj, 12).transpose(0, 2, 1) @ skin_weights.T
    vt = v_shaped.transpose(0, 2, 1)  # B x 3 x V
    out = np.empty(v_shaped.shape, dtype=np.float32)
    for i in range(3):
        r = t[:, 4 * i:4 * i + 4]  # B x 4 x V: row i of the blended transform
        out[..., i] = r[:, 0] * vt[:, 0] + r[:, 1] * vt[:, 1] + r[:, 2] * vt[:, 2] + r[:, 3]
    return out.astype(np.float32, copy=False)
