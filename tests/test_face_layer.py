"""The numpy face layer: LBS math against independent references, and its invariants."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from facestream import vocab
from facestream.engine import lbs


def jaw_pose(angle):
    p = np.zeros(vocab.POSE_DIM, np.float32)
    p[vocab.POSE_SLICES["jaw"]] = [angle, 0, 0]
    return p


def test_rodrigues_matches_scipy(rng):
    rv = rng.normal(size=(64, 3)) * 1.5
    rv[0] = 0.0
    rv[1] = [1e-10, 0, 0]
    assert np.allclose(lbs.rodrigues(rv), Rotation.from_rotvec(rv).as_matrix(), atol=1e-6)


def test_lbs_matches_a_reference_chain(rng):
    """A random 5-joint skeleton, skinned by hand with scipy rotations."""
    n, parents = 50, vocab.JOINT_PARENTS
    v = rng.normal(size=(n, 3)).astype(np.float32)
    joints = rng.normal(size=(5, 3)).astype(np.float32)
    w = rng.random((n, 5)).astype(np.float32)
    w /= w.sum(1, keepdims=True)
    pose = (rng.normal(size=15) * 0.5).astype(np.float32)
    # Reference: world_j(x) = R_parent...R_j x + offsets, applied to rest points relative to joints.
    rots = Rotation.from_rotvec(pose.reshape(5, 3)).as_matrix()
    g_rot, g_pos = [None] * 5, [None] * 5
    for j in range(5):
        if parents[j] < 0:
            g_rot[j], g_pos[j] = rots[j], joints[j]
        else:
            p = parents[j]
            g_rot[j] = g_rot[p] @ rots[j]
            g_pos[j] = g_pos[p] + g_rot[p] @ (joints[j] - joints[p])
    expected = sum(w[:, [j]] * ((v - joints[j]) @ g_rot[j].T + g_pos[j]) for j in range(5))
    got = lbs.lbs(v[None], joints[None], pose[None], parents, w)[0]
    assert np.allclose(got, expected, atol=1e-5)


def test_identity_pose_gives_the_template(head):
    assert np.allclose(head.forward(), head.template, atol=1e-7)
    out = head.forward(np.zeros(head.num_expressions), np.zeros(15))
    assert out.shape == (head.num_vertices, 3) and out.dtype == np.float32
    assert np.allclose(out, head.template, atol=1e-7)


def test_blendshapes_are_linear(head, rng):
    w1, w2 = rng.random((2, head.num_expressions)).astype(np.float32) * 0.5
    t = head.template
    d1, d2 = head.forward(w1) - t, head.forward(w2) - t
    d12 = head.forward(0.3 * w1 + 1.7 * w2) - t
    assert np.allclose(d12, 0.3 * d1 + 1.7 * d2, atol=1e-6)


def test_batched_equals_per_frame(head, rng):
    expr = rng.random((6, head.num_expressions)).astype(np.float32) * 0.4
    pose = (rng.normal(size=(6, 15)) * 0.1).astype(np.float32)
    batch = head.forward(expr, pose)
    assert batch.shape == (6, head.num_vertices, 3)
    for i in range(6):
        assert np.allclose(batch[i], head.forward(expr[i], pose[i]), atol=1e-6)


def test_jaw_rotation_moves_only_jaw_weighted_vertices_and_opens_the_mouth(head):
    posed = head.forward(pose=jaw_pose(0.3))
    moved = np.linalg.norm(posed - head.template, axis=1) > 1e-7
    jaw_w = head.skin_weights[:, vocab.POSE_JOINTS.index("jaw")]
    assert moved.any()
    assert np.all(jaw_w[moved] > 0), "a vertex with no jaw weight moved"
    assert np.all(moved[jaw_w > 1e-3])
    # The lower lip drops away from the upper lip: the lips' vertical extent grows by > 1 cm.
    lips = head.regions["lips"]
    gap = np.ptp(posed[lips, 1]) - np.ptp(head.template[lips, 1])
    assert gap > 0.01
    # The chin (lowest jaw vertex in front) goes down and back, never up.
    chin = np.argmin(np.where(jaw_w > 0.9, head.template[:, 1], np.inf))
    assert posed[chin, 1] < head.template[chin, 1] - 0.01


def test_eye_pose_rotates_eyes_about_their_joint(head):
    j = vocab.POSE_JOINTS.index("eye_left")
    eye = np.flatnonzero(head.skin_weights[:, j] > 0.99)
    assert len(eye) > 100
    p = np.zeros(15, np.float32)
    p[vocab.POSE_SLICES["eye_left"]] = [0.0, 0.4, 0.0]
    posed = head.forward(pose=p)
    c = head.joints[j]
    assert np.allclose(np.linalg.norm(posed[eye] - c, axis=1),
                       np.linalg.norm(head.template[eye] - c, axis=1), atol=1e-6)
    assert np.abs(posed[eye] - head.template[eye]).max() > 1e-3
    other = np.flatnonzero(head.skin_weights[:, j] == 0)
    assert np.allclose(posed[other], head.template[other])


def test_bad_inputs_say_what_is_wrong(head):
    with pytest.raises(ValueError, match="expression must be B x 52"):
        head.forward(np.zeros(51))
    with pytest.raises(ValueError, match="NaN"):
        head.forward(pose=np.full(15, np.nan))
    with pytest.raises(ValueError, match="no identity shape basis"):
        head.forward(shape=np.zeros(10))
