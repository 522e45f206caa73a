import numpy as np
import pytest

from facestream import vocab


def test_arkit_names_are_the_52_in_arkit_order():
    assert vocab.NUM_ARKIT == 52
    assert len(set(vocab.ARKIT_NAMES)) == 52
    assert list(vocab.ARKIT_NAMES) == sorted(vocab.ARKIT_NAMES, key=str.lower)
    assert vocab.ARKIT_NAMES[0] == "browDownLeft" and vocab.ARKIT_NAMES[-1] == "tongueOut"
    assert vocab.ARKIT_INDEX["jawOpen"] == 24


def test_left_right_pairs_cover_every_sided_shape():
    sided = {n for n in vocab.ARKIT_NAMES if n.endswith(("Left", "Right"))}
    paired = {vocab.ARKIT_NAMES[i] for p in vocab.ARKIT_LR_PAIRS for i in p}
    assert sided == paired
    assert vocab.mirror_arkit_name("jawLeft") == "jawRight"
    assert vocab.mirror_arkit_name("jawOpen") == "jawOpen"


def test_emotions_in_seed_order_with_aliases():
    assert vocab.EMOTION_CODES == ("NEU", "HAP", "SAD", "SUR", "FEA", "DIS", "ANG")
    for i, (code, name) in enumerate(zip(vocab.EMOTION_CODES, vocab.EMOTION_NAMES)):
        assert vocab.emotion_index(code) == vocab.emotion_index(name) == vocab.emotion_index(i) == i
    assert vocab.emotion_index("Anger") == 6 and vocab.emotion_index("surprise") == 3
    with pytest.raises(ValueError, match="unknown emotion 'bored'.*neutral"):
        vocab.emotion_index("bored")
    with pytest.raises(ValueError, match="out of range"):
        vocab.emotion_index(7)


def test_pose_layout_and_rates():
    assert vocab.POSE_DIM == 15
    assert vocab.POSE_SLICES["jaw"] == slice(6, 9)
    assert vocab.JOINT_PARENTS == (-1, 0, 1, 1, 1)
    assert vocab.HOP_SAMPLES * vocab.INTERNAL_FPS == vocab.SAMPLE_RATE
    assert vocab.DEFAULT_FPS in vocab.OUTPUT_FPS


def test_jaw_open_mapping_round_trips():
    w = np.linspace(0, 1, 11, dtype=np.float32)
    pose = vocab.jaw_open_to_pose(w)
    assert pose.shape == (11, 3)
    assert np.allclose(pose[:, 1:], 0)
    assert np.allclose(vocab.jaw_pose_to_open(pose), w, atol=1e-6)
