"""What the live window shows: screenshots of the real X window under Xvfb (`xwd -root`), and
the renderer's way into a window (a draw, never a blit), with GL errors reported."""
import io
import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest

from test_live import HERE, _env, _xvfb_run

BACKGROUND = np.array([237, 240, 245])  # Renderer's default background, as the window shows it


def _tool(name: str, package: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed (make deps installs {package})")
    return exe


def _read_xwd(path) -> np.ndarray:
    """An xwd screenshot -> H x W x 3 uint8 (through netpbm's xwdtopnm; PIL reads the PPM)."""
    from PIL import Image
    ppm = subprocess.run([_tool("xwdtopnm", "netpbm"), str(path)], capture_output=True,
                         check=True, timeout=60).stdout
    return np.asarray(Image.open(io.BytesIO(ppm)).convert("RGB"))


def _skin(img: np.ndarray) -> np.ndarray:
    """H x W bool: warm, lit skin tones (red over green over blue), not the grey-blue
    background, the black of an empty window or the white of the eyes."""
    r, g, b = (img[..., c].astype(int) for c in range(3))
    return (r > g) & (g > b) & (r - b >= 35) & (r >= 100)


def _background(img: np.ndarray) -> np.ndarray:
    return np.abs(img.astype(int) - BACKGROUND).max(-1) <= 12


def _window(shot: dict) -> np.ndarray:
    """The window's pixels cut out of the root screenshot."""
    x, y = shot["location"]
    w, h = shot["size"]
    return _read_xwd(shot["xwd"])[y:y + h, x:x + w]


def _assert_face(img: np.ndarray, name: str) -> float:
    """Skin in the middle, background at the sides; -> the middle's skin fraction."""
    h, w = img.shape[:2]
    middle = _skin(img[h // 4:3 * h // 4, w // 4:3 * w // 4]).mean()
    sides = np.concatenate([_background(img[:, :w // 10]).ravel(),
                            _background(img[:, -(w // 10):]).ravel()]).mean()
    assert middle > 0.5, f"{name}: {middle:.0%} skin in the middle of the window (no face?)"
    assert sides > 0.8, f"{name}: {sides:.0%} background at the window's sides"
    return float(middle)


@pytest.mark.gl
@pytest.mark.slow
def test_the_window_shows_the_face_and_its_mouth_moves(tmp_path):
    pytest.importorskip("pyglet", reason="the live viewer needs the viewer extra")
    pytest.importorskip("PIL", reason="reading screenshots needs pillow (the viewer extra)")
    _tool("xwd", "x11-apps")
    _tool("xwdtopnm", "netpbm")
    cmd = _xvfb_run() + [sys.executable, str(HERE / "live_driver.py"), "--screens", str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "OpenGL error" not in p.stderr, p.stderr[-3000:]
    shots = json.loads(p.stdout.strip().splitlines()[-1])["shots"]

    closed, opened = _window(shots["closed"]), _window(shots["open"])
    for name, img in (("closed", closed), ("open", opened)):
        _assert_face(img, name)

    # the mouth changes between the frames; the eyes and forehead above it do not
    x0, y0, x1, y1 = (min(a, b) if i < 2 else max(a, b) for i, (a, b) in
                      enumerate(zip(shots["closed"]["mouth_box"], shots["open"]["mouth_box"])))
    diff = np.abs(closed.astype(int) - opened.astype(int)).max(-1)
    mouth = diff[y0:y1, x0:x1]
    assert (mouth > 40).mean() > 0.1, f"only {(mouth > 40).mean():.0%} of the mouth changed"
    upper = diff[y0 // 3:y0 - 10, x0:x1]  # eyes and forehead, below the HUD's lines
    assert (upper > 40).mean() < 0.01, "the upper face changed with the jaw"

    # resized to a new shape: the face is drawn at the new framebuffer size, not stretched
    # into the old one or left black
    resized = _window(shots["resized"])
    assert resized.shape[:2] == (300, 400)
    _assert_face(resized, "resized")


def test_present_fills_a_framebuffer_larger_than_the_image():
    """HiDPI, or a resize not yet handled: the window's framebuffer differs from the
    renderer's size; the face is stretched over all of it, not drawn into a corner."""
    from facestream.engine.head import load_head
    from facestream.viewer.render import Renderer
    try:
        r = Renderer(load_head(), 96, 96, samples=4)
    except RuntimeError as e:
        pytest.skip(f"no offscreen OpenGL: {e}")
    try:
        target = r.ctx.simple_framebuffer((192, 192))
        r.present(r.head.template, target, (192, 192))
        shown = np.frombuffer(target.read(components=3), np.uint8).reshape(192, 192, 3)[::-1]
        assert _skin(shown[48:144, 48:144]).mean() > 0.5
        small = r.render(r.head.template)
        assert abs(_skin(shown).mean() - _skin(small).mean()) < 0.05, "the same picture, larger"
        target.release()
    finally:
        r.release()


def test_gl_errors_are_raised_with_what_to_do_or_logged_once(caplog):
    from facestream.engine.head import load_head
    from facestream.viewer.render import GLError, Renderer, check_gl
    try:
        r = Renderer(load_head(), 64, 64, samples=4)
    except RuntimeError as e:
        pytest.skip(f"no offscreen OpenGL: {e}")
    ctx = r.ctx
    target = ctx.simple_framebuffer((64, 64))
    try:
        ctx.enable_direct(0xFFFF)  # not a capability: GL_INVALID_ENUM, straight from the driver
        with pytest.raises(GLError, match=r"GL_INVALID_ENUM.*--samples 0"):
            check_gl(ctx, "a test")
        check_gl(ctx, "nothing")  # reading the error cleared it
        # an error someone else left pending (the HUD, the toolkit) is logged once, not raised
        with caplog.at_level(logging.WARNING, logger="facestream.viewer.render"):
            for _ in range(2):
                ctx.enable_direct(0xFFFF)
                r.present(r.head.template, target)
        assert len(caplog.messages) == 1, caplog.messages
        assert "GL_INVALID_ENUM" in caplog.messages[0] and "once" in caplog.messages[0]
    finally:
        target.release()
        r.release()
