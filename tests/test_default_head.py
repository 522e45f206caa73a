"""The embedded default head: its asset, shapes, symmetry, regions and storage."""
import json

import numpy as np
import pytest

from facestream import vocab
from facestream.engine.head import MATERIALS, Head, HeadFileError, default_head_path, load_head


def test_asset_is_compact_and_well_formed(head):
    assert default_head_path().stat().st_size < 3_000_000
    assert head.is_arkit and head.num_expressions == 52
    assert 4000 < head.num_vertices < 8000 and head.num_faces > 8000
    assert head.template.dtype == np.float32 and head.faces.dtype == np.int32
    assert np.allclose(head.skin_weights.sum(1), 1, atol=1e-5)
    # metres: a head with neck is 20-40 cm tall, and centred on x = 0
    assert 0.2 < np.ptp(head.template[:, 1]) < 0.4
    assert abs(head.template[:, 0].mean()) < 1e-3
    used = np.zeros(head.num_vertices, bool)
    used[head.faces.ravel()] = True
    assert used.all(), "vertices that no triangle uses"


def test_every_material_present(head):
    counts = np.bincount(head.vertex_material, minlength=len(MATERIALS))
    assert (counts > 0).all(), dict(zip(MATERIALS, counts))


def test_all_52_shapes_move_something(head):
    mag = np.linalg.norm(head.expr_dirs, axis=2).max(1)
    empty = [n for n, m in zip(vocab.ARKIT_NAMES, mag) if m < 5e-4]
    assert not empty, f"shapes moving < 0.5 mm: {empty}"


def test_template_and_left_right_shapes_mirror(head):
    m, flip = head.mirror, np.array([-1, 1, 1], np.float32)
    assert np.array_equal(m[m], np.arange(head.num_vertices))
    assert np.abs(head.template[m] * flip - head.template).max() < 1e-5
    for i, j in vocab.ARKIT_LR_PAIRS:
        left, right = head.expr_dirs[i], head.expr_dirs[j]
        err = np.abs(left[m] * flip - right).max()
        assert err < 0.1 * np.abs(left).max(), (vocab.ARKIT_NAMES[i], err)
        # and the Left shape acts on the subject's left (+x) side
        w = np.linalg.norm(left, axis=1)
        assert (w * head.template[:, 0]).sum() > 0, vocab.ARKIT_NAMES[i]


def test_jaw_open_definition_matches_the_asset(head):
    assert head.meta["jaw_open_max_rad"] == pytest.approx(vocab.JAW_OPEN_MAX_RAD)
    # Full jawOpen with its jaw rotation opens the mouth more than the rotation alone would
    # without the residual shape pulling it back inside the face.
    w = np.zeros(52, np.float32)
    w[vocab.ARKIT_INDEX["jawOpen"]] = 1
    pose = np.zeros(15, np.float32)
    pose[vocab.POSE_SLICES["jaw"]] = vocab.jaw_open_to_pose(1.0)
    opened = head.forward(w, pose)
    lips = head.regions["lips"]
    assert np.ptp(opened[lips, 1]) > np.ptp(head.template[lips, 1]) + 0.015


def test_regions_are_where_they_should_be(head):
    r = {k: head.template[v] for k, v in head.regions.items()}
    for name in ("lips", "upper_face", "eyes", "jaw"):
        assert len(head.regions[name]) > 50, name
    mouth_y = head.joints[vocab.POSE_JOINTS.index("jaw"), 1]
    eye_y = head.joints[vocab.POSE_JOINTS.index("eye_left"), 1]
    assert r["upper_face"][:, 1].min() > r["lips"][:, 1].max()
    assert abs(np.median(r["eyes"][:, 1]) - eye_y) < 0.02
    assert r["lips"][:, 1].max() < eye_y and abs(np.median(r["lips"][:, 1]) - mouth_y) < 0.03
    assert not set(head.regions["lips"]) & set(head.regions["upper_face"])


def test_save_load_round_trip(head, tmp_path):
    p = tmp_path / "h.npz"
    head.save(p)
    h2 = Head.load(p)
    assert h2.name == head.name and h2.expr_names == head.expr_names
    for key in ("template", "faces", "expr_dirs", "joints", "skin_weights", "mirror"):
        assert np.array_equal(getattr(h2, key), getattr(head, key)), key
    assert set(h2.regions) == set(head.regions)


def test_bad_head_files_give_clear_errors(tmp_path):
    with pytest.raises(HeadFileError, match="not found"):
        load_head(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(HeadFileError, match="not a readable facestream head"):
        load_head(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(HeadFileError, match="no header"):
        load_head(other)
    newer = tmp_path / "newer.npz"
    hdr = json.dumps({"format": "facestream-head", "version": 99, "name": "x", "expr_names": []})
    np.savez(newer, header=np.frombuffer(hdr.encode(), np.uint8))
    with pytest.raises(HeadFileError, match="upgrade facestream"):
        load_head(newer)
    bad = tmp_path / "bad.npz"
    hdr = json.dumps({"format": "facestream-head", "version": 1, "name": "x", "expr_names": ["a"]})
    np.savez(bad, header=np.frombuffer(hdr.encode(), np.uint8), template=np.zeros((4, 3)),
             faces=np.array([[0, 1, 9]]), expr_dirs=np.zeros((1, 4, 3)), joints=np.zeros((5, 3)),
             skin_weights=np.ones((4, 5)) / 5)
    with pytest.raises(HeadFileError, match="faces index vertices that do not exist"):
        load_head(bad)
