"""Offscreen rendering through EGL: a real face in the frame, and the mouth visibly opens."""
import numpy as np
import pytest

from facestream import vocab

pytest.importorskip("moderngl", reason="rendering needs the viewer extra")
pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def renderer():
    from facestream.engine.head import load_head
    from facestream.viewer.render import Renderer
    try:
        r = Renderer(load_head(), 256, 256)
    except RuntimeError as e:
        pytest.skip(f"no EGL context on this machine: {e}")
    yield r
    r.release()


def _foreground(img, background):
    return np.abs(img.astype(int) - background).sum(2) > 30


def test_render_is_not_blank_and_face_is_centred(renderer, head):
    img = renderer.render(head.template)
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    bg = img[0, 0].astype(int)
    fg = _foreground(img, bg)
    assert 0.15 < fg.mean() < 0.8
    ys, xs = np.nonzero(fg)
    assert abs(xs.mean() - 128) < 13 and abs(ys.mean() - 128) < 26
    assert img[fg].std() > 5, "the face is flat-shaded in one colour"


def test_mouth_region_changes_when_the_jaw_opens(renderer, head):
    neutral = renderer.render(head.template).astype(int)
    w = np.zeros(52, np.float32)
    w[vocab.ARKIT_INDEX["jawOpen"]] = 1.0
    pose = np.zeros(15, np.float32)
    pose[vocab.POSE_SLICES["jaw"]] = vocab.jaw_open_to_pose(1.0)
    opened = renderer.render(head.forward(w, pose)).astype(int)
    changed = np.abs(opened - neutral).sum(2) > 40
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 200
    # what changed is in the lower half, around the mouth, not the eyes or forehead
    assert ys.mean() > 128 and abs(xs.mean() - 128) < 20
    assert changed[:100].sum() < 0.05 * changed.sum()


def test_wrong_vertex_count_is_refused(renderer):
    with pytest.raises(ValueError, match="vertices"):
        renderer.render(np.zeros((10, 3), np.float32))
