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
    _assert_changed_at_mouth(neutral, opened, min_pixels=200)


def _assert_changed_at_mouth(a, b, min_pixels):
    changed = np.abs(a.astype(int) - b.astype(int)).sum(2) > 40
    ys, xs = np.nonzero(changed)
    assert changed.sum() > min_pixels
    # what changed is in the lower half, around the mouth, not the eyes or forehead
    assert ys.mean() > 128 and abs(xs.mean() - 128) < 20
    assert changed[:100].sum() < 0.05 * changed.sum()


def test_mouth_region_differs_between_a_silent_and_a_vowel_frame(renderer):
    """Through the engine: silence vs the most open vowel of the bundled clip's first 1.5 s."""
    import dataclasses

    from facestream.engine.animate import animate_array

    from facestream.formats import read_audio
    from facestream.engine.stream import Engine
    from facestream.viewer import face
    from facestream.viewer.video import example_clip_path
    engine = Engine()
    x, sr = read_audio(example_clip_path())
    speech = animate_array(engine, x[: int(1.5 * sr)], sr, fps=30)
    silent = animate_array(engine, np.zeros(sr, np.float32), sr, fps=30)[-1]
    j = vocab.ARKIT_INDEX["jawOpen"]
    vowel = max(speech, key=lambda f: f.arkit[j])
    assert vowel.arkit[j] > silent.arkit[j] + 0.08, "the clip has an open vowel"
    # the head nods a little while speaking: hold it still to look at the mouth alone
    vowel = dataclasses.replace(vowel, neck_pose=silent.neck_pose)
    _assert_changed_at_mouth(renderer.render(face.frame_vertices(engine, silent)),
                             renderer.render(face.frame_vertices(engine, vowel)), min_pixels=50)


def test_resize_and_present_into_another_framebuffer(renderer, head):
    renderer.resize(200, 120)
    try:
        img = renderer.render(head.template)
        assert img.shape == (120, 200, 3)
        target = renderer.ctx.simple_framebuffer((200, 120))
        renderer.present(head.template, target)
        shown = np.frombuffer(target.read(components=3), np.uint8).reshape(120, 200, 3)[::-1]
        assert np.abs(shown.astype(int) - img).max() <= 2, "present shows what render returns"
        target.release()
        with pytest.raises(ValueError, match="size"):
            renderer.resize(0, 10)
    finally:
        renderer.resize(256, 256)


def test_wrong_vertex_count_is_refused(renderer):
    with pytest.raises(ValueError, match="vertices"):
        renderer.render(np.zeros((10, 3), np.float32))


def test_sheet_captions_draw_accented_letters():
    """Captions name utterances of many languages: an accented letter must draw as itself, not
    as the font's missing-glyph box (which a private-use character always draws)."""
    from facestream.viewer.sheet import contact_sheet
    img = np.full((60, 120, 3), 200, np.uint8)

    def caption(text):
        return contact_sheet([img], [text], columns=1)[60:].astype(int)

    accented, box, plain = caption("í ř ě"), caption("\ue000 \ue000 \ue000"), caption("i r e")
    assert np.abs(accented - box).sum() > 0
    assert np.abs(accented - plain).sum() > 0  # the accents are drawn
